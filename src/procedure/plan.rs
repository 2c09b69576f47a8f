//! Matching a request's parameters to a routine's signature: the checks that turn a job that
//! would fail later into a 422 now, and the typed binds a backend executes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::quote::{quoted, truncated};
use super::signature::{Argument, RoutineKind, Signature};
use super::types::{Direction, ParamType};
use super::value::{Value, ValueError};

/// The longest parameter name accepted, in bytes (Oracle's identifier limit; PostgreSQL's is 63).
pub const MAX_PARAM_NAME_BYTES: usize = 128;

/// One parameter as a client sends it (the predecessor's shape).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ParamRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub param_type: Option<ParamType>,
}

/// A parameter as it arrives: its direction and type words are checked by [`parse_params`], so
/// a wrong word is a 422 naming the parameter rather than a body that does not parse. Unknown
/// fields are refused: a misspelt `"vaule"` must not bind NULL.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "p_input", "value": "Test", "direction": "IN"}))]
pub struct RawParam {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    pub value: Option<Json>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default, rename = "type")]
    pub param_type: Option<String>,
}

pub fn parse_params(raw: &[RawParam]) -> Result<Vec<ParamRequest>, PlanError> {
    raw.iter()
        .map(|p| {
            if p.name.len() > MAX_PARAM_NAME_BYTES {
                return Err(PlanError::param(
                    &p.name,
                    format!(
                        "parameter name {} is longer than {MAX_PARAM_NAME_BYTES} bytes ({} bytes)",
                        quoted(&p.name),
                        p.name.len()
                    ),
                ));
            }
            let direction = p.direction.as_deref().map(str::parse).transpose();
            let param_type = p.param_type.as_deref().map(str::parse).transpose();
            match (direction, param_type) {
                (Ok(direction), Ok(param_type)) => {
                    Ok(ParamRequest { name: p.name.clone(), value: p.value.clone(), direction, param_type })
                }
                (Err(e), _) | (_, Err(e)) => {
                    Err(PlanError::param(&p.name, format!("parameter {}: {e}", quoted(&p.name))))
                }
            }
        })
        .collect()
}

/// An argument with the value to bind (NULL for OUT arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundArg {
    pub arg: Argument,
    pub value: Value,
}

/// Everything a backend needs to execute one call.
#[derive(Debug, Clone)]
pub struct CallPlan {
    pub signature: Arc<Signature>,
    /// In declaration order: every argument the request names, plus every OUT argument.
    pub args: Vec<BoundArg>,
    /// For a function: the key its return value is reported under (the request's first OUT
    /// parameter that is not one of the function's arguments, as the predecessor did).
    pub return_key: Option<String>,
    /// The request's parameters with direction and type filled in from the catalog.
    pub normalized: Vec<ParamRequest>,
    /// Capture the lines the call writes (`DBMS_OUTPUT`, `RAISE NOTICE`): the request's
    /// `capture_output`, set by whoever prepares the call (planning leaves it off).
    pub capture_output: bool,
}

impl CallPlan {
    pub fn normalized_json(&self) -> Json {
        serde_json::to_value(&self.normalized).unwrap_or(Json::Null)
    }

    pub fn has_cursor_output(&self) -> bool {
        self.args.iter().any(|b| b.arg.direction.returns_value() && b.arg.param_type == ParamType::Cursor)
    }
}

/// Why a request does not fit the routine.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PlanError {
    pub code: &'static str,
    pub param: Option<String>,
    pub message: String,
}

impl PlanError {
    /// `invalid_parameter`; `param` names the parameter (cut to the longest name accepted).
    pub fn param(param: &str, message: String) -> Self {
        Self { code: "invalid_parameter", param: Some(param_detail(param)), message }
    }

    /// `invalid_value`: a value of the right type that the database cannot store.
    pub fn value(param: &str, message: String) -> Self {
        Self { code: "invalid_value", param: Some(param_detail(param)), message }
    }

    pub fn details(&self) -> Json {
        match &self.param {
            Some(p) => json!({ "param": p }),
            None => Json::Null,
        }
    }
}

