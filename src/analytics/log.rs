//! The event log as analytics read it: every event of a file in memory, column by column, with
//! customers, event types, channels and actions interned to small integers and each customer's
//! events contiguous and in time order.
//!
//! Interning is what makes funnels, paths and cohorts cheap: a step match is an integer compare,
//! and 16 M events take about 30 bytes each instead of a heap string per field.

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::journey::reader::Progress;
use crate::journey::{Event, EventReader, EventType, JourneyError, ReadOptions, Timestamp};

/// Strings interned to dense indices; index 0 is reserved for "none" where a field is optional.
#[derive(Clone, Debug, Default)]
pub struct Vocabulary {
    names: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
}

impl Vocabulary {
    /// A vocabulary whose index 0 stands for "no value" (rendered as the empty string).
    pub fn with_none() -> Self {
        let mut v = Vocabulary::default();
        v.intern("");
        v
    }

    /// The index of `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.into());
        self.index.insert(name.into(), i);
        i
    }

    /// The index of `name`, if present.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The name of index `i`.
    pub fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map(|s| &**s).unwrap_or("")
    }

    /// How many names (including the reserved "none").
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no names at all.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The event types that are money (orders): `purchase` and `conversion`.
pub fn is_order(event_type: &str) -> bool {
    event_type == EventType::Purchase.as_str() || event_type == EventType::Conversion.as_str()
}

/// The event type nextbest writes for its own contacts; not customer activity.
pub const ACTION: &str = "action";

/// All events in memory, grouped by customer and in time order within each customer.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    /// Customer ids, by customer index.
    pub customers: Vec<String>,
    /// Event types.
    pub types: Vocabulary,
    /// Channels (0 = none).
    pub channels: Vocabulary,
    /// Action ids (0 = none).
    pub actions: Vocabulary,
    /// Per event: the customer index.
    pub customer: Vec<u32>,
    /// Per event: microseconds since the epoch.
    pub time: Vec<i64>,
    /// Per event: the event type index.
    pub kind: Vec<u32>,
    /// Per event: the channel index (0 = none).
    pub channel: Vec<u32>,
    /// Per event: the action index (0 = none).
    pub action: Vec<u32>,
    /// Per event: the value (NaN = none).
    pub value: Vec<f64>,
    /// Customer `c`'s events are `starts[c]..starts[c + 1]`.
    pub starts: Vec<usize>,
    /// Per event type index: whether it is an order (purchase, conversion).
    pub order_kind: Vec<bool>,
    /// Per event type index: whether it is customer activity (anything but `action`).
    pub activity_kind: Vec<bool>,
}

/// Accumulates events in file order, then sorts once.
#[derive(Default)]
pub struct LogBuilder {
    log: EventLog,
    customer_index: FxHashMap<Box<str>, u32>,
}

impl LogBuilder {
    /// A builder with the optional vocabularies' "none" reserved.
    pub fn new() -> Self {
        LogBuilder {
            log: EventLog {
                channels: Vocabulary::with_none(),
                actions: Vocabulary::with_none(),
                ..EventLog::default()
            },
            customer_index: FxHashMap::default(),
        }
    }

    /// Adds one event.
    pub fn push(&mut self, event: &Event) {
        let log = &mut self.log;
        // Files are usually grouped by customer: the previous event's customer saves a lookup.
        let last = log.customer.last().copied();
        let same = last.is_some_and(|c| log.customers[c as usize] == event.customer_id);
        let customer = match (same, last) {
            (true, Some(c)) => c,
            _ => match self.customer_index.get(event.customer_id.as_str()) {
                Some(&c) => c,
                None => {
                    let c = log.customers.len() as u32;
                    log.customers.push(event.customer_id.clone());
                    self.customer_index
                        .insert(event.customer_id.as_str().into(), c);
                    c
                }
            },
        };
        log.customer.push(customer);
        log.time.push(event.timestamp.0);
        log.kind.push(log.types.intern(event.event_type.as_str()));
        log.channel.push(
            event
                .channel
                .as_ref()
                .map_or(0, |c| log.channels.intern(c.as_str())),
        );
        log.action.push(
            event
                .action_id
                .as_deref()
                .map_or(0, |a| log.actions.intern(a)),
        );
        log.value.push(event.value.unwrap_or(f64::NAN));
    }

