//! A `GET /events` subscriber that reads too slowly falls behind the live events (the hub keeps
//! 4,096 per subscriber) and catches up from the event table (src/jobs/events/feed.rs): it still
//! gets every event, once, and `procgate_sse_catch_ups_total` counts the catch-up.
//! The client here is a raw connection with a receive buffer of a few kilobytes that stops
//! reading after the response headers while 8,000 jobs run (three events each), then reads on.
//! (Every event once; not strictly by id: one whose transaction commits late is sent late.)

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Enough events to fill what the connection holds (the server's send buffer grows to 4 MB on
/// Linux: ~14,000 events of ~300 bytes) and then the subscriber's 4,096: 6,000 jobs (18,000 events)
/// made it fall behind once here; 8,000 leave a margin.
const JOBS: usize = 8_000;
/// Running 8,000 jobs on a busy CI machine takes longer than one job's deadline.
const DEADLINE: Duration = Duration::from_secs(180);

/// `procgate_sse_catch_ups_total` as `GET /metrics` shows it (0 before the first catch-up).
async fn catch_ups(app: &TestApp) -> f64 {
    let text = app.get("/metrics", ADMIN).await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("procgate_sse_catch_ups_total "))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// A connection to the gateway whose receive buffer holds a few kilobytes, so the server's writes
/// block soon after the client stops reading.
async fn small_buffer_connection(app: &TestApp) -> tokio::net::TcpStream {
    let address: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&address.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    tokio::net::TcpStream::from_std(socket.into()).unwrap()
}

/// The body of a chunked HTTP/1.1 answer read so far, and the bytes of an unfinished chunk.
fn dechunk(raw: &mut Vec<u8>, body: &mut String) {
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else { return };
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16).unwrap();
        if raw.len() < line_end + 2 + size + 2 {
            return;
        }
        body.push_str(std::str::from_utf8(&raw[line_end + 2..line_end + 2 + size]).unwrap());
        raw.drain(..line_end + 2 + size + 2);
    }
}

/// The ids of the complete events in `body`, removed from it (comments are dropped; an
/// unfinished block stays).
fn take_event_ids(body: &mut String) -> Vec<i64> {
    let mut ids = Vec::new();
    while let Some(end) = body.find("\n\n") {
        let block: String = body.drain(..end + 2).collect();
        ids.extend(crate::contract::events::parse(&block).map(|e| e.id));
    }
    ids
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_catches_up_from_the_table_and_misses_nothing() {
    let app = spawn_app_with(&[("WORKERS", "8")]).await;
    let db = app.db.client().await;
    let before = catch_ups(&app).await;

    let mut stream = small_buffer_connection(&app).await;
    stream
        .write_all(format!("GET /events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let deadline = Instant::now() + JOB_DEADLINE;
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        assert!(Instant::now() < deadline, "no response head: {:?}", String::from_utf8_lossy(&raw));
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the gateway closed the connection");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    raw.drain(..head_end + 4);

    // The client reads nothing more while the jobs run.
    futures_util::stream::iter(0..JOBS)
        .for_each_concurrent(16, |i| {
            let app = &app;
            async move {
                app.submit(&proc_test(&format!("lag-{i}"))).await;
            }
        })
        .await;
    let deadline = Instant::now() + DEADLINE;
    while count(&db, "SELECT count(*) FROM async_jobs WHERE status = 'completed'").await < JOBS as i64 {
        assert!(Instant::now() < deadline, "the jobs did not all complete in {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written: Vec<i64> = db
        .query("SELECT event_id FROM async_job_events ORDER BY event_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(written.len() >= 3 * JOBS, "{} events written for {JOBS} jobs", written.len());
    let last = *written.last().unwrap();

    // Now it reads: every event arrives, once.
    let mut body = String::new();
    let mut received = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while !received.contains(&last) || received.len() < written.len() {
        assert!(Instant::now() < deadline, "{} of {} events by the deadline", received.len(), written.len());
        let mut buf = vec![0u8; 64 * 1024];
        let Ok(read) = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await else {
            panic!("the stream went quiet with {} of {} events received", received.len(), written.len());
        };
        let n = read.unwrap();
        assert!(n > 0, "the gateway ended the stream after {} events", received.len());
        raw.extend_from_slice(&buf[..n]);
        dechunk(&mut raw, &mut body);
        received.extend(take_event_ids(&mut body));
    }
    // Ids are not strictly increasing: an event whose transaction commits after a later id's is
    // sent when it appears (src/jobs/events/tail.rs). None may come twice, none may be missing.
    let unique: BTreeSet<i64> = received.iter().copied().collect();
    assert_eq!(unique.len(), received.len(), "{} events came twice", received.len() - unique.len());
    let missing: BTreeSet<_> = written.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never arrived, e.g. {:?}",
        missing.len(),
        written.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(received.len(), written.len());

    // It did fall behind (else this test proved nothing about catching up).
    assert!(catch_ups(&app).await > before, "the subscriber never fell behind");
}
