//! Decision policies: named configurations (one TOML or JSON file each, in `policies/`) of
//! eligibility, suitability, contact rules, arbitration and exploration. Policies are what
//! experiments compare.
//!
//! A policy's name is its file stem (`policies/default.toml` → `default`). Unknown keys and
//! out-of-range values are errors that name the key, e.g.
//! `arbitration.epsilon: must be in [0, 1], got 2`. Keys that only one formula or exploration
//! strategy reads are refused under the others, so a policy never carries settings that silently
//! do nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::{ActionKind, Catalog};
use crate::error::ErrorCode;
use crate::journey::Channel;

/// A problem with a policy. [`PolicyError::code`] gives a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{file}: {cause}")]
    Io {
        /// The policy file or folder.
        file: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// The file is not valid TOML/JSON, has an unknown key, or a value of the wrong type.
    #[error("{file}: {problem}")]
    Parse {
        /// The policy file.
        file: PathBuf,
        /// What the parser said, starting with the key where it can be told.
        problem: String,
    },
    /// A value is out of range or inconsistent with the rest of the policy.
    #[error("{file}: {key}: {problem}")]
    Invalid {
        /// The policy file (or `<name>` for a policy built in memory).
        file: PathBuf,
        /// The dotted key, e.g. `arbitration.epsilon` or `contact.channel_caps[0].max`.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// The policy name (file stem) is not usable as an identifier.
    #[error("{file}: policy name '{name}' must be 1–64 characters of a–z, A–Z, 0–9, '_' or '-'")]
    BadName {
        /// The policy file.
        file: PathBuf,
        /// The rejected name.
        name: String,
    },
    /// Two files in a folder define the same policy name.
    #[error("{first} and {second} both define policy '{name}'")]
    Duplicate {
        /// The name.
        name: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A policy folder holds no `.toml` or `.json` file.
    #[error("{dir}: no policy files (*.toml or *.json)")]
    NoPolicies {
        /// The folder.
        dir: PathBuf,
    },
}

impl PolicyError {
    /// A stable, machine-readable code for this kind of error.
    pub fn code(&self) -> ErrorCode {
        match self {
            PolicyError::Io { .. } => ErrorCode::IoError,
            PolicyError::Parse { .. } => ErrorCode::InvalidPolicyFile,
            PolicyError::Invalid { .. } => ErrorCode::InvalidPolicy,
            PolicyError::BadName { .. } => ErrorCode::InvalidPolicyName,
            PolicyError::Duplicate { .. } => ErrorCode::DuplicatePolicy,
            PolicyError::NoPolicies { .. } => ErrorCode::NoPolicies,
        }
    }
}

/// One problem found by validation: the dotted key and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyProblem {
    /// The dotted key, e.g. `arbitration.levers.email_discount`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

fn problem(key: impl Into<String>, problem: impl Into<String>) -> KeyProblem {
    KeyProblem {
        key: key.into(),
        problem: problem.into(),
    }
}

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

fn check_probability(key: impl Into<String>, value: f64) -> Result<(), KeyProblem> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(problem(key, format!("must be in [0, 1], got {value}")))
    }
}

fn check_window(key: String, days: f64) -> Result<(), KeyProblem> {
    if days.is_finite() && days > 0.0 && days <= 3650.0 {
        Ok(())
    } else {
        Err(problem(
            key,
            format!("must be in (0, 3650] days, got {days}"),
        ))
    }
}

fn check_weight(key: String, value: f64) -> Result<(), KeyProblem> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(problem(
            key,
            format!("must be a finite number ≥ 0, got {value}"),
        ))
    }
}

impl PolicySpec {
    /// Checks ranges and consistency; the first problem names its key.
    pub fn validate(&self) -> Result<(), KeyProblem> {
        if self.eligibility.allowed_kinds.is_empty() {
            return Err(problem(
                "eligibility.allowed_kinds",
                "must list at least one kind",
            ));
        }
        let thresholds = &self.suitability.block_kinds_below_sentiment;
        for (kind, value) in [
            ("sales", thresholds.sales),
            ("retention", thresholds.retention),
            ("service", thresholds.service),
        ] {
            if let Some(v) = value {
                check_probability(format!("suitability.block_kinds_below_sentiment.{kind}"), v)?;
            }
        }
        if let Some(v) = self.suitability.retention_min_churn_risk {
            check_probability("suitability.retention_min_churn_risk", v)?;
        }
        for (i, cap) in self.contact.channel_caps.iter().enumerate() {
            check_window(
                format!("contact.channel_caps[{i}].window_days"),
                cap.window_days,
            )?;
        }
        for (i, cap) in self.contact.global_caps.iter().enumerate() {
            check_window(
                format!("contact.global_caps[{i}].window_days"),
                cap.window_days,
            )?;
        }
        self.validate_arbitration()
    }

