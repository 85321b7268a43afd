//! The action catalog: every candidate action the engine may choose, with its economics and rules.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::journey::{Channel, JourneyError};

/// What an action is for; arbitration values each kind differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Sells something; valued by conversion uplift.
    Sales,
    /// Keeps a customer; valued by churn risk × save effect × customer value.
    Retention,
    /// Serves a customer (follow-up after a problem).
    Service,
    /// Doing nothing, explicitly.
    None,
}

impl ActionKind {
    /// The kind's name as in catalogs (`sales`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Sales => "sales",
            ActionKind::Retention => "retention",
            ActionKind::Service => "service",
            ActionKind::None => "none",
        }
    }
}

/// Contact limits for one action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct ContactCaps {
    /// At most this many sends of the action per 7 days.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::wire::optional_integer"
    )]
    pub per_7_days: Option<u32>,
    /// At most this many sends of the action per 30 days.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::wire::optional_integer"
    )]
    pub per_30_days: Option<u32>,
    /// Days to wait after sending this action before sending it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_days: Option<f64>,
}
crate::wire::objects_only!(ContactCaps, serialize);

/// Suitability rules for one action, checked against the customer's scores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Eligibility {
    /// Offer only when P(churn) is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_churn_risk: Option<f64>,
    /// Offer only when P(churn) is at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_churn_risk: Option<f64>,
    /// Offer only when recent sentiment (P(positive)) is at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sentiment: Option<f64>,
    /// Offer only to customers with a support contact in the last this-many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_support_contact_within_days: Option<f64>,
}
crate::wire::objects_only!(Eligibility, serialize);

/// One candidate action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct Action {
    /// Unique id, as in `action` events.
    pub id: String,
    /// The channel it goes out on (`email`, `sms`, `push`, `call_center`, … or any other name).
    #[schema(value_type = String)]
    pub channel: Channel,
    /// What it is for.
    pub kind: ActionKind,
    /// Expected money if it converts. Retention actions under the `expected_value` formula are
    /// valued by the customer's value instead (see [`crate::decision::arbitration`]).
    pub value: f64,
    /// What sending it costs.
    pub cost: f64,
    /// Needs the customer's consent on its channel (defaults to true for email, sms and push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_consent: Option<bool>,
    /// Contact limits.
    #[serde(default, skip_serializing_if = "is_default")]
    pub caps: ContactCaps,
    /// Suitability rules.
    #[serde(default, skip_serializing_if = "is_default")]
    pub eligibility: Eligibility,
    /// Free description for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Score this action's conversion with the conversion model's treatment of that id (a new
    /// creative or variant of an offer the model was trained on); default: its own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_as: Option<String>,
}
crate::wire::objects_only!(Action, serialize);

/// What a model remembers of an action it was trained on: enough to tell, when it is loaded
/// beside a catalog, whether the catalog's action of that id is still the same action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainedAction {
    /// The action id.
    pub id: String,
    /// Its kind when the model was trained.
    pub kind: ActionKind,
    /// Its channel when the model was trained.
    pub channel: Channel,
}

impl TrainedAction {
    /// The summary of a catalog entry.
    pub fn of(action: &Action) -> Self {
        TrainedAction {
            id: action.id.clone(),
            kind: action.kind,
            channel: action.channel.clone(),
        }
    }

    /// How the catalog's entry of this id differs from what the model was trained on (`None`
    /// when it does not, or when the catalog has no such entry).
    pub fn difference(&self, catalog: &Catalog) -> Option<String> {
        let action = catalog.get(&self.id)?;
        (action.kind != self.kind || action.channel != self.channel).then(|| {
            format!(
                "trained on '{}' as a {} action on {}; the catalog has it as a {} action on {}",
                self.id,
                self.kind.as_str(),
                self.channel.as_str(),
                action.kind.as_str(),
                action.channel.as_str()
            )
        })
    }
}

