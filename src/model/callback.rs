//! A job's webhook callback — where to POST which of its events — and the rules a callback URL
//! must meet before a job may carry it (`WEBHOOK_ALLOWED_HOSTS`, http(s) only, no credentials).
//! Pure values: the deliverer (`jobs::webhooks`) sends, the API checks, the stores keep the JSON.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use serde_json::{json, Value as Json};
use url::Url;

use super::event::EventType;

/// `{"url": ..., "events": [...]}` as stored in the job's `callback` column.
#[derive(Debug, Clone, PartialEq)]
pub struct Callback {
    pub url: String,
    pub events: Vec<EventType>,
}

/// Why a callback was refused, and which of its fields is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackError {
    /// `callback.url` or `callback.events`.
    pub field: &'static str,
    pub message: String,
}

impl CallbackError {
    fn url(message: impl Into<String>) -> Self {
        CallbackError { field: "callback.url", message: message.into() }
    }
}

/// Longest callback URL accepted (bytes).
pub const MAX_URL_BYTES: usize = 2000;

impl Callback {
    /// The events a callback gets when it names none: the job's end.
    pub const DEFAULT_EVENTS: [EventType; 3] = [EventType::Completed, EventType::Failed, EventType::Cancelled];

    /// Events a callback may name: every event but `deleted` (a deleted job's deliveries go with
    /// it, so nothing could be delivered).
    pub fn deliverable(event: EventType) -> bool {
        event != EventType::Deleted
    }

    /// Parses event names (case-insensitive, repeats dropped); an empty list is the defaults.
    pub fn events_from<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<EventType>, CallbackError> {
        let mut events = Vec::new();
        for name in names {
            let event =
                EventType::parse(name.trim()).filter(|e| Self::deliverable(*e)).ok_or_else(|| CallbackError {
                    field: "callback.events",
                    message: format!(
                        "{:?} is not an event a callback can receive (accepted, started, progress, retried, \
                     completed, failed, cancelled)",
                        crate::procedure::quote::truncated(name, crate::procedure::quote::QUOTED_CHARS)
                    ),
                })?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        if events.is_empty() {
            events = Self::DEFAULT_EVENTS.to_vec();
        }
        Ok(events)
    }

    pub fn to_json(&self) -> Json {
        json!({ "url": self.url, "events": self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>() })
    }

    /// The stored JSON read back; `None` for anything else (never written by procgate).
    pub fn from_json(value: &Json) -> Option<Callback> {
        let url = value.get("url")?.as_str()?.to_string();
        let events = value.get("events")?.as_array()?.iter().filter_map(Json::as_str).filter_map(EventType::parse);
        Some(Callback { url, events: events.collect() })
    }
}

/// `WEBHOOK_ALLOWED_HOSTS`: the hosts callbacks may name — `host` (any port) or `host:port`,
/// compared case-insensitively with the URL's host as written (IPv6 in brackets: `[::1]:8080`).
/// Empty: webhooks are off, and every callback is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<(String, Option<u16>)>,
}

