//! Webhook deliveries: one row of `ASYNC_JOB_DELIVERIES` per event a job's callback asked for,
//! written by the job table's triggers with the event itself. What a deliverer claims, what it
//! records after each attempt, and the log `GET /jobs/{id}/deliveries` shows.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use super::event::EventType;
use super::JobId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet: due at its next attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (`WEBHOOK_MAX_ATTEMPTS`).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery a deliverer has claimed (leased) and is about to attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The event delivered; also the delivery's key.
    pub event_id: i64,
    pub job_id: JobId,
    pub event_type: EventType,
    pub url: String,
    /// The job's owner: whose secret signs it.
    pub owner: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// The payload, once the first attempt fixed it (every retry sends the same bytes).
    pub body: Option<String>,
}

impl DueDelivery {
    /// The Standard Webhooks `webhook-id`: stable across retries, unique per event.
    pub fn webhook_id(&self) -> String {
        webhook_id(&self.job_id, self.event_id)
    }
}

/// `<job id>_<event id>`.
pub fn webhook_id(job_id: &JobId, event_id: i64) -> String {
    format!("{job_id}_{event_id}")
}

/// One attempt, as the log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    /// Why it failed without an answer (connection refused, timeout, ...), or a refusal of procgate's.
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What one attempt leaves behind: the delivery's new state.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryResult {
    pub event_id: i64,
    pub status: DeliveryStatus,
    /// With status `pending`: when to try again.
    pub retry_in: Duration,
    /// The payload sent (kept at the first attempt).
    pub body: String,
    pub attempt: DeliveryAttempt,
}

/// A delivery as `GET /jobs/{id}/deliveries` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub event_id: i64,
    pub job_id: JobId,
    pub event_type: EventType,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// `[{"attempt", "at", "status_code", "error", "duration_ms"}, ...]`, oldest first.
    pub attempt_log: Json,
}

/// The wait before retry number `retry` (1 for the first): `first` doubling each time, capped.
pub fn backoff(first: Duration, retry: u32, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(30));
    first.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 1, s(60)), s(1));
        assert_eq!(backoff(s(1), 2, s(60)), s(2));
        assert_eq!(backoff(s(1), 4, s(60)), s(8));
        assert_eq!(backoff(s(1), 40, s(60)), s(60));
    }

    #[test]
    fn statuses_and_ids() {
        for s in [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Failed] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("sent"), None);
        let id = JobId::parse(&"a".repeat(32)).unwrap();
        assert_eq!(webhook_id(&id, 17), format!("{}_17", "a".repeat(32)));
    }
}
