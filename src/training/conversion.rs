//! Conversion and uplift training: P(convert within the window | customer, action) for every
//! action in the catalog and for no action, learned from the journey log.
//!
//! Decision points come from the log itself: every `action` event is a treated point; control
//! points are instants (every `control.every_days`, plus explicit `action` events of the
//! catalog's no-action entry) where the customer got no contact in the lookback before nor in
//! the label window after. One model (an "S-learner") sees the customer's point-in-time
//! features plus one indicator per treatment, so the uplift of action `a` for a customer is
//! `P(x, a) − P(x, none)`. Points are split by time: the model learns on early points whose
//! label windows end before the later periods, and is judged on the last period.

use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::churn::{fingerprint, SetSummary};
use super::config::{ConversionConfig, ConversionWindows};
use super::metrics::{
    auc, brier, calibration_deciles, correlation, expected_calibration_error, log_loss,
    qini_coefficient, uplift_deciles, CalibrationBin, UpliftBin,
};
use super::{fit_estimator, TabularInputs, TrainError};
use crate::catalog::ActionKind;
use crate::catalog::Catalog;
use crate::features::matrix::Attributes;
use crate::features::{FeatureAccumulator, FeatureSpec, TextScorer};
use crate::journey::customers::CUSTOMER_ID;
use crate::journey::{
    AttrValue, CustomerTable, Event, EventReader, EventType, ReadOptions, Timestamp, TypedTable,
};
use crate::models::artifact::{LoadedModel, TrainingData};
use crate::models::calibration::{Calibration, CalibrationMethod};
use crate::models::{
    Artifact, Backend, Manifest, ModelError, NativeModel, Role, Scorer, TabularModel,
};

/// Ground-truth points scored at most (spread evenly over the holdout period).
const MAX_TRUTH_POINTS: usize = 50_000;

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
}

impl PointSet {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn summary(&self) -> SetSummary {
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
    }
}

/// What happened to the candidate decision points, so nothing is dropped silently.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PointCounts {
    /// `action` events of a catalog treatment.
    pub contacts: u64,
    /// `action` events whose action id is not in the catalog (not used).
    pub unknown_action_events: u64,
    /// Contacts dropped because another contact fell inside their label window.
    pub overlapping_contacts: u64,
    /// Candidate control instants dropped because of a contact in the lookback or window.
    pub contaminated_controls: u64,
    /// Points whose label window runs past the end of the data.
    pub censored: u64,
    /// Points before `split.train_from`, or whose window straddles two periods.
    pub outside_periods: u64,
    /// Points used for training, calibration and the holdout.
    pub used: u64,
}

impl PointCounts {
    fn add(&mut self, other: &PointCounts) {
        self.contacts += other.contacts;
        self.unknown_action_events += other.unknown_action_events;
        self.overlapping_contacts += other.overlapping_contacts;
        self.contaminated_controls += other.contaminated_controls;
        self.censored += other.censored;
        self.outside_periods += other.outside_periods;
        self.used += other.used;
    }
}

/// Holdout quality of one action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionMetrics {
    /// The action.
    pub action_id: String,
    /// Holdout rows that got it.
    pub rows: usize,
    /// Their conversion rate.
    pub conversion_rate: f64,
    /// Conversion rate of the holdout control rows.
    pub control_rate: f64,
    /// AUC of P(convert | x, action) on the rows that got it.
    pub auc: Option<f64>,
    /// Mean predicted uplift over its rows and the control rows.
    pub mean_predicted_uplift: f64,
    /// Qini coefficient of the predicted uplift on its rows and the control rows (> 0: the
    /// ranking finds incremental converters better than random targeting).
    pub qini: Option<f64>,
    /// Observed uplift by decile of predicted uplift, highest first.
    pub uplift_deciles: Vec<UpliftBin>,
}

/// Predicted against true uplift of one action, from the simulator's ground truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthActionMetrics {
    /// The action.
    pub action_id: String,
    /// Pearson correlation of predicted and true uplift over the holdout decision points.
    pub uplift_correlation: Option<f64>,
    /// Mean true uplift.
    pub mean_true_uplift: f64,
    /// Mean predicted uplift.
    pub mean_predicted_uplift: f64,
    /// Correlation of predicted and true P(convert | x, action).
    pub p_convert_correlation: Option<f64>,
}

