//! A thin layer between each TCP connection and actix-http's HTTP/1 parser, so that requests the
//! parser rejects before any handler runs (a malformed request line, bad bytes in the path, a bad
//! `Content-Length`, a head over 128 KiB or with more than 96 headers, a first request head that
//! never completes) get the API's JSON error shape instead of actix's bare, bodiless 400/431/408,
//! and are logged as a rate-limited warning instead of one `ERROR` line each.
//!
//! actix-http has no hook for those answers: its dispatcher builds them inline. So the guard runs a
//! second instance of the very same parser (`actix_http::h1::Codec`) over the bytes it passes on:
//! both parsers see the same bytes, so they reach the same verdict. Bytes are handed to actix as
//! they arrive; the read that makes the parser fail is withheld and actix sees the end of the
//! stream instead. actix then finishes the answers to the requests before the bad one (pipelining),
//! closes quietly and shuts the connection down, and the guard writes its JSON answer last, as
//! actix would have written its own. The first request's head timeout lives here too (actix's is
//! disabled), for the same reason.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_http::ServiceConfig;
use actix_web::http::StatusCode;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, sleep_until, Instant, Sleep};
use tokio_util::codec::Decoder;

use crate::telemetry::RateLimitedWarning;

/// actix-http's limit on a request head (`MAX_BUFFER_SIZE` in its `h1::decoder`): a head still
/// incomplete at this many bytes is refused. The guard never buffers more than this, so it refuses
/// exactly the heads actix would.
const MAX_HEAD_BYTES: usize = 131_072;

/// How long a client may take to send the rest of the connection after rejection, while the answer
/// is on its way (closing a socket with unread input resets it and can destroy the answer).
const LINGER: Duration = Duration::from_secs(1);

/// Rejections are logged at most once per this interval, with the number left out.
pub static REJECTIONS: RateLimitedWarning = RateLimitedWarning::new(Duration::from_secs(10));

/// Why a request never reached a handler, and the answer it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    fn from_parse_error(err: &ParseError) -> Self {
        let (status, code, message) = match err {
            ParseError::TooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!("the request head is larger than {MAX_HEAD_BYTES} bytes or has more than 96 headers"),
            ),
            ParseError::Uri(e) if e.to_string().contains("too long") => {
                (StatusCode::URI_TOO_LONG, "uri_too_long", "the request target is too long".to_string())
            }
            ParseError::Uri(e) => {
                (StatusCode::BAD_REQUEST, "malformed_request", format!("invalid request target: {e}"))
            }
            ParseError::Method => (StatusCode::BAD_REQUEST, "malformed_request", "invalid method".to_string()),
            ParseError::Version => (StatusCode::BAD_REQUEST, "malformed_request", "invalid HTTP version".to_string()),
            ParseError::Header => (
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "malformed request line or header (or an invalid Content-Length, Transfer-Encoding or Host)"
                    .to_string(),
            ),
            other => (StatusCode::BAD_REQUEST, "malformed_request", format!("malformed request: {other}")),
        };
        Rejection { status, code, message }
    }

    fn timeout(after: Duration) -> Self {
        Rejection {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "request_timeout",
            message: format!("the request head was not received within {}s", after.as_secs()),
        }
    }

    /// The whole HTTP answer, closing the connection.
    pub fn to_http(&self) -> Bytes {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}}).to_string();
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into()
    }
}

enum State {
    /// Every byte so far parsed; bytes flow through.
    Open,
    /// The parser refused a request: actix sees the end of the stream, and the answer (none when
    /// the fault was inside a body actix had already started to hand to a handler) is written when
    /// actix shuts the connection down.
    Rejected { answer: Bytes, written: usize, shut: bool, linger: Option<Pin<Box<Sleep>>> },
}

/// A connection as actix sees it: see the module comment.
pub struct ParseGuard<S> {
    io: S,
    peer: Option<SocketAddr>,
    parser: Codec,
    /// Bytes passed on that the parser has not consumed yet (at most an incomplete head).
    unparsed: BytesMut,
    /// The parser is inside a request body: actix already handed that request to a handler.
    in_body: bool,
    head_timeout: Duration,
    /// When the first request head must be complete by; `None` once it is.
    head_due: Option<Instant>,
    head_timer: Option<Pin<Box<Sleep>>>,
    state: State,
}

impl<S> ParseGuard<S> {
    /// `config` only feeds the parser (its settings do not change what it accepts); share one per
    /// worker thread, as making one starts a timer task.
    pub fn new(io: S, peer: Option<SocketAddr>, head_timeout: Duration, config: ServiceConfig) -> Self {
        ParseGuard {
            io,
            peer,
            parser: Codec::new(config),
            unparsed: BytesMut::new(),
            in_body: false,
            head_timeout,
            head_due: Some(Instant::now() + head_timeout),
            head_timer: None,
            state: State::Open,
        }
    }

    /// Parses what has arrived so far, as far as it goes. On failure, also returns how many bytes
    /// were still unparsed before the failing message: what follows the last complete one.
    fn parse(&mut self) -> Result<(), (ParseError, usize)> {
        loop {
            let before = self.unparsed.len();
            match self.parser.decode(&mut self.unparsed).map_err(|e| (e, before))? {
                Some(Message::Item(_)) => {
                    self.head_due = None;
                    self.head_timer = None;
                    self.in_body = self.parser.message_type() != MessageType::None;
                }
                Some(Message::Chunk(None)) => self.in_body = false,
                Some(Message::Chunk(Some(_))) => {}
                None => return Ok(()),
            }
        }
    }

