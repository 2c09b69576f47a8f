//! The PL/SQL anonymous block for a planned call, built only from the resolved, quoted name
//! (`Signature::quoted_name`), the catalog's argument names (quoted) and numbered binds, in named
//! notation so arguments may come in any order and defaulted ones may be left out (every PL/SQL
//! argument has a name, so the positional `$n` arguments of PostgreSQL never reach this builder):
//!
//! ```text
//! BEGIN "APP"."PKG"."PROC"("P_INPUT" => :1, "P_OUTPUT" => :2); END;
//! BEGIN :1 := "APP"."FUNC"("P_A" => :2); END;
//! ```
//!
//! When the request asks for the call's output, the block first empties and enables the
//! session's `DBMS_OUTPUT` buffer (`output::ENABLE_OUTPUT`; no binds, so numbering is unchanged):
//!
//! ```text
//! BEGIN DBMS_OUTPUT.DISABLE; DBMS_OUTPUT.ENABLE(NULL); "APP"."PROC"("P_INPUT" => :1); END;
//! ```
//!
//! JSON arguments (Oracle 21c+) cannot be bound directly; they go through a `JSON` local filled
//! from the bind's text and serialized back into it after the call. Binds are numbered in the
//! order they first appear in the text, which is how Oracle numbers PL/SQL binds.

use crate::db::DbError;
use crate::procedure::name::quote_identifier;
use crate::procedure::plan::CallPlan;
use crate::procedure::signature::RoutineKind;
use crate::procedure::types::{Direction, ParamType};
use crate::procedure::value::Value;

use super::convert::{bind_spec, is_json, BindSpec};
use super::output::ENABLE_OUTPUT;

