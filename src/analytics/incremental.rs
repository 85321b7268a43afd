//! Incremental conversions: what each contact added, by the conversion (uplift) model.
//!
//! First and last touch give an order to a contact that came before it, whether or not the
//! contact made a difference. Here each of our `action` contacts in the period whose action the
//! conversion model knows is scored as the engine scores a decision: the customer's features
//! just before the contact (the feature function, point-in-time), P(convert | that action) −
//! P(convert | no action). Summed per action, that is the model's estimate of the conversions
//! the action caused, within the model's own horizon.

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::{EventLog, ACTION};
use crate::features::matrix::Attributes;
use crate::features::{FeatureAccumulator, TextScorer};
use crate::journey::{CustomerTable, Timestamp};
use crate::models::registry::ModelSet;

/// One action's estimated effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionEffect {
    /// The action id.
    pub action_id: String,
    /// Contacts in the period that the model could score.
    pub contacts: u64,
    /// Σ P(convert | action) − P(convert | no action) over them.
    pub incremental_conversions: f64,
}

/// The estimate for every scored action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncrementalEstimate {
    /// The conversion model (role/version).
    pub model: String,
    /// Per action, in action-id order.
    pub effects: Vec<ActionEffect>,
    /// Contacts whose action the model does not know (not scored).
    pub unscored_contacts: u64,
}

/// Scores every contact of `members` in `[from, to)` with the conversion model.
pub fn incremental(
    log: &EventLog,
    members: &[bool],
    table: Option<&CustomerTable>,
    models: &ModelSet,
    from: i64,
    to: i64,
) -> Result<IncrementalEstimate> {
    let (Some(uplift), Some(spec)) = (models.conversion.as_ref(), models.spec.as_ref()) else {
        return Err(AnalyticsError::invalid(
            "models",
            "incremental conversions need a conversion model",
        ));
    };
    let mapping = table
        .map(|t| spec.attribute_mapping(t))
        .transpose()
        .map_err(|e| AnalyticsError::invalid("customers", e.to_string()))?;
    let attributes = table
        .zip(mapping.as_ref())
        .map(|(t, m)| Attributes::new(t, m));
    // The sentiment slots are filled only if the model was trained with them filled.
    let scorer = models
        .sentiment
        .as_ref()
        .filter(|_| spec.sentiment_model.is_some())
        .map(|s| s as &dyn TextScorer);
    let action = log.kind_of(ACTION);
    let mut sums = vec![(0u64, 0.0f64); log.actions.len()];
    let mut unscored = 0u64;
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let range = log.events_of(c);
        let row = attributes.and_then(|a| a.get(&log.customers[c]));
        for j in range.clone() {
            let t = log.time[j];
            if t >= to {
                break;
            }
            if t < from || Some(log.kind[j]) != action {
                continue;
            }
            let id = log.actions.name(log.action[j]);
            if !uplift.knows(id) {
                unscored += 1;
                continue;
            }
            // Features as of the contact: everything strictly before it.
            let mut accumulator = FeatureAccumulator::new(spec, Timestamp(t), scorer);
            for i in range.start..j {
                if log.time[i] >= t {
                    break;
                }
                accumulator.observe(&log.event(i));
            }
            let features = accumulator.finish(row.as_deref());
            let (p_none, p) = uplift
                .score(&features, &[id])
                .map_err(|e| AnalyticsError::invalid("models", e.to_string()))?;
            if let Some(Some(p_action)) = p.first() {
                let s = &mut sums[log.action[j] as usize];
                s.0 += 1;
                s.1 += p_action - p_none;
            }
        }
    }
    let mut effects: Vec<ActionEffect> = sums
        .iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(a, s)| ActionEffect {
            action_id: log.actions.name(a as u32).to_string(),
            contacts: s.0,
            incremental_conversions: s.1,
        })
        .collect();
    effects.sort_by(|x, y| x.action_id.cmp(&y.action_id));
    Ok(IncrementalEstimate {
        model: uplift.model.version(),
        effects,
        unscored_contacts: unscored,
    })
}
