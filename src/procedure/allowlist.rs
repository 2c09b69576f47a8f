//! `PROCEDURE_ALLOWLIST`: case-insensitive globs over `[schema.][package.]name`.
//!
//! `*` matches any run of characters within one name part and `?` one character; neither crosses
//! a dot, so `PROC_TEST*` allows `proc_test_demora` but not `evil.proc_test`, and `REPORTS.*`
//! allows every routine of schema (or package) `REPORTS`.
//!
//! Patterns match the name as written, before resolution. A second rule applies to the routine
//! it resolves to: a routine in one of the database's own schemas (PostgreSQL's `pg_catalog`,
//! Oracle's `SYS`, ...; each backend says which) is only callable when a pattern names that
//! schema literally (`pg_catalog.pg_sleep`, `SYS.DBMS_LOCK.*`). Without it, `*` would reach
//! `pg_sleep` or `pg_terminate_backend` through the search path, and `DBMS_LOCK.SLEEP` through
//! its public synonym.

use super::name::ProcedureName;
use super::signature::Signature;

#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    patterns: Vec<Vec<u8>>,
}

impl Allowlist {
    pub fn parse(list: &str) -> Self {
        let patterns = list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.to_ascii_uppercase().into_bytes())
            .collect();
        Self { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn allows(&self, name: &ProcedureName) -> bool {
        self.matches(&name.plain())
    }

    /// Whether a pattern matches a plain dotted name (parts without quotes).
    fn matches(&self, plain: &str) -> bool {
        let text = plain.to_ascii_uppercase();
        self.patterns.iter().any(|p| glob_match(p, text.as_bytes()))
    }

    /// Whether a pattern allows a routine in a system schema: only one whose first part is that
    /// schema, spelled out (no `*` or `?`), and that matches the resolved `schema.[package.]name`.
    pub fn allows_system_routine(&self, sig: &Signature) -> bool {
        let schema = sig.schema.to_ascii_uppercase();
        let text = sig.plain_name().to_ascii_uppercase();
        self.patterns.iter().any(|p| {
            let first = p.split(|&b| b == b'.').next().unwrap_or_default();
            p.contains(&b'.') && first == schema.as_bytes() && glob_match(p, text.as_bytes())
        })
    }

    /// Whether a pattern matches a resolved routine's canonical name
    /// ([`Signature::canonical_name`]), with its schema or without it: `PROC_TEST_LOG` applies
    /// to `public.proc_test_log` and `PKG.*` to `APP.PKG.RUN`, however a request spelled them,
    /// as the same pattern would have allowed the unqualified spelling. Older job rows hold the
    /// name as written instead; it is matched the same way.
    pub fn matches_routine(&self, canonical: &str) -> bool {
        let Ok(name) = ProcedureName::parse(canonical, None) else { return false };
        let parts: Vec<&str> = name.parts().iter().map(|p| p.as_written()).collect();
        self.matches(&parts.join(".")) || (parts.len() > 1 && self.matches(&parts[1..].join(".")))
    }

    /// Whether one pattern is well formed (the clients file checks each of its patterns):
    /// one to three non-empty dot-separated parts, no space, comma, quote or control character.
    pub fn check_pattern(pattern: &str) -> Result<(), String> {
        let parts: Vec<&str> = pattern.split('.').collect();
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '"') {
            Err(format!("pattern {pattern:?} has a space, comma, quote or control character"))
        } else if parts.iter().any(|p| p.is_empty()) {
            Err(format!("pattern {pattern:?} has an empty part (expected [schema.][package.]name)"))
        } else if parts.len() > 3 {
            Err(format!("pattern {pattern:?} has more than three parts (expected [schema.][package.]name)"))
        } else {
            Ok(())
        }
    }
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            // Try every split of the current name part (stop at a dot).
            let mut i = 0;
            loop {
                if glob_match(rest, &text[i..]) {
                    return true;
                }
                if i == text.len() || text[i] == b'.' {
                    return false;
                }
                i += 1;
            }
        }
        Some((b'?', rest)) => !text.is_empty() && text[0] != b'.' && glob_match(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &str, name: &str) -> bool {
        Allowlist::parse(list).allows(&ProcedureName::parse(name, None).unwrap())
    }

    #[test]
    fn globs_are_case_insensitive_and_stay_in_one_part() {
        assert!(allows("PROC_TEST*", "proc_test_demora"));
        assert!(allows("PROC_TEST*", "PROC_TEST"));
        assert!(!allows("PROC_TEST*", "evil.proc_test"));
        assert!(!allows("PROC_TEST*", "PROC_TESX"));
        assert!(allows("REPORTS.*", "reports.monthly"));
        assert!(!allows("REPORTS.*", "reports.pkg.monthly"));
        assert!(allows("a, REPORTS.*.*", "reports.pkg.monthly"));
        assert!(allows("PROC_?", "proc_x"));
        assert!(!allows("", "proc_x"));
        assert!(allows("*", "anything"));
        assert!(!allows("*", "s.anything"));
    }

    fn routine(schema: &str, package: Option<&str>, name: &str) -> Signature {
        Signature {
            schema: schema.into(),
            package: package.map(Into::into),
            name: name.into(),
            kind: crate::procedure::signature::RoutineKind::Procedure,
            args: vec![],
            returns: None,
        }
    }

    #[test]
    fn system_routines_need_their_schema_spelled_out() {
        let sleep = routine("pg_catalog", None, "pg_sleep");
        for list in ["*", "*.*", "pg_*.*", "*.pg_sleep", "pg_sleep", "PROC_TEST*"] {
            assert!(!Allowlist::parse(list).allows_system_routine(&sleep), "{list}");
        }
        for list in ["pg_catalog.pg_sleep", "PG_CATALOG.*", "x, pg_catalog.pg_s*"] {
            assert!(Allowlist::parse(list).allows_system_routine(&sleep), "{list}");
        }
        let lock = routine("SYS", Some("DBMS_LOCK"), "SLEEP");
        assert!(Allowlist::parse("SYS.DBMS_LOCK.*").allows_system_routine(&lock));
        assert!(Allowlist::parse("sys.DBMS_*.*").allows_system_routine(&lock));
        for list in ["*.*.*", "DBMS_LOCK.*", "DBMS_LOCK.SLEEP", "SYS.DBMS_*", "SYSTEM.DBMS_LOCK.*"] {
            assert!(!Allowlist::parse(list).allows_system_routine(&lock), "{list}");
        }
    }

    #[test]
    fn limits_match_routines_with_or_without_their_schema() {
        let limit = Allowlist::parse("PROC_TEST_LOG");
        assert!(limit.matches_routine("public.proc_test_log"));
        assert!(limit.matches_routine("PROC_TEST_LOG")); // an older row: the name as written
        assert!(!limit.matches_routine("public.proc_test_logx"));
        assert!(Allowlist::parse("public.proc_test_log").matches_routine("public.proc_test_log"));
        assert!(Allowlist::parse("PKG.*").matches_routine("APP.PKG.RUN"));
        assert!(Allowlist::parse("APP.PKG.RUN").matches_routine("APP.PKG.RUN"));
        assert!(!Allowlist::parse("RUN").matches_routine("APP.PKG.RUN"));
        assert!(Allowlist::parse("public.My.Proc").matches_routine("public.\"My.Proc\""));
        assert!(!limit.matches_routine("not a name"));
    }

    #[test]
    fn patterns_are_checked_one_by_one() {
        for good in ["PROC_TEST*", "REPORTS.*", "*.*.*", "a$#.b_1?", "*"] {
            assert!(Allowlist::check_pattern(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "A..B", "A.", ".A", "A.B.C.D", "A B", "A,B", "\"A\"", "A\tB"] {
            assert!(Allowlist::check_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