/// Which value a bind carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// A function's return value.
    Return,
    /// `plan.args[i]`.
    Arg(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct BlockBind {
    /// `:n` in the text (1-based).
    pub position: usize,
    pub slot: Slot,
    pub spec: BindSpec,
    /// Read back after the call (OUT, IN OUT, the return value).
    pub returns: bool,
    pub param_type: ParamType,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Block {
    pub sql: String,
    pub binds: Vec<BlockBind>,
}

impl Block {
    fn bind(&mut self, slot: Slot, spec: BindSpec, returns: bool, param_type: ParamType) -> usize {
        let position = self.binds.len() + 1;
        self.binds.push(BlockBind { position, slot, spec, returns, param_type });
        position
    }

    fn position_of(&self, slot: Slot) -> Option<usize> {
        self.binds.iter().find(|b| b.slot == slot).map(|b| b.position)
    }
}

pub(super) fn build_block(plan: &CallPlan) -> Result<Block, DbError> {
    let sig = &plan.signature;
    let mut block = Block { sql: String::new(), binds: Vec::new() };
    let mut declare = Vec::new();
    let mut pre = Vec::new();
    let mut post = Vec::new();

    // JSON inputs: text bind → CLOB local → JSON local, before the call.
    for (i, b) in plan.args.iter().enumerate().filter(|(_, b)| is_json(b.arg.param_type)) {
        let n = i + 1;
        declare.push(format!("l_{n} JSON; t_{n} CLOB;"));
        if b.arg.direction.takes_value() && b.value != Value::Null {
            let spec = bind_spec(b.arg.param_type, &b.arg.db_type, b.arg.direction, &b.value)?;
            let pos = block.bind(Slot::Arg(i), spec, b.arg.direction.returns_value(), b.arg.param_type);
            pre.push(format!("t_{n} := :{pos}; SELECT JSON(t_{n}) INTO l_{n} FROM DUAL;"));
        }
    }

    // The return value is assigned in front of the call.
    let returns = sig.returns.as_ref().filter(|_| sig.kind == RoutineKind::Function);
    let assign = match returns {
        Some(ret) if is_json(ret.param_type) => {
            declare.push("l_0 JSON; t_0 CLOB;".to_string());
            "l_0 := ".to_string()
        }
        Some(ret) => {
            let spec = bind_spec(ret.param_type, &ret.db_type, Direction::Out, &Value::Null)?;
            format!(":{} := ", block.bind(Slot::Return, spec, true, ret.param_type))
        }
        None => String::new(),
    };

    let mut args = Vec::with_capacity(plan.args.len());
    for (i, b) in plan.args.iter().enumerate() {
        let name = quote_identifier(&b.arg.name);
        if is_json(b.arg.param_type) {
            args.push(format!("{name} => l_{}", i + 1));
            continue;
        }
        let spec = bind_spec(b.arg.param_type, &b.arg.db_type, b.arg.direction, &b.value)?;
        let pos = block.bind(Slot::Arg(i), spec, b.arg.direction.returns_value(), b.arg.param_type);
        args.push(format!("{name} => :{pos}"));
    }
    let call = if args.is_empty() { sig.quoted_name() } else { format!("{}({})", sig.quoted_name(), args.join(", ")) };

    // JSON outputs: serialized into the CLOB local, then into their bind.
    for (i, b) in plan.args.iter().enumerate().filter(|(_, b)| is_json(b.arg.param_type)) {
        if !b.arg.direction.returns_value() {
            continue;
        }
        let n = i + 1;
        let pos = match block.position_of(Slot::Arg(i)) {
            Some(pos) => pos,
            None => {
                let spec = bind_spec(b.arg.param_type, &b.arg.db_type, b.arg.direction, &Value::Null)?;
                block.bind(Slot::Arg(i), spec, true, b.arg.param_type)
            }
        };
        post.push(format!("SELECT JSON_SERIALIZE(l_{n} RETURNING CLOB) INTO t_{n} FROM DUAL; :{pos} := t_{n};"));
    }
    if let Some(ret) = returns.filter(|r| is_json(r.param_type)) {
        let spec = bind_spec(ret.param_type, &ret.db_type, Direction::Out, &Value::Null)?;
        let pos = block.bind(Slot::Return, spec, true, ret.param_type);
        post.push(format!("SELECT JSON_SERIALIZE(l_0 RETURNING CLOB) INTO t_0 FROM DUAL; :{pos} := t_0;"));
    }

    let mut statements = Vec::new();
    if plan.capture_output {
        statements.push(ENABLE_OUTPUT.to_string());
    }
    statements.extend(pre);
    statements.push(format!("{assign}{call};"));
    statements.extend(post);
    let body = format!("BEGIN {} END;", statements.join(" "));
    block.sql = if declare.is_empty() { body } else { format!("DECLARE {} {body}", declare.join(" ")) };
    Ok(block)
}

/// The key an OUT value is reported under: the request's own spelling of the parameter when it
/// named it (`p_output`, as the predecessor answered), else the catalog's (`P_OUTPUT`); a
/// function's return value under the plan's return key.
pub(super) fn out_key(plan: &CallPlan, slot: Slot) -> String {
    match slot {
        Slot::Return => plan.return_key.clone().unwrap_or_else(|| "return".into()),
        Slot::Arg(i) => {
            let arg = &plan.args[i].arg;
            plan.normalized
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&arg.name))
                .map(|p| p.name.clone())
                .unwrap_or_else(|| arg.name.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use oracle::sql_type::OracleType;
    use serde_json::json;

    use super::*;
    use crate::procedure::plan::{plan_call, ParamRequest};
    use crate::procedure::signature::{Argument, Signature};

    use super::super::convert::BindData;

    fn arg(name: &str, direction: Direction, t: ParamType, db: &str, has_default: bool) -> Argument {
        Argument { name: name.into(), direction, param_type: t, db_type: db.into(), has_default }
    }

    fn sig(
        package: Option<&str>,
        name: &str,
        kind: RoutineKind,
        args: Vec<Argument>,
        ret: Option<Argument>,
    ) -> Arc<Signature> {
        Arc::new(Signature {
            schema: "APP".into(),
            package: package.map(Into::into),
            name: name.into(),
            kind,
            args,
            returns: ret,
        })
    }

    fn plan(s: &Arc<Signature>, params: serde_json::Value, is_function: bool) -> CallPlan {
        let params: Vec<ParamRequest> = serde_json::from_value(params).unwrap();
        plan_call(std::slice::from_ref(s), &params, is_function).unwrap()
    }

    fn proc_test() -> Arc<Signature> {
        sig(
            None,
            "PROC_TEST",
            RoutineKind::Procedure,
            vec![
                arg("P_INPUT", Direction::In, ParamType::String, "VARCHAR2", false),
                arg("P_OUTPUT", Direction::Out, ParamType::String, "VARCHAR2", false),
            ],
            None,
        )
    }

    #[test]
    fn procedure_block_uses_named_notation_and_binds_only() {
        let p = plan(
            &proc_test(),
            json!([{"name": "p_output", "direction": "OUT"}, {"name": "p_input", "value": "x'); DROP TABLE t; --"}]),
            false,
        );
        let b = build_block(&p).unwrap();
        assert_eq!(b.sql, "BEGIN \"APP\".\"PROC_TEST\"(\"P_INPUT\" => :1, \"P_OUTPUT\" => :2); END;");
        assert_eq!(b.binds.len(), 2);
        assert_eq!(b.binds[0].spec.data, BindData::Text("x'); DROP TABLE t; --".into()));
        assert!(!b.binds[0].returns && b.binds[1].returns);
        assert_eq!(b.binds[1].spec.oratype, OracleType::Varchar2(32767));
        assert_eq!(out_key(&p, b.binds[1].slot), "p_output");
    }

    #[test]
    fn output_is_enabled_in_the_calls_own_block_when_asked() {
        let params = json!([{"name": "p_input", "value": "x"}, {"name": "p_output", "direction": "OUT"}]);
        let mut p = plan(&proc_test(), params, false);
        let without = build_block(&p).unwrap();
        assert!(!without.sql.contains("DBMS_OUTPUT"), "{}", without.sql);
        p.capture_output = true;
        let with = build_block(&p).unwrap();
        assert_eq!(
            with.sql,
            "BEGIN DBMS_OUTPUT.DISABLE; DBMS_OUTPUT.ENABLE(NULL); \"APP\".\"PROC_TEST\"(\"P_INPUT\" => :1, \"P_OUTPUT\" => :2); END;"
        );
        assert_eq!(with.binds, without.binds, "enabling the output adds no bind");

        // A function, and a block with a DECLARE section: the buffer is enabled before anything runs.
        let f = sig(
            None,
            "F",
            RoutineKind::Function,
            vec![arg("P_DOC", Direction::In, ParamType::Json, "JSON", false)],
            Some(arg("return", Direction::Out, ParamType::Number, "NUMBER", false)),
        );
        let mut p = plan(&f, json!([{"name": "p_doc", "value": {"a": 1}}]), true);
        p.capture_output = true;
        assert_eq!(
            build_block(&p).unwrap().sql,
            "DECLARE l_1 JSON; t_1 CLOB; BEGIN DBMS_OUTPUT.DISABLE; DBMS_OUTPUT.ENABLE(NULL); \
             t_1 := :1; SELECT JSON(t_1) INTO l_1 FROM DUAL; :2 := \"APP\".\"F\"(\"P_DOC\" => l_1); END;"
        );
        let p = plan(&sig(None, "NOARGS", RoutineKind::Procedure, vec![], None), json!([]), false);
        let p = CallPlan { capture_output: true, ..p };
        assert_eq!(
            build_block(&p).unwrap().sql,
            "BEGIN DBMS_OUTPUT.DISABLE; DBMS_OUTPUT.ENABLE(NULL); \"APP\".\"NOARGS\"; END;"
        );
    }

    #[test]
    fn packaged_procedure_with_defaults_left_out() {
        let s = sig(
            Some("PKG"),
            "P",
            RoutineKind::Procedure,
            vec![
                arg("P_INPUT", Direction::In, ParamType::Number, "NUMBER", false),
                arg("P_OPTIONAL", Direction::In, ParamType::Date, "DATE", true),
                arg("P_OUTPUT", Direction::Out, ParamType::Number, "NUMBER", false),
            ],
            None,
        );
        let p = plan(&s, json!([{"name": "P_INPUT", "value": "12345678901234567890.5"}]), false);
        let b = build_block(&p).unwrap();
        assert_eq!(b.sql, "BEGIN \"APP\".\"PKG\".\"P\"(\"P_INPUT\" => :1, \"P_OUTPUT\" => :2); END;");
        assert_eq!(b.binds[0].spec.data, BindData::Text("12345678901234567890.5".into()));
        // An OUT argument the request did not name is reported under the catalog's name.
        assert_eq!(out_key(&p, b.binds[1].slot), "P_OUTPUT");
    }

    #[test]
    fn function_block_assigns_the_return_value_first() {
        let s = sig(
            None,
            "PROC_TEST_FUNC",
            RoutineKind::Function,
            vec![
                arg("P_A", Direction::In, ParamType::Number, "NUMBER", false),
                arg("P_B", Direction::In, ParamType::Number, "NUMBER", true),
            ],
            Some(arg("return", Direction::Out, ParamType::Number, "NUMBER", false)),
        );
        let p = plan(&s, json!([{"name": "total", "direction": "OUT"}, {"name": "p_a", "value": 2}]), true);
        let b = build_block(&p).unwrap();
        assert_eq!(b.sql, "BEGIN :1 := \"APP\".\"PROC_TEST_FUNC\"(\"P_A\" => :2); END;");
        assert_eq!((b.binds[0].slot, b.binds[0].returns), (Slot::Return, true));
        assert_eq!(out_key(&p, Slot::Return), "total");
        let p = plan(&s, json!([{"name": "p_a", "value": 2}]), false);
        assert_eq!(out_key(&p, Slot::Return), "return");
    }

    #[test]
    fn routines_without_arguments() {
        let p = plan(&sig(None, "NOARGS", RoutineKind::Procedure, vec![], None), json!([]), false);
        assert_eq!(build_block(&p).unwrap().sql, "BEGIN \"APP\".\"NOARGS\"; END;");
        let f = sig(
            None,
            "NOW_F",
            RoutineKind::Function,
            vec![],
            Some(arg("return", Direction::Out, ParamType::Timestamp, "DATE", false)),
        );
        let b = build_block(&plan(&f, json!([]), true)).unwrap();
        assert_eq!(b.sql, "BEGIN :1 := \"APP\".\"NOW_F\"; END;");
    }

    #[test]
    fn quoted_names_are_escaped() {
        let s = Arc::new(Signature {
            schema: "My\"Schema".into(),
            package: Some("pkg".into()),
            name: "Run Me".into(),
            kind: RoutineKind::Procedure,
            args: vec![arg("p\"x", Direction::In, ParamType::String, "VARCHAR2", false)],
            returns: None,
        });
        let b = build_block(&plan(&s, json!([{"name": "p\"x", "value": "v"}]), false)).unwrap();
        assert_eq!(b.sql, "BEGIN \"My\"\"Schema\".\"pkg\".\"Run Me\"(\"p\"\"x\" => :1); END;");
    }

    #[test]
    fn inout_cursor_and_boolean() {
        let s = sig(
            None,
            "P",
            RoutineKind::Procedure,
            vec![
                arg("P_VALUE", Direction::InOut, ParamType::Number, "NUMBER", false),
                arg("P_FLAG", Direction::In, ParamType::Boolean, "PL/SQL BOOLEAN", false),
                arg("P_CURSOR", Direction::Out, ParamType::Cursor, "REF CURSOR", false),
            ],
            None,
        );
        let p = plan(
            &s,
            json!([{"name": "p_value", "value": 21, "direction": "INOUT"}, {"name": "p_flag", "value": true}]),
            false,
        );
        let b = build_block(&p).unwrap();
        assert_eq!(b.sql, "BEGIN \"APP\".\"P\"(\"P_VALUE\" => :1, \"P_FLAG\" => :2, \"P_CURSOR\" => :3); END;");
        assert_eq!((b.binds[0].returns, &b.binds[0].spec.data), (true, &BindData::Text("21".into())));
        assert_eq!(b.binds[1].spec.data, BindData::Bool(true));
        assert_eq!((b.binds[2].spec.oratype.clone(), b.binds[2].returns), (OracleType::RefCursor, true));
    }

    #[test]
    fn json_arguments_go_through_locals_in_text_order() {
        let s = sig(
            None,
            "J",
            RoutineKind::Function,
            vec![
                arg("P_NAME", Direction::In, ParamType::String, "VARCHAR2", false),
                arg("P_DOC", Direction::InOut, ParamType::Json, "JSON", false),
                arg("P_OUT", Direction::Out, ParamType::Json, "JSON", false),
            ],
            Some(arg("return", Direction::Out, ParamType::Json, "JSON", false)),
        );
        let params =
            serde_json::from_str(r#"[{"name": "p_name", "value": "n"}, {"name": "p_doc", "value": {"a": 1.50}}]"#);
        let p = plan(&s, params.unwrap(), true);
        let b = build_block(&p).unwrap();
        assert_eq!(
            b.sql,
            "DECLARE l_2 JSON; t_2 CLOB; l_3 JSON; t_3 CLOB; l_0 JSON; t_0 CLOB; \
             BEGIN t_2 := :1; SELECT JSON(t_2) INTO l_2 FROM DUAL; \
             l_0 := \"APP\".\"J\"(\"P_NAME\" => :2, \"P_DOC\" => l_2, \"P_OUT\" => l_3); \
             SELECT JSON_SERIALIZE(l_2 RETURNING CLOB) INTO t_2 FROM DUAL; :1 := t_2; \
             SELECT JSON_SERIALIZE(l_3 RETURNING CLOB) INTO t_3 FROM DUAL; :3 := t_3; \
             SELECT JSON_SERIALIZE(l_0 RETURNING CLOB) INTO t_0 FROM DUAL; :4 := t_0; END;"
        );
        let slots: Vec<Slot> = b.binds.iter().map(|x| x.slot).collect();
        assert_eq!(slots, vec![Slot::Arg(1), Slot::Arg(0), Slot::Arg(2), Slot::Return]);
        assert_eq!(b.binds[0].spec.data, BindData::Text("{\"a\":1.50}".into()));
        assert!(b.binds[0].returns && !b.binds[1].returns && b.binds[2].returns && b.binds[3].returns);
    }
}