    /// Sorts by (customer, time, file order) and indexes the customers.
    pub fn finish(self) -> EventLog {
        let mut log = self.log;
        let n = log.customer.len();
        let sorted = (1..n)
            .all(|i| (log.customer[i - 1], log.time[i - 1]) <= (log.customer[i], log.time[i]));
        if !sorted {
            let mut order: Vec<u32> = (0..n as u32).collect();
            // Stable: events at the same instant keep their file order.
            order.sort_by_key(|&i| (log.customer[i as usize], log.time[i as usize]));
            fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
                *v = order.iter().map(|&i| v[i as usize]).collect();
            }
            permute(&mut log.customer, &order);
            permute(&mut log.time, &order);
            permute(&mut log.kind, &order);
            permute(&mut log.channel, &order);
            permute(&mut log.action, &order);
            permute(&mut log.value, &order);
        }
        let customers = log.customers.len();
        let mut starts = vec![0usize; customers + 1];
        for &c in &log.customer {
            starts[c as usize + 1] += 1;
        }
        for c in 0..customers {
            starts[c + 1] += starts[c];
        }
        log.starts = starts;
        log.order_kind = (0..log.types.len() as u32)
            .map(|k| is_order(log.types.name(k)))
            .collect();
        log.activity_kind = (0..log.types.len() as u32)
            .map(|k| log.types.name(k) != ACTION)
            .collect();
        log
    }
}

impl EventLog {
    /// Reads a whole event file (Parquet, CSV, JSONL), strictly: the first bad row is an error
    /// naming file, row and column. `progress` is told how far reading has got after each chunk.
    pub fn read(path: &Path, mut progress: impl FnMut(Progress)) -> Result<Self, JourneyError> {
        let reader = EventReader::open(path, ReadOptions::default())?;
        let reader = reader.prefetch(4);
        let mut builder = LogBuilder::new();
        let mut reader = reader;
        while let Some(chunk) = reader.next() {
            for event in &chunk?.events {
                builder.push(event);
            }
            progress(reader.progress());
        }
        Ok(builder.finish())
    }

    /// A log of events already in memory (tests, the service's pages).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut builder = LogBuilder::new();
        for event in events {
            builder.push(event);
        }
        builder.finish()
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether the log holds no events.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// How many customers.
    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    /// Customer `c`'s events, as a range of event indices.
    pub fn events_of(&self, c: usize) -> std::ops::Range<usize> {
        self.starts[c]..self.starts[c + 1]
    }

    /// The index of a customer id.
    pub fn customer_of(&self, id: &str) -> Option<usize> {
        self.customers.iter().position(|c| c == id)
    }

    /// The first and last instants in the log.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        let min = self.time.iter().copied().min()?;
        let max = self.time.iter().copied().max()?;
        Some((Timestamp(min), Timestamp(max)))
    }

    /// The event type index of a name, if the log has it.
    pub fn kind_of(&self, name: &str) -> Option<u32> {
        self.types.get(name)
    }

    /// Whether event `i` is an order (purchase or conversion).
    pub fn is_order(&self, i: usize) -> bool {
        self.order_kind[self.kind[i] as usize]
    }

    /// Whether event `i` is customer activity (not one of our `action`s).
    pub fn is_activity(&self, i: usize) -> bool {
        self.activity_kind[self.kind[i] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_grouped_by_customer_in_time_order_keeping_ties_in_file_order() {
        let t = |d: f64| Timestamp(0).plus_days(d);
        let events = vec![
            Event::new("b", t(2.0), EventType::Visit),
            Event::new("a", t(1.0), EventType::Purchase).with_value(5.0),
            Event::new("b", t(1.0), EventType::Visit),
            Event::new("b", t(1.0), EventType::Cancel),
        ];
        let log = EventLog::from_events(&events);
        assert_eq!(log.customers, ["b", "a"]);
        assert_eq!(log.events_of(0), 0..3);
        let kinds: Vec<&str> = log.kind.iter().map(|&k| log.types.name(k)).collect();
        assert_eq!(kinds, ["visit", "cancel", "visit", "purchase"]);
        assert!(log.is_order(3) && !log.is_order(0));
        assert_eq!(log.value[3], 5.0);
        assert!(log.value[0].is_nan());
    }
}
