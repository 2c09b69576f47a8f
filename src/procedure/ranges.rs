//! What each database can store in an argument of its declared type: the range checks that turn
//! a value the database would refuse mid-job into a 422 `invalid_value` at submission.
//!
//! The rules read the catalog's type name (`Argument::db_type`): PostgreSQL's `format_type`
//! words (`smallint`, `integer`, `real`, `numeric(p,s)`), Oracle's `ALL_ARGUMENTS.DATA_TYPE`
//! (`PLS_INTEGER`, `BINARY_INTEGER`, `NATURAL`, `NUMBER(p,s)` ...). The same word can mean
//! different things (PostgreSQL's `integer` is 32-bit, Oracle's `INTEGER` is `NUMBER(38)`),
//! hence the dialect. Dates, times and offsets are checked for both alike in [`super::value`].

use super::name::IdentifierCase;
use super::value::Value;

/// Whose type names these are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Oracle,
}

impl Dialect {
    /// The backend's dialect, told by how it folds unquoted names (PostgreSQL lower, Oracle upper).
    pub fn of(case: IdentifierCase) -> Self {
        match case {
            IdentifierCase::Lower => Dialect::Postgres,
            IdentifierCase::Upper => Dialect::Oracle,
        }
    }
}

/// Oracle NUMBER holds magnitudes below 1E126 (smaller ones round to zero, without error).
const ORACLE_NUMBER_MAX_EXPONENT: i64 = 125;
/// PostgreSQL's numeric input refuses an exponent beyond ±1000.
const PG_NUMERIC_MAX_EXPONENT: i64 = 1000;