    fn validate_arbitration(&self) -> Result<(), KeyProblem> {
        let a = &self.arbitration;
        let formula = a.formula;
        let only = |key: &str, wanted: Formula| {
            problem(
                format!("arbitration.{key}"),
                format!(
                    "only used with formula = \"{}\" (this policy uses \"{}\")",
                    wanted.as_str(),
                    formula.as_str()
                ),
            )
        };
        if !(1..=100).contains(&a.max_actions) {
            return Err(problem(
                "arbitration.max_actions",
                format!("must be in 1..=100, got {}", a.max_actions),
            ));
        }
        if let Some(m) = a.min_score {
            if !m.is_finite() {
                return Err(problem(
                    "arbitration.min_score",
                    format!("must be a finite number, got {m}"),
                ));
            }
        }
        if let Some(rate) = a.default_save_rate {
            if formula != Formula::ExpectedValue {
                return Err(only("default_save_rate", Formula::ExpectedValue));
            }
            check_probability("arbitration.default_save_rate", rate)?;
        }
        for (id, &rate) in &a.save_rates {
            if formula != Formula::ExpectedValue {
                return Err(only("save_rates", Formula::ExpectedValue));
            }
            check_probability(format!("arbitration.save_rates.{id}"), rate)?;
        }
        for (id, &lever) in &a.levers {
            if formula != Formula::Pega {
                return Err(only("levers", Formula::Pega));
            }
            check_weight(format!("arbitration.levers.{id}"), lever)?;
        }
        for (i, rule) in a.context_weights.iter().enumerate() {
            if formula != Formula::Pega {
                return Err(only("context_weights", Formula::Pega));
            }
            check_weight(
                format!("arbitration.context_weights[{i}].weight"),
                rule.weight,
            )?;
        }
        if formula == Formula::Rules {
            if a.priority.is_empty() {
                return Err(problem(
                    "arbitration.priority",
                    "required with formula = \"rules\": list action ids, most preferred first",
                ));
            }
            for (i, id) in a.priority.iter().enumerate() {
                if id.trim().is_empty() {
                    return Err(problem(
                        format!("arbitration.priority[{i}]"),
                        "must not be empty",
                    ));
                }
                if a.priority[..i].contains(id) {
                    return Err(problem(
                        format!("arbitration.priority[{i}]"),
                        format!("'{id}' is listed twice"),
                    ));
                }
            }
        } else if !a.priority.is_empty() {
            return Err(only("priority", Formula::Rules));
        }
        self.validate_exploration()
    }

