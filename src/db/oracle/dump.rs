//! Every Oracle statement procgate sends, written out for `scripts/check-oracle-sql`, which parses
//! each one with the ANTLR grammars-v4 PL/SQL grammar (no Oracle server runs here). The fixed
//! statements are files of `sql/oracle/queries/` sent without their `--` header and SQL*Plus
//! terminator (`store::statement`), call blocks are built per call (`block::build_block`) and
//! `migrate` splits its script: this test writes each, one file per statement, exactly as sent.
//!
//! It does nothing unless `PROCGATE_DUMP_ORACLE_SQL` names a directory:
//!
//! ```text
//! PROCGATE_DUMP_ORACLE_SQL=/tmp/x cargo test --all-features --lib db::oracle::dump::dump_for_grammar_check -- --exact
//! ```

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::procedure::plan::{plan_call, CallPlan, ParamRequest};
use crate::procedure::signature::{Argument, RoutineKind, Signature};
use crate::procedure::types::{Direction, ParamType};

use super::block::build_block;
use super::{audit, catalog, deliveries, events, longops, output, stats, store};

/// The statements with a fixed text: `<module>.<CONSTANT>`.
fn constants() -> Vec<(&'static str, &'static str)> {
    vec![
        ("store.PING_SQL", store::PING_SQL),
        ("store.INSERT_SQL", store::INSERT_SQL),
        ("store.EXISTING_KEY_SQL", store::EXISTING_KEY_SQL),
        ("store.CLAIM_SQL", store::CLAIM_SQL),
        ("store.LIMITED_CLAIM_LOCK_SQL", store::LIMITED_CLAIM_LOCK_SQL),
        ("store.RUNNING_COUNTS_SQL", store::RUNNING_COUNTS_SQL),
        ("store.CANDIDATES_SQL", store::CANDIDATES_SQL),
        ("store.CLAIM_PICKED_SQL", store::CLAIM_PICKED_SQL),
        ("store.PROGRESS_SQL", store::PROGRESS_SQL),
        ("store.SESSION_SQL", store::SESSION_SQL),
        ("store.CALL_WROTE_SQL", store::CALL_WROTE_SQL),
        ("store.FINISH_SQL", store::FINISH_SQL),
        ("store.HEARTBEAT_SQL", store::HEARTBEAT_SQL),
        ("store.CANCEL_REQUESTED_SQL", store::CANCEL_REQUESTED_SQL),
        ("store.CANCEL_PENDING_SQL", store::CANCEL_PENDING_SQL),
        ("store.CANCEL_RUNNING_SQL", store::CANCEL_RUNNING_SQL),
        ("store.STATUS_SQL", store::STATUS_SQL),
        ("store.RESCUE_SQL", store::RESCUE_SQL),
        ("store.GET_SQL", store::GET_SQL),
        ("store.COUNT_SQL", store::COUNT_SQL),
        ("store.PAGE_SQL", store::PAGE_SQL),
        ("store.PAGE_OWNER_SQL", store::PAGE_OWNER_SQL),
        ("store.PAGE_STATUS_SQL", store::PAGE_STATUS_SQL),
        ("store.PAGE_PROCEDURE_SQL", store::PAGE_PROCEDURE_SQL),
        ("store.DELETE_SQL", store::DELETE_SQL),
        ("store.PURGE_SQL", store::PURGE_SQL),
        ("store.COUNT_PENDING_SQL", store::COUNT_PENDING_SQL),
        ("store.CANCEL_PENDING_MATCHING_SQL", store::CANCEL_PENDING_MATCHING_SQL),
        ("store.RUNNING_TO_CANCEL_SQL", store::RUNNING_TO_CANCEL_SQL),
        ("store.PURGE_BEYOND_KEPT_SQL", store::PURGE_BEYOND_KEPT_SQL),
        ("stats.ACTIVE_SQL", stats::ACTIVE_SQL),
        ("stats.COUNT_ENDED_SQL", stats::COUNT_ENDED_SQL),
        ("stats.REPORT_INSTANCE_SQL", stats::REPORT_INSTANCE_SQL),
        ("stats.INSTANCES_SQL", stats::INSTANCES_SQL),
        ("catalog.RESOLVE_SQL", catalog::RESOLVE_SQL),
        ("catalog.DESCRIBE_SQL", catalog::DESCRIBE_SQL),
        ("output.READ_LINES_SQL", output::READ_LINES_SQL),
        ("output.DISABLE_OUTPUT_SQL", output::DISABLE_OUTPUT_SQL),
        ("events.JOB_EVENTS_SQL", events::JOB_EVENTS_SQL),
        ("events.EVENTS_SINCE_SQL", events::EVENTS_SINCE_SQL),
        ("events.PURGE_DELETED_SQL", events::PURGE_DELETED_SQL),
        ("events.LAST_EVENT_ID_SQL", events::LAST_EVENT_ID_SQL),
        ("longops.LONGOPS_SQL", longops::LONGOPS_SQL),
        ("deliveries.CLAIM_DELIVERIES_SQL", deliveries::CLAIM_DELIVERIES_SQL),
        ("deliveries.RECORD_DELIVERY_SQL", deliveries::RECORD_DELIVERY_SQL),
        ("deliveries.JOB_DELIVERIES_SQL", deliveries::JOB_DELIVERIES_SQL),
        ("audit.INSERT_SQL", audit::INSERT_SQL),
        ("audit.PURGE_SQL", audit::PURGE_SQL),
    ]
}

