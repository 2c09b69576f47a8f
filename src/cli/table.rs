//! `procgate jobs`: the predecessor's `view_status.js` as a plain terminal table.

use std::fmt::Write as _;

use crate::model::Job;

pub fn render(jobs: &[Job]) -> String {
    let header = ["JOB_ID", "STATUS", "PROGRESS", "PROCEDURE", "OWNER", "CREATED_AT", "DURATION", "ERROR"];
    let rows: Vec<[String; 8]> = jobs
        .iter()
        .map(|j| {
            [
                j.id.to_string(),
                j.status.to_string(),
                format!("{}%", j.progress),
                j.procedure_name.clone(),
                j.owner.clone(),
                j.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                j.duration.clone().unwrap_or_default(),
                j.error.as_ref().map(|e| truncate(&format!("{}: {}", e.code, e.message), 60)).unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let parts: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&mut out, &header);
    for row in &rows {
        line(&mut out, &row.each_ref().map(String::as_str));
    }
    out
}

/// At most `max` characters on one line (`…` marks a cut).
pub(super) fn truncate(s: &str, max: usize) -> String {
    let mut t: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        t.push('…');
    }
    t.replace('\n', " ")
}
