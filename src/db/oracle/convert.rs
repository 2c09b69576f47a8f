//! Values in and out of Oracle, exactly: NUMBER as decimal text (never through a float), DATE and
//! TIMESTAMP with their time of day (and offset, for the zoned kinds), CLOB as text, BLOB/RAW as
//! base64, PL/SQL BOOLEAN, REF CURSOR as an array of row objects.
//!
//! Everything that can be decided without a server is a pure function here, so it is unit-tested:
//! which Oracle type a bind gets and what it carries, and how each kind of OUT value becomes JSON.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Timelike};
use std::io::Write as _;

use oracle::sql_type::{Blob, Clob, FromSql, Nclob, OracleType, RefCursor, Timestamp, ToSql};
use oracle::{Connection, SqlValue};
use serde_json::{Map, Value as Json};

use crate::db::DbError;
use crate::procedure::types::{Direction, ParamType};
use crate::procedure::value::{binary_json, exact_number_json, format_local, format_zoned, Value};

use super::error::map_error;

/// PL/SQL's largest VARCHAR2/RAW: the buffer an OUT string or RAW gets (ODPI-C switches to a
/// dynamic buffer above 32767 bytes, so multi-byte text fits too).
const MAX_PLSQL_VARCHAR: u32 = 32767;

/// What a bind carries.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum BindData {
    Null,
    /// Text, and NUMBER as its exact decimal text.
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
    Float(f64),
    Timestamp(Timestamp),
}

/// One bind: its Oracle type (which also sizes OUT buffers) and its value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BindSpec {
    pub oratype: OracleType,
    pub data: BindData,
}

impl ToSql for BindSpec {
    fn oratype(&self, _conn: &Connection) -> oracle::Result<OracleType> {
        Ok(self.oratype.clone())
    }

    fn to_sql(&self, val: &mut SqlValue) -> oracle::Result<()> {
        match &self.data {
            BindData::Null => val.set_null(),
            BindData::Text(s) => ToSql::to_sql(&s.as_str(), val),
            BindData::Bytes(b) => ToSql::to_sql(&b.as_slice(), val),
            BindData::Bool(b) => ToSql::to_sql(b, val),
            BindData::Float(f) => ToSql::to_sql(f, val),
            BindData::Timestamp(t) => ToSql::to_sql(t, val),
        }
    }
}

/// Longest value bound inline to a LOB parameter of a PL/SQL call (PL/SQL's 32767 bytes); longer
/// values go through a temporary LOB.
pub(super) const PLSQL_INLINE_LOB: usize = 32767;
/// Longest value bound inline to a LOB column in SQL: above 4000 bytes a text bind becomes LONG,
/// which Oracle only takes as the last binds of a statement (ORA-24816, ORA-01461).
pub(super) const SQL_INLINE_LOB: usize = 4000;

/// Whether this bind carries a LOB value longer than `max` bytes.
pub(super) fn needs_temp_lob(spec: &BindSpec, max: usize) -> bool {
    is_lob(&spec.oratype)
        && match &spec.data {
            BindData::Text(s) => s.len() > max,
            BindData::Bytes(b) => b.len() > max,
            _ => false,
        }
}

pub(super) fn is_lob(t: &OracleType) -> bool {
    matches!(t, OracleType::CLOB | OracleType::NCLOB | OracleType::BLOB)
}

/// A bind value, or the temporary LOB holding it (statements built with `lob_locator()`).
pub(super) enum Arg {
    Inline(BindSpec),
    Clob(Clob),
    Nclob(Nclob),
    Blob(Blob),
}

impl ToSql for Arg {
    fn oratype(&self, conn: &Connection) -> oracle::Result<OracleType> {
        match self {
            Arg::Inline(s) => s.oratype(conn),
            Arg::Clob(l) => l.oratype(conn),
            Arg::Nclob(l) => l.oratype(conn),
            Arg::Blob(l) => l.oratype(conn),
        }
    }

    fn to_sql(&self, val: &mut SqlValue) -> oracle::Result<()> {
        match self {
            Arg::Inline(s) => s.to_sql(val),
            Arg::Clob(l) => l.to_sql(val),
            Arg::Nclob(l) => l.to_sql(val),
            Arg::Blob(l) => l.to_sql(val),
        }
    }
}

