//! The contents of a policy file: one type per section, with the defaults an absent key takes.
//! Reading them from text is in `load`, checking their ranges in `validate`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::ActionKind;
use crate::journey::Channel;

/// Whether a channel with unknown consent may be contacted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownConsent {
    /// Unknown consent is no consent (opt-in; the default).
    #[default]
    Deny,
    /// Unknown consent is consent (opt-out regimes).
    Allow,
}

/// `[eligibility]`: which actions may be considered at all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EligibilitySpec {
    /// Action kinds the policy may choose (default: all four). Leaving out `none` makes a
    /// policy that always acts when any action is eligible.
    #[serde(default = "all_kinds")]
    pub allowed_kinds: Vec<ActionKind>,
    /// How a channel with unknown consent is treated for actions that need consent.
    #[serde(default)]
    pub unknown_consent: UnknownConsent,
}

fn all_kinds() -> Vec<ActionKind> {
    vec![
        ActionKind::Sales,
        ActionKind::Retention,
        ActionKind::Service,
        ActionKind::None,
    ]
}

impl Default for EligibilitySpec {
    fn default() -> Self {
        EligibilitySpec {
            allowed_kinds: all_kinds(),
            unknown_consent: UnknownConsent::Deny,
        }
    }
}

/// A threshold per action kind (doing nothing is never blocked).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindThresholds {
    /// Threshold for sales actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales: Option<f64>,
    /// Threshold for retention actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<f64>,
    /// Threshold for service actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<f64>,
}

impl KindThresholds {
    /// The threshold of a kind, if any.
    pub fn get(&self, kind: ActionKind) -> Option<f64> {
        match kind {
            ActionKind::Sales => self.sales,
            ActionKind::Retention => self.retention,
            ActionKind::Service => self.service,
            ActionKind::None => None,
        }
    }
}

/// `[suitability]`: policy-wide rules on the customer's scores, on top of each action's own
/// `eligibility` rules from the catalog.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuitabilitySpec {
    /// Per kind: no action of that kind when the customer's recent sentiment (P(positive)) is
    /// below the threshold — e.g. `{ sales = 0.25 }`: no upsell to an angry customer. A customer
    /// without recent sentiment passes (no text means no negative signal).
    #[serde(default, skip_serializing_if = "is_default")]
    pub block_kinds_below_sentiment: KindThresholds,
    /// Retention actions only when P(churn) is at least this (unknown churn risk fails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_min_churn_risk: Option<f64>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `[[contact.channel_caps]]`: at most `max` contacts on `channel` within `window_days`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelCap {
    /// The channel.
    pub channel: Channel,
    /// Most contacts allowed in the window (0 closes the channel).
    pub max: u32,
    /// The window, in days back from the decision instant (0 < d ≤ 3650).
    pub window_days: f64,
}

/// `[[contact.global_caps]]`: at most `max` contacts over all channels within `window_days`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalCap {
    /// Most contacts allowed in the window.
    pub max: u32,
    /// The window, in days back from the decision instant (0 < d ≤ 3650).
    pub window_days: f64,
}

/// `[contact]`: policy-level contact limits, on top of each action's caps and cool-down.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// Per-channel caps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_caps: Vec<ChannelCap>,
    /// Caps across all channels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_caps: Vec<GlobalCap>,
}

/// How candidates are scored; see [`crate::decision::arbitration`] for each formula.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Formula {
    /// Expected incremental value: uplift × value − cost (retention: P(churn) × save rate ×
    /// customer value − cost); doing nothing competes at 0.
    #[default]
    ExpectedValue,
    /// P(convert) alone.
    Propensity,
    /// P(convert) × context weight × value × lever.
    Pega,
    /// A fixed priority list of action ids (rules-only baseline; needs no model).
    Rules,
}

impl Formula {
    /// Whether the formula scores with P(convert) (a conversion model).
    pub fn needs_conversion(self) -> bool {
        !matches!(self, Formula::Rules)
    }

    /// Whether the formula scores with P(churn) (a churn model): expected value prices
    /// retention by it.
    pub fn needs_churn(self) -> bool {
        matches!(self, Formula::ExpectedValue)
    }

    /// The name as written in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Formula::ExpectedValue => "expected_value",
            Formula::Propensity => "propensity",
            Formula::Pega => "pega",
            Formula::Rules => "rules",
        }
    }
}

/// The exploration strategy named in a policy file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExplorationKind {
    /// Always the top-ranked candidate.
    #[default]
    None,
    /// With probability ε a uniformly random eligible candidate, else the top one.
    EpsilonGreedy,
    /// P(candidate) ∝ exp(score / temperature).
    Softmax,
    /// Thompson sampling: each candidate's score drawn from its posterior, the best draw wins.
    Thompson,
}

/// The exploration strategy with its parameter, as used by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Exploration {
    /// Greedy: every pick has probability 1.
    None,
    /// ε-greedy.
    EpsilonGreedy {
        /// Share of picks made uniformly at random (0 ≤ ε ≤ 1).
        epsilon: f64,
    },
    /// Softmax (Boltzmann) over scores.
    Softmax {
        /// In score units (money under `expected_value`); > 0.
        temperature: f64,
    },
    /// Thompson sampling (`expected_value` only): each candidate's uplift is drawn from a normal
    /// posterior around the model's estimate, so its score from
    /// N(score, (uplift_sd × the money a unit of probability is worth)²); the best draw wins.
    Thompson {
        /// Posterior standard deviation of an uplift (of a churn reduction for retention
        /// actions), in probability units; > 0.
        uplift_sd: f64,
    },
}