/// A parameter name as an error's `param` detail: whole up to the longest name accepted.
fn param_detail(name: &str) -> String {
    let mut end = name.len().min(MAX_PARAM_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    truncated(name, name[..end].chars().count())
}

/// The request's parameters by lower-cased name: one pass, so no check is quadratic in the
/// number of parameters a request sends.
struct ByName<'a>(HashMap<String, &'a ParamRequest>);

impl<'a> ByName<'a> {
    fn new(params: &'a [ParamRequest]) -> Self {
        Self(params.iter().map(|p| (p.name.to_ascii_lowercase(), p)).collect())
    }

    fn get(&self, name: &str) -> Option<&'a ParamRequest> {
        self.0.get(&name.to_ascii_lowercase()).copied()
    }
}

/// Picks the overload the request's parameter names fit, then checks and converts every value.
pub fn plan_call(
    candidates: &[Arc<Signature>],
    params: &[ParamRequest],
    is_function: bool,
) -> Result<CallPlan, PlanError> {
    check_unique_names(params)?;
    let by_name = ByName::new(params);
    let fitting: Vec<&Arc<Signature>> = candidates.iter().filter(|s| names_fit(s, params)).collect();
    let chosen = match fitting.as_slice() {
        [] => {
            // Report against the first overload: the most useful message for the common case.
            let sig = candidates.first().ok_or_else(|| PlanError {
                code: "procedure_not_found",
                param: None,
                message: "no such routine".into(),
            })?;
            return Err(first_misfit(sig, params));
        }
        [one] => *one,
        many => {
            let complete: Vec<_> = many.iter().filter(|s| missing_required(s, &by_name).is_none()).collect();
            match complete.as_slice() {
                [one] => **one,
                _ => {
                    return Err(PlanError {
                        code: "ambiguous_overload",
                        param: None,
                        message: format!(
                            "{} overloads of {} accept these parameter names; name more parameters to choose one",
                            many.len(),
                            many[0].plain_name()
                        ),
                    })
                }
            }
        }
    };
    bind(chosen, params, &by_name, is_function)
}

fn check_unique_names(params: &[ParamRequest]) -> Result<(), PlanError> {
    let mut seen = HashSet::with_capacity(params.len());
    for p in params {
        if !seen.insert(p.name.to_ascii_lowercase()) {
            return Err(PlanError::param(&p.name, format!("parameter {} is given twice", quoted(&p.name))));
        }
    }
    Ok(())
}

fn return_slot<'a>(sig: &Signature, params: &'a [ParamRequest]) -> Option<&'a ParamRequest> {
    if sig.kind != RoutineKind::Function {
        return None;
    }
    params.iter().find(|p| p.direction == Some(Direction::Out) && sig.arg(&p.name).is_none())
}

fn names_fit(sig: &Signature, params: &[ParamRequest]) -> bool {
    let slot = return_slot(sig, params);
    params.iter().filter(|p| !slot.is_some_and(|s| std::ptr::eq(*p, s))).all(|p| sig.arg(&p.name).is_some())
}

fn missing_required<'a>(sig: &'a Signature, by_name: &ByName) -> Option<&'a Argument> {
    sig.args.iter().find(|a| a.direction == Direction::In && !a.has_default && by_name.get(&a.name).is_none())
}

fn first_misfit(sig: &Signature, params: &[ParamRequest]) -> PlanError {
    let slot = return_slot(sig, params);
    let unknown = params
        .iter()
        .find(|p| sig.arg(&p.name).is_none() && !slot.is_some_and(|s| std::ptr::eq(*p, s)))
        .expect("a misfit has an unknown name");
    let known: Vec<&str> = sig.args.iter().map(|a| a.name.as_str()).collect();
    PlanError::param(
        &unknown.name,
        format!(
            "{} has no parameter {} (its parameters: {})",
            sig.plain_name(),
            quoted(&unknown.name),
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ),
    )
}

