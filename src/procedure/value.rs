//! Typed parameter values, and their conversion from and to JSON.
//!
//! Numbers never pass through `f64`: a NUMBER is kept as its decimal text (serde_json's
//! `arbitrary_precision` keeps the digits the client sent). Dates and timestamps keep their time
//! of day and offset; ISO 8601 and the predecessor's `DD/MM/YYYY` are accepted. Dates outside
//! the years 1 to 9999 and impossible UTC offsets are refused here, for every database (the
//! per-database numeric ranges are in [`super::ranges`]).

use base64::Engine as _;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat};
use serde_json::Value as Json;

use super::quote::quoted;
use super::types::ParamType;

/// Years both databases store (PostgreSQL has no year 0; Oracle's dates end with 9999).
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// The largest UTC offset accepted, in seconds: PostgreSQL refuses 16 hours and more, and Oracle
/// time zone hours go from -15 to 15. Real offsets lie between -12:00 and +14:00.
pub const MAX_OFFSET_SECONDS: i32 = 15 * 3600 + 59 * 60;

/// Why a JSON value cannot be a parameter's value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Not a value of the parameter's type at all.
    #[error("{0}")]
    Invalid(String),
    /// A value of the right type that the database cannot store.
    #[error("{0}")]
    OutOfRange(String),
}

impl From<String> for ValueError {
    fn from(message: String) -> Self {
        ValueError::Invalid(message)
    }
}

impl From<&str> for ValueError {
    fn from(message: &str) -> Self {
        ValueError::Invalid(message.to_string())
    }
}

/// A value ready to bind, already checked against its parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    /// Exact decimal text, validated (`-12.50`, `1e-3`).
    Number(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Date(NaiveDate),
    LocalTimestamp(NaiveDateTime),
    ZonedTimestamp(DateTime<FixedOffset>),
    Json(Json),
    Binary(Vec<u8>),
}

impl Value {
    /// Converts a JSON value for a parameter of type `ty`.
    pub fn from_json(v: &Json, ty: ParamType) -> Result<Value, ValueError> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        // Neither database stores a NUL character in text (PostgreSQL refuses it outright).
        if contains_nul(v) {
            return Err("text may not contain the NUL character (U+0000)".into());
        }
        Ok(match ty {
            ParamType::String | ParamType::Clob => match v {
                Json::String(s) => Value::Text(s.clone()),
                Json::Number(n) => Value::Text(n.to_string()),
                Json::Bool(b) => Value::Text(b.to_string()),
                _ => return Err("expected a string".into()),
            },
            ParamType::Number => {
                let text = scalar_text(v).ok_or("expected a number or a decimal string")?;
                Value::Number(parse_decimal(text.trim())?)
            }
            ParamType::Integer => {
                let text = scalar_text(v).ok_or("expected an integer")?;
                Value::Integer(parse_integer(text.trim())?)
            }
            ParamType::Float => {
                let text = scalar_text(v).ok_or("expected a number")?;
                let f = text.trim().parse::<f64>().map_err(|_| format!("{} is not a number", quoted(&text)))?;
                // Rust reads 1e400 as infinity; only an explicit `inf`/`Infinity` may mean it.
                if f.is_infinite() && !text.to_ascii_lowercase().contains("inf") {
                    return Err(ValueError::OutOfRange(format!("{} is too large for a FLOAT", quoted(&text))));
                }
                Value::Float(f)
            }
            ParamType::Boolean => match v {
                Json::Bool(b) => Value::Boolean(*b),
                Json::String(s) if s.eq_ignore_ascii_case("true") => Value::Boolean(true),
                Json::String(s) if s.eq_ignore_ascii_case("false") => Value::Boolean(false),
                _ => return Err("expected true or false".into()),
            },
            ParamType::Date | ParamType::Timestamp => match v {
                Json::String(s) => parse_temporal(s)?,
                _ => return Err("expected an ISO 8601 date or timestamp string".into()),
            },
            ParamType::Json => Value::Json(v.clone()),
            ParamType::Binary => match v {
                Json::String(s) => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(Value::Binary)
                    .map_err(|_| ValueError::from("expected base64 text"))?,
                _ => return Err("expected base64 text".into()),
            },
            ParamType::Cursor => return Err("a CURSOR parameter takes no input value".into()),
        })
    }

    /// The value as text that the database's own input functions read back exactly
    /// (ISO 8601 for times, the decimal text for numbers, hex for binary).
    pub fn to_sql_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Text(s) | Value::Number(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::LocalTimestamp(t) => format_local(t),
            Value::ZonedTimestamp(t) => format_zoned(t),
            Value::Json(j) => j.to_string(),
            Value::Binary(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("\\x{hex}")
            }
        })
    }
}

