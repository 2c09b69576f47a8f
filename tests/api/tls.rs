//! TLS to PostgreSQL and connection failures, on private clusters of their own (not the shared
//! one): a server with `ssl=on`, a certificate signed by a CA this file makes with `openssl`
//! (issued for `localhost` only), and a pg_hba.conf that refuses TCP clients without TLS; and a
//! plain server stopped under a running gateway. Not in the contract suite: `sslmode` and these
//! messages are PostgreSQL's.

use std::path::Path;
use std::process::{Command, Stdio};

use procgate::db::postgres::Endpoint;
use procgate::db::{ConnectOptions, Database, DbErrorKind};
use procgate::pgcluster::{create_demo_database, ClusterOptions, PgCluster};
use procgate::startup::Application;
use tokio::sync::OnceCell;

use crate::helpers::*;

const DB: &str = "tls";

/// The shared TLS server: its port and the PEM of the CA that signed its certificate.
struct TlsServer {
    port: u16,
    ca_pem: String,
    _cluster: PgCluster,
}

/// Started once for this file's tests: the database is loaded before TLS is turned on (the
/// loader speaks plain TCP), then the server restarts with TLS only.
async fn tls_server() -> &'static TlsServer {
    static SERVER: OnceCell<TlsServer> = OnceCell::const_new();
    SERVER
        .get_or_init(|| async {
            let cluster =
                tokio::task::spawn_blocking(|| PgCluster::start(ClusterOptions { fsync: false, max_connections: 100 }))
                    .await
                    .unwrap()
                    .expect("a private cluster for the TLS tests");
            create_demo_database(&cluster, DB).await.expect("load the test database");
            let certs = tempfile::tempdir().unwrap();
            make_certificates(certs.path());
            cluster
                .enable_tls(&certs.path().join("server.crt"), &certs.path().join("server.key"), true)
                .expect("restart the cluster with TLS");
            let ca_pem = std::fs::read_to_string(certs.path().join("ca.crt")).unwrap();
            TlsServer { port: cluster.port(), ca_pem, _cluster: cluster }
        })
        .await
}

/// A CA, and a server certificate it signs for `localhost` (no IP address), with openssl.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out =
            Command::new("openssl").args(args).current_dir(dir).stdin(Stdio::null()).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=procgate test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
    );
    openssl(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
}

impl TlsServer {
    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/{DB}?{query}", self.port)
    }

    /// The test CA in a file of its own, for `sslrootcert` (removed when dropped).
    fn ca_file(&self) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &self.ca_pem).unwrap();
        file
    }

    /// A verified connection for the tests' own questions.
    async fn admin(&self) -> tokio_postgres::Client {
        let ca = self.ca_file();
        let url = self.url("localhost", &format!("sslmode=verify-full&sslrootcert={}", ca.path().display()));
        let (client, connection) = Endpoint::from_url(&url).unwrap().open().await.expect("a verified TLS connection");
        tokio::spawn(connection);
        client
    }
}

/// Why opening a connection to `url` failed.
async fn open_error(url: &str) -> procgate::db::DbError {
    let endpoint = Endpoint::from_url(url).expect("a valid URL");
    match endpoint.open().await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn sslmode_require_runs_a_job_over_encrypted_sessions() {
    let server = tls_server().await;
    let mut app =
        App::spawn(settings(&server.url("127.0.0.1", "sslmode=require"), &[("INSTANCE_ID", "tls-require")])).await;
    let id = app.submit(&proc_test("over tls")).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(app.client.get(app.url("/ready")).send().await.unwrap().status(), 200);

    // Every session of this gateway (pools and LISTEN) is encrypted, as the server sees it.
    let row = server
        .admin()
        .await
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
              WHERE a.application_name = 'procgate:tls-require'",
            &[],
        )
        .await
        .unwrap();
    let (sessions, encrypted): (i64, i64) = (row.get(0), row.get(1));
    assert!(sessions >= 2, "the gateway's sessions were not found ({sessions})");
    assert_eq!(encrypted, sessions, "a session of the gateway is not encrypted");
    app.stop().await;
}

