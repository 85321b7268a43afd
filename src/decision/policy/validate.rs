//! Validation: ranges and consistency of a [`PolicySpec`] (each problem names its dotted key),
//! policy names, and the advisory check of the action ids a policy names against a catalog.

use std::fmt;

use crate::catalog::{ActionKind, Catalog};

use super::spec::{ExplorationKind, Formula, PolicySpec};
use super::Policy;

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
            (ExplorationKind::Softmax, None) => {
                return Err(problem(
                    "arbitration.temperature",
                    "required with exploration = \"softmax\"",
                ))
            }
            (ExplorationKind::Softmax, Some(t)) if !(t.is_finite() && t > 0.0) => {
                return Err(problem(
                    "arbitration.temperature",
                    format!("must be a finite number > 0, got {t}"),
                ))
            }
            (ExplorationKind::Softmax, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(problem(
                    "arbitration.temperature",
                    "only used with exploration = \"softmax\"",
                ))
            }
        }
        self.validate_thompson()
    }

    fn validate_thompson(&self) -> Result<(), KeyProblem> {
        let a = &self.arbitration;
        match (a.exploration, a.uplift_sd) {
            (ExplorationKind::Thompson, None) => Err(problem(
                "arbitration.uplift_sd",
                "required with exploration = \"thompson\"",
            )),
            (ExplorationKind::Thompson, Some(sd)) if !(sd > 0.0 && sd <= 1.0) => Err(problem(
                "arbitration.uplift_sd",
                format!("must be a probability in (0, 1], got {sd}"),
            )),
            // The posterior is over uplifts, which only expected_value turns into scores.
            (ExplorationKind::Thompson, Some(_)) if a.formula != Formula::ExpectedValue => {
                Err(problem(
                    "arbitration.exploration",
                    "\"thompson\" needs formula = \"expected_value\"",
                ))
            }
            (ExplorationKind::Thompson, Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err(problem(
                "arbitration.uplift_sd",
                "only used with exploration = \"thompson\"",
            )),
        }
    }
}

/// Whether a policy name is usable as an identifier (see [`super::PolicyError::BadName`]).
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Policy {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> String {
        Policy::from_toml_str("t", text).unwrap_err().to_string()
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
}
