//! The gateway's memory and CPU time, read from `/proc/<pid>` (Linux): resident set (`VmRSS`)
//! and its high-water mark since the process started (`VmHWM`), in KiB; user + system CPU.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn read(pid: u32) -> Result<Memory, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> Result<u64, String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// Samples `VmRSS` every `every` until `stop`; the returned cell holds the largest value seen.
pub fn sample_peak(pid: u32, every: Duration, stop: CancellationToken) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let cell = peak.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Ok(m) = read(pid) {
                cell.fetch_max(m.rss_kib, Ordering::Relaxed);
            }
        }
    });
    peak
}

/// User + system CPU seconds the process (all its threads) has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) in parentheses: utime and stime are
    // the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or(format!("bad /proc/{pid}/stat"));
    Ok((ticks(11)? + ticks(12)?) as f64 / 100.0)
}