/// A LOB bind with a value as a temporary LOB; anything else as it is.
pub(super) fn temp_lob(conn: &Connection, spec: &BindSpec) -> Result<Arg, DbError> {
    let io = |e: std::io::Error| DbError::statement("driver_error", format!("writing a temporary LOB: {e}"));
    Ok(match (&spec.oratype, &spec.data) {
        (OracleType::CLOB, BindData::Text(t)) => {
            let mut lob = Clob::new(conn).map_err(|e| map_error(&e))?;
            lob.write_all(t.as_bytes()).map_err(io)?;
            Arg::Clob(lob)
        }
        (OracleType::NCLOB, BindData::Text(t)) => {
            let mut lob = Nclob::new(conn).map_err(|e| map_error(&e))?;
            lob.write_all(t.as_bytes()).map_err(io)?;
            Arg::Nclob(lob)
        }
        (OracleType::BLOB, BindData::Bytes(b)) => {
            let mut lob = Blob::new(conn).map_err(|e| map_error(&e))?;
            lob.write_all(b).map_err(io)?;
            Arg::Blob(lob)
        }
        _ => Arg::Inline(spec.clone()),
    })
}

/// Text for a CLOB column in SQL: inline up to [`SQL_INLINE_LOB`] bytes, else a temporary CLOB
/// (the statement must be built with `lob_locator()`).
pub(super) fn clob_column(conn: &Connection, text: Option<String>) -> Result<Arg, DbError> {
    match text {
        Some(t) if t.len() > SQL_INLINE_LOB => temp_lob(conn, &clob(Some(t))),
        Some(t) => Ok(Arg::Inline(varchar(&t))),
        None => Ok(Arg::Inline(clob(None))),
    }
}

/// Text bound as VARCHAR2 (never NVARCHAR2, the driver's default for strings: comparing an
/// NVARCHAR2 bind with a VARCHAR2 column converts the column and bypasses its index).
pub(super) fn varchar(s: &str) -> BindSpec {
    BindSpec { oratype: OracleType::Varchar2(s.len().max(1) as u32), data: BindData::Text(s.to_string()) }
}

pub(super) fn varchar_opt(s: Option<&str>) -> BindSpec {
    s.map(varchar).unwrap_or(BindSpec { oratype: OracleType::Varchar2(1), data: BindData::Null })
}

/// Text for a CLOB column (sent as LONG: any length, straight into the column).
pub(super) fn clob(s: Option<String>) -> BindSpec {
    BindSpec { oratype: OracleType::CLOB, data: s.map_or(BindData::Null, BindData::Text) }
}

/// Whether an argument of this catalog type travels through a JSON local in the block.
pub(super) fn is_json(param_type: ParamType) -> bool {
    param_type == ParamType::Json
}