/// Quality against the simulator's exact truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthMetrics {
    /// Holdout decision points scored.
    pub points: usize,
    /// Per action.
    pub actions: Vec<TruthActionMetrics>,
    /// Mean true uplift (extra conversions per decision) of acting on the model: the action of
    /// highest predicted uplift, or nothing when none is predicted positive.
    pub model_policy_uplift: f64,
    /// The same for a uniformly random action.
    pub random_policy_uplift: f64,
    /// The same for the oracle that knows the true uplift.
    pub oracle_policy_uplift: f64,
}

/// Metrics of a conversion model, written as `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionMetrics {
    /// Always `conversion`.
    pub role: Role,
    /// Algorithm.
    pub algorithm: String,
    /// Calibration fitted.
    pub calibration: String,
    /// The treatments, in indicator order.
    pub treatments: Vec<String>,
    /// The holdout period's points (cutoffs: first and last decision instant).
    pub holdout: SetSummary,
    /// Control rows in the holdout.
    pub holdout_control_rows: usize,
    /// The training points.
    pub train: SetSummary,
    /// The calibration points.
    pub calibration_set: Option<SetSummary>,
    /// How candidate points were used or why not.
    pub points: PointCounts,
    /// AUC of P(convert | x, the action taken) on the holdout.
    pub auc: Option<f64>,
    /// Log loss on the holdout.
    pub log_loss: f64,
    /// Brier score on the holdout.
    pub brier: f64,
    /// Expected calibration error over deciles.
    pub expected_calibration_error: f64,
    /// Calibration table in deciles.
    pub calibration_deciles: Vec<CalibrationBin>,
    /// AUC on the training rows.
    pub train_auc: Option<f64>,
    /// Per action: AUC and uplift quality.
    pub per_action: Vec<ActionMetrics>,
    /// Mean Qini coefficient over the actions that have one.
    pub mean_qini: Option<f64>,
    /// Against the simulator's truth, when configured.
    pub ground_truth: Option<TruthMetrics>,
    /// Features by importance, highest first (treatment indicators are `treatment__<id>`).
    pub feature_importance: Vec<(String, f64)>,
    /// FNV-1a hash of the holdout rows and labels.
    pub holdout_fingerprint: String,
}

/// What a conversion training run produced.
#[derive(Clone, Debug)]
pub struct ConversionOutcome {
    /// The artifact's manifest.
    pub manifest: Manifest,
    /// Holdout metrics.
    pub metrics: ConversionMetrics,
}

/// The treatments of a catalog (every action but the no-action entries) and the ids of its
/// no-action entries.
pub fn treatments(catalog: &Catalog) -> (Vec<String>, Vec<String>) {
    let (control, treated): (Vec<_>, Vec<_>) = catalog
        .actions
        .iter()
        .partition(|a| a.kind == ActionKind::None);
    (
        treated.into_iter().map(|a| a.id.clone()).collect(),
        control.into_iter().map(|a| a.id.clone()).collect(),
    )
}

/// Writes the model's input row for `treatment` (`None` = no action) into `out`: the customer
/// features followed by one indicator per treatment.
pub fn treatment_row(features: &[f32], treatment: Option<usize>, treatments: usize) -> Vec<f32> {
    let mut row = Vec::with_capacity(features.len() + treatments);
    row.extend_from_slice(features);
    row.extend((0..treatments).map(|t| if Some(t) == treatment { 1.0 } else { 0.0 }));
    row
}

