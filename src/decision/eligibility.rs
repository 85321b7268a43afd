//! Eligibility and suitability: may this action be considered for this customer at all?
//!
//! Checked in this order, the first failure being the reported reason:
//! 1. the policy's `eligibility.allowed_kinds` (`kind_not_allowed`);
//! 2. doing nothing (kind `none`) passes everything below;
//! 3. unsubscribes (`unsubscribed`): from the action's channel (any action on it), or from all
//!    marketing (every action that needs consent);
//! 4. consent (`no_consent`) for actions that need it: refused, or unknown when the policy's
//!    `eligibility.unknown_consent` is `deny` (the default);
//! 5. the action's own rules from the catalog: `min_churn_risk` / `max_churn_risk`
//!    (`churn_risk_below_min`, `churn_risk_above_max`, `churn_risk_unknown` when P(churn) is
//!    missing), `min_sentiment` (`sentiment_too_low`), `requires_support_contact_within_days`
//!    (`no_recent_support_contact`);
//! 6. the policy's `[suitability]`: `block_kinds_below_sentiment` (`sentiment_too_low`) and
//!    `retention_min_churn_risk` (`churn_risk_below_min`, `churn_risk_unknown`).
//!
//! Missing sentiment (a customer who wrote nothing recently) passes sentiment rules: the rules
//! exist to spare customers who are known to be unhappy. Missing churn risk fails churn rules:
//! they target a risk band, and an unknown risk is in no band.

use crate::catalog::{Action, ActionKind};
use crate::decision::outcome::{num, ReasonCode};
use crate::decision::policy::{PolicySpec, UnknownConsent};
use crate::decision::state::CustomerState;
use crate::journey::Timestamp;

/// Why a candidate is left out: the stable code and a message with the numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// Stable code.
    pub code: ReasonCode,
    /// For people.
    pub message: String,
}

impl Rejection {
    /// A rejection whose message is built only when `messages` (empty otherwise): a batch run
    /// counts codes for millions of customers and would only throw the strings away.
    pub(crate) fn lazy(code: ReasonCode, messages: bool, message: impl FnOnce() -> String) -> Self {
        Rejection {
            code,
            message: if messages { message() } else { String::new() },
        }
    }
}

/// A probability if it is one (finite, in [0, 1]); `None` otherwise.
pub(crate) fn usable(p: Option<f64>) -> Option<f64> {
    p.filter(|v| (0.0..=1.0).contains(v))
}

/// Days from `then` to `now`, never negative (a later `then` counts as `now`), without overflow.
pub(crate) fn days_before(now: Timestamp, then: Timestamp) -> f64 {
    let micros = (i128::from(now.0) - i128::from(then.0)).max(0);
    micros as f64 / Timestamp::MICROS_PER_DAY as f64
}

/// Checks kind, unsubscribes, consent and suitability rules (not contact caps: see
/// [`crate::decision::contact`]). Unusable probabilities in `state` count as missing.
pub fn check(spec: &PolicySpec, state: &CustomerState, action: &Action) -> Result<(), Rejection> {
    check_with(spec, state, action, true)
}

/// [`check`], with the rejection's message left empty unless `messages`.
pub(crate) fn check_with(
    spec: &PolicySpec,
    state: &CustomerState,
    action: &Action,
    messages: bool,
) -> Result<(), Rejection> {
    if !spec.eligibility.allowed_kinds.contains(&action.kind) {
        return Err(Rejection::lazy(
            ReasonCode::KindNotAllowed,
            messages,
            || format!("the policy does not allow {} actions", action.kind.as_str()),
        ));
    }
    if action.kind == ActionKind::None {
        return Ok(());
    }
    check_permission(spec, state, action, messages)?;
    check_action_rules(state, action, messages)?;
    check_policy_suitability(spec, state, action, messages)
}

