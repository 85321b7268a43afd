//! Arbitration: the score of each eligible candidate under the policy's formula. Higher is
//! better; ranking sorts by score, ties going to the no-action entry, then to candidate order.
//!
//! | formula | sales, service, retention | no-action entry (kind `none`) |
//! | --- | --- | --- |
//! | `expected_value` | Δconversion × value − Δchurn × customer value − cost (retention: without the conversion term) | competes at 0 |
//! | `propensity` | P(convert) | does not compete (`no_action_entry`) |
//! | `pega` | P(convert) × context weight × value × lever | does not compete (`no_action_entry`) |
//! | `rules` | n − position in `priority` (n = list length) | competes only if listed |
//!
//! **expected_value** is the money an action adds over doing nothing. Δconversion = P(convert |
//! action) − P(convert | no action) (the conversion model's uplift), so an action whose
//! customers would have bought anyway earns nothing, and one that puts customers off loses its
//! cost and more. Δchurn = P(churn | action) − P(churn | no action) within the retention
//! model's horizon (its uplift on churn, learned from the same decision log), so an action that
//! keeps a customer who would have left earns the customer's value (`customer_value`: what the
//! customer is worth if kept, the service's estimate) times the churn it prevents — a service
//! follow-up after a complaint is worth what it is learned to save, not a constant. A term whose
//! model is not loaded counts 0, except:
//!
//! - retention actions without a retention model fall back to a fixed save rate: P(churn | no
//!   action) is the churn model's P(churn), and the action keeps `save rate` of those who would
//!   leave, so the value is P(churn) × save rate × customer value − cost. The save rate comes
//!   from `arbitration.save_rates.<id>` or `arbitration.default_save_rate`. A retention
//!   action's conversion scores are ignored either way;
//! - sales and service actions need the conversion model's two scores (`missing_score`
//!   otherwise).
//!
//! Doing nothing is worth exactly 0, so it wins whenever no action has a positive expected
//! value: when no kind-`none` candidate is given (and the policy allows kind `none`), the engine
//! adds one, `no_action` (unless a candidate already uses that id), so "nothing" is always a
//! possible answer.
//!
//! **propensity** ranks by P(convert) alone (a classic response model). **pega** follows Pega's
//! arbitration: propensity × context weight (`arbitration.context_weights`, first matching rule,
//! default 1) × value × lever (`arbitration.levers.<id>`, default 1). Neither has a notion of
//! the value of doing nothing, so the no-action entry does not compete: they always pick an
//! action when one is eligible (set `arbitration.min_score` to require a minimum).
//!
//! **rules** is the rules-only baseline: the first eligible action of `arbitration.priority`
//! wins; it needs no model. Unlisted actions are left out (`not_in_priority_list`); listing the
//! no-action entry makes it a stop at that position.
//!
//! A formula that needs a missing input (no conversion scores, no P(churn), no save rate) leaves
//! the candidate out with `missing_score`. `arbitration.min_score` leaves out candidates scoring
//! below it (`below_min_score`), never the no-action entry.

use crate::catalog::{Action, ActionKind};
use crate::decision::eligibility::{usable, Rejection};
use crate::decision::outcome::{num, Components, OptNum, ReasonCode};
use crate::decision::policy::{ArbitrationSpec, ContextWeight, Formula};
use crate::decision::state::{CandidateScores, CustomerState};

/// A candidate's score and the numbers behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// The formula's score (finite).
    pub score: f64,
    /// The numbers behind it.
    pub components: Components,
}

/// The context weight of a candidate: the first rule whose set fields all match, else 1.
pub fn context_weight(rules: &[ContextWeight], state: &CustomerState, action: &Action) -> f64 {
    rules
        .iter()
        .find(|rule| {
            rule.context_channel
                .as_ref()
                .is_none_or(|c| state.context_channel.as_ref() == Some(c))
                && rule
                    .placement
                    .as_deref()
                    .is_none_or(|p| state.placement.as_deref() == Some(p))
                && rule
                    .action_channel
                    .as_ref()
                    .is_none_or(|c| *c == action.channel)
        })
        .map_or(1.0, |rule| rule.weight)
}

