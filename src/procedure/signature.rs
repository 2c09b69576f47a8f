//! What the database's catalog says about a routine: its resolved name and its arguments.

use super::name::quote_identifier;
use super::types::{Direction, ParamType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineKind {
    Procedure,
    Function,
}

/// One declared argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    /// The name as the catalog spells it.
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
}
