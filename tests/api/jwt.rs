//! Optional JWT authentication (`API_JWT_KEYS`, issue 14 §6), over real HTTP on a real
//! PostgreSQL, with keys generated here (RSA and Ed25519 by `openssl`, HS256 from random bytes)
//! and tokens signed here with `jsonwebtoken::encode`: the client claim owns the jobs, the
//! procedures come from the token's claim or the clients file, and a bad signature, `alg: none`,
//! HS256 made with the RSA public key, an expired, not-yet-valid or wrong-audience token are each
//! a 401 with its code. HTTP-edge behaviour, so not in the contract suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value as Json};

use crate::helpers::*;

/// Key pairs made for one test, in a temporary directory (removed with it).
struct Keys {
    dir: tempfile::TempDir,
    hs_secret: Vec<u8>,
    rsa_private_der: Vec<u8>,
    rsa_public_pem: Vec<u8>,
    ed_private_der: Vec<u8>,
}

impl Keys {
    fn generate() -> Self {
        procgate::auth::jwt::ring_provider::install();
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .output()
                .expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.pem"]);
        openssl(&["rsa", "-in", "rsa.pem", "-traditional", "-outform", "DER", "-out", "rsa.der"]);
        openssl(&["pkey", "-in", "rsa.pem", "-pubout", "-out", "rsa.pub.pem"]);
        openssl(&["genpkey", "-algorithm", "ed25519", "-outform", "DER", "-out", "ed.der"]);
        openssl(&["pkey", "-in", "ed.der", "-inform", "DER", "-pubout", "-outform", "DER", "-out", "ed.pub.der"]);
        let base = dir.path().to_path_buf();
        let read = |name: &str| std::fs::read(base.join(name)).unwrap();
        let hs_secret: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
        let keys = Keys {
            hs_secret,
            rsa_private_der: read("rsa.der"),
            rsa_public_pem: read("rsa.pub.pem"),
            ed_private_der: read("ed.der"),
            dir,
        };
        // The JWKS: the RSA key as n and e (from openssl's modulus), Ed25519's x (the last 32
        // bytes of its SubjectPublicKeyInfo), the HS256 secret as an "oct" key.
        let out = Command::new("openssl")
            .args(["rsa", "-pubin", "-in", "rsa.pub.pem", "-noout", "-modulus"])
            .current_dir(keys.dir.path())
            .output()
            .unwrap();
        let modulus = String::from_utf8(out.stdout).unwrap().trim().trim_start_matches("Modulus=").to_string();
        let n: Vec<u8> =
            (0..modulus.len()).step_by(2).map(|i| u8::from_str_radix(&modulus[i..i + 2], 16).unwrap()).collect();
        let ed_public = read("ed.pub.der");
        let jwks = json!({"keys": [
            {"kty": "oct", "kid": "hs", "alg": "HS256", "k": b64(&keys.hs_secret)},
            {"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": b64(&n), "e": "AQAB"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&ed_public[ed_public.len() - 32..])},
        ]});
        std::fs::write(keys.path("jwks.json"), jwks.to_string()).unwrap();
        keys
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn path_str(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }

    fn rs256(&self, kid: Option<&str>, claims: &Json) -> String {
        sign(Algorithm::RS256, kid, claims, &EncodingKey::from_rsa_der(&self.rsa_private_der))
    }

    fn eddsa(&self, claims: &Json) -> String {
        sign(Algorithm::EdDSA, Some("ed"), claims, &EncodingKey::from_ed_der(&self.ed_private_der))
    }

    fn hs256(&self, claims: &Json) -> String {
        sign(Algorithm::HS256, Some("hs"), claims, &EncodingKey::from_secret(&self.hs_secret).unwrap())
    }
}

