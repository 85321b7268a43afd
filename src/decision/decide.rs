//! The decision: eligibility → contact policy → scores → ranking → exploration, for one customer
//! at one instant, as a pure function of the policy, the customer's state, the candidates' model
//! scores and a caller-seeded RNG.
//!
//! **Slots.** A decision fills up to `arbitration.max_actions` slots. Each slot picks among the
//! candidates still available (by the exploration strategy; greedy = the best score). With
//! `arbitration.one_per_channel` (the default) a pick removes the other candidates on its
//! channel. Picking the no-action entry ends the decision: it stays in the list (with its
//! probability, for off-policy evaluation) and means "nothing more". The propensity of each pick
//! is conditional on the earlier picks; [`Decision::propensity`] is their product.
//!
//! **Bad numbers.** A model score (P(convert), P(convert | no action), P(churn), sentiment) that
//! is not a finite probability in [0, 1] is treated as missing and reported in
//! [`Decision::warnings`]: a broken model degrades a decision (the formulas that need the score
//! leave the candidate out with `missing_score`) rather than failing it. Inputs that the caller
//! controls directly — `customer_value`, a candidate's value, cost and rule numbers, duplicate
//! candidate ids — are errors ([`DecisionError`]) naming the field. Nothing panics.

use std::sync::LazyLock;

use rand::Rng;
use rustc_hash::FxHashSet;

use crate::catalog::{Action, ActionKind};
use crate::decision::arbitration::{explain, score_with, Scored};
use crate::decision::contact::ContactLedger;
use crate::decision::eligibility::{self, usable};
use crate::decision::exploration::{pick, score_spread, Pick};
use crate::decision::outcome::{num, Decision, Ineligible, PassedOver, RankedAction};
use crate::decision::policy::{Exploration, Formula, Policy};
use crate::decision::state::{CandidateScores, CustomerState};
use crate::error::ErrorCode;
use crate::journey::Channel;

/// The id of the no-action entry added under `expected_value` when the candidates have none.
pub const NO_ACTION_ID: &str = crate::catalog::NO_ACTION_ID;

static NO_ACTION: LazyLock<Action> = LazyLock::new(|| Action {
    id: NO_ACTION_ID.to_string(),
    channel: Channel::parse("none"),
    kind: ActionKind::None,
    value: 0.0,
    cost: 0.0,
    requires_consent: Some(false),
    caps: Default::default(),
    eligibility: Default::default(),
    description: Some("do nothing".to_string()),
    model_as: None,
});

/// A decision request the engine cannot answer. [`DecisionError::code`] is stable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecisionError {
    /// An input is out of range; `field` names it (e.g. `customer_value`,
    /// `candidates[2].cost`).
    #[error("{field}: {problem}")]
    InvalidInput {
        /// The field.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// Two candidates share an id.
    #[error("candidates[{index}].id: '{action_id}' is listed twice")]
    DuplicateCandidate {
        /// The id.
        action_id: String,
        /// The second occurrence.
        index: usize,
    },
}

impl DecisionError {
    /// A stable, machine-readable code for this kind of error.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecisionError::InvalidInput { .. } => ErrorCode::InvalidField,
            DecisionError::DuplicateCandidate { .. } => ErrorCode::DuplicateCandidate,
        }
    }
}

/// An eligible, scored candidate.
struct Entry<'a> {
    /// Position in the candidate list (the added no-action entry comes last).
    order: usize,
    action: &'a Action,
    scored: Scored,
}

fn check_inputs(
    state: &CustomerState,
    candidates: &[CandidateScores<'_>],
    candidates_checked: bool,
    warnings: &mut Vec<String>,
) -> Result<(), DecisionError> {
    if !(state.customer_value.is_finite() && state.customer_value >= 0.0) {
        return Err(DecisionError::InvalidInput {
            field: "customer_value".into(),
            problem: format!("must be a finite number ≥ 0, got {}", state.customer_value),
        });
    }
    // Field names are only formatted when a warning is due.
    let mut warn = |value: Option<f64>, field: &dyn Fn() -> String| {
        if let Some(v) = value {
            if usable(Some(v)).is_none() {
                warnings.push(format!(
                    "{} = {v} is not a probability in [0, 1]; treated as missing",
                    field()
                ));
            }
        }
    };
    warn(state.p_churn, &|| "p_churn".into());
    warn(state.sentiment, &|| "sentiment".into());
    for (i, candidate) in candidates.iter().enumerate() {
        let action = candidate.action;
        if !candidates_checked {
            check_action(i, action)?;
        }
        let at = |name: &str| format!("candidates[{i}] ('{}').{name}", action.id);
        warn(candidate.p_convert, &|| at("p_convert"));
        warn(candidate.p_convert_no_action, &|| at("p_convert_no_action"));
    }
    if !candidates_checked {
        check_unique(candidates.iter().map(|c| c.action))?;
    }
    Ok(())
}

/// Candidate `i`'s own numbers.
fn check_action(i: usize, action: &Action) -> Result<(), DecisionError> {
    action.validate().map_err(|p| DecisionError::InvalidInput {
        field: format!("candidates[{i}].{}", p.key),
        problem: p.problem,
    })
}

/// No two candidates share an id.
fn check_unique<'a>(
    actions: impl ExactSizeIterator<Item = &'a Action>,
) -> Result<(), DecisionError> {
    let mut seen: FxHashSet<&str> =
        FxHashSet::with_capacity_and_hasher(actions.len(), Default::default());
    for (index, action) in actions.enumerate() {
        if !seen.insert(action.id.as_str()) {
            return Err(DecisionError::DuplicateCandidate {
                action_id: action.id.clone(),
                index,
            });
        }
    }
    Ok(())
}

