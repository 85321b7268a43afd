//! Decision points: every contact with a catalog treatment, and clean control instants, each
//! labelled by whether the customer converted within the window after it, with the customer's
//! point-in-time features followed by the treatment indicators.

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::features::{FeatureAccumulator, FeatureSpec, TextScorer};
use crate::journey::{AttrValue, Event, EventReader, EventType, ReadOptions, Timestamp};
use crate::training::config::{ConversionWindows, Period, ValidConversionConfig};
use crate::training::pipeline::SetSummary;
use crate::training::{TabularInputs, TrainError};

/// The rows of one period: customer features followed by the treatment indicators.
#[derive(Clone, Debug, Default)]
pub struct PointSet {
    /// Customer of each row.
    pub customers: Vec<String>,
    /// Decision instant of each row.
    pub at: Vec<Timestamp>,
    /// Treatment index of each row (`None` = control).
    pub treatments: Vec<Option<usize>>,
    /// Row-major values: `width` per row.
    pub rows: Vec<f32>,
    /// Converted within the window.
    pub labels: Vec<bool>,
    /// The probability the logging policy gave the row's action, when the log records it
    /// (nextbest's decision log does; journey `action` events do not).
    pub propensities: Vec<Option<f64>>,
}

impl PointSet {
    pub(super) fn len(&self) -> usize {
        self.labels.len()
    }

    pub(super) fn summary(&self) -> SetSummary {
        let (first, last) = (self.at.iter().min(), self.at.iter().max());
        SetSummary {
            cutoffs: first
                .zip(last)
                .map(|(a, b)| vec![a.to_rfc3339(), b.to_rfc3339()])
                .unwrap_or_default(),
            rows: self.len(),
            positives: self.labels.iter().filter(|&&y| y).count(),
        }
    }

    fn push(&mut self, customer: &str, point: Point) {
        self.customers.push(customer.to_string());
        self.at.push(point.at);
        self.treatments.push(point.treatment);
        self.rows.extend_from_slice(&point.row);
        self.labels.push(point.converted);
        self.propensities.push(None);
    }
}

/// What happened to the candidate decision points, so nothing is dropped silently.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointCounts {
    /// `action` events of a catalog treatment.
    pub contacts: u64,
    /// `action` events of the catalog's no-action entry: explicit control points.
    #[serde(default)]
    pub explicit_controls: u64,
    /// Synthetic control instants considered (`control.every_days`).
    #[serde(default)]
    pub synthetic_controls: u64,
    /// `action` events whose action id is not in the catalog (not used).
    pub unknown_action_events: u64,
    /// Points at or after the customer's cancellation (nothing left to convert).
    #[serde(default)]
    pub after_cancel: u64,
    /// Events after `split.data_end` (ignored).
    #[serde(default)]
    pub events_after_data_end: u64,
    /// Contacts dropped because another contact fell inside their label window.
    pub overlapping_contacts: u64,
    /// Candidate control instants dropped because of a contact in the lookback or window.
    pub contaminated_controls: u64,
    /// Points whose label window runs past the end of the data.
    pub censored: u64,
    /// Points before `split.train_from`, or whose window straddles two periods.
    pub outside_periods: u64,
    /// Decision log: dry runs (never shown to a customer; not used).
    #[serde(default)]
    pub dry_run_decisions: u64,
    /// Decision log: decisions that logged no action, such as an experiment's holdout (not
    /// used).
    #[serde(default)]
    pub decisions_without_action: u64,
    /// Points used for training, calibration and the holdout.
    pub used: u64,
}

impl PointCounts {
    pub(super) fn add(&mut self, other: &PointCounts) {
        self.contacts += other.contacts;
        self.explicit_controls += other.explicit_controls;
        self.synthetic_controls += other.synthetic_controls;
        self.unknown_action_events += other.unknown_action_events;
        self.after_cancel += other.after_cancel;
        self.events_after_data_end += other.events_after_data_end;
        self.overlapping_contacts += other.overlapping_contacts;
        self.contaminated_controls += other.contaminated_controls;
        self.censored += other.censored;
        self.outside_periods += other.outside_periods;
        self.dry_run_decisions += other.dry_run_decisions;
        self.decisions_without_action += other.decisions_without_action;
        self.used += other.used;
    }
}

enum ActionLookup {
    Treatment(usize),
    Control,
}

/// Everything the per-customer point finder needs.
struct PointContext<'a> {
    spec: &'a FeatureSpec,
    scorer: Option<&'a dyn TextScorer>,
    actions: FxHashMap<&'a str, ActionLookup>,
    treatments: usize,
    conversion_types: Vec<EventType>,
    windows: ConversionWindows,
    data_start: Timestamp,
    data_end: Timestamp,
}