fn bind(
    sig: &Arc<Signature>,
    params: &[ParamRequest],
    by_name: &ByName,
    is_function: bool,
) -> Result<CallPlan, PlanError> {
    if is_function && sig.kind != RoutineKind::Function {
        return Err(PlanError {
            code: "not_a_function",
            param: None,
            message: format!("{} is a procedure, not a function (isFunction: false)", sig.plain_name()),
        });
    }
    if let Some(arg) = missing_required(sig, by_name) {
        return Err(PlanError::param(&arg.name, format!("parameter {:?} ({}) is required", arg.name, arg.db_type)));
    }
    let slot = return_slot(sig, params);
    let mut args = Vec::new();
    let mut normalized = Vec::new();
    if let Some(slot) = slot.filter(|s| has_value(s)) {
        return Err(PlanError::param(
            &slot.name,
            format!("parameter {} is the function's OUT return value and takes no value", quoted(&slot.name)),
        ));
    }
    if let (Some(slot), Some(ret)) = (slot, &sig.returns) {
        normalized.push(ParamRequest {
            name: slot.name.clone(),
            value: None,
            direction: Some(Direction::Out),
            param_type: Some(ret.param_type),
        });
    }
    for arg in &sig.args {
        let given = by_name.get(&arg.name);
        let Some(p) = given else {
            if arg.direction.returns_value() {
                args.push(BoundArg { arg: arg.clone(), value: Value::Null });
            }
            continue;
        };
        check_direction(arg, p)?;
        if let Some(t) = p.param_type {
            if !t.is_compatible_with(arg.param_type) {
                return Err(PlanError::param(
                    &p.name,
                    format!(
                        "parameter {:?} is declared {} ({}); type {} does not fit",
                        arg.name, arg.param_type, arg.db_type, t
                    ),
                ));
            }
        }
        let value = match (&p.value, arg.direction) {
            (Some(v), Direction::In | Direction::InOut) => Value::from_json(v, arg.param_type).map_err(|e| {
                let message = format!("parameter {}: {e}", quoted(&p.name));
                match e {
                    ValueError::Invalid(_) => PlanError::param(&p.name, message),
                    ValueError::OutOfRange(_) => PlanError::value(&p.name, message),
                }
            })?,
            _ => Value::Null,
        };
        normalized.push(ParamRequest {
            name: p.name.clone(),
            value: if arg.direction.takes_value() { p.value.clone() } else { None },
            direction: Some(arg.direction),
            param_type: Some(arg.param_type),
        });
        args.push(BoundArg { arg: arg.clone(), value });
    }
    check_positional_prefix(sig, &args)?;
    let return_key = (sig.kind == RoutineKind::Function)
        .then(|| slot.map(|s| s.name.clone()).unwrap_or_else(|| "return".to_string()));
    Ok(CallPlan { signature: sig.clone(), args, return_key, normalized, capture_output: false })
}

/// Unnamed arguments (`$n`) are passed by position, and positional notation cannot skip an
/// argument: every call argument declared before the last unnamed one given must be given too,
/// defaulted or not.
fn check_positional_prefix(sig: &Signature, args: &[BoundArg]) -> Result<(), PlanError> {
    let given = |a: &Argument| args.iter().any(|b| b.arg.name == a.name);
    let call_list: Vec<&Argument> = sig.args.iter().filter(|a| sig.in_call_list(a)).collect();
    let Some(last) = call_list.iter().rposition(|a| a.is_unnamed() && given(a)) else { return Ok(()) };
    match call_list[..last].iter().find(|a| !given(a)) {
        None => Ok(()),
        Some(a) => Err(PlanError::param(
            &a.name,
            format!(
                "parameter {:?} ({}) is required: {} has unnamed arguments, passed by position, so every \
                 argument before the last one given must be given",
                a.name,
                a.db_type,
                sig.plain_name()
            ),
        )),
    }
}

/// A value other than `null`: what an OUT parameter may not carry.
fn has_value(p: &ParamRequest) -> bool {
    p.value.as_ref().is_some_and(|v| !v.is_null())
}