/// Checks `value` against what a `db_type` argument of `dialect` stores; the error says why not.
pub fn check(value: &Value, db_type: &str, dialect: Dialect) -> Result<(), String> {
    let ty = normalized(db_type);
    match value {
        Value::Integer(i) => match integer_range(&ty, dialect) {
            Some((lo, hi)) if !(lo..=hi).contains(i) => {
                Err(format!("{i} is out of range for {db_type} ({lo} to {hi})"))
            }
            _ => Ok(()),
        },
        Value::Number(text) => check_decimal(text, &ty, db_type, dialect),
        Value::Float(f) if dialect == Dialect::Postgres && matches!(ty.as_str(), "REAL" | "FLOAT4") => {
            if f.is_finite() && f.abs() > f32::MAX as f64 {
                Err(format!("{f} is out of range for {db_type}"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Upper case, `PL/SQL ` prefix dropped, inner spaces as underscores (`PL/SQL PLS INTEGER` is
/// `PLS_INTEGER`), spaces around `(`, `,` and `)` removed.
fn normalized(db_type: &str) -> String {
    let upper = db_type.trim().to_ascii_uppercase();
    let base = upper.strip_prefix("PL/SQL ").unwrap_or(&upper);
    let compact: String = base.split_whitespace().collect::<Vec<_>>().join(" ");
    compact
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(", ", ",")
        .replace(" ,", ",")
        .replace(" )", ")")
        .replace(' ', "_")
}

/// The range of an integer type the database stores in fewer than 64 bits.
fn integer_range(ty: &str, dialect: Dialect) -> Option<(i64, i64)> {
    const I32: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);
    match dialect {
        Dialect::Postgres => match ty {
            "SMALLINT" | "INT2" => Some((i16::MIN as i64, i16::MAX as i64)),
            "INTEGER" | "INT" | "INT4" => Some(I32),
            _ => None,
        },
        // Oracle's INTEGER, INT and SMALLINT are NUMBER(38): only the PL/SQL integers are 32-bit.
        Dialect::Oracle => match ty {
            "PLS_INTEGER" | "BINARY_INTEGER" | "SIMPLE_INTEGER" => Some(I32),
            "NATURAL" | "NATURALN" => Some((0, i32::MAX as i64)),
            "POSITIVE" | "POSITIVEN" => Some((1, i32::MAX as i64)),
            "SIGNTYPE" => Some((-1, 1)),
            _ => precision_scale(ty).map(|(p, s)| {
                // NUMBER(p,s) with p - s < 19 digits before the point bounds an integer too.
                let digits = (p - s).clamp(0, 18) as u32;
                let max = 10i64.pow(digits) - 1;
                (-max, max)
            }),
        },
    }
}

/// `NUMBER(p,s)`, `NUMBER(p)`, `NUMERIC(p,s)`, `DECIMAL(p,s)`: precision and scale.
fn precision_scale(ty: &str) -> Option<(i64, i64)> {
    let (name, rest) = ty.split_once('(')?;
    if !matches!(name, "NUMBER" | "NUMERIC" | "DECIMAL") {
        return None;
    }
    let inner = rest.strip_suffix(')')?;
    let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
    let p: i64 = p.parse().ok()?;
    let s: i64 = s.parse().ok()?;
    (p >= 1).then_some((p, s))
}

/// A decimal's magnitude: the power of ten of its leading digit (none for zero), and its
/// literal exponent. Input is already validated by `value::parse_decimal`.
fn magnitude(text: &str) -> (Option<i64>, i64) {
    let body = text.trim().trim_start_matches(['-', '+']);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.trim_start_matches('0');
    let leading = if !int.is_empty() {
        Some(int.len() as i64 - 1 + exponent)
    } else {
        frac.find(|c: char| c != '0').map(|zeros| -(zeros as i64) - 1 + exponent)
    };
    (leading, exponent)
}

fn check_decimal(text: &str, ty: &str, db_type: &str, dialect: Dialect) -> Result<(), String> {
    let (leading, exponent) = magnitude(text);
    let too_large = || format!("{} is too large for {db_type}", super::quote::quoted(text));
    match dialect {
        Dialect::Postgres if exponent.abs() > PG_NUMERIC_MAX_EXPONENT => {
            return Err(format!("the exponent of {} is out of range (-1000 to 1000)", super::quote::quoted(text)))
        }
        Dialect::Oracle if leading.is_some_and(|l| l > ORACLE_NUMBER_MAX_EXPONENT) => return Err(too_large()),
        _ => {}
    }
    // NUMBER(p,s)/numeric(p,s): at most p - s digits before the point (the rest is rounded away).
    if let (Some((p, s)), Some(l)) = (precision_scale(ty), leading) {
        if l + 1 > p - s {
            return Err(format!(
                "{} has more than {} digits before the point for {db_type}",
                super::quote::quoted(text),
                (p - s).max(0)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::*;

    fn int(i: i64, ty: &str, d: Dialect) -> bool {
        check(&Value::Integer(i), ty, d).is_ok()
    }

    fn num(text: &str, ty: &str, d: Dialect) -> bool {
        check(&Value::Number(text.into()), ty, d).is_ok()
    }

    #[test]
    fn postgres_integers_have_their_width() {
        assert!(int(32767, "smallint", Postgres) && !int(32768, "smallint", Postgres));
        assert!(int(-32768, "smallint", Postgres) && !int(-32769, "smallint", Postgres));
        assert!(int(2147483647, "integer", Postgres) && !int(2147483648, "integer", Postgres));
        assert!(!int(-2147483649, "integer", Postgres));
        assert!(int(i64::MAX, "bigint", Postgres));
        assert!(int(i64::MAX, "my_domain", Postgres));
    }

    #[test]
    fn oracle_pls_integers_are_32_bit_and_integer_is_number_38() {
        for ty in ["PLS_INTEGER", "BINARY_INTEGER", "PL/SQL PLS INTEGER", "pl/sql binary integer", "SIMPLE_INTEGER"] {
            assert!(int(2147483647, ty, Oracle), "{ty}");
            assert!(!int(2147483648, ty, Oracle), "{ty}");
            assert!(!int(-2147483649, ty, Oracle), "{ty}");
        }
        assert!(int(0, "NATURAL", Oracle) && !int(-1, "NATURAL", Oracle) && !int(-1, "NATURALN", Oracle));
        assert!(!int(0, "POSITIVE", Oracle) && int(1, "POSITIVEN", Oracle));
        assert!(int(-1, "SIGNTYPE", Oracle) && !int(2, "SIGNTYPE", Oracle));
        // Oracle's INTEGER and SMALLINT are NUMBER(38): any 64-bit value fits.
        for ty in ["INTEGER", "SMALLINT", "NUMBER", "INT"] {
            assert!(int(i64::MAX, ty, Oracle), "{ty}");
        }
        assert!(int(99999, "NUMBER(5)", Oracle) && !int(100000, "NUMBER(5)", Oracle));
        assert!(int(999, "NUMBER(5, 2)", Oracle) && !int(-1000, "NUMBER(5,2)", Oracle));
    }

    #[test]
    fn oracle_numbers_stop_below_1e126() {
        assert!(num("9.99e125", "NUMBER", Oracle));
        assert!(!num("1e126", "NUMBER", Oracle));
        assert!(!num("-12e125", "NUMBER", Oracle));
        assert!(num("1e-200", "NUMBER", Oracle), "tiny values round to zero without error");
        assert!(num("0e999", "NUMBER", Oracle));
        assert!(num(&format!("1{}", "0".repeat(125)), "NUMBER", Oracle));
        assert!(!num(&format!("1{}", "0".repeat(126)), "NUMBER", Oracle));
    }

    #[test]
    fn precision_and_scale_bound_the_digits_before_the_point() {
        for d in [Oracle, Postgres] {
            let ty = if d == Oracle { "NUMBER(5,2)" } else { "numeric(5,2)" };
            assert!(num("999.994", ty, d), "{ty}");
            assert!(num("-0.001", ty, d), "{ty}");
            assert!(!num("1000", ty, d), "{ty}");
            assert!(!num("1e3", ty, d), "{ty}");
            assert!(num("0.0999e4", ty, d), "{ty}");
        }
        assert!(num("123", "NUMBER(3)", Oracle) && !num("1234", "NUMBER(3)", Oracle));
        assert!(num("1e30", "NUMBER", Oracle));
    }

    #[test]
    fn postgres_numeric_exponents_and_reals() {
        assert!(num("1e1000", "numeric", Postgres) && !num("1e1001", "numeric", Postgres));
        assert!(!num("1e-1001", "numeric", Postgres));
        assert!(check(&Value::Float(1e39), "real", Postgres).is_err());
        assert!(check(&Value::Float(1e38), "real", Postgres).is_ok());
        assert!(check(&Value::Float(1e39), "double precision", Postgres).is_ok());
    }

    #[test]
    fn dialect_follows_identifier_case() {
        assert_eq!(Dialect::of(IdentifierCase::Upper), Oracle);
        assert_eq!(Dialect::of(IdentifierCase::Lower), Postgres);
    }
}
