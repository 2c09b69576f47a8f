//! Quoting request input inside error messages, bounded: a 10 kB name must not come back as a
//! 10 kB message (nor be logged as one).

/// Characters of input an error message quotes; longer input is cut and marked with `…`.
pub const QUOTED_CHARS: usize = 64;

/// `s` quoted and escaped as Rust's `{:?}` does, cut to [`QUOTED_CHARS`] characters.
pub fn quoted(s: &str) -> String {
    format!("{:?}", truncated(s, QUOTED_CHARS))
}

/// `s` cut to at most `max` characters, with `…` appended when something was cut.
pub fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_quoted_whole_and_long_input_is_cut() {
        assert_eq!(quoted("p_input"), "\"p_input\"");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
        let long = "é".repeat(10_000);
        let q = quoted(&long);
        assert_eq!(q.chars().count(), QUOTED_CHARS + 3);
        assert!(q.ends_with("…\""));
        assert_eq!(truncated("abc", 2), "ab…");
        assert_eq!(truncated("abc", 3), "abc");
    }
}
