//! tokio-postgres and pool errors as [`DbError`]s, keeping the SQLSTATE. A connection that could
//! not be opened names the server it was for ([`connect_failure`]); "lost" is said only of a
//! connection that was open ([`map_error`]).

use tokio_postgres::config::Host;
use tokio_postgres::Config;

use super::tls::SslMode;
use crate::db::{DbError, DbErrorKind};

/// SQLSTATE of a statement interrupted by a cancel request. Only a cancel procgate itself asked
/// for makes a call `Cancelled` (see `call::cancellable`); a `statement_timeout` or an
/// operator's `pg_cancel_backend` is an ordinary failure.
pub(super) const QUERY_CANCELED: &str = "57014";

/// An error on an open connection.
pub(super) fn map_error(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300") {
            DbErrorKind::Unavailable
        } else {
            DbErrorKind::Statement
        };
        return DbError::new(kind, code, server_message(db));
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return DbError::unavailable(format!("connection to PostgreSQL lost: {}", with_cause(&e)));
    }
    DbError::new(DbErrorKind::Statement, "driver_error", with_cause(&e))
}

/// The driver's text says which step failed ("error communicating with the server"); its
/// source says how (the OS error).
fn with_cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

fn server_message(db: &tokio_postgres::error::DbError) -> String {
    match db.detail() {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_string(),
    }
}

/// A pool that could not lend a connection: the connection's own error when one could not be
/// opened (see `connect::PgManager`), else the pool's (all connections in use for too long).
pub(super) fn map_pool_error(e: deadpool::managed::PoolError<DbError>) -> DbError {
    match e {
        deadpool::managed::PoolError::Backend(mut err) => {
            err.kind = DbErrorKind::Unavailable;
            err
        }
        other => DbError::unavailable(format!("no PostgreSQL connection available: {other}")),
    }
}

/// Where a connection goes, for messages: `host:port` for each host of the URL (never the user
/// or the password).
pub(super) fn addresses(config: &Config) -> String {
    let ports = config.get_ports();
    // One port for every host, or one each (tokio-postgres' rule); 5432 when none is given.
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let tcp = |host: &str, port: u16| {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    let names: Vec<String> = if config.get_hosts().is_empty() {
        config.get_hostaddrs().iter().enumerate().map(|(i, addr)| tcp(&addr.to_string(), port(i))).collect()
    } else {
        config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                Host::Tcp(name) => tcp(name, port(i)),
                #[cfg(unix)]
                Host::Unix(dir) => format!("socket {}", dir.join(format!(".s.PGSQL.{}", port(i))).display()),
            })
            .collect()
    };
    if names.is_empty() {
        "no host (DATABASE_URL names none)".to_string()
    } else {
        names.join(", ")
    }
}

/// A connection that could not be opened: which server, and why — the OS error, the TLS
/// handshake's, or the server's refusal (with its SQLSTATE as the code). Always `Unavailable`.
pub(super) fn connect_failure(addresses: &str, sslmode: SslMode, e: &tokio_postgres::Error) -> DbError {
    let code = e.as_db_error().map_or("database_unavailable", |db| db.code().code());
    let reason = connect_reason(sslmode, e);
    let message = if addresses.contains(", ") {
        // tokio-postgres tries each host in turn and reports the last one's error.
        format!("cannot connect to PostgreSQL at any of {addresses} (the last one: {reason})")
    } else {
        format!("cannot connect to PostgreSQL at {addresses}: {reason}")
    };
    DbError::new(DbErrorKind::Unavailable, code, message)
}