fn check_permission(
    spec: &PolicySpec,
    state: &CustomerState,
    action: &Action,
    messages: bool,
) -> Result<(), Rejection> {
    let channel = &action.channel;
    if state.unsubscribed.channel(channel) {
        return Err(Rejection::lazy(ReasonCode::Unsubscribed, messages, || {
            format!("the customer unsubscribed from {channel}")
        }));
    }
    if !action.needs_consent() {
        return Ok(());
    }
    if state.unsubscribed.all {
        return Err(Rejection::lazy(ReasonCode::Unsubscribed, messages, || {
            "the customer unsubscribed from all marketing".into()
        }));
    }
    match (state.consent.get(channel), spec.eligibility.unknown_consent) {
        (Some(true), _) | (None, UnknownConsent::Allow) => Ok(()),
        (Some(false), _) => Err(Rejection::lazy(ReasonCode::NoConsent, messages, || {
            format!("the customer has not consented to {channel}")
        })),
        (None, UnknownConsent::Deny) => {
            Err(Rejection::lazy(ReasonCode::NoConsent, messages, || {
                format!("consent to {channel} is unknown and the policy requires it")
            }))
        }
    }
}

fn check_action_rules(
    state: &CustomerState,
    action: &Action,
    messages: bool,
) -> Result<(), Rejection> {
    let rules = &action.eligibility;
    let p_churn = usable(state.p_churn);
    if rules.min_churn_risk.is_some() || rules.max_churn_risk.is_some() {
        let Some(risk) = p_churn else {
            return Err(Rejection::lazy(
                ReasonCode::ChurnRiskUnknown,
                messages,
                || "the action has churn-risk rules and P(churn) is unknown".into(),
            ));
        };
        if let Some(min) = rules.min_churn_risk {
            if risk < min {
                return Err(Rejection::lazy(
                    ReasonCode::ChurnRiskBelowMin,
                    messages,
                    || {
                        format!(
                            "P(churn) {} is below the action's minimum {}",
                            num(risk),
                            num(min)
                        )
                    },
                ));
            }
        }
        if let Some(max) = rules.max_churn_risk {
            if risk > max {
                return Err(Rejection::lazy(
                    ReasonCode::ChurnRiskAboveMax,
                    messages,
                    || {
                        format!(
                            "P(churn) {} is above the action's maximum {}",
                            num(risk),
                            num(max)
                        )
                    },
                ));
            }
        }
    }
    if let (Some(min), Some(sentiment)) = (rules.min_sentiment, usable(state.sentiment)) {
        if sentiment < min {
            return Err(Rejection::lazy(
                ReasonCode::SentimentTooLow,
                messages,
                || {
                    format!(
                        "recent sentiment {} is below the action's minimum {}",
                        num(sentiment),
                        num(min)
                    )
                },
            ));
        }
    }
    if let Some(days) = rules.requires_support_contact_within_days {
        let recent = state
            .last_support_contact
            .is_some_and(|at| days_before(state.now, at) <= days);
        if !recent {
            let message = || match state.last_support_contact {
                Some(at) => format!(
                    "last support contact {} days ago; the action needs one within {} days",
                    num(days_before(state.now, at)),
                    num(days)
                ),
                None => format!(
                    "no support contact on record; the action needs one within {} days",
                    num(days)
                ),
            };
            return Err(Rejection::lazy(
                ReasonCode::NoRecentSupportContact,
                messages,
                message,
            ));
        }
    }
    Ok(())
}

