//! `procgate job ID`: one job in full — its parameters, result or error, attempts, captured
//! output and recorded events — as plain text.

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::model::event::JobEvent;
use crate::model::Job;

use super::table::truncate;

pub fn render(job: &Job, events: &[JobEvent]) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<11}{value}");
    };
    field("Job", job.id.to_string());
    field("Status", format!("{} (attempt {} of {})", job.status, job.attempts, job.max_attempts));
    field("Procedure", job.procedure_name.clone());
    field("Owner", job.owner.clone());
    field("Progress", format!("{}%", job.progress));
    if let Some(message) = job.report.as_ref().and_then(|r| r.message.as_deref()) {
        field("Message", message.to_string());
    }
    field("Created", job.created_at.to_rfc3339());
    if let Some(start) = job.start_time {
        field("Started", start.to_rfc3339());
    }
    if let Some(end) = job.end_time {
        field("Ended", format!("{} ({})", end.to_rfc3339(), job.duration.clone().unwrap_or_default()));
    }
    if let Some(old) = &job.retry_of {
        field("Retry of", old.to_string());
    }
    if job.cancel_requested {
        field("Cancel", "requested: its instance is interrupting the call".into());
    }
    out.push_str("\nParameters\n");
    for p in job.params.as_array().into_iter().flatten() {
        let name = p.get("name").and_then(Json::as_str).unwrap_or("?");
        let direction = p.get("direction").and_then(Json::as_str).unwrap_or("IN");
        let value = p.get("value").map(Json::to_string).unwrap_or_else(|| "-".into());
        let _ = writeln!(out, "  {name} ({direction}) = {}", truncate(&value, 200));
    }
    if let Some(result) = &job.result {
        let _ = writeln!(out, "\nResult\n  {}", pretty(result).replace('\n', "\n  "));
    }
    if let Some(error) = &job.error {
        let _ = writeln!(out, "\nError\n  {}: {}", error.code, error.message);
    }
    let history = job.attempt_history.as_array().cloned().unwrap_or_default();
    if !history.is_empty() {
        out.push_str("\nFailed attempts\n");
        for a in &history {
            let text = |k: &str| a.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            let _ = writeln!(
                out,
                "  #{} {} {}: {}",
                text("attempt").unwrap_or_default(),
                text("ended_at").unwrap_or_default(),
                text("code").unwrap_or_default(),
                truncate(&text("message").unwrap_or_default(), 120)
            );
        }
    }
    if let Some(lines) = &job.output {
        let _ = writeln!(out, "\nOutput ({} line(s))", lines.len());
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !events.is_empty() {
        out.push_str("\nEvents\n");
        for e in events {
            let note = match (&e.error, &e.message) {
                (Some(err), _) => format!("{}: {}", err.code, err.message),
                (None, Some(message)) => message.clone(),
                (None, None) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:>6}  {}  {:<9}  {:>3}%  {}",
                e.event_id,
                e.at.format("%Y-%m-%d %H:%M:%S%.3f"),
                e.event_type,
                e.progress,
                truncate(&note, 80)
            );
        }
    }
    out
}

fn pretty(v: &Json) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