struct Point {
    at: Timestamp,
    treatment: Option<usize>,
    converted: bool,
    period: Period,
    row: Vec<f32>,
}

impl PointContext<'_> {
    fn features(&self, history: &[Event], at: Timestamp, attrs: Option<&[AttrValue]>) -> Vec<f32> {
        let before = history.partition_point(|e| e.timestamp < at);
        let mut accumulator = FeatureAccumulator::new(self.spec, at, self.scorer);
        for event in &history[..before] {
            accumulator.observe(event);
        }
        let mut row = Vec::with_capacity(self.spec.len() + self.treatments);
        accumulator.finish_into(attrs, &mut row);
        row
    }

    /// The decision points of one customer whose events are sorted by time.
    fn points(
        &self,
        customer: &str,
        history: &[Event],
        attrs: Option<&[AttrValue]>,
    ) -> (Vec<Point>, PointCounts) {
        let mut counts = PointCounts::default();
        let mut contacts: Vec<(Timestamp, usize)> = Vec::new();
        let mut explicit_controls: Vec<Timestamp> = Vec::new();
        let mut conversions: Vec<Timestamp> = Vec::new();
        let mut cancel: Option<Timestamp> = None;
        let mut other_contacts: Vec<Timestamp> = Vec::new();
        for event in history {
            let at = event.timestamp;
            match event.event_type {
                EventType::Action => {
                    match event
                        .action_id
                        .as_deref()
                        .and_then(|id| self.actions.get(id))
                    {
                        Some(ActionLookup::Treatment(t)) => {
                            counts.contacts += 1;
                            contacts.push((at, *t));
                        }
                        Some(ActionLookup::Control) => {
                            counts.explicit_controls += 1;
                            explicit_controls.push(at);
                        }
                        None => {
                            // Still a contact: it must not pass for a clean control.
                            counts.unknown_action_events += 1;
                            other_contacts.push(at);
                        }
                    }
                }
                EventType::Cancel => cancel = Some(cancel.map_or(at, |c| c.min(at))),
                _ => {}
            }
            if self.conversion_types.contains(&event.event_type) {
                conversions.push(at);
            }
        }
        let window = self.windows.window;
        let converted = |at: Timestamp| {
            let i = conversions.partition_point(|&c| c < at);
            conversions.get(i).is_some_and(|c| c.0 < at.0 + window)
        };
        let mut contact_times: Vec<Timestamp> = contacts.iter().map(|c| c.0).collect();
        contact_times.extend(other_contacts);
        contact_times.sort_unstable();
        // Contacts in [from, to).
        let contacts_in = |from: i64, to: i64| {
            contact_times.partition_point(|t| t.0 < to)
                - contact_times.partition_point(|t| t.0 < from)
        };
        let signup = self
            .spec
            .signup_index()
            .and_then(|i| attrs?.get(i))
            .and_then(|v| match v {
                AttrValue::Date(t) => Some(*t),
                _ => None,
            });
        let first_event = history.first().map(|e| e.timestamp);
        let Some(start) = [signup, first_event].into_iter().flatten().min() else {
            return (Vec::new(), counts);
        };
        let mut candidates: Vec<(Timestamp, Option<usize>)> = Vec::new();
        for &(at, treatment) in &contacts {
            // Another contact inside the window would share the label.
            if contacts_in(at.0, at.0 + window) > 1 {
                counts.overlapping_contacts += 1;
            } else {
                candidates.push((at, Some(treatment)));
            }
        }
        // Synthetic control instants (only when configured) start after the customer's
        // history does: before it, what they had seen is unknown.
        let day = Timestamp::MICROS_PER_DAY;
        let mut synthetic = Vec::new();
        if let Some(every) = self.windows.every_days {
            let lo = start.max(self.data_start).0.div_euclid(day) + 1;
            let hi = self.data_end.0.div_euclid(day);
            let first = lo + (every - lo.rem_euclid(every)) % every;
            synthetic.extend(
                (first..=hi)
                    .step_by(usize::try_from(every).unwrap_or(7))
                    .map(|d| Timestamp(d * day)),
            );
        }
        counts.synthetic_controls += synthetic.len() as u64;
        // An explicit control is a decision that was made, even as the customer's first event:
        // like a treated point it is kept whatever the history before it (the features carry
        // the earlier contacts, and a randomised control must be compared with treated points
        // that had the same chance of earlier contacts). A synthetic instant was no decision:
        // it also needs a contact-free lookback, or a recent contact's effect would leak in.
        let explicit = explicit_controls.iter().map(|&at| (at, 0));
        for (at, lookback) in synthetic
            .into_iter()
            .map(|at| (at, self.windows.lookback))
            .chain(explicit)
        {
            if cancel.is_some_and(|c| c <= at) {
                counts.after_cancel += 1;
                continue;
            }
            if contacts_in(at.0 - lookback, at.0 + window) > 0 {
                counts.contaminated_controls += 1;
                continue;
            }
            candidates.push((at, None));
        }
        let mut points = Vec::new();
        for (at, treatment) in candidates {
            if at.0 + window > self.data_end.0 {
                counts.censored += 1;
                continue;
            }
            let Some(period) = self.windows.period(customer, at) else {
                counts.outside_periods += 1;
                continue;
            };
            let mut row = self.features(history, at, attrs);
            row.extend((0..self.treatments).map(|t| if Some(t) == treatment { 1.0 } else { 0.0 }));
            counts.used += 1;
            points.push(Point {
                at,
                treatment,
                converted: converted(at),
                period,
                row,
            });
        }
        points.sort_by_key(|p| (p.at, p.treatment.map_or(0, |t| t + 1)));
        (points, counts)
    }
}

