//! Per-client access (`API_CLIENTS_FILE`): each client's token digest, admin flag, own procedure
//! list, rate and pending-job quota. Knows nothing of HTTP: `auth` finds the client of a token,
//! `api` enforces the rate and the quota, `catalog` the procedure list.
//!
//! - [`file`]: the TOML file, parsed and checked, every error naming its line;
//! - [`live`]: the set in force, swapped whole on `SIGHUP` or when the file changes;
//! - [`rate`]: the per-instance token bucket behind `rate = "50/s"`.

pub mod file;
pub mod live;
pub mod rate;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::procedure::allowlist::Allowlist;
use crate::procedure::name::ProcedureName;
use rate::RateLimiter;

/// What a caller may do besides being who it is: the part of a [`crate::auth::Caller`] that
/// any authenticator (a token of the clients file, `API_TOKENS`, later a JWT) fills in.
/// The default restricts nothing beyond the global settings.
#[derive(Debug, Clone, Default)]
pub struct ClientAccess {
    /// The client's own allowlist; a call must pass it and `PROCEDURE_ALLOWLIST`. `None`: the
    /// global list alone.
    pub procedures: Option<Arc<Allowlist>>,
    /// Requests per period on this instance; `None`: no limit.
    pub rate: Option<Arc<RateLimiter>>,
    /// Most pending jobs of this client at once; `None`: no limit (but `MAX_PENDING_PER_OWNER`).
    pub max_pending: Option<u32>,
}

impl ClientAccess {
    /// Whether the client's own list allows the name as written (no list: yes).
    pub fn allows(&self, name: &ProcedureName) -> bool {
        self.procedures.as_ref().is_none_or(|list| list.allows(name))
    }

    /// Counts one request against the rate; `Err` is how long until one would pass.
    pub fn take_request(&self) -> Result<(), std::time::Duration> {
        self.rate.as_ref().map_or(Ok(()), |r| r.try_acquire())
    }
}

/// One client of the clients file. Its token is kept only as its SHA-256 digest.
#[derive(Clone)]
pub struct Client {
    pub name: String,
    digest: [u8; 32],
    pub admin: bool,
    pub access: ClientAccess,
    /// The line of the file its `name` is on (for messages).
    pub line: usize,
}

impl Client {
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("admin", &self.admin)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

pub fn sha256(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// A digest as 64 lower-case hexadecimal characters (`procgate token hash`).
pub fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
