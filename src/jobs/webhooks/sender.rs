//! The deliverer's HTTP client: one POST per attempt, no redirects followed, no proxy, a timeout
//! for connecting and one for the whole attempt, and at most [`MAX_RESPONSE_BYTES`] of the
//! receiver's answer read (then dropped: only its status counts).

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, USER_AGENT};
use url::Url;

/// How much of a receiver's answer is read before the connection is dropped.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why there was no answer (or the answer could not be read).
    pub error: Option<String>,
    pub took: Duration,
}

impl Sent {
    /// The receiver took it: a 2xx answer.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The headers of one signed attempt.
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
}

pub struct Sender {
    client: reqwest::Client,
    timeout: Duration,
}

impl Sender {
    pub fn new(timeout: Duration) -> reqwest::Result<Sender> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("procgate/", env!("CARGO_PKG_VERSION"))));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .default_headers(headers)
            .build()?;
        Ok(Sender { client, timeout })
    }

    /// POSTs `body` to `url` with the Standard Webhooks headers.
    pub async fn post(&self, url: Url, signed: &Signed<'_>, body: String) -> Sent {
        let started = Instant::now();
        let request = self
            .client
            .post(url)
            .header("webhook-id", signed.id)
            .header("webhook-timestamp", signed.timestamp.to_string())
            .header("webhook-signature", signed.signature)
            .body(body);
        let response = match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Sent { status: None, error: Some(describe(e)), took: started.elapsed() },
            Err(_) => return Sent { status: None, error: Some(self.no_answer()), took: started.elapsed() },
        };
        let status = response.status().as_u16();
        // The answer's body means nothing: read a bounded part of it within the attempt's time
        // (so a keep-alive connection is not cut mid-answer), then drop the rest.
        let left = self.timeout.saturating_sub(started.elapsed());
        let _ = tokio::time::timeout(left, drain(response)).await;
        Sent { status: Some(status), error: None, took: started.elapsed() }
    }

    fn no_answer(&self) -> String {
        format!("no answer within {:?} (WEBHOOK_TIMEOUT)", self.timeout)
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of an answer.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0usize;
    while read < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) | Err(_) => return,
        }
    }
}

/// A transport error in a few words (reqwest's text names the URL, which the log already has).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_request() {
        "request failed"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {}", crate::procedure::quote::truncated(&cause, 200))
    }
}