/// Scores one eligible candidate. Unusable probabilities count as missing.
pub fn score(
    spec: &ArbitrationSpec,
    state: &CustomerState,
    candidate: &CandidateScores<'_>,
) -> Result<Scored, Rejection> {
    score_with(spec, state, candidate, true)
}

/// [`score`], with a rejection's message left empty unless `messages`.
pub(crate) fn score_with(
    spec: &ArbitrationSpec,
    state: &CustomerState,
    candidate: &CandidateScores<'_>,
    messages: bool,
) -> Result<Scored, Rejection> {
    let action = candidate.action;
    let p_convert = usable(candidate.p_convert);
    let p_convert_no_action = usable(candidate.p_convert_no_action);
    let mut c = Components {
        p_convert,
        p_convert_no_action,
        uplift: p_convert.zip(p_convert_no_action).map(|(p, q)| p - q),
        p_churn: usable(state.p_churn),
        sentiment: usable(state.sentiment),
        value: action.value,
        cost: action.cost,
        customer_value: None,
        save_rate: None,
        p_churn_action: usable(candidate.p_churn_action),
        p_churn_no_action: usable(candidate.p_churn_no_action),
        context_weight: 1.0,
        lever: 1.0,
        priority: None,
    };
    let is_none = action.kind == ActionKind::None;
    let score = match spec.formula {
        Formula::ExpectedValue => expected_value(spec, state, action, &mut c, messages)?,
        Formula::Propensity | Formula::Pega if is_none => {
            return Err(Rejection::lazy(ReasonCode::NoActionEntry, messages, || {
                format!(
                    "doing nothing does not compete under the {} formula",
                    spec.formula.as_str()
                )
            }))
        }
        Formula::Propensity => p_convert.ok_or_else(|| missing(messages, "P(convert)"))?,
        Formula::Pega => {
            let p = p_convert.ok_or_else(|| missing(messages, "P(convert)"))?;
            c.context_weight = context_weight(&spec.context_weights, state, action);
            c.lever = spec.lever(&action.id);
            p * c.context_weight * action.value * c.lever
        }
        Formula::Rules => {
            let Some(position) = spec.priority.iter().position(|id| *id == action.id) else {
                return Err(if is_none {
                    Rejection::lazy(ReasonCode::NoActionEntry, messages, || {
                        "the rules' priority list does not name the no-action entry".into()
                    })
                } else {
                    Rejection::lazy(ReasonCode::NotInPriorityList, messages, || {
                        "the rules' priority list does not name this action".into()
                    })
                });
            };
            c.priority = Some(u32::try_from(position + 1).unwrap_or(u32::MAX));
            (spec.priority.len() - position) as f64
        }
    };
    if !score.is_finite() {
        return Err(Rejection::lazy(ReasonCode::InvalidScore, messages, || {
            format!("the {} score is not a finite number", spec.formula.as_str())
        }));
    }
    if let Some(min) = spec.min_score {
        if score < min && !is_none {
            return Err(Rejection::lazy(ReasonCode::BelowMinScore, messages, || {
                format!(
                    "score {} is below the policy's minimum {}",
                    num(score),
                    num(min)
                )
            }));
        }
    }
    Ok(Scored {
        score,
        components: c,
    })
}

fn missing(messages: bool, what: &str) -> Rejection {
    Rejection::lazy(ReasonCode::MissingScore, messages, || {
        format!("{what} is needed and was not given")
    })
}

