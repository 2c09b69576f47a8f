//! Resolving a name as Oracle does, and reading its signatures from `ALL_PROCEDURES` /
//! `ALL_ARGUMENTS`.
//!
//! Resolution is Oracle's own: `DBMS_UTILITY.NAME_RESOLVE` (context 1, PL/SQL) decides whether
//! `A.B` is `schema.procedure` or `package.procedure`, follows private and public synonyms, and
//! folds unquoted names to upper case. The name travels as a bind value, built from the parsed,
//! checked parts; the catalog is then read with the resolved owner, package and name as binds.
//! Nothing from a request is ever part of SQL text.

use oracle::sql_type::OracleType;
use oracle::Connection;

use crate::db::DbError;
use crate::procedure::name::{quote_identifier, IdentifierCase, ProcedureName};
use crate::procedure::signature::{Argument, RoutineKind, Signature};
use crate::procedure::types::{Direction, ParamType};

use super::convert::{varchar, varchar_opt};
use super::error::map_error;
use super::store::statement;

/// Resolves a routine name as the session's user would.
pub(super) const RESOLVE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/resolve.sql"));

/// Every overload of a routine with its arguments.
pub(super) const DESCRIBE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/describe.sql"));

/// NAME_RESOLVE's answers for names that are not callable routines.
const NOT_FOUND: &[&str] = &["ORA-06564", "ORA-04047", "ORA-04043"];

/// NAME_RESOLVE `part1_type` values.
const TYPE_PROCEDURE: i64 = 7;
const TYPE_FUNCTION: i64 = 8;
const TYPE_PACKAGE: i64 = 9;

/// The routine a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub owner: String,
    pub package: Option<String>,
    pub name: String,
}

/// The name NAME_RESOLVE reads: each part folded as Oracle folds unquoted names, then quoted, so
/// its own tokenizer sees exactly the parsed identifiers (`"APP"."PROC_TEST"`).
pub(super) fn resolve_text(name: &ProcedureName) -> String {
    name.parts().iter().map(|p| quote_identifier(&p.folded(IdentifierCase::Upper))).collect::<Vec<_>>().join(".")
}

/// What NAME_RESOLVE returned, as a callable target (none for packages without a subprogram,
/// remote objects, and anything that is not a procedure or function).
pub(super) fn target_from_resolution(
    schema: Option<String>,
    part1: Option<String>,
    part2: Option<String>,
    dblink: Option<String>,
    part1_type: Option<i64>,
) -> Option<Target> {
    if dblink.is_some_and(|d| !d.is_empty()) {
        return None; // procgate never calls across database links
    }
    let owner = schema.filter(|s| !s.is_empty())?;
    match part1_type? {
        TYPE_PROCEDURE | TYPE_FUNCTION => Some(Target { owner, package: None, name: part1? }),
        TYPE_PACKAGE => Some(Target { owner, package: part1, name: part2.filter(|p| !p.is_empty())? }),
        _ => None,
    }
}

/// One row of [`DESCRIBE_SQL`].
#[derive(Debug, Clone, Default)]
pub(super) struct ArgRow {
    pub subprogram_id: i64,
    pub object_type: String,
    pub argument_name: Option<String>,
    pub position: Option<i64>,
    pub data_type: Option<String>,
    pub in_out: Option<String>,
    pub defaulted: Option<String>,
    pub pls_type: Option<String>,
}