    fn validate_exploration(&self) -> Result<(), KeyProblem> {
        let a = &self.arbitration;
        match (a.exploration, a.epsilon) {
            (ExplorationKind::EpsilonGreedy, None) => {
                return Err(problem(
                    "arbitration.epsilon",
                    "required with exploration = \"epsilon_greedy\"",
                ))
            }
            (ExplorationKind::EpsilonGreedy, Some(e)) => {
                check_probability("arbitration.epsilon", e)?
            }
            (_, Some(_)) => {
                return Err(problem(
                    "arbitration.epsilon",
                    "only used with exploration = \"epsilon_greedy\"",
                ))
            }
            (_, None) => {}
        }
        match (a.exploration, a.temperature) {
            (ExplorationKind::Softmax, None) => Err(problem(
                "arbitration.temperature",
                "required with exploration = \"softmax\"",
            )),
            (ExplorationKind::Softmax, Some(t)) if !(t.is_finite() && t > 0.0) => Err(problem(
                "arbitration.temperature",
                format!("must be a finite number > 0, got {t}"),
            )),
            (ExplorationKind::Softmax, Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err(problem(
                "arbitration.temperature",
                "only used with exploration = \"softmax\"",
            )),
        }
    }
}

/// A named, validated policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    name: String,
    spec: PolicySpec,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Policy {
    /// A policy from a spec built in code; validates it.
    pub fn new(name: impl Into<String>, spec: PolicySpec) -> Result<Self, PolicyError> {
        let name = name.into();
        let file = PathBuf::from(format!("<{name}>"));
        if !valid_name(&name) {
            return Err(PolicyError::BadName { file, name });
        }
        spec.validate().map_err(|p| PolicyError::Invalid {
            file,
            key: p.key,
            problem: p.problem,
        })?;
        Ok(Policy { name, spec })
    }

    /// Parses a policy from TOML text.
    pub fn from_toml_str(name: &str, text: &str) -> Result<Self, PolicyError> {
        let file = PathBuf::from(format!("<{name}>"));
        Self::parse(&file, name, text, false)
    }

    /// Reads a policy file (`.json` as JSON, anything else as TOML); its name is the file stem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| PolicyError::Io {
            file: path.to_path_buf(),
            cause,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(path, &name, &text, is_json)
    }

    fn parse(file: &Path, name: &str, text: &str, is_json: bool) -> Result<Self, PolicyError> {
        if !valid_name(name) {
            return Err(PolicyError::BadName {
                file: file.to_path_buf(),
                name: name.to_string(),
            });
        }
        let spec: PolicySpec = if is_json {
            serde_json::from_str(text).map_err(|e| PolicyError::Parse {
                file: file.to_path_buf(),
                problem: e.to_string(),
            })?
        } else {
            toml::from_str(text).map_err(|e| PolicyError::Parse {
                file: file.to_path_buf(),
                problem: describe_toml_error(text, &e),
            })?
        };
        spec.validate().map_err(|p| PolicyError::Invalid {
            file: file.to_path_buf(),
            key: p.key,
            problem: p.problem,
        })?;
        Ok(Policy {
            name: name.to_string(),
            spec,
        })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the policy holds.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    /// Checks the action ids the policy names (save rates, levers, priority) against a catalog;
    /// returns every problem. Requests may carry ad-hoc candidates, so this is advice for the
    /// operator (a typo in an id silently never matches), not a load error.
    pub fn check_against(&self, catalog: &Catalog) -> Vec<KeyProblem> {
        let a = &self.spec.arbitration;
        let mut problems = Vec::new();
        let unknown =
            |key: String, id: &str| problem(key, format!("no action '{id}' in the catalog"));
        for id in a.save_rates.keys() {
            let key = format!("arbitration.save_rates.{id}");
            match catalog.get(id) {
                None => problems.push(unknown(key, id)),
                Some(action) if action.kind != ActionKind::Retention => problems.push(problem(
                    key,
                    format!("'{id}' is not a retention action; save rates value retention only"),
                )),
                Some(_) => {}
            }
        }
        for id in a.levers.keys() {
            if catalog.get(id).is_none() {
                problems.push(unknown(format!("arbitration.levers.{id}"), id));
            }
        }
        for (i, id) in a.priority.iter().enumerate() {
            if catalog.get(id).is_none() {
                problems.push(unknown(format!("arbitration.priority[{i}]"), id));
            }
        }
        problems
    }
}

/// Turns a TOML error into `section.key: message (line L, column C)`, naming the key where the
/// text tells it: the table header above the error and the key on the error's line.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");

    // The innermost table header at or above the error, with an index for arrays of tables.
    let mut table = String::new();
    let mut headers_seen: Vec<(String, usize)> = Vec::new();
    for header_line in text[..line_start].lines().chain(std::iter::once(line)) {
        let trimmed = header_line.trim();
        if let Some(inner) = trimmed
            .strip_prefix("[[")
            .and_then(|t| t.split("]]").next())
        {
            let name = inner.trim().to_string();
            let count = match headers_seen.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.1
                }
                None => {
                    headers_seen.push((name.clone(), 0));
                    0
                }
            };
            table = format!("{name}[{count}]");
        } else if let Some(inner) = trimmed.strip_prefix('[').and_then(|t| t.split(']').next()) {
            table = inner.trim().to_string();
        }
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.starts_with('#'));
    let path = match (table.is_empty(), key) {
        (true, Some(k)) => k.to_string(),
        (false, Some(k)) => format!("{table}.{k}"),
        (false, None) => table,
        (true, None) => String::new(),
    };
    if path.is_empty() {
        format!("{message} (line {line_no}, column {column})")
    } else {
        format!("{path}: {message} (line {line_no}, column {column})")
    }
}

