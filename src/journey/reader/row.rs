//! One row's fields, whatever the format, validated into an [`Event`]: the row rules live here
//! once, so Parquet, CSV and JSONL cannot disagree about what a valid event is.

use crate::journey::error::RowProblem;
use crate::journey::event::{Channel, Event, EventType, Timestamp};

/// The fields of one row as text, before validation. A timestamp or value that could not be
/// read keeps its error until [`build_event`] reports it, so a row's problems are reported in
/// the same column order whatever the format.
pub(super) struct RawFields<'a> {
    pub(super) customer_id: Option<&'a str>,
    pub(super) timestamp: std::result::Result<Option<Timestamp>, CellError>,
    pub(super) event_type: Option<&'a str>,
    pub(super) channel: Option<&'a str>,
    pub(super) action_id: Option<&'a str>,
    pub(super) value: std::result::Result<Option<f64>, CellError>,
    pub(super) text: Option<&'a str>,
}

/// Why a cell could not be read as its column's type; the text becomes the row problem.
#[derive(Debug, thiserror::Error)]
pub(super) enum CellError {
    /// Text in the number column that does not parse as a number.
    #[error("'{0}' is not a number")]
    NotANumber(String),
    /// A JSON value of another type in the number column (the value is its kind, e.g. `a string`).
    #[error("expected a number, found {0}")]
    NotAJsonNumber(&'static str),
    /// A timestamp that does not parse or is out of range, as the timestamp parser explains it.
    #[error("{0}")]
    Timestamp(String),
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
        Err(problem) => return Err(RowProblem::new(row, "timestamp", problem.to_string())),
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
        Err(problem) => return Err(RowProblem::new(row, "value", problem.to_string())),
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

/// A number cell's text: `None` when blank.
pub(super) fn parse_number_text(text: Option<&str>) -> std::result::Result<Option<f64>, CellError> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) => t
            .parse::<f64>()
            .map(Some)
            .map_err(|_| CellError::NotANumber(t.to_string())),
    }
}

/// A timestamp cell's text (a date or a date-time): `None` when blank.
pub(super) fn parse_time_text(
    text: Option<&str>,
) -> std::result::Result<Option<Timestamp>, CellError> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) => Timestamp::parse_date_or_datetime(t)
            .map(Some)
            .map_err(|problem| CellError::Timestamp(problem.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_of(timestamp: &str, value: &str) -> RowProblem {
        let fields = RawFields {
            customer_id: Some("c1"),
            timestamp: parse_time_text(Some(timestamp)),
            event_type: Some("purchase"),
            channel: None,
            action_id: None,
            value: parse_number_text(Some(value)),
            text: None,
        };
        build_event(7, fields, &mut VocabularyCache::default()).unwrap_err()
    }

    #[test]
    fn unreadable_cells_are_reported_in_column_order_with_their_text() {
        let problem = problem_of("2024-01-01", "abc");
        assert_eq!(
            problem,
            RowProblem::new(7, "value", "'abc' is not a number")
        );
        // The timestamp comes before the value, whichever the format noticed first.
        let problem = problem_of("yesterday", "abc");
        assert_eq!((problem.row, problem.column.as_str()), (7, "timestamp"));
        assert_eq!(
            CellError::NotAJsonNumber("a string").to_string(),
            "expected a number, found a string"
        );
    }
}
