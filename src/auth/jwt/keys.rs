//! `API_JWT_KEYS`: the keys tokens are verified with, each with the one algorithm it verifies.
//! The file is either a JWKS (`{"keys": [...]}`, or a single JWK) or one PEM public key:
//!
//! - `{"kty": "oct", "k": "<base64url secret>"}`: HS256, a secret of at least 32 bytes;
//! - `{"kty": "RSA", "n": "...", "e": "..."}` or an RSA PEM: RS256, at least 2048 bits;
//! - `{"kty": "OKP", "crv": "Ed25519", "x": "..."}` or an Ed25519 PEM: EdDSA.
//!
//! A JWK's `alg`, when given, must be that algorithm; keys of other types or algorithms (an
//! identity provider's JWKS often lists EC keys, or encryption keys) are skipped with a warning.
//! Anything malformed, a repeated `kid`, or a file with no usable key is an error.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The largest keys file read (a guard against pointing the setting at the wrong file).
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// RFC 7518 section 3.2: an HS256 key is at least as long as the hash, 256 bits.
const MIN_SECRET_BYTES: usize = 32;
/// ring verifies RS256 with moduli of 2048 to 8192 bits; a smaller key would refuse every token.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One verification key.
#[derive(Clone)]
pub struct JwtKey {
    /// The JWK's `kid`; PEM keys have none.
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey").field("kid", &self.kid).field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// Reads the keys file; errors name the file and what is wrong (never a secret's value).
pub fn load(path: &Path) -> Result<Vec<JwtKey>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{shown}: larger than {MAX_FILE_BYTES} bytes; is it the keys file?"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse(&text).map_err(|e| format!("{shown}: {e}"))
}

/// Parses a keys file's text: a JWKS, a single JWK or a PEM public key.
pub fn parse(text: &str) -> Result<Vec<JwtKey>, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return pem_key(text).map(|key| vec![key]);
    }
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("neither a PEM public key nor JSON (a JWKS): {e}"))?;
    let entries = match json.get("keys") {
        Some(serde_json::Value::Array(keys)) => keys.clone(),
        Some(_) => return Err("\"keys\" must be an array of JWKs".into()),
        None if json.get("kty").is_some() => vec![json],
        None => return Err("a JWKS has a \"keys\" array (or the file is a single JWK with \"kty\")".into()),
    };
    let mut keys: Vec<JwtKey> = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let jwk: RawJwk = serde_json::from_value(entry).map_err(|e| format!("key {}: {e}", i + 1))?;
        let shown = match &jwk.kid {
            Some(kid) => format!("key {} (kid {kid:?})", i + 1),
            None => format!("key {}", i + 1),
        };
        match jwk_key(jwk).map_err(|e| format!("{shown}: {e}"))? {
            Usable(key) => {
                if let Some(kid) = key.kid.as_deref().filter(|kid| keys.iter().any(|k| k.kid.as_deref() == Some(kid))) {
                    return Err(format!("{shown}: kid {kid:?} is used twice"));
                }
                keys.push(key);
            }
            Skipped(why) => tracing::warn!("API_JWT_KEYS: {shown} skipped: {why}"),
        }
    }
    if keys.is_empty() {
        return Err("no usable key (HS256 \"oct\", RS256 \"RSA\" or Ed25519 \"OKP\")".into());
    }
    Ok(keys)
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    k: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
}

enum Parsed {
    Usable(JwtKey),
    Skipped(String),
}
use Parsed::{Skipped, Usable};

fn jwk_key(jwk: RawJwk) -> Result<Parsed, String> {
    if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
        return Ok(Skipped(format!("\"use\" is {:?}, not \"sig\"", jwk.usage.unwrap_or_default())));
    }
    let (algorithm, accepted) = match jwk.kty.as_str() {
        "oct" => (Algorithm::HS256, "HS256"),
        "RSA" => (Algorithm::RS256, "RS256"),
        "OKP" if jwk.crv.as_deref() == Some("Ed25519") => (Algorithm::EdDSA, "EdDSA"),
        "OKP" => return Ok(Skipped(format!("curve {:?} is not Ed25519", jwk.crv.unwrap_or_default()))),
        other => return Ok(Skipped(format!("key type {other:?} is not accepted"))),
    };
    if let Some(alg) = jwk.alg.as_deref().filter(|alg| *alg != accepted) {
        return Ok(Skipped(format!("algorithm {alg:?} is not accepted (a {:?} key verifies {accepted})", jwk.kty)));
    }
    let member = |value: Option<String>, name: &str| -> Result<Vec<u8>, String> {
        let value = value.ok_or_else(|| format!("a {:?} key needs \"{name}\"", jwk.kty))?;
        URL_SAFE_NO_PAD.decode(value.trim_end_matches('=')).map_err(|_| format!("\"{name}\" is not base64url"))
    };
    let key = match algorithm {
        Algorithm::HS256 => {
            let secret = member(jwk.k, "k")?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!("an HS256 secret needs at least {MIN_SECRET_BYTES} bytes"));
            }
            DecodingKey::from_secret(&secret).map_err(|e| e.to_string())?
        }
        Algorithm::RS256 => {
            let n = member(jwk.n, "n")?;
            let e = member(jwk.e, "e")?;
            check_modulus(n.iter().skip_while(|b| **b == 0).count())?;
            DecodingKey::from_rsa_raw_components(&n, &e)
        }
        _ => {
            let x = member(jwk.x, "x")?;
            if x.len() != 32 {
                return Err("an Ed25519 \"x\" is 32 bytes".into());
            }
            DecodingKey::from_ed_der(&x)
        }
    };
    Ok(Usable(JwtKey { kid: jwk.kid, algorithm, key }))
}

