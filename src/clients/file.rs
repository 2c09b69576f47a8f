//! The clients file (`API_CLIENTS_FILE`): TOML `[[client]]` entries parsed into [`Client`]s,
//! every mistake reported with the line it is on — a syntax error, an unknown field, a missing
//! or doubled token, a duplicate name or token, an invalid glob, rate or `max_pending`.
//!
//! ```toml
//! [[client]]
//! name = "reports"
//! token_sha256 = "9f86d0…"          # or token = "…" (`procgate token hash` prints the digest)
//! admin = false
//! procedures = ["REPORTS.*", "PROC_TEST*"]
//! rate = "50/s"
//! max_pending = 1000
//! ```

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::rate::{Rate, RateLimiter};
use super::{sha256, Client, ClientAccess};
use crate::procedure::allowlist::Allowlist;

/// The largest clients file read (a guard against pointing the setting at the wrong file).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// What is wrong with a clients file, and on which line (1-based) when it is about one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    client: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: Spanned<String>,
    token_sha256: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    #[serde(default)]
    admin: bool,
    procedures: Option<Vec<Spanned<String>>>,
    rate: Option<Spanned<String>>,
    max_pending: Option<Spanned<i64>>,
}

/// Reads and parses the file at `path`; errors name the file and the line.
pub fn load(path: &Path) -> Result<Vec<Client>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{shown}: larger than {MAX_FILE_BYTES} bytes; is it the clients file?"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse(&text).map_err(|e| format!("{shown}: {e}"))
}

/// Parses a clients file's text: every entry checked, names and tokens unique.
pub fn parse(text: &str) -> Result<Vec<Client>, FileError> {
    let line_of = |span: Range<usize>| Some(text[..span.start.min(text.len())].matches('\n').count() + 1);
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| FileError { line: e.span().and_then(line_of), message: e.message().trim().to_string() })?;
    let mut clients: Vec<Client> = Vec::with_capacity(raw.client.len());
    for entry in raw.client {
        let client = parse_client(entry, &line_of)?;
        let line = client.line;
        if let Some(first) = clients.iter().find(|c| c.name == client.name) {
            return Err(FileError {
                line: Some(line),
                message: format!("client {:?} is defined twice (first on line {})", client.name, first.line),
            });
        }
        if let Some(first) = clients.iter().find(|c| c.digest == client.digest) {
            return Err(FileError {
                line: Some(line),
                message: format!(
                    "clients {:?} (line {}) and {:?} have the same token: tokens must be unique",
                    first.name, first.line, client.name
                ),
            });
        }
        clients.push(client);
    }
    Ok(clients)
}

fn parse_client(raw: RawClient, line_of: &impl Fn(Range<usize>) -> Option<usize>) -> Result<Client, FileError> {
    let at = |span: Range<usize>, message: String| FileError { line: line_of(span), message };
    let name_span = raw.name.span();
    let name = raw.name.into_inner();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(at(name_span, "a client name must have 1 to 128 characters".into()));
    }
    let digest = match (raw.token_sha256, raw.token) {
        (Some(hex), None) => {
            let span = hex.span();
            parse_hex_digest(hex.get_ref()).ok_or_else(|| {
                at(span, format!("client {name:?}: token_sha256 must be 64 hexadecimal characters (a SHA-256 digest)"))
            })?
        }
        (None, Some(token)) => {
            if token.get_ref().len() < 8 {
                return Err(at(token.span(), format!("client {name:?}: the token is shorter than 8 characters")));
            }
            sha256(token.get_ref())
        }
        (Some(_), Some(token)) => {
            return Err(at(token.span(), format!("client {name:?}: give token_sha256 or token, not both")))
        }
        (None, None) => {
            return Err(at(name_span, format!("client {name:?} has no token_sha256 (or token)")));
        }
    };
    let procedures = match raw.procedures {
        None => None,
        Some(patterns) => {
            for p in &patterns {
                Allowlist::check_pattern(p.get_ref())
                    .map_err(|why| at(p.span(), format!("client {name:?}: procedures: {why}")))?;
            }
            let list: Vec<String> = patterns.into_iter().map(Spanned::into_inner).collect();
            Some(Arc::new(Allowlist::parse(&list.join(","))))
        }
    };
    let rate = match raw.rate {
        None => None,
        Some(r) => {
            let rate = Rate::parse(r.get_ref()).map_err(|why| at(r.span(), format!("client {name:?}: {why}")))?;
            Some(Arc::new(RateLimiter::new(rate)))
        }
    };
    let max_pending = match raw.max_pending {
        None => None,
        Some(n) => Some(
            u32::try_from(*n.get_ref())
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| at(n.span(), format!("client {name:?}: max_pending must be a whole number from 1")))?,
        ),
    };
    let line = line_of(name_span).unwrap_or(1);
    Ok(Client { name, digest, admin: raw.admin, access: ClientAccess { procedures, rate, max_pending }, line })
}