fn expected_value(
    spec: &ArbitrationSpec,
    state: &CustomerState,
    action: &Action,
    c: &mut Components,
    messages: bool,
) -> Result<f64, Rejection> {
    if action.kind == ActionKind::None {
        c.uplift = Some(0.0);
        return Ok(0.0);
    }
    let churn_uplift = c
        .p_churn_action
        .zip(c.p_churn_no_action)
        .map(|(a, n)| a - n);
    let retention_term = |c: &mut Components, delta: f64| {
        c.customer_value = Some(state.customer_value);
        -delta * state.customer_value
    };
    match (action.kind, churn_uplift) {
        (ActionKind::Retention, None) => {
            // No retention model: the fixed save rate stands in for what the action does.
            c.p_churn_action = None;
            c.p_churn_no_action = None;
            let p_churn = c.p_churn.ok_or_else(|| missing(messages, "P(churn)"))?;
            let save_rate = spec.save_rate(&action.id).ok_or_else(|| {
                Rejection::lazy(ReasonCode::MissingScore, messages, || format!(
                        "no save rate: set arbitration.save_rates.{} or arbitration.default_save_rate",
                        action.id
                    ))
            })?;
            c.save_rate = Some(save_rate);
            c.customer_value = Some(state.customer_value);
            Ok(p_churn * save_rate * state.customer_value - action.cost)
        }
        (ActionKind::Retention, Some(delta)) => {
            // A retention action is judged by the churn it prevents alone (its conversion
            // scores are ignored, as under the save rate).
            c.uplift = None;
            Ok(retention_term(c, delta) - action.cost)
        }
        (_, delta) => {
            let uplift = match (c.p_convert, c.p_convert_no_action) {
                (Some(p), Some(q)) => p - q,
                (None, _) => return Err(missing(messages, "P(convert)")),
                (_, None) => return Err(missing(messages, "P(convert | no action)")),
            };
            let retention = delta.map_or(0.0, |d| retention_term(c, d));
            Ok(uplift * action.value + retention - action.cost)
        }
    }
}

/// The formula with its numbers, for people, e.g.
/// `expected value: uplift 0.041 × value 55 − cost 6 = -3.75`.
pub fn explain(formula: Formula, kind: ActionKind, scored: &Scored, priority_len: usize) -> String {
    let c = &scored.components;
    let s = num(scored.score);
    let opt = OptNum;
    match (formula, kind) {
        (Formula::ExpectedValue, ActionKind::None) => {
            "expected value: doing nothing is worth 0 (no uplift, no cost)".to_string()
        }
        (Formula::ExpectedValue, ActionKind::Retention) if c.save_rate.is_some() => format!(
            "expected value: P(churn) {} × save rate {} × customer value {} − cost {} = {s}",
            opt(c.p_churn),
            opt(c.save_rate),
            opt(c.customer_value),
            num(c.cost)
        ),
        (Formula::ExpectedValue, _) if c.p_churn_action.is_some() => format!(
            "expected value: uplift {} × value {} − churn change {} (P(churn) {} − {} without action) × customer value {} − cost {} = {s}",
            opt(c.uplift),
            num(c.value),
            opt(c.p_churn_action.zip(c.p_churn_no_action).map(|(a, n)| a - n)),
            opt(c.p_churn_action),
            opt(c.p_churn_no_action),
            opt(c.customer_value),
            num(c.cost)
        ),
        (Formula::ExpectedValue, _) => format!(
            "expected value: uplift {} (P(convert) {} − {} without action) × value {} − cost {} = {s}",
            opt(c.uplift),
            opt(c.p_convert),
            opt(c.p_convert_no_action),
            num(c.value),
            num(c.cost)
        ),
        (Formula::Propensity, _) => format!("propensity: P(convert) {s}"),
        (Formula::Pega, _) => format!(
            "pega: P(convert) {} × context weight {} × value {} × lever {} = {s}",
            opt(c.p_convert),
            num(c.context_weight),
            num(c.value),
            num(c.lever)
        ),
        (Formula::Rules, _) => format!(
            "rules: priority {} of {priority_len}",
            c.priority.map_or_else(|| "?".to_string(), |p| p.to_string())
        ),
    }
}