    fn reject(&mut self, rejection: Rejection) {
        if let Some(suppressed) = REJECTIONS.admit() {
            tracing::warn!(
                status = rejection.status.as_u16(),
                code = rejection.code,
                peer = ?self.peer,
                suppressed,
                "refused a request the HTTP parser could not read: {} (one line per 10 s at most; `suppressed` counts those left out)",
                rejection.message
            );
        }
        let answer = if self.in_body { Bytes::new() } else { rejection.to_http() };
        self.state = State::Rejected { answer, written: 0, shut: false, linger: None };
        self.unparsed = BytesMut::new();
    }
}

/// A client that resets the connection has simply gone: actix sees the end of the stream rather
/// than an I/O error, which it would log as an `ERROR`.
fn client_gone(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ParseGuard<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if matches!(this.state, State::Rejected { .. }) {
            return Poll::Ready(Ok(()));
        }
        if let Some(due) = this.head_due {
            let timer = this.head_timer.get_or_insert_with(|| Box::pin(sleep_until(due)));
            if timer.as_mut().poll(cx).is_ready() {
                this.reject(Rejection::timeout(this.head_timeout));
                return Poll::Ready(Ok(()));
            }
        }
        let room = MAX_HEAD_BYTES.saturating_sub(this.unparsed.len()).min(buf.remaining());
        if room == 0 {
            // Only reachable with a full `buf`: nothing can be read now.
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let mut chunk = ReadBuf::new(buf.initialize_unfilled_to(room));
        match ready!(Pin::new(&mut this.io).poll_read(cx, &mut chunk)) {
            Ok(()) => {}
            Err(e) if client_gone(&e) => return Poll::Ready(Ok(())),
            Err(e) => return Poll::Ready(Err(e)),
        }
        let n = chunk.filled().len();
        if n == 0 {
            return Poll::Ready(Ok(()));
        }
        this.unparsed.extend_from_slice(chunk.filled());
        match this.parse() {
            Ok(()) => buf.advance(n),
            Err((e, unparsed_before_bad)) => {
                // Complete requests before the bad one (pipelined) go on to actix; from the bad
                // one on, actix sees the end of the stream instead.
                buf.advance(n.saturating_sub(unparsed_before_bad));
                this.reject(Rejection::from_parse_error(&e));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ParseGuard<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// actix is done with the connection: write the rejection's answer after everything actix
    /// wrote, shut the sending side, and drain what the client still sends for a moment, so the
    /// close does not reset the connection before the client has read the answer.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let State::Rejected { answer, written, shut, linger } = &mut this.state else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        while *written < answer.len() {
            match ready!(Pin::new(&mut this.io).poll_write(cx, &answer[*written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if !*shut {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            *shut = true;
        }
        let linger = linger.get_or_insert_with(|| Box::pin(sleep(LINGER)));
        let mut scratch = [0u8; 4096];
        loop {
            if linger.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut drain = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut this.io).poll_read(cx, &mut drain)) {
                Ok(()) if !drain.filled().is_empty() => continue,
                _ => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> ParseGuard<()> {
        ParseGuard::new((), None, Duration::from_secs(5), ServiceConfig::default())
    }

    fn verdict(request: &[u8]) -> Result<(), Rejection> {
        let mut guard = guard();
        guard.unparsed.extend_from_slice(request);
        guard.parse().map_err(|(e, _)| Rejection::from_parse_error(&e))
    }

    #[actix_web::test]
    async fn parser_verdicts_become_typed_rejections() {
        assert!(verdict(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").is_ok());
        assert!(verdict(b"GET /hea").is_ok(), "an incomplete head waits for more");
        for (request, status, code) in [
            (&b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"[..], 400, "malformed_request"),
            (b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "malformed_request"),
            (b"GET /health HTTP/1.1\r\n\r\n", 400, "malformed_request"),
            (b"NOT A REQUEST\r\n\r\n", 400, "malformed_request"),
            (b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 400, "malformed_request"),
        ] {
            let r = verdict(request).unwrap_err();
            assert_eq!((r.status.as_u16(), r.code), (status, code), "{:?}", String::from_utf8_lossy(request));
        }
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
        assert_eq!(verdict(long_uri.as_bytes()).unwrap_err().code, "uri_too_long");
        let many_headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
        let r = verdict(format!("GET / HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").as_bytes()).unwrap_err();
        assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[actix_web::test]
    async fn bodies_and_pipelined_requests_keep_the_parser_in_step() {
        let mut guard = guard();
        guard.unparsed.extend_from_slice(b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{\"a\":");
        guard.parse().unwrap();
        assert!(guard.in_body && guard.head_due.is_none());
        // The body's rest looks like a broken head, but it is body: no verdict on it.
        guard.unparsed.extend_from_slice(b"\x01\x02\x03\x04\x05GET /\x01 HTTP/1.1\r\n\r\n");
        let (_, unparsed_before_bad) = guard.parse().unwrap_err();
        assert_eq!(unparsed_before_bad, "GET /\x01 HTTP/1.1\r\n\r\n".len());
        assert!(!guard.in_body);
    }

    #[test]
    fn answers_are_complete_json_responses() {
        let answer = Rejection::from_parse_error(&ParseError::Header).to_http();
        let text = std::str::from_utf8(&answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/json") && head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "malformed_request");
    }
}