fn check_direction(arg: &Argument, p: &ParamRequest) -> Result<(), PlanError> {
    // A value for an OUT parameter would be silently dropped: refuse it instead.
    if has_value(p) && (arg.direction == Direction::Out || p.direction == Some(Direction::Out)) {
        return Err(PlanError::param(
            &p.name,
            format!("parameter {} is OUT and takes no value (send IN or INOUT to pass one)", quoted(&p.name)),
        ));
    }
    let Some(asked) = p.direction else { return Ok(()) };
    let fits = match arg.direction {
        Direction::In => asked == Direction::In,
        // An OUT argument takes no value; INOUT written as OUT (no value) or IN is fine.
        Direction::Out => asked == Direction::Out || p.value.is_none(),
        Direction::InOut => true,
    };
    if fits {
        Ok(())
    } else {
        Err(PlanError::param(
            &p.name,
            format!("parameter {} is declared {}, not {}", quoted(&arg.name), arg.direction, asked),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: &str, direction: Direction, t: ParamType, has_default: bool) -> Argument {
        Argument { name: name.into(), direction, param_type: t, db_type: "x".into(), has_default }
    }

    fn proc_test() -> Arc<Signature> {
        Arc::new(Signature {
            schema: "public".into(),
            package: None,
            name: "proc_test".into(),
            kind: RoutineKind::Procedure,
            args: vec![
                arg("p_input", Direction::In, ParamType::String, false),
                arg("p_output", Direction::Out, ParamType::String, false),
            ],
            returns: None,
        })
    }

    fn p(json: Json) -> Vec<ParamRequest> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn direction_and_type_words_are_checked_per_parameter() {
        let raw: Vec<RawParam> =
            serde_json::from_value(json!([{"name": "a", "direction": "in out", "type": "varchar2"}])).unwrap();
        let parsed = parse_params(&raw).unwrap();
        assert_eq!((parsed[0].direction, parsed[0].param_type), (Some(Direction::InOut), Some(ParamType::String)));
        for bad in [json!([{"name": "b", "direction": "SIDEWAYS"}]), json!([{"name": "b", "type": "VARCHAR3"}])] {
            let raw: Vec<RawParam> = serde_json::from_value(bad).unwrap();
            assert_eq!(parse_params(&raw).unwrap_err().param.as_deref(), Some("b"));
        }
    }

    #[test]
    fn predecessor_request_plans() {
        let params = p(json!([
            {"name": "p_input", "value": "Test", "direction": "IN"},
            {"name": "p_output", "direction": "OUT", "type": "STRING"}
        ]));
        let plan = plan_call(&[proc_test()], &params, false).unwrap();
        assert_eq!(plan.args.len(), 2);
        assert_eq!(plan.args[0].value, Value::Text("Test".into()));
        assert_eq!(plan.normalized[0].param_type, Some(ParamType::String));
    }

    #[test]
    fn omitted_out_params_are_still_bound() {
        let plan = plan_call(&[proc_test()], &p(json!([{"name": "P_INPUT", "value": "x"}])), false).unwrap();
        assert_eq!(plan.args[1].arg.name, "p_output");
        assert_eq!(plan.args[1].value, Value::Null);
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases = [
            (json!([{"name": "p_inptu", "value": "x"}]), "p_inptu"),
            (json!([{"name": "p_output", "direction": "OUT"}]), "p_input"),
            (json!([{"name": "p_input", "value": "x", "direction": "OUT"}]), "p_input"),
            (json!([{"name": "p_input", "value": "x", "type": "CURSOR"}]), "p_input"),
            (json!([{"name": "p_input", "value": "x"}, {"name": "P_INPUT", "value": "y"}]), "P_INPUT"),
        ];
        for (params, bad) in cases {
            let err = plan_call(&[proc_test()], &p(params.clone()), false).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(bad), "{params}: {err}");
        }
    }

    #[test]
    fn functions_report_under_first_out_param() {
        let f = Arc::new(Signature {
            kind: RoutineKind::Function,
            name: "f".into(),
            args: vec![arg("a", Direction::In, ParamType::Number, false)],
            returns: Some(arg("return", Direction::Out, ParamType::Number, false)),
            ..(*proc_test()).clone()
        });
        let params = p(json!([{"name": "total", "direction": "OUT"}, {"name": "a", "value": 2}]));
        let plan = plan_call(std::slice::from_ref(&f), &params, true).unwrap();
        assert_eq!(plan.return_key.as_deref(), Some("total"));
        assert!(plan_call(&[proc_test()], &params, true).is_err());
    }

    #[test]
    fn unnamed_arguments_are_named_by_position_and_cannot_be_skipped() {
        // f(a int DEFAULT 1, int): the second argument is "$2"; giving it requires giving a.
        let f = Arc::new(Signature {
            args: vec![
                arg("a", Direction::In, ParamType::Integer, true),
                arg("$2", Direction::In, ParamType::Integer, false),
            ],
            ..(*proc_test()).clone()
        });
        let plan = plan_call(
            std::slice::from_ref(&f),
            &p(json!([{"name": "$2", "value": 5}, {"name": "a", "value": 1}])),
            false,
        )
        .unwrap();
        assert_eq!(plan.args.len(), 2);
        let err = plan_call(std::slice::from_ref(&f), &p(json!([{"name": "$2", "value": 5}])), false).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("a"), "{err}");
    }

    #[test]
    fn overloads_are_chosen_by_names() {
        let a = proc_test();
        let b = Arc::new(Signature {
            args: vec![arg("p_other", Direction::In, ParamType::Number, false)],
            ..(*proc_test()).clone()
        });
        let plan = plan_call(&[a.clone(), b.clone()], &p(json!([{"name": "p_other", "value": 1}])), false).unwrap();
        assert_eq!(plan.args[0].arg.name, "p_other");
        let c = Arc::new(Signature {
            args: vec![arg("p_other", Direction::In, ParamType::String, false)],
            ..(*proc_test()).clone()
        });
        let err = plan_call(&[b, c], &p(json!([{"name": "p_other", "value": 1}])), false).unwrap_err();
        assert_eq!(err.code, "ambiguous_overload");
    }

    #[test]
    fn out_parameters_take_no_value() {
        for params in [
            json!([{"name": "p_input", "value": "x"}, {"name": "p_output", "value": "y"}]),
            json!([{"name": "p_input", "value": "x"}, {"name": "p_output", "value": "y", "direction": "OUT"}]),
        ] {
            let err = plan_call(&[proc_test()], &p(params.clone()), false).unwrap_err();
            assert_eq!((err.code, err.param.as_deref()), ("invalid_parameter", Some("p_output")), "{params}");
        }
        // null is no value.
        let ok = json!([{"name": "p_input", "value": "x"}, {"name": "p_output", "value": null, "direction": "OUT"}]);
        assert!(plan_call(&[proc_test()], &p(ok), false).is_ok());
    }

    #[test]
    fn unknown_parameter_fields_and_long_names_are_refused() {
        let err = serde_json::from_value::<Vec<RawParam>>(json!([{"name": "p_input", "vaule": "x"}])).unwrap_err();
        assert!(err.to_string().starts_with("unknown field `vaule`"), "{err}");
        let long = "p".repeat(10_000);
        let raw: Vec<RawParam> = serde_json::from_value(json!([{ "name": long }])).unwrap();
        let err = parse_params(&raw).unwrap_err();
        assert_eq!(err.param.as_deref().map(str::len), Some(MAX_PARAM_NAME_BYTES + "…".len()));
        assert!(err.message.len() < 300, "{}", err.message);
        let at_limit: Vec<RawParam> = serde_json::from_value(json!([{ "name": "é".repeat(64) }])).unwrap();
        assert!(parse_params(&at_limit).is_ok());
    }

    #[test]
    fn many_parameters_are_checked_in_one_pass() {
        // 50,000 distinct names: quadratic checks would take minutes here.
        let many: Vec<ParamRequest> = (0..50_000)
            .map(|i| ParamRequest { name: format!("p{i}"), value: None, direction: None, param_type: None })
            .collect();
        let err = plan_call(&[proc_test()], &many, false).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("p0"));
        let mut twice = many.clone();
        twice.push(ParamRequest { name: "P49999".into(), value: None, direction: None, param_type: None });
        assert_eq!(plan_call(&[proc_test()], &twice, false).unwrap_err().param.as_deref(), Some("P49999"));
    }
}
