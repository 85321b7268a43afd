//! The event log as analytics read it: every event of a file in memory, column by column, with
//! customers, event types, channels and actions interned to small integers and each customer's
//! events contiguous and in time order.
//!
//! Interning is what makes funnels, paths and cohorts cheap: a step match is an integer compare,
//! and 16 M events take about 30 bytes each instead of a heap string per field.

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::journey::reader::Progress;
use crate::journey::{
    Event, EventReader, EventType, Format, IdentityLinks, JourneyError, ReadOptions, Timestamp,
};

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
///
/// Visitor events (an `anonymous_id`, no `customer_id`) belong to the customer an `identify`
/// event linked the visitor to, whenever the link happened (analytics look back); events of
/// visitors never linked are left out and counted.
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
    /// Per event: the channel index (0 = none); empty when details were not read.
    pub channel: Vec<u32>,
    /// Per event: the action index (0 = none); empty when details were not read.
    pub action: Vec<u32>,
    /// Per event: the value (NaN = none); empty when details were not read.
    pub value: Vec<f64>,
    /// Per event: the index of its text in `texts` (0 = none); empty when text was not read.
    pub text: Vec<u32>,
    /// Customer-written texts; index 0 is the empty "none".
    pub texts: Vec<Box<str>>,
    /// Customer `c`'s events are `starts[c]..starts[c + 1]`.
    pub starts: Vec<usize>,
    /// Per event type index: whether it is an order (purchase, conversion).
    pub order_kind: Vec<bool>,
    /// Per event type index: whether it is customer activity (anything but `action`).
    pub activity_kind: Vec<bool>,
    /// Identity: visitor events given to their customer, and those left out (never linked).
    pub visitors: VisitorCounts,
}

/// What identity resolution did while reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VisitorCounts {
    /// Visitors (anonymous ids) linked to a customer by an `identify` event.
    pub linked_visitors: u64,
    /// Their events, now the customer's.
    pub linked_events: u64,
    /// Events of visitors never linked: left out.
    pub unlinked_events: u64,
}

/// One row as the log keeps it, before interning.
pub struct Row<'a> {
    /// The customer; empty on a visitor event.
    pub customer_id: &'a str,
    /// Microseconds since the epoch.
    pub time: i64,
    /// The event type.
    pub event_type: &'a str,
    /// The channel.
    pub channel: Option<&'a str>,
    /// The action id.
    pub action_id: Option<&'a str>,
    /// The money.
    pub value: Option<f64>,
    /// Customer text.
    pub text: Option<&'a str>,
    /// The visitor.
    pub anonymous_id: Option<&'a str>,
}

impl<'a> From<&'a Event> for Row<'a> {
    fn from(event: &'a Event) -> Self {
        Row {
            customer_id: &event.customer_id,
            time: event.timestamp.0,
            event_type: event.event_type.as_str(),
            channel: event.channel.as_ref().map(|c| c.as_str()),
            action_id: event.action_id.as_deref(),
            value: event.value,
            text: event.text.as_deref(),
            anonymous_id: event.anonymous_id.as_deref(),
        }
    }
}

/// Accumulates events in file order, then sorts once.
///
/// Visitors get customer indices of their own while reading (flagged in `visitor_of`); at the
/// end each is merged into the customer it was linked to, or dropped.
pub struct LogBuilder {
    log: EventLog,
    customer_index: FxHashMap<Box<str>, u32>,
    visitor_index: FxHashMap<Box<str>, u32>,
    /// Per customer index: the anonymous id when the index is a visitor's.
    visitor_of: Vec<Option<Box<str>>>,
    links: IdentityLinks,
    identify: Option<u32>,
    options: LogOptions,
    last: Option<(bool, u32)>,
}

impl Default for LogBuilder {
    fn default() -> Self {
        Self::new(LogOptions::default())
    }
}

/// A row's event type, channel and action as vocabulary indices.
pub(super) struct Interned {
    /// The event type index.
    pub(super) kind: u32,
    /// The channel index (0 = none).
    pub(super) channel: u32,
    /// The action index (0 = none).
    pub(super) action: u32,
}