/// Feature names of a conversion model's input: the spec's, then `treatment__<id>`.
pub fn input_names(spec: &FeatureSpec, treatments: &[String]) -> Vec<String> {
    spec.names()
        .map(str::to_string)
        .chain(treatments.iter().map(|t| format!("treatment__{t}")))
        .collect()
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Period {
    Train,
    Calibration,
    Holdout,
}

struct Point {
    at: Timestamp,
    treatment: Option<usize>,
    converted: bool,
    period: Period,
    row: Vec<f32>,
}

impl PointContext<'_> {
    fn period(&self, at: Timestamp) -> Option<Period> {
        let w = &self.windows;
        if w.train_from.is_some_and(|from| at < from) {
            return None;
        }
        if at >= w.holdout_from {
            return Some(Period::Holdout);
        }
        if let Some(calibration) = w.calibration_from {
            if at >= calibration {
                return (at.0 + w.window <= w.holdout_from.0).then_some(Period::Calibration);
            }
        }
        let fit_end = w.calibration_from.unwrap_or(w.holdout_from);
        (at.0 + w.window <= fit_end.0).then_some(Period::Train)
    }

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
    fn points(&self, history: &[Event], attrs: Option<&[AttrValue]>) -> (Vec<Point>, PointCounts) {
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
                        Some(ActionLookup::Control) => explicit_controls.push(at),
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
        let day = Timestamp::MICROS_PER_DAY;
        let every = self.windows.every_days;
        // Control instants start with the data: before it, a customer's history is unknown.
        let lo = start.max(self.data_start).0.div_euclid(day) + 1;
        let hi = self.data_end.0.div_euclid(day);
        let first = lo + (every - lo.rem_euclid(every)) % every;
        let grid = (first..=hi)
            .step_by(usize::try_from(every).unwrap_or(7))
            .map(|d| Timestamp(d * day));
        for at in grid.chain(explicit_controls.iter().copied()) {
            if cancel.is_some_and(|c| c <= at) || at <= start {
                continue;
            }
            if contacts_in(at.0 - self.windows.lookback, at.0 + window) > 0 {
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
            let Some(period) = self.period(at) else {
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
    config: &ConversionConfig,
    windows: ConversionWindows,
    inputs: &TabularInputs,
    treatments: &[String],
    controls: &[String],
    progress: &dyn Fn(u64),
) -> Result<ConversionData, TrainError> {
    let mut histories: FxHashMap<String, Vec<Event>> = FxHashMap::default();
    let mut data_end = Timestamp(i64::MIN);
    let mut data_start = Timestamp(i64::MAX);
    let reader = EventReader::open(&config.data.events, ReadOptions::default())?;
    for chunk in reader.prefetch(4) {
        let events = chunk?.events;
        let n = events.len() as u64;
        for event in events {
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
    let mapping = inputs
        .customers
        .as_ref()
        .map(|table| inputs.spec.attribute_mapping(table))
        .transpose()
        .map_err(|e| TrainError::Config(format!("data.customers: {e}")))?;
    let attributes = inputs
        .customers
        .as_ref()
        .zip(mapping.as_ref())
        .map(|(t, m)| Attributes::new(t, m));
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
            .conversion_events
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
            let (points, counts) = context.points(&histories[id], attrs.as_deref());
            (id, points, counts)
        })
        .collect();
    let (mut train, mut calibration, mut holdout) = (
        PointSet::default(),
        PointSet::default(),
        PointSet::default(),
    );
    let mut counts = PointCounts::default();
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

/// Scores every treatment and no action for each row: `(p_none, [p_treatment])` per row.
fn score_all_treatments(
    model: &dyn Scorer,
    rows: &[f32],
    width: usize,
    treatments: usize,
) -> Result<Vec<(f64, Vec<f64>)>, ModelError> {
    let n_features = width - treatments;
    let mut expanded = Vec::with_capacity(rows.len() * (treatments + 1));
    for row in rows.chunks_exact(width) {
        let features = &row[..n_features];
        for t in std::iter::once(None).chain((0..treatments).map(Some)) {
            expanded.extend(treatment_row(features, t, treatments));
        }
    }
    let p = model.predict_proba(&expanded, width)?;
    Ok(p.chunks_exact(treatments + 1)
        .map(|c| (c[0], c[1..].to_vec()))
        .collect())
}

fn evaluate_actions(
    model: &dyn Scorer,
    holdout: &PointSet,
    width: usize,
    treatments: &[String],
) -> Result<Vec<ActionMetrics>, ModelError> {
    let k = treatments.len();
    let scored = score_all_treatments(model, &holdout.rows, width, k)?;
    let control: Vec<usize> = (0..holdout.len())
        .filter(|&i| holdout.treatments[i].is_none())
        .collect();
    let rate = |rows: &[usize]| {
        rows.iter().filter(|&&i| holdout.labels[i]).count() as f64 / rows.len().max(1) as f64
    };
    let control_rate = rate(&control);
    Ok(treatments
        .iter()
        .enumerate()
        .map(|(a, id)| {
            let got: Vec<usize> = (0..holdout.len())
                .filter(|&i| holdout.treatments[i] == Some(a))
                .collect();
            let p_got: Vec<f64> = got.iter().map(|&i| scored[i].1[a]).collect();
            let labels_got: Vec<bool> = got.iter().map(|&i| holdout.labels[i]).collect();
            let both: Vec<usize> = got.iter().chain(&control).copied().collect();
            let uplift: Vec<f64> = both.iter().map(|&i| scored[i].1[a] - scored[i].0).collect();
            let treated: Vec<bool> = both
                .iter()
                .map(|&i| holdout.treatments[i].is_some())
                .collect();
            let outcome: Vec<bool> = both.iter().map(|&i| holdout.labels[i]).collect();
            ActionMetrics {
                action_id: id.clone(),
                rows: got.len(),
                conversion_rate: rate(&got),
                control_rate,
                auc: auc(&p_got, &labels_got),
                mean_predicted_uplift: uplift.iter().sum::<f64>() / uplift.len().max(1) as f64,
                qini: qini_coefficient(&uplift, &treated, &outcome),
                uplift_deciles: if got.is_empty() || control.is_empty() {
                    Vec::new()
                } else {
                    uplift_deciles(&uplift, &treated, &outcome)
                },
            }
        })
        .collect())
}

/// Judges predicted uplift against the simulator's truth on the holdout period's decision points.
fn evaluate_truth(
    path: &Path,
    model: &dyn Scorer,
    data: &ConversionData,
    context: (
        &FeatureSpec,
        Option<&dyn TextScorer>,
        Option<Attributes<'_>>,
    ),
    windows: &ConversionWindows,
    treatments: &[String],
    controls: &[String],
) -> Result<TruthMetrics, TrainError> {
    let (spec, scorer, attributes) = context;
    let table = TypedTable::read(path, None, CUSTOMER_ID)?;
    let column = |name: &str| {
        table.column(name).ok_or_else(|| {
            TrainError::Config(format!(
                "evaluation.ground_truth: {} has no column '{name}'",
                path.display()
            ))
        })
    };
    let time = column("timestamp")?;
    let control_id = controls.first().ok_or_else(|| {
        TrainError::Config("data.catalog: no no-action entry to compare with".into())
    })?;
    let p_none = column(&format!("p_convert__{control_id}"))?;
    let p_treated: Vec<usize> = treatments
        .iter()
        .map(|t| column(&format!("p_convert__{t}")))
        .collect::<Result<_, _>>()?;
    let number = |col: usize, row: usize| match table.values[col][row] {
        AttrValue::Number(v) => Some(v),
        _ => None,
    };
    let mut selected: Vec<(usize, Timestamp)> = (0..table.keys.len())
        .filter_map(|i| match table.values[time][i] {
            AttrValue::Date(t)
                if t >= windows.holdout_from
                    && t.0 + windows.window <= data.data_end.0
                    && data.histories.contains_key(&table.keys[i]) =>
            {
                Some((i, t))
            }
            _ => None,
        })
        .collect();
    if selected.len() > MAX_TRUTH_POINTS {
        let step = selected.len().div_ceil(MAX_TRUTH_POINTS);
        selected = selected.into_iter().step_by(step).collect();
    }
    if selected.is_empty() {
        return Err(TrainError::Config(format!(
            "evaluation.ground_truth: {} has no decision points in the holdout period",
            path.display()
        )));
    }
    let k = treatments.len();
    let width = spec.len() + k;
    let rows: Vec<f32> = selected
        .par_iter()
        .flat_map_iter(|&(i, at)| {
            let id = &table.keys[i];
            let history = data.histories.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let before = history.partition_point(|e| e.timestamp < at);
            let attrs = attributes.and_then(|a| a.get(id));
            let mut accumulator = FeatureAccumulator::new(spec, at, scorer);
            for event in &history[..before] {
                accumulator.observe(event);
            }
            let mut row = accumulator.finish(attrs.as_deref());
            row.extend(std::iter::repeat_n(0.0, k));
            row
        })
        .collect();
    let scored = score_all_treatments(model, &rows, width, k)?;
    let mut truth_none = Vec::with_capacity(selected.len());
    let mut truth: Vec<Vec<f64>> = vec![Vec::with_capacity(selected.len()); k];
    for &(i, _) in &selected {
        let missing = || {
            TrainError::Config(format!(
                "evaluation.ground_truth: {} row {} lacks a true probability",
                path.display(),
                table.rows[i]
            ))
        };
        truth_none.push(number(p_none, i).ok_or_else(missing)?);
        for (a, &col) in p_treated.iter().enumerate() {
            truth[a].push(number(col, i).ok_or_else(missing)?);
        }
    }
    let n = selected.len();
    let actions = treatments
        .iter()
        .enumerate()
        .map(|(a, id)| {
            let predicted_uplift: Vec<f64> = scored.iter().map(|s| s.1[a] - s.0).collect();
            let true_uplift: Vec<f64> = (0..n).map(|r| truth[a][r] - truth_none[r]).collect();
            let predicted_p: Vec<f64> = scored.iter().map(|s| s.1[a]).collect();
            TruthActionMetrics {
                action_id: id.clone(),
                uplift_correlation: correlation(&predicted_uplift, &true_uplift),
                mean_true_uplift: true_uplift.iter().sum::<f64>() / n as f64,
                mean_predicted_uplift: predicted_uplift.iter().sum::<f64>() / n as f64,
                p_convert_correlation: correlation(&predicted_p, &truth[a]),
            }
        })
        .collect();
    let (mut model_value, mut random_value, mut oracle_value) = (0.0, 0.0, 0.0);
    for r in 0..n {
        let true_uplift = |a: usize| truth[a][r] - truth_none[r];
        let best = (0..k)
            .map(|a| (a, scored[r].1[a] - scored[r].0))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        if let Some((a, predicted)) = best {
            if predicted > 0.0 {
                model_value += true_uplift(a);
            }
        }
        random_value += (0..k).map(true_uplift).sum::<f64>() / k.max(1) as f64;
        oracle_value += (0..k).map(true_uplift).fold(0.0, f64::max);
    }
    Ok(TruthMetrics {
        points: n,
        actions,
        model_policy_uplift: model_value / n as f64,
        random_policy_uplift: random_value / n as f64,
        oracle_policy_uplift: oracle_value / n as f64,
    })
}

/// Trains a conversion model from a config and writes its artifact.
pub fn train(
    config: &ConversionConfig,
    progress: &dyn Fn(u64),
) -> Result<ConversionOutcome, TrainError> {
    let windows = config.validate().map_err(TrainError::Config)?;
    let inputs = TabularInputs::load(&config.data)?;
    let catalog = inputs
        .catalog
        .as_ref()
        .ok_or_else(|| TrainError::Config("data.catalog: required".into()))?;
    let (treatments, controls) = treatments(catalog);
    if treatments.is_empty() {
        return Err(TrainError::Config(
            "data.catalog: has no actions besides no-action entries: nothing to learn".into(),
        ));
    }
    // Unknown monotone feature names fail here, before the events are read.
    let names = input_names(&inputs.spec, &treatments);
    config
        .model
        .gbdt
        .monotone_columns(&names)
        .map_err(|e| TrainError::Config(format!("model.{e}")))?;
    let data = build_points(config, windows, &inputs, &treatments, &controls, progress)?;
    let spec = &inputs.spec;
    let k = treatments.len();
    let width = spec.len() + k;
    for (name, set) in [("training", &data.train), ("holdout", &data.holdout)] {
        if set.len() == 0 {
            return Err(TrainError::Config(format!(
                "split: the {name} period has no decision points (points: {:?})",
                data.counts
            )));
        }
    }
    let calibrating = config.model.calibration != CalibrationMethod::None;
    if calibrating && data.calibration.len() == 0 {
        return Err(TrainError::Config(
            "split.calibration_from: the calibration period has no decision points".into(),
        ));
    }
    let (estimator, _) = fit_estimator(
        &config.model,
        &data.train.rows,
        width,
        &data.train.labels,
        Some(&data.train.customers),
        &names,
        config.seed,
    )?;
    let calibration = if calibrating {
        Calibration::fit(
            config.model.calibration,
            &estimator.raw_proba(&data.calibration.rows, width),
            &data.calibration.labels,
        )
    } else {
        Calibration::None
    };
    let model = NativeModel {
        estimator,
        calibration,
    };
    let holdout = &data.holdout;
    let predicted = model.predict_proba(&holdout.rows, width)?;
    let deciles = calibration_deciles(&predicted, &holdout.labels);
    let importance = super::ranked_importance(names, model.estimator.feature_importance(width));
    let per_action = evaluate_actions(&model, holdout, width, &treatments)?;
    let qinis: Vec<f64> = per_action.iter().filter_map(|a| a.qini).collect();
    let mapping = inputs
        .customers
        .as_ref()
        .map(|table| spec.attribute_mapping(table))
        .transpose()
        .map_err(|e| TrainError::Config(format!("data.customers: {e}")))?;
    let attributes = inputs
        .customers
        .as_ref()
        .zip(mapping.as_ref())
        .map(|(t, m): (&CustomerTable, _)| Attributes::new(t, m));
    let ground_truth = config
        .evaluation
        .ground_truth
        .as_deref()
        .map(|path| {
            evaluate_truth(
                path,
                &model,
                &data,
                (spec, inputs.scorer(), attributes),
                &windows,
                &treatments,
                &controls,
            )
        })
        .transpose()?;
    let train_predicted = model.predict_proba(&data.train.rows, width)?;
    let metrics = ConversionMetrics {
        role: Role::Conversion,
        algorithm: model.estimator.algorithm().into(),
        calibration: format!("{:?}", config.model.calibration).to_lowercase(),
        treatments: treatments.clone(),
        holdout: holdout.summary(),
        holdout_control_rows: holdout.treatments.iter().filter(|t| t.is_none()).count(),
        train: data.train.summary(),
        calibration_set: calibrating.then(|| data.calibration.summary()),
        points: data.counts.clone(),
        auc: auc(&predicted, &holdout.labels),
        log_loss: log_loss(&predicted, &holdout.labels),
        brier: brier(&predicted, &holdout.labels),
        expected_calibration_error: expected_calibration_error(&deciles),
        calibration_deciles: deciles,
        train_auc: auc(&train_predicted, &data.train.labels),
        mean_qini: (!qinis.is_empty()).then(|| qinis.iter().sum::<f64>() / qinis.len() as f64),
        per_action,
        ground_truth,
        feature_importance: importance,
        holdout_fingerprint: fingerprint([(holdout.rows.as_slice(), holdout.labels.as_slice())]),
    };
    let training_data = TrainingData {
        files: config.data.files(),
        fingerprint: fingerprint(
            [&data.train, &data.calibration, holdout]
                .into_iter()
                .map(|s| (s.rows.as_slice(), s.labels.as_slice())),
        ),
        train_rows: data.train.len() as u64,
        holdout_rows: holdout.len() as u64,
        train_positive_rate: data.train.labels.iter().filter(|&&y| y).count() as f64
            / data.train.len().max(1) as f64,
    };
    let created = Timestamp::now();
    let manifest = Manifest {
        role: Role::Conversion,
        version: created.to_rfc3339(),
        backend: Backend::Native,
        algorithm: model.estimator.algorithm().into(),
        model_file: "model.json".into(),
        features: Some(inputs.spec.clone()),
        treatments: Some(treatments),
        label: serde_json::to_value(&config.label).unwrap_or_default(),
        training_data,
        config: serde_json::to_value(config).unwrap_or_default(),
        seed: config.seed,
        created,
        crate_version: env!("CARGO_PKG_VERSION").into(),
    };
    Artifact::save(
        &config.output,
        &manifest,
        &LoadedModel::Tabular(TabularModel::Native(Box::new(model))),
        &metrics,
    )?;
    Ok(ConversionOutcome { manifest, metrics })
}
