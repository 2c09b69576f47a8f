//! A call's `DBMS_OUTPUT` lines, on the session the call ran on:
//! - enabled in the call's own block: `block.rs` puts [`ENABLE_OUTPUT`] in front of the call.
//!   `DISABLE` first empties the buffer of whatever an earlier user of this pooled session left
//!   in it; `ENABLE(NULL)` sets no size limit (so a chatty procedure never fails with ORU-10027).
//! - read after the call, whether it succeeded or failed (the buffer is package state, not
//!   transactional: lines written before an error stay), with `DBMS_OUTPUT.GET_LINES` into a
//!   `SYS.DBMSOUTPUT_LINESARRAY` — a SQL VARRAY type, so the `oracle` crate binds it as an OUT
//!   object and reads it back as a `Collection` (the PL/SQL `CHARARR` overload is an index-by
//!   table, which the crate cannot bind). At most [`LINES_PER_ROUND_TRIP`] lines per round trip.
//! - disabled again, which also drops any lines past procgate's limit, so the next user of the
//!   session starts clean.

use oracle::sql_type::{Collection, OracleType};
use oracle::Connection;

use crate::db::output::OutputLines;
use crate::db::DbError;

use super::error::map_error;
use super::store::statement;

/// Prepended to the call's block when the request asks for output.
pub(super) const ENABLE_OUTPUT: &str = "DBMS_OUTPUT.DISABLE; DBMS_OUTPUT.ENABLE(NULL);";
/// Reads the session's DBMS_OUTPUT lines.
pub(super) const READ_LINES_SQL: &str = statement(include_str!("../../../sql/oracle/queries/read_lines.sql"));
/// Turns DBMS_OUTPUT off.
pub(super) const DISABLE_OUTPUT_SQL: &str = statement(include_str!("../../../sql/oracle/queries/disable_output.sql"));
const LINES_TYPE: &str = "SYS.DBMSOUTPUT_LINESARRAY";
const LINES_PER_ROUND_TRIP: i64 = 1000;

/// What was read from the session's buffer.
pub(super) struct Collected {
    pub lines: Vec<String>,
    /// Read to the end (or to procgate's limit) and disabled. When not, the session must leave
    /// the pool: a later call on it could see these lines.
    pub clean: bool,
}

/// Reads the lines the call wrote, then disables the buffer.
pub(super) fn collect(conn: &Connection) -> Collected {
    let mut lines = OutputLines::default();
    let read = read_into(conn, &mut lines);
    if let Err(e) = &read {
        tracing::warn!(error = %e, "could not read the call's DBMS_OUTPUT lines; keeping those read so far");
    }
    let disabled = conn.execute(DISABLE_OUTPUT_SQL, &[]).map_err(|e| map_error(&e));
    if let Err(e) = &disabled {
        tracing::warn!(error = %e, "could not disable DBMS_OUTPUT after a call");
    }
    Collected { lines: lines.into_lines(), clean: read.is_ok() && disabled.is_ok() }
}

fn read_into(conn: &Connection, lines: &mut OutputLines) -> Result<(), DbError> {
    let db = |e: oracle::Error| map_error(&e);
    let lines_type = conn.object_type(LINES_TYPE).map_err(db)?;
    loop {
        let mut stmt = conn.statement(READ_LINES_SQL).build().map_err(db)?;
        stmt.execute_named(&[("lines", &OracleType::Object(lines_type.clone())), ("numlines", &LINES_PER_ROUND_TRIP)])
            .map_err(db)?;
        let returned: i64 = stmt.bind_value("numlines").map_err(db)?;
        if let Some(chunk) = stmt.bind_value::<&str, Option<Collection>>("lines").map_err(db)? {
            for line in chunk.values::<Option<String>>() {
                // PUT_LINE(NULL) and PUT_LINE('') read back as NULL: an empty line.
                lines.push(line.map_err(db)?.unwrap_or_default());
            }
        }
        if returned < LINES_PER_ROUND_TRIP || lines.is_truncated() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements() {
        assert_eq!(ENABLE_OUTPUT, "DBMS_OUTPUT.DISABLE; DBMS_OUTPUT.ENABLE(NULL);");
        assert_eq!(READ_LINES_SQL, "BEGIN DBMS_OUTPUT.GET_LINES(:lines, :numlines); END;");
        assert_eq!(DISABLE_OUTPUT_SQL, "BEGIN DBMS_OUTPUT.DISABLE; END;");
        assert_eq!(LINES_TYPE, "SYS.DBMSOUTPUT_LINESARRAY");
    }
}