fn check_policy_suitability(
    spec: &PolicySpec,
    state: &CustomerState,
    action: &Action,
    messages: bool,
) -> Result<(), Rejection> {
    let rules = &spec.suitability;
    if let (Some(min), Some(sentiment)) = (
        rules.block_kinds_below_sentiment.get(action.kind),
        usable(state.sentiment),
    ) {
        if sentiment < min {
            return Err(Rejection::lazy(
                ReasonCode::SentimentTooLow,
                messages,
                || {
                    format!(
                        "recent sentiment {} is below the policy's minimum {} for {} actions",
                        num(sentiment),
                        num(min),
                        action.kind.as_str()
                    )
                },
            ));
        }
    }
    if let (ActionKind::Retention, Some(min)) = (action.kind, rules.retention_min_churn_risk) {
        match usable(state.p_churn) {
            None => {
                return Err(Rejection::lazy(
                    ReasonCode::ChurnRiskUnknown,
                    messages,
                    || "the policy values retention by churn risk and P(churn) is unknown".into(),
                ))
            }
            Some(risk) if risk < min => {
                return Err(Rejection::lazy(
                    ReasonCode::ChurnRiskBelowMin,
                    messages,
                    || {
                        format!(
                            "P(churn) {} is below the policy's retention minimum {}",
                            num(risk),
                            num(min)
                        )
                    },
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Eligibility;
    use crate::decision::state::ConsentMap;
    use crate::journey::Channel;

    fn action(kind: ActionKind, channel: Channel) -> Action {
        Action {
            id: "a".into(),
            channel,
            kind,
            value: 1.0,
            cost: 0.0,
            requires_consent: None,
            caps: Default::default(),
            eligibility: Eligibility {
                min_churn_risk: Some(0.5),
                ..Default::default()
            },
            description: None,
            model_as: None,
        }
    }

    fn code(spec: &PolicySpec, state: &CustomerState, action: &Action) -> Option<ReasonCode> {
        check(spec, state, action).err().map(|r| r.code)
    }

    #[test]
    fn the_first_failing_rule_is_reported() {
        let mut spec = PolicySpec::default();
        let mut state = CustomerState::new(Timestamp(0));
        state.unsubscribed.all = true;
        state.consent = ConsentMap::new().with(Channel::Email, false);
        let email = action(ActionKind::Sales, Channel::Email);
        // Unsubscribed, no consent and no churn score: unsubscribes come first.
        assert_eq!(code(&spec, &state, &email), Some(ReasonCode::Unsubscribed));
        state.unsubscribed.all = false;
        assert_eq!(code(&spec, &state, &email), Some(ReasonCode::NoConsent));
        state.consent.set(Channel::Email, true);
        assert_eq!(
            code(&spec, &state, &email),
            Some(ReasonCode::ChurnRiskUnknown)
        );
        // A NaN churn score is unknown too; an out-of-range one as well.
        state.p_churn = Some(f64::NAN);
        assert_eq!(
            code(&spec, &state, &email),
            Some(ReasonCode::ChurnRiskUnknown)
        );
        state.p_churn = Some(7.0);
        assert_eq!(
            code(&spec, &state, &email),
            Some(ReasonCode::ChurnRiskUnknown)
        );
        state.p_churn = Some(0.6);
        assert_eq!(code(&spec, &state, &email), None);
        // The policy's kinds come before everything.
        spec.eligibility.allowed_kinds = vec![ActionKind::Service];
        assert_eq!(
            code(&spec, &state, &email),
            Some(ReasonCode::KindNotAllowed)
        );
    }

    #[test]
    fn doing_nothing_is_always_suitable_when_allowed() {
        let spec = PolicySpec::default();
        let mut state = CustomerState::new(Timestamp(0));
        state.unsubscribed.all = true;
        state.unsubscribed.channels.push(Channel::parse("none"));
        state.sentiment = Some(0.0);
        let nothing = action(ActionKind::None, Channel::parse("none"));
        assert_eq!(code(&spec, &state, &nothing), None);
    }

    #[test]
    fn support_recency_is_measured_back_from_now() {
        let spec = PolicySpec::default();
        let mut followup = action(ActionKind::Service, Channel::CallCenter);
        followup.eligibility = Eligibility {
            requires_support_contact_within_days: Some(30.0),
            ..Default::default()
        };
        let now = Timestamp(100 * Timestamp::MICROS_PER_DAY);
        let mut state = CustomerState::new(now);
        for (days_ago, ok) in [(0.0, true), (30.0, true), (30.5, false), (-2.0, true)] {
            state.last_support_contact = Some(now.plus_days(-days_ago));
            let got = code(&spec, &state, &followup);
            assert_eq!(got.is_none(), ok, "{days_ago}: {got:?}");
        }
        state.last_support_contact = Some(Timestamp(i64::MIN));
        assert_eq!(
            code(&spec, &state, &followup),
            Some(ReasonCode::NoRecentSupportContact)
        );
    }
}
