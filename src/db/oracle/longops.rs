//! A job's progress as its call reports it through `V$SESSION_LONGOPS`: `PROCGATE.PROGRESS`
//! (see `sql/oracle/create_async_jobs_table.sql`), or any `DBMS_APPLICATION_INFO.SET_SESSION_LONGOPS`
//! the procedure already does. A watcher task reads the call's session's row on a bookkeeping
//! session every `PROGRESS_POLL_INTERVAL` while the call runs, and hands each change to the job's
//! progress sink. Without the grant (SELECT on V_$SESSION_LONGOPS) it warns once per process and
//! the job shows no report.
//!
//! Ordering: the call's end waits for [`Watcher::stop`], which returns only once the task has
//! ended, so no report reaches the writer after the job's outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use oracle::pool::Pool;
use oracle::Connection;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::db::DbError;
use crate::model::{ProgressReport, ProgressSink};

use super::error::map_error;
use super::store::statement;

/// The call's latest longops row (see the file's header for the columns and binds).
pub(super) const LONGOPS_SQL: &str = statement(include_str!("../../../sql/oracle/queries/longops.sql"));

/// What `PROCGATE.PROGRESS` writes as OPNAME.
const PROCGATE_OPNAME: &str = "procgate";

/// ORA-00942: the view is not visible to the gateway's user (no grant).
const NO_SUCH_VIEW: &str = "ORA-00942";

/// Logged once per process: the gateway's user may not read V$SESSION_LONGOPS.
static NO_GRANT_LOGGED: AtomicBool = AtomicBool::new(false);

/// One longops row as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Longops {
    pub opname: Option<String>,
    pub target_desc: Option<String>,
    pub sofar: Option<f64>,
    pub totalwork: Option<f64>,
    pub units: Option<String>,
    pub message: Option<String>,
}

impl Longops {
    /// The report this row stands for. procgate's own row carries the author's message in
    /// TARGET_DESC, and a bare percent as SOFAR of 100 in UNITS '%'; any other row is
    /// SOFAR of TOTALWORK items with Oracle's composed MESSAGE.
    pub fn report(&self) -> Option<ProgressReport> {
        let ours = self.opname.as_deref() == Some(PROCGATE_OPNAME);
        let percent_only = ours && self.units.as_deref() == Some("%");
        let (sofar, total) = (self.sofar.filter(|n| n.is_finite()), self.totalwork.filter(|n| *n > 0.0));
        let percent = sofar.zip(total).map(|(sofar, total)| sofar * 100.0 / total);
        let count = |n: Option<f64>| n.filter(|_| !percent_only).map(|n| n.round() as i64);
        let message = if ours { self.target_desc.clone() } else { self.message.clone() };
        ProgressReport::new(percent, message, count(sofar), count(total))
    }
}

/// `SID,SERIAL#` as recorded at claim.
pub(super) fn parse_session(session: &str) -> Option<(i64, i64)> {
    let (sid, serial) = session.split_once(',')?;
    Some((sid.trim().parse().ok()?, serial.trim().parse().ok()?))
}

/// One look: the database's time now, and the call's latest row updated since `since`.
fn read(
    conn: &Connection,
    (sid, serial): (i64, i64),
    since: Option<NaiveDateTime>,
) -> Result<(NaiveDateTime, Longops), DbError> {
    let row = conn
        .query_row_named(LONGOPS_SQL, &[("sid", &sid), ("serial", &serial), ("since", &since)])
        .map_err(|e| map_error(&e))?;
    let text = |i: usize| row.get::<usize, Option<String>>(i).map_err(|e| map_error(&e));
    let number = |i: usize| row.get::<usize, Option<f64>>(i).map_err(|e| map_error(&e));
    let now: NaiveDateTime = row.get(0).map_err(|e| map_error(&e))?;
    let longops = Longops {
        opname: text(1)?,
        target_desc: text(2)?,
        sofar: number(3)?,
        totalwork: number(4)?,
        units: text(5)?,
        message: text(6)?,
    };
    Ok((now, longops))
}

/// Watches one call's session until stopped.
pub(super) struct Watcher {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Watcher {
    /// Starts watching the call on `session` (`SID,SERIAL#`); `None` when the id is unreadable.
    pub fn start(pool: Arc<Pool>, session: &str, every: Duration, sink: Arc<dyn ProgressSink>) -> Option<Self> {
        let session = parse_session(session)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(watch(pool, session, every, sink, stop.clone()));
        Some(Self { stop, task })
    }

