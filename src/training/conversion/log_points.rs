//! Decision points from nextbest's own decision log (`nextbest train --decision-log`): each
//! logged decision is a point — its first pick the treatment, the no-action entry a control,
//! with the propensity the logging policy gave it — labelled by the outcomes recorded for it,
//! and featurised from the customer's history in the profile store as it was before the
//! decision. Reading the database is the caller's (the command line reads it with
//! [`crate::evaluation`]'s reader); this module only turns what was read into the trainer's
//! points, accounting for every decision in [`PointCounts`].

use rustc_hash::FxHashMap;

use crate::features::FeatureAccumulator;
use crate::journey::{Event, EventType, Timestamp};
use crate::training::config::{Period, ValidConversionConfig};
use crate::training::{TabularInputs, TrainError};

use super::points::{ConversionData, PointCounts, PointSet};

/// One logged decision and what followed.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedPoint {
    /// The decision's id (for messages).
    pub decision_id: String,
    /// The customer.
    pub customer_id: String,
    /// The decision instant.
    pub at: Timestamp,
    /// The logging policy's first pick.
    pub action_id: String,
    /// The probability the logging policy gave that pick.
    pub propensity: f64,
    /// Whether the outcome the model learns was recorded within the label window.
    pub converted: bool,
}

/// A decision log as read for training.
#[derive(Clone, Debug, Default)]
pub struct DecisionLog {
    /// The decisions with a pick, in any order.
    pub decisions: Vec<LoggedPoint>,
    /// Dry runs the reader left out (never shown to a customer).
    pub dry_runs: u64,
    /// Decisions that logged no action (an experiment's holdout) the reader left out.
    pub without_action: u64,
    /// Each customer's history from the profile store, oldest first.
    pub histories: FxHashMap<String, Vec<Event>>,
}

enum Treatment {
    Treated(usize),
    Control,
    Unknown,
}

/// Builds the labelled points of every period from a decision log. The data end at
/// `split.data_end`, or else at the last logged decision (a later outcome cannot be told from
/// none, so every decision of the last label window is censored).
pub fn log_points(
    valid: &ValidConversionConfig,
    inputs: &TabularInputs,
    treatments: &[String],
    controls: &[String],
    log: DecisionLog,
) -> Result<ConversionData, TrainError> {
    let windows = valid.windows();
    let window = windows.window;
    let mut counts = PointCounts {
        dry_run_decisions: log.dry_runs,
        decisions_without_action: log.without_action,
        ..PointCounts::default()
    };
    let data_end = windows
        .data_end
        .or_else(|| log.decisions.iter().map(|d| d.at).max())
        .unwrap_or(Timestamp(i64::MIN));
    let lookup = |id: &str| match treatments.iter().position(|t| t == id) {
        Some(t) => Treatment::Treated(t),
        None if id == crate::catalog::NO_ACTION_ID || controls.iter().any(|c| c == id) => {
            Treatment::Control
        }
        None => Treatment::Unknown,
    };
    let mut by_customer: FxHashMap<&str, Vec<&LoggedPoint>> = FxHashMap::default();
    for decision in &log.decisions {
        by_customer
            .entry(decision.customer_id.as_str())
            .or_default()
            .push(decision);
    }
    let mut customers: Vec<&str> = by_customer.keys().copied().collect();
    customers.sort_unstable();
    let mapping = inputs.attribute_mapping()?;
    let attributes = inputs.attributes(mapping.as_ref());
    let (mut train, mut calibration, mut holdout) = (
        PointSet::default(),
        PointSet::default(),
        PointSet::default(),
    );
    let empty = Vec::new();
    for customer in customers {
        let mut decisions = by_customer.remove(customer).unwrap_or_default();
        decisions.sort_by(|a, b| (a.at, &a.decision_id).cmp(&(b.at, &b.decision_id)));
        let history = log.histories.get(customer).unwrap_or(&empty);
        let cancel = history
            .iter()
            .find(|e| e.event_type == EventType::Cancel)
            .map(|e| e.timestamp);
        let attrs = attributes.and_then(|a| a.get(customer));
        // Every contact (a treatment, or an action the catalog lacks) shares the label of
        // a decision inside whose window it falls.
        let contacts: Vec<Timestamp> = decisions
            .iter()
            .filter(|d| !matches!(lookup(&d.action_id), Treatment::Control))
            .map(|d| d.at)
            .collect();
        let contacts_in = |from: i64, to: i64| {
            contacts.partition_point(|t| t.0 < to) - contacts.partition_point(|t| t.0 < from)
        };
        for decision in decisions {
            let at = decision.at;
            let treatment = match lookup(&decision.action_id) {
                Treatment::Unknown => {
                    counts.unknown_action_events += 1;
                    continue;
                }
                Treatment::Treated(t) => {
                    counts.contacts += 1;
                    if contacts_in(at.0, at.0 + window) > 1 {
                        counts.overlapping_contacts += 1;
                        continue;
                    }
                    Some(t)
                }
                Treatment::Control => {
                    counts.explicit_controls += 1;
                    // As a treated decision: only a contact inside its own window spoils it.
                    if contacts_in(at.0, at.0 + window) > 0 {
                        counts.contaminated_controls += 1;
                        continue;
                    }
                    None
                }
            };
            if cancel.is_some_and(|c| c <= at) {
                counts.after_cancel += 1;
                continue;
            }
            if at.0 + window > data_end.0 {
                counts.censored += 1;
                continue;
            }
            let Some(period) = windows.period(customer, at) else {
                counts.outside_periods += 1;
                continue;
            };
            let set = match period {
                Period::Train => &mut train,
                Period::Calibration => &mut calibration,
                Period::Holdout => &mut holdout,
            };
            // Features from the events strictly before the decision, as when it was made.
            let before = history.partition_point(|e| e.timestamp < at);
            let mut accumulator = FeatureAccumulator::new(&inputs.spec, at, inputs.scorer());
            for event in &history[..before] {
                accumulator.observe(event);
            }
            let mut row = Vec::with_capacity(inputs.spec.len() + treatments.len());
            accumulator.finish_into(attrs.as_deref(), &mut row);
            row.extend((0..treatments.len()).map(|t| f32::from(u8::from(Some(t) == treatment))));
            set.rows.extend_from_slice(&row);
            set.customers.push(customer.to_string());
            set.at.push(at);
            set.treatments.push(treatment);
            set.labels.push(decision.converted);
            set.propensities.push(Some(decision.propensity));
            counts.used += 1;
        }
    }
    Ok(ConversionData {
        train,
        calibration,
        holdout,
        counts,
        histories: log.histories,
        data_end,
    })
}
