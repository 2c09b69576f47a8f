//! Retry policy: how many attempts a job gets, how long to wait between them (exponential or
//! fixed backoff with jitter, as seed 004's queue does), and which errors are worth retrying.
//! Off by default: a stored procedure is not assumed idempotent.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    #[default]
    Exponential,
    Fixed,
}

/// `retry: {"max_attempts": 3, "backoff": "exponential", "initial_delay_ms": 2000}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_attempts": 3, "backoff": "exponential", "initial_delay_ms": 2000}))]
pub struct RetryPolicy {
    pub max_attempts: i32,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default = "default_initial_delay")]
    pub initial_delay_ms: u64,
    #[serde(default = "default_max_delay")]
    pub max_delay_ms: u64,
}

fn default_initial_delay() -> u64 {
    1000
}

fn default_max_delay() -> u64 {
    3_600_000
}

/// Most attempts a request may ask for.
pub const MAX_ATTEMPTS: i32 = 100;
/// Longest wait between attempts a request may ask for: 30 days.
pub const MAX_DELAY_MS: u64 = 30 * 24 * 3_600_000;

impl RetryPolicy {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!("retry.max_attempts must be between 1 and {MAX_ATTEMPTS}"));
        }
        if self.initial_delay_ms > self.max_delay_ms {
            return Err("retry.initial_delay_ms must not exceed retry.max_delay_ms".into());
        }
        if self.max_delay_ms > MAX_DELAY_MS {
            return Err(format!("retry.max_delay_ms must be at most {MAX_DELAY_MS} (30 days)"));
        }
        Ok(())
    }

    /// The wait before attempt `next_attempt` (2 for the first retry): the nominal delay with
    /// "equal jitter" — uniformly between half of it and all of it, so retries of many jobs
    /// that failed together spread out, yet never come sooner than half the configured delay.
    pub fn delay_before(&self, next_attempt: i32, jitter: f64) -> Duration {
        let retries_so_far = (next_attempt - 2).max(0) as u32;
        let nominal = match self.backoff {
            Backoff::Fixed => self.initial_delay_ms,
            Backoff::Exponential => self.initial_delay_ms.saturating_mul(1u64 << retries_so_far.min(40)),
        }
        .min(self.max_delay_ms)
        .min(MAX_DELAY_MS);
        let half = nominal / 2;
        Duration::from_millis(half + ((nominal - half) as f64 * jitter.clamp(0.0, 1.0)) as u64)
    }
}

/// `RETRYABLE_ERRORS`: error codes (SQLSTATE, ORA-nnnnn, procgate's own) a retry may help with.
#[derive(Debug, Clone)]
pub struct RetryableErrors(Vec<String>);

impl RetryableErrors {
    pub const DEFAULT: &'static str =
        "40001,40P01,08000,08003,08006,57P01,57P02,57P03,ORA-00060,ORA-03113,ORA-03114,database_unavailable,orphaned,shutdown";

    pub fn parse(list: &str) -> Self {
        Self(list.split(',').map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect())
    }

    pub fn contains(&self, error: &JobError) -> bool {
        self.0.iter().any(|c| c.eq_ignore_ascii_case(&error.code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(backoff: Backoff) -> RetryPolicy {
        RetryPolicy { max_attempts: 5, backoff, initial_delay_ms: 1000, max_delay_ms: 5000 }
    }

    #[test]
    fn exponential_backoff_doubles_within_jitter_and_cap() {
        let p = policy(Backoff::Exponential);
        assert_eq!(p.delay_before(2, 1.0), Duration::from_millis(1000));
        assert_eq!(p.delay_before(2, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay_before(3, 1.0), Duration::from_millis(2000));
        assert_eq!(p.delay_before(4, 1.0), Duration::from_millis(4000));
        assert_eq!(p.delay_before(5, 1.0), Duration::from_millis(5000));
        assert_eq!(p.delay_before(60, 0.0), Duration::from_millis(2500));
        assert_eq!(policy(Backoff::Fixed).delay_before(4, 1.0), Duration::from_millis(1000));
    }

    #[test]
    fn validation_and_codes() {
        assert!(RetryPolicy { max_attempts: 0, ..policy(Backoff::Fixed) }.validate().is_err());
        assert!(RetryPolicy { initial_delay_ms: 9000, ..policy(Backoff::Fixed) }.validate().is_err());
        let huge =
            RetryPolicy { initial_delay_ms: u64::MAX / 2, max_delay_ms: u64::MAX, ..policy(Backoff::Exponential) };
        assert!(huge.validate().is_err());
        assert!(huge.delay_before(50, 1.0) <= Duration::from_millis(MAX_DELAY_MS));
        let codes = RetryableErrors::parse(RetryableErrors::DEFAULT);
        assert!(codes.contains(&JobError { code: "40P01".into(), message: String::new() }));
        assert!(codes.contains(&JobError { code: "ora-00060".into(), message: String::new() }));
        assert!(!codes.contains(&JobError { code: "P0001".into(), message: String::new() }));
        let bad: Result<RetryPolicy, _> = serde_json::from_str(r#"{"max_attempts": 2, "bakcoff": "fixed"}"#);
        assert!(bad.is_err());
    }
}