impl LogBuilder {
    /// A builder with the optional vocabularies' "none" reserved, keeping what `options` asks
    /// for.
    pub fn new(options: LogOptions) -> Self {
        LogBuilder {
            log: EventLog {
                channels: Vocabulary::with_none(),
                actions: Vocabulary::with_none(),
                texts: vec!["".into()],
                ..EventLog::default()
            },
            customer_index: FxHashMap::default(),
            visitor_index: FxHashMap::default(),
            visitor_of: Vec::new(),
            links: IdentityLinks::new(),
            identify: None,
            options,
            last: None,
        }
    }

    /// Makes room for `events` more events, so the columns do not grow (and copy) as a big
    /// file is read.
    pub fn reserve(&mut self, events: usize) {
        let log = &mut self.log;
        log.customer.reserve(events);
        log.time.reserve(events);
        log.kind.reserve(events);
        if self.options.details {
            log.channel.reserve(events);
            log.action.reserve(events);
            log.value.reserve(events);
        }
        if self.options.text {
            log.text.reserve(events);
        }
    }

    /// Adds one event.
    pub fn push(&mut self, event: &Event) {
        self.push_row(Row::from(event));
    }

    /// The index of a customer (or, with `visitor`, of a visitor), adding it when new.
    fn index_of(&mut self, id: &str, visitor: bool) -> u32 {
        // Files are usually grouped by customer: the previous event's customer saves a lookup.
        if let Some((was_visitor, c)) = self.last {
            let same = if was_visitor {
                self.visitor_of[c as usize].as_deref() == Some(id)
            } else {
                self.log.customers[c as usize] == id
            };
            if was_visitor == visitor && same {
                return c;
            }
        }
        let index = if visitor {
            &mut self.visitor_index
        } else {
            &mut self.customer_index
        };
        let c = match index.get(id) {
            Some(&c) => c,
            None => {
                let c = self.log.customers.len() as u32;
                index.insert(id.into(), c);
                if visitor {
                    self.log.customers.push(String::new());
                    self.visitor_of.push(Some(id.into()));
                } else {
                    self.log.customers.push(id.to_string());
                    self.visitor_of.push(None);
                }
                c
            }
        };
        self.last = Some((visitor, c));
        c
    }

    /// The customer (or visitor) index of a row.
    pub(super) fn customer_index(&mut self, row: &Row<'_>) -> u32 {
        match (row.customer_id.is_empty(), row.anonymous_id) {
            (true, Some(anonymous)) => self.index_of(anonymous, true),
            _ => self.index_of(row.customer_id, false),
        }
    }

    /// The index of an event type, adding it when new.
    pub(super) fn type_index(&mut self, name: &str) -> u32 {
        let kind = self.log.types.intern(name);
        if self.identify.is_none() && name == EventType::Identify.as_str() {
            self.identify = Some(kind);
        }
        kind
    }

    /// The index of a channel (0 = none), adding it when new.
    pub(super) fn channel_index(&mut self, name: Option<&str>) -> u32 {
        name.map_or(0, |c| self.log.channels.intern(c))
    }

    /// The index of an action (0 = none), adding it when new.
    pub(super) fn action_index(&mut self, name: Option<&str>) -> u32 {
        name.map_or(0, |a| self.log.actions.intern(a))
    }

    /// Adds one validated row.
    pub fn push_row(&mut self, row: Row<'_>) {
        let customer = self.customer_index(&row);
        let interned = Interned {
            kind: self.type_index(row.event_type),
            channel: self.channel_index(row.channel),
            action: self.action_index(row.action_id),
        };
        self.push_interned(&row, customer, interned);
    }

    /// The index of a customer by id (not a visitor), adding it when new.
    pub(super) fn customer_id_index(&mut self, id: &str) -> u32 {
        self.index_of(id, false)
    }

    /// Whether the log keeps channels, actions and values.
    pub(super) fn keeps_details(&self) -> bool {
        self.options.details
    }