impl AllowedHosts {
    pub fn parse(list: &str) -> Result<AllowedHosts, String> {
        let mut entries = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            // Parsed as a URL's authority, so entries match exactly what a URL's host reads as.
            let (host, port) = Url::parse(&format!("http://{entry}/"))
                .ok()
                .filter(|u| u.username().is_empty() && u.password().is_none() && u.path() == "/")
                .and_then(|u| Some((u.host_str()?.to_ascii_lowercase(), u.port_or_known_default())))
                .ok_or_else(|| format!("{entry:?} is not a host or host:port"))?;
            // `host` alone allows every port; `host:80` only 80 (which the URL parser drops).
            let port_given =
                entry.rsplit_once(':').is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            entries.push((host, port.filter(|_| port_given)));
        }
        Ok(AllowedHosts { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        self.entries.iter().any(|(h, p)| h.eq_ignore_ascii_case(host) && p.is_none_or(|p| p == port))
    }

    /// The URL a callback may be sent to: absolute http(s), no user or password, at most
    /// [`MAX_URL_BYTES`], its host (and port) on the list. Answers the URL as it will be called.
    pub fn check(&self, raw: &str) -> Result<Url, CallbackError> {
        if self.is_empty() {
            return Err(CallbackError::url("webhooks are disabled: WEBHOOK_ALLOWED_HOSTS is empty"));
        }
        if raw.len() > MAX_URL_BYTES {
            return Err(CallbackError::url(format!("the callback URL is longer than {MAX_URL_BYTES} bytes")));
        }
        let quoted = crate::procedure::quote::quoted(raw);
        let url = Url::parse(raw).map_err(|e| CallbackError::url(format!("{quoted} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CallbackError::url(format!("{quoted}: only http and https callbacks are allowed")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CallbackError::url("a callback URL must not carry credentials (user:password@)"));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(0);
        if !self.allows(&host, port) {
            return Err(CallbackError::url(format!(
                "{quoted}: the host {host}:{port} is not in WEBHOOK_ALLOWED_HOSTS"
            )));
        }
        Ok(url)
    }
}

/// `WEBHOOK_SECRETS`: the key each token's deliveries are signed with, by token name (`*`: every
/// token without an entry of its own). Written `name:secret`; a secret `whsec_<base64>` (Standard
/// Webhooks' form) is its decoded bytes, any other its UTF-8 bytes. At least 16 bytes.
#[derive(Clone, Default)]
pub struct SigningSecrets {
    by_owner: HashMap<String, Vec<u8>>,
}

/// Shortest signing key accepted.
pub const MIN_SECRET_BYTES: usize = 16;

impl SigningSecrets {
    pub fn parse(list: &str) -> Result<SigningSecrets, String> {
        let mut by_owner = HashMap::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, secret) = entry
                .split_once(':')
                .map(|(n, s)| (n.trim(), s.trim()))
                .filter(|(n, s)| !n.is_empty() && !s.is_empty())
                .ok_or_else(|| "an entry is not name:secret".to_string())?;
            let key = match secret.strip_prefix("whsec_") {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| format!("the secret of {name:?} starts with whsec_ but is not base64 after it"))?,
                None => secret.as_bytes().to_vec(),
            };
            if key.len() < MIN_SECRET_BYTES {
                return Err(format!("the secret of {name:?} is shorter than {MIN_SECRET_BYTES} bytes"));
            }
            if by_owner.insert(name.to_string(), key).is_some() {
                return Err(format!("{name:?} has two secrets"));
            }
        }
        Ok(SigningSecrets { by_owner })
    }

    /// The key that signs `owner`'s deliveries.
    pub fn for_owner(&self, owner: &str) -> Option<&[u8]> {
        self.by_owner.get(owner).or_else(|| self.by_owner.get("*")).map(Vec::as_slice)
    }
}

/// Names only: a secret never reaches a log.
impl fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.by_owner.keys().collect();
        names.sort();
        f.debug_struct("SigningSecrets").field("owners", &names).finish()
    }
}

