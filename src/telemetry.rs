//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `info`, driver notices off).
//! actix logs through `tracing` too, so the same filter applies to it. Faults clients can cause
//! at will (requests the HTTP parser refuses) go through a [`RateLimitedWarning`], so a flood of
//! bad requests cannot flood the log.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Lets one log line through per `interval`; the others are counted, and the next line that
/// gets through says how many were left out.
pub struct RateLimitedWarning {
    interval: Duration,
    /// When the last line got through, and how many were left out since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedWarning {
    pub const fn new(interval: Duration) -> Self {
        RateLimitedWarning { interval, state: Mutex::new((None, 0)) }
    }

    /// `Some(left out since the last line)` when a line may be written now.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (last, suppressed) = &mut *state;
        match *last {
            Some(at) if now.duration_since(at) < self.interval => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let limiter = RateLimitedWarning::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.admit_at(t0), Some(0));
        let admitted = (1..=200).filter(|i| limiter.admit_at(t0 + Duration::from_millis(*i)).is_some()).count();
        assert_eq!(admitted, 0, "a burst within the interval writes nothing more");
        assert_eq!(limiter.admit_at(t0 + Duration::from_secs(10)), Some(200));
        assert_eq!(limiter.admit_at(t0 + Duration::from_secs(11)), None);
        assert_eq!(limiter.admit_at(t0 + Duration::from_secs(25)), Some(1));
    }
}