/// The bind for an argument (or a function's return value) of catalog type `db_type`.
/// `value` is `Null` for OUT arguments.
pub(super) fn bind_spec(
    param_type: ParamType,
    db_type: &str,
    direction: Direction,
    value: &Value,
) -> Result<BindSpec, DbError> {
    let db = db_type.trim().to_ascii_uppercase();
    let returns = direction.returns_value();
    let bad = |what: &str| {
        DbError::statement("invalid_parameter", format!("a {what} value cannot be bound to a {db_type} parameter"))
    };
    let oratype = match param_type {
        ParamType::Number | ParamType::Integer => OracleType::Number(0, 0),
        ParamType::Float if db.contains("BINARY_FLOAT") => OracleType::BinaryFloat,
        ParamType::Float => OracleType::BinaryDouble,
        ParamType::Boolean => OracleType::Boolean,
        ParamType::Date => OracleType::Date,
        ParamType::Timestamp => timestamp_type(&db, value, returns),
        ParamType::Clob if db == "NCLOB" => OracleType::NCLOB,
        // JSON travels as its text, through a CLOB local (see `block`).
        ParamType::Clob | ParamType::Json => OracleType::CLOB,
        ParamType::Binary if db == "BLOB" => OracleType::BLOB,
        ParamType::Binary if db == "LONG RAW" => OracleType::LongRaw,
        ParamType::Binary => {
            let len = if let Value::Binary(b) = value { b.len() as u32 } else { 0 };
            OracleType::Raw(if returns { MAX_PLSQL_VARCHAR.max(len) } else { len.max(1) })
        }
        ParamType::Cursor => OracleType::RefCursor,
        ParamType::String => {
            let len = value.to_sql_text().map_or(0, |s| s.len() as u32);
            let size = if returns { MAX_PLSQL_VARCHAR.max(len) } else { len.max(1) };
            if matches!(db.as_str(), "NVARCHAR2" | "NCHAR" | "NCHAR VARYING" | "NATIONAL CHARACTER VARYING") {
                OracleType::NVarchar2(size)
            } else {
                OracleType::Varchar2(size)
            }
        }
    };
    let data = match (value, param_type) {
        (Value::Null, _) => BindData::Null,
        (_, ParamType::Cursor) => return Err(bad("cursor input")),
        (Value::Number(n), _) => BindData::Text(oracle_number_text(n)?),
        (Value::Integer(i), ParamType::Number | ParamType::Integer) => BindData::Text(i.to_string()),
        (Value::Float(f), ParamType::Float) => BindData::Float(*f),
        (Value::Float(f), ParamType::Number | ParamType::Integer) => {
            BindData::Text(oracle_number_text(&f.to_string())?)
        }
        (Value::Boolean(b), ParamType::Boolean) => BindData::Bool(*b),
        (Value::Binary(b), ParamType::Binary) => BindData::Bytes(b.clone()),
        (
            Value::Date(_) | Value::LocalTimestamp(_) | Value::ZonedTimestamp(_),
            ParamType::Date | ParamType::Timestamp,
        ) => BindData::Timestamp(oracle_timestamp(value, oratype_is_zoned(&oratype))?),
        (Value::Json(j), _) => BindData::Text(j.to_string()),
        (Value::Boolean(_), _) => return Err(bad("boolean")),
        (Value::Binary(_), _) => return Err(bad("binary")),
        // Everything else goes as text, which Oracle converts to the declared type.
        (other, _) => BindData::Text(other.to_sql_text().unwrap_or_default()),
    };
    Ok(BindSpec { oratype, data })
}

/// DATE/TIMESTAMP binds. An IN value with an offset going to a zoned parameter is bound zoned;
/// one without offset is bound as a plain TIMESTAMP, which Oracle reads in the session's time
/// zone. OUT and IN OUT binds have the declared type (an IN OUT value without offset is UTC).
fn timestamp_type(db: &str, value: &Value, returns: bool) -> OracleType {
    let local_tz = db.contains("LOCAL TIME ZONE");
    let zoned = db.contains("TIME ZONE");
    if returns {
        return match (zoned, local_tz) {
            (_, true) => OracleType::TimestampLTZ(9),
            (true, false) => OracleType::TimestampTZ(9),
            _ => OracleType::Timestamp(9),
        };
    }
    match value {
        Value::ZonedTimestamp(_) if zoned => OracleType::TimestampTZ(9),
        _ => OracleType::Timestamp(9),
    }
}

fn oratype_is_zoned(t: &OracleType) -> bool {
    matches!(t, OracleType::TimestampTZ(_) | OracleType::TimestampLTZ(_))
}

/// A date/time value as an Oracle timestamp; `zoned` keeps (or, for local values, sets UTC as)
/// its offset, otherwise the wall-clock time is kept and any offset ignored.
pub(super) fn oracle_timestamp(value: &Value, zoned: bool) -> Result<Timestamp, DbError> {
    let (naive, offset) = match value {
        Value::Date(d) => (d.and_hms_opt(0, 0, 0).expect("midnight exists"), 0),
        Value::LocalTimestamp(t) => (*t, 0),
        Value::ZonedTimestamp(t) => (t.naive_local(), t.offset().local_minus_utc()),
        _ => return Err(DbError::statement("invalid_parameter", "not a date or timestamp")),
    };
    let ts = Timestamp::new(
        naive.year(),
        naive.month(),
        naive.day(),
        naive.hour(),
        naive.minute(),
        naive.second(),
        naive.nanosecond(),
    )
    .map_err(|e| DbError::statement("invalid_parameter", format!("timestamp out of Oracle's range: {e}")))?;
    if zoned {
        ts.and_tz_offset(offset).map_err(|e| DbError::statement("invalid_parameter", e.to_string()))
    } else {
        Ok(ts)
    }
}