/// What the caller wants of a decision beyond the policy's own settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecideOptions {
    /// Most actions to return; `None`: the policy's `arbitration.max_actions`.
    pub max_actions: Option<usize>,
    /// Build the explanation: each action's reasons and the eligible candidates passed over.
    /// Off, both stay empty and cost nothing (the orchestration engine rarely reads them).
    pub explain: bool,
    /// Give each ineligible candidate its message for people. Off, the messages stay empty
    /// and only the reason codes are set (a batch run counts codes for millions of customers).
    pub messages: bool,
    /// The candidates were checked once with [`Policy::check_candidates`] (a batch run decides
    /// over one catalog for every customer), so the per-decision check of their numbers and
    /// ids is skipped.
    pub candidates_checked: bool,
}

impl Default for DecideOptions {
    fn default() -> Self {
        DecideOptions {
            max_actions: None,
            explain: true,
            messages: true,
            candidates_checked: false,
        }
    }
}

impl Policy {
    /// Checks candidates as every decision does (their numbers, and no id twice), with the
    /// same errors: done once, it lets [`DecideOptions::candidates_checked`] skip the check.
    pub fn check_candidates(actions: &[Action]) -> Result<(), DecisionError> {
        for (i, action) in actions.iter().enumerate() {
            check_action(i, action)?;
        }
        check_unique(actions.iter())
    }

