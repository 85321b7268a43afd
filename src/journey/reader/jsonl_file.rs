//! JSONL: one JSON object per line, streamed line by line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::row::{build_event, parse_time_text, CellError, RawFields, VocabularyCache};
use super::{ChunkSource, EventChunk, Progress, ProgressUnit};
use crate::journey::error::{JourneyError, Result, RowProblem};
use crate::journey::event::Event;

pub(super) struct JsonlEvents {
    lines: BufReader<File>,
    buffer: Vec<u8>,
    line: u64,
    bytes: u64,
    total_bytes: u64,
    path: PathBuf,
    done: bool,
    cache: VocabularyCache,
}

impl JsonlEvents {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let handle = File::open(path).map_err(|e| JourneyError::io(path, e))?;
        let total_bytes = handle
            .metadata()
            .map_err(|e| JourneyError::io(path, e))?
            .len();
        Ok(JsonlEvents {
            lines: BufReader::with_capacity(1 << 20, handle),
            buffer: Vec::new(),
            line: 0,
            bytes: 0,
            total_bytes,
            path: path.to_path_buf(),
            done: false,
            cache: VocabularyCache::default(),
        })
    }
}

/// A JSON field as text, checking its JSON type.
fn json_text<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    row: u64,
    column: &str,
    allow_integer: bool,
    owned: &'a mut Option<String>,
) -> std::result::Result<Option<&'a str>, RowProblem> {
    use serde_json::Value;
    match object.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(Value::Number(n)) if allow_integer && (n.is_i64() || n.is_u64()) => {
            *owned = Some(n.to_string());
            Ok(owned.as_deref())
        }
        Some(other) => Err(RowProblem::new(
            row,
            column,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn jsonl_event(
    line: &str,
    row: u64,
    cache: &mut VocabularyCache,
) -> std::result::Result<Event, RowProblem> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
        .map_err(|e| RowProblem::new(row, "(row)", format!("is not a JSON object: {e}")))?;
    let mut id_buf = None;
    let mut unused = [None, None, None, None, None, None];
    let [ts_buf, type_buf, channel_buf, action_buf, text_buf, anonymous_buf] = &mut unused;
    let customer_id = json_text(&object, row, "customer_id", true, &mut id_buf)?;
    let timestamp = parse_time_text(json_text(&object, row, "timestamp", false, ts_buf)?);
    let event_type = json_text(&object, row, "event_type", false, type_buf)?;
    let channel = json_text(&object, row, "channel", false, channel_buf)?;
    let action_id = json_text(&object, row, "action_id", true, action_buf)?;
    let text = json_text(&object, row, "text", false, text_buf)?;
    let anonymous_id = json_text(&object, row, "anonymous_id", true, anonymous_buf)?;
    let value = match object.get("value") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(CellError::NotAJsonNumber(json_kind(other))),
    };
    build_event(
        row,
        RawFields {
            customer_id,
            timestamp,
            event_type,
            channel,
            action_id,
            value,
            text,
            anonymous_id,
        },
        cache,
    )
}

impl ChunkSource for JsonlEvents {
    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<EventChunk>> {
        let mut chunk = EventChunk::default();
        while !self.done && chunk.events.len() + chunk.problems.len() < max_rows {
            self.buffer.clear();
            let read = self
                .lines
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| JourneyError::io(&self.path, e))?;
            if read == 0 {
                self.done = true;
                break;
            }
            self.bytes += read as u64;
            self.line += 1;
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                chunk
                    .problems
                    .push(RowProblem::new(self.line, "(row)", "is not valid UTF-8"));
                continue;
            };
            let line = text.trim();
            if line.is_empty() {
                continue;
            }
            match jsonl_event(line, self.line, &mut self.cache) {
                Ok(event) => chunk.events.push(event),
                Err(problem) => chunk.problems.push(problem),
            }
        }
        if chunk.events.is_empty() && chunk.problems.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunk))
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self.bytes,
            total: Some(self.total_bytes),
            unit: ProgressUnit::Bytes,
        }
    }
}
