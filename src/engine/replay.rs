//! Replaying a logged decision through a policy, for off-policy evaluation: the same checks,
//! featurisation and scoring as [`Engine::decide`], at the logged instant and with the history
//! the caller supplies, but nothing logged and nothing drawn at random. The answer is the
//! policy's whole distribution over its first slot (not one draw from it) and every candidate's
//! modelled conversion probability (the direct method of the estimators).

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::catalog::ActionKind;
use crate::decision::exploration::{probabilities, score_spread};
use crate::decision::{DecideOptions, NO_ACTION_ID};
use crate::journey::Event;

use super::request::DecisionRequest;
use super::{customer, validate, Engine, EngineError};

/// One candidate as the replay saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayedCandidate {
    /// The action.
    pub action_id: String,
    /// Its kind (`none` is doing nothing).
    pub kind: ActionKind,
    /// The probability the policy gives it in the first slot (0 when ineligible or never
    /// explored to).
    pub probability: f64,
    /// P(convert | customer, this action): the conversion model's score, or P(convert | no
    /// action) for a no-action entry; `None` without a conversion model or for an action the
    /// model does not know.
    pub p_convert: Option<f64>,
}

/// A replayed decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// The policy that decided.
    pub policy: String,
    /// Every candidate (the request's, or the catalog's) and the no-action entry the policy
    /// adds, with its first-slot probability.
    pub candidates: Vec<ReplayedCandidate>,
}

impl Replay {
    /// The candidate with this id.
    pub fn get(&self, action_id: &str) -> Option<&ReplayedCandidate> {
        self.candidates.iter().find(|c| c.action_id == action_id)
    }
}

impl Engine {
    /// Replays `request` (its policy, or the default; its `context.timestamp` is the decision
    /// instant) over `history` instead of the profile store's, without logging anything. The
    /// request's experiment enrolment is not consulted: the policy named is the one evaluated.
    pub fn replay(
        &self,
        request: &DecisionRequest,
        history: &[Event],
    ) -> Result<Replay, EngineError> {
        let set = self.serving();
        let models: &crate::models::registry::ModelSet = &set.models;
        let checks = validate::Checks {
            limits: &self.limits,
            catalog: &set.catalog,
            policies: &set.policies,
            default_policy: &self.default_policy,
            models,
        };
        let valid = checks.request(request)?;
        let now = valid.now;
        let before = history.partition_point(|e| e.timestamp < now);
        let mut customer =
            customer::score(models, valid.attributes.as_deref(), &history[..before], now)?;
        let (scored, p_none) =
            customer::candidate_scores(models, &customer.features, &valid.candidates)?;
        let state = customer::state(&valid, request, &mut customer);
        // No slot filled: every eligible candidate comes back, ranked, in `passed_over`, and the
        // exploration's distribution over them is computed, not drawn.
        let options = DecideOptions {
            max_actions: Some(0),
            explain: true,
            ..DecideOptions::default()
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
        let decision = valid
            .policy
            .decide_with(&state, &scored, options, &mut rng)?;
        let scores: Vec<f64> = decision.passed_over.iter().map(|p| p.score).collect();
        let kind_of = |id: &str| {
            valid
                .candidates
                .iter()
                .find(|a| a.id == id)
                .map_or(ActionKind::None, |a| a.kind)
        };
        let spreads: Vec<f64> = decision
            .passed_over
            .iter()
            .map(|p| score_spread(decision.exploration, kind_of(&p.action_id), &p.components))
            .collect();
        let mut probability = Vec::new();
        probabilities(decision.exploration, &scores, &spreads, &mut probability);
        let first_slot = |id: &str| {
            decision
                .passed_over
                .iter()
                .zip(&probability)
                .find(|(p, _)| p.action_id == id)
                .map_or(0.0, |(_, &q)| q)
        };
        let mut candidates: Vec<ReplayedCandidate> = scored
            .iter()
            .map(|c| ReplayedCandidate {
                action_id: c.action.id.clone(),
                kind: c.action.kind,
                probability: first_slot(&c.action.id),
                p_convert: if c.action.kind == ActionKind::None {
                    p_none
                } else {
                    c.p_convert
                },
            })
            .collect();
        // Doing nothing is always an answer (the policy adds it when the candidates have none),
        // so a logged "nothing" can be valued even when the policy would not choose it.
        if !candidates.iter().any(|c| c.kind == ActionKind::None) {
            candidates.push(ReplayedCandidate {
                action_id: NO_ACTION_ID.to_string(),
                kind: ActionKind::None,
                probability: first_slot(NO_ACTION_ID),
                p_convert: p_none,
            });
        }
        Ok(Replay {
            policy: valid.policy_name.to_string(),
            candidates,
        })
    }
}