/// Every policy of a folder, by name.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// Loads every `*.toml` and `*.json` file of a folder (not recursing). Any bad file is an
    /// error naming it; so is a folder without policies or two files with the same stem.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let dir = dir.as_ref();
        let io = |cause| PolicyError::Io {
            file: dir.to_path_buf(),
            cause,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let is_policy = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml") || e.eq_ignore_ascii_case("json"));
            if is_policy && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(PolicyError::NoPolicies {
                dir: dir.to_path_buf(),
            });
        }
        files.sort();
        let mut loaded: Vec<(Policy, PathBuf)> = Vec::with_capacity(files.len());
        for path in files {
            let policy = Policy::load(&path)?;
            if let Some((_, first)) = loaded.iter().find(|(p, _)| p.name == policy.name) {
                return Err(PolicyError::Duplicate {
                    name: policy.name,
                    first: first.clone(),
                    second: path,
                });
            }
            loaded.push((policy, path));
        }
        let mut policies: Vec<Policy> = loaded.into_iter().map(|(p, _)| p).collect();
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(PolicySet { policies })
    }

    /// A set from policies built in code; a repeated name is an error.
    pub fn from_policies(policies: Vec<Policy>) -> Result<Self, PolicyError> {
        let mut policies = policies;
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = policies.windows(2).find(|w| w[0].name == w[1].name) {
            let name = pair[0].name.clone();
            return Err(PolicyError::Duplicate {
                first: PathBuf::from(format!("<{name}>")),
                second: PathBuf::from(format!("<{name}>")),
                name,
            });
        }
        Ok(PolicySet { policies })
    }

    /// The policy of that name.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// The policies, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter()
    }

    /// How many policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> String {
        Policy::from_toml_str("t", text).unwrap_err().to_string()
    }

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
    fn out_of_range_values_name_their_key() {
        let cases = [
            (
                "[arbitration]\nexploration = \"epsilon_greedy\"\nepsilon = 2",
                "arbitration.epsilon: must be in [0, 1], got 2",
            ),
            (
                "[arbitration]\nexploration = \"epsilon_greedy\"",
                "arbitration.epsilon: required",
            ),
            (
                "[arbitration]\nepsilon = 0.1",
                "arbitration.epsilon: only used with exploration = \"epsilon_greedy\"",
            ),
            (
                "[arbitration]\nexploration = \"softmax\"\ntemperature = 0",
                "arbitration.temperature: must be a finite number > 0, got 0",
            ),
            (
                "[arbitration]\nexploration = \"softmax\"\ntemperature = nan",
                "arbitration.temperature: must be a finite number > 0, got NaN",
            ),
            ("[arbitration]\nmax_actions = 0", "arbitration.max_actions"),
            (
                "[arbitration]\nmin_score = inf",
                "arbitration.min_score: must be a finite number, got inf",
            ),
            (
                "[arbitration]\ndefault_save_rate = 1.5",
                "arbitration.default_save_rate: must be in [0, 1], got 1.5",
            ),
            (
                "[arbitration.save_rates]\ncall = -0.1",
                "arbitration.save_rates.call: must be in [0, 1], got -0.1",
            ),
            (
                "[arbitration]\nformula = \"pega\"\nlevers = { email = -1 }",
                "arbitration.levers.email: must be a finite number ≥ 0, got -1",
            ),
            (
                "[arbitration]\nlevers = { email = 1 }",
                "arbitration.levers: only used with formula = \"pega\"",
            ),
            (
                "[arbitration]\nformula = \"propensity\"\ndefault_save_rate = 0.2",
                "arbitration.default_save_rate: only used with formula = \"expected_value\"",
            ),
            (
                "[arbitration]\nformula = \"pega\"\n[[arbitration.context_weights]]\nweight = nan",
                "arbitration.context_weights[0].weight",
            ),
            (
                "[arbitration]\nformula = \"rules\"",
                "arbitration.priority: required",
            ),
            (
                "[arbitration]\nformula = \"rules\"\npriority = [\"a\", \"b\", \"a\"]",
                "arbitration.priority[2]: 'a' is listed twice",
            ),
            (
                "[arbitration]\npriority = [\"a\"]",
                "arbitration.priority: only used with formula = \"rules\"",
            ),
            (
                "[suitability]\nblock_kinds_below_sentiment = { sales = 1.2 }",
                "suitability.block_kinds_below_sentiment.sales: must be in [0, 1], got 1.2",
            ),
            (
                "[suitability]\nretention_min_churn_risk = -1",
                "suitability.retention_min_churn_risk: must be in [0, 1], got -1",
            ),
            (
                "[[contact.channel_caps]]\nchannel = \"email\"\nmax = 1\nwindow_days = 0",
                "contact.channel_caps[0].window_days: must be in (0, 3650] days, got 0",
            ),
            (
                "[[contact.global_caps]]\nmax = 1\nwindow_days = 5000",
                "contact.global_caps[0].window_days",
            ),
            (
                "[eligibility]\nallowed_kinds = []",
                "eligibility.allowed_kinds: must list at least one kind",
            ),
        ];
        for (text, expected) in cases {
            let message = parse_error(text);
            assert!(
                message.contains(expected),
                "{text:?}\n  gave {message}\n  expected {expected}"
            );
        }
    }

    #[test]
    fn parse_errors_name_the_key_and_line() {
        let message = parse_error("[arbitration]\nformula = \"pega\"\nepsilonn = 0.1\n");
        assert!(
            message.starts_with("<t>: arbitration.epsilonn: unknown field"),
            "{message}"
        );
        assert!(message.contains("line 3"), "{message}");

        let message = parse_error("[arbitration]\nepsilon = \"high\"\n");
        assert!(
            message.contains("arbitration.epsilon: invalid type"),
            "{message}"
        );

        let message = parse_error("[arbitration]\nformula = \"magic\"\n");
        assert!(
            message.contains("arbitration.formula: unknown variant `magic`"),
            "{message}"
        );

        let message = parse_error(
            "[[contact.channel_caps]]\nchannel = \"email\"\nmax = 1\nwindow_days = 7\n\
             [[contact.channel_caps]]\nchannel = \"sms\"\nmax = -1\nwindow_days = 7\n",
        );
        assert!(message.contains("contact.channel_caps[1].max"), "{message}");

        let message = parse_error("[suitability]\nblock_kinds_below_sentiment = { none = 0.2 }\n");
        assert!(
            message.contains("suitability.block_kinds_below_sentiment: unknown field `none`"),
            "{message}"
        );

        let message = parse_error("colour = \"red\"\n");
        assert!(message.contains("colour: unknown field"), "{message}");

        let err = Policy::from_toml_str("t", "[arbitration\n").unwrap_err();
        assert_eq!(err.code(), "invalid_policy_file");
        let err = Policy::from_toml_str("t", "[arbitration]\nmax_actions = 0").unwrap_err();
        assert_eq!(err.code(), "invalid_policy");
        let err = Policy::from_toml_str("bad name", "").unwrap_err();
        assert_eq!(err.code(), "invalid_policy_name");
    }

    #[test]
    fn check_against_a_catalog_finds_unknown_ids() {
        let catalog: Catalog = toml::from_str(
            "[[action]]\nid = \"call\"\nchannel = \"call_center\"\nkind = \"retention\"\n\
             value = 1.0\ncost = 1.0\n\
             [[action]]\nid = \"mail\"\nchannel = \"email\"\nkind = \"sales\"\nvalue = 1.0\ncost = 1.0\n",
        )
        .unwrap();
        let policy = Policy::from_toml_str(
            "t",
            "[arbitration]\nsave_rates = { call = 0.2, mail = 0.1, ghost = 0.3 }\n",
        )
        .unwrap();
        let problems: Vec<String> = policy
            .check_against(&catalog)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("arbitration.save_rates.ghost: no action"));
        assert!(problems[1].starts_with("arbitration.save_rates.mail: 'mail' is not a retention"));
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