fn parse_hex_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::name::ProcedureName;

    const TWO_CLIENTS: &str = r#"
# Two applications.
[[client]]
name = "reports"
token_sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
procedures = ["REPORTS.*", "PROC_TEST*"]
rate = "50/s"
max_pending = 1000

[[client]]
name = "ops"
token = "ops-token-0001"
admin = true
"#;

    fn error(text: &str) -> FileError {
        parse(text).err().unwrap_or_else(|| panic!("accepted: {text}"))
    }

    #[test]
    fn a_two_client_file() {
        let clients = parse(TWO_CLIENTS).unwrap();
        assert_eq!(clients.len(), 2);
        let (reports, ops) = (&clients[0], &clients[1]);
        assert_eq!((reports.name.as_str(), reports.admin, reports.line), ("reports", false, 4));
        assert_eq!(reports.digest, sha256("test"));
        let list = reports.access.procedures.as_ref().unwrap();
        assert!(list.allows(&ProcedureName::parse("reports.monthly", None).unwrap()));
        assert!(!list.allows(&ProcedureName::parse("other.monthly", None).unwrap()));
        assert_eq!(reports.access.rate.as_ref().unwrap().rate().to_string(), "50/s");
        assert_eq!(reports.access.max_pending, Some(1000));
        assert_eq!((ops.name.as_str(), ops.admin), ("ops", true));
        assert_eq!(ops.digest, sha256("ops-token-0001"));
        assert!(ops.access.procedures.is_none() && ops.access.rate.is_none() && ops.access.max_pending.is_none());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nrat = \"5/s\"\n", 4, "unknown field"),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\n", 3, ""),
            ("[[clients]]\nname = \"a\"\n", 1, "unknown field"),
            ("[[client]]\nname = \"a\"\n", 2, "no token_sha256"),
            ("[[client]]\nname = \"a\"\ntoken = \"short\"\n", 3, "shorter than 8"),
            ("[[client]]\nname = \"a\"\ntoken_sha256 = \"abc\"\n", 3, "64 hexadecimal"),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\ntoken_sha256 = \"abc\"\n", 3, "not both"),
            ("[[client]]\nname = \"\"\ntoken = \"aaaaaaaa\"\n", 2, "1 to 128"),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nrate = \"fast\"\n", 4, "N/s or N/m"),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nmax_pending = 0\n", 4, "max_pending"),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nmax_pending = -3\n", 4, "max_pending"),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nadmin = \"yes\"\n", 4, ""),
            (
                "[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nprocedures = [\n  \"OK.*\",\n  \"BAD..X\",\n]\n",
                6,
                "procedures",
            ),
            ("[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\nprocedures = [\"A B\"]\n", 4, "procedures"),
            (
                "[[client]]\nname = \"a\"\ntoken = \"aaaaaaaa\"\n\n[[client]]\nname = \"a\"\ntoken = \"bbbbbbbb\"\n",
                6,
                "defined twice (first on line 2)",
            ),
        ];
        for (text, line, words) in cases {
            let e = error(text);
            assert_eq!(e.line, Some(*line), "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
        }
    }

    #[test]
    fn duplicate_tokens_are_found_by_digest_and_never_shown() {
        let hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // sha256("test")
        let text =
            format!("[[client]]\nname = \"a\"\ntoken_sha256 = \"{hex}\"\n[[client]]\nname = \"b\"\ntoken = \"test\"\n");
        // "test" is too short for a clear token: the digest form is compared with a long one.
        assert!(error(&text).message.contains("shorter"));
        let long = "a-long-shared-token";
        let text = format!(
            "[[client]]\nname = \"a\"\ntoken = \"{long}\"\n\n[[client]]\nname = \"b\"\ntoken_sha256 = \"{}\"\n",
            sha256(long).iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let e = error(&text);
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("same token") && e.message.contains("\"a\" (line 2)"), "{e}");
        assert!(!e.to_string().contains(long));
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        std::fs::write(&path, "[[client]]\nname = 1\n").unwrap();
        let e = load(&path).unwrap_err();
        assert!(e.starts_with(&format!("{}: line 2: ", path.display())), "{e}");
        assert!(load(&dir.path().join("missing.toml")).is_err());
    }
}