fn rand_byte() -> u8 {
    let mut b = [0u8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b[0]
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Json, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    encode(&header, claims, key).unwrap()
}

/// Claims for `sub`, valid for ten minutes, plus `extra`.
fn claims(sub: &str, extra: Json) -> Json {
    let mut claims = json!({"sub": sub, "exp": get_current_timestamp() + 600, "aud": "procgate"});
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    claims
}

fn at(offset_secs: i64) -> u64 {
    (get_current_timestamp() as i64 + offset_secs) as u64
}

fn clients_file(dir: &Path) -> String {
    let path = dir.join("clients.toml");
    std::fs::write(
        &path,
        "[[client]]\nname = \"reports\"\ntoken = \"reports-token-0001\"\nprocedures = [\"PROC_TEST\"]\n",
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_jwt_caller_owns_its_jobs_with_procedures_from_its_claim_or_the_clients_file() {
    let keys = Keys::generate();
    let app = spawn_app_with(&[
        ("API_JWT_KEYS", &keys.path_str("jwks.json")),
        ("API_JWT_PROCEDURES_CLAIM", "procedures"),
        ("API_JWT_AUDIENCE", "procgate"),
        ("API_CLIENTS_FILE", &clients_file(keys.dir.path())),
    ])
    .await;

    // "reports" is in the clients file: its list there (PROC_TEST only) applies.
    let reports = keys.rs256(Some("rsa"), &claims("reports", json!({})));
    let id = app.submit_as(&reports, &proc_test("jwt")).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!((job["owner"].as_str(), job["status"].as_str()), (Some("reports"), Some("completed")));
    let error =
        error_code(app.post("/procedure", &reports, &json!({"name": "PROC_TEST_ERROR", "params": []})).await, 403)
            .await;
    assert_eq!(error["code"], "procedure_not_allowed");
    // The file's own opaque token is the same client: it sees the JWT's job.
    assert_eq!(app.get(&format!("/jobs/{id}"), "reports-token-0001").await.status(), 200);

    // "etl" is in no file: its token's claim gives its procedures (EdDSA, no kid needed).
    let etl = keys.eddsa(&claims("etl", json!({"procedures": ["PROC_TEST_DEMORA"]})));
    let error = error_code(app.post("/procedure", &etl, &proc_test("x")).await, 403).await;
    assert_eq!(error["code"], "procedure_not_allowed");
    let etl_job = app.submit_as(&etl, &demora(0.1)).await;
    assert_eq!(app.wait_terminal(&etl_job).await["owner"], "etl");
    // Each owns its own jobs only.
    assert_eq!(app.get(&format!("/jobs/{id}"), &etl).await.status(), 404);
    assert_eq!(app.get(&format!("/jobs/{etl_job}"), &etl).await.status(), 200);

    // A client in neither place, with no procedures claim: 403, not the global list.
    let stranger = keys.hs256(&claims("stranger", json!({})));
    let error = error_code(app.post("/procedure", &stranger, &proc_test("x")).await, 403).await;
    assert_eq!(error["code"], "unknown_client");
    assert!(error["message"].as_str().unwrap().contains("stranger"), "{error}");

    // The opaque tokens of API_TOKENS still work alongside.
    assert_eq!(app.post("/procedure", ALICE, &proc_test("opaque")).await.status(), 200);
}

#[tokio::test]
async fn bad_jwts_are_401_with_a_typed_error_and_an_rfc_6750_challenge() {
    let keys = Keys::generate();
    let app = spawn_app_with(&[
        ("API_JWT_KEYS", &keys.path_str("jwks.json")),
        ("API_JWT_AUDIENCE", "procgate"),
        ("API_JWT_LEEWAY", "5s"),
    ])
    .await;
    let good = keys.rs256(Some("rsa"), &claims("svc", json!({})));
    // No clients file, no procedures claim: a verified client has the global allowlist.
    assert_eq!(app.post("/procedure", &good, &proc_test("ok")).await.status(), 200);

    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let other_payload = b64(claims("admin", json!({})).to_string().as_bytes());
    let none = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let rsa_pem_as_secret = EncodingKey::from_secret(&keys.rsa_public_pem).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad signature", format!("{head}.{other_payload}.{signature}"), "invalid_token"),
        ("alg none", format!("{none}.{payload}."), "invalid_token"),
        ("alg none, signed", format!("{none}.{payload}.{signature}"), "invalid_token"),
        (
            "HS256 keyed with the RSA public key, naming the RSA key",
            sign(Algorithm::HS256, Some("rsa"), &claims("admin", json!({})), &rsa_pem_as_secret),
            "invalid_token",
        ),
        (
            "HS256 keyed with the RSA public key, no kid",
            sign(Algorithm::HS256, None, &claims("admin", json!({})), &rsa_pem_as_secret),
            "invalid_token",
        ),
        ("expired", keys.rs256(Some("rsa"), &claims("svc", json!({"exp": at(-60)}))), "token_expired"),
        ("not yet valid", keys.eddsa(&claims("svc", json!({"nbf": at(300)}))), "token_not_yet_valid"),
        ("wrong audience", keys.hs256(&claims("svc", json!({"aud": "someone-else"}))), "invalid_token"),
        ("no client claim", keys.hs256(&json!({"exp": at(600), "aud": "procgate"})), "invalid_token"),
        ("unknown kid", keys.rs256(Some("gone"), &claims("svc", json!({}))), "invalid_token"),
    ];
    for (what, token, code) in cases {
        let resp = app.post("/procedure", &token, &proc_test("x")).await;
        let challenge = resp.headers().get("www-authenticate").map(|h| h.to_str().unwrap().to_string());
        let error = error_code(resp, 401).await;
        assert_eq!(error["code"], code, "{what}: {error}");
        let challenge = challenge.unwrap_or_default();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""), "{what}: {challenge}");
        let message = error["message"].as_str().unwrap();
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!message.contains(part) && !challenge.contains(part), "{what}: the token is echoed");
        }
    }
    // Nothing was run for any of them.
    assert_eq!(count(&app.db.client().await, "SELECT count(*) FROM async_jobs").await, 0);
}

#[tokio::test]
async fn a_pem_public_key_file_verifies_rs256_and_refuses_the_algorithm_confusion() {
    let keys = Keys::generate();
    let app = spawn_app_with(&[("API_JWT_KEYS", &keys.path_str("rsa.pub.pem"))]).await;
    let token = keys.rs256(None, &json!({"sub": "svc", "exp": at(600)}));
    let id = app.submit_as(&token, &proc_test("pem")).await;
    assert_eq!(app.wait_terminal(&id).await["owner"], "svc");
    // The classic attack: HS256 with the public key file's bytes as the secret.
    let forged = sign(
        Algorithm::HS256,
        None,
        &json!({"sub": "admin", "exp": at(600)}),
        &EncodingKey::from_secret(&keys.rsa_public_pem).unwrap(),
    );
    let error = error_code(app.get("/jobs", &forged).await, 401).await;
    assert_eq!(error["code"], "invalid_token");
    assert!(error["message"].as_str().unwrap().contains("HS256"), "{error}");
}
