//! Every error answer is JSON, including the requests the HTTP parser refuses before a handler
//! runs, and a flood of those does not flood the log. Raw bytes over a plain TCP socket, so the
//! requests can be as broken as a client can make them.
//! Not in the contract suite: the HTTP edge (the request parser), no database behaviour.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// One HTTP answer as it came over the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Json,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Asserts a typed JSON error with this status and code.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.header("content-type"), Some("application/json"), "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{self:?}");
    }
}

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Writes `request` on a fresh connection and reads until the server closes it.
async fn exchange(port: u16, request: &[u8]) -> Vec<Answer> {
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The server may stop reading a huge head part-way: it answers anyway.
    let _ = socket.write_all(request).await;
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), socket.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .expect("the answer is readable, not reset");
    parse_answers(&received)
}

fn parse_answers(mut bytes: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while !bytes.is_empty() {
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head") + 4;
        let head = std::str::from_utf8(&bytes[..head_end]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize =
            headers.iter().find(|(n, _)| n == "content-length").expect("content-length").1.parse().unwrap();
        let body = serde_json::from_slice(&bytes[head_end..head_end + length]).expect("a JSON body");
        answers.push(Answer { status, headers, body });
        bytes = &bytes[head_end + length..];
    }
    answers
}

async fn one_answer(port: u16, request: &[u8]) -> Answer {
    let mut answers = exchange(port, request).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.remove(0)
}

#[tokio::test]
async fn requests_the_parser_refuses_get_json_errors() {
    let app = spawn_app().await;
    let port = port(&app);
    let huge_header = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(200_000));
    let many_headers: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "bad Content-Length",
            b"POST /procedure HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (
            "two Content-Lengths",
            b"POST /procedure HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            400,
            "malformed_request",
        ),
        ("control byte in the path", b"GET /jobs/\x01 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "malformed_request"),
        (
            "non-ASCII byte in the path",
            b"GET /jobs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        ("space in the path", b"GET /jobs /x HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("malformed request line", b"HELLO\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("unknown HTTP version", b"GET /health HTTP/7.1\r\nHost: x\r\n\r\n".to_vec(), 400, "malformed_request"),
        ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n".to_vec(), 400, "malformed_request"),
        (
            "header without a colon",
            b"GET /health HTTP/1.1\r\nHost: x\r\nBroken header\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (
            "chunked and Content-Length",
            b"POST /procedure HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n".to_vec(),
            400,
            "malformed_request",
        ),
        (
            "oversized URI",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(70_000)).into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            "URI longer than a head may be",
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(200_000)).into_bytes(),
            431,
            "headers_too_large",
        ),
        ("oversized header", huge_header.into_bytes(), 431, "headers_too_large"),
        (
            "too many headers",
            format!("GET /health HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n").into_bytes(),
            431,
            "headers_too_large",
        ),
    ];
    for (what, request, status, code) in cases {
        let answer = one_answer(port, &request).await;
        assert_eq!(answer.header("connection"), Some("close"), "{what}");
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        answer.assert_error(status, code);
    }
    // The server is unharmed.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_bad_request_after_good_ones_answers_them_first() {
    let app = spawn_app().await;
    let port = port(&app);
    // Pipelined: two good requests, then a broken one, in one write.
    let answers = exchange(
        port,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!((answers[0].status, &answers[0].body["status"]), (200, &Json::from("ok")));
    answers[1].assert_error(404, "not_found");
    answers[2].assert_error(400, "malformed_request");

    // Keep-alive: a good exchange, then a broken request on the same connection.
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    socket.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = vec![0u8; 4096];
    let n = socket.read(&mut first).await.unwrap();
    assert_eq!(parse_answers(&first[..n])[0].status, 200);
    socket.write_all(b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n").await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), socket.read_to_end(&mut rest)).await.unwrap().unwrap();
    parse_answers(&rest)[0].assert_error(400, "malformed_request");
}

#[tokio::test]
async fn a_request_head_that_never_completes_times_out_with_408() {
    let app = spawn_app().await;
    let started = Instant::now();
    let answer = one_answer(port(&app), b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
    answer.assert_error(408, "request_timeout");
    assert!(started.elapsed() >= Duration::from_secs(4), "answered before the head timeout");
}

#[tokio::test]
async fn handler_errors_are_typed_json_over_the_wire() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let port = port(&app);
    let auth = format!("Authorization: Bearer {ADMIN}\r\n");
    let request = |line: &str, extra: &str, body: &str| {
        format!("{line}\r\nHost: x\r\nConnection: close\r\n{auth}{extra}Content-Length: {}\r\n\r\n{body}", body.len())
            .into_bytes()
    };
    let json = "Content-Type: application/json\r\n";
    let big = format!(r#"{{"name":"PROC_TEST","params":[{{"name":"p_input","value":"{}"}}]}}"#, "x".repeat(2000));
    let cases = [
        ("unknown route", request("GET /nowhere HTTP/1.1", "", ""), 404, "not_found"),
        ("wrong method", request("PUT /jobs HTTP/1.1", "", ""), 405, "method_not_allowed"),
        ("body too large", request("POST /procedure/async HTTP/1.1", json, &big), 413, "payload_too_large"),
        (
            "wrong content type",
            request("POST /procedure/async HTTP/1.1", "Content-Type: text/plain\r\n", "{}"),
            415,
            "unsupported_media_type",
        ),
        ("unparsable JSON", request("POST /procedure/async HTTP/1.1", json, "{\"name\": "), 400, "invalid_json"),
        // Path parameters are strings: any id reads, and an unknown one is simply not found.
        ("path parameter not UTF-8", request("GET /jobs/%FF%FE HTTP/1.1", "", ""), 404, "job_not_found"),
        ("bad query string", request("GET /jobs?limit=many HTTP/1.1", "", ""), 400, "invalid_query"),
        ("no token", b"GET /jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 401, "unauthorized"),
    ];
    for (what, request, status, code) in cases {
        let answer = one_answer(port, &request).await;
        assert_eq!(answer.status, status, "{what}: {answer:?}");
        answer.assert_error(status, code);
    }
}

/// Reads the server's stderr lines until one contains `needle`, returning it.
fn line_containing(lines: &mut impl Iterator<Item = String>, needle: &str, seen: &mut Vec<String>) -> String {
    for line in lines {
        seen.push(line.clone());
        if line.contains(needle) {
            return line;
        }
    }
    panic!("the server never logged {needle:?}: {seen:#?}");
}

#[tokio::test]
async fn a_burst_of_bad_requests_logs_one_warning_not_one_error_each() {
    let db = TestDatabase::create().await;
    let mut server = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(["serve"])
        .env("DATABASE_URL", &db.url)
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("API_TOKEN", "log-test-token-1")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(server.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = rx.iter();
    let mut seen = Vec::new();
    let listening = line_containing(&mut lines, "procgate listening", &mut seen);
    let port: u16 =
        listening.split("port=").nth(1).unwrap().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();

    let bad: [&[u8]; 4] = [
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
        b"BROKEN\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
    ];
    for i in 0..200 {
        let answer = one_answer(port, bad[i % bad.len()]).await;
        assert_eq!(answer.status, 400);
    }
    // Each warning is written before its answer is sent, so the log is complete here.
    server.kill().unwrap();
    server.wait().unwrap();
    let rest: Vec<String> = lines.collect();
    reader.join().unwrap();
    seen.extend(rest);

    let warnings = seen.iter().filter(|l| l.contains("refused a request the HTTP parser could not read")).count();
    assert!((1..=2).contains(&warnings), "{warnings} warning lines for 200 bad requests: {seen:#?}");
    assert!(seen.iter().all(|l| !l.contains("ERROR")), "an ERROR line for a client's bad request: {seen:#?}");
    assert!(seen.iter().any(|l| l.contains("WARN") && l.contains("refused a request")), "{seen:#?}");
}

#[tokio::test]
async fn a_body_broken_part_way_gets_one_json_answer() {
    let app = spawn_app().await;
    // The head is fine and reaches the handler; the chunked body then breaks: the handler sees
    // an unfinished body and answers, and nothing is answered twice.
    let request = format!(
        "POST /procedure/async HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"nam\r\nzz\r\n"
    );
    let answer = one_answer(port(&app), request.as_bytes()).await;
    assert_eq!(answer.header("content-type"), Some("application/json"), "{answer:?}");
    assert!((400..500).contains(&answer.status), "{answer:?}");
    assert!(answer.body["error"]["code"].is_string(), "{answer:?}");
    assert_eq!(count(&app.db.client().await, "SELECT count(*) FROM async_jobs").await, 0);
}