fn arg(name: &str, direction: Direction, t: ParamType, db: &str, has_default: bool) -> Argument {
    Argument { name: name.into(), direction, param_type: t, db_type: db.into(), has_default }
}

fn routine(
    schema: &str,
    package: Option<&str>,
    name: &str,
    args: Vec<Argument>,
    returns: Option<Argument>,
) -> Arc<Signature> {
    let kind = if returns.is_some() { RoutineKind::Function } else { RoutineKind::Procedure };
    Arc::new(Signature {
        schema: schema.into(),
        package: package.map(Into::into),
        name: name.into(),
        kind,
        args,
        returns,
    })
}

fn plan(sig: &Arc<Signature>, params: serde_json::Value, capture_output: bool) -> CallPlan {
    let params: Vec<ParamRequest> = serde_json::from_value(params).expect("params");
    let is_function = sig.kind == RoutineKind::Function;
    let plan = plan_call(std::slice::from_ref(sig), &params, is_function).expect("plan");
    CallPlan { capture_output, ..plan }
}

/// The shapes of call block `build_block` makes: `block.<variant>`.
fn blocks() -> Vec<(&'static str, String)> {
    use Direction::{In, InOut, Out};
    use ParamType as T;
    let proc_test = routine(
        "APP",
        None,
        "PROC_TEST",
        vec![arg("P_INPUT", In, T::String, "VARCHAR2", false), arg("P_OUTPUT", Out, T::String, "VARCHAR2", false)],
        None,
    );
    let proc_params = json!([{"name": "p_input", "value": "x"}, {"name": "p_output", "direction": "OUT"}]);
    let packaged = routine(
        "APP",
        Some("PKG"),
        "P",
        vec![
            arg("P_INPUT", In, T::Number, "NUMBER", false),
            arg("P_OPTIONAL", In, T::Date, "DATE", true),
            arg("P_OUTPUT", Out, T::Number, "NUMBER", false),
        ],
        None,
    );
    let function = routine(
        "APP",
        None,
        "PROC_TEST_FUNC",
        vec![arg("P_A", In, T::Number, "NUMBER", false), arg("P_B", In, T::Number, "NUMBER", true)],
        Some(arg("return", Out, T::Number, "NUMBER", false)),
    );
    let packaged_function = routine(
        "APP",
        Some("PKG"),
        "F",
        vec![arg("P_A", In, T::Integer, "NUMBER", false)],
        Some(arg("return", Out, T::Cursor, "REF CURSOR", false)),
    );
    let no_args = routine("APP", None, "NOARGS", vec![], None);
    let no_args_function = routine("APP", None, "NOW_F", vec![], Some(arg("return", Out, T::Timestamp, "DATE", false)));
    let quoted =
        routine("My\"Schema", Some("pkg"), "Run Me", vec![arg("p\"x", In, T::String, "VARCHAR2", false)], None);
    let inout = routine(
        "APP",
        None,
        "P",
        vec![
            arg("P_VALUE", InOut, T::Number, "NUMBER", false),
            arg("P_FLAG", In, T::Boolean, "PL/SQL BOOLEAN", false),
            arg("P_CURSOR", Out, T::Cursor, "REF CURSOR", false),
        ],
        None,
    );
    let lobs = routine(
        "APP",
        None,
        "LOBS",
        vec![
            arg("P_TEXT", In, T::Clob, "CLOB", false),
            arg("P_BYTES", In, T::Binary, "BLOB", false),
            arg("P_NTEXT", InOut, T::Clob, "NCLOB", false),
            arg("P_OUT_TEXT", Out, T::Clob, "CLOB", false),
            arg("P_OUT_BYTES", Out, T::Binary, "BLOB", false),
        ],
        None,
    );
    let scalars = routine(
        "APP",
        None,
        "SCALARS",
        vec![
            arg("P_INT", In, T::Integer, "NUMBER", false),
            arg("P_FLOAT", In, T::Float, "BINARY_DOUBLE", false),
            arg("P_DATE", In, T::Date, "DATE", false),
            arg("P_TS", InOut, T::Timestamp, "TIMESTAMP WITH TIME ZONE", false),
            arg("P_RAW", Out, T::Binary, "RAW", false),
        ],
        Some(arg("return", Out, T::Boolean, "PL/SQL BOOLEAN", false)),
    );
    let json_function = routine(
        "APP",
        None,
        "J",
        vec![
            arg("P_NAME", In, T::String, "VARCHAR2", false),
            arg("P_DOC", InOut, T::Json, "JSON", false),
            arg("P_OUT", Out, T::Json, "JSON", false),
        ],
        Some(arg("return", Out, T::Json, "JSON", false)),
    );
    let json_procedure = routine(
        "APP",
        None,
        "PROC_TEST_JSON",
        vec![arg("P_DOC", In, T::Json, "JSON", false), arg("O_DOC", Out, T::Json, "JSON", false)],
        None,
    );
    let json_params = json!([{"name": "p_name", "value": "n"}, {"name": "p_doc", "value": {"a": 1}}]);
    let plans = vec![
        ("procedure", plan(&proc_test, proc_params.clone(), false)),
        ("procedure_with_output", plan(&proc_test, proc_params, true)),
        ("packaged_procedure_with_defaults", plan(&packaged, json!([{"name": "p_input", "value": 1}]), false)),
        ("function_with_defaults", plan(&function, json!([{"name": "p_a", "value": 2}]), false)),
        (
            "function_with_all_arguments",
            plan(&function, json!([{"name": "p_a", "value": 2}, {"name": "p_b", "value": 3}]), false),
        ),
        ("packaged_function_returning_cursor", plan(&packaged_function, json!([{"name": "p_a", "value": 1}]), false)),
        ("procedure_without_arguments", plan(&no_args, json!([]), false)),
        ("procedure_without_arguments_with_output", plan(&no_args, json!([]), true)),
        ("function_without_arguments", plan(&no_args_function, json!([]), false)),
        ("quoted_names", plan(&quoted, json!([{"name": "p\"x", "value": "v"}]), false)),
        (
            "inout_cursor_boolean",
            plan(
                &inout,
                json!([{"name": "p_value", "value": 21, "direction": "INOUT"}, {"name": "p_flag", "value": true}]),
                false,
            ),
        ),
        (
            "lobs",
            plan(
                &lobs,
                json!([{"name": "p_text", "value": "t"}, {"name": "p_bytes", "value": "AAE="}, {"name": "p_ntext", "value": "n"}]),
                false,
            ),
        ),
        (
            "scalars",
            plan(
                &scalars,
                json!([
                    {"name": "p_int", "value": 1}, {"name": "p_float", "value": 1.5},
                    {"name": "p_date", "value": "2024-01-02"}, {"name": "p_ts", "value": "2024-01-02T03:04:05+01:00"}
                ]),
                false,
            ),
        ),
        ("json_function", plan(&json_function, json_params.clone(), false)),
        ("json_function_with_output", plan(&json_function, json_params, true)),
        ("json_procedure", plan(&json_procedure, json!([{"name": "p_doc", "value": [1, 2]}]), false)),
        ("json_procedure_null_input", plan(&json_procedure, json!([{"name": "p_doc", "value": null}]), false)),
    ];
    plans.into_iter().map(|(name, p)| (name, build_block(&p).unwrap_or_else(|e| panic!("{name}: {e:?}")).sql)).collect()
}

