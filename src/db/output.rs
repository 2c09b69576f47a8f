//! What a call returns through [`super::ProcedureBackend::call`]: its OUT values and, when the
//! request asked for it (`capture_output`), the lines the procedure wrote as it ran — Oracle's
//! `DBMS_OUTPUT`, PostgreSQL's `RAISE NOTICE`/`INFO`/`WARNING` messages. A failed call keeps
//! the lines written before its error.
//!
//! Both backends collect lines through [`OutputLines`], so the limits are the same everywhere.

use super::{DbError, OutValues};

/// Most lines kept from one call.
pub const MAX_OUTPUT_LINES: usize = 10_000;
/// Most bytes of text kept from one call (the lines' lengths added up).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// The last line of an output that went past a limit.
pub const TRUNCATED_LINE: &str = "[procgate: output truncated; later lines were not kept]";

/// How large a call's result may be (`MAX_RESULT_BYTES`, `MAX_CURSOR_ROWS`): a call past either
/// fails with code `result_too_large` (a job's effects are rolled back with it), so one call
/// can never hold the gateway's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultLimits {
    /// Most bytes of the OUT values as JSON, cursor rows included.
    pub max_bytes: usize,
    /// Most rows read from each cursor.
    pub max_cursor_rows: usize,
}

impl Default for ResultLimits {
    fn default() -> Self {
        Self { max_bytes: 16 * 1024 * 1024, max_cursor_rows: 100_000 }
    }
}

/// SQLSTATE-like code of a result past [`ResultLimits`].
pub const RESULT_TOO_LARGE: &str = "result_too_large";

impl ResultLimits {
    pub fn too_many_rows(&self, cursor: &str) -> DbError {
        DbError::statement(
            RESULT_TOO_LARGE,
            format!("cursor {cursor} returned more than {} rows (MAX_CURSOR_ROWS)", self.max_cursor_rows),
        )
    }

    pub fn too_many_bytes(&self) -> DbError {
        DbError::statement(
            RESULT_TOO_LARGE,
            format!("the call's result is larger than {} bytes (MAX_RESULT_BYTES)", self.max_bytes),
        )
    }

    /// Checks a whole result: its size as JSON and each cursor's row count.
    pub fn check(&self, values: &OutValues) -> Result<(), DbError> {
        for (name, value) in values {
            if let serde_json::Value::Array(rows) = value {
                if rows.len() > self.max_cursor_rows {
                    return Err(self.too_many_rows(name));
                }
            }
        }
        let mut counter = ByteCounter(0);
        let _ = serde_json::to_writer(&mut counter, values);
        if counter.0 > self.max_bytes {
            return Err(self.too_many_bytes());
        }
        Ok(())
    }
}

/// Counts the bytes written through it, keeping none.
pub struct ByteCounter(pub usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A call that ran to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    pub values: OutValues,
    /// The captured lines, in the order written; `None` when the request did not ask for them.
    pub output: Option<Vec<String>>,
    /// How long the call waited for a free connection before it started.
    pub waited: std::time::Duration,
}

/// How a job's attempt ended when its call succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum JobCall {
    /// The call's effects and the job's completion (its OUT values and lines) are committed,
    /// together.
    Completed,
    /// The job was no longer this attempt's when the call ended (rescued, or taken over): the
    /// call's effects were rolled back and the job left as it is.
    Fenced,
    /// The call's effects, if any, are committed, and the job's completion is still to be
    /// written: the routine commits by itself, so it ran outside the job's transaction
    /// (at-least-once), or the call wrote nothing, so there was nothing to commit with it.
    CompletionToWrite(CallOutput),
}

/// A call that failed, with the lines it wrote before the error (`None`: not asked for, or not
/// readable after an interrupted call).
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub error: DbError,
    pub output: Option<Vec<String>>,
    /// How long the call waited for a free connection (zero if it never got one).
    pub waited: std::time::Duration,
}

impl From<DbError> for CallFailure {
    fn from(error: DbError) -> Self {
        Self { error, output: None, waited: std::time::Duration::ZERO }
    }
}

/// Lines collected from one call, within [`MAX_OUTPUT_LINES`] and [`MAX_OUTPUT_BYTES`]; past
/// either limit further lines are dropped and the output ends with [`TRUNCATED_LINE`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OutputLines {
    lines: Vec<String>,
    bytes: usize,
    truncated: bool,
}

impl OutputLines {
    pub fn push(&mut self, line: String) {
        if self.truncated || self.lines.len() >= MAX_OUTPUT_LINES || self.bytes + line.len() > MAX_OUTPUT_BYTES {
            self.truncated = true;
            return;
        }
        self.bytes += line.len();
        self.lines.push(line);
    }

    /// A line was dropped: nothing more will be kept.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    pub fn into_lines(mut self) -> Vec<String> {
        if self.truncated {
            self.lines.push(TRUNCATED_LINE.to_string());
        }
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_in_order_within_the_limits() {
        let mut out = OutputLines::default();
        out.push("a".into());
        out.push(String::new());
        out.push("c".into());
        assert!(!out.is_truncated());
        assert_eq!(out.into_lines(), vec!["a", "", "c"]);

        let mut many = OutputLines::default();
        for i in 0..MAX_OUTPUT_LINES + 5 {
            many.push(i.to_string());
        }
        assert!(many.is_truncated());
        let lines = many.into_lines();
        assert_eq!(lines.len(), MAX_OUTPUT_LINES + 1);
        assert_eq!((lines[MAX_OUTPUT_LINES - 1].as_str(), lines[MAX_OUTPUT_LINES].as_str()), ("9999", TRUNCATED_LINE));

        let mut big = OutputLines::default();
        big.push("x".repeat(MAX_OUTPUT_BYTES - 1));
        big.push("yy".into()); // over the byte limit: dropped, and so is everything after it
        big.push("z".into());
        assert_eq!(big.into_lines().len(), 2);
    }
}