/// Labelled decision points of a conversion config, and the histories they came from.
pub struct ConversionData {
    /// Training points.
    pub train: PointSet,
    /// Calibration points (empty when not calibrating).
    pub calibration: PointSet,
    /// Holdout points.
    pub holdout: PointSet,
    /// Accounting of candidate points.
    pub counts: PointCounts,
    /// Every customer's events, sorted by time (for scoring ground-truth points).
    pub histories: FxHashMap<String, Vec<Event>>,
    /// When the data end.
    pub data_end: Timestamp,
}

/// Reads the events once and builds the labelled decision points of every period.
pub fn build_points(
    valid: &ValidConversionConfig,
    inputs: &TabularInputs,
    treatments: &[String],
    controls: &[String],
    progress: &dyn Fn(u64),
) -> Result<ConversionData, TrainError> {
    let (config, windows) = (valid.config(), *valid.windows());
    let mut histories: FxHashMap<String, Vec<Event>> = FxHashMap::default();
    let mut data_end = Timestamp(i64::MIN);
    let mut data_start = Timestamp(i64::MAX);
    let mut counts = PointCounts::default();
    let reader = EventReader::open(&config.data.events, ReadOptions::default())?;
    for chunk in reader.prefetch(4) {
        let events = chunk?.events;
        let n = events.len() as u64;
        for event in events {
            // Visitor events are not linked to customers here (only features and analytics do).
            if event.is_anonymous() {
                continue;
            }
            if windows.data_end.is_some_and(|end| event.timestamp > end) {
                counts.events_after_data_end += 1;
                continue;
            }
            data_end = data_end.max(event.timestamp);
            data_start = data_start.min(event.timestamp);
            match histories.get_mut(event.customer_id.as_str()) {
                Some(history) => history.push(event),
                None => {
                    histories.insert(event.customer_id.clone(), vec![event]);
                }
            }
        }
        progress(n);
    }
    histories
        .par_iter_mut()
        .for_each(|(_, h)| h.sort_by_key(|e| e.timestamp));
    let data_end = windows.data_end.unwrap_or(data_end);
    let mapping = inputs.attribute_mapping()?;
    let attributes = inputs.attributes(mapping.as_ref());
    let mut actions: FxHashMap<&str, ActionLookup> = FxHashMap::default();
    for (i, id) in treatments.iter().enumerate() {
        actions.insert(id, ActionLookup::Treatment(i));
    }
    for id in controls {
        actions.insert(id, ActionLookup::Control);
    }
    let context = PointContext {
        spec: &inputs.spec,
        scorer: inputs.scorer(),
        actions,
        treatments: treatments.len(),
        conversion_types: config
            .label
            .outcome_events(config.role)
            .iter()
            .map(|e| EventType::parse(e))
            .collect(),
        windows,
        data_start,
        data_end,
    };
    let mut ids: Vec<&String> = histories.keys().collect();
    ids.sort();
    let per_customer: Vec<(&String, Vec<Point>, PointCounts)> = ids
        .into_par_iter()
        .map(|id| {
            let attrs = attributes.and_then(|a| a.get(id));
            let (points, counts) = context.points(id, &histories[id], attrs.as_deref());
            (id, points, counts)
        })
        .collect();
    let (mut train, mut calibration, mut holdout) = (
        PointSet::default(),
        PointSet::default(),
        PointSet::default(),
    );
    for (id, points, c) in per_customer {
        counts.add(&c);
        for point in points {
            let set = match point.period {
                Period::Train => &mut train,
                Period::Calibration => &mut calibration,
                Period::Holdout => &mut holdout,
            };
            set.push(id, point);
        }
    }
    drop(context);
    Ok(ConversionData {
        train,
        calibration,
        holdout,
        counts,
        histories,
        data_end,
    })
}
