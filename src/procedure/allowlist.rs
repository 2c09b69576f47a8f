//! `PROCEDURE_ALLOWLIST`: case-insensitive globs over `[schema.][package.]name`.
//!
//! `*` matches any run of characters within one name part and `?` one character; neither crosses
//! a dot, so `PROC_TEST*` allows `proc_test_demora` but not `evil.proc_test`, and `REPORTS.*`
//! allows every routine of schema (or package) `REPORTS`.

use super::name::ProcedureName;

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
        let text = name.plain().to_ascii_uppercase();
        self.patterns.iter().any(|p| glob_match(p, text.as_bytes()))
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
}
