//! Who is calling: bearer tokens, the IP allowlist, and the caller's identity that owns jobs.
//! Knows nothing of HTTP: `api::caller` turns a request into a [`Caller`] through
//! [`AuthSettings::authenticate`], and an [`AuthError`] into a 401/403.
//!
//! Tokens are kept only as SHA-256 digests. A presented token is hashed and its digest compared
//! in constant time with every configured digest: comparing fixed-length digests reveals neither
//! the tokens' lengths nor, since every entry is checked, which entry matched. The configured
//! tokens are those of `API_TOKENS` / `API_TOKEN` and the clients file's (`crate::clients`),
//! whose entries also give the caller its [`ClientAccess`].
//!
//! With `API_JWT_KEYS`, a bearer value of the JWT shape is verified as a JWT instead
//! ([`jwt`]); its client claim names the caller, whose access comes from the token's procedures
//! claim or from the clients file's entry of that name (see [`AuthSettings::jwt_caller`]).

pub mod jwt;

use std::net::IpAddr;

use ipnet::IpNet;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::clients::live::ClientRegistry;
use crate::clients::{sha256, ClientAccess};

/// One configured token: its owner's name, the SHA-256 digest of its value (the value itself is
/// not kept) and whether it is an admin.
#[derive(Clone)]
pub struct ApiToken {
    pub name: String,
    digest: [u8; 32],
    pub admin: bool,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken").field("name", &self.name).field("admin", &self.admin).finish_non_exhaustive()
    }
}

impl ApiToken {
    pub fn new(name: &str, token: &str, admin: bool) -> Self {
        Self { name: name.into(), digest: sha256(token), admin }
    }

    /// `name:token` or `name:token:admin`.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let parts: Vec<&str> = entry.split(':').collect();
        let (name, token, admin) = match parts.as_slice() {
            [name, token] => (*name, *token, false),
            [name, token, "admin"] => (*name, *token, true),
            _ => {
                return Err(format!(
                    "entry {:?} is not name:token or name:token:admin",
                    entry.split(':').next().unwrap_or("")
                ))
            }
        };
        if name.is_empty() || name.len() > 128 {
            return Err("a token name must have 1 to 128 characters".into());
        }
        if token.len() < 8 {
            return Err(format!("the token of {name:?} is shorter than 8 characters"));
        }
        Ok(Self::new(name, token, admin))
    }

    /// Whether two entries carry the same token value (a configuration error: the caller's
    /// identity would depend on the entries' order).
    pub fn same_token(&self, other: &ApiToken) -> bool {
        self.digest == other.digest
    }

    /// Whether the bearer token of an `Authorization` value is this one (digests compared in
    /// constant time).
    pub fn presented_in(&self, authorization: Option<&str>) -> bool {
        authorization.and_then(bearer_token).is_some_and(|t| bool::from(self.digest.ct_eq(&sha256(t))))
    }

    /// The token's SHA-256 digest (the clients file may not reuse it).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

/// `API_ALLOWED_IPS`: addresses, CIDR ranges and `localhost`; empty allows every address.
#[derive(Debug, Clone, Default)]
pub struct IpAllowlist {
    nets: Vec<IpNet>,
}

impl IpAllowlist {
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.eq_ignore_ascii_case("localhost") {
                nets.push("127.0.0.0/8".parse().expect("literal"));
                nets.push("::1/128".parse().expect("literal"));
            } else if let Ok(net) = entry.parse::<IpNet>() {
                nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                nets.push(IpNet::from(ip));
            } else {
                return Err(format!("{entry:?} is not an IP address, a CIDR range or localhost"));
            }
        }
        Ok(Self { nets })
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.nets.is_empty() || self.nets.iter().any(|n| n.contains(&ip))
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub tokens: Vec<ApiToken>,
    pub allowed_ips: IpAllowlist,
    pub no_auth: bool,
    /// The clients of `API_CLIENTS_FILE` (none without it), reloaded while serving.
    pub clients: ClientRegistry,
    /// `API_JWT_KEYS` and its claims; `None`: no JWT.
    pub jwt: Option<jwt::JwtAuth>,
}