    /// Adds validated rows a column at a time, for a reader that checked a whole batch: no row
    /// has text or a visitor (so no identity link to record); `details` (channel, action and
    /// value indices, as [`Self::push_interned`] takes them) are used when the log keeps them.
    pub(super) fn extend_columns(
        &mut self,
        customer: &[u32],
        time: &[i64],
        kind: &[u32],
        details: (&[u32], &[u32], &[f64]),
    ) {
        let log = &mut self.log;
        log.customer.extend_from_slice(customer);
        log.time.extend_from_slice(time);
        log.kind.extend_from_slice(kind);
        if self.options.details {
            log.channel.extend_from_slice(details.0);
            log.action.extend_from_slice(details.1);
            log.value.extend_from_slice(details.2);
        }
        if self.options.text {
            log.text.resize(log.text.len() + time.len(), 0);
        }
    }

    /// Adds one validated row whose customer, type, channel and action are already indices
    /// (readers that see each distinct value once skip the string lookups).
    pub(super) fn push_interned(&mut self, row: &Row<'_>, customer: u32, interned: Interned) {
        if Some(interned.kind) == self.identify && !row.customer_id.is_empty() {
            if let Some(anonymous) = row.anonymous_id {
                self.links
                    .link(anonymous, row.customer_id, Timestamp(row.time));
            }
        }
        let log = &mut self.log;
        log.customer.push(customer);
        log.time.push(row.time);
        log.kind.push(interned.kind);
        if self.options.details {
            log.channel.push(interned.channel);
            log.action.push(interned.action);
            log.value.push(row.value.unwrap_or(f64::NAN));
        }
        if self.options.text {
            let text = match row.text {
                Some(text) => {
                    log.texts.push(text.into());
                    (log.texts.len() - 1) as u32
                }
                None => 0,
            };
            log.text.push(text);
        }
    }

    /// Merges visitors into their customers, sorts by (customer, time, file order) and indexes
    /// the customers.
    pub fn finish(self) -> EventLog {
        let LogBuilder {
            mut log,
            customer_index,
            visitor_of,
            links,
            ..
        } = self;
        // Old index → final index: customers keep theirs (in first-seen order), visitors take
        // their customer's, or are dropped.
        const DROPPED: u32 = u32::MAX;
        let old = std::mem::take(&mut log.customers);
        let mut customers: Vec<String> = Vec::with_capacity(old.len());
        let mut remap = vec![DROPPED; old.len()];
        for (c, id) in old.iter().enumerate() {
            if visitor_of[c].is_none() {
                remap[c] = customers.len() as u32;
                customers.push(id.clone());
            }
        }
        let mut linked_visitors = 0;
        for (c, visitor) in visitor_of.iter().enumerate() {
            let Some(anonymous) = visitor else { continue };
            let Some((customer, _)) = links.resolve(anonymous) else {
                continue;
            };
            linked_visitors += 1;
            // The identify event that made the link is the customer's own, so they have an index.
            if let Some(&own) = customer_index.get(customer) {
                remap[c] = remap[own as usize];
            }
        }
        let mut counts = VisitorCounts {
            linked_visitors,
            ..VisitorCounts::default()
        };
        for &c in &log.customer {
            if visitor_of[c as usize].is_some() {
                if remap[c as usize] == DROPPED {
                    counts.unlinked_events += 1;
                } else {
                    counts.linked_events += 1;
                }
            }
        }
        log.visitors = counts;
        log.customers = customers;
        let n_customers = log.customers.len();
        // Counting sort by final customer (stable: file order within a customer), dropping the
        // events of visitors never linked; then each customer's events by time (stable).
        let mut starts = vec![0usize; n_customers + 1];
        for &c in &log.customer {
            let r = remap[c as usize];
            if r != DROPPED {
                starts[r as usize + 1] += 1;
            }
        }
        for c in 0..n_customers {
            starts[c + 1] += starts[c];
        }
        let in_place = counts.unlinked_events == 0
            && counts.linked_events == 0
            && (1..log.customer.len()).all(|i| log.customer[i - 1] <= log.customer[i])
            && remap.iter().enumerate().all(|(c, &r)| r == c as u32);
        let time_sorted = |order: &[u32]| {
            order
                .windows(2)
                .all(|w| log.time[w[0] as usize] <= log.time[w[1] as usize])
        };
        // A file grouped by customer and in time order needs no permutation (nor the memory
        // of one).
        let sorted = in_place
            && (0..n_customers).all(|c| {
                log.time[starts[c]..starts[c + 1]]
                    .windows(2)
                    .all(|w| w[0] <= w[1])
            });
        let mut order: Vec<u32> = if sorted {
            Vec::new()
        } else if in_place {
            (0..log.customer.len() as u32).collect()
        } else {
            let mut next = starts.clone();
            let mut order = vec![0u32; starts[n_customers]];
            for (i, &c) in log.customer.iter().enumerate() {
                let r = remap[c as usize];
                if r != DROPPED {
                    order[next[r as usize]] = i as u32;
                    next[r as usize] += 1;
                }
            }
            order
        };
        if !sorted {
            for c in 0..n_customers {
                let slice = &mut order[starts[c]..starts[c + 1]];
                if !time_sorted(slice) {
                    slice.sort_by_key(|&i| log.time[i as usize]);
                }
            }
        }
        let identity = sorted
            || (order.len() == log.customer.len()
                && order.iter().enumerate().all(|(k, &i)| k as u32 == i));
        if !identity {
            fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
                if !v.is_empty() {
                    *v = order.iter().map(|&i| v[i as usize]).collect();
                }
            }
            permute(&mut log.customer, &order);
            permute(&mut log.time, &order);
            permute(&mut log.kind, &order);
            permute(&mut log.channel, &order);
            permute(&mut log.action, &order);
            permute(&mut log.value, &order);
            permute(&mut log.text, &order);
        }
        for c in 0..n_customers {
            log.customer[starts[c]..starts[c + 1]].fill(c as u32);
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

/// What to read into the log.
#[derive(Clone, Copy, Debug)]
pub struct LogOptions {
    /// Keep customer text (sentiment, aspects); analyses that count events do without.
    pub text: bool,
    /// Keep channels, actions and values. Cohorts, and funnels and paths over event types
    /// alone, do without: a Parquet file's columns for them are then not read at all (nor
    /// checked), and the log's `channel`, `action` and `value` stay empty.
    pub details: bool,
}

impl LogOptions {
    /// For analyses that count events: no customer text, and the details only if `details`.
    pub fn counting(details: bool) -> LogOptions {
        LogOptions {
            text: false,
            details,
        }
    }
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            text: true,
            details: true,
        }
    }
}