/// `WEBHOOK_DEFAULT_CALLBACKS`: `name=url[|event|event...]`, comma-separated — the callback a
/// token's jobs get when the request names none (`|` cannot appear in a URL unencoded).
pub fn parse_default_callbacks(list: &str, hosts: &AllowedHosts) -> Result<HashMap<String, Callback>, String> {
    let mut out = HashMap::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, rest) = entry
            .split_once('=')
            .map(|(n, r)| (n.trim(), r.trim()))
            .filter(|(n, r)| !n.is_empty() && !r.is_empty())
            .ok_or_else(|| format!("{entry:?} is not name=url[|event...]"))?;
        let mut parts = rest.split('|');
        let url = parts.next().unwrap_or_default().trim();
        let url = hosts.check(url).map_err(|e| format!("{name}: {}", e.message))?;
        let events = Callback::events_from(parts).map_err(|e| format!("{name}: {}", e.message))?;
        if out.insert(name.to_string(), Callback { url: url.to_string(), events }).is_some() {
            return Err(format!("{name:?} has two default callbacks"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_match_host_and_optional_port() {
        let hosts = AllowedHosts::parse("hooks.example.com, 127.0.0.1:8080,[::1]").unwrap();
        assert!(hosts.check("https://HOOKS.example.com/x?y=1").is_ok());
        assert!(hosts.check("http://hooks.example.com:9999/").is_ok());
        assert!(hosts.check("http://127.0.0.1:8080/hook").is_ok());
        assert!(hosts.check("http://[::1]:1/hook").is_ok());
        for bad in [
            "http://127.0.0.1:8081/hook",
            "http://127.0.0.1/hook",
            "http://evil.example.com/",
            "http://hooks.example.com.evil.net/",
        ] {
            assert_eq!(hosts.check(bad).unwrap_err().field, "callback.url", "{bad}");
        }
    }

    #[test]
    fn only_plain_http_urls_without_credentials() {
        let hosts = AllowedHosts::parse("h.example").unwrap();
        for bad in ["ftp://h.example/x", "h.example/x", "not a url", "http://user:pass@h.example/", "file:///etc/x"] {
            assert!(hosts.check(bad).is_err(), "{bad}");
        }
        assert!(hosts.check(&format!("http://h.example/{}", "a".repeat(MAX_URL_BYTES))).is_err());
        assert!(AllowedHosts::default().check("http://h.example/").unwrap_err().message.contains("disabled"));
        assert!(AllowedHosts::parse("a/b").is_err() && AllowedHosts::parse("u@h").is_err());
    }

    #[test]
    fn secrets_by_owner_with_a_fallback_and_never_in_debug_output() {
        let s = SigningSecrets::parse("alice:a-long-enough-secret, *:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(s.for_owner("alice"), Some(&b"a-long-enough-secret"[..]));
        assert_eq!(s.for_owner("bob").map(<[u8]>::len), Some(24));
        assert!(!format!("{s:?}").contains("long-enough"));
        assert!(SigningSecrets::parse("alice:short").is_err());
        assert!(SigningSecrets::parse("alice:whsec_***").is_err());
        assert!(SigningSecrets::parse("nocolon").is_err());
        assert!(SigningSecrets::parse("a:0123456789abcdef,a:0123456789abcdef").is_err());
        assert_eq!(SigningSecrets::default().for_owner("x"), None);
    }

    #[test]
    fn default_callbacks_are_checked_like_requests() {
        let hosts = AllowedHosts::parse("hooks.example").unwrap();
        let d =
            parse_default_callbacks("ops=https://hooks.example/a|failed|completed, bob=http://hooks.example/b", &hosts)
                .unwrap();
        assert_eq!(d["ops"].events, vec![EventType::Failed, EventType::Completed]);
        assert_eq!(d["bob"].events, Callback::DEFAULT_EVENTS.to_vec());
        assert!(parse_default_callbacks("ops=https://elsewhere.example/", &hosts).is_err());
        assert!(parse_default_callbacks("ops=https://hooks.example/|deleted", &hosts).is_err());
        assert!(parse_default_callbacks("https://hooks.example/", &hosts).is_err());
    }

    #[test]
    fn events_default_to_the_end_and_refuse_deleted() {
        assert_eq!(Callback::events_from([]).unwrap(), Callback::DEFAULT_EVENTS.to_vec());
        assert_eq!(
            Callback::events_from(["Completed", "started", "completed"]).unwrap(),
            vec![EventType::Completed, EventType::Started]
        );
        assert_eq!(Callback::events_from(["deleted"]).unwrap_err().field, "callback.events");
        assert!(Callback::events_from(["done"]).is_err());
        let cb = Callback { url: "http://h/x".into(), events: vec![EventType::Failed] };
        assert_eq!(Callback::from_json(&cb.to_json()), Some(cb));
    }
}
