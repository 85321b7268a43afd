//! Decisions without a request, a store or a log: what the batch scorer calls for each customer
//! of a segment. The steps are the service's own (the accumulator [`Engine::decide`] fills, the
//! same churn and conversion scoring, the same [`Policy`]), so a batch answer equals the
//! online answer for the same customer, history, policy and instant; only exploration differs
//! by default (off, unless asked for with a seeded RNG).
//!
//! [`Engine::decide`]: super::Engine::decide

use rand::Rng;

use crate::catalog::{Action, Catalog};
use crate::decision::policy::ExplorationKind;
use crate::decision::{
    CandidateScores, ConsentMap, CustomerState, DecideOptions, Decision, Policy, Unsubscribes,
};
use crate::error::ErrorCode;
use crate::features::{FeatureAccumulator, FeatureSpec};
use crate::journey::{AttrValue, Channel, Timestamp};
use crate::models::registry::ModelSet;
use crate::models::Scorer;

use super::customer::{self, ScoredCustomer};
use super::EngineError;

/// One customer's decision, with the customer-level scores it was made from.
#[derive(Clone, Debug)]
pub struct OfflineDecision {
    /// The policy's answer (at most the decider's top-K actions).
    pub decision: Decision,
    /// P(churn), when a churn model is loaded.
    pub p_churn: Option<f64>,
    /// Recent sentiment, when the customer wrote something in the last 30 days.
    pub sentiment: Option<f64>,
}

/// Every candidate's model scores for one customer (`--predictions`).
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    /// P(churn), when a churn model is loaded.
    pub p_churn: Option<f64>,
    /// P(convert | no action), when a conversion model is loaded.
    pub p_convert_no_action: Option<f64>,
    /// P(convert | candidate), in candidate order (`None` for an action the model lacks).
    pub p_convert: Vec<Option<f64>>,
}

/// The model scores of a block of feature rows, computed in one batched call per model
/// ([`OfflineDecider::score_rows`]); [`OfflineDecider::decide_row`] and
/// [`OfflineDecider::predictions_of`] read one customer's part.
#[derive(Clone, Debug, Default)]
pub struct RowScores {
    /// Candidates per customer.
    candidates: usize,
    /// P(churn) per customer (churn model).
    p_churn: Option<Vec<f64>>,
    /// P(convert | no action) per customer (conversion model).
    p_none: Option<Vec<f64>>,
    /// P(convert | candidate), `candidates` per customer.
    p_convert: Vec<Option<f64>>,
    /// P(churn | no action) per customer (retention model).
    churn_none: Option<Vec<f64>>,
    /// P(churn | candidate), `candidates` per customer.
    churn_action: Vec<Option<f64>>,
}

impl RowScores {
    /// Customer `c`'s P(churn).
    fn p_churn(&self, c: usize) -> Option<f64> {
        self.p_churn.as_ref().and_then(|p| p.get(c).copied())
    }

    /// Customer `c`'s per-candidate values of `per` (absent → `None` for every candidate).
    fn of<'v>(&self, per: &'v [Option<f64>], c: usize) -> impl Iterator<Item = Option<f64>> + 'v {
        let m = self.candidates;
        let part = per.get(c * m..(c + 1) * m).unwrap_or(&[]);
        part.iter().copied().chain(std::iter::repeat(None)).take(m)
    }
}

/// Where facts the policy needs sit in a feature row, for decisions from a precomputed matrix.
#[derive(Clone, Debug, Default)]
struct FeatureSlots {
    revenue_365d: Option<usize>,
    texts_30d: Option<usize>,
    sentiment_30d: Option<usize>,
    /// (channel, consent slot, consent-missing slot)
    consent: Vec<(Channel, usize, Option<usize>)>,
    /// (channel, unsubscribed slot)
    unsubscribed: Vec<(Channel, usize)>,
}