fn connect_reason(sslmode: SslMode, e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return server_message(db);
    }
    let Some(cause) = std::error::Error::source(e) else { return e.to_string() };
    match e.to_string().as_str() {
        "error connecting to server" => cause.to_string(),
        "error performing TLS handshake" => format!("TLS handshake failed (sslmode={sslmode}): {cause}"),
        _ => with_cause(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::postgres::Endpoint;

    fn addresses_of(url: &str) -> String {
        addresses(&url.parse().unwrap())
    }

    #[test]
    fn addresses_name_each_host_and_port_and_never_the_credentials() {
        assert_eq!(addresses_of("postgres://u:secret@127.0.0.1:5999/db"), "127.0.0.1:5999");
        assert_eq!(addresses_of("postgres://u@db.example.com/db"), "db.example.com:5432");
        assert_eq!(addresses_of("postgres://u@[::1]:6000/db"), "[::1]:6000");
        assert_eq!(addresses_of("postgres://u@a:1,b:2/db"), "a:1, b:2");
        assert_eq!(
            addresses_of("postgres://u@%2Fvar%2Frun%2Fpostgresql/db"),
            "socket /var/run/postgresql/.s.PGSQL.5432"
        );
    }

    /// A loopback port nothing listens on.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_server_and_the_os_error() {
        let port = closed_port();
        let endpoint = Endpoint::from_url(&format!("postgres://u:secret@127.0.0.1:{port}/db")).unwrap();
        let err = endpoint.open().await.err().unwrap();
        assert_eq!((err.kind, err.code.as_str()), (DbErrorKind::Unavailable, "database_unavailable"));
        let expected = format!("cannot connect to PostgreSQL at 127.0.0.1:{port}: ");
        assert!(err.message.starts_with(&expected) && err.message.contains("(os error"), "{}", err.message);
        assert!(!err.message.contains("lost") && !err.message.contains("secret"), "{}", err.message);
        // With several hosts, every one is named and the last error given.
        let url = format!("postgres://u@127.0.0.1:{port},127.0.0.1:{port}/db");
        let err = Endpoint::from_url(&url).unwrap().open().await.err().unwrap();
        assert!(err.message.starts_with("cannot connect to PostgreSQL at any of 127.0.0.1:"), "{}", err.message);
        assert!(err.message.contains("(the last one: ") && err.message.contains("os error"), "{}", err.message);
    }

    #[tokio::test]
    async fn a_server_without_tls_is_named_when_tls_is_required() {
        // A server that answers the TLS request with "no", as PostgreSQL with ssl=off does.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            socket.read_exact(&mut request).await.unwrap();
            socket.write_all(b"N").await.unwrap();
        });
        let endpoint = Endpoint::from_url(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=require")).unwrap();
        let err = endpoint.open().await.err().unwrap();
        assert_eq!(
            err.message,
            format!(
                "cannot connect to PostgreSQL at 127.0.0.1:{port}: TLS handshake failed (sslmode=require): \
                 server does not support TLS"
            )
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_connection_that_was_open_is_said_to_be_lost() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A server that lets the client in (trust, no TLS), then goes away.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let len = socket.read_u32().await.unwrap() as usize;
            let mut startup = vec![0u8; len - 4];
            socket.read_exact(&mut startup).await.unwrap();
            // AuthenticationOk, ReadyForQuery (idle); then the socket is closed.
            socket.write_all(b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I").await.unwrap();
        });
        let endpoint = Endpoint::from_url(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable")).unwrap();
        let (client, connection) = endpoint.open().await.expect("the fake server lets the client in");
        tokio::spawn(connection);
        server.await.unwrap();
        let Err(err) = client.simple_query("SELECT 1").await else { panic!("the server is gone") };
        let err = map_error(err);
        assert_eq!((err.kind, err.code.as_str()), (DbErrorKind::Unavailable, "database_unavailable"));
        assert!(err.message.starts_with("connection to PostgreSQL lost: "), "{}", err.message);
    }

    #[test]
    fn a_bad_url_or_root_file_is_refused_before_connecting() {
        let err = Endpoint::from_url("postgres://h/db?sslmode=verify").err().unwrap().to_string();
        assert!(err.contains("DATABASE_URL") && err.contains("\"verify\""), "{err}");
        let err = Endpoint::from_url("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem").err().unwrap();
        assert!(err.to_string().contains("sslrootcert=/nonexistent.pem"), "{err}");
        let err = Endpoint::from_url("postgres://h/db?sslcert=client.pem").err().unwrap().to_string();
        assert!(err.contains("DATABASE_URL") && err.contains("sslcert"), "{err}");
    }
}
