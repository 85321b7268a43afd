//! The one feature function: (customer attributes, history, cutoff) → feature vector.
//!
//! Every path — training matrices, batch scoring, online decisions — goes through
//! [`FeatureAccumulator`]. It ignores every event at or after the cutoff, which is what makes
//! features point-in-time correct, and it does not depend on event order, so a file need not be
//! sorted and a huge file can be streamed with state per customer bounded by a year of sends and
//! purchases (the offer response history, [`super::responses`]).

use super::aspects::Taxonomy;
use super::contacts::ContactHistory;
use super::counters::Counter;
use super::responses::ResponseHistory;
use super::spec::{
    FeatureDef, FeatureSpec, FeatureType, NEVER_DAYS, TRACKED_CHANNELS, WINDOWS_DAYS,
};
use crate::journey::{AttrValue, Channel, Event, EventType, Timestamp};

use super::text::mean_sentiment;
pub use super::text::{TextScorer, NEGATIVE_SENTIMENT, NEUTRAL_SENTIMENT};

const COUNTERS: usize = Counter::ALL.len();
const WINDOWS: usize = WINDOWS_DAYS.len();
const CHANNELS: usize = TRACKED_CHANNELS.len();
const DAY: i64 = Timestamp::MICROS_PER_DAY;
const EXPOSURE_WINDOW_DAYS: i64 = 90;
const ENGAGEMENT_WINDOW_DAYS: i64 = 365;

fn channel_slot(channel: &Channel) -> Option<usize> {
    TRACKED_CHANNELS.iter().position(|c| c == channel)
}

/// Running state of one customer's features at one cutoff.
#[derive(Clone)]
pub struct FeatureAccumulator<'s> {
    spec: &'s FeatureSpec,
    cutoff: Timestamp,
    scorer: Option<&'s dyn TextScorer>,
    buckets: [[f64; WINDOWS]; COUNTERS],
    totals: [f64; COUNTERS],
    events: u64,
    unknown_events: u64,
    first_event: Option<Timestamp>,
    last_event: Option<Timestamp>,
    last_visit: Option<Timestamp>,
    first_purchase: Option<Timestamp>,
    last_purchase: Option<Timestamp>,
    last_support: Option<Timestamp>,
    last_complaint: Option<Timestamp>,
    last_action: Option<Timestamp>,
    cancelled: bool,
    sends: [u32; CHANNELS],
    opens: [u32; CHANNELS],
    clicks: [u32; CHANNELS],
    unsubscribed: [bool; CHANNELS],
    texts_30d: u32,
    texts_90d: u32,
    negative_texts_90d: u32,
    // Per aspect of the default taxonomy: negative sentences naming it in 90 days.
    aspect_negative_90d: Vec<u32>,
    sentiment_last: Option<(Timestamp, f32)>,
    sentiment_sum_30d: f64,
    sentiment_n_30d: u32,
    sentiment_sum_90d: f64,
    sentiment_n_90d: u32,
    sentiment_min_90d: f32,
    action_sent_90d: Vec<u32>,
    action_last_sent: Vec<Option<Timestamp>>,
    other_actions_90d: u32,
    responses: ResponseHistory,
    ignored_at_or_after_cutoff: u64,
    // Only when deciding: policies need every past send, not only the feature counts.
    contacts: Option<Box<ContactHistory>>,
}

impl<'s> FeatureAccumulator<'s> {
    /// Starts an empty accumulator for features as of `cutoff` (events at or after it are ignored).
    pub fn new(
        spec: &'s FeatureSpec,
        cutoff: Timestamp,
        scorer: Option<&'s dyn TextScorer>,
    ) -> Self {
        FeatureAccumulator {
            spec,
            cutoff,
            scorer,
            buckets: [[0.0; WINDOWS]; COUNTERS],
            totals: [0.0; COUNTERS],
            events: 0,
            unknown_events: 0,
            first_event: None,
            last_event: None,
            last_visit: None,
            first_purchase: None,
            last_purchase: None,
            last_support: None,
            last_complaint: None,
            last_action: None,
            cancelled: false,
            sends: [0; CHANNELS],
            opens: [0; CHANNELS],
            clicks: [0; CHANNELS],
            unsubscribed: [false; CHANNELS],
            texts_30d: 0,
            texts_90d: 0,
            negative_texts_90d: 0,
            aspect_negative_90d: vec![
                0;
                Taxonomy::shared_default().map_or(0, |t| t.names().count())
            ],
            sentiment_last: None,
            sentiment_sum_30d: 0.0,
            sentiment_n_30d: 0,
            sentiment_sum_90d: 0.0,
            sentiment_n_90d: 0,
            sentiment_min_90d: NEUTRAL_SENTIMENT,
            action_sent_90d: vec![0; spec.actions.len()],
            action_last_sent: vec![None; spec.actions.len()],
            other_actions_90d: 0,
            responses: ResponseHistory::default(),
            ignored_at_or_after_cutoff: 0,
            contacts: None,
        }
    }