/// Groups catalog rows into one signature per overload.
pub(super) fn signatures(target: &Target, rows: &[ArgRow]) -> Vec<Signature> {
    let mut out: Vec<(i64, Signature)> = Vec::new();
    for row in rows {
        let index = match out.iter().position(|(id, _)| *id == row.subprogram_id) {
            Some(i) => i,
            None => {
                let kind = if row.object_type == "FUNCTION" { RoutineKind::Function } else { RoutineKind::Procedure };
                out.push((
                    row.subprogram_id,
                    Signature {
                        schema: target.owner.clone(),
                        package: target.package.clone(),
                        name: target.name.clone(),
                        kind,
                        args: Vec::new(),
                        returns: None,
                    },
                ));
                out.len() - 1
            }
        };
        let sig = &mut out[index].1;
        let Some(data_type) = row.data_type.as_deref() else { continue }; // no arguments at all
        let param_type = param_type(data_type, row.pls_type.as_deref());
        if row.position == Some(0) && row.argument_name.is_none() {
            sig.kind = RoutineKind::Function;
            sig.returns = Some(Argument {
                name: "return".into(),
                direction: Direction::Out,
                param_type,
                db_type: data_type.to_string(),
                has_default: false,
            });
            continue;
        }
        let Some(name) = row.argument_name.clone() else { continue };
        sig.args.push(Argument {
            name,
            direction: match row.in_out.as_deref() {
                Some("OUT") => Direction::Out,
                Some("IN/OUT") => Direction::InOut,
                _ => Direction::In,
            },
            param_type,
            db_type: data_type.to_string(),
            has_default: row.defaulted.as_deref() == Some("Y"),
        });
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// Maps `ALL_ARGUMENTS.DATA_TYPE` (and `PLS_TYPE` for integer subtypes of NUMBER) onto procgate's
/// parameter types; anything else travels as text.
pub(super) fn param_type(data_type: &str, pls_type: Option<&str>) -> ParamType {
    let upper = data_type.trim().to_ascii_uppercase();
    let base = upper.strip_prefix("PL/SQL ").unwrap_or(&upper);
    let integer = |t: &str| {
        matches!(
            t,
            "INTEGER"
                | "INT"
                | "SMALLINT"
                | "PLS_INTEGER"
                | "BINARY_INTEGER"
                | "NATURAL"
                | "NATURALN"
                | "POSITIVE"
                | "POSITIVEN"
                | "SIGNTYPE"
                | "SIMPLE_INTEGER"
        )
    };
    match base {
        "NUMBER" | "FLOAT" | "DECIMAL" | "NUMERIC" | "REAL" | "DOUBLE PRECISION" => {
            if pls_type.is_some_and(|p| integer(&p.trim().to_ascii_uppercase())) {
                ParamType::Integer
            } else {
                ParamType::Number
            }
        }
        t if integer(t) => ParamType::Integer,
        "BINARY_FLOAT" | "BINARY_DOUBLE" => ParamType::Float,
        "DATE" => ParamType::Date,
        t if t.starts_with("TIMESTAMP") => ParamType::Timestamp,
        "CLOB" | "NCLOB" => ParamType::Clob,
        "BLOB" | "RAW" | "LONG RAW" => ParamType::Binary,
        "BOOLEAN" => ParamType::Boolean,
        "REF CURSOR" => ParamType::Cursor,
        "JSON" => ParamType::Json,
        _ => ParamType::String,
    }
}

/// Schemas Oracle maintains (`ALL_USERS.ORACLE_MAINTAINED = 'Y'` on 19c-23ai, and `PUBLIC`):
/// `SYS` and `SYSTEM` with their `DBMS_*` and `UTL_*` packages, and the options' own schemas.
/// NAME_RESOLVE follows public synonyms to them (`DBMS_LOCK.SLEEP` is `SYS.DBMS_LOCK.SLEEP`).
const SYSTEM_SCHEMAS: &[&str] = &[
    "SYS",
    "SYSTEM",
    "PUBLIC",
    "SYSBACKUP",
    "SYSDG",
    "SYSKM",
    "SYSRAC",
    "SYS$UMF",
    "AUDSYS",
    "ANONYMOUS",
    "APPQOSSYS",
    "CTXSYS",
    "DBSFWUSER",
    "DBSNMP",
    "DGPDB_INT",
    "DIP",
    "DVF",
    "DVSYS",
    "GGSHAREDCAP",
    "GGSYS",
    "GSMADMIN_INTERNAL",
    "GSMCATUSER",
    "GSMROOTUSER",
    "GSMUSER",
    "LBACSYS",
    "MDDATA",
    "MDSYS",
    "OJVMSYS",
    "OLAPSYS",
    "ORACLE_OCM",
    "ORDDATA",
    "ORDPLUGINS",
    "ORDSYS",
    "OUTLN",
    "REMOTE_SCHEDULER_AGENT",
    "SI_INFORMTN_SCHEMA",
    "SPATIAL_CSW_ADMIN_USR",
    "SPATIAL_WFS_ADMIN_USR",
    "WMSYS",
    "XDB",
    "XS$NULL",
    "APEX_PUBLIC_USER",
    "FLOWS_FILES",
    "ORDS_METADATA",
    "ORDS_PUBLIC_USER",
];

/// Whether `owner` (as NAME_RESOLVE returns it) is one of Oracle's own schemas, including APEX's
/// versioned ones (`APEX_230100`).
pub(super) fn is_system_schema(owner: &str) -> bool {
    let apex_version =
        owner.strip_prefix("APEX_").is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
    SYSTEM_SCHEMAS.contains(&owner) || apex_version
}

/// Resolves `name` and reads its signatures (none when Oracle cannot resolve it to a routine
/// the gateway's user can see).
pub(super) fn describe(conn: &Connection, name: &ProcedureName) -> Result<Vec<Signature>, DbError> {
    let Some(target) = resolve(conn, name)? else { return Ok(Vec::new()) };
    let mut stmt = conn.statement(DESCRIBE_SQL).build().map_err(|e| map_error(&e))?;
    let rows = stmt
        .query_named(&[
            ("owner", &varchar(&target.owner)),
            ("package", &varchar_opt(target.package.as_deref())),
            ("name", &varchar(&target.name)),
        ])
        .map_err(|e| map_error(&e))?;
    let mut out = Vec::new();
    for row in rows {
        let row = row.map_err(|e| map_error(&e))?;
        let get = |i: usize| row.get::<usize, Option<String>>(i).map_err(|e| map_error(&e));
        out.push(ArgRow {
            subprogram_id: row.get::<usize, i64>(0).map_err(|e| map_error(&e))?,
            object_type: get(1)?.unwrap_or_default(),
            argument_name: get(2)?,
            position: row.get::<usize, Option<i64>>(3).map_err(|e| map_error(&e))?,
            data_type: get(4)?,
            in_out: get(5)?,
            defaulted: get(6)?,
            pls_type: get(7)?,
        });
    }
    Ok(signatures(&target, &out))
}

fn resolve(conn: &Connection, name: &ProcedureName) -> Result<Option<Target>, DbError> {
    let mut stmt = conn.statement(RESOLVE_SQL).build().map_err(|e| map_error(&e))?;
    let text = resolve_text(name);
    let ident = OracleType::Varchar2(512);
    let result = stmt.execute_named(&[
        ("name", &varchar(&text)),
        ("schema", &ident),
        ("part1", &ident),
        ("part2", &ident),
        ("dblink", &ident),
        ("part1_type", &OracleType::Number(0, 0)),
        ("object_number", &OracleType::Number(0, 0)),
    ]);
    if let Err(e) = result {
        let err = map_error(&e);
        if NOT_FOUND.contains(&err.code.as_str()) {
            return Ok(None);
        }
        return Err(err);
    }
    let text_out = |n: &str| stmt.bind_value::<&str, Option<String>>(n).map_err(|e| map_error(&e));
    Ok(target_from_resolution(
        text_out("schema")?,
        text_out("part1")?,
        text_out("part2")?,
        text_out("dblink")?,
        stmt.bind_value::<&str, Option<i64>>("part1_type").map_err(|e| map_error(&e))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(package: Option<&str>) -> Target {
        Target { owner: "APP".into(), package: package.map(Into::into), name: "RUN".into() }
    }

    fn row(sub: i64, ty: &str, name: Option<&str>, pos: i64, dt: &str, io: &str, def: &str) -> ArgRow {
        ArgRow {
            subprogram_id: sub,
            object_type: ty.into(),
            argument_name: name.map(Into::into),
            position: Some(pos),
            data_type: Some(dt.into()),
            in_out: Some(io.into()),
            defaulted: Some(def.into()),
            pls_type: None,
        }
    }

    #[test]
    fn system_schemas() {
        for s in ["SYS", "SYSTEM", "PUBLIC", "CTXSYS", "MDSYS", "XDB", "APEX_230100", "SYS$UMF"] {
            assert!(is_system_schema(s), "{s}");
        }
        // Case matters: NAME_RESOLVE returns owners as stored, and "sys" (quoted) is a user's schema.
        for s in ["APP", "sys", "SYSTEMS_APP", "APEX_REPORTS", "APEX_", "SCOTT"] {
            assert!(!is_system_schema(s), "{s}");
        }
    }

    #[test]
    fn public_synonyms_into_sys_are_system_routines() {
        use crate::procedure::allowlist::Allowlist;
        // DBMS_LOCK.SLEEP: NAME_RESOLVE follows the public synonym to SYS's package.
        let s = |v: &str| Some(v.to_string());
        let target = target_from_resolution(s("SYS"), s("DBMS_LOCK"), s("SLEEP"), None, Some(9)).unwrap();
        let sleep = &signatures(&target, &[row(1, "PACKAGE", Some("SECONDS"), 1, "NUMBER", "IN", "N")])[0];
        assert!(is_system_schema(&sleep.schema));
        assert_eq!(sleep.canonical_name(), "SYS.DBMS_LOCK.SLEEP");
        for list in ["*", "*.*", "*.*.*", "DBMS_LOCK.*", "DBMS_*.*"] {
            assert!(!Allowlist::parse(list).allows_system_routine(sleep), "{list}");
        }
        assert!(Allowlist::parse("SYS.DBMS_LOCK.*").allows_system_routine(sleep));
        assert!(!is_system_schema(&target_from_resolution(s("APP"), s("PKG"), s("RUN"), None, Some(9)).unwrap().owner));
    }

    #[test]
    fn names_reach_name_resolve_as_quoted_folded_parts() {
        let n = ProcedureName::parse("app.pkg.Run_1", None).unwrap();
        assert_eq!(resolve_text(&n), "\"APP\".\"PKG\".\"RUN_1\"");
        let n = ProcedureName::parse("\"MixedCase\"", Some("app")).unwrap();
        assert_eq!(resolve_text(&n), "\"APP\".\"MixedCase\"");
        // Statement texts carry only bind placeholders.
        assert!(RESOLVE_SQL.contains(":name, 1,"));
        assert!(DESCRIBE_SQL.contains("p.OWNER = :owner") && DESCRIBE_SQL.contains("p.PROCEDURE_NAME = :name"));
    }

    #[test]
    fn resolution_targets() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            target_from_resolution(s("APP"), s("PROC_TEST"), None, None, Some(7)),
            Some(Target { owner: "APP".into(), package: None, name: "PROC_TEST".into() })
        );
        assert_eq!(target_from_resolution(s("APP"), s("F"), None, s(""), Some(8)).unwrap().name, "F");
        assert_eq!(
            target_from_resolution(s("APP"), s("PKG"), s("RUN"), None, Some(9)),
            Some(Target { owner: "APP".into(), package: s("PKG"), name: "RUN".into() })
        );
        assert_eq!(target_from_resolution(s("APP"), s("PKG"), None, None, Some(9)), None); // a package, not a routine
        assert_eq!(target_from_resolution(s("APP"), s("P"), None, s("REMOTE"), Some(7)), None);
        assert_eq!(target_from_resolution(s("APP"), s("T"), None, None, Some(2)), None);
        assert_eq!(target_from_resolution(None, s("P"), None, None, Some(7)), None);
    }

    #[test]
    fn procedure_signature_from_rows() {
        let rows = vec![
            row(1, "PROCEDURE", Some("P_INPUT"), 1, "VARCHAR2", "IN", "N"),
            row(1, "PROCEDURE", Some("P_OUTPUT"), 2, "VARCHAR2", "OUT", "N"),
            row(1, "PROCEDURE", Some("P_BOTH"), 3, "NUMBER", "IN/OUT", "N"),
            row(1, "PROCEDURE", Some("P_OPT"), 4, "DATE", "IN", "Y"),
        ];
        let sigs = signatures(&target(None), &rows);
        assert_eq!(sigs.len(), 1);
        let s = &sigs[0];
        assert_eq!((s.kind, s.quoted_name().as_str()), (RoutineKind::Procedure, "\"APP\".\"RUN\""));
        let dirs: Vec<Direction> = s.args.iter().map(|a| a.direction).collect();
        assert_eq!(dirs, vec![Direction::In, Direction::Out, Direction::InOut, Direction::In]);
        assert_eq!(s.args[3].param_type, ParamType::Date);
        assert!(s.args[3].has_default && !s.args[0].has_default);
        assert_eq!(s.args[2].db_type, "NUMBER");
        assert!(s.returns.is_none());
    }

    #[test]
    fn packaged_overloads_and_functions() {
        let mut ret = row(2, "PACKAGE", None, 0, "NUMBER", "OUT", "N");
        ret.argument_name = None;
        let rows = vec![
            row(1, "PACKAGE", Some("P_A"), 1, "VARCHAR2", "IN", "N"),
            ret,
            row(2, "PACKAGE", Some("P_A"), 1, "NUMBER", "IN", "N"),
            row(2, "PACKAGE", Some("P_B"), 2, "NUMBER", "IN", "Y"),
        ];
        let sigs = signatures(&target(Some("PKG")), &rows);
        assert_eq!(sigs.len(), 2);
        assert_eq!(sigs[0].kind, RoutineKind::Procedure);
        assert_eq!(sigs[0].quoted_name(), "\"APP\".\"PKG\".\"RUN\"");
        assert_eq!(sigs[1].kind, RoutineKind::Function);
        assert_eq!(sigs[1].returns.as_ref().unwrap().param_type, ParamType::Number);
        assert_eq!(sigs[1].args.len(), 2);
    }

    #[test]
    fn routines_without_arguments() {
        // A LEFT JOIN with no argument row, and the old single NULL row: both mean no arguments.
        let empty = ArgRow { subprogram_id: 1, object_type: "PROCEDURE".into(), ..Default::default() };
        let legacy = ArgRow {
            subprogram_id: 1,
            object_type: "PROCEDURE".into(),
            position: Some(1),
            data_type: None,
            ..Default::default()
        };
        for r in [empty, legacy] {
            let sigs = signatures(&target(None), &[r]);
            assert_eq!(sigs.len(), 1);
            assert!(sigs[0].args.is_empty());
        }
        let mut ret = row(1, "FUNCTION", None, 0, "PL/SQL BOOLEAN", "OUT", "N");
        ret.argument_name = None;
        let sigs = signatures(&target(None), &[ret]);
        assert_eq!(sigs[0].kind, RoutineKind::Function);
        assert_eq!(sigs[0].returns.as_ref().unwrap().param_type, ParamType::Boolean);
    }

    #[test]
    fn data_types() {
        let cases = [
            ("VARCHAR2", None, ParamType::String),
            ("NVARCHAR2", None, ParamType::String),
            ("CHAR", None, ParamType::String),
            ("NUMBER", None, ParamType::Number),
            ("NUMBER", Some("INTEGER"), ParamType::Integer),
            ("FLOAT", None, ParamType::Number),
            ("PL/SQL PLS_INTEGER", None, ParamType::Integer),
            ("BINARY_INTEGER", None, ParamType::Integer),
            ("PLS_INTEGER", None, ParamType::Integer),
            ("BINARY_FLOAT", None, ParamType::Float),
            ("BINARY_DOUBLE", None, ParamType::Float),
            ("DATE", None, ParamType::Date),
            ("TIMESTAMP", None, ParamType::Timestamp),
            ("TIMESTAMP WITH TIME ZONE", None, ParamType::Timestamp),
            ("TIMESTAMP WITH LOCAL TIME ZONE", None, ParamType::Timestamp),
            ("CLOB", None, ParamType::Clob),
            ("NCLOB", None, ParamType::Clob),
            ("BLOB", None, ParamType::Binary),
            ("RAW", None, ParamType::Binary),
            ("PL/SQL BOOLEAN", None, ParamType::Boolean),
            ("BOOLEAN", None, ParamType::Boolean),
            ("REF CURSOR", None, ParamType::Cursor),
            ("JSON", None, ParamType::Json),
            ("INTERVAL DAY TO SECOND", None, ParamType::String),
            ("ROWID", None, ParamType::String),
        ];
        for (dt, pls, expected) in cases {
            assert_eq!(param_type(dt, pls), expected, "{dt} {pls:?}");
        }
    }
}