/// Decimal text in the form Oracle's number parser takes (`[-]digits[.digits][e[+-]digits]`):
/// a leading `+` dropped, a bare `.5` or `5.` completed. The digits are never touched.
pub(super) fn oracle_number_text(s: &str) -> Result<String, DbError> {
    let s = s.trim();
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => ("-", &s[1..]),
        Some(b'+') => ("", &s[1..]),
        _ => ("", s),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], &body[i..]),
        None => (body, ""),
    };
    let (int, frac) = mantissa.split_once('.').map_or((mantissa, None), |(i, f)| (i, Some(f)));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.map_or(0, str::len) == 0 || !digits(int) || !frac.is_none_or(digits) {
        return Err(DbError::statement("invalid_parameter", format!("{s:?} is not a decimal number")));
    }
    let int = if int.is_empty() { "0" } else { int };
    let frac = match frac {
        Some("") | None => String::new(),
        Some(f) => format!(".{f}"),
    };
    Ok(format!("{sign}{int}{frac}{exponent}"))
}

/// A NUMBER read as text (ODPI-C writes `0.5`, `-12.50` is `-12.5`, no exponent) as an exact
/// JSON number.
pub(super) fn number_json(text: &str) -> Json {
    match oracle_number_text(text) {
        Ok(t) => exact_number_json(&t),
        Err(_) => Json::String(text.to_string()),
    }
}

/// BINARY_FLOAT/BINARY_DOUBLE: the shortest text that reads back as the same float (so a
/// BINARY_FLOAT 1.1 is `1.1`, not `1.100000023841858`); NaN and infinities as strings.
pub(super) fn float_json(text: String, finite: bool) -> Json {
    if finite {
        exact_number_json(&text)
    } else {
        Json::String(match text.as_str() {
            "inf" => "Infinity".into(),
            "-inf" => "-Infinity".into(),
            _ => text,
        })
    }
}

/// DATE and TIMESTAMP: `2024-12-16T15:30:00` (fraction only when present; a DATE keeps its time
/// of day). TIMESTAMP WITH [LOCAL] TIME ZONE: with the offset, `...+02:00` or `...Z`.
pub(super) fn timestamp_text(ts: &Timestamp, zoned: bool) -> Result<String, DbError> {
    let bad = || DbError::statement("unsupported_type", format!("timestamp {ts} is outside ISO 8601's range"));
    let date = NaiveDate::from_ymd_opt(ts.year(), ts.month(), ts.day()).ok_or_else(bad)?;
    let naive: NaiveDateTime =
        date.and_hms_nano_opt(ts.hour(), ts.minute(), ts.second(), ts.nanosecond()).ok_or_else(bad)?;
    if !zoned {
        return Ok(format_local(&naive));
    }
    let offset = FixedOffset::east_opt(ts.tz_offset()).ok_or_else(bad)?;
    let zoned: DateTime<FixedOffset> = naive.and_local_timezone(offset).single().ok_or_else(bad)?;
    Ok(format_zoned(&zoned))
}

/// Text that holds JSON (a JSON argument serialized by the block): the JSON value itself.
pub(super) fn json_text(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_string()))
}

/// Any OUT value or cursor column as JSON (`what` names it in errors).
pub(super) fn out_json(val: &SqlValue, what: &str) -> Result<Json, DbError> {
    let err = |e: oracle::Error| {
        let mut d = map_error(&e);
        if d.code == "driver_error" {
            d.code = "unsupported_type".into();
            d.message = format!("{what}: {}", d.message);
        }
        d
    };
    if val.is_null().map_err(err)? {
        return Ok(Json::Null);
    }
    let ty = val.oracle_type().map_err(err)?.clone();
    Ok(match ty {
        OracleType::Number(..) | OracleType::Float(_) => number_json(&val.get::<String>().map_err(err)?),
        OracleType::Int64 => Json::from(val.get::<i64>().map_err(err)?),
        OracleType::UInt64 => Json::from(val.get::<u64>().map_err(err)?),
        OracleType::BinaryFloat => {
            let f: f32 = val.get().map_err(err)?;
            float_json(f.to_string(), f.is_finite())
        }
        OracleType::BinaryDouble => {
            let f: f64 = val.get().map_err(err)?;
            float_json(f.to_string(), f.is_finite())
        }
        OracleType::Date | OracleType::Timestamp(_) => Json::String(timestamp_text(&val.get().map_err(err)?, false)?),
        OracleType::TimestampTZ(_) | OracleType::TimestampLTZ(_) => {
            Json::String(timestamp_text(&val.get().map_err(err)?, true)?)
        }
        OracleType::Raw(_) | OracleType::BLOB | OracleType::LongRaw => binary_json(&val.get::<Vec<u8>>().map_err(err)?),
        OracleType::Boolean => Json::Bool(val.get::<bool>().map_err(err)?),
        OracleType::RefCursor => {
            let mut cursor: RefCursor = val.get().map_err(err)?;
            cursor_rows(&mut cursor, what)?
        }
        OracleType::Json | OracleType::Object(_) | OracleType::BFILE => {
            return Err(DbError::statement(
                "unsupported_type",
                format!("{what}: Oracle type {ty} cannot be returned (convert it to text in the procedure)"),
            ))
        }
        _ => Json::String(val.get::<String>().map_err(err)?),
    })
}

