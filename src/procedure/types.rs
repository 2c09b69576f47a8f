//! Parameter directions and the wire types a request can name (`STRING`, `NUMBER`, ...).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::quote::quoted;

/// IN, OUT or INOUT (case-insensitive on the wire; `IN OUT` accepted as Oracle writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    InOut,
}

impl Direction {
    pub fn takes_value(self) -> bool {
        matches!(self, Direction::In | Direction::InOut)
    }
    pub fn returns_value(self) -> bool {
        matches!(self, Direction::Out | Direction::InOut)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "IN",
            Direction::Out => "OUT",
            Direction::InOut => "INOUT",
        }
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().replace(' ', "").as_str() {
            "IN" => Ok(Direction::In),
            "OUT" => Ok(Direction::Out),
            "INOUT" => Ok(Direction::InOut),
            _ => Err(format!("unknown direction {} (expected IN, OUT or INOUT)", quoted(s))),
        }
    }
}

/// A parameter's type as procgate converts it. Each backend maps its catalog types onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    String,
    Number,
    Integer,
    Float,
    Boolean,
    Date,
    Timestamp,
    Clob,
    Json,
    Binary,
    Cursor,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "STRING",
            ParamType::Number => "NUMBER",
            ParamType::Integer => "INTEGER",
            ParamType::Float => "FLOAT",
            ParamType::Boolean => "BOOLEAN",
            ParamType::Date => "DATE",
            ParamType::Timestamp => "TIMESTAMP",
            ParamType::Clob => "CLOB",
            ParamType::Json => "JSON",
            ParamType::Binary => "BLOB",
            ParamType::Cursor => "CURSOR",
        }
    }

    /// Whether a request that says `self` may be bound to an argument the catalog says is `actual`.
    /// Families are lenient (NUMBER fits an integer column, DATE a timestamp); crossing families is
    /// the mistake this check exists to catch.
    pub fn is_compatible_with(self, actual: ParamType) -> bool {
        self.family() == actual.family() || self == ParamType::String && actual.family() != 4
    }

    fn family(self) -> u8 {
        match self {
            ParamType::String | ParamType::Clob => 0,
            ParamType::Number | ParamType::Integer | ParamType::Float => 1,
            ParamType::Boolean => 2,
            ParamType::Date | ParamType::Timestamp => 3,
            ParamType::Cursor => 4,
            ParamType::Json => 5,
            ParamType::Binary => 6,
        }
    }
}

impl FromStr for ParamType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "STRING" | "VARCHAR" | "VARCHAR2" | "TEXT" | "CHAR" => ParamType::String,
            "NUMBER" | "NUMERIC" | "DECIMAL" => ParamType::Number,
            "INTEGER" | "INT" => ParamType::Integer,
            "FLOAT" | "DOUBLE" | "BINARY_DOUBLE" | "BINARY_FLOAT" => ParamType::Float,
            "BOOLEAN" | "BOOL" => ParamType::Boolean,
            "DATE" => ParamType::Date,
            "TIMESTAMP" | "DATETIME" => ParamType::Timestamp,
            "CLOB" | "NCLOB" => ParamType::Clob,
            "JSON" | "JSONB" => ParamType::Json,
            "BLOB" | "RAW" | "BINARY" | "BYTEA" => ParamType::Binary,
            "CURSOR" | "REFCURSOR" | "SYS_REFCURSOR" => ParamType::Cursor,
            _ => return Err(format!("unknown type {}", quoted(s))),
        })
    }
}

macro_rules! text_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
text_serde!(Direction);
text_serde!(ParamType);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("in out".parse::<Direction>().unwrap(), Direction::InOut);
        assert_eq!("Out".parse::<Direction>().unwrap(), Direction::Out);
        assert_eq!("sys_refcursor".parse::<ParamType>().unwrap(), ParamType::Cursor);
        assert!("sideways".parse::<Direction>().is_err());
        assert!("VARCHAR3".parse::<ParamType>().is_err());
    }

    #[test]
    fn compatibility_is_by_family() {
        assert!(ParamType::Number.is_compatible_with(ParamType::Integer));
        assert!(ParamType::Date.is_compatible_with(ParamType::Timestamp));
        assert!(ParamType::String.is_compatible_with(ParamType::Number));
        assert!(!ParamType::Number.is_compatible_with(ParamType::Cursor));
        assert!(!ParamType::String.is_compatible_with(ParamType::Cursor));
        assert!(!ParamType::Boolean.is_compatible_with(ParamType::Date));
    }
}
