//! Which events a query looks at: a period of time and a segment of customers.

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::EventLog;
use crate::journey::{AttrValue, CustomerTable, Timestamp};

/// A half-open period `[from, to)`; an open end takes the log's first or last event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// First instant included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// First instant excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
}

impl Period {
    /// Checks `from < to` when both are given.
    pub fn checked(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<Self> {
        if let (Some(f), Some(t)) = (from, to) {
            if f >= t {
                return Err(AnalyticsError::invalid(
                    "to",
                    format!("must be after from ({f}), got {t}"),
                ));
            }
        }
        Ok(Period { from, to })
    }

    /// Both ends, open ends closed on the log's span (`to` just after the last event).
    pub fn resolve(&self, log: &EventLog) -> (i64, i64) {
        let (first, last) = log
            .span()
            .map_or((0, 1), |(a, b)| (a.0, b.0.saturating_add(1)));
        (
            self.from.map_or(first, |t| t.0),
            self.to.map_or(last, |t| t.0),
        )
    }
}

/// One condition on a customer attribute: `column=value` or `column!=value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeCondition {
    /// The customer table's column.
    pub column: String,
    /// The value, as text (numbers, `true`/`false` and dates are compared by meaning).
    pub value: String,
    /// Whether the condition is negated (`!=`).
    #[serde(default)]
    pub negated: bool,
}

impl AttributeCondition {
    /// Parses `column=value` or `column!=value`.
    pub fn parse(text: &str) -> Result<Self> {
        let (column, value, negated) = if let Some((c, v)) = text.split_once("!=") {
            (c, v, true)
        } else if let Some((c, v)) = text.split_once('=') {
            (c, v, false)
        } else {
            return Err(AnalyticsError::invalid(
                "where",
                format!("'{text}' is not column=value or column!=value"),
            ));
        };
        let column = column.trim();
        if column.is_empty() {
            return Err(AnalyticsError::invalid(
                "where",
                format!("'{text}' names no column"),
            ));
        }
        Ok(AttributeCondition {
            column: column.to_string(),
            value: value.trim().to_string(),
            negated,
        })
    }

    fn matches(&self, value: &AttrValue) -> bool {
        let equal = match value {
            AttrValue::Missing => self.value.is_empty(),
            AttrValue::Number(x) => self.value.parse::<f64>().is_ok_and(|v| v == *x),
            AttrValue::Bool(b) => self.value.parse::<bool>().is_ok_and(|v| v == *b),
            AttrValue::Date(t) => {
                Timestamp::parse_date_or_datetime(&self.value).is_ok_and(|v| v == *t)
            }
            AttrValue::Category(c) => *c == self.value,
        };
        equal != self.negated
    }
}

/// Which customers a query covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentSpec {
    /// Conditions on customer attributes, all of which must hold (needs a customer table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<AttributeCondition>,
    /// An explicit list of customer ids (combined with the conditions by AND).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
}

impl SegmentSpec {
    /// Whether the spec selects everybody.
    pub fn is_everyone(&self) -> bool {
        self.conditions.is_empty() && self.ids.is_none()
    }

    /// Per customer of the log: whether it is in the segment.
    pub fn members(&self, log: &EventLog, table: Option<&CustomerTable>) -> Result<Vec<bool>> {
        let mut members = vec![true; log.customer_count()];
        if let Some(ids) = &self.ids {
            let wanted: rustc_hash::FxHashSet<&str> = ids.iter().map(String::as_str).collect();
            for (c, id) in log.customers.iter().enumerate() {
                members[c] = wanted.contains(id.as_str());
            }
        }
        if self.conditions.is_empty() {
            return Ok(members);
        }
        let table = table.ok_or_else(|| {
            AnalyticsError::invalid("where", "conditions on attributes need a customer table")
        })?;
        let mut columns = Vec::new();
        for condition in &self.conditions {
            let column = table
                .attributes
                .iter()
                .position(|a| a.name == condition.column)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        table.attributes.iter().map(|a| a.name.as_str()).collect();
                    AnalyticsError::invalid(
                        "where",
                        format!(
                            "the customer table has no column '{}' (it has {})",
                            condition.column,
                            known.join(", ")
                        ),
                    )
                })?;
            columns.push(column);
        }
        for (c, id) in log.customers.iter().enumerate() {
            if !members[c] {
                continue;
            }
            members[c] = match table.get(id) {
                Some(row) => self
                    .conditions
                    .iter()
                    .zip(&columns)
                    .all(|(condition, &column)| condition.matches(&row[column])),
                // A customer the table lacks has every attribute missing.
                None => self
                    .conditions
                    .iter()
                    .all(|condition| condition.matches(&AttrValue::Missing)),
            };
        }
        Ok(members)
    }
}

/// A customer attribute's value as a group label (for breakdowns).
pub fn attribute_label(value: &AttrValue) -> String {
    match value {
        AttrValue::Missing => "(none)".to_string(),
        AttrValue::Number(x) => format!("{x}"),
        AttrValue::Bool(b) => b.to_string(),
        AttrValue::Date(t) => t.to_rfc3339(),
        AttrValue::Category(c) => c.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_say_what_is_wrong() {
        let c = AttributeCondition::parse("plan != basic").unwrap();
        assert_eq!(
            (c.column.as_str(), c.value.as_str(), c.negated),
            ("plan", "basic", true)
        );
        assert!(c.matches(&AttrValue::Category("plus".into())));
        assert!(!c.matches(&AttrValue::Category("basic".into())));
        let err = AttributeCondition::parse("plan").unwrap_err();
        assert_eq!(
            err.to_string(),
            "where: 'plan' is not column=value or column!=value"
        );
        assert!(AttributeCondition::parse("x=2")
            .unwrap()
            .matches(&AttrValue::Number(2.0)));
    }
}
