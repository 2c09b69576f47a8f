//! `jsonwebtoken`'s cryptography, done by `ring` (the library rustls already brings) for the
//! three algorithms procgate accepts: HS256, RS256 and EdDSA (Ed25519). No cryptography is
//! written here: each verifier hands the key, the message and the signature to `ring`.
//!
//! The signers exist for the tests (and any tool) that make tokens with `jsonwebtoken::encode`.
//! Every other algorithm is refused, as are the JWK helpers procgate does not use (an error,
//! never a panic).

use std::sync::Once;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature::{
    Ed25519KeyPair, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256,
};
use ring::{digest, hmac, rand};

/// Makes this the process's provider (once; later calls do nothing). Called before any token
/// is verified or made.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Refused only if another provider is installed already, which procgate never does.
        let _ = PROVIDER.install_default();
    });
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(unsupported()),
        rsa_pub_components_from_public_key: |_| Err(unsupported()),
        ec_pub_components_from_private_key: |_, _| Err(unsupported()),
        ed_pub_components_from_private_key: ed25519_public_key,
        compute_digest,
    },
};

fn unsupported() -> Error {
    ErrorKind::UnsupportedAlgorithm.into()
}

fn refused() -> signature::Error {
    signature::Error::new()
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let expected = match algorithm {
        Algorithm::HS256 => AlgorithmFamily::Hmac,
        Algorithm::RS256 => AlgorithmFamily::Rsa,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => return Err(unsupported()),
    };
    if key.family() != expected {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(RingVerifier { algorithm: *algorithm, key: key.clone() }))
}

/// A public key (or an HMAC secret) and the one algorithm it verifies.
struct RingVerifier {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        match (self.algorithm, self.key.kind()) {
            (Algorithm::HS256, DecodingKeyKind::SecretOrDer(secret)) => {
                hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), msg, signature).map_err(|_| refused())
            }
            (Algorithm::RS256, DecodingKeyKind::SecretOrDer(der)) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(msg, signature).map_err(|_| refused())
            }
            (Algorithm::RS256, DecodingKeyKind::RsaModulusExponent { n, e }) => RsaPublicKeyComponents { n, e }
                .verify(&RSA_PKCS1_2048_8192_SHA256, msg, signature)
                .map_err(|_| refused()),
            (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(public)) => {
                UnparsedPublicKey::new(&ED25519, public).verify(msg, signature).map_err(|_| refused())
            }
            _ => Err(refused()),
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let signer = match (algorithm, key.family()) {
        (Algorithm::HS256, AlgorithmFamily::Hmac) => {
            RingSigner::Hmac(hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()))
        }
        (Algorithm::RS256, AlgorithmFamily::Rsa) => {
            RingSigner::Rsa(RsaKeyPair::from_der(key.as_bytes()).map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?)
        }
        (Algorithm::EdDSA, AlgorithmFamily::Ed) => RingSigner::Ed25519(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(key.as_bytes()).map_err(|_| ErrorKind::InvalidEddsaKey)?,
        ),
        (Algorithm::HS256 | Algorithm::RS256 | Algorithm::EdDSA, _) => return Err(ErrorKind::InvalidKeyFormat.into()),
        _ => return Err(unsupported()),
    };
    Ok(Box::new(signer))
}

enum RingSigner {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match self {
            RingSigner::Hmac(key) => Ok(hmac::sign(key, msg).as_ref().to_vec()),
            RingSigner::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rand::SystemRandom::new(), msg, &mut signature).map_err(|_| refused())?;
                Ok(signature)
            }
            RingSigner::Ed25519(pair) => Ok(pair.sign(msg).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        match self {
            RingSigner::Hmac(_) => Algorithm::HS256,
            RingSigner::Rsa(_) => Algorithm::RS256,
            RingSigner::Ed25519(_) => Algorithm::EdDSA,
        }
    }
}

fn ed25519_public_key(pkcs8: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>, Error> {
    use ring::signature::KeyPair;
    match curve {
        EllipticCurve::Ed25519 => Ok(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| ErrorKind::InvalidEddsaKey)?
            .public_key()
            .as_ref()
            .to_vec()),
        _ => Err(unsupported()),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>, Error> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(unsupported()),
    };
    Ok(digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, encode, Header, Validation};
    use serde_json::{json, Value as Json};

    fn claims() -> Json {
        json!({"sub": "reports", "exp": jsonwebtoken::get_current_timestamp() + 600})
    }

    #[test]
    fn hs256_and_ed25519_tokens_round_trip_and_a_changed_byte_is_refused() {
        install();
        let secret = b"0123456789abcdef0123456789abcdef";
        let token =
            encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(secret).unwrap()).unwrap();
        let key = DecodingKey::from_secret(secret).unwrap();
        let v = Validation::new(Algorithm::HS256);
        assert_eq!(decode::<Json>(&token, &key, &v).unwrap().claims["sub"], "reports");
        let other = DecodingKey::from_secret(b"another-secret-another-secret-32").unwrap();
        assert!(decode::<Json>(&token, &other, &v).is_err());

        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let token =
            encode(&Header::new(Algorithm::EdDSA), &claims(), &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        let key = DecodingKey::from_ed_der(ring::signature::KeyPair::public_key(&pair).as_ref());
        let v = Validation::new(Algorithm::EdDSA);
        assert!(decode::<Json>(&token, &key, &v).is_ok());
        let mut forged = token.into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(decode::<Json>(&forged, &key, &v).is_err());
    }

    #[test]
    fn other_algorithms_and_mismatched_keys_are_refused() {
        install();
        let key = DecodingKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
        assert!(new_verifier(&Algorithm::HS512, &key).is_err());
        assert!(new_verifier(&Algorithm::RS256, &key).is_err());
        assert!(new_verifier(&Algorithm::EdDSA, &key).is_err());
        assert!(new_signer(&Algorithm::ES256, &EncodingKey::from_secret(b"x").unwrap()).is_err());
    }
}
