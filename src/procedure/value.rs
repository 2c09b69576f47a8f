//! Typed parameter values, and their conversion from and to JSON.
//!
//! Numbers never pass through `f64`: a NUMBER is kept as its decimal text (serde_json's
//! `arbitrary_precision` keeps the digits the client sent). Dates and timestamps keep their time
//! of day and offset; ISO 8601 and the predecessor's `DD/MM/YYYY` are accepted.

use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat};
use serde_json::Value as Json;

use super::types::ParamType;

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
    pub fn from_json(v: &Json, ty: ParamType) -> Result<Value, String> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        // Neither database stores a NUL character in text (PostgreSQL refuses it outright).
        if contains_nul(v) {
            return Err("text may not contain the NUL character (U+0000)".into());
        }
        match ty {
            ParamType::String | ParamType::Clob => match v {
                Json::String(s) => Ok(Value::Text(s.clone())),
                Json::Number(n) => Ok(Value::Text(n.to_string())),
                Json::Bool(b) => Ok(Value::Text(b.to_string())),
                _ => Err("expected a string".into()),
            },
            ParamType::Number => {
                let text = scalar_text(v).ok_or("expected a number or a decimal string")?;
                parse_decimal(text.trim()).map(Value::Number)
            }
            ParamType::Integer => {
                let text = scalar_text(v).ok_or("expected an integer")?;
                text.trim().parse::<i64>().map(Value::Integer).map_err(|_| format!("{text:?} is not a 64-bit integer"))
            }
            ParamType::Float => {
                let text = scalar_text(v).ok_or("expected a number")?;
                text.trim().parse::<f64>().map(Value::Float).map_err(|_| format!("{text:?} is not a number"))
            }
            ParamType::Boolean => match v {
                Json::Bool(b) => Ok(Value::Boolean(*b)),
                Json::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Boolean(true)),
                Json::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Boolean(false)),
                _ => Err("expected true or false".into()),
            },
            ParamType::Date | ParamType::Timestamp => match v {
                Json::String(s) => parse_temporal(s),
                _ => Err("expected an ISO 8601 date or timestamp string".into()),
            },
            ParamType::Json => Ok(Value::Json(v.clone())),
            ParamType::Binary => match v {
                Json::String(s) => base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map(Value::Binary)
                    .map_err(|_| "expected base64 text".into()),
                _ => Err("expected base64 text".into()),
            },
            ParamType::Cursor => Err("a CURSOR parameter takes no input value".into()),
        }
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

/// Validates decimal text: `[+-]digits[.digits][e[+-]digits]`, at least one digit.
pub fn parse_decimal(s: &str) -> Result<String, String> {
    let err = || format!("{s:?} is not a decimal number");
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
pub fn parse_temporal(s: &str) -> Result<Value, String> {
    let s = s.trim();
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
    Err(format!("{s:?} is not an ISO 8601 date/timestamp (or DD/MM/YYYY)"))
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
}
