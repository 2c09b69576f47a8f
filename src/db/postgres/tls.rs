//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, read from `DATABASE_URL`, and the
//! rustls connector that every connection procgate opens goes through.
//!
//! tokio-postgres parses `sslmode` as disable/prefer/require only, and rejects `sslrootcert`, so
//! both are taken out of the URL here ([`split_url`]), tokio-postgres is told whether TLS is off,
//! wanted or required, and the certificate checks of `verify-ca`/`verify-full` are the
//! connector's (its certificate verifier, [`connector`]). The modes mean what they mean to libpq:
//!
//! | `sslmode` | TLS | server certificate |
//! | --- | --- | --- |
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | not checked |
//! | `require` | always | not checked (with `sslrootcert=<file>`: as `verify-ca`) |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA, and issued for the host name |
//!
//! The trusted CAs are the certificates of `sslrootcert=<PEM file>`, else the Mozilla roots
//! compiled in (webpki-roots, as reqwest's webhook client uses), which `sslrootcert=system`
//! also names. The handshake's signatures are verified in every mode: "not checked" only skips
//! the question of who issued the certificate.

use std::fmt;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, less `allow` (plain first, TLS only if refused), which tokio-postgres
/// cannot do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            "allow" => return Err("sslmode=allow is not supported: use prefer, or disable".into()),
            other => {
                return Err(format!("sslmode={other:?} is not one of disable, prefer, require, verify-ca, verify-full"))
            }
        })
    }

    /// What tokio-postgres is told: whether TLS is off, wanted or required.
    pub(super) fn for_driver(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Which CAs a `verify-*` mode trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RootCerts {
    /// The roots compiled in (`sslrootcert=system`, or no `sslrootcert`).
    Builtin,
    /// The certificates of a PEM file (`sslrootcert=<path>`).
    File(String),
}

/// The TLS part of `DATABASE_URL`, as libpq would understand it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsOptions {
    pub mode: SslMode,
    pub roots: RootCerts,
}

/// Splits `sslmode` and `sslrootcert` off a `postgres://` URL: the URL tokio-postgres may parse
/// (every other part kept byte for byte), and the TLS options they give, with libpq's defaults
/// (`prefer`; `require` with a root file is `verify-ca`; `sslrootcert=system` is `verify-full`
/// and refuses weaker modes).
pub(super) fn split_url(url: &str) -> Result<(String, TlsOptions), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let (mut mode, mut root_cert) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        match decode(key).as_str() {
            "sslmode" => mode = Some(SslMode::parse(&decode(value))?),
            "sslrootcert" => root_cert = Some(decode(value)),
            _ => kept.push(pair),
        }
    }
    let system = root_cert.as_deref() == Some("system");
    let mode = match (mode, root_cert.as_deref()) {
        (None, Some("system")) => SslMode::VerifyFull,
        (Some(m), Some("system")) if m != SslMode::VerifyFull => {
            return Err(format!("sslmode={m} is too weak for sslrootcert=system: use sslmode=verify-full"))
        }
        (Some(SslMode::Require), Some(_)) => SslMode::VerifyCa,
        (Some(m), _) => m,
        (None, _) => SslMode::Prefer,
    };
    let roots = match root_cert {
        Some(path) if !system && !path.is_empty() => RootCerts::File(path),
        _ => RootCerts::Builtin,
    };
    let url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, TlsOptions { mode, roots }))
}

/// The connector for these options (the root file, if any, is read here, once).
pub(super) fn connector(options: &TlsOptions) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match options.mode {
        SslMode::Disable | SslMode::Prefer | SslMode::Require => Arc::new(NoIssuerCheck { provider: provider.clone() }),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(root_store(&options.roots)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("cannot use the trusted certificates: {e}"))?;
            if options.mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(AnyHostName { inner: webpki })
            }
        }
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // As libpq 17 does: PostgreSQL 17 refuses a TLS connection that names another protocol,
    // and needs this one for `sslnegotiation=direct`; older servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(roots: &RootCerts) -> Result<RootCertStore, String> {
    let path = match roots {
        RootCerts::Builtin => return Ok(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }),
        RootCerts::File(path) => path,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslrootcert={path}: cannot read its certificates: {e}"))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("sslrootcert={path}: no usable certificate in it (a PEM file is expected)"));
    }
    Ok(store)
}