fn write(dir: &Path, name: &str, sql: &str) {
    let path = dir.join(format!("{name}.sql"));
    std::fs::write(&path, sql).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

#[test]
fn dump_for_grammar_check() {
    let Some(dir) = std::env::var_os("PROCGATE_DUMP_ORACLE_SQL") else { return };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("PROCGATE_DUMP_ORACLE_SQL: cannot create the directory");
    let mut count = 0;
    for (name, sql) in constants() {
        write(dir, name, sql);
        count += 1;
    }
    for (name, sql) in blocks() {
        write(dir, &format!("block.{name}"), &sql);
        count += 1;
    }
    // What `migrate` sends: the table script's blocks, as `store::script_statements` splits them.
    for (i, sql) in store::script_statements(store::TABLE_SCRIPT).iter().enumerate() {
        write(dir, &format!("migrate.{:02}", i + 1), sql);
        count += 1;
    }
    // How many files were written: the checker compares, so a dump cut short is noticed.
    std::fs::write(dir.join("COUNT"), count.to_string()).expect("writing COUNT");
}

/// Every `*_SQL` constant under src/db/oracle is in [`constants`], so a new statement is parsed too.
#[test]
fn every_sql_constant_is_dumped() {
    let listed: Vec<&str> = constants().iter().map(|(name, _)| name.split('.').nth(1).unwrap_or(name)).collect();
    // Cargo sets CARGO_MANIFEST_DIR when it runs a test too: the checkout being tested, even when
    // the binary was built elsewhere.
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let dir = Path::new(&root).join("src/db/oracle");
    let mut found = 0;
    for entry in std::fs::read_dir(&dir).expect("src/db/oracle") {
        let path = entry.expect("directory entry").path();
        let source = std::fs::read_to_string(&path).expect("a source file");
        for line in source.lines() {
            let Some(rest) = line.trim_start().split("const ").nth(1) else { continue };
            let Some((name, _)) = rest.split_once(": &str") else { continue };
            if name.ends_with("_SQL") {
                assert!(listed.contains(&name), "{name} ({}) is missing from dump::constants()", path.display());
                found += 1;
            }
        }
    }
    assert_eq!(found, listed.len(), "dump::constants() lists a constant that no longer exists");
}
