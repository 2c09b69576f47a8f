//! `ProcedureName`: a `[schema.][package.]name` that can only hold safe SQL identifiers.
//!
//! Parsing happens once, at the edge; everything below works with parts that are known to be
//! plain identifiers. Case folding is the backend's business (PostgreSQL lowercases unquoted
//! names, Oracle uppercases them), so each part remembers whether it was quoted.

use std::fmt;

/// Longest identifier accepted (Oracle 12.2+ and PostgreSQL both stay below 128 bytes).
const MAX_IDENTIFIER_LEN: usize = 128;

/// How a backend folds unquoted identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierCase {
    Lower,
    Upper,
}

/// One part of a procedure name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identifier {
    text: String,
    quoted: bool,
}

impl Identifier {
    /// Parses one identifier: unquoted `[A-Za-z_][A-Za-z0-9_$#]*`, or `"..."` without quotes,
    /// control characters or NUL inside.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        if let Some(inner) = raw.strip_prefix('"') {
            let text = inner.strip_suffix('"').ok_or_else(|| NameError::new(raw, "unterminated quoted identifier"))?;
            if text.is_empty() || text.contains('"') || text.chars().any(char::is_control) {
                return Err(NameError::new(raw, "invalid quoted identifier"));
            }
            Self::check_len(raw, text)?;
            return Ok(Self { text: text.to_string(), quoted: true });
        }
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '#'));
        if !first_ok || !rest_ok {
            return Err(NameError::new(
                raw,
                "an identifier starts with a letter or _ and holds only letters, digits, _, $ and #",
            ));
        }
        Self::check_len(raw, raw)?;
        Ok(Self { text: raw.to_string(), quoted: false })
    }

    fn check_len(raw: &str, text: &str) -> Result<(), NameError> {
        if text.len() > MAX_IDENTIFIER_LEN {
            return Err(NameError::new(raw, "identifier longer than 128 bytes"));
        }
        Ok(())
    }

    /// The identifier as the database stores it in its catalog.
    pub fn folded(&self, case: IdentifierCase) -> String {
        match (self.quoted, case) {
            (true, _) => self.text.clone(),
            (false, IdentifierCase::Lower) => self.text.to_ascii_lowercase(),
            (false, IdentifierCase::Upper) => self.text.to_ascii_uppercase(),
        }
    }

    /// The text without quotes, as written.
    pub fn as_written(&self) -> &str {
        &self.text
    }

    pub fn is_quoted(&self) -> bool {
        self.quoted
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            write!(f, "\"{}\"", self.text)
        } else {
            f.write_str(&self.text)
        }
    }
}

/// A parsed `[schema.][package.]name`. Only resolved, quoted identifiers ever reach SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcedureName {
    parts: Vec<Identifier>,
}

impl ProcedureName {
    /// Parses `name`, optionally prefixed by a separate `schema` (the predecessor's `schema` field).
    pub fn parse(name: &str, schema: Option<&str>) -> Result<Self, NameError> {
        let mut parts = Vec::new();
        if let Some(schema) = schema.filter(|s| !s.trim().is_empty()) {
            parts.push(Identifier::parse(schema.trim())?);
        }
        for raw in split_outside_quotes(name.trim()) {
            parts.push(Identifier::parse(raw)?);
        }
        if parts.is_empty() || parts.len() > 3 {
            return Err(NameError::new(name, "expected [schema.][package.]name"));
        }
        Ok(Self { parts })
    }

    pub fn parts(&self) -> &[Identifier] {
        &self.parts
    }

    /// The last part: the routine's own name.
    pub fn routine(&self) -> &Identifier {
        self.parts.last().expect("a name has at least one part")
    }

    /// Parts without quotes, joined by dots: what allowlist patterns match against.
    pub fn plain(&self) -> String {
        self.parts.iter().map(Identifier::as_written).collect::<Vec<_>>().join(".")
    }
}

impl fmt::Display for ProcedureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.parts.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes) = (0, false);
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '.' if !in_quotes => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Quotes an identifier for SQL (both backends use double quotes). Callers pass catalog names only.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid procedure name {input:?}: {reason}")]
pub struct NameError {
    pub input: String,
    pub reason: &'static str,
}

impl NameError {
    fn new(input: &str, reason: &'static str) -> Self {
        let input: String = input.chars().take(200).collect();
        Self { input, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_qualified_names() {
        let n = ProcedureName::parse("reports.pkg.Run_1", None).unwrap();
        assert_eq!(n.parts().len(), 3);
        assert_eq!(n.plain(), "reports.pkg.Run_1");
        assert_eq!(n.routine().folded(IdentifierCase::Upper), "RUN_1");
        assert_eq!(n.routine().folded(IdentifierCase::Lower), "run_1");
        let s = ProcedureName::parse("PROC_TEST", Some("APP")).unwrap();
        assert_eq!(s.to_string(), "APP.PROC_TEST");
    }

    #[test]
    fn quoted_parts_keep_case_and_dots() {
        let n = ProcedureName::parse("\"My.Schema\".\"MixedCase\"", None).unwrap();
        assert_eq!(n.parts().len(), 2);
        assert_eq!(n.parts()[0].folded(IdentifierCase::Lower), "My.Schema");
        assert_eq!(n.routine().folded(IdentifierCase::Upper), "MixedCase");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in [
            "",
            "proc; DROP TABLE async_jobs",
            "proc(1)",
            "a.b.c.d",
            "1proc",
            "proc--",
            "\"unterminated",
            "\"a\"\"b\"",
            "p'x",
            "proc test",
            "a..b",
            "\"\"",
            "\"x\u{0}\"",
        ] {
            assert!(ProcedureName::parse(bad, None).is_err(), "accepted {bad:?}");
        }
        assert!(ProcedureName::parse(&"x".repeat(129), None).is_err());
        assert!(ProcedureName::parse("p", Some("s; --")).is_err());
    }

    #[test]
    fn quote_identifier_doubles_quotes() {
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