/// An OUT value of a JSON argument arrives as its serialized text: the JSON value itself.
pub(super) fn as_declared(value: Json, param_type: ParamType) -> Json {
    match value {
        Json::String(text) if param_type == ParamType::Json => json_text(&text),
        other => other,
    }
}

/// Reads any bind value through [`out_json`], keeping its error for the caller.
pub(super) struct OutValue(pub Result<Json, DbError>);

impl FromSql for OutValue {
    fn from_sql(val: &SqlValue) -> oracle::Result<Self> {
        Ok(OutValue(out_json(val, "OUT parameter")))
    }
}

/// A REF CURSOR's rows as objects keyed by column name (as Oracle names them: upper case unless
/// the query quoted an alias), each column converted as an OUT value.
pub(super) fn cursor_rows(cursor: &mut RefCursor, what: &str) -> Result<Json, DbError> {
    let rows = cursor.query().map_err(|e| map_error(&e))?;
    let names: Vec<String> = rows.column_info().iter().map(|c| c.name().to_string()).collect();
    let mut out = Vec::new();
    for row in rows {
        let row = row.map_err(|e| map_error(&e))?;
        let mut obj = Map::new();
        for (name, val) in names.iter().zip(row.sql_values()) {
            obj.insert(name.clone(), out_json(val, &format!("{what} column {name}"))?);
        }
        out.push(Json::Object(obj));
    }
    Ok(Json::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::value::parse_temporal;
    use serde_json::json;

    fn spec(t: ParamType, db: &str, d: Direction, v: Value) -> BindSpec {
        bind_spec(t, db, d, &v).unwrap()
    }

    #[test]
    fn numbers_bind_as_exact_text() {
        let s =
            spec(ParamType::Number, "NUMBER", Direction::In, Value::Number("12345678901234567890.123456789".into()));
        assert_eq!(s.oratype, OracleType::Number(0, 0));
        assert_eq!(s.data, BindData::Text("12345678901234567890.123456789".into()));
        for (input, text) in
            [("+5", "5"), (".5", "0.5"), ("-.5", "-0.5"), ("5.", "5"), ("1e-3", "1e-3"), ("-0.5E+3", "-0.5E+3")]
        {
            assert_eq!(oracle_number_text(input).unwrap(), text, "{input}");
        }
        assert!(oracle_number_text("1.2.3").is_err());
        assert!(oracle_number_text(".").is_err());
        let i = spec(ParamType::Integer, "NUMBER", Direction::In, Value::Integer(-42));
        assert_eq!((i.oratype, i.data), (OracleType::Number(0, 0), BindData::Text("-42".into())));
        let out = spec(ParamType::Number, "NUMBER", Direction::Out, Value::Null);
        assert_eq!((out.oratype, out.data), (OracleType::Number(0, 0), BindData::Null));
    }

    #[test]
    fn numbers_read_back_exactly() {
        assert_eq!(number_json("12345678901234567890.123456789").to_string(), "12345678901234567890.123456789");
        assert_eq!(number_json("0.000012").to_string(), "0.000012");
        assert_eq!(number_json("-.5").to_string(), "-0.5");
        assert_eq!(
            number_json("100000000000000000000000000000000000000").to_string(),
            "100000000000000000000000000000000000000"
        );
        assert_eq!(number_json("~"), json!("~"));
        assert_eq!(float_json(1.1f32.to_string(), true).to_string(), "1.1");
        assert_eq!(float_json(0.1f64.to_string(), true).to_string(), "0.1");
        assert_eq!(float_json(f64::INFINITY.to_string(), false), json!("Infinity"));
        assert_eq!(float_json(f64::NAN.to_string(), false), json!("NaN"));
    }

    #[test]
    fn strings_and_lobs() {
        let s = spec(ParamType::String, "VARCHAR2", Direction::In, Value::Text("x'; DROP".into()));
        assert_eq!((s.oratype, s.data), (OracleType::Varchar2(8), BindData::Text("x'; DROP".into())));
        let o = spec(ParamType::String, "VARCHAR2", Direction::Out, Value::Null);
        assert_eq!(o.oratype, OracleType::Varchar2(32767));
        let n = spec(ParamType::String, "NVARCHAR2", Direction::InOut, Value::Text("ñ".into()));
        assert_eq!(n.oratype, OracleType::NVarchar2(32767));
        let e = spec(ParamType::String, "CHAR", Direction::In, Value::Text(String::new()));
        assert_eq!(e.oratype, OracleType::Varchar2(1));
        let c = spec(ParamType::Clob, "CLOB", Direction::In, Value::Text("long text".into()));
        assert_eq!((c.oratype, c.data), (OracleType::CLOB, BindData::Text("long text".into())));
        assert_eq!(spec(ParamType::Clob, "NCLOB", Direction::Out, Value::Null).oratype, OracleType::NCLOB);
        let doc: Json = serde_json::from_str("{\"a\": [1, 2.50]}").unwrap();
        let j = spec(ParamType::Json, "JSON", Direction::InOut, Value::Json(doc));
        assert_eq!((j.oratype, j.data), (OracleType::CLOB, BindData::Text("{\"a\":[1,2.50]}".into())));
        assert_eq!(json_text("{\"n\": 1.10}"), serde_json::from_str::<Json>("{\"n\": 1.10}").unwrap());
        assert_eq!(json_text("not json"), json!("not json"));
        assert_eq!(as_declared(json!("[1, 2.0]"), ParamType::Json).to_string(), "[1,2.0]");
        assert_eq!(as_declared(json!("[1, 2.0]"), ParamType::Clob), json!("[1, 2.0]"));
    }

    #[test]
    fn binary_boolean_float_cursor() {
        let b = spec(ParamType::Binary, "BLOB", Direction::In, Value::Binary(vec![1, 2, 255]));
        assert_eq!((b.oratype, b.data), (OracleType::BLOB, BindData::Bytes(vec![1, 2, 255])));
        assert_eq!(
            spec(ParamType::Binary, "RAW", Direction::In, Value::Binary(vec![1; 16])).oratype,
            OracleType::Raw(16)
        );
        assert_eq!(spec(ParamType::Binary, "RAW", Direction::Out, Value::Null).oratype, OracleType::Raw(32767));
        assert_eq!(binary_json(&[1, 2, 255]), json!("AQL/"));
        let t = spec(ParamType::Boolean, "PL/SQL BOOLEAN", Direction::In, Value::Boolean(true));
        assert_eq!((t.oratype, t.data), (OracleType::Boolean, BindData::Bool(true)));
        let f = spec(ParamType::Float, "BINARY_FLOAT", Direction::In, Value::Float(1.5));
        assert_eq!((f.oratype, f.data), (OracleType::BinaryFloat, BindData::Float(1.5)));
        assert_eq!(
            spec(ParamType::Float, "BINARY_DOUBLE", Direction::Out, Value::Null).oratype,
            OracleType::BinaryDouble
        );
        let c = spec(ParamType::Cursor, "REF CURSOR", Direction::Out, Value::Null);
        assert_eq!((c.oratype, c.data), (OracleType::RefCursor, BindData::Null));
        assert!(bind_spec(ParamType::String, "VARCHAR2", Direction::In, &Value::Binary(vec![1])).is_err());
    }

    #[test]
    fn long_lob_values_go_through_temporary_lobs() {
        let big = "x".repeat(PLSQL_INLINE_LOB + 1);
        let c = spec(ParamType::Clob, "CLOB", Direction::In, Value::Text(big.clone()));
        assert!(needs_temp_lob(&c, PLSQL_INLINE_LOB));
        assert!(!needs_temp_lob(
            &spec(ParamType::Clob, "CLOB", Direction::In, Value::Text("x".into())),
            PLSQL_INLINE_LOB
        ));
        let b = spec(ParamType::Binary, "BLOB", Direction::In, Value::Binary(vec![0; SQL_INLINE_LOB + 1]));
        assert!(needs_temp_lob(&b, SQL_INLINE_LOB) && !needs_temp_lob(&b, PLSQL_INLINE_LOB));
        // Only LOB types: a long VARCHAR2 value is Oracle's to refuse (ORA-06502).
        assert!(!needs_temp_lob(&spec(ParamType::String, "VARCHAR2", Direction::In, Value::Text(big)), 10));
        assert!(!needs_temp_lob(&spec(ParamType::Clob, "CLOB", Direction::Out, Value::Null), 0));
    }

    fn temporal(s: &str) -> Value {
        parse_temporal(s).unwrap()
    }

    #[test]
    fn dates_and_timestamps_keep_their_time() {
        let d = spec(ParamType::Date, "DATE", Direction::In, temporal("2024-12-16T15:30:05"));
        assert_eq!(d.oratype, OracleType::Date);
        let BindData::Timestamp(ts) = d.data else { panic!() };
        assert_eq!((ts.hour(), ts.minute(), ts.second(), ts.with_tz()), (15, 30, 5, false));
        // The predecessor's DD/MM/YYYY and a bare date: midnight.
        let BindData::Timestamp(ts) = spec(ParamType::Date, "DATE", Direction::In, temporal("16/12/2024")).data else {
            panic!()
        };
        assert_eq!((ts.year(), ts.month(), ts.day(), ts.hour()), (2024, 12, 16, 0));
        // Zoned value to a zoned parameter: offset kept.
        let z = spec(
            ParamType::Timestamp,
            "TIMESTAMP WITH TIME ZONE",
            Direction::In,
            temporal("2024-12-16T15:30:00.25+02:00"),
        );
        assert_eq!(z.oratype, OracleType::TimestampTZ(9));
        let BindData::Timestamp(ts) = z.data else { panic!() };
        assert_eq!((ts.hour(), ts.nanosecond(), ts.tz_offset()), (15, 250_000_000, 7200));
        // Local value to a zoned parameter: a plain TIMESTAMP, read in the session's time zone.
        let l = spec(ParamType::Timestamp, "TIMESTAMP WITH TIME ZONE", Direction::In, temporal("2024-12-16T15:30:00"));
        assert_eq!(l.oratype, OracleType::Timestamp(9));
        // Zoned value to a plain TIMESTAMP: wall-clock time, offset ignored.
        let p = spec(ParamType::Timestamp, "TIMESTAMP", Direction::In, temporal("2024-12-16T15:30:00+02:00"));
        let BindData::Timestamp(ts) = p.data else { panic!() };
        assert_eq!((p.oratype, ts.hour(), ts.with_tz()), (OracleType::Timestamp(9), 15, false));
        // OUT binds take the declared type.
        let out = |db: &str| spec(ParamType::Timestamp, db, Direction::Out, Value::Null).oratype;
        assert_eq!(out("TIMESTAMP"), OracleType::Timestamp(9));
        assert_eq!(out("TIMESTAMP WITH TIME ZONE"), OracleType::TimestampTZ(9));
        assert_eq!(out("TIMESTAMP WITH LOCAL TIME ZONE"), OracleType::TimestampLTZ(9));
    }

    #[test]
    fn timestamps_read_back_as_iso_8601() {
        let ts = Timestamp::new(2024, 12, 16, 15, 30, 0, 0).unwrap();
        assert_eq!(timestamp_text(&ts, false).unwrap(), "2024-12-16T15:30:00");
        let frac = Timestamp::new(2024, 12, 16, 15, 30, 5, 250_000_000).unwrap();
        assert_eq!(timestamp_text(&frac, false).unwrap(), "2024-12-16T15:30:05.250");
        let tz = ts.and_tz_hm_offset(2, 0).unwrap();
        assert_eq!(timestamp_text(&tz, true).unwrap(), "2024-12-16T15:30:00+02:00");
        let neg = ts.and_tz_hm_offset(-5, -30).unwrap();
        assert_eq!(timestamp_text(&neg, true).unwrap(), "2024-12-16T15:30:00-05:30");
        let utc = ts.and_tz_offset(0).unwrap();
        assert_eq!(timestamp_text(&utc, true).unwrap(), "2024-12-16T15:30:00Z");
        // What goes in comes out.
        let Value::ZonedTimestamp(z) = temporal("2024-12-16T15:30:00.123456789+09:30") else { panic!() };
        let back = oracle_timestamp(&Value::ZonedTimestamp(z), true).unwrap();
        assert_eq!(timestamp_text(&back, true).unwrap(), "2024-12-16T15:30:00.123456789+09:30");
    }
}