impl AuthSettings {
    /// Finds the token's owner. Every configured digest is compared, in constant time, and the
    /// match is selected without branching, so the time taken does not depend on which entry (if
    /// any) matched. Tokens are unique across both lists (checked at startup and on every reload
    /// of the clients file), so at most one entry matches.
    fn identify(&self, presented: &str) -> Option<Caller> {
        let presented = sha256(presented);
        let (token_found, token_index) = select(self.tokens.iter().map(|t| &t.digest), &presented);
        let clients = self.clients.current();
        let (client_found, client_index) = select(clients.iter().map(|c| c.digest()), &presented);
        if bool::from(token_found) {
            let t = &self.tokens[token_index];
            return Some(Caller::new(&t.name, t.admin));
        }
        bool::from(client_found).then(|| {
            let c = &clients[client_index];
            Caller { name: c.name.clone(), admin: c.admin, access: c.access.clone() }
        })
    }

    pub fn authenticate(&self, peer: Option<IpAddr>, authorization: Option<&str>) -> Result<Caller, AuthError> {
        if let Some(ip) = peer {
            if !self.allowed_ips.allows(ip) {
                return Err(AuthError::AddressNotAllowed);
            }
        }
        if self.no_auth {
            return Ok(Caller::new("anonymous", true));
        }
        let token = authorization.and_then(bearer_token).ok_or(AuthError::MissingToken)?;
        if let Some(jwt) = self.jwt.as_ref().filter(|_| jwt::has_jwt_shape(token)) {
            return self.jwt_caller(jwt, token);
        }
        self.identify(token).ok_or(AuthError::InvalidToken)
    }

    /// The caller of a verified JWT. Its procedures are the token's procedures claim when it
    /// carries one, else those of the clients file's entry of the same name; that entry also
    /// gives its rate (the same bucket as the entry's own token), quota and admin flag. A client
    /// with neither is refused (403) whenever the operator set up a source of per-client
    /// access (a clients file or a procedures claim): a client the operator never listed must
    /// not fall back to the global allowlist. With neither source configured, every verified
    /// client has the global allowlist, as an `API_TOKENS` entry does.
    fn jwt_caller(&self, jwt: &jwt::JwtAuth, token: &str) -> Result<Caller, AuthError> {
        let claims = jwt.verify(token).map_err(AuthError::Jwt)?;
        let entry = self.clients.by_name(&claims.client);
        let admin = claims.admin || entry.as_ref().is_some_and(|c| c.admin);
        let mut access = match entry {
            Some(entry) => entry.access,
            None if self.clients.path().is_some() || jwt.procedures_claim.is_some() => {
                if claims.procedures.is_none() {
                    return Err(AuthError::UnknownClient(claims.client));
                }
                ClientAccess::default()
            }
            None => ClientAccess::default(),
        };
        if let Some(globs) = claims.procedures {
            access.procedures =
                Some(std::sync::Arc::new(crate::procedure::allowlist::Allowlist::parse(&globs.join(","))));
        }
        Ok(Caller { name: claims.client, admin, access })
    }
}

/// Why a request is not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this client address is not allowed (API_ALLOWED_IPS)")]
    AddressNotAllowed,
    #[error("missing bearer token (Authorization: Bearer <token>)")]
    MissingToken,
    #[error("invalid token")]
    InvalidToken,
    /// A JWT that does not verify (401 with its own code).
    #[error("{0}")]
    Jwt(jwt::JwtError),
    /// A verified JWT whose client has no access of its own where the operator requires one.
    #[error("client {0:?} is neither in API_CLIENTS_FILE nor given procedures by its token")]
    UnknownClient(String),
}