    /// Also records the customer's past contacts and opt-outs ([`Self::contacts`]), for a
    /// decision; training leaves this off.
    pub fn recording_contacts(mut self) -> Self {
        self.contacts = Some(Box::default());
        self
    }

    /// The past contacts and opt-outs seen so far; empty unless [`Self::recording_contacts`].
    pub fn take_contacts(&mut self) -> ContactHistory {
        self.contacts.take().map(|c| *c).unwrap_or_default()
    }

    /// The customer's last support contact (ticket, chat or complaint) before the cutoff.
    pub fn last_support_contact(&self) -> Option<Timestamp> {
        self.last_support
    }

    /// Mean sentiment of the texts of the last 30 days (the `sentiment_mean_30d` feature), or
    /// `None` when the customer wrote nothing in that time (`texts_30d` is 0) — read from those
    /// two features, so a decision from a feature matrix gates the same way. Thirty days:
    /// suitability rules act on how the customer feels now ("no sales pitch right after a
    /// complaint"), and a complaint that was answered months ago should not block for a season.
    pub fn recent_sentiment(&self) -> Option<f64> {
        (self.texts_30d > 0)
            .then(|| f64::from(mean_sentiment(self.sentiment_sum_30d, self.sentiment_n_30d)))
    }

    /// Revenue of the last 365 days (the `revenue_365d` feature).
    pub fn revenue_365d(&self) -> f64 {
        f64::from(self.windowed(Counter::Revenue, WINDOWS - 1))
    }

    /// A counter summed over the windows up to `window` (an index of [`WINDOWS_DAYS`]), as the
    /// feature vector holds it.
    fn windowed(&self, counter: Counter, window: usize) -> f32 {
        let mut running = 0.0;
        for bucket in &self.buckets[counter as usize][..=window] {
            running += bucket;
        }
        running as f32
    }

    /// The cutoff this accumulator computes features for.
    pub fn cutoff(&self) -> Timestamp {
        self.cutoff
    }

    /// Events seen that were at or after the cutoff (and therefore ignored).
    pub fn ignored(&self) -> u64 {
        self.ignored_at_or_after_cutoff
    }

    /// Events that counted (strictly before the cutoff).
    pub fn events_used(&self) -> u64 {
        self.events
    }