#[tokio::test]
async fn verify_full_and_verify_ca_connect_with_the_servers_ca() {
    let server = tls_server().await;
    let ca = server.ca_file();
    let ca = ca.path().display();
    // verify-full: the certificate is signed by the CA and issued for localhost.
    let url = server.url("localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let db = Database::connect(&url, &ConnectOptions::new("tls-verify", 1)).await.expect("verify-full connects");
    db.store.ping().await.expect("a query over the verified connection");
    // verify-ca checks the signature only: 127.0.0.1 is not a name of the certificate.
    let url = server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"));
    let (client, connection) = Endpoint::from_url(&url).unwrap().open().await.expect("verify-ca connects");
    tokio::spawn(connection);
    let ssl: bool =
        client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0);
    assert!(ssl);
}

#[tokio::test]
async fn verify_full_refuses_an_unknown_ca_or_another_host_name() {
    let server = tls_server().await;
    let port = server.port;
    // Without sslrootcert the built-in roots are trusted, and they did not sign the test CA.
    let err = open_error(&server.url("localhost", "sslmode=verify-full")).await;
    assert_eq!(err.kind, DbErrorKind::Unavailable);
    assert!(
        err.message.starts_with(&format!(
            "cannot connect to PostgreSQL at localhost:{port}: TLS handshake failed (sslmode=verify-full): "
        )) && err.message.contains("UnknownIssuer"),
        "{}",
        err.message
    );
    // The right CA, but the certificate is not for 127.0.0.1.
    let ca = server.ca_file();
    let err =
        open_error(&server.url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={}", ca.path().display()))).await;
    assert!(
        err.message.starts_with(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}: TLS handshake failed"))
            && err.message.contains("not valid for name"),
        "{}",
        err.message
    );
    // A gateway does not start on it, and says why.
    let url = server.url("localhost", "sslmode=verify-full");
    let Err(e) = Application::build(settings(&url, &[])).await else { panic!("the gateway started") };
    let message = format!("{e:#}");
    assert!(message.contains(&format!("cannot connect to PostgreSQL at localhost:{port}")), "{message}");
    assert!(message.contains("UnknownIssuer"), "{message}");
}

#[tokio::test]
async fn sslmode_disable_is_refused_by_a_tls_only_server() {
    let server = tls_server().await;
    let err = open_error(&server.url("127.0.0.1", "sslmode=disable")).await;
    // The server's own refusal, with its SQLSTATE (invalid_authorization_specification).
    assert_eq!((err.kind, err.code.as_str()), (DbErrorKind::Unavailable, "28000"));
    let expected = format!("cannot connect to PostgreSQL at 127.0.0.1:{}: no pg_hba.conf entry", server.port);
    assert!(err.message.starts_with(&expected) && err.message.contains("no encryption"), "{}", err.message);
}

#[tokio::test]
async fn a_stopped_server_is_named_by_ready_and_not_called_lost() {
    let mut cluster =
        tokio::task::spawn_blocking(|| PgCluster::start(ClusterOptions { fsync: false, max_connections: 50 }))
            .await
            .unwrap()
            .expect("a private cluster for this test");
    let url = create_demo_database(&cluster, "gone").await.unwrap();
    let mut app = App::spawn(settings(&url, &[("SHUTDOWN_GRACE", "1s")])).await;
    assert_eq!(app.client.get(app.url("/ready")).send().await.unwrap().status(), 200);
    let port = cluster.port();
    tokio::task::spawn_blocking(move || cluster.stop()).await.unwrap();

    // The pooled connections die with the server; the next one cannot be opened, and says where.
    let message = eventually("/ready to name the server it cannot reach", || async {
        let resp = app.client.get(app.url("/ready")).send().await.unwrap();
        let err = error_code(resp, 503).await;
        assert_eq!(err["code"], "database_unavailable");
        let message = err["message"].as_str().unwrap().to_string();
        message.contains("cannot connect").then_some(message)
    })
    .await;
    assert!(message.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{port}: ")), "{message}");
    assert!(message.contains("os error") && !message.contains("lost"), "{message}");
    app.stop().await;
}
