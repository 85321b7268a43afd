//! What a decision returns: the chosen actions with their scores, components, selection
//! probabilities and reasons; the eligible candidates passed over; and every ineligible candidate
//! with a stable reason code.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::ActionKind;
use crate::decision::policy::{Exploration, Formula};
use crate::journey::Channel;

/// Why a candidate was not eligible. The codes (`as_str`, and the serialised form) are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The policy's `eligibility.allowed_kinds` does not list the action's kind.
    KindNotAllowed,
    /// The action needs consent on its channel and the customer refused it (or it is unknown
    /// and the policy treats unknown as refused).
    NoConsent,
    /// The customer unsubscribed from the action's channel, or from all marketing.
    Unsubscribed,
    /// P(churn) is below the action's `min_churn_risk` or the policy's
    /// `retention_min_churn_risk`.
    ChurnRiskBelowMin,
    /// P(churn) is above the action's `max_churn_risk`.
    ChurnRiskAboveMax,
    /// A churn-risk rule applies but P(churn) is unknown.
    ChurnRiskUnknown,
    /// Recent sentiment is below the action's `min_sentiment` or the policy's
    /// `block_kinds_below_sentiment` for the kind.
    SentimentTooLow,
    /// The action needs a recent support contact and there was none in its window.
    NoRecentSupportContact,
    /// The action was sent more recently than its cool-down.
    Cooldown,
    /// The action's `per_7_days` cap is reached.
    #[serde(rename = "cap_7d")]
    Cap7d,
    /// The action's `per_30_days` cap is reached.
    #[serde(rename = "cap_30d")]
    Cap30d,
    /// A policy cap on the action's channel is reached.
    ChannelCap,
    /// A policy cap across all channels is reached.
    GlobalCap,
    /// The no-action entry does not compete under this formula (propensity, pega, or rules when
    /// the priority list does not name it).
    NoActionEntry,
    /// The rules formula's priority list does not name the action.
    NotInPriorityList,
    /// The formula needs a score that is missing (e.g. no conversion model, no churn score, no
    /// save rate).
    MissingScore,
    /// The formula's result is not a finite number (overflow from extreme inputs).
    InvalidScore,
    /// The score is below the policy's `arbitration.min_score`.
    BelowMinScore,
}

impl ReasonCode {
    /// The stable snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::KindNotAllowed => "kind_not_allowed",
            ReasonCode::NoConsent => "no_consent",
            ReasonCode::Unsubscribed => "unsubscribed",
            ReasonCode::ChurnRiskBelowMin => "churn_risk_below_min",
            ReasonCode::ChurnRiskAboveMax => "churn_risk_above_max",
            ReasonCode::ChurnRiskUnknown => "churn_risk_unknown",
            ReasonCode::SentimentTooLow => "sentiment_too_low",
            ReasonCode::NoRecentSupportContact => "no_recent_support_contact",
            ReasonCode::Cooldown => "cooldown",
            ReasonCode::Cap7d => "cap_7d",
            ReasonCode::Cap30d => "cap_30d",
            ReasonCode::ChannelCap => "channel_cap",
            ReasonCode::GlobalCap => "global_cap",
            ReasonCode::NoActionEntry => "no_action_entry",
            ReasonCode::NotInPriorityList => "not_in_priority_list",
            ReasonCode::MissingScore => "missing_score",
            ReasonCode::InvalidScore => "invalid_score",
            ReasonCode::BelowMinScore => "below_min_score",
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A candidate left out, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ineligible {
    /// The action.
    pub action_id: String,
    /// Stable code.
    pub reason_code: ReasonCode,
    /// The same for people, with the numbers involved.
    pub message: String,
}

/// The numbers behind a score. Fields a formula did not use are `None` (or 1 for the weights).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Components {
    /// P(convert | action).
    pub p_convert: Option<f64>,
    /// P(convert | no action).
    pub p_convert_no_action: Option<f64>,
    /// `p_convert − p_convert_no_action`.
    pub uplift: Option<f64>,
    /// P(churn) of the customer.
    pub p_churn: Option<f64>,
    /// Recent sentiment of the customer.
    pub sentiment: Option<f64>,
    /// The action's value (money if it converts).
    pub value: f64,
    /// The action's cost.
    pub cost: f64,
    /// The customer's value, when the formula used it (retention under expected_value).
    pub customer_value: Option<f64>,
    /// The save rate, when the formula used it (retention under expected_value without a
    /// retention model).
    pub save_rate: Option<f64>,
    /// P(churn within the horizon | action), from the retention model (expected_value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_churn_action: Option<f64>,
    /// P(churn within the horizon | no action), from the retention model (expected_value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_churn_no_action: Option<f64>,
    /// Context weight (pega; 1 otherwise).
    pub context_weight: f64,
    /// Business lever (pega; 1 otherwise).
    pub lever: f64,
    /// 1-based position in the priority list (rules).
    pub priority: Option<u32>,
}