/// `prefer`/`require`: any certificate is accepted, as libpq does in these modes; the handshake
/// signatures are still verified (the server holds the key of the certificate it sent).
#[derive(Debug)]
struct NoIssuerCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoIssuerCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full check but for the host name. webpki checks the chain (and revocation)
/// before the name, so a name mismatch is only ever reported for a certificate whose chain passed.
#[derive(Debug)]
struct AnyHostName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, SslMode, RootCerts) {
        let (url, o) = split_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (url, o.mode, o.roots)
    }

    #[test]
    fn without_tls_options_the_url_is_untouched_and_the_mode_is_prefer() {
        for url in ["postgres://u:p@h:5432/db", "postgres://u@h/db?application_name=x&connect_timeout=5"] {
            assert_eq!(split(url), (url.to_string(), SslMode::Prefer, RootCerts::Builtin));
        }
    }

    #[test]
    fn tls_options_are_taken_out_and_the_rest_kept_byte_for_byte() {
        let (url, mode, roots) = split(
            "postgres://u:p%3Fw@db.example.com:6543/app?options=-c%20search_path%3Dx&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca%20bundle.pem&application_name=a+b",
        );
        assert_eq!(url, "postgres://u:p%3Fw@db.example.com:6543/app?options=-c%20search_path%3Dx&application_name=a+b");
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(roots, RootCerts::File("/etc/ca bundle.pem".into()));
        // The last value wins, as in tokio-postgres; nothing is left of a query holding only them.
        assert_eq!(split("postgres://h/db?sslmode=disable&sslmode=require").0, "postgres://h/db");
        assert_eq!(split("postgres://h/db?sslmode=disable&sslmode=require").1, SslMode::Require);
    }

    #[test]
    fn every_libpq_mode_is_read_and_the_driver_told_whether_tls_is_required() {
        use tokio_postgres::config::SslMode as Driver;
        for (text, mode, driver) in [
            ("disable", SslMode::Disable, Driver::Disable),
            ("prefer", SslMode::Prefer, Driver::Prefer),
            ("require", SslMode::Require, Driver::Require),
            ("verify-ca", SslMode::VerifyCa, Driver::Require),
            ("verify-full", SslMode::VerifyFull, Driver::Require),
        ] {
            assert_eq!(split(&format!("postgres://h/db?sslmode={text}")).1, mode);
            assert_eq!(mode.for_driver(), driver);
            assert_eq!(mode.to_string(), text);
        }
    }

    #[test]
    fn root_certificates_follow_libpq() {
        // A root file makes `require` check the chain; `system` means the built-in roots and
        // implies verify-full.
        assert_eq!(split("postgres://h/db?sslmode=require&sslrootcert=ca.pem").1, SslMode::VerifyCa);
        assert_eq!(split("postgres://h/db?sslrootcert=ca.pem").1, SslMode::Prefer);
        assert_eq!(split("postgres://h/db?sslrootcert=system").1, SslMode::VerifyFull);
        assert_eq!(split("postgres://h/db?sslrootcert=system").2, RootCerts::Builtin);
        assert_eq!(split("postgres://h/db?sslmode=verify-full&sslrootcert=system").1, SslMode::VerifyFull);
    }

    #[test]
    fn unknown_or_unsupported_modes_are_refused_by_name() {
        let err = split_url("postgres://h/db?sslmode=verify_full").unwrap_err();
        assert!(err.contains("\"verify_full\"") && err.contains("verify-full"), "{err}");
        let err = split_url("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(err.contains("sslmode=allow"), "{err}");
        let err = split_url("postgres://h/db?sslmode=require&sslrootcert=system").unwrap_err();
        assert!(err.contains("sslrootcert=system") && err.contains("verify-full"), "{err}");
    }

    #[test]
    fn a_root_file_that_cannot_be_used_is_named() {
        let verify = |roots| TlsOptions { mode: SslMode::VerifyFull, roots };
        let err = connector(&verify(RootCerts::File("/nonexistent/ca.pem".into()))).err().unwrap();
        assert!(err.contains("sslrootcert=/nonexistent/ca.pem"), "{err}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let path = empty.path().to_str().unwrap().to_string();
        let err = connector(&verify(RootCerts::File(path.clone()))).err().unwrap();
        assert!(err.contains(&path) && err.contains("no usable certificate"), "{err}");
        assert!(connector(&verify(RootCerts::Builtin)).is_ok());
        assert!(connector(&TlsOptions { mode: SslMode::Require, roots: RootCerts::Builtin }).is_ok());
    }
}
