//! One row's fields, whatever the format, validated into an [`Event`]: the row rules live here
//! once, so Parquet, CSV and JSONL cannot disagree about what a valid event is.

use crate::journey::error::RowProblem;
use crate::journey::event::{Channel, Event, EventType, Timestamp};

/// The fields of one row as text, before validation. A timestamp or value that could not be
/// read keeps its error until [`build_event`] reports it, so a row's problems are reported in
/// the same column order whatever the format.
pub(crate) struct RawFields<'a> {
    pub(crate) customer_id: Option<&'a str>,
    pub(crate) timestamp: std::result::Result<Option<Timestamp>, CellError>,
    pub(crate) event_type: Option<&'a str>,
    pub(crate) channel: Option<&'a str>,
    pub(crate) action_id: Option<&'a str>,
    pub(crate) value: std::result::Result<Option<f64>, CellError>,
    pub(crate) text: Option<&'a str>,
    pub(crate) anonymous_id: Option<&'a str>,
}

/// Why a cell could not be read as its column's type; the text becomes the row problem.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CellError {
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
pub(crate) fn non_empty(text: Option<&str>) -> Option<&str> {
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

/// One row that passed the rules, still borrowing its text: the analytics log interns it
/// without building an [`Event`].
pub(crate) struct ValidRow<'a> {
    /// The customer; empty on an anonymous event.
    pub(crate) customer_id: &'a str,
    pub(crate) timestamp: Timestamp,
    pub(crate) event_type: &'a str,
    pub(crate) channel: Option<&'a str>,
    pub(crate) action_id: Option<&'a str>,
    pub(crate) value: Option<f64>,
    pub(crate) text: Option<&'a str>,
    pub(crate) anonymous_id: Option<&'a str>,
}

/// What an identify event is for, in its error messages.
const IDENTIFY_LINKS: &str = "an identify event links an anonymous_id to a customer_id";

/// Whether rows of this (trimmed) event type need both a customer and an anonymous id: the
/// rule [`validate_row`] applies, for readers that check a column's distinct types once.
#[inline]
pub(crate) fn needs_both_ids(event_type: &str) -> bool {
    event_type == EventType::Identify.as_str()
}

/// The row rules, the one place that knows them: every event needs a customer or an anonymous
/// id, a timestamp and a type; an `identify` event needs both ids; a value must be finite.
pub(crate) fn validate_row(
    row: u64,
    fields: RawFields<'_>,
) -> std::result::Result<ValidRow<'_>, RowProblem> {
    let anonymous_id = non_empty(fields.anonymous_id);
    let customer_id = match (non_empty(fields.customer_id), anonymous_id) {
        (Some(id), _) => id,
        (None, Some(_)) => "",
        (None, None) => {
            return Err(RowProblem::new(
                row,
                "customer_id",
                "is empty and there is no anonymous_id; every event needs a customer or an anonymous visitor",
            ))
        }
    };
    let timestamp = match fields.timestamp {
        Ok(Some(ts)) => ts,
        Ok(None) => return Err(RowProblem::new(row, "timestamp", "is empty")),
        Err(problem) => return Err(RowProblem::new(row, "timestamp", problem.to_string())),
    };
    let event_type = non_empty(fields.event_type)
        .ok_or_else(|| RowProblem::new(row, "event_type", "is empty"))?;
    if needs_both_ids(event_type) {
        if customer_id.is_empty() {
            let problem = format!("is empty; {IDENTIFY_LINKS}");
            return Err(RowProblem::new(row, "customer_id", problem));
        }
        if anonymous_id.is_none() {
            let problem = format!("is empty; {IDENTIFY_LINKS}");
            return Err(RowProblem::new(row, "anonymous_id", problem));
        }
    }
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
    Ok(ValidRow {
        customer_id,
        timestamp,
        event_type,
        channel: non_empty(fields.channel),
        action_id: non_empty(fields.action_id),
        value,
        // Text keeps its own spacing; only blank text counts as absent.
        text: fields.text.filter(|t| !t.trim().is_empty()),
        anonymous_id,
    })
}

/// Validates one row's fields into an event ([`validate_row`]'s rules).
pub(super) fn build_event(
    row: u64,
    fields: RawFields<'_>,
    cache: &mut VocabularyCache,
) -> std::result::Result<Event, RowProblem> {
    let valid = validate_row(row, fields)?;
    Ok(Event {
        customer_id: valid.customer_id.to_string(),
        timestamp: valid.timestamp,
        event_type: cache.event_type(valid.event_type),
        channel: valid.channel.map(|c| cache.channel(c)),
        action_id: valid.action_id.map(str::to_string),
        value: valid.value,
        text: valid.text.map(str::to_string),
        anonymous_id: valid.anonymous_id.map(str::to_string),
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
            anonymous_id: None,
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
