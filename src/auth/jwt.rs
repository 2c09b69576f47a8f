//! Optional JWT authentication (`API_JWT_KEYS`), for shops that run an identity provider: a
//! bearer value of the JWT shape is verified against the configured keys and names its client
//! by a claim (`API_JWT_CLIENT_CLAIM`, `sub` by default).
//!
//! The algorithm comes from the KEY, never from the token: the key is the one the header's
//! `kid` names, or (without a `kid`) each key of the header's algorithm in turn, and a token
//! whose `alg` is not its key's is refused — so `none`, or HS256 "signed" with an RSA public
//! key, never verifies. `exp` is required; `exp` and `nbf` are checked with `API_JWT_LEEWAY`;
//! `aud` and `iss` when `API_JWT_AUDIENCE` / `API_JWT_ISSUER` are set. The keys file is read
//! again on `SIGHUP` (a bad one is logged and the old keys stay).
//!
//! - [`keys`]: the keys file (JWKS or PEM);
//! - [`ring_provider`]: `jsonwebtoken`'s cryptography, done by `ring`.

pub mod keys;
pub mod ring_provider;

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value as Json};

use crate::procedure::allowlist::Allowlist;
use keys::JwtKey;

/// The algorithms a key may have (and so a token may use).
const ACCEPTED: &str = "HS256, RS256, EdDSA";
/// Longest part of a token quoted back in a message (a `kid`, an `alg`).
const QUOTED_CHARS: usize = 40;

/// The JWT settings and the keys in force.
#[derive(Clone)]
pub struct JwtAuth {
    keys: Arc<LiveKeys>,
    /// The claim naming the client (the owner of its jobs).
    pub client_claim: String,
    /// A claim with the client's procedures (an array of globs); `None`: from the clients file.
    pub procedures_claim: Option<String>,
    /// A boolean claim that makes the client an admin when `true`.
    pub admin_claim: Option<String>,
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub leeway: Duration,
}

struct LiveKeys {
    path: PathBuf,
    current: RwLock<Arc<Vec<JwtKey>>>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("keys", &self.keys.path)
            .field("client_claim", &self.client_claim)
            .field("procedures_claim", &self.procedures_claim)
            .finish_non_exhaustive()
    }
}

/// What a verified token says about its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtClaims {
    pub client: String,
    /// The procedures claim's globs, when configured and present.
    pub procedures: Option<Vec<String>>,
    pub admin: bool,
}

/// Why a token is refused (401): `code` is `token_expired`, `token_not_yet_valid` or
/// `invalid_token`; the message says what is wrong without quoting the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JwtError {
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> JwtError {
    JwtError { code: "invalid_token", message: message.into() }
}

