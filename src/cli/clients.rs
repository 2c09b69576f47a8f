//! `procgate token hash` and `procgate clients check FILE`: the clients file's tools. Neither
//! reads the settings nor the database, and neither ever prints a token.

use std::io::BufRead;
use std::path::Path;

use crate::clients::{file, hex, sha256};

/// Prints the SHA-256 of the token on stdin's first line (its line ending and surrounding
/// spaces removed, as a presented bearer token's are).
pub fn hash_token() -> anyhow::Result<()> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let token = line.trim();
    anyhow::ensure!(!token.is_empty(), "no token on stdin (e.g. `printf %s \"$TOKEN\" | procgate token hash`)");
    if token.len() < 8 {
        anyhow::bail!("the token is shorter than 8 characters; use a long random one");
    }
    println!("{}", hex(&sha256(token)));
    Ok(())
}

/// Validates a clients file: a summary line per client, or the first error with its line.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let clients = file::load(path).map_err(anyhow::Error::msg)?;
    println!("{}: {} client(s), valid", path.display(), clients.len());
    for c in &clients {
        let procedures = match &c.access.procedures {
            Some(_) => "its own procedures list",
            None => "PROCEDURE_ALLOWLIST",
        };
        let rate = c.access.rate.as_ref().map_or("no rate limit".to_string(), |r| format!("rate {}", r.rate()));
        let pending = c.access.max_pending.map_or("no max_pending".to_string(), |n| format!("max_pending {n}"));
        let admin = if c.admin { ", admin" } else { "" };
        println!("  {} (line {}{admin}): {procedures}, {rate}, {pending}", c.name, c.line);
    }
    Ok(())
}
