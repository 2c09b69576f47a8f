//! Oracle (`ORA-nnnnn`) and ODPI-C (`DPI-nnnn`) errors as [`DbError`]s, the code kept as the
//! job error's code and the rest of Oracle's text as its message.

use crate::db::{DbError, DbErrorKind};

use super::url::ConnectSettings;

/// `ORA-01013: user requested cancel of current operation`: the answer to `break_execution`.
/// Only a break procgate itself sent makes a call `Cancelled` (see `call::execute`).
pub(super) const USER_CANCEL: &str = "ORA-01013";

/// Codes that mean the connection or the database is gone, not that the statement failed.
const UNAVAILABLE: &[&str] = &[
    "ORA-00028", // your session has been killed
    "ORA-01012", // not logged on
    "ORA-01033", // ORACLE initialization or shutdown in progress
    "ORA-01034", // ORACLE not available
    "ORA-01089", // immediate shutdown or close in progress
    "ORA-01090", // shutdown in progress
    "ORA-02396", // exceeded maximum idle time
    "ORA-03113", // end-of-file on communication channel
    "ORA-03114", // not connected to ORACLE
    "ORA-03135", // connection lost contact
    "ORA-03156", // OCI call timed out
    "ORA-12153", // TNS:not connected
    "ORA-12154", // TNS:could not resolve the connect identifier
    "ORA-12170", // TNS:Connect timeout occurred
    "ORA-12505", // TNS:listener does not currently know of SID
    "ORA-12514", // TNS:listener does not currently know of service
    "ORA-12516", // TNS:listener could not find available handler
    "ORA-12518", // TNS:listener could not hand off client connection
    "ORA-12519", // TNS:no appropriate service handler found
    "ORA-12520", // TNS:listener could not find available handler for requested type of server
    "ORA-12521", // TNS:listener does not currently know of instance
    "ORA-12526", // TNS:listener: all appropriate instances are in restricted mode
    "ORA-12528", // TNS:listener: all appropriate instances are blocking new connections
    "ORA-12537", // TNS:connection closed
    "ORA-12541", // TNS:no listener
    "ORA-12543", // TNS:destination host unreachable
    "ORA-12545", // Connect failed because target host or object does not exist
    "ORA-12547", // TNS:lost contact
    "ORA-12570", // TNS:packet reader failure
    "ORA-12571", // TNS:packet writer failure
    "ORA-24418", // Cannot open further sessions
    "ORA-24457", // OCISessionGet() could not find a free session in the specified timeout
    "ORA-24496", // OCISessionGet() timed out waiting for a free connection
    "ORA-25408", // can not safely replay call
    "DPI-1010",  // not connected
    "DPI-1047",  // Cannot locate a 64-bit Oracle Client library
    "DPI-1050",  // Oracle Client library is at version %d.%d but version %d.%d or higher is needed
    "DPI-1072",  // the Oracle Client library version is unsupported
    "DPI-1080",  // connection was closed by ORA-%d
    "DPI-4011",  // the database or network closed the connection
];

/// The Oracle Client library could not be loaded: no call can ever work until it is installed.
const CLIENT_MISSING: &[&str] = &["DPI-1047", "DPI-1050", "DPI-1072"];

/// `ORA-20001: text` → (`ORA-20001`, `text`); `None` when the message has no such prefix.
pub(super) fn split_code(message: &str) -> Option<(&str, &str)> {
    let (code, rest) = message.split_once(':')?;
    let (prefix, digits) = code.split_once('-')?;
    let known = matches!(prefix, "ORA" | "DPI" | "PLS" | "TNS" | "OCI");
    if !known || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code, rest.trim_start()))
}

/// The kind of an error with this code.
pub(super) fn kind_of(code: &str) -> DbErrorKind {
    if UNAVAILABLE.contains(&code) {
        DbErrorKind::Unavailable
    } else {
        DbErrorKind::Statement
    }
}

/// An error from its code and Oracle's full text (which repeats the code in front).
pub(super) fn from_message(code: Option<String>, text: &str) -> DbError {
    let text = text.trim_end();
    let (code, message) = match split_code(text) {
        Some((c, rest)) => (c.to_string(), rest.to_string()),
        None => (code.unwrap_or_else(|| "driver_error".into()), text.to_string()),
    };
    DbError::new(kind_of(&code), code, message)
}

pub(super) fn map_error(e: &oracle::Error) -> DbError {
    if let Some(db) = e.db_error() {
        let code = if let Some(n) = e.oci_code() {
            Some(format!("ORA-{n:05}"))
        } else {
            e.dpi_code().map(|n| format!("DPI-{n:04}"))
        };
        return from_message(code, db.message());
    }
    DbError::new(DbErrorKind::Statement, "driver_error", e.to_string())
}

