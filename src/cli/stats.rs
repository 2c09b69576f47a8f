//! `procgate stats`: the figures of `GET /stats`, read straight from the database, as tables.

use std::fmt::Write as _;

use crate::jobs::stats::{EndedCount, QueueStats, Windows};

pub fn render(s: &QueueStats) -> String {
    let mut out = String::new();
    let jobs = &s.jobs;
    let _ = writeln!(out, "JOBS ({})", if s.scope == "all" { "every owner" } else { "one owner" });
    out.push_str(&table(
        &["PENDING", "DELAYED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"],
        &[vec![
            jobs.pending.to_string(),
            jobs.delayed.to_string(),
            jobs.running.to_string(),
            ended(&jobs.completed),
            ended(&jobs.failed),
            ended(&jobs.cancelled),
        ]],
    ));
    let oldest = s.oldest_due_pending_seconds.map_or_else(|| "-".to_string(), |secs| format!("{secs:.1} s"));
    let _ = writeln!(out, "oldest due pending job waited: {oldest}");
    for (status, count) in [("completed", &jobs.completed), ("failed", &jobs.failed), ("cancelled", &jobs.cancelled)] {
        if let Some(reason) = &count.reason {
            let _ = writeln!(out, "{status}: {reason}");
        }
    }
    out.push('\n');
    let rates = |w: &Windows| vec![w.m1.to_string(), w.m5.to_string(), w.m15.to_string()];
    let mut completed = vec!["completed".to_string()];
    completed.extend(rates(&s.completed));
    let mut failed = vec!["failed".to_string()];
    failed.extend(rates(&s.failed));
    out.push_str(&table(&["LAST", "1M", "5M", "15M"], &[completed, failed]));
    out.push('\n');
    let procedures: Vec<Vec<String>> = s
        .procedures
        .iter()
        .map(|p| {
            vec![
                p.procedure.clone(),
                p.pending.to_string(),
                p.delayed.to_string(),
                p.running.to_string(),
                p.completed_15m.to_string(),
                p.failed_15m.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&["PROCEDURE", "PENDING", "DELAYED", "RUNNING", "COMPLETED_15M", "FAILED_15M"], &procedures));
    if let Some(instances) = &s.instances {
        out.push('\n');
        let time = |t: &Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(|| "-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|i| {
                vec![
                    i.instance_id.clone(),
                    format!("{}/{}", i.workers_busy, i.workers),
                    time(&i.heartbeat_at),
                    time(&i.started_at),
                    if i.live { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect();
        out.push_str(&table(&["INSTANCE", "BUSY/WORKERS", "HEARTBEAT_AT", "STARTED_AT", "LIVE"], &rows));
    }
    out
}

fn ended(c: &EndedCount) -> String {
    match (c.count, c.estimated) {
        (Some(n), false) => n.to_string(),
        (Some(n), true) => format!("~{n}"),
        (None, _) => format!(">{}", crate::jobs::stats::EXACT_CAP),
    }
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
