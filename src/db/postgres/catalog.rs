//! Resolving a routine name in `pg_proc` and reading its signature.

use crate::db::DbError;
use crate::procedure::name::{IdentifierCase, ProcedureName};
use crate::procedure::signature::{Argument, RoutineKind, Signature};
use crate::procedure::types::{Direction, ParamType};

use super::connect::Object;
use super::error::map_error;

/// Every procedure or function named `$1` in schema `$2` (or, without a schema, in the first
/// schema of the search path that has one), with argument names, modes and types.
const DESCRIBE_SQL: &str = include_str!("../../../sql/postgres/queries/describe.sql");

const VOID_OID: i64 = 2278;

pub(super) async fn describe(client: &Object, name: &ProcedureName) -> Result<Vec<Signature>, DbError> {
    let parts = name.parts();
    let (schema, routine) = match parts {
        [routine] => (None, routine),
        [schema, routine] => (Some(schema.folded(IdentifierCase::Lower)), routine),
        _ => return Ok(Vec::new()), // PostgreSQL has no packages
    };
    let routine = routine.folded(IdentifierCase::Lower);
    // PostgreSQL's identifiers have at most 63 bytes (NAMEDATALEN - 1); a longer part names
    // nothing, and the server would refuse it with an error rather than find no row.
    if routine.len() > 63 || schema.as_ref().is_some_and(|s| s.len() > 63) {
        return Ok(Vec::new());
    }
    let rows = client.query(DESCRIBE_SQL, &[&routine, &schema]).await.map_err(map_error)?;
    // Without a schema, the first schema on the search path that has the name wins, as in SQL.
    let first = rows.iter().map(|r| r.get::<_, i32>(10)).min().unwrap_or(0);
    Ok(rows
        .iter()
        .filter(|r| schema.is_some() || r.get::<_, i32>(10) == first)
        .map(|r| {
            let names: Vec<String> = r.get(3);
            let modes: Vec<String> = r.get(4);
            let n_defaults: i32 = r.get(5);
            let type_names: Vec<String> = r.get(6);
            let type_oids: Vec<i64> = r.get(7);
            let kind = if r.get::<_, String>(2) == "p" { RoutineKind::Procedure } else { RoutineKind::Function };
            let directions: Vec<Direction> = (0..type_oids.len())
                .map(|i| match modes.get(i).map(String::as_str) {
                    Some("o") | Some("t") => Direction::Out,
                    Some("b") => Direction::InOut,
                    _ => Direction::In,
                })
                .collect();
            // The last `pronargdefaults` input arguments have defaults.
            let inputs: Vec<usize> = (0..directions.len()).filter(|&i| directions[i].takes_value()).collect();
            let first_default = inputs.len().saturating_sub(n_defaults.max(0) as usize);
            let args = (0..type_oids.len())
                .map(|i| Argument {
                    name: names.get(i).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| format!("${}", i + 1)),
                    direction: directions[i],
                    param_type: param_type(type_oids[i]),
                    db_type: type_names[i].clone(),
                    has_default: inputs.iter().position(|&x| x == i).is_some_and(|p| p >= first_default),
                })
                .collect::<Vec<_>>();
            let has_out_args = args.iter().any(|a| a.direction.returns_value());
            let ret_oid: i64 = r.get(9);
            let returns = (kind == RoutineKind::Function && !has_out_args && ret_oid != VOID_OID).then(|| Argument {
                name: "return".into(),
                direction: Direction::Out,
                param_type: param_type(ret_oid),
                db_type: r.get(8),
                has_default: false,
            });
            Signature { schema: r.get(0), package: None, name: r.get(1), kind, args, returns }
        })
        .collect())
}

/// PostgreSQL's own schemas: `information_schema` and every `pg_*` schema (`pg_catalog`,
/// `pg_toast`, `pg_temp_N`, `pg_toast_temp_N`; PostgreSQL reserves the prefix, so no user schema
/// can have it).
pub(super) fn is_system_schema(schema: &str) -> bool {
    schema == "information_schema" || schema.starts_with("pg_")
}

/// Maps a (base) type oid onto procgate's parameter types; everything else travels as text.
pub(super) fn param_type(oid: i64) -> ParamType {
    match oid {
        16 => ParamType::Boolean,
        20 | 21 | 23 => ParamType::Integer,
        700 | 701 => ParamType::Float,
        1700 => ParamType::Number,
        1082 => ParamType::Date,
        1114 | 1184 => ParamType::Timestamp,
        114 | 3802 => ParamType::Json,
        17 => ParamType::Binary,
        1790 => ParamType::Cursor,
        _ => ParamType::String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_schemas() {
        for s in ["pg_catalog", "information_schema", "pg_toast", "pg_temp_3", "pg_toast_temp_3"] {
            assert!(is_system_schema(s), "{s}");
        }
        for s in ["public", "app", "PG_CATALOG_COPY", "information_schema_x"] {
            assert!(!is_system_schema(s), "{s}");
        }
    }
}