fn contains_nul(v: &Json) -> bool {
    match v {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(contains_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

fn scalar_text(v: &Json) -> Option<String> {
    match v {
        Json::Number(n) => Some(n.to_string()),
        Json::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A whole number that fits 64 bits (a narrower column's range is checked in [`super::ranges`]).
fn parse_integer(text: &str) -> Result<i64, ValueError> {
    text.parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            ValueError::OutOfRange(format!("{} is out of the 64-bit integer range", quoted(text)))
        }
        _ => ValueError::Invalid(format!("{} is not a 64-bit integer", quoted(text))),
    })
}

/// Validates decimal text: `[+-]digits[.digits][e[+-]digits]`, at least one digit.
pub fn parse_decimal(s: &str) -> Result<String, String> {
    let err = || format!("{} is not a decimal number", quoted(s));
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return Err(err());
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || e.len() > 4 || !digits(e) {
            return Err(err());
        }
    }
    if s.len() > 200 {
        return Err(err());
    }
    Ok(s.to_string())
}

/// Parses ISO 8601 (`2024-12-16`, `2024-12-16T15:30:00`, `...Z`, `...+02:00`, a space instead of
/// `T`) and the predecessor's `DD/MM/YYYY[ HH:MM[:SS]]`.
pub fn parse_temporal(s: &str) -> Result<Value, ValueError> {
    let value = parse_temporal_form(s.trim())?;
    check_storable(&value)?;
    Ok(value)
}

fn parse_temporal_form(s: &str) -> Result<Value, ValueError> {
    if let Some(offset) = offset_suffix(s).filter(|o| o.abs() > MAX_OFFSET_SECONDS) {
        let sign = if offset < 0 { '-' } else { '+' };
        let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
        return Err(ValueError::OutOfRange(format!(
            "UTC offset {sign}{h:02}:{m:02} is out of range (-15:59 to +15:59)"
        )));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(Value::ZonedTimestamp(t));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%d %H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(Value::ZonedTimestamp(t));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Value::LocalTimestamp(t));
        }
    }
    for fmt in ["%Y-%m-%d", "%d/%m/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, fmt) {
            return Ok(Value::Date(d));
        }
    }
    Err(ValueError::Invalid(format!("{} is not an ISO 8601 date/timestamp (or DD/MM/YYYY)", quoted(s))))
}

/// The offset a timestamp ends with (`+HH:MM` after a time of day), in seconds, whatever its
/// size: chrono cannot represent 24 hours or more, and such a text would otherwise be reported
/// as malformed rather than out of range.
fn offset_suffix(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let n = b.len();
    if n < 12 || !matches!(b[n - 6], b'+' | b'-') || b[n - 3] != b':' || !s[..n - 6].contains([':', 'T']) {
        return None;
    }
    let digits = |x: &[u8]| x.iter().all(u8::is_ascii_digit).then(|| (x[0] - b'0') as i32 * 10 + (x[1] - b'0') as i32);
    let (h, m) = (digits(&b[n - 5..n - 3])?, digits(&b[n - 2..])?);
    let sign = if b[n - 6] == b'-' { -1 } else { 1 };
    Some(sign * (h * 3600 + m * 60))
}

/// Years 1 to 9999, as written and in UTC (a zoned value is stored as UTC by Oracle).
fn check_storable(value: &Value) -> Result<(), ValueError> {
    let years: Vec<i32> = match value {
        Value::Date(d) => vec![d.year()],
        Value::LocalTimestamp(t) => vec![t.year()],
        Value::ZonedTimestamp(t) => vec![t.year(), t.naive_utc().year()],
        _ => vec![],
    };
    match years.into_iter().find(|y| !YEARS.contains(y)) {
        Some(year) => Err(ValueError::OutOfRange(format!(
            "year {year} is out of range: dates and timestamps must lie in the years 1 to 9999"
        ))),
        None => Ok(()),
    }
}

