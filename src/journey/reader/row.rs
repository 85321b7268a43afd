//! One row's fields, whatever the format, validated into an [`Event`]: the row rules live here
//! once, so Parquet, CSV and JSONL cannot disagree about what a valid event is.

use crate::journey::error::RowProblem;
use crate::journey::event::{Channel, Event, EventType, Timestamp};

/// The fields of one row as text, before validation.
pub(super) struct RawFields<'a> {
    pub(super) customer_id: Option<&'a str>,
    pub(super) timestamp: std::result::Result<Option<Timestamp>, String>,
    pub(super) event_type: Option<&'a str>,
    pub(super) channel: Option<&'a str>,
    pub(super) action_id: Option<&'a str>,
    pub(super) value: std::result::Result<Option<f64>, String>,
    pub(super) text: Option<&'a str>,
}

/// The trimmed text, or `None` when absent or blank. Most cells need no trimming, so check the
/// ends before paying for a trim.
#[inline]
fn non_empty(text: Option<&str>) -> Option<&str> {
    let text = text?;
    let bytes = text.as_bytes();
    let clean = match (bytes.first(), bytes.last()) {
        (None, _) => return None,
        (Some(first), Some(last))
            if !first.is_ascii_whitespace() && !last.is_ascii_whitespace() && first.is_ascii() =>
        {
            text
        }
        _ => text.trim(),
    };
    (!clean.is_empty()).then_some(clean)
}

/// Remembers the last event type and channel parsed: in real files the same few values repeat,
/// so most rows skip the parse.
#[derive(Default)]
pub(super) struct VocabularyCache {
    event_type: Option<(String, EventType)>,
    channel: Option<(String, Channel)>,
}

impl VocabularyCache {
    #[inline]
    fn event_type(&mut self, text: &str) -> EventType {
        match &self.event_type {
            Some((last, parsed)) if last == text => parsed.clone(),
            _ => {
                let parsed = EventType::parse(text);
                self.event_type = Some((text.to_string(), parsed.clone()));
                parsed
            }
        }
    }

    #[inline]
    fn channel(&mut self, text: &str) -> Channel {
        match &self.channel {
            Some((last, parsed)) if last == text => parsed.clone(),
            _ => {
                let parsed = Channel::parse(text);
                self.channel = Some((text.to_string(), parsed.clone()));
                parsed
            }
        }
    }
}

/// Validates one row's fields into an event: the one place that knows the row rules.
pub(super) fn build_event(
    row: u64,
    fields: RawFields<'_>,
    cache: &mut VocabularyCache,
) -> std::result::Result<Event, RowProblem> {
    let customer_id = non_empty(fields.customer_id).ok_or_else(|| {
        RowProblem::new(row, "customer_id", "is empty; every event needs a customer")
    })?;
    let timestamp = match fields.timestamp {
        Ok(Some(ts)) => ts,
        Ok(None) => return Err(RowProblem::new(row, "timestamp", "is empty")),
        Err(problem) => return Err(RowProblem::new(row, "timestamp", problem)),
    };
    let event_type = non_empty(fields.event_type)
        .ok_or_else(|| RowProblem::new(row, "event_type", "is empty"))?;
    let value = match fields.value {
        Ok(Some(v)) if !v.is_finite() => {
            return Err(RowProblem::new(
                row,
                "value",
                format!("{v} is not a finite number"),
            ))
        }
        Ok(v) => v,
        Err(problem) => return Err(RowProblem::new(row, "value", problem)),
    };
    Ok(Event {
        customer_id: customer_id.to_string(),
        timestamp,
        event_type: cache.event_type(event_type),
        channel: non_empty(fields.channel).map(|c| cache.channel(c)),
        action_id: non_empty(fields.action_id).map(str::to_string),
        value,
        // Text keeps its own spacing; only blank text counts as absent.
        text: fields
            .text
            .filter(|t| !t.trim().is_empty())
            .map(str::to_string),
    })
}

pub(super) fn parse_number_text(text: Option<&str>) -> std::result::Result<Option<f64>, String> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) => t
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("'{t}' is not a number")),
    }
}

pub(super) fn parse_time_text(
    text: Option<&str>,
) -> std::result::Result<Option<Timestamp>, String> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) => Timestamp::parse_date_or_datetime(t).map(Some),
    }
}