fn check_modulus(bytes: usize) -> Result<(), String> {
    if bytes < MIN_RSA_MODULUS_BYTES {
        return Err(format!("an RSA key needs at least 2048 bits (this one has about {})", bytes * 8));
    }
    Ok(())
}

/// One PEM public key: RSA (`PUBLIC KEY` or `RSA PUBLIC KEY`) or Ed25519 (`PUBLIC KEY`).
fn pem_key(text: &str) -> Result<JwtKey, String> {
    if text.contains("PRIVATE KEY") {
        return Err("this is a private key: give the public key (openssl pkey -pubout)".into());
    }
    if text.matches("-----BEGIN").count() > 1 {
        return Err("a PEM file holds one public key (use a JWKS for several)".into());
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(text.as_bytes()) {
        // The PKCS#1 RSAPublicKey: its length is the modulus's, give or take a dozen bytes.
        let der_len = key.try_get_as_bytes().map(<[u8]>::len).unwrap_or(0);
        check_modulus(der_len.saturating_sub(14))?;
        return Ok(JwtKey { kid: None, algorithm: Algorithm::RS256, key });
    }
    match DecodingKey::from_ed_pem(text.as_bytes()) {
        Ok(key) => Ok(JwtKey { kid: None, algorithm: Algorithm::EdDSA, key }),
        Err(_) => Err("not an RSA or Ed25519 public key in PEM".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn a_jwks_gives_each_key_its_algorithm_and_skips_what_it_cannot_use() {
        let text = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": b64(&[7; 32])},
            {"kty": "RSA", "kid": "r", "alg": "RS256", "use": "sig", "n": b64(&[0xc1; 256]), "e": "AQAB"},
            {"kty": "OKP", "kid": "e", "crv": "Ed25519", "x": b64(&[3; 32])},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AA", "e": "AQAB"},
            {"kty": "RSA", "kid": "r384", "alg": "RS384", "n": b64(&[0xc1; 256]), "e": "AQAB"},
        ]})
        .to_string();
        let keys = parse(&text).unwrap();
        let summary: Vec<_> = keys.iter().map(|k| (k.kid.clone().unwrap(), k.algorithm)).collect();
        assert_eq!(
            summary,
            [("h".into(), Algorithm::HS256), ("r".into(), Algorithm::RS256), ("e".into(), Algorithm::EdDSA)]
        );
        // Nothing secret in the Debug output.
        assert!(!format!("{keys:?}").contains("7, 7"));
    }

    #[test]
    fn bad_keys_files_are_refused_with_the_reason() {
        let cases = [
            ("{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2hvcnQ\"}]}", "at least 32 bytes"),
            ("{\"keys\": [{\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}", "2048 bits"),
            ("{\"keys\": [{\"kty\": \"RSA\", \"e\": \"AQAB\"}]}", "needs \"n\""),
            ("{\"keys\": [{\"kty\": \"oct\", \"k\": \"!!\"}]}", "not base64url"),
            ("{\"keys\": [{\"kty\": \"EC\"}]}", "no usable key"),
            ("{\"keys\": {}}", "must be an array"),
            ("{\"other\": 1}", "\"keys\" array"),
            ("not json", "neither a PEM"),
            ("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----", "private key"),
            ("-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----", "not an RSA or Ed25519"),
        ];
        for (text, expected) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
        let k = b64(&[1; 32]);
        let twice = format!("{{\"keys\": [{{\"kty\": \"oct\", \"kid\": \"a\", \"k\": \"{k}\"}}, {{\"kty\": \"oct\", \"kid\": \"a\", \"k\": \"{k}\"}}]}}");
        let e = parse(&twice).unwrap_err();
        assert!(e.contains("used twice") && e.contains("key 2") && !e.contains(&k), "{e}");
        // A single JWK is a file of one key.
        assert_eq!(parse(&format!("{{\"kty\": \"oct\", \"k\": \"{k}\"}}")).unwrap().len(), 1);
    }
}