/// `2024-12-16T15:30:00` (fraction only when present).
pub fn format_local(t: &NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

/// `2024-12-16T15:30:00+02:00`, or `...Z` in UTC.
pub fn format_zoned(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An exact decimal text as a JSON number, digits untouched (falls back to a string for values
/// JSON cannot hold, such as NaN).
pub fn exact_number_json(text: &str) -> Json {
    match serde_json::from_str::<serde_json::Number>(text) {
        Ok(n) => Json::Number(n),
        Err(_) => Json::String(text.to_string()),
    }
}

pub fn binary_json(bytes: &[u8]) -> Json {
    Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_every_digit() {
        let v: Json = serde_json::from_str("12345678901234567890.123456789").unwrap();
        let value = Value::from_json(&v, ParamType::Number).unwrap();
        assert_eq!(value, Value::Number("12345678901234567890.123456789".into()));
        let out = exact_number_json("12345678901234567890.123456789");
        assert_eq!(out.to_string(), "12345678901234567890.123456789");
        assert_eq!(Value::from_json(&json!("-0.5e3"), ParamType::Number).unwrap(), Value::Number("-0.5e3".into()));
    }

    #[test]
    fn rejects_bad_numbers() {
        for bad in ["", "1.2.3", "abc", "1e", "--1", "1; drop", " "] {
            assert!(Value::from_json(&json!(bad), ParamType::Number).is_err(), "{bad}");
        }
        assert!(Value::from_json(&json!(1.5), ParamType::Integer).is_err());
        assert!(Value::from_json(&json!([1]), ParamType::Number).is_err());
    }

    #[test]
    fn temporal_forms() {
        assert_eq!(parse_temporal("16/12/2024").unwrap(), Value::Date(NaiveDate::from_ymd_opt(2024, 12, 16).unwrap()));
        let Value::LocalTimestamp(t) = parse_temporal("2024-12-16T15:30:05.25").unwrap() else { panic!() };
        assert_eq!(format_local(&t), "2024-12-16T15:30:05.250");
        let Value::ZonedTimestamp(z) = parse_temporal("2024-12-16T15:30:00+02:00").unwrap() else { panic!() };
        assert_eq!(format_zoned(&z), "2024-12-16T15:30:00+02:00");
        assert!(parse_temporal("16-12-2024x").is_err());
        assert!(parse_temporal("2024-13-01").is_err());
    }

    #[test]
    fn nul_characters_are_refused_anywhere() {
        assert!(Value::from_json(&json!("a\u{0}b"), ParamType::String).is_err());
        assert!(Value::from_json(&json!({"k": ["x\u{0}"]}), ParamType::Json).is_err());
        assert!(Value::from_json(&json!({"k\u{0}": 1}), ParamType::Json).is_err());
        assert!(Value::from_json(&json!("fine"), ParamType::Clob).is_ok());
    }

    #[test]
    fn sql_text_forms() {
        assert_eq!(Value::Binary(vec![1, 255]).to_sql_text().unwrap(), "\\x01ff");
        assert_eq!(Value::Null.to_sql_text(), None);
        assert_eq!(Value::from_json(&json!("AQI="), ParamType::Binary).unwrap(), Value::Binary(vec![1, 2]));
    }

    #[test]
    fn dates_outside_years_1_to_9999_and_impossible_offsets_are_out_of_range() {
        let out_of_range = |s: &str| matches!(parse_temporal(s), Err(ValueError::OutOfRange(_)));
        for bad in [
            "0000-01-01",
            "0000-06-15T10:00:00",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:30:00+01:00", // year 0 in UTC
            "+10000-01-01",
            "9999-12-31T23:00:00-05:00", // year 10000 in UTC
            "2024-01-01T00:00:00+25:00",
            "2024-01-01T00:00:00-16:00",
            "2024-01-01 00:00:00+99:99",
            "2024-01-01T00:00+24:00",
        ] {
            assert!(out_of_range(bad), "{bad}: {:?}", parse_temporal(bad));
        }
        for good in ["0001-01-01", "9999-12-31T23:59:59", "2024-01-01T00:00:00+14:00", "2024-01-01T00:00:00-15:59"] {
            assert!(parse_temporal(good).is_ok(), "{good}");
        }
        assert!(matches!(parse_temporal("2024-01-01T00:00:00+00:75"), Err(ValueError::Invalid(_))));
        assert!(matches!(parse_temporal("2024-13-01"), Err(ValueError::Invalid(_))));
    }

    #[test]
    fn integers_and_floats_beyond_64_bits_are_out_of_range() {
        let v: Json = serde_json::from_str("99999999999999999999").unwrap();
        assert!(matches!(Value::from_json(&v, ParamType::Integer), Err(ValueError::OutOfRange(_))));
        assert!(matches!(Value::from_json(&json!("12x"), ParamType::Integer), Err(ValueError::Invalid(_))));
        let v: Json = serde_json::from_str("1e400").unwrap();
        assert!(matches!(Value::from_json(&v, ParamType::Float), Err(ValueError::OutOfRange(_))));
        assert!(Value::from_json(&json!("Infinity"), ParamType::Float).is_ok());
    }

    #[test]
    fn long_input_is_quoted_short_in_errors() {
        let long = "9".repeat(10_000) + "x";
        for ty in [ParamType::Number, ParamType::Integer, ParamType::Float, ParamType::Date] {
            let err = Value::from_json(&json!(long), ty).unwrap_err().to_string();
            assert!(err.len() < 300, "{ty}: {} bytes", err.len());
        }
    }
}