    /// Bytes held on the heap: per-action and per-aspect counters, a year of sends and
    /// purchases, and (when recording contacts) every past send. Grows with the history; the
    /// batch scorer's memory budget counts it beside the struct.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        (self.aspect_negative_90d.capacity() + self.action_sent_90d.capacity()) * size_of::<u32>()
            + self.action_last_sent.capacity() * size_of::<Option<Timestamp>>()
            + self.responses.heap_bytes()
            + self.contacts.as_ref().map_or(0, |c| c.heap_bytes())
    }

    /// Adds one event. Events at or after the cutoff change nothing but the ignored count.
    pub fn observe(&mut self, event: &Event) {
        let ts = event.timestamp;
        if ts >= self.cutoff {
            self.ignored_at_or_after_cutoff += 1;
            return;
        }
        // A logged "do nothing" (a randomised control) reached nobody and is no behaviour.
        if event.event_type == EventType::Action && self.is_logged_no_action(event) {
            return;
        }
        let age = self.cutoff.0 - ts.0;
        // Windows are nested, so an event lands in the smallest that holds it; finish() sums up.
        let bucket = WINDOWS_DAYS.iter().position(|&w| age <= w * DAY);
        self.events += 1;
        self.first_event = earliest(self.first_event, ts);
        self.last_event = latest(self.last_event, ts);
        let channel = event.channel.as_ref();
        match &event.event_type {
            EventType::Visit => {
                self.count(Counter::Visits, bucket, 1.0);
                self.last_visit = latest(self.last_visit, ts);
            }
            EventType::PageView => self.count(Counter::PageViews, bucket, 1.0),
            EventType::AddToCart => self.count(Counter::Carts, bucket, 1.0),
            EventType::Purchase => {
                self.count(Counter::Purchases, bucket, 1.0);
                self.count(Counter::Revenue, bucket, event.value.unwrap_or(0.0));
                self.first_purchase = earliest(self.first_purchase, ts);
                self.last_purchase = latest(self.last_purchase, ts);
                self.responses.purchase(ts, age);
            }
            EventType::Conversion => self.count(Counter::Conversions, bucket, 1.0),
            EventType::EmailOpen | EventType::Open => {
                self.count(Counter::Opens, bucket, 1.0);
                let channel = response_channel(&event.event_type, channel);
                if let (Some(slot), true) = (
                    channel.and_then(channel_slot),
                    age <= ENGAGEMENT_WINDOW_DAYS * DAY,
                ) {
                    self.opens[slot] += 1;
                }
            }
            EventType::EmailClick | EventType::Click => {
                self.count(Counter::Clicks, bucket, 1.0);
                let channel = response_channel(&event.event_type, channel);
                if let (Some(slot), true) = (
                    channel.and_then(channel_slot),
                    age <= ENGAGEMENT_WINDOW_DAYS * DAY,
                ) {
                    self.clicks[slot] += 1;
                }
            }
            EventType::SupportTicket | EventType::Chat => {
                self.count(Counter::SupportContacts, bucket, 1.0);
                self.last_support = latest(self.last_support, ts);
            }
            EventType::Complaint => {
                self.count(Counter::Complaints, bucket, 1.0);
                self.last_support = latest(self.last_support, ts);
                self.last_complaint = latest(self.last_complaint, ts);
            }
            EventType::Review => {}
            EventType::Unsubscribe => match channel.and_then(channel_slot) {
                Some(slot) => self.unsubscribed[slot] = true,
                None if channel.is_none() => self.unsubscribed = [true; CHANNELS],
                None => {}
            },
            EventType::Cancel => self.cancelled = true,
            EventType::Action => self.observe_action(event, age, bucket),
            // A login or sign-up: the visitor events it links arrive as the customer's own.
            EventType::Identify => {}
            EventType::Other(_) => self.unknown_events += 1,
        }
        if let Some(contacts) = &mut self.contacts {
            contacts.observe(event);
        }
        if event.event_type.carries_text() {
            self.observe_text(event, age);
        }
    }

    /// Whether an `action` event is a logged "do nothing" ([`crate::catalog::is_no_action`]),
    /// its channel taken from the tracked action when the event names none.
    fn is_logged_no_action(&self, event: &Event) -> bool {
        let channel = event.channel.as_ref().or_else(|| {
            let id = event.action_id.as_deref()?;
            self.spec
                .actions
                .iter()
                .find(|a| a.id == id)
                .map(|a| &a.channel)
        });
        crate::catalog::is_no_action(event.action_id.as_deref(), channel)
    }

    fn observe_action(&mut self, event: &Event, age: i64, bucket: Option<usize>) {
        let ts = event.timestamp;
        let tracked = event
            .action_id
            .as_deref()
            .and_then(|id| self.spec.actions.iter().position(|a| a.id == id));
        let channel = event
            .channel
            .as_ref()
            .or_else(|| tracked.map(|i| &self.spec.actions[i].channel));
        self.count(Counter::Actions, bucket, 1.0);
        self.last_action = latest(self.last_action, ts);
        if let (Some(slot), true) = (
            channel.and_then(channel_slot),
            age <= ENGAGEMENT_WINDOW_DAYS * DAY,
        ) {
            self.sends[slot] += 1;
        }
        let recent = age <= EXPOSURE_WINDOW_DAYS * DAY;
        match tracked {
            Some(i) => {
                self.action_last_sent[i] = latest(self.action_last_sent[i], ts);
                self.responses.send(i, ts, age);
                if recent {
                    self.action_sent_90d[i] += 1;
                }
            }
            None if recent => self.other_actions_90d += 1,
            None => {}
        }
    }

    fn observe_text(&mut self, event: &Event, age: i64) {
        let recent_90 = age <= 90 * DAY;
        if recent_90 {
            self.texts_90d += 1;
            if age <= 30 * DAY {
                self.texts_30d += 1;
            }
        }
        let (Some(scorer), Some(text)) = (self.scorer, event.text.as_deref()) else {
            return;
        };
        let score = scorer.score(text);
        if !score.is_finite() {
            return;
        }
        let ts = event.timestamp;
        // Ties on time keep the larger score, so the result does not depend on row order.
        let newer = match self.sentiment_last {
            None => true,
            Some((t, s)) => ts > t || (ts == t && score > s),
        };
        if newer {
            self.sentiment_last = Some((ts, score));
        }
        if recent_90 {
            self.sentiment_sum_90d += f64::from(score);
            self.sentiment_n_90d += 1;
            self.sentiment_min_90d = if self.sentiment_n_90d == 1 {
                score
            } else {
                self.sentiment_min_90d.min(score)
            };
            if score < NEGATIVE_SENTIMENT {
                self.negative_texts_90d += 1;
            }
            if let Some(taxonomy) = Taxonomy::shared_default() {
                taxonomy.count_negative_mentions(
                    text,
                    score,
                    scorer,
                    &mut self.aspect_negative_90d,
                );
            }
            if age <= 30 * DAY {
                self.sentiment_sum_30d += f64::from(score);
                self.sentiment_n_30d += 1;
            }
        }
    }

    #[inline]
    fn count(&mut self, counter: Counter, bucket: Option<usize>, amount: f64) {
        let c = counter as usize;
        self.totals[c] += amount;
        if let Some(b) = bucket {
            self.buckets[c][b] += amount;
        }
    }

    /// Behaviour ratios over the year (trees cannot divide one count by another) and the offer
    /// response history ([`super::responses`]): depth of a visit, how often a visit ends in a
    /// purchase, how often an opened message is clicked, and per action the sends judged and
    /// the share followed by a purchase within a week.
    fn emit_responses(&self, sink: &mut dyn Sink) {
        use FeatureType::*;
        let year = WINDOWS - 1;
        let per = |n: Counter, d: Counter| {
            let d = self.windowed(d, year);
            if d > 0.0 {
                self.windowed(n, year) / d
            } else {
                0.0
            }
        };
        let views = per(Counter::PageViews, Counter::Visits);
        sink.put(&|| "page_views_per_visit_365d".into(), Number, views);
        let buys = per(Counter::Purchases, Counter::Visits).min(1.0);
        sink.put(&|| "purchases_per_visit_365d".into(), Rate, buys);
        let clicks = per(Counter::Clicks, Counter::Opens).min(1.0);
        sink.put(&|| "clicks_per_open_365d".into(), Rate, clicks);
        let ids = self.spec.actions.iter().map(|a| a.id.as_str());
        self.responses.emit(ids, sink);
    }

    fn days_since(&self, ts: Option<Timestamp>) -> f32 {
        ts.map_or(NEVER_DAYS, |t| {
            (self.cutoff.days_since(t) as f32).min(NEVER_DAYS)
        })
    }

    /// The feature vector, with the customer's attributes aligned to the spec.
    pub fn finish(&self, attributes: Option<&[AttrValue]>) -> Vec<f32> {
        let mut values = Vec::with_capacity(self.spec.len());
        self.emit(attributes, &mut Values(&mut values));
        values
    }

    /// Like [`Self::finish`], into a reused buffer (cleared first).
    pub fn finish_into(&self, attributes: Option<&[AttrValue]>, out: &mut Vec<f32>) {
        out.clear();
        self.emit(attributes, &mut Values(out));
    }

    /// Writes every feature, in order, to `sink`. The order here *is* the feature order.
    fn emit(&self, attributes: Option<&[AttrValue]>, sink: &mut dyn Sink) {
        use FeatureType::*;
        let tenure_start = self.signup(attributes).or(self.first_event);
        sink.put(
            &|| "tenure_days".into(),
            Days,
            tenure_start.map_or(0.0, |t| self.cutoff.days_since(t).max(0.0) as f32),
        );
        sink.put(
            &|| "days_since_first_event".into(),
            Days,
            self.days_since(self.first_event),
        );
        sink.put(
            &|| "days_since_last_event".into(),
            Days,
            self.days_since(self.last_event),
        );
        sink.put(
            &|| "days_since_last_visit".into(),
            Days,
            self.days_since(self.last_visit),
        );
        sink.put(
            &|| "days_since_last_purchase".into(),
            Days,
            self.days_since(self.last_purchase),
        );
        sink.put(
            &|| "days_since_last_support".into(),
            Days,
            self.days_since(self.last_support),
        );
        sink.put(
            &|| "days_since_last_complaint".into(),
            Days,
            self.days_since(self.last_complaint),
        );
        sink.put(
            &|| "days_since_last_action".into(),
            Days,
            self.days_since(self.last_action),
        );
        let purchases = self.totals[Counter::Purchases as usize];
        let revenue = self.totals[Counter::Revenue as usize];
        sink.put(&|| "events_total".into(), Count, self.events as f32);
        sink.put(&|| "purchases_total".into(), Count, purchases as f32);
        sink.put(&|| "revenue_total".into(), Amount, revenue as f32);
        let aov = if purchases > 0.0 {
            revenue / purchases
        } else {
            0.0
        };
        sink.put(&|| "avg_order_value".into(), Amount, aov as f32);
        // Purchase rhythm as ratios, which trees cannot form from the counts and days above.
        sink.put(
            &|| "mean_purchase_gap_days".into(),
            Days,
            self.mean_purchase_gap_days(purchases),
        );
        sink.put(
            &|| "purchase_recency_share".into(),
            Rate,
            self.purchase_recency_share(tenure_start),
        );
        sink.put(
            &|| "unknown_events_total".into(),
            Count,
            self.unknown_events as f32,
        );
        sink.put(&|| "cancelled".into(), Flag, flag(self.cancelled));

        for counter in Counter::ALL {
            let mut running = 0.0;
            for (w, days) in WINDOWS_DAYS.iter().enumerate() {
                running += self.buckets[counter as usize][w];
                sink.put(
                    &|| format!("{}_{days}d", counter.name()),
                    counter.kind(),
                    running as f32,
                );
            }
        }

        for (slot, channel) in TRACKED_CHANNELS.iter().enumerate() {
            let sends = self.sends[slot];
            let rate = |n: u32| {
                if sends == 0 {
                    0.0
                } else {
                    (n as f32 / sends as f32).min(1.0)
                }
            };
            sink.put(&|| format!("{channel}_sends_365d"), Count, sends as f32);
            sink.put(
                &|| format!("{channel}_open_rate_365d"),
                Rate,
                rate(self.opens[slot]),
            );
            sink.put(
                &|| format!("{channel}_click_rate_365d"),
                Rate,
                rate(self.clicks[slot]),
            );
            sink.put(
                &|| format!("{channel}_unsubscribed"),
                Flag,
                flag(self.unsubscribed[slot]),
            );
        }

        let mean = mean_sentiment;
        sink.put(
            &|| "sentiment_last".into(),
            Score,
            self.sentiment_last.map_or(NEUTRAL_SENTIMENT, |(_, s)| s),
        );
        sink.put(
            &|| "sentiment_mean_30d".into(),
            Score,
            mean(self.sentiment_sum_30d, self.sentiment_n_30d),
        );
        sink.put(
            &|| "sentiment_mean_90d".into(),
            Score,
            mean(self.sentiment_sum_90d, self.sentiment_n_90d),
        );
        sink.put(
            &|| "sentiment_min_90d".into(),
            Score,
            self.sentiment_min_90d,
        );
        sink.put(&|| "texts_30d".into(), Count, self.texts_30d as f32);
        sink.put(&|| "texts_90d".into(), Count, self.texts_90d as f32);
        sink.put(
            &|| "negative_texts_90d".into(),
            Count,
            self.negative_texts_90d as f32,
        );
        if let Some(taxonomy) = Taxonomy::shared_default() {
            for (name, n) in taxonomy.names().zip(&self.aspect_negative_90d) {
                sink.put(&|| format!("aspect_{name}_negative_90d"), Count, *n as f32);
            }
        }

        for (i, action) in self.spec.actions.iter().enumerate() {
            sink.put(
                &|| format!("action_{}_sent_90d", action.id),
                Count,
                self.action_sent_90d[i] as f32,
            );
            sink.put(
                &|| format!("action_{}_days_since", action.id),
                Days,
                self.days_since(self.action_last_sent[i]),
            );
        }
        sink.put(
            &|| "actions_other_sent_90d".into(),
            Count,
            self.other_actions_90d as f32,
        );

        self.emit_responses(sink);
        super::attributes::emit(self.spec, self.cutoff, attributes, sink);
    }

    /// Mean days between purchases: (last − first) / (purchases − 1). Undefined before a second
    /// purchase, when it is [`NEVER_DAYS`], the "never" convention of the `days_since_*`
    /// features: no repeat yet sorts as the longest gap.
    fn mean_purchase_gap_days(&self, purchases: f64) -> f32 {
        match (self.first_purchase, self.last_purchase) {
            (Some(first), Some(last)) if purchases >= 2.0 => {
                ((last.days_since(first) / (purchases - 1.0)) as f32).min(NEVER_DAYS)
            }
            _ => NEVER_DAYS,
        }
    }

    /// The share of the tenure that has passed since the last purchase, in 0..1: near 0 just
    /// after a purchase, 1 without any purchase (the whole tenure has passed without one). A
    /// purchase before the signup date counts as at the start of the tenure.
    fn purchase_recency_share(&self, tenure_start: Option<Timestamp>) -> f32 {
        match (self.last_purchase, tenure_start) {
            (Some(last), Some(start)) if start < self.cutoff => {
                let share = self.cutoff.days_since(last) / self.cutoff.days_since(start);
                share.clamp(0.0, 1.0) as f32
            }
            _ => 1.0,
        }
    }

    fn signup(&self, attributes: Option<&[AttrValue]>) -> Option<Timestamp> {
        match attributes?.get(self.spec.signup_index()?)? {
            AttrValue::Date(t) if *t < self.cutoff => Some(*t),
            _ => None,
        }
    }
}