    /// Decides for one customer among `candidates`, drawing exploration randomness from `rng`
    /// (seed it per decision to make decisions reproducible). See the module documentation for
    /// the steps, slots and the treatment of bad numbers.
    pub fn decide<R: Rng + ?Sized>(
        &self,
        state: &CustomerState,
        candidates: &[CandidateScores<'_>],
        rng: &mut R,
    ) -> Result<Decision, DecisionError> {
        self.decide_with(state, candidates, DecideOptions::default(), rng)
    }

    /// [`Policy::decide`] with the caller's [`DecideOptions`]: the number of slots (a request's
    /// `max_actions` instead of the policy's `arbitration.max_actions`) and whether to explain.
    pub fn decide_with<R: Rng + ?Sized>(
        &self,
        state: &CustomerState,
        candidates: &[CandidateScores<'_>],
        options: DecideOptions,
        rng: &mut R,
    ) -> Result<Decision, DecisionError> {
        let DecideOptions {
            max_actions,
            explain: with_reasons,
            messages,
            candidates_checked,
        } = options;
        let spec = self.spec();
        let arbitration = &spec.arbitration;
        let mut warnings = Vec::new();
        check_inputs(state, candidates, candidates_checked, &mut warnings)?;

        let add_no_action = arbitration.formula == Formula::ExpectedValue
            && spec.eligibility.allowed_kinds.contains(&ActionKind::None)
            && !candidates
                .iter()
                .any(|c| c.action.kind == ActionKind::None || c.action.id == NO_ACTION_ID);
        let extra = add_no_action.then(|| CandidateScores::unscored(&NO_ACTION));

        let mut ledger = ContactLedger::new(&spec.contact, state);
        if !messages {
            ledger = ledger.without_messages();
        }
        let mut entries: Vec<Entry<'_>> = Vec::with_capacity(candidates.len() + 1);
        let mut ineligible = Vec::new();
        for (order, candidate) in candidates.iter().chain(extra.as_ref()).enumerate() {
            let action = candidate.action;
            let verdict = eligibility::check_with(spec, state, action, messages)
                .and_then(|()| ledger.check(action))
                .and_then(|()| score_with(arbitration, state, candidate, messages));
            match verdict {
                Ok(scored) => entries.push(Entry {
                    order,
                    action,
                    scored,
                }),
                Err(rejection) => ineligible.push(Ineligible {
                    action_id: action.id.clone(),
                    reason_code: rejection.code,
                    message: rejection.message,
                }),
            }
        }

        // Rank indices rather than moving entries: best score first; ties to the no-action entry
        // (doing nothing is free), then to candidate order. `order` is unique, so the order is
        // total and an unstable (allocation-free) sort is exact.
        let mut ranked: Vec<usize> = (0..entries.len()).collect();
        ranked.sort_unstable_by(|&i, &j| {
            let (a, b) = (&entries[i], &entries[j]);
            b.scored
                .score
                .total_cmp(&a.scored.score)
                .then_with(|| {
                    (b.action.kind == ActionKind::None).cmp(&(a.action.kind == ActionKind::None))
                })
                .then_with(|| a.order.cmp(&b.order))
        });

        let exploration = arbitration.exploration();
        let max_actions = max_actions.unwrap_or(arbitration.max_actions as usize);
        let mut remaining = ranked.clone();
        let mut picked = vec![false; entries.len()];
        let mut scores: Vec<f64> = Vec::with_capacity(entries.len());
        let mut spreads: Vec<f64> = Vec::new();
        let mut buffer: Vec<f64> = Vec::new();
        let mut actions = Vec::with_capacity(max_actions.min(entries.len()));
        let mut propensity = 1.0;
        while actions.len() < max_actions && !remaining.is_empty() {
            scores.clear();
            scores.extend(remaining.iter().map(|&e| entries[e].scored.score));
            if matches!(exploration, Exploration::Thompson { .. }) {
                spreads.clear();
                spreads.extend(remaining.iter().map(|&e| {
                    let entry = &entries[e];
                    score_spread(exploration, entry.action.kind, &entry.scored.components)
                }));
            }
            let Pick { index, probability } =
                pick(exploration, &scores, &spreads, rng, &mut buffer);
            let chosen = remaining.remove(index);
            picked[chosen] = true;
            propensity *= probability;
            let entry = &entries[chosen];
            let rank = u32::try_from(actions.len() + 1).unwrap_or(u32::MAX);
            let reasons = if with_reasons {
                vec![
                    explain(
                        arbitration.formula,
                        entry.action.kind,
                        &entry.scored,
                        arbitration.priority.len(),
                    ),
                    pick_reason(exploration, index, scores.len(), probability),
                ]
            } else {
                Vec::new()
            };
            actions.push(RankedAction {
                action_id: entry.action.id.clone(),
                kind: entry.action.kind,
                channel: entry.action.channel.clone(),
                rank,
                score: entry.scored.score,
                components: entry.scored.components,
                propensity: probability,
                explored: index != 0,
                reasons,
            });
            if entry.action.kind == ActionKind::None {
                break;
            }
            if arbitration.one_per_channel {
                let channel = &entry.action.channel;
                remaining.retain(|&e| {
                    entries[e].action.kind == ActionKind::None
                        || entries[e].action.channel != *channel
                });
            }
        }

        let passed_over = ranked
            .iter()
            .filter(|&&e| with_reasons && !picked[e])
            .map(|&e| PassedOver {
                action_id: entries[e].action.id.clone(),
                score: entries[e].scored.score,
                components: entries[e].scored.components,
            })
            .collect();
        Ok(Decision {
            policy: self.name().to_string(),
            formula: arbitration.formula,
            exploration,
            actions,
            propensity,
            passed_over,
            ineligible,
            warnings,
        })
    }
}

/// A probability for people: small ones in scientific notation so they never read as 0.
struct Prob(f64);

impl std::fmt::Display for Prob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 > 0.0 && self.0 < 0.001 {
            write!(f, "{:.2e}", self.0)
        } else {
            num(self.0).fmt(f)
        }
    }
}

fn pick_reason(exploration: Exploration, index: usize, n: usize, probability: f64) -> String {
    let p = Prob(probability);
    match exploration {
        _ if n == 1 => "the only eligible candidate left (probability 1)".to_string(),
        Exploration::None => format!("best of {n} eligible (greedy, probability 1)"),
        Exploration::EpsilonGreedy { epsilon } if index == 0 => format!(
            "best of {n} eligible; ε-greedy (ε = {}) keeps the best with probability {p}",
            num(epsilon)
        ),
        Exploration::EpsilonGreedy { epsilon } => format!(
            "explored: ε-greedy (ε = {}) drew it at random among {n} eligible (probability {p}); it ranks {} of {n}",
            num(epsilon),
            index + 1
        ),
        Exploration::Softmax { temperature } => format!(
            "softmax (temperature {}) drew it with probability {p}; it ranks {} of {n} eligible",
            num(temperature),
            index + 1
        ),
        Exploration::Thompson { uplift_sd } => format!(
            "Thompson sampling (uplift sd {}) drew the best score for it with probability {p}; it ranks {} of {n} eligible",
            num(uplift_sd),
            index + 1
        ),
    }
}
