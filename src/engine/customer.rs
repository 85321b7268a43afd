//! The customer at the decision instant, from one pass over the history: the feature vector
//! (the training function), the model scores, and the facts the policy needs (contacts,
//! opt-outs, support, sentiment, value), read from the same accumulator through typed
//! accessors.

use crate::catalog::Action;
use crate::decision::{CandidateScores, ConsentMap, CustomerState, Exposure, Unsubscribes};
use crate::features::{ContactHistory, FeatureAccumulator, TextScorer};
use crate::journey::{AttrValue, Event, Timestamp};
use crate::models::registry::ModelSet;
use crate::models::{ModelError, Scorer};

use super::request::DecisionRequest;
use super::validate::ValidRequest;
use super::EngineError;

/// What the engine knows of one customer once featurised and scored.
pub(super) struct ScoredCustomer {
    /// The feature vector, in the models' order.
    pub features: Vec<f32>,
    /// P(churn), when a churn model is loaded.
    pub p_churn: Option<f64>,
    /// Mean sentiment of the last 30 days' texts, when there were any.
    pub sentiment: Option<f64>,
    /// A year's revenue so far: what losing the customer would cost.
    pub customer_value: f64,
    /// The last support contact before the decision.
    pub last_support_contact: Option<Timestamp>,
    /// Past sends and opt-outs.
    pub contacts: ContactHistory,
}

/// Featurises the history at `now` and scores churn.
pub(super) fn score(
    models: &ModelSet,
    attributes: Option<&[AttrValue]>,
    history: &[Event],
    now: Timestamp,
) -> Result<ScoredCustomer, EngineError> {
    let mut accumulator = accumulator(models, now)?;
    for event in history {
        accumulator.observe(event);
    }
    score_accumulated(models, attributes, accumulator)
}

/// An empty accumulator for a decision at `now` with these models: their spec, the sentiment
/// scorer when the models were trained with its slots filled, and contacts recorded.
pub(super) fn accumulator(
    models: &ModelSet,
    now: Timestamp,
) -> Result<FeatureAccumulator<'_>, EngineError> {
    let Some(spec) = &models.spec else {
        // The engine refuses such a set when built or reloaded; this only keeps the path total.
        return Err(EngineError::Model(ModelError::Invalid {
            path: "models".into(),
            problem: "no churn or conversion model: decisions would have no scores".into(),
        }));
    };
    // Fill the sentiment slots only if the models were trained with them filled (the registry
    // checked that it is the same sentiment model).
    let scorer = models
        .sentiment
        .as_ref()
        .filter(|_| spec.sentiment_model.is_some())
        .map(|s| s as &dyn TextScorer);
    Ok(FeatureAccumulator::new(spec, now, scorer).recording_contacts())
}

/// Finishes an accumulator (fed the customer's history) into the scored customer.
pub(super) fn score_accumulated(
    models: &ModelSet,
    attributes: Option<&[AttrValue]>,
    mut accumulator: FeatureAccumulator<'_>,
) -> Result<ScoredCustomer, EngineError> {
    let features = accumulator.finish(attributes);
    let p_churn = p_churn(models, &features)?;
    let customer_value = Some(accumulator.revenue_365d())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
        .max(0.0);
    Ok(ScoredCustomer {
        p_churn,
        sentiment: accumulator.recent_sentiment(),
        customer_value,
        last_support_contact: accumulator.last_support_contact(),
        contacts: accumulator.take_contacts(),
        features,
    })
}

/// P(churn) of one feature row, when a churn model is loaded.
pub(super) fn p_churn(models: &ModelSet, features: &[f32]) -> Result<Option<f64>, EngineError> {
    Ok(match &models.churn {
        Some(churn) => churn
            .scorer
            .predict_proba(features, features.len())?
            .first()
            .copied(),
        None => None,
    })
}

/// P(convert | no action) and P(convert | candidate) for each candidate (by the id its
/// conversion is modelled as), when a conversion model is loaded.
pub(super) fn conversion(
    models: &ModelSet,
    features: &[f32],
    candidates: &[Action],
) -> Result<(Option<f64>, Vec<Option<f64>>), EngineError> {
    let model_ids: Vec<&str> = candidates
        .iter()
        .map(|a| a.model_as.as_deref().unwrap_or(&a.id))
        .collect();
    Ok(match &models.conversion {
        Some(conversion) => {
            let (none, per) = conversion.score(features, &model_ids)?;
            (Some(none), per)
        }
        None => (None, vec![None; model_ids.len()]),
    })
}

/// The policy's view of the customer.
pub(super) fn state(
    valid: &ValidRequest<'_>,
    request: &DecisionRequest,
    customer: &mut ScoredCustomer,
) -> CustomerState {
    let mut state = state_at(valid.now, valid.consent.clone(), customer);
    state.context_channel = valid.context_channel.clone();
    state.placement = request.context.placement.clone();
    state
}

/// The policy's view of the customer at `now`, without request context (batch scoring).
pub(super) fn state_at(
    now: Timestamp,
    consent: ConsentMap,
    customer: &mut ScoredCustomer,
) -> CustomerState {
    let contacts = std::mem::take(&mut customer.contacts);
    let mut state = CustomerState::new(now);
    state.p_churn = customer.p_churn;
    state.sentiment = customer.sentiment;
    state.customer_value = customer.customer_value;
    state.consent = consent;
    state.unsubscribed = Unsubscribes {
        all: contacts.unsubscribed_all,
        channels: contacts.unsubscribed_channels,
    };
    state.last_support_contact = customer.last_support_contact;
    state.exposures = contacts
        .sends
        .into_iter()
        .map(|send| Exposure {
            at: send.at,
            action_id: send.action_id,
            channel: send.channel,
        })
        .collect();
    state
}

/// Every candidate's model scores: P(convert) with and without it (conversion model), P(churn)
/// with and without it (retention model). Also returns P(convert | no action). Deciding and
/// replaying a logged decision ([`super::replay`]) share it, so both score alike.
pub(super) fn candidate_scores<'a>(
    models: &ModelSet,
    features: &[f32],
    candidates: &'a [Action],
) -> Result<(Vec<CandidateScores<'a>>, Option<f64>), EngineError> {
    let model_ids: Vec<&str> = candidates
        .iter()
        .map(|a| a.model_as.as_deref().unwrap_or(&a.id))
        .collect();
    let (p_none, p_actions) = match &models.conversion {
        Some(conversion) => {
            let (none, per) = conversion.score(features, &model_ids)?;
            (Some(none), per)
        }
        None => (None, vec![None; model_ids.len()]),
    };
    let (p_churn_none, p_churn_actions) = match &models.retention {
        Some(retention) => {
            let (none, per) = retention.score(features, &model_ids)?;
            (Some(none), per)
        }
        None => (None, vec![None; model_ids.len()]),
    };
    let scored = candidates
        .iter()
        .zip(p_actions.iter().zip(&p_churn_actions))
        .map(|(action, (p, churn))| CandidateScores {
            action,
            p_convert: *p,
            p_convert_no_action: p.and(p_none),
            p_churn_action: *churn,
            p_churn_no_action: churn.and(p_churn_none),
        })
        .collect();
    Ok((scored, p_none))
}