impl FeatureSlots {
    fn new(spec: &FeatureSpec) -> Self {
        let mut slots = FeatureSlots {
            revenue_365d: spec.index_of("revenue_365d"),
            texts_30d: spec.index_of("texts_30d"),
            sentiment_30d: spec.index_of("sentiment_mean_30d"),
            ..FeatureSlots::default()
        };
        for channel in [Channel::Email, Channel::Sms, Channel::Push] {
            let name = channel.as_str();
            if let Some(i) = spec.index_of(&format!("attr_{name}_consent")) {
                let missing = spec.index_of(&format!("attr_{name}_consent__missing"));
                slots.consent.push((channel.clone(), i, missing));
            }
            if let Some(i) = spec.index_of(&format!("{name}_unsubscribed")) {
                slots.unsubscribed.push((channel, i));
            }
        }
        slots
    }
}

/// Decides for customers one at a time with fixed models, candidates, policy and K.
pub struct OfflineDecider<'m> {
    models: &'m ModelSet,
    spec: &'m FeatureSpec,
    candidates: Vec<Action>,
    policy: Policy,
    top_k: usize,
    slots: FeatureSlots,
    /// Whether decisions give ineligible candidates their messages (see
    /// [`OfflineDecider::without_messages`]).
    messages: bool,
}

impl<'m> OfflineDecider<'m> {
    /// A decider over the whole catalog. Exploration is switched off unless `explore`, so that
    /// answers are reproducible and comparable with the service's greedy answers.
    pub fn new(
        models: &'m ModelSet,
        catalog: &Catalog,
        policy: &Policy,
        top_k: usize,
        explore: bool,
    ) -> Result<Self, EngineError> {
        models.check_servable(catalog)?;
        let spec = models.spec.as_ref().ok_or_else(|| {
            EngineError::field(
                ErrorCode::InvalidField,
                "models",
                "no churn or conversion model",
            )
        })?;
        if top_k == 0 {
            return Err(EngineError::field(
                ErrorCode::InvalidField,
                "top_k",
                "must be at least 1",
            ));
        }
        let policy = if explore {
            policy.clone()
        } else {
            greedy(policy)?
        };
        // The candidates are the same for every customer: checked here, once.
        Policy::check_candidates(&catalog.actions)?;
        Ok(OfflineDecider {
            models,
            spec,
            candidates: catalog.actions.clone(),
            policy,
            top_k,
            slots: FeatureSlots::new(spec),
            messages: true,
        })
    }

    /// The same decider, with ineligible candidates' messages left empty in its decisions
    /// (their reason codes are kept): for a batch run, which counts codes and writes no
    /// messages, building millions of strings would be wasted work.
    pub fn without_messages(mut self) -> Self {
        self.messages = false;
        self
    }