    /// Stops watching; returns once nothing more will be reported.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn watch(
    pool: Arc<Pool>,
    session: (i64, i64),
    every: Duration,
    sink: Arc<dyn ProgressSink>,
    stop: CancellationToken,
) {
    let (mut since, mut last) = (None, None);
    loop {
        let look = super::with_session(pool.clone(), move |conn| read(conn, session, since));
        let looked = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            looked = look => looked,
        };
        match looked {
            Ok((now, longops)) => {
                since = Some(now);
                let report = longops.report();
                if report.is_some() && report != last {
                    sink.reported(report.clone().unwrap_or_default());
                    last = report;
                }
            }
            Err(e) if e.code == NO_SUCH_VIEW => {
                if !NO_GRANT_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        "cannot read V$SESSION_LONGOPS: jobs show no progress reported by their procedures \
                         (GRANT SELECT ON V_$SESSION_LONGOPS to the gateway's user, see docs/oracle.md, Grants)"
                    );
                }
                return;
            }
            Err(e) => tracing::debug!(error = %e, "could not read the call's progress"),
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(opname: &str, target: &str, sofar: f64, total: f64, units: &str, message: &str) -> Longops {
        Longops {
            opname: Some(opname.into()),
            target_desc: Some(target.into()),
            sofar: Some(sofar),
            totalwork: Some(total),
            units: Some(units.into()),
            message: Some(message.into()),
        }
    }

    #[test]
    fn procgates_own_rows() {
        // A bare percent: SOFAR of 100 in '%', the message in TARGET_DESC.
        let r = row("procgate", "step 2", 42.5, 100.0, "%", "procgate: step 2: 42.5 out of 100 % done");
        assert_eq!(r.report(), ProgressReport::new(Some(42.5), Some("step 2".into()), None, None));
        // Items: their ratio is the percent.
        let r = row("procgate", "item 3 of 12", 3.0, 12.0, "items", "x");
        assert_eq!(r.report(), ProgressReport::new(Some(25.0), Some("item 3 of 12".into()), Some(3), Some(12)));
        // A message before any figure (TOTALWORK 0): no percent.
        let r = row("procgate", "starting", 0.0, 0.0, "%", "x");
        assert_eq!(r.report(), ProgressReport::new(None, Some("starting".into()), None, None));
    }

    #[test]
    fn a_procedures_own_longops_show_with_no_change() {
        let r = row("Batch load", "ORDERS", 250.0, 1000.0, "rows", "Batch load: ORDERS: 250 out of 1000 rows done");
        let expected = ProgressReport::new(
            Some(25.0),
            Some("Batch load: ORDERS: 250 out of 1000 rows done".into()),
            Some(250),
            Some(1000),
        );
        assert_eq!(r.report(), expected);
        // Past its total, the percent is clamped.
        assert_eq!(row("x", "t", 12.0, 10.0, "u", "m").report().unwrap().percent, Some(100.0));
        // No row at all: no report.
        assert_eq!(Longops::default().report(), None);
    }

    #[test]
    fn sessions_are_sid_and_serial() {
        assert_eq!(parse_session("123,45678"), Some((123, 45678)));
        assert_eq!(parse_session("12"), None);
        assert_eq!(parse_session("a,b"), None);
    }

    #[test]
    fn the_statement_reads_only_the_calls_session_since_it_began() {
        assert!(LONGOPS_SQL
            .starts_with("SELECT SYSDATE, l.OPNAME, l.TARGET_DESC, l.SOFAR, l.TOTALWORK, l.UNITS, l.MESSAGE"));
        assert!(LONGOPS_SQL.contains("FROM V$SESSION_LONGOPS"));
        assert!(LONGOPS_SQL.contains("WHERE SID = :sid AND SERIAL# = :serial AND LAST_UPDATE_TIME >= :since"));
        assert!(LONGOPS_SQL.contains("ORDER BY CASE WHEN OPNAME = 'procgate' THEN 0 ELSE 1 END, LAST_UPDATE_TIME DESC"));
        assert!(LONGOPS_SQL.contains("FETCH FIRST 1 ROW ONLY) l ON 1 = 1"));
    }
}