/// Taking a connection from the pool failed: always `Unavailable`, the code kept.
pub(super) fn map_pool_error(e: &oracle::Error) -> DbError {
    let mut err = map_error(e);
    err.kind = DbErrorKind::Unavailable;
    err
}

/// The startup message when the pool cannot be created: names the problem and the fix.
pub(super) fn connect_failure(err: &DbError, settings: &ConnectSettings) -> String {
    if CLIENT_MISSING.contains(&err.code.as_str()) {
        format!(
            "the Oracle Client library could not be loaded ({}: {}). Install Oracle Instant Client 18.1 or \
             later (Basic or Basic Light) and set LD_LIBRARY_PATH to its directory, or register it with \
             ldconfig; see the Oracle guide linked from the README, docs/oracle.md",
            err.code, err.message
        )
    } else {
        format!(
            "cannot connect to Oracle at {} as {}: {}: {} (check DATABASE_URL or ORACLE_HOST/ORACLE_PORT/\
             ORACLE_SERVICE, the listener, and the user's password)",
            settings.connect_string, settings.username, err.code, err.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kept_and_split_from_the_text() {
        let e = from_message(
            Some("ORA-20001".into()),
            "ORA-20001: Error intencional de prueba\nORA-06512: at \"APP.PROC_TEST_ERROR\", line 4\nORA-06512: at line 1\n",
        );
        assert_eq!(e.code, "ORA-20001");
        assert_eq!(e.kind, DbErrorKind::Statement);
        assert!(e.message.starts_with("Error intencional de prueba\nORA-06512: at \"APP.PROC_TEST_ERROR\""));
        assert_eq!(e.to_job_error().code, "ORA-20001");

        let e = from_message(Some("DPI-1047".into()), "DPI-1047: Cannot locate a 64-bit Oracle Client library");
        assert_eq!((e.code.as_str(), e.kind), ("DPI-1047", DbErrorKind::Unavailable));
        assert_eq!(e.message, "Cannot locate a 64-bit Oracle Client library");

        // No recognisable prefix: the driver's code, the whole text.
        let e = from_message(None, "something odd: happened");
        assert_eq!((e.code.as_str(), e.message.as_str()), ("driver_error", "something odd: happened"));
        let e = from_message(Some("ORA-01403".into()), "no data found");
        assert_eq!(e.code, "ORA-01403");
    }

    #[test]
    fn connection_loss_is_unavailable() {
        for code in [
            "ORA-03113",
            "ORA-03114",
            "ORA-03135",
            "ORA-12541",
            "ORA-12514",
            "ORA-12170",
            "ORA-01033",
            "ORA-01034",
            "ORA-01089",
            "DPI-1010",
            "DPI-1080",
            "DPI-1047",
        ] {
            assert_eq!(kind_of(code), DbErrorKind::Unavailable, "{code}");
        }
        for code in ["ORA-20001", "ORA-06550", "ORA-01013", "ORA-00001", "ORA-06502", "DPI-1067", "driver_error"] {
            assert_eq!(kind_of(code), DbErrorKind::Statement, "{code}");
        }
    }

    #[test]
    fn split_code_only_takes_real_codes() {
        assert_eq!(
            split_code("ORA-00942: table or view does not exist"),
            Some(("ORA-00942", "table or view does not exist"))
        );
        assert_eq!(split_code("PLS-00306: wrong number"), Some(("PLS-00306", "wrong number")));
        assert_eq!(split_code("ORA-: x"), None);
        assert_eq!(split_code("XYZ-1: x"), None);
        assert_eq!(split_code("hello"), None);
    }

    #[test]
    fn startup_messages_name_the_fix() {
        let settings = ConnectSettings {
            username: "scott".into(),
            password: "tiger".into(),
            connect_string: "//127.0.0.1:1/FREEPDB1".into(),
        };
        let missing = from_message(None, "DPI-1047: Cannot locate a 64-bit Oracle Client library: \"libclntsh.so\"");
        let m = connect_failure(&missing, &settings);
        assert!(m.contains("Instant Client") && m.contains("LD_LIBRARY_PATH") && m.contains("DPI-1047"), "{m}");
        let refused = from_message(None, "ORA-12541: TNS:no listener");
        let m = connect_failure(&refused, &settings);
        assert!(m.contains("cannot connect to Oracle at //127.0.0.1:1/FREEPDB1") && m.contains("ORA-12541"), "{m}");
        assert!(!m.contains("tiger"));
    }

    #[test]
    #[allow(deprecated)]
    fn driver_errors_map() {
        let e = oracle::Error::new(oracle::ErrorKind::InvalidTypeConversion, "invalid type conversion");
        let d = map_error(&e);
        assert_eq!((d.code.as_str(), d.kind), ("driver_error", DbErrorKind::Statement));
        let pool = map_pool_error(&e);
        assert_eq!(pool.kind, DbErrorKind::Unavailable);
    }
}
