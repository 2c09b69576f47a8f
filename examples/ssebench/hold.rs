//! `--hold-secs`: connect the subscribers to `GET /events` and keep them reading, with no
//! per-event bookkeeping, until SIGTERM/SIGINT or the hold time is over — the load of many
//! connected subscribers while something else (a backlog draining, other clients) makes the
//! events. Each subscriber only counts the events and bytes it read, so this program's memory
//! and CPU stay small whatever the gateway sends; delivery is checked by the default mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{open, wait_connected, Args, BoxError};

/// What one subscriber read.
#[derive(Debug, Default)]
struct Count {
    events: u64,
    bytes: u64,
    /// Why its stream ended before the stop, if it did.
    error: Option<String>,
}

/// Connects every subscriber, says so on stderr (`ssebench: N subscribers connected`: a script
/// waits for that line), holds until a signal or `hold` passes, and reports what they read.
/// The report and, when a subscriber failed, why.
pub async fn run(args: &Args, base: &str, hold: Duration) -> Result<(Value, Option<String>), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).tcp_nodelay(true).build()?;
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let (connected_tx, connected_rx) = mpsc::channel(args.subscribers);
    let stop = CancellationToken::new();
    let t_connect = Instant::now();
    let tasks: Vec<_> = (0..args.subscribers)
        .map(|_| {
            let request = http.get(format!("{base}/events")).bearer_auth(&args.token);
            tokio::spawn(subscribe(request, gate.clone(), connected_tx.clone(), stop.clone()))
        })
        .collect();
    drop(connected_tx);
    wait_connected(connected_rx, args.subscribers, deadline).await?;
    let connect_seconds = t_connect.elapsed().as_secs_f64();
    eprintln!("ssebench: {} subscribers connected", args.subscribers);

    let t_hold = Instant::now();
    let own_cpu_before = crate::procfs::cpu_seconds(std::process::id())?;
    let signal = wait_for_signal(hold).await?;
    let held_seconds = t_hold.elapsed().as_secs_f64();
    let own_cpu = crate::procfs::cpu_seconds(std::process::id())? - own_cpu_before;
    stop.cancel();
    let mut counts = Vec::with_capacity(tasks.len());
    for task in tasks {
        counts.push(task.await?);
    }

    let mut per_subscriber: Vec<u64> = counts.iter().map(|c| c.events).collect();
    per_subscriber.sort_unstable();
    let errors: Vec<String> = counts
        .iter()
        .enumerate()
        .filter_map(|(k, c)| c.error.as_ref().map(|e| format!("subscriber {k}: {e}")))
        .collect();
    let report = json!({
        "mode": "hold",
        "subscribers": args.subscribers,
        "connect_seconds": connect_seconds,
        "held_seconds": held_seconds,
        "stopped_by": signal,
        "open_at_stop": counts.len() - errors.len(),
        "events_received": per_subscriber.iter().sum::<u64>(),
        "bytes_received": counts.iter().map(|c| c.bytes).sum::<u64>(),
        "events_per_subscriber": {
            "min": per_subscriber.first(),
            "median": per_subscriber.get(per_subscriber.len() / 2),
            "max": per_subscriber.last(),
        },
        "client_cpu_seconds": own_cpu,
        "subscriber_errors": errors.len(),
        "first_errors": errors.iter().take(3).collect::<Vec<_>>(),
    });
    let failure = (!errors.is_empty())
        .then(|| format!("{} subscriber stream(s) ended early, e.g. {}", errors.len(), report["first_errors"]));
    Ok((report, failure))
}

/// One subscriber: connects, then counts what arrives until `stop`.
async fn subscribe(
    request: reqwest::RequestBuilder,
    gate: Arc<Semaphore>,
    connected: mpsc::Sender<Result<(), String>>,
    stop: CancellationToken,
) -> Count {
    let response = match open(request, gate, &connected).await {
        Ok(r) => r,
        Err(e) => return Count { error: Some(e), ..Count::default() },
    };
    drop(connected);
    let mut count = Count::default();
    let mut lines = DataLines::default();
    let mut body = response.bytes_stream();
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => break,
            chunk = body.next() => chunk,
        };
        match chunk {
            Some(Ok(bytes)) => {
                count.bytes += bytes.len() as u64;
                count.events += lines.push(&bytes);
            }
            Some(Err(e)) => {
                count.error = Some(format!("the stream broke: {e}"));
                break;
            }
            None => {
                count.error = Some("the stream ended".into());
                break;
            }
        }
    }
    count
}

/// Waits for SIGTERM, SIGINT or the end of `hold`; says which.
async fn wait_for_signal(hold: Duration) -> Result<&'static str, BoxError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        _ = tokio::time::sleep(hold) => "hold time",
    })
}

/// Counts SSE events without parsing them: each of procgate's events has exactly one `data:`
/// line, and it never starts the stream (`id:` comes first), so an event is a `\ndata:`.
#[derive(Default)]
struct DataLines {
    /// The last bytes of the previous chunk (fewer than the needle): a needle may straddle two.
    tail: Vec<u8>,
}

const NEEDLE: &[u8] = b"\ndata:";

impl DataLines {
    /// The `data:` lines that this chunk completes.
    fn push(&mut self, chunk: &[u8]) -> u64 {
        let keep = NEEDLE.len() - 1;
        // The tail plus the chunk's first bytes: too short to hold a needle that starts in the
        // chunk (counted next) or lies wholly in the tail, so none is counted twice.
        let mut joined = std::mem::take(&mut self.tail);
        joined.extend_from_slice(&chunk[..chunk.len().min(keep)]);
        let n = count_needles(&joined) + count_needles(chunk);
        self.tail = joined;
        if chunk.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            let drop = self.tail.len().saturating_sub(keep);
            self.tail.drain(..drop);
        }
        n
    }
}

fn count_needles(bytes: &[u8]) -> u64 {
    bytes.split(|b| *b == b'\n').skip(1).filter(|line| line.starts_with(&NEEDLE[1..])).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_events_however_the_stream_is_cut() {
        let stream: &[u8] = b": keep-alive\n\nid: 1\nevent: started\ndata: {\"a\":1}\n\n\
id: 2\nevent: completed\ndata: {\"data:\":2}\n\n: keep-alive\n\nid: 3\nevent: accepted\ndata: {}\n\n";
        for size in 1..=stream.len() {
            let mut lines = DataLines::default();
            let n: u64 = stream.chunks(size).map(|c| lines.push(c)).sum();
            assert_eq!(n, 3, "chunks of {size} bytes");
        }
    }
}