/// `[[arbitration.context_weights]]` (pega only): a weight for candidates when the request's
/// context matches. Rules are tried in file order and the first whose set fields all match gives
/// the weight; a candidate no rule matches has weight 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextWeight {
    /// Matches when the customer is on this channel now (`CustomerState::context_channel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_channel: Option<Channel>,
    /// Matches when the answer is shown at this placement (`CustomerState::placement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// Matches candidates going out on this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_channel: Option<Channel>,
    /// The weight (finite, ≥ 0).
    pub weight: f64,
}

/// `[arbitration]`: how eligible candidates are scored, ranked and picked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArbitrationSpec {
    /// The scoring formula.
    #[serde(default)]
    pub formula: Formula,
    /// How many actions one decision returns at most (1..=100; default 1).
    #[serde(default = "one")]
    pub max_actions: u32,
    /// At most one action per channel in one decision (default true): two emails at once is
    /// spam, and the second would cannibalise the first.
    #[serde(default = "yes")]
    pub one_per_channel: bool,
    /// Candidates scoring below this are not chosen (reported as `below_min_score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// expected_value: share of would-be churners a retention action keeps, unless the action
    /// has its own entry in `save_rates`. Without either, retention actions cannot be valued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_save_rate: Option<f64>,
    /// expected_value: save rate per retention action id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub save_rates: BTreeMap<String, f64>,
    /// pega: business lever per action id (default 1).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub levers: BTreeMap<String, f64>,
    /// pega: context weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_weights: Vec<ContextWeight>,
    /// rules: action ids, most preferred first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priority: Vec<String>,
    /// Exploration strategy.
    #[serde(default)]
    pub exploration: ExplorationKind,
    /// epsilon_greedy: ε in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// softmax: temperature > 0, in score units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// thompson: the posterior standard deviation of an uplift, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplift_sd: Option<f64>,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

impl Default for ArbitrationSpec {
    fn default() -> Self {
        ArbitrationSpec {
            formula: Formula::ExpectedValue,
            max_actions: 1,
            one_per_channel: true,
            min_score: None,
            default_save_rate: None,
            save_rates: BTreeMap::new(),
            levers: BTreeMap::new(),
            context_weights: Vec::new(),
            priority: Vec::new(),
            exploration: ExplorationKind::None,
            epsilon: None,
            temperature: None,
            uplift_sd: None,
        }
    }
}

impl ArbitrationSpec {
    /// The exploration strategy with its parameter (after validation the parameter is present).
    pub fn exploration(&self) -> Exploration {
        match self.exploration {
            ExplorationKind::None => Exploration::None,
            ExplorationKind::EpsilonGreedy => Exploration::EpsilonGreedy {
                epsilon: self.epsilon.unwrap_or(0.0),
            },
            ExplorationKind::Softmax => Exploration::Softmax {
                temperature: self.temperature.unwrap_or(1.0),
            },
            ExplorationKind::Thompson => Exploration::Thompson {
                uplift_sd: self.uplift_sd.unwrap_or(0.01),
            },
        }
    }

    /// The save rate of a retention action under expected_value.
    pub fn save_rate(&self, action_id: &str) -> Option<f64> {
        self.save_rates
            .get(action_id)
            .copied()
            .or(self.default_save_rate)
    }

    /// The pega lever of an action (1 when not set).
    pub fn lever(&self, action_id: &str) -> f64 {
        self.levers.get(action_id).copied().unwrap_or(1.0)
    }
}

/// Everything a policy file holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// What the policy is for, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which actions may be considered.
    #[serde(default)]
    pub eligibility: EligibilitySpec,
    /// Policy-wide suitability rules.
    #[serde(default)]
    pub suitability: SuitabilitySpec,
    /// Contact limits.
    #[serde(default)]
    pub contact: ContactSpec,
    /// Scoring, ranking, exploration.
    #[serde(default)]
    pub arbitration: ArbitrationSpec,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::policy::Policy;

    #[test]
    fn an_empty_policy_is_the_greedy_expected_value_policy() {
        let policy = Policy::from_toml_str("empty", "").unwrap();
        let a = &policy.spec().arbitration;
        assert_eq!(a.formula, Formula::ExpectedValue);
        assert_eq!(a.max_actions, 1);
        assert!(a.one_per_channel);
        assert_eq!(a.exploration(), Exploration::None);
        assert_eq!(policy.spec().eligibility.allowed_kinds.len(), 4);
        assert_eq!(
            policy.spec().eligibility.unknown_consent,
            UnknownConsent::Deny
        );
    }

    #[test]
    fn policies_round_trip_through_json_and_toml() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/pega.toml"))
                .unwrap();
        let policy = Policy::from_toml_str("pega", &text).unwrap();
        let json = serde_json::to_string(policy.spec()).unwrap();
        let back: PolicySpec = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, policy.spec());
        let toml_text = toml::to_string(policy.spec()).unwrap();
        let again = Policy::from_toml_str("pega", &toml_text).unwrap();
        assert_eq!(again.spec(), policy.spec());
    }
}
