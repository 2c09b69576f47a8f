//! A job's lifecycle events: one row of `ASYNC_JOB_EVENTS` per state change, written by the job
//! table's triggers in the same statement as the change itself.

use std::fmt;

use chrono::{DateTime, Utc};

use super::{JobError, JobId, JobStatus};

/// What happened to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Accepted,
    Started,
    Progress,
    Retried,
    Completed,
    Failed,
    Cancelled,
    Deleted,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Accepted,
        EventType::Started,
        EventType::Progress,
        EventType::Retried,
        EventType::Completed,
        EventType::Failed,
        EventType::Cancelled,
        EventType::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Accepted => "accepted",
            EventType::Started => "started",
            EventType::Progress => "progress",
            EventType::Retried => "retried",
            EventType::Completed => "completed",
            EventType::Failed => "failed",
            EventType::Cancelled => "cancelled",
            EventType::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// The job's last event: nothing follows it.
    pub fn is_final(self) -> bool {
        matches!(self, EventType::Completed | EventType::Failed | EventType::Cancelled | EventType::Deleted)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The procedure's own figures, as it last reported them (`procgate_progress` / `PROCGATE.PROGRESS`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportedFigures {
    pub percent: Option<f64>,
    pub processed: Option<i64>,
    pub total: Option<i64>,
}

/// One event, as stored. `event_id` orders a job's events (it grows with each change).
#[derive(Debug, Clone, PartialEq)]
pub struct JobEvent {
    pub event_id: i64,
    pub job_id: JobId,
    pub event_type: EventType,
    pub at: DateTime<Utc>,
    pub owner: String,
    pub procedure_name: String,
    /// The job's status after the event (for `deleted`: before it).
    pub status: JobStatus,
    pub progress: i16,
    /// The attempts the job has had so far.
    pub attempt: i32,
    /// Why an attempt ended (`retried`, `failed`, `cancelled`).
    pub error: Option<JobError>,
    /// The procedure's latest progress message.
    pub message: Option<String>,
    pub figures: ReportedFigures,
    /// `retried`: when the next attempt is due.
    pub run_at: Option<DateTime<Utc>>,
}