/// One chosen action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankedAction {
    /// The action.
    pub action_id: String,
    /// Its kind (`none` means: do nothing).
    pub kind: ActionKind,
    /// Its channel.
    #[schema(value_type = String)]
    pub channel: Channel,
    /// 1-based slot in the decision.
    pub rank: u32,
    /// The formula's score.
    pub score: f64,
    /// The numbers behind the score.
    pub components: Components,
    /// The probability that the policy picked this action for this slot, given the actions
    /// picked for the earlier slots (1 for a greedy policy). The product over the slots is the
    /// probability of the whole decision; log it for off-policy evaluation.
    pub propensity: f64,
    /// Whether exploration chose it over the top-ranked remaining candidate.
    pub explored: bool,
    /// Why, for people: the formula with its numbers, then how it was picked.
    pub reasons: Vec<String>,
}

/// An eligible candidate that was not chosen, with its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PassedOver {
    /// The action.
    pub action_id: String,
    /// The formula's score.
    pub score: f64,
    /// The numbers behind the score.
    pub components: Components,
}

/// The answer of a policy for one customer at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// The policy that decided.
    pub policy: String,
    /// Its formula.
    pub formula: Formula,
    /// Its exploration strategy.
    pub exploration: Exploration,
    /// The chosen actions, slot 1 first. Empty when no candidate was eligible. A `none`-kind
    /// entry means "do nothing" and always ends the list.
    pub actions: Vec<RankedAction>,
    /// Probability of this exact list: the product of the actions' propensities (1 when empty).
    pub propensity: f64,
    /// Eligible candidates not chosen, best score first.
    pub passed_over: Vec<PassedOver>,
    /// Candidates left out, in candidate order, each with its first failing rule.
    pub ineligible: Vec<Ineligible>,
    /// Inputs that were unusable and treated as missing (e.g. a NaN score).
    pub warnings: Vec<String>,
}

/// A number for reasons and messages: about three significant decimals, no trailing zeros.
/// Formats without allocating (see [`num`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Num(f64);

/// Wraps a number for display in reasons and messages.
pub(crate) fn num(x: f64) -> Num {
    Num(x)
}

/// An optional number for reasons: `?` when missing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OptNum(pub(crate) Option<f64>);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = self.0;
        let a = x.abs();
        if !x.is_finite() || a >= 1e15 {
            return write!(f, "{x}");
        }
        // Round to a fixed number of decimals in integer arithmetic (exact float formatting is
        // slow), then print the integer part and the fraction without its trailing zeros.
        let (decimals, scale) = if a >= 1000.0 {
            (0, 1u64)
        } else if a >= 100.0 {
            (1, 10)
        } else if a >= 1.0 {
            (2, 100)
        } else {
            (3, 1000)
        };
        // |x| < 1e15, so |x| × 1000 < 1e18 fits a u64 exactly enough for display.
        let scaled = (a * scale as f64).round() as u64;
        if scaled == 0 {
            return f.write_str("0");
        }
        if x < 0.0 {
            f.write_str("-")?;
        }
        write!(f, "{}", scaled / scale)?;
        let mut fraction = scaled % scale;
        if fraction == 0 {
            return Ok(());
        }
        let mut width = decimals;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        write!(f, ".{fraction:0width$}")
    }
}

impl fmt::Display for OptNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(x) => Num(x).fmt(f),
            None => f.write_str("?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        for (x, text) in [
            (0.041, "0.041"),
            (55.0, "55"),
            (2.2555, "2.26"),
            (-0.0001, "0"),
            (-3.75, "-3.75"),
            (1234.4, "1234"),
            (300.25, "300.3"),
            (0.0, "0"),
            (1e20, "100000000000000000000"),
            (-999_999_999_999_999.0, "-999999999999999"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(num(x).to_string(), text);
        }
        assert_eq!(OptNum(None).to_string(), "?");
        assert_eq!(OptNum(Some(0.5)).to_string(), "0.5");
    }

    #[test]
    fn reason_codes_serialise_as_their_codes() {
        for code in [
            ReasonCode::Cap7d,
            ReasonCode::Cap30d,
            ReasonCode::NoRecentSupportContact,
            ReasonCode::NoActionEntry,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
