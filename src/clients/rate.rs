//! A client's request rate (`rate = "50/s"` or `"600/m"`) and the token bucket that enforces it
//! on one instance.
//!
//! A small bucket of our own rather than a crate: one mutex-guarded pair of numbers per client,
//! refilled lazily on each request, is all that is needed, and it answers the one thing the API
//! must say besides "no" — how long until the next request would pass (`Retry-After`).
//! The burst is one second's worth of the rate (at least one request): `50/s` lets 50 requests
//! through at once, then one every 20 ms; `600/m` lets 10 through, then one every 100 ms.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per period, as the clients file writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

/// The largest `N` a rate may have.
const MAX_REQUESTS: u32 = 1_000_000;

impl Rate {
    /// `N/s` or `N/m` (also `N/sec`, `N/min`), N from 1 to 1,000,000.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad =
            || format!("rate {text:?} is not N/s or N/m (e.g. \"50/s\", \"600/m\") with N from 1 to {MAX_REQUESTS}");
        let (n, unit) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().ok().filter(|n| (1..=MAX_REQUESTS).contains(n)).ok_or_else(bad)?;
        let per = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            _ => return Err(bad()),
        };
        Ok(Rate { requests, per })
    }

    fn per_second(&self) -> f64 {
        f64::from(self.requests) / self.per.as_secs_f64()
    }

    /// One second's worth, at least one request.
    fn burst(&self) -> f64 {
        self.per_second().max(1.0)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.per.as_secs() == 60 { "m" } else { "s" };
        write!(f, "{}/{unit}", self.requests)
    }
}

/// A token bucket: full at start, one token per request.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self { rate, bucket: Mutex::new(Bucket { tokens: rate.burst(), at: Instant::now() }) }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Takes a token for a request now, or says how long until one is there.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(&self, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate.per_second()).min(self.rate.burst());
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate.per_second()))
        }
    }
}

/// `Retry-After` for a wait: whole seconds, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("50/s").unwrap(), Rate { requests: 50, per: Duration::from_secs(1) });
        assert_eq!(Rate::parse(" 600 / m ").unwrap(), Rate { requests: 600, per: Duration::from_secs(60) });
        assert_eq!(Rate::parse("5/min").unwrap().to_string(), "5/m");
        for bad in ["", "50", "0/s", "-1/s", "50/h", "a/s", "1.5/s", "50/", "/s", "2000000/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_burst_is_one_seconds_worth_then_the_rate() {
        let limiter = RateLimiter::new(Rate::parse("5/s").unwrap());
        let start = Instant::now();
        for _ in 0..5 {
            assert!(limiter.try_acquire_at(start).is_ok());
        }
        let wait = limiter.try_acquire_at(start).unwrap_err();
        assert!(wait > Duration::from_millis(150) && wait <= Duration::from_millis(200), "{wait:?}");
        // 200 ms later one more token is there, and only one.
        let later = start + Duration::from_millis(200);
        assert!(limiter.try_acquire_at(later).is_ok());
        assert!(limiter.try_acquire_at(later).is_err());
        // A long pause refills the bucket to its burst, no further.
        let much_later = later + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(limiter.try_acquire_at(much_later).is_ok());
        }
        assert!(limiter.try_acquire_at(much_later).is_err());
    }

    #[test]
    fn per_minute_rates_have_a_burst_of_at_least_one() {
        let limiter = RateLimiter::new(Rate::parse("6/m").unwrap());
        let start = Instant::now();
        assert!(limiter.try_acquire_at(start).is_ok());
        let wait = limiter.try_acquire_at(start).unwrap_err();
        assert_eq!(retry_after_secs(wait), 10);
        assert!(limiter.try_acquire_at(start + Duration::from_secs(10)).is_ok());
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
