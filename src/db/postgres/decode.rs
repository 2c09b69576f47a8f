//! Reading any PostgreSQL value as JSON, exactly: numeric digits kept, times in ISO 8601.

use std::error::Error;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use postgres_types::{FromSql, Kind, Type};
use serde_json::Value as Json;

use crate::procedure::value::{binary_json, exact_number_json, format_local, format_zoned};

type BoxError = Box<dyn Error + Sync + Send>;

/// A column value converted to JSON.
pub(super) struct PgJson(pub Json);

impl<'a> FromSql<'a> for PgJson {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let value = match *ty {
            Type::BOOL => Json::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Json::from(i16::from_sql(ty, raw)?),
            Type::INT4 => Json::from(i32::from_sql(ty, raw)?),
            Type::INT8 => Json::from(i64::from_sql(ty, raw)?),
            Type::OID => Json::from(u32::from_sql(ty, raw)?),
            Type::FLOAT4 => float_json(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => float_json(f64::from_sql(ty, raw)?),
            Type::NUMERIC => exact_number_json(&decode_numeric(raw)?),
            Type::DATE => Json::String(NaiveDate::from_sql(ty, raw)?.format("%Y-%m-%d").to_string()),
            Type::TIMESTAMP => Json::String(format_local(&NaiveDateTime::from_sql(ty, raw)?)),
            Type::TIMESTAMPTZ => Json::String(format_zoned(&DateTime::<Utc>::from_sql(ty, raw)?.fixed_offset())),
            Type::JSON | Type::JSONB => Json::from_sql(ty, raw)?,
            Type::BYTEA => binary_json(raw),
            Type::UUID if raw.len() == 16 => Json::String(format_uuid(raw)),
            _ if is_textual(ty) => Json::String(std::str::from_utf8(raw)?.to_string()),
            _ => return Err(format!("unsupported output type {}", ty.name()).into()),
        };
        Ok(PgJson(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(PgJson(Json::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Types whose binary form is their text.
fn is_textual(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR | Type::UNKNOWN | Type::REFCURSOR)
        || matches!(ty.kind(), Kind::Enum(_))
        || ty.name() == "citext"
}

fn float_json(f: f64) -> Json {
    serde_json::Number::from_f64(f).map(Json::Number).unwrap_or(Json::Null)
}

fn format_uuid(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Decodes PostgreSQL's binary `numeric` (base-10000 digits) into exact decimal text.
pub(super) fn decode_numeric(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16 as i32;
    let sign = word(4)?;
    let dscale = word(6)? as usize;
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(8 + 2 * i)).collect::<Result<_, _>>()?;
    let digit = |g: i32| if g < 0 { 0 } else { digits.get(g as usize).copied().unwrap_or(0) };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for g in 0..=weight {
            if g == 0 {
                write!(out, "{}", digit(g))?;
            } else {
                write!(out, "{:04}", digit(g))?;
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut g = weight + 1;
        while frac.len() < dscale {
            write!(frac, "{:04}", digit(g))?;
            g += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            v.extend_from_slice(&w.to_be_bytes());
        }
        v
    }

    #[test]
    fn decodes_numeric_exactly() {
        let big = numeric(8, 4, 0, 9, &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000]);
        assert_eq!(decode_numeric(&big).unwrap(), "12345678901234567890.123456789");
        assert_eq!(decode_numeric(&numeric(1, -1, 0x4000, 4, &[5000])).unwrap(), "-0.5000");
        assert_eq!(decode_numeric(&numeric(1, -2, 0, 6, &[1200])).unwrap(), "0.000012");
        assert_eq!(decode_numeric(&numeric(1, 1, 0, 0, &[7])).unwrap(), "70000");
        assert_eq!(decode_numeric(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
        assert_eq!(decode_numeric(&numeric(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert!(decode_numeric(&[0, 1]).is_err());
    }
}