/// What is wrong with a catalog or one of its actions: the key (`cost`,
/// `action[2] ('email_discount').caps.cooldown_days`) and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct CatalogProblem {
    /// The key, relative to what was checked.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl CatalogProblem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        CatalogProblem {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl Action {
    /// Checks that the id is not empty and numbers are finite and in range; an error gives the
    /// field (e.g. `caps.cooldown_days`) and the problem.
    pub fn validate(&self) -> Result<(), CatalogProblem> {
        if self.id.trim().is_empty() {
            return Err(CatalogProblem::new("id", "must not be empty"));
        }
        for (field, number) in [("value", self.value), ("cost", self.cost)] {
            if !number.is_finite() || number < 0.0 {
                return Err(CatalogProblem::new(
                    field,
                    format!("must be a finite number ≥ 0, got {number}"),
                ));
            }
        }
        let rules = &self.eligibility;
        for (field, bound) in [
            ("eligibility.min_churn_risk", rules.min_churn_risk),
            ("eligibility.max_churn_risk", rules.max_churn_risk),
            ("eligibility.min_sentiment", rules.min_sentiment),
        ] {
            if let Some(b) = bound {
                if !(0.0..=1.0).contains(&b) {
                    return Err(CatalogProblem::new(
                        field,
                        format!("must be within 0..1, got {b}"),
                    ));
                }
            }
        }
        for (field, days) in [
            ("caps.cooldown_days", self.caps.cooldown_days),
            (
                "eligibility.requires_support_contact_within_days",
                rules.requires_support_contact_within_days,
            ),
        ] {
            if let Some(d) = days {
                if !d.is_finite() || d < 0.0 {
                    return Err(CatalogProblem::new(
                        field,
                        format!("must be a finite number ≥ 0, got {d}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether sending this action needs channel consent.
    pub fn needs_consent(&self) -> bool {
        self.requires_consent.unwrap_or(matches!(
            self.channel,
            Channel::Email | Channel::Sms | Channel::Push
        ))
    }
}

/// Whether an `action` event records doing nothing — the id decision policies give their own
/// no-action answer (`no_action`) or the `none` channel of a catalog's no-action entry — and so
/// reached nobody: a control, not a contact (features and contact caps skip it).
pub fn is_no_action(action_id: Option<&str>, channel: Option<&Channel>) -> bool {
    action_id == Some(NO_ACTION_ID) || channel.is_some_and(|c| c.as_str() == "none")
}

/// The id decision policies give their own "do nothing" answer when the catalog has no
/// no-action entry.
pub const NO_ACTION_ID: &str = "no_action";

/// The action catalog.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The actions, in a stable order (the order of per-action features).
    #[serde(rename = "action")]
    pub actions: Vec<Action>,
}

impl Catalog {
    /// Reads a catalog from TOML (`[[action]]` tables) or JSON (`{"action": [...]}`).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, JourneyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| JourneyError::io(path, e))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let catalog: Catalog = if is_json {
            serde_json::from_str(&text).map_err(|e| JourneyError::Invalid {
                file: path.to_path_buf(),
                problem: e.to_string(),
            })?
        } else {
            crate::config_file::from_toml_str(&text).map_err(|p| JourneyError::Invalid {
                file: path.to_path_buf(),
                problem: p.to_string(),
            })?
        };
        catalog
            .validate()
            .map_err(|problem| JourneyError::Invalid {
                file: path.to_path_buf(),
                problem: problem.to_string(),
            })?;
        Ok(catalog)
    }

    /// Checks ids are unique and non-empty and numbers are finite and in range.
    pub fn validate(&self) -> Result<(), CatalogProblem> {
        if self.actions.is_empty() {
            return Err(CatalogProblem::new("action", "the catalog has no actions"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, action) in self.actions.iter().enumerate() {
            let at = |field: &str| format!("action[{i}] ('{}').{field}", action.id);
            if action.id.trim().is_empty() {
                return Err(CatalogProblem::new(
                    format!("action[{i}].id"),
                    "must not be empty",
                ));
            }
            if !seen.insert(action.id.as_str()) {
                return Err(CatalogProblem::new(at("id"), "duplicate id"));
            }
            action
                .validate()
                .map_err(|p| CatalogProblem::new(at(&p.key), p.problem))?;
        }
        Ok(())
    }

    /// Looks an action up by id.
    pub fn get(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// What a model trained with this catalog remembers of its actions.
    pub fn trained_actions(&self) -> Vec<TrainedAction> {
        self.actions.iter().map(TrainedAction::of).collect()
    }

    /// Writes the catalog as TOML.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_round_trips_through_toml_and_rejects_bad_values() {
        let text = r#"
[[action]]
id = "email_discount"
channel = "email"
kind = "sales"
value = 40.0
cost = 2.5
caps = { per_7_days = 1, cooldown_days = 3.0 }

[[action]]
id = "nothing"
channel = "web"
kind = "none"
value = 0.0
cost = 0.0
"#;
        let catalog: Catalog = toml::from_str(text).unwrap();
        catalog.validate().unwrap();
        assert!(catalog.actions[0].needs_consent());
        assert!(!catalog.actions[1].needs_consent());
        let again: Catalog = toml::from_str(&catalog.to_toml().unwrap()).unwrap();
        assert_eq!(again, catalog);

        let mut bad = catalog.clone();
        bad.actions[0].cost = -1.0;
        assert!(bad.validate().unwrap_err().to_string().contains("cost"));
        let mut dup = catalog.clone();
        dup.actions[1].id = "email_discount".into();
        assert!(dup
            .validate()
            .unwrap_err()
            .to_string()
            .contains("duplicate"));
        let unknown = text.replace("cost = 2.5", "cost = 2.5\ncolour = \"red\"");
        assert!(toml::from_str::<Catalog>(&unknown)
            .unwrap_err()
            .to_string()
            .contains("colour"));
    }
}