/// Whether a bearer value has the JWT shape: three base64url parts, the last one empty for an
/// unsigned token (so that one is refused as a JWT, with its reason).
pub fn has_jwt_shape(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && !parts[1].is_empty()
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

impl JwtAuth {
    /// Reads the keys file at `path` (an error names the problem).
    pub fn open(path: PathBuf, client_claim: String) -> Result<Self, String> {
        ring_provider::install();
        let keys = keys::load(&path)?;
        Ok(Self {
            keys: Arc::new(LiveKeys { path, current: RwLock::new(Arc::new(keys)) }),
            client_claim,
            procedures_claim: None,
            admin_claim: None,
            audience: None,
            issuer: None,
            leeway: Duration::from_secs(30),
        })
    }

    fn current(&self) -> Arc<Vec<JwtKey>> {
        self.keys.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the keys file again, or keeps the keys in force if it fails. Returns how many
    /// keys are in force.
    pub fn reload(&self) -> Result<usize, String> {
        reload(&self.keys)
    }

    /// Reloads the keys on `SIGHUP`, logging each outcome, until the last clone is dropped.
    pub fn watch(&self) {
        #[cfg(unix)]
        {
            let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                tracing::warn!("no SIGHUP handler: API_JWT_KEYS is read at start only");
                return;
            };
            let weak: Weak<LiveKeys> = Arc::downgrade(&self.keys);
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    let Some(keys) = weak.upgrade() else { break };
                    match reload(&keys) {
                        Ok(n) => tracing::info!(file = %keys.path.display(), keys = n, "JWT keys reloaded (SIGHUP)"),
                        Err(e) => {
                            tracing::error!("JWT keys not reloaded (SIGHUP), the previous keys stay in force: {e}")
                        }
                    }
                }
            });
        }
    }

    /// Verifies a token of the JWT shape and reads its caller's claims.
    pub fn verify(&self, token: &str) -> Result<JwtClaims, JwtError> {
        let (alg, kid) = header(token)?;
        let keys = self.current();
        let candidates: Vec<&JwtKey> = match &kid {
            Some(kid) => {
                let key = keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or_else(|| invalid(format!("no configured key has the token's kid {}", quoted(kid))))?;
                if algorithm_name(key.algorithm) != alg {
                    return Err(invalid(format!(
                        "the token's algorithm {} is not that of its key {} ({})",
                        quoted(&alg),
                        quoted(kid),
                        algorithm_name(key.algorithm)
                    )));
                }
                vec![key]
            }
            None => {
                let matching: Vec<&JwtKey> = keys.iter().filter(|k| algorithm_name(k.algorithm) == alg).collect();
                if matching.is_empty() {
                    return Err(invalid(format!("no configured key is for the token's algorithm {}", quoted(&alg))));
                }
                matching
            }
        };
        let mut last = invalid("bad signature");
        for key in candidates {
            match jsonwebtoken::decode::<Map<String, Json>>(token, &key.key, &self.validation(key.algorithm)) {
                Ok(data) => return self.claims(data.claims),
                // Another key of the same algorithm may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => last = invalid("bad signature"),
                Err(e) => return Err(refusal(e.kind())),
            }
        }
        Err(last)
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut v = Validation::new(algorithm);
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.required_spec_claims = ["exp".to_string()].into();
        v.validate_aud = self.audience.is_some();
        if let Some(audience) = &self.audience {
            v.set_audience(&[audience]);
            v.required_spec_claims.insert("aud".into());
        }
        if let Some(issuer) = &self.issuer {
            v.set_issuer(&[issuer]);
            v.required_spec_claims.insert("iss".into());
        }
        v
    }

    fn claims(&self, claims: Map<String, Json>) -> Result<JwtClaims, JwtError> {
        let client = match claims.get(&self.client_claim) {
            Some(Json::String(name)) if !name.is_empty() && name.chars().count() <= 128 => name.clone(),
            _ => {
                return Err(invalid(format!(
                    "the token has no {} claim naming its client (a string of 1 to 128 characters)",
                    quoted(&self.client_claim)
                )))
            }
        };
        let procedures = match self.procedures_claim.as_ref().and_then(|c| claims.get(c).map(|v| (c, v))) {
            None => None,
            Some((claim, Json::Array(items))) => {
                let mut globs = Vec::with_capacity(items.len());
                for item in items {
                    let glob = item.as_str().filter(|g| Allowlist::check_pattern(g).is_ok()).ok_or_else(|| {
                        invalid(format!("the token's {} claim holds an invalid procedure pattern", quoted(claim)))
                    })?;
                    globs.push(glob.to_string());
                }
                Some(globs)
            }
            Some((claim, _)) => {
                return Err(invalid(format!(
                    "the token's {} claim is not an array of procedure patterns",
                    quoted(claim)
                )))
            }
        };
        let admin = self.admin_claim.as_ref().is_some_and(|c| claims.get(c) == Some(&Json::Bool(true)));
        Ok(JwtClaims { client, procedures, admin })
    }
}

fn reload(keys: &LiveKeys) -> Result<usize, String> {
    let new = keys::load(&keys.path)?;
    let n = new.len();
    *keys.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
    Ok(n)
}

