//! Job listings (`GET /jobs`): the keyset cursor a page hands out for the next one, and the
//! total that never counts more than a cap of rows. Pure values; each store maps the cursor onto
//! its `(created_at DESC, job_id)` order and counts no further than the cap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use super::{Job, JobId};

/// The exact-count cap when none is configured (`LIST_TOTAL_CAP`'s default).
pub const DEFAULT_TOTAL_CAP: i64 = 1_000;

/// Where a page ends, in the listing order (newest first, then job id): the next page holds the
/// jobs after it. Opaque to clients: base64url of `<created_at in µs since the epoch>.<job id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: DateTime<Utc>,
    pub job_id: JobId,
}

impl ListCursor {
    /// The cursor after `job`, the last of a page.
    pub fn after(job: &Job) -> Self {
        Self { created_at: job.created_at, job_id: job.id.clone() }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at.timestamp_micros(), self.job_id))
    }

    /// A cursor this gateway handed out; anything else (`None`) is not one.
    pub fn decode(raw: &str) -> Option<Self> {
        // A cursor is about 60 characters; refuse a long one before decoding it.
        if raw.len() > 100 {
            return None;
        }
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let (micros, id) = text.split_once('.')?;
        let micros: i64 = micros.parse().ok()?;
        let created_at = DateTime::<Utc>::from_timestamp_micros(micros)?;
        let job_id = JobId::parse(id)?;
        // Only the canonical spelling: one position has one cursor.
        (job_id.as_str() == id).then_some(Self { created_at, job_id })
    }
}

/// How many jobs match a listing's filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListTotal {
    pub count: i64,
    /// `false`: more than the cap match, and `count` is an estimate (at least the cap + 1).
    pub exact: bool,
}

impl ListTotal {
    /// From a count that stopped at `cap + 1` rows: exact up to the cap; above it, the store's
    /// estimate of the whole (when it has one), never below what was counted.
    pub fn from_capped(counted: i64, cap: i64, estimate: Option<i64>) -> Self {
        if counted <= cap {
            Self { count: counted, exact: true }
        } else {
            Self { count: estimate.unwrap_or(0).max(counted), exact: false }
        }
    }
}

/// `1234`, or `about 1234000` for an estimate.
impl std::fmt::Display for ListTotal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.exact {
            write!(f, "{}", self.count)
        } else {
            write!(f, "about {}", self.count)
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub total: ListTotal,
    pub jobs: Vec<Job>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor() -> ListCursor {
        ListCursor {
            created_at: DateTime::<Utc>::from_timestamp_micros(1_767_225_600_123_456).unwrap(),
            job_id: JobId::parse("68542aa8129c4b76b2547ca62d8c13de").unwrap(),
        }
    }

    #[test]
    fn a_cursor_round_trips() {
        let c = cursor();
        let encoded = c.encode();
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{encoded}");
        assert_eq!(ListCursor::decode(&encoded), Some(c));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            String::new(),
            "!!!".into(),
            "x".repeat(200),
            enc("1767225600123456"),
            enc("abc.68542aa8129c4b76b2547ca62d8c13de"),
            enc("1767225600123456.68542aa8"),
            enc("1767225600123456.68542AA8129C4B76B2547CA62D8C13DE"),
            enc("99999999999999999999.68542aa8129c4b76b2547ca62d8c13de"),
            enc("9223372036854775807.68542aa8129c4b76b2547ca62d8c13de"),
        ] {
            assert_eq!(ListCursor::decode(&bad), None, "{bad}");
        }
    }

    #[test]
    fn totals_are_exact_up_to_the_cap() {
        assert_eq!(ListTotal::from_capped(10, 100, None), ListTotal { count: 10, exact: true });
        assert_eq!(ListTotal::from_capped(100, 100, Some(5)), ListTotal { count: 100, exact: true });
        assert_eq!(ListTotal::from_capped(101, 100, Some(5_000)), ListTotal { count: 5_000, exact: false });
        // An estimate below what was counted, or none: at least what was counted.
        assert_eq!(ListTotal::from_capped(101, 100, Some(7)), ListTotal { count: 101, exact: false });
        assert_eq!(ListTotal::from_capped(101, 100, None), ListTotal { count: 101, exact: false });
    }
}