    /// The models' feature spec.
    pub fn spec(&self) -> &'m FeatureSpec {
        self.spec
    }

    /// The candidates, in catalog order.
    pub fn candidates(&self) -> &[Action] {
        &self.candidates
    }

    /// The policy as it decides here (greedy unless exploring).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The models.
    pub fn models(&self) -> &'m ModelSet {
        self.models
    }

    /// An empty accumulator for a customer at `now`: feed it the customer's events (any order,
    /// events at or after `now` are ignored), then [`OfflineDecider::decide`].
    pub fn accumulator(&self, now: Timestamp) -> Result<FeatureAccumulator<'m>, EngineError> {
        customer::accumulator(self.models, now)
    }

    /// Decides for the customer whose history `accumulator` holds; `attributes` are aligned to
    /// the spec, `consent` comes from the `<channel>_consent` attributes.
    pub fn decide<R: Rng + ?Sized>(
        &self,
        accumulator: FeatureAccumulator<'_>,
        attributes: Option<&[AttrValue]>,
        consent: ConsentMap,
        rng: &mut R,
    ) -> Result<OfflineDecision, EngineError> {
        let now = accumulator.cutoff();
        let mut scored = customer::score_accumulated(self.models, attributes, accumulator)?;
        let state = customer::state_at(now, consent, &mut scored);
        self.decide_state(&scored, &state, rng)
    }

    /// Decides from a precomputed feature row (in the spec's order). What the policy needs
    /// beyond the scores is read from the row: consent and unsubscribes from their flags,
    /// recent sentiment and a year's revenue; past sends are not in a feature row, so contact
    /// caps and cool-downs see none, and support-recency rules see no contact.
    pub fn decide_features<R: Rng + ?Sized>(
        &self,
        features: Vec<f32>,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<OfflineDecision, EngineError> {
        let scores = self.score_rows(&features)?;
        self.decide_row(&scores, 0, &features, now, rng)
    }

    /// The model scores of many feature rows (each in the spec's order, row-major), one batched
    /// call per model: trees are walked tree-major over all the rows, which is what makes
    /// scoring a block of customers fast. Decide with [`OfflineDecider::decide_row`].
    pub fn score_rows(&self, features: &[f32]) -> Result<RowScores, EngineError> {
        let width = self.spec.len();
        let n = crate::models::check_rows(features, width, None).map_err(EngineError::Model)?;
        let mut scores = RowScores {
            candidates: self.candidates.len(),
            ..RowScores::default()
        };
        if let Some(churn) = &self.models.churn {
            let p = churn.scorer.predict_proba(features, width)?;
            scores.p_churn = Some(p);
        }
        if let Some(conversion) = &self.models.conversion {
            let (none, per) = conversion.score_many(features, width, &self.model_ids())?;
            scores.p_none = Some(none);
            scores.p_convert = per;
        }
        if let Some(retention) = &self.models.retention {
            let (none, per) = retention.score_many(features, width, &self.model_ids())?;
            scores.churn_none = Some(none);
            scores.churn_action = per;
        }
        if scores.p_churn.as_ref().is_some_and(|p| p.len() != n) {
            return Err(EngineError::Model(crate::models::ModelError::Scoring(
                format!(
                    "the churn model gave {} probabilities for {n} rows",
                    scores.p_churn.as_ref().map_or(0, Vec::len)
                ),
            )));
        }
        Ok(scores)
    }

    /// The id each candidate's conversion is modelled as.
    fn model_ids(&self) -> Vec<&str> {
        self.candidates
            .iter()
            .map(|a| a.model_as.as_deref().unwrap_or(&a.id))
            .collect()
    }

    /// Decides for row `c` of a block scored by [`OfflineDecider::score_rows`], whose features
    /// are `features` (as [`OfflineDecider::decide_features`]).
    pub fn decide_row<R: Rng + ?Sized>(
        &self,
        scores: &RowScores,
        c: usize,
        features: &[f32],
        now: Timestamp,
        rng: &mut R,
    ) -> Result<OfflineDecision, EngineError> {
        let at = |slot: Option<usize>| slot.and_then(|i| features.get(i)).map(|v| f64::from(*v));
        let mut consent = ConsentMap::new();
        for (channel, slot, missing) in &self.slots.consent {
            if at(*missing).unwrap_or(0.0) < 0.5 {
                if let Some(value) = at(Some(*slot)) {
                    consent.set(channel.clone(), value >= 0.5);
                }
            }
        }
        let channels: Vec<Channel> = self
            .slots
            .unsubscribed
            .iter()
            .filter(|(_, slot)| at(Some(*slot)).unwrap_or(0.0) >= 0.5)
            .map(|(channel, _)| channel.clone())
            .collect();
        // The same gate as the online path's `recent_sentiment()`.
        let sentiment = match at(self.slots.texts_30d) {
            Some(texts) if texts > 0.0 => at(self.slots.sentiment_30d),
            _ => None,
        };
        let customer_value = at(self.slots.revenue_365d)
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .max(0.0);
        let p_churn = scores.p_churn(c);
        let mut state = CustomerState::new(now);
        state.p_churn = p_churn;
        state.sentiment = sentiment;
        state.customer_value = customer_value;
        state.consent = consent;
        state.unsubscribed = Unsubscribes {
            all: false,
            channels,
        };
        let p_none = scores.p_none.as_ref().and_then(|p| p.get(c).copied());
        let churn_none = scores.churn_none.as_ref().and_then(|p| p.get(c).copied());
        let candidates: Vec<CandidateScores<'_>> = self
            .candidates
            .iter()
            .zip(
                scores
                    .of(&scores.p_convert, c)
                    .zip(scores.of(&scores.churn_action, c)),
            )
            .map(|(action, (p, churn))| CandidateScores {
                action,
                p_convert: p,
                p_convert_no_action: p.and(p_none),
                p_churn_action: churn,
                p_churn_no_action: churn.and(churn_none),
            })
            .collect();
        let decision = self.decide_candidates(&state, &candidates, rng)?;
        Ok(OfflineDecision {
            decision,
            p_churn,
            sentiment,
        })
    }

    fn decide_candidates<R: Rng + ?Sized>(
        &self,
        state: &CustomerState,
        candidates: &[CandidateScores<'_>],
        rng: &mut R,
    ) -> Result<Decision, EngineError> {
        let options = DecideOptions {
            max_actions: Some(self.top_k),
            explain: false,
            messages: self.messages,
            candidates_checked: true,
        };
        Ok(self.policy.decide_with(state, candidates, options, rng)?)
    }

    fn decide_state<R: Rng + ?Sized>(
        &self,
        customer: &ScoredCustomer,
        state: &CustomerState,
        rng: &mut R,
    ) -> Result<OfflineDecision, EngineError> {
        let (scored, _) =
            customer::candidate_scores(self.models, &customer.features, &self.candidates)?;
        let decision = self.decide_candidates(state, &scored, rng)?;
        Ok(OfflineDecision {
            decision,
            p_churn: customer.p_churn,
            sentiment: customer.sentiment,
        })
    }

    /// Every candidate's scores for the customer whose history `accumulator` holds.
    pub fn predict(
        &self,
        accumulator: FeatureAccumulator<'_>,
        attributes: Option<&[AttrValue]>,
    ) -> Result<Predictions, EngineError> {
        self.predict_features(&accumulator.finish(attributes))
    }

    /// Every candidate's scores for a precomputed feature row.
    pub fn predict_features(&self, features: &[f32]) -> Result<Predictions, EngineError> {
        let p_churn = customer::p_churn(self.models, features)?;
        let (p_none, p_convert) = customer::conversion(self.models, features, &self.candidates)?;
        Ok(Predictions {
            p_churn,
            p_convert_no_action: p_none,
            p_convert,
        })
    }

    /// Every candidate's scores for row `c` of a block scored by [`OfflineDecider::score_rows`]
    /// (equal to [`OfflineDecider::predict_features`] of that row).
    pub fn predictions_of(&self, scores: &RowScores, c: usize) -> Predictions {
        Predictions {
            p_churn: scores.p_churn(c),
            p_convert_no_action: scores.p_none.as_ref().and_then(|p| p.get(c).copied()),
            p_convert: scores.of(&scores.p_convert, c).collect(),
        }
    }
}

/// The policy with exploration off (every pick greedy, propensity 1).
fn greedy(policy: &Policy) -> Result<Policy, EngineError> {
    let mut spec = policy.spec().clone();
    spec.arbitration.exploration = ExplorationKind::None;
    spec.arbitration.epsilon = None;
    spec.arbitration.temperature = None;
    Policy::new(policy.name(), spec)
        .map_err(|e| EngineError::field(e.code(), "policy", e.to_string()))
}

/// Consent per channel from a customer's `<channel>_consent` boolean attributes, as the
/// service reads them from a request: `columns` names the table's columns, `row` their values.
pub fn consent_from_attributes(columns: &[&str], row: &[AttrValue]) -> ConsentMap {
    let mut consent = ConsentMap::new();
    for channel in [Channel::Email, Channel::Sms, Channel::Push] {
        let key = format!("{}_consent", channel.as_str());
        if let Some(i) = columns.iter().position(|c| *c == key) {
            if let Some(AttrValue::Bool(granted)) = row.get(i) {
                consent.set(channel, *granted);
            }
        }
    }
    consent
}