/// The header's `alg` and `kid`, read before any key is chosen; `none` is refused here.
fn header(token: &str) -> Result<(String, Option<String>), JwtError> {
    let malformed = || invalid("malformed token: its header is not base64url JSON");
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| malformed())?;
    let header: Map<String, Json> = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    let alg = match header.get("alg") {
        Some(Json::String(alg)) => alg.clone(),
        _ => return Err(invalid("the token's header has no alg")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(invalid("unsigned tokens (alg none) are refused"));
    }
    if !ACCEPTED.split(", ").any(|a| a == alg) {
        return Err(invalid(format!("the token's algorithm {} is not accepted ({ACCEPTED})", quoted(&alg))));
    }
    let kid = match header.get("kid") {
        None | Some(Json::Null) => None,
        Some(Json::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(invalid("the token's kid is not a string")),
    };
    Ok((alg, kid))
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}

/// What `jsonwebtoken` refused, said without the token.
fn refusal(kind: &ErrorKind) -> JwtError {
    match kind {
        ErrorKind::ExpiredSignature => {
            JwtError { code: "token_expired", message: "the token has expired (exp)".into() }
        }
        ErrorKind::ImmatureSignature => {
            JwtError { code: "token_not_yet_valid", message: "the token is not valid yet (nbf)".into() }
        }
        ErrorKind::InvalidAudience => invalid("the token is not for this audience (aud, API_JWT_AUDIENCE)"),
        ErrorKind::InvalidIssuer => invalid("the token is not from the expected issuer (iss, API_JWT_ISSUER)"),
        ErrorKind::MissingRequiredClaim(claim) => invalid(format!("the token has no {} claim", quoted(claim))),
        ErrorKind::InvalidClaimFormat(claim) => {
            invalid(format!("the token's {} claim has the wrong type", quoted(claim)))
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => invalid("the token's algorithm is not its key's"),
        _ => invalid("malformed token"),
    }
}

/// A value from the token, quoted short.
fn quoted(value: &str) -> String {
    let short: String = value.chars().take(QUOTED_CHARS).collect();
    if short.len() < value.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::json;

    const SECRET: &[u8] = b"an-hs256-secret-of-32-bytes-min!";

    struct Setup {
        auth: JwtAuth,
        ed_pkcs8: Vec<u8>,
        ed_public: Vec<u8>,
        _dir: tempfile::TempDir,
    }

    fn setup() -> Setup {
        ring_provider::install();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let public = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap().public_key().as_ref().to_vec();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let jwks = json!({"keys": [
            {"kty": "oct", "kid": "hs", "k": URL_SAFE_NO_PAD.encode(SECRET)},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&public)},
        ]});
        std::fs::write(&path, jwks.to_string()).unwrap();
        let mut auth = JwtAuth::open(path, "sub".into()).unwrap();
        auth.procedures_claim = Some("procs".into());
        auth.admin_claim = Some("gw_admin".into());
        Setup { auth, ed_pkcs8: pkcs8.as_ref().to_vec(), ed_public: public, _dir: dir }
    }

    fn hs256(kid: Option<&str>, claims: &Json) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(Into::into);
        encode(&header, claims, &EncodingKey::from_secret(SECRET).unwrap()).unwrap()
    }

    fn in_(secs: i64) -> u64 {
        (get_current_timestamp() as i64 + secs) as u64
    }

    #[test]
    fn valid_tokens_name_their_client_with_its_claims() {
        let s = setup();
        let claims = json!({"sub": "reports", "exp": in_(60), "procs": ["REPORTS.*"], "gw_admin": true});
        let expected = JwtClaims { client: "reports".into(), procedures: Some(vec!["REPORTS.*".into()]), admin: true };
        assert_eq!(s.auth.verify(&hs256(Some("hs"), &claims)).unwrap(), expected);
        // Without a kid, the keys of the header's algorithm are tried.
        assert_eq!(s.auth.verify(&hs256(None, &claims)).unwrap(), expected);
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("ed".into());
        let ed =
            encode(&header, &json!({"sub": "etl", "exp": in_(60)}), &EncodingKey::from_ed_der(&s.ed_pkcs8)).unwrap();
        assert_eq!(s.auth.verify(&ed).unwrap(), JwtClaims { client: "etl".into(), procedures: None, admin: false });
    }

    #[test]
    fn times_are_enforced_with_the_leeway() {
        let s = setup();
        let code = |claims: Json| s.auth.verify(&hs256(Some("hs"), &claims)).map(|_| ()).map_err(|e| e.code);
        assert_eq!(code(json!({"sub": "a", "exp": in_(-120)})), Err("token_expired"));
        assert_eq!(code(json!({"sub": "a", "exp": in_(-10)})), Ok(()), "within the 30 s leeway");
        assert_eq!(code(json!({"sub": "a", "exp": in_(600), "nbf": in_(120)})), Err("token_not_yet_valid"));
        assert_eq!(code(json!({"sub": "a", "exp": in_(600), "nbf": in_(10)})), Ok(()));
        assert_eq!(code(json!({"sub": "a"})), Err("invalid_token"), "exp is required");
        // CVE-2026-25537: a claim of the wrong type is refused, not skipped.
        assert_eq!(code(json!({"sub": "a", "exp": in_(600), "nbf": "later"})), Err("invalid_token"));
        assert_eq!(code(json!({"sub": "a", "exp": "never"})), Err("invalid_token"));
    }

    #[test]
    fn the_algorithm_is_the_keys_never_the_tokens() {
        let s = setup();
        let claims = json!({"sub": "a", "exp": in_(600)});
        let body = |token: &str| token.split('.').skip(1).collect::<Vec<_>>().join(".");
        let valid = hs256(Some("hs"), &claims);
        // alg none, with or without a signature.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for token in
            [format!("{none}.{}", body(&valid)), format!("{none}.{}.", body(&valid).split('.').next().unwrap())]
        {
            let e = s.auth.verify(&token).unwrap_err();
            assert_eq!(e.code, "invalid_token");
        }
        assert!(s.auth.verify(&format!("{none}.{}", body(&valid))).unwrap_err().message.contains("none"));
        // HS256 keyed with the Ed25519 public key's bytes, naming the Ed25519 key: refused.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("ed".into());
        let confused = encode(&header, &claims, &EncodingKey::from_secret(&s.ed_public).unwrap()).unwrap();
        let e = s.auth.verify(&confused).unwrap_err();
        assert!(e.message.contains("not that of its key"), "{e:?}");
        // Bad signature, unknown kid, another algorithm, a malformed header.
        let forged = hs256(Some("hs"), &json!({"sub": "admin", "exp": in_(600)}));
        let tampered = format!("{}.{}", forged.rsplit_once('.').unwrap().0, valid.rsplit_once('.').unwrap().1);
        assert_eq!(s.auth.verify(&tampered).unwrap_err().message, "bad signature");
        assert!(s.auth.verify(&hs256(Some("nope"), &claims)).unwrap_err().message.contains("kid"));
        let hs512 = encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET).unwrap());
        assert!(hs512.is_err(), "the ring provider makes no HS512 tokens either");
        let rs = format!("{}.{}", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#), body(&valid));
        assert!(s.auth.verify(&rs).unwrap_err().message.contains("no configured key"));
        assert_eq!(s.auth.verify("e30.e30.e30").unwrap_err().message, "the token's header has no alg");
        assert!(s.auth.verify("AAAA.e30.e30").unwrap_err().message.contains("malformed"));
    }

    #[test]
    fn audience_issuer_and_claims_are_checked_without_echoing_the_token() {
        let mut s = setup();
        s.auth.audience = Some("procgate".into());
        s.auth.issuer = Some("https://idp.example".into());
        let good = json!({"sub": "a", "exp": in_(600), "aud": "procgate", "iss": "https://idp.example"});
        assert!(s.auth.verify(&hs256(None, &good)).is_ok());
        for (claims, expected) in [
            (json!({"sub": "a", "exp": in_(600), "aud": "other", "iss": "https://idp.example"}), "audience"),
            (json!({"sub": "a", "exp": in_(600), "iss": "https://idp.example"}), "\"aud\""),
            (json!({"sub": "a", "exp": in_(600), "aud": "procgate", "iss": "https://evil"}), "issuer"),
            (json!({"exp": in_(600), "aud": "procgate", "iss": "https://idp.example"}), "\"sub\""),
            (json!({"sub": "", "exp": in_(600), "aud": "procgate", "iss": "https://idp.example"}), "\"sub\""),
            (
                json!({"sub": "a", "exp": in_(600), "aud": "procgate", "iss": "https://idp.example", "procs": "X"}),
                "array",
            ),
            (
                json!({"sub": "a", "exp": in_(600), "aud": "procgate", "iss": "https://idp.example", "procs": ["a b"]}),
                "invalid procedure pattern",
            ),
        ] {
            let token = hs256(None, &claims);
            let e = s.auth.verify(&token).unwrap_err();
            assert_eq!(e.code, "invalid_token", "{claims}");
            assert!(e.message.contains(expected), "{claims}: {}", e.message);
            assert!(!e.message.contains(&token) && !e.message.contains(token.split('.').nth(1).unwrap()));
        }
    }

    #[test]
    fn the_jwt_shape() {
        assert!(has_jwt_shape("eyJh.eyJz.c2ln"));
        assert!(has_jwt_shape("a-_b.c.d"));
        assert!(has_jwt_shape("a.b."), "an unsigned token");
        for value in ["opaque-token-1", "a.b", "a.b.c.d", "a..c", "a.b.c=", "a.b+.c", ".b.c"] {
            assert!(!has_jwt_shape(value), "{value}");
        }
    }

    #[test]
    fn a_reload_swaps_the_keys_or_keeps_them() {
        let s = setup();
        let token = hs256(Some("hs"), &json!({"sub": "a", "exp": in_(600)}));
        std::fs::write(&s.auth.keys.path, "{\"keys\": []}").unwrap();
        assert!(s.auth.reload().is_err());
        assert!(s.auth.verify(&token).is_ok(), "the old keys stay");
        let other = json!({"keys": [{"kty": "oct", "kid": "hs", "k": URL_SAFE_NO_PAD.encode([9u8; 32])}]});
        std::fs::write(&s.auth.keys.path, other.to_string()).unwrap();
        assert_eq!(s.auth.reload().unwrap(), 1);
        assert_eq!(s.auth.verify(&token).unwrap_err().message, "bad signature");
    }
}