/// Whether one of `digests` is `presented`, and its index: every digest is compared in constant
/// time and the index selected without branching.
fn select<'a>(digests: impl Iterator<Item = &'a [u8; 32]>, presented: &[u8; 32]) -> (Choice, usize) {
    let mut found = Choice::from(0);
    let mut index = 0u32;
    for (i, digest) in digests.enumerate() {
        let hit = digest.ct_eq(presented);
        index.conditional_assign(&(i as u32), hit);
        found |= hit;
    }
    (found, index as usize)
}

/// The token of an `Authorization: Bearer <token>` value. The scheme name is case-insensitive
/// (RFC 7235 section 2.1: `bearer`, `BEARER` work too); spaces around the token are ignored.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim_start().split_once([' ', '\t'])?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The authenticated caller: the token's name owns the jobs it creates; `access` carries its
/// own procedure list, rate and quota (a clients file entry's; unrestricted otherwise). Any
/// authenticator produces one.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub admin: bool,
    pub access: ClientAccess,
}

impl Caller {
    /// A caller with no restriction of its own (the global settings still apply).
    pub fn new(name: &str, admin: bool) -> Self {
        Self { name: name.into(), admin, access: ClientAccess::default() }
    }

    /// The owner filter for reads and deletes: admins see every job.
    pub fn owner_filter(&self) -> Option<&str> {
        (!self.admin).then_some(self.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AuthSettings {
        AuthSettings {
            tokens: vec![
                ApiToken::parse("alice:alice-token").unwrap(),
                ApiToken::parse("ops:ops-token-1:admin").unwrap(),
            ],
            allowed_ips: IpAllowlist::parse("localhost, 10.1.0.0/16").unwrap(),
            no_auth: false,
            clients: ClientRegistry::none(),
            jwt: None,
        }
    }

    #[test]
    fn tokens_identify_callers() {
        let s = settings();
        let local = Some("127.0.0.1".parse().unwrap());
        let alice = s.authenticate(local, Some("Bearer alice-token")).unwrap();
        assert_eq!((alice.name.as_str(), alice.admin), ("alice", false));
        assert!(s.authenticate(local, Some("Bearer ops-token-1")).unwrap().admin);
        assert!(matches!(
            s.authenticate(local, Some("Bearer nope")),
            Err(AuthError::MissingToken | AuthError::InvalidToken)
        ));
        assert!(matches!(s.authenticate(local, None), Err(AuthError::MissingToken | AuthError::InvalidToken)));
        assert!(matches!(
            s.authenticate(local, Some("alice-token")),
            Err(AuthError::MissingToken | AuthError::InvalidToken)
        ));
    }

    #[test]
    fn ip_allowlist() {
        let s = settings();
        assert!(s.allowed_ips.allows("10.1.2.3".parse().unwrap()));
        assert!(s.allowed_ips.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!s.allowed_ips.allows("10.2.0.1".parse().unwrap()));
        assert!(matches!(
            s.authenticate(Some("192.168.1.1".parse().unwrap()), Some("Bearer alice-token")),
            Err(AuthError::AddressNotAllowed)
        ));
        assert!(IpAllowlist::parse("").unwrap().allows("8.8.8.8".parse().unwrap()));
        assert!(ApiToken::parse("a:short").is_err());
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let s = settings();
        let local = Some("127.0.0.1".parse().unwrap());
        for header in ["Bearer alice-token", "bearer alice-token", "BEARER alice-token", "bEaReR  alice-token "] {
            assert_eq!(s.authenticate(local, Some(header)).unwrap().name, "alice", "{header:?}");
        }
        for header in ["Bearer", "Bearer ", "Beareralice-token", "Basic alice-token", "Token alice-token", ""] {
            assert!(
                matches!(s.authenticate(local, Some(header)), Err(AuthError::MissingToken | AuthError::InvalidToken)),
                "{header:?}"
            );
        }
    }

    #[test]
    fn only_digests_are_kept_and_every_entry_is_checked() {
        let s = settings();
        // The clear token appears nowhere in the parsed entry, not even in its Debug output.
        let entry = ApiToken::parse("carol:carol-secret-1").unwrap();
        assert_eq!(entry.digest, sha256("carol-secret-1"));
        assert!(!format!("{entry:?}").contains("carol-secret-1"));
        // The last entry is found as well as the first; a prefix or an extension is not a match.
        assert_eq!(s.identify("ops-token-1").unwrap().name, "ops");
        assert_eq!(s.identify("alice-token").unwrap().name, "alice");
        assert!(s.identify("alice-toke").is_none());
        assert!(s.identify("alice-token-").is_none());
        assert!(s.identify("").is_none());
        assert!(ApiToken::parse("a:same-token").unwrap().same_token(&ApiToken::parse("b:same-token:admin").unwrap()));
        assert!(!ApiToken::parse("a:same-token").unwrap().same_token(&ApiToken::parse("a:other-token").unwrap()));
    }

    #[test]
    fn clients_file_entries_identify_callers_with_their_access() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        std::fs::write(
            &path,
            "[[client]]\nname = \"reports\"\ntoken = \"reports-token-1\"\nprocedures = [\"REPORTS.*\"]\n\
             max_pending = 3\n",
        )
        .unwrap();
        let s = AuthSettings { clients: ClientRegistry::open(path, vec![]).unwrap(), ..settings() };
        let local = Some("127.0.0.1".parse().unwrap());
        let reports = s.authenticate(local, Some("Bearer reports-token-1")).unwrap();
        assert_eq!((reports.name.as_str(), reports.admin, reports.access.max_pending), ("reports", false, Some(3)));
        assert!(reports.access.procedures.is_some());
        // The environment's tokens still work, unrestricted.
        let alice = s.authenticate(local, Some("Bearer alice-token")).unwrap();
        assert!(alice.access.procedures.is_none() && alice.access.max_pending.is_none());
        assert!(s.authenticate(local, Some("Bearer reports-token-2")).is_err());
    }

    #[test]
    fn a_jwt_caller_shares_its_clients_file_entry_and_an_unlisted_one_is_refused() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let clients = dir.path().join("clients.toml");
        std::fs::write(&clients, "[[client]]\nname = \"reports\"\ntoken = \"reports-token-1\"\nrate = \"5/s\"\n")
            .unwrap();
        let keys = dir.path().join("jwks.json");
        let secret = [5u8; 32];
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        std::fs::write(&keys, format!("{{\"kty\": \"oct\", \"k\": \"{k}\"}}")).unwrap();
        let s = AuthSettings {
            clients: ClientRegistry::open(clients, vec![]).unwrap(),
            jwt: Some(jwt::JwtAuth::open(keys, "sub".into()).unwrap()),
            ..settings()
        };
        let token = |sub: &str| {
            let claims = serde_json::json!({"sub": sub, "exp": jsonwebtoken::get_current_timestamp() + 60});
            let key = jsonwebtoken::EncodingKey::from_secret(&secret).unwrap();
            format!("Bearer {}", jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap())
        };
        let local = Some("127.0.0.1".parse().unwrap());
        let by_jwt = s.authenticate(local, Some(&token("reports"))).unwrap();
        let by_token = s.authenticate(local, Some("Bearer reports-token-1")).unwrap();
        assert_eq!(by_jwt.name, "reports");
        // One client, one bucket, whichever way it authenticates.
        assert!(std::sync::Arc::ptr_eq(by_jwt.access.rate.as_ref().unwrap(), by_token.access.rate.as_ref().unwrap()));
        assert_eq!(
            s.authenticate(local, Some(&token("nobody"))).unwrap_err(),
            AuthError::UnknownClient("nobody".into())
        );
        // Opaque tokens still take the digest path.
        assert_eq!(s.authenticate(local, Some("Bearer alice-token")).unwrap().name, "alice");
    }
}