fn earliest(current: Option<Timestamp>, ts: Timestamp) -> Option<Timestamp> {
    Some(current.map_or(ts, |t| t.min(ts)))
}

fn latest(current: Option<Timestamp>, ts: Timestamp) -> Option<Timestamp> {
    Some(current.map_or(ts, |t| t.max(ts)))
}

pub(super) fn flag(on: bool) -> f32 {
    if on {
        1.0
    } else {
        0.0
    }
}

/// `email_open`/`email_click` are email responses whatever the channel column says.
fn response_channel<'a>(
    event_type: &EventType,
    channel: Option<&'a Channel>,
) -> Option<&'a Channel> {
    match event_type {
        EventType::EmailOpen | EventType::EmailClick => Some(&Channel::Email),
        _ => channel,
    }
}

/// Receives features in order: either their values or their definitions.
pub(super) trait Sink {
    /// One feature: its name (made only when definitions are collected), type and value.
    fn put(&mut self, name: &dyn Fn() -> String, kind: FeatureType, value: f32);
}

struct Values<'a>(&'a mut Vec<f32>);

impl Sink for Values<'_> {
    #[inline]
    fn put(&mut self, _name: &dyn Fn() -> String, _kind: FeatureType, value: f32) {
        self.0.push(value);
    }
}

struct Definitions(Vec<FeatureDef>);

impl Sink for Definitions {
    fn put(&mut self, name: &dyn Fn() -> String, kind: FeatureType, _value: f32) {
        self.0.push(FeatureDef { name: name(), kind });
    }
}

/// The ordered feature definitions a spec produces (computed by the same code that fills values).
pub(crate) fn feature_defs(spec: &FeatureSpec) -> Vec<FeatureDef> {
    let accumulator = FeatureAccumulator::new(spec, Timestamp(0), None);
    let mut defs = Definitions(Vec::new());
    accumulator.emit(None, &mut defs);
    defs.0
}

/// Featurises one customer's history as of `cutoff`: the function every path calls.
///
/// `attributes` must be aligned with `spec.attributes` (see [`super::spec::AttributeMapping`]).
pub fn featurize<'e>(
    spec: &FeatureSpec,
    attributes: Option<&[AttrValue]>,
    history: impl IntoIterator<Item = &'e Event>,
    cutoff: Timestamp,
    scorer: Option<&dyn TextScorer>,
) -> Vec<f32> {
    let mut accumulator = FeatureAccumulator::new(spec, cutoff, scorer);
    for event in history {
        accumulator.observe(event);
    }
    accumulator.finish(attributes)
}
