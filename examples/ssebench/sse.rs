//! Just enough of a Server-Sent Events reader for procgate's streams: splits the byte stream
//! into events and decodes each event's `data` as a job event. Comments (`: keep-alive`), `id:`
//! and `event:` lines are skipped: the JSON carries the same facts.

use serde::Deserialize;

/// The fields of a job event the benchmark needs.
#[derive(Debug, Deserialize)]
pub struct EventData {
    pub event_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub job_id: String,
    /// The database's transaction timestamp of the change (RFC 3339).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Accumulates chunks and hands out complete events.
#[derive(Default)]
pub struct SseBuffer {
    pending: Vec<u8>,
}

impl SseBuffer {
    /// Appends a chunk; returns every event it completed (an event ends with a blank line).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<EventData>, String> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(end) = find_blank_line(&self.pending[start..]) {
            let block = &self.pending[start..start + end];
            if let Some(event) = decode(block)? {
                events.push(event);
            }
            start += end + 2;
        }
        self.pending.drain(..start);
        Ok(events)
    }
}

fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\n\n")
}

/// One event block: `None` for a comment-only block (keep-alive).
fn decode(block: &[u8]) -> Result<Option<EventData>, String> {
    let text = std::str::from_utf8(block).map_err(|e| format!("an event that is not UTF-8: {e}"))?;
    let Some(data) = text.lines().find_map(|l| l.strip_prefix("data:")) else {
        return Ok(None);
    };
    serde_json::from_str(data.trim_start()).map(Some).map_err(|e| format!("an event's data ({data}): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_keep_alives() {
        let mut buf = SseBuffer::default();
        let event = b"id: 7\nevent: started\ndata: {\"event_id\":7,\"type\":\"started\",\"job_id\":\"ab\",\
\"at\":\"2026-11-24T00:51:42.413081Z\",\"status\":\"running\"}\n\n";
        let (a, b) = event.split_at(30);
        assert!(buf.push(b": keep-alive\n\n").unwrap().is_empty());
        assert!(buf.push(a).unwrap().is_empty());
        let got = buf.push(b).unwrap();
        assert_eq!((got[0].event_id, got[0].kind.as_str(), got[0].job_id.as_str()), (7, "started", "ab"));
    }
}
