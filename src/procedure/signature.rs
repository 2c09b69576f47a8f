//! What the database's catalog says about a routine: its resolved name and its arguments.

use super::name::{quote_identifier, Identifier};
use super::types::{Direction, ParamType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineKind {
    Procedure,
    Function,
}

/// One declared argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    /// The name as the catalog spells it; `$n` (its 1-based position in the declaration) for an
    /// argument declared without a name (PostgreSQL allows them).
    pub name: String,
    pub direction: Direction,
    pub param_type: ParamType,
    /// The database's own type name, from its catalog (never from a request).
    pub db_type: String,
    pub has_default: bool,
}

/// A routine as resolved in the catalog. One name can have several (overloads).
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub schema: String,
    pub package: Option<String>,
    pub name: String,
    pub kind: RoutineKind,
    pub args: Vec<Argument>,
    /// The declared return type of a function.
    pub returns: Option<Argument>,
}

impl Signature {
    /// The resolved name, each part quoted: the only form of a name that reaches SQL.
    pub fn quoted_name(&self) -> String {
        let mut parts = vec![quote_identifier(&self.schema)];
        if let Some(p) = &self.package {
            parts.push(quote_identifier(p));
        }
        parts.push(quote_identifier(&self.name));
        parts.join(".")
    }

    /// `schema.package.name` without quotes, for messages and the allowlist.
    pub fn plain_name(&self) -> String {
        let mut parts = vec![self.schema.as_str()];
        parts.extend(self.package.as_deref());
        parts.push(&self.name);
        parts.join(".")
    }

    pub fn arg(&self, name: &str) -> Option<&Argument> {
        self.args.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether `arg` is in the call's argument list: a function's OUT arguments are its result
    /// columns instead.
    pub fn in_call_list(&self, arg: &Argument) -> bool {
        self.kind == RoutineKind::Procedure || arg.direction.takes_value()
    }

    /// The resolved routine's identity, as the job row records it (`routine`) and per-procedure
    /// limits count it: `schema.[package.]name` in the database's own case, a part quoted only
    /// when it could not be read back as a plain identifier (`public."My.Proc"`). Every spelling
    /// of a name that resolves to this routine gives the same text.
    pub fn canonical_name(&self) -> String {
        let mut parts = vec![self.schema.as_str()];
        parts.extend(self.package.as_deref());
        parts.push(&self.name);
        parts
            .iter()
            .map(|p| match Identifier::parse(p) {
                Ok(plain) if !plain.is_quoted() => p.to_string(),
                _ => quote_identifier(p),
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl Argument {
    /// An argument declared without a name: clients give it as `$n`, its position, and the call
    /// passes it by position.
    pub fn is_unnamed(&self) -> bool {
        self.name.strip_prefix('$').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::types::{Direction, ParamType};

    fn sig(schema: &str, package: Option<&str>, name: &str) -> Signature {
        Signature {
            schema: schema.into(),
            package: package.map(Into::into),
            name: name.into(),
            kind: RoutineKind::Procedure,
            args: vec![],
            returns: None,
        }
    }

    #[test]
    fn canonical_names_quote_only_what_needs_it() {
        assert_eq!(sig("public", None, "proc_test_log").canonical_name(), "public.proc_test_log");
        assert_eq!(sig("APP", Some("PKG"), "RUN").canonical_name(), "APP.PKG.RUN");
        assert_eq!(sig("public", None, "My.Proc").canonical_name(), "public.\"My.Proc\"");
        assert_eq!(sig("public", None, "a b").canonical_name(), "public.\"a b\"");
        assert_eq!(sig("public", None, "MixedCase").canonical_name(), "public.MixedCase");
    }

    #[test]
    fn unnamed_arguments_are_dollar_positions() {
        let arg = |name: &str| Argument {
            name: name.into(),
            direction: Direction::In,
            param_type: ParamType::Integer,
            db_type: "integer".into(),
            has_default: false,
        };
        assert!(arg("$1").is_unnamed() && arg("$12").is_unnamed());
        assert!(!arg("$").is_unnamed() && !arg("p_1").is_unnamed() && !arg("$1a").is_unnamed());
    }
}