impl EventLog {
    /// Reads a whole event file (Parquet, CSV, JSONL), strictly: the first bad row is an error
    /// naming file, row and column. `progress` is told how far reading has got after each chunk.
    pub fn read(path: &Path, progress: impl FnMut(Progress)) -> Result<Self, JourneyError> {
        Self::read_with(path, LogOptions::default(), progress)
    }

    /// [`Self::read`], choosing what to keep. Parquet columns go straight into the log (no
    /// event values in between); other formats go through the event reader.
    pub fn read_with(
        path: &Path,
        options: LogOptions,
        mut progress: impl FnMut(Progress),
    ) -> Result<Self, JourneyError> {
        let mut builder = LogBuilder::new(options);
        if Format::from_path(path)? == Format::Parquet {
            super::read::read_parquet(path, options, &mut builder, progress)?;
            return Ok(builder.finish());
        }
        let reader = EventReader::open(path, ReadOptions::default())?;
        let mut reader = reader.prefetch(4);
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
        let mut builder = LogBuilder::default();
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

    /// Event `i` as an [`Event`] (for the feature function), its text included when read.
    pub fn event(&self, i: usize) -> Event {
        let name = |v: &Vocabulary, k: u32| (k != 0).then(|| v.name(k).to_string());
        Event {
            customer_id: self.customers[self.customer[i] as usize].clone(),
            timestamp: Timestamp(self.time[i]),
            event_type: EventType::parse(self.types.name(self.kind[i])),
            channel: name(&self.channels, self.channel.get(i).copied().unwrap_or(0))
                .map(|c| crate::journey::Channel::parse(&c)),
            action_id: name(&self.actions, self.action.get(i).copied().unwrap_or(0)),
            value: self.value.get(i).copied().filter(|v| !v.is_nan()),
            text: self
                .text
                .get(i)
                .filter(|&&t| t != 0)
                .map(|&t| self.texts[t as usize].to_string()),
            anonymous_id: None,
        }
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
