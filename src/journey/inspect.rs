//! A summary of an event file (and optionally its customer table) for `nextbest inspect`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::customers::CustomerTable;
use super::error::RowProblem;
use super::event::{Event, Timestamp};

/// How many problem rows to keep as examples.
const PROBLEM_EXAMPLES: usize = 20;

/// What an event file holds, gathered chunk by chunk.
#[derive(Debug, Default, Serialize)]
pub struct JourneySummary {
    /// Rows read without problems.
    pub events: u64,
    /// Distinct customers with at least one event.
    pub customers: u64,
    /// Earliest event.
    pub first_event: Option<Timestamp>,
    /// Latest event.
    pub last_event: Option<Timestamp>,
    /// Events per type (known and unknown).
    pub by_event_type: BTreeMap<String, u64>,
    /// Events per channel; `(none)` for events without one.
    pub by_channel: BTreeMap<String, u64>,
    /// Events whose type is outside the known vocabulary, per type.
    pub unknown_event_types: BTreeMap<String, u64>,
    /// Events whose channel is outside the known vocabulary, per channel.
    pub unknown_channels: BTreeMap<String, u64>,
    /// Events per action id, on `action` events.
    pub by_action: BTreeMap<String, u64>,
    /// Sum of `value` over purchase and conversion events.
    pub revenue: f64,
    /// Events carrying text.
    pub events_with_text: u64,
    /// Events that come earlier than the customer's previous event in the file.
    pub out_of_time_order: u64,
    /// Rows that could not be read.
    pub problem_rows: u64,
    /// The first problem rows, as examples.
    pub problems: Vec<RowProblem>,
    /// What the customer table says, when one was given.
    pub customer_table: Option<CustomerTableSummary>,
    #[serde(skip)]
    last_seen: FxHashMap<String, Timestamp>,
}

/// What a customer table holds and how it matches the events.
#[derive(Debug, Serialize)]
pub struct CustomerTableSummary {
    /// Customers in the table.
    pub customers: u64,
    /// Attribute names and types.
    pub attributes: Vec<(String, String)>,
    /// Customers in the table with no events.
    pub without_events: u64,
    /// Customers with events but absent from the table.
    pub missing_from_table: u64,
}

impl Serialize for RowProblem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("RowProblem", 3)?;
        s.serialize_field("row", &self.row)?;
        s.serialize_field("column", &self.column)?;
        s.serialize_field("problem", &self.problem)?;
        s.end()
    }
}

impl JourneySummary {
    /// Adds a chunk of events and its problem rows.
    pub fn add(&mut self, events: &[Event], problems: &[RowProblem]) {
        for event in events {
            self.add_event(event);
        }
        self.problem_rows += problems.len() as u64;
        let room = PROBLEM_EXAMPLES.saturating_sub(self.problems.len());
        self.problems.extend(problems.iter().take(room).cloned());
    }

    fn add_event(&mut self, event: &Event) {
        self.events += 1;
        self.first_event = Some(
            self.first_event
                .map_or(event.timestamp, |t| t.min(event.timestamp)),
        );
        self.last_event = Some(
            self.last_event
                .map_or(event.timestamp, |t| t.max(event.timestamp)),
        );
        bump(&mut self.by_event_type, event.event_type.as_str());
        if !event.event_type.is_known() {
            bump(&mut self.unknown_event_types, event.event_type.as_str());
        }
        match &event.channel {
            Some(channel) => {
                bump(&mut self.by_channel, channel.as_str());
                if !channel.is_known() {
                    bump(&mut self.unknown_channels, channel.as_str());
                }
            }
            None => bump(&mut self.by_channel, "(none)"),
        }
        if let (super::EventType::Action, Some(action)) = (&event.event_type, &event.action_id) {
            bump(&mut self.by_action, action);
        }
        if matches!(
            event.event_type,
            super::EventType::Purchase | super::EventType::Conversion
        ) {
            self.revenue += event.value.unwrap_or(0.0);
        }
        if event.text.is_some() {
            self.events_with_text += 1;
        }
        match self.last_seen.get_mut(event.customer_id.as_str()) {
            Some(last) => {
                if event.timestamp < *last {
                    self.out_of_time_order += 1;
                } else {
                    *last = event.timestamp;
                }
            }
            None => {
                self.last_seen
                    .insert(event.customer_id.clone(), event.timestamp);
                self.customers += 1;
            }
        }
    }

    /// Relates a customer table to the events seen.
    pub fn add_customer_table(&mut self, table: &CustomerTable) {
        let without_events = table
            .ids()
            .iter()
            .filter(|id| !self.last_seen.contains_key(id.as_str()))
            .count() as u64;
        let missing_from_table = self
            .last_seen
            .keys()
            .filter(|id| !table.contains(id))
            .count() as u64;
        self.customer_table = Some(CustomerTableSummary {
            customers: table.len() as u64,
            attributes: table
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.kind.as_str().to_string()))
                .collect(),
            without_events,
            missing_from_table,
        });
    }

    /// A human-readable report.
    pub fn render(&self, file: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "events file      {file}");
        let _ = writeln!(out, "events           {}", self.events);
        let _ = writeln!(out, "customers        {}", self.customers);
        if let (Some(first), Some(last)) = (self.first_event, self.last_event) {
            let _ = writeln!(
                out,
                "date range       {first} .. {last} ({:.1} days)",
                last.days_since(first)
            );
        }
        let _ = writeln!(out, "revenue          {:.2}", self.revenue);
        let _ = writeln!(out, "events with text {}", self.events_with_text);
        let _ = writeln!(
            out,
            "out of order     {} (events earlier than the customer's previous row; features do not depend on row order)",
            self.out_of_time_order
        );
        section(&mut out, "events by type", &self.by_event_type, self.events);
        section(&mut out, "events by channel", &self.by_channel, self.events);
        if !self.by_action.is_empty() {
            let actions: u64 = self.by_action.values().sum();
            section(&mut out, "actions taken", &self.by_action, actions);
        }
        if self.unknown_event_types.is_empty() && self.unknown_channels.is_empty() {
            let _ = writeln!(out, "\nunknown values   none");
        } else {
            section(
                &mut out,
                "unknown event types (kept)",
                &self.unknown_event_types,
                self.events,
            );
            section(
                &mut out,
                "unknown channels (kept)",
                &self.unknown_channels,
                self.events,
            );
        }
        if let Some(table) = &self.customer_table {
            let _ = writeln!(out, "\ncustomer table   {} customers", table.customers);
            for (name, kind) in &table.attributes {
                let _ = writeln!(out, "  {name:<24} {kind}");
            }
            let _ = writeln!(out, "  in table, no events    {}", table.without_events);
            let _ = writeln!(
                out,
                "  with events, not in table {}",
                table.missing_from_table
            );
        }
        let _ = writeln!(out, "\nrows with problems {}", self.problem_rows);
        for problem in &self.problems {
            let _ = writeln!(
                out,
                "  row {}, column '{}': {}",
                problem.row, problem.column, problem.problem
            );
        }
        if self.problem_rows > self.problems.len() as u64 {
            let _ = writeln!(
                out,
                "  … and {} more",
                self.problem_rows - self.problems.len() as u64
            );
        }
        out
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn section(out: &mut String, title: &str, counts: &BTreeMap<String, u64>, total: u64) {
    if counts.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}");
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (name, count) in rows {
        let share = if total > 0 {
            100.0 * *count as f64 / total as f64
        } else {
            0.0
        };
        let _ = writeln!(out, "  {name:<24} {count:>12} {share:>6.2}%");
    }
}
