//! `procgate jobs --watch`: the job table, refreshed from the database until Ctrl-C. On a
//! terminal each job is a line with its progress bar (`indicatif`), redrawn in place; in a pipe
//! (no terminal to redraw) each refresh prints the plain table again.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::jobs::queue::Queue;
use crate::model::{Job, JobStatus, ListFilter};

use super::table;

/// Refreshes every `every` until Ctrl-C, then clears the bars and returns.
pub async fn run(queue: &Queue, filter: &ListFilter, every: Duration) -> anyhow::Result<()> {
    let stop = ctrl_c();
    let mut view = if std::io::stdout().is_terminal() { View::live()? } else { View::Plain };
    loop {
        // A refresh in flight is dropped at Ctrl-C: the exit never waits for the database.
        let listed = tokio::select! {
            _ = stop.cancelled() => break,
            listed = queue.list(filter) => listed,
        };
        match listed {
            Ok(page) => view.show(page.total, &page.jobs),
            // A lost database is shown and retried: watching outlives a restart.
            Err(e) => view.problem(&format!("cannot read the jobs ({e}); retrying")),
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    view.close();
    Ok(())
}

/// Cancelled at the first Ctrl-C. The handler is installed at once (its task starts now), so a
/// Ctrl-C during the first read is not lost.
fn ctrl_c() -> CancellationToken {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            token.cancel();
        }
    });
    stop
}

enum View {
    /// A header line and one bar per job, redrawn in place.
    Live { multi: MultiProgress, header: ProgressBar, rows: Vec<ProgressBar>, style: ProgressStyle },
    /// The plain table, printed again at each refresh.
    Plain,
}

impl View {
    fn live() -> anyhow::Result<Self> {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(4));
        let header = multi.add(ProgressBar::new(0).with_style(ProgressStyle::with_template("{msg}")?));
        let style =
            ProgressStyle::with_template("{prefix} [{bar:24.cyan/blue}] {pos:>3}% {msg}")?.progress_chars("=> ");
        Ok(View::Live { multi, header, rows: Vec::new(), style })
    }

    fn show(&mut self, total: crate::model::listing::ListTotal, jobs: &[Job]) {
        let stamp = chrono::Local::now().format("%H:%M:%S");
        match self {
            View::Live { multi, header, rows, style } => {
                header.set_message(format!(
                    "{} of {total} job(s) at {stamp}, Ctrl-C to exit\n{:<32}  {:<9}  {:<24}",
                    jobs.len(),
                    "JOB_ID",
                    "STATUS",
                    "PROCEDURE"
                ));
                // One bar per row, reused from one refresh to the next so lines do not jump.
                while rows.len() < jobs.len() {
                    rows.push(multi.add(ProgressBar::new(100).with_style(style.clone())));
                }
                for bar in rows.drain(jobs.len()..) {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                for (bar, job) in rows.iter().zip(jobs) {
                    bar.set_prefix(row_prefix(job));
                    bar.set_position(u64::try_from(job.progress).unwrap_or(0));
                    bar.set_message(row_note(job));
                }
            }
            View::Plain => {
                println!("--- {stamp}");
                print!("{}", table::render(jobs));
                println!("{} of {total} job(s)", jobs.len());
            }
        }
    }

    fn problem(&self, message: &str) {
        match self {
            View::Live { header, .. } => header.set_message(message.to_string()),
            View::Plain => eprintln!("procgate: {message}"),
        }
    }

    fn close(self) {
        if let View::Live { multi, .. } = self {
            let _ = multi.clear();
        }
    }
}

fn row_prefix(job: &Job) -> String {
    format!("{:<32}  {:<9}  {:<24}", job.id, job.status, table::truncate(&job.procedure_name, 24))
}

/// What the row says after its bar: the procedure's own message while it runs, the error once
/// it failed, the duration once it ended.
fn row_note(job: &Job) -> String {
    let note = match job.status {
        JobStatus::Running => job.report.as_ref().and_then(|r| r.message.clone()).unwrap_or_default(),
        JobStatus::Pending if job.attempts > 0 => format!("attempt {} of {} next", job.attempts + 1, job.max_attempts),
        JobStatus::Failed | JobStatus::Cancelled => {
            job.error.as_ref().map(|e| format!("{}: {}", e.code, e.message)).unwrap_or_default()
        }
        _ => job.duration.clone().unwrap_or_default(),
    };
    table::truncate(&note, 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobError, JobId, Priority, ProgressReport};

    fn job(status: JobStatus) -> Job {
        Job {
            id: JobId::generate(),
            status,
            procedure_name: "PROC_TEST_PROGRESS_WITH_A_VERY_LONG_NAME".into(),
            params: serde_json::json!([]),
            owner: "alice".into(),
            progress: 62,
            created_at: chrono::Utc::now(),
            start_time: None,
            end_time: None,
            duration: Some("1.50s".into()),
            result: None,
            error: None,
            attempts: 1,
            max_attempts: 3,
            attempt_history: serde_json::json!([]),
            priority: Priority::Normal,
            run_at: chrono::Utc::now(),
            instance_id: None,
            cancel_requested: false,
            output: None,
            report: ProgressReport::new(Some(40.0), Some("step 2\nof 5".into()), None, None),
            callback: None,
            is_function: false,
            retry: None,
            timeout: None,
            capture_output: false,
            retry_of: None,
        }
    }

    #[test]
    fn rows_say_what_matters_for_each_state() {
        assert_eq!(row_note(&job(JobStatus::Running)), "step 2 of 5");
        assert_eq!(row_note(&job(JobStatus::Pending)), "attempt 2 of 3 next");
        assert_eq!(row_note(&job(JobStatus::Completed)), "1.50s");
        let mut failed = job(JobStatus::Failed);
        failed.error = Some(JobError { code: "P0001".into(), message: "boom".into() });
        assert_eq!(row_note(&failed), "P0001: boom");
        let prefix = row_prefix(&failed);
        assert!(prefix.contains("failed") && prefix.contains("PROC_TEST_PROGRESS_WITH_…"), "{prefix}");
    }
}
