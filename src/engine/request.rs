//! The decision API's wire types — what `POST /v1/decisions` (and the batch scorer) accept and
//! answer — and the request [`Limits`]. Plain data: turning a payload into domain values, with
//! the field named on every mistake, is [`super::validate`]'s job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::Action;
use crate::decision::Decision;
use crate::features::aspects::AspectSummary;
use crate::models::explain::Explanation;

/// Request limits; every one is a 4xx naming the field when exceeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Candidates per decision.
    pub max_candidates: usize,
    /// Inline history events per decision.
    pub max_history: usize,
    /// Characters of any string (ids, channel, event text).
    pub max_string_chars: usize,
    /// Actions returned per decision.
    pub max_actions: usize,
    /// Decisions per batch request.
    pub max_batch: usize,
    /// Events per `POST /v1/events`.
    pub max_events: usize,
    /// Keys of a decision's `context` beyond `channel`, `placement` and `timestamp` (they are
    /// logged with the decision).
    pub max_context_keys: usize,
    /// Bytes of a decision's `context` extras as JSON (they are logged with the decision).
    pub max_context_bytes: usize,
    /// How far past the server's clock a stored event may be dated, in seconds: the profile
    /// store keeps each customer's newest events, so far-future ones would push real history out.
    pub max_future_event_secs: u64,
    /// What to do with a customer attribute the models do not know (a typo such as `recncy`
    /// silently changes an answer): `warn` (default: decide, and say so in `warnings`) or
    /// `reject` (422 naming the attribute).
    pub unknown_attributes: UnknownAttributes,
}

/// How a decision treats customer attributes that no model uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownAttributes {
    /// Decide, and list them in the answer's `warnings`.
    #[default]
    Warn,
    /// Refuse the request (422 `invalid_field` naming the first one).
    Reject,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_candidates: 100,
            max_history: 2_000,
            max_string_chars: 4_096,
            max_actions: 10,
            max_batch: 1_000,
            max_events: 10_000,
            max_context_keys: 32,
            max_context_bytes: 4_096,
            max_future_event_secs: 86_400,
            unknown_attributes: UnknownAttributes::Warn,
        }
    }
}

/// The request context.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionContext {
    /// The channel the customer is on (`web`, `app`, `call_center`, …).
    #[serde(default)]
    pub channel: Option<String>,
    /// Where the answer will be shown (`homepage`, `checkout`, …).
    #[serde(default)]
    pub placement: Option<String>,
    /// The decision instant (RFC 3339); default: now.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Anything else the caller wants logged with the decision.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The experiment a decision was made under, and the customer's arm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentRef {
    /// The experiment's id.
    pub id: String,
    /// The arm.
    pub arm: String,
}

/// What the caller knows about the customer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct CustomerPayload {
    /// Attributes by name, as in the customer table (numbers, booleans, dates as RFC 3339
    /// strings, categories as strings), and `<channel>_consent` booleans. A name neither the
    /// models nor the consent rules use is reported in `warnings` (or refused, when the service
    /// sets `limits.unknown_attributes = "reject"`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}
crate::wire::objects_only!(CustomerPayload, serialize);

/// One journey event of the customer, sent inline or to `POST /v1/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct EventPayload {
    /// The customer (optional inline in a decision: it is the decision's customer).
    #[serde(default)]
    pub customer_id: Option<String>,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// What happened (`visit`, `purchase`, `support_ticket`, `action`, …).
    pub event_type: String,
    /// Where.
    #[serde(default)]
    pub channel: Option<String>,
    /// Which action (on `action` events).
    #[serde(default)]
    pub action_id: Option<String>,
    /// Money, for purchases and conversions.
    #[serde(default)]
    pub value: Option<f64>,
    /// Free text of tickets, chats, reviews and complaints.
    #[serde(default)]
    pub text: Option<String>,
}
crate::wire::objects_only!(EventPayload, serialize);

/// A candidate: a catalog action id, or an inline action.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CandidatePayload {
    /// A catalog action id.
    Id(String),
    /// An action defined by the caller (same fields as a catalog entry).
    Inline(Box<Action>),
}

// Hand-written rather than `#[serde(untagged)]`: an untagged enum buffers every candidate
// before trying each variant (a quarter of a request's parse time) and reports a mistake in an
// inline action only as "did not match any variant"; this visitor picks the variant from the
// JSON type and lets the action's own errors (with their field) through.
impl<'de> Deserialize<'de> for CandidatePayload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CandidateVisitor;
        impl<'de> serde::de::Visitor<'de> for CandidateVisitor {
            type Value = CandidatePayload;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an action id (string) or an inline action (object)")
            }
            fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<Self::Value, E> {
                Ok(CandidatePayload::Id(id.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, id: String) -> Result<Self::Value, E> {
                Ok(CandidatePayload::Id(id))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                map: M,
            ) -> Result<Self::Value, M::Error> {
                let action =
                    Action::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(CandidatePayload::Inline(Box::new(action)))
            }
        }
        deserializer.deserialize_any(CandidateVisitor)
    }
}

/// `POST /v1/decisions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct DecisionRequest {
    /// The customer.
    pub customer_id: String,
    /// The moment of the journey.
    #[serde(default)]
    pub context: DecisionContext,
    /// Attributes (optional).
    #[serde(default)]
    pub customer: Option<CustomerPayload>,
    /// Recent events; when absent, the profile store's history is used.
    #[serde(default)]
    pub history: Option<Vec<EventPayload>>,
    /// Candidates; default: the whole catalog.
    #[serde(default)]
    pub candidates: Option<Vec<CandidatePayload>>,
    /// Most actions to return (default: the policy's).
    #[serde(default, deserialize_with = "crate::wire::optional_integer")]
    pub max_actions: Option<usize>,
    /// Policy name (default: the configured default policy).
    #[serde(default)]
    pub policy: Option<String>,
    /// Add the top feature contributions of each model.
    #[serde(default)]
    pub explain: bool,
    /// Decide without logging the decision or recording exposures.
    #[serde(default)]
    pub dry_run: bool,
}
crate::wire::objects_only!(DecisionRequest, serialize);

/// The answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionResponse {
    /// Unique id; report outcomes against it.
    pub decision_id: String,
    /// The customer.
    pub customer_id: String,
    /// The policy that decided.
    pub policy: String,
    /// The experiment and arm the customer was assigned to, when an experiment decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentRef>,
    /// The ranked actions, the ineligible candidates with reasons, and warnings.
    pub decision: Decision,
    /// P(churn) of the customer, when a churn model is loaded.
    pub p_churn: Option<f64>,
    /// Recent sentiment (P(positive)), when the customer wrote something recently.
    pub sentiment: Option<f64>,
    /// Model role → version.
    pub model_versions: BTreeMap<String, String>,
    /// Explanations, when asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<Explanation>,
    /// With `explain` and a recent sentiment below 0.5: what the customer's texts of the last
    /// 90 days were about (the default aspect taxonomy), aspects with the most negative
    /// sentences first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sentiment_aspects: Vec<AspectSummary>,
    /// Whether this was a dry run (not logged).
    pub dry_run: bool,
    /// Time spent deciding, in microseconds.
    pub latency_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_candidates_report_their_own_field_errors() {
        let parsed: Result<Vec<CandidatePayload>, _> = serde_json::from_str(
            r#"["email_discount", {"id": "x", "channel": "email", "kind": "sales", "value": 1, "cost": "a"}]"#,
        );
        let message = parsed.map(|_| ()).unwrap_err().to_string();
        assert!(message.contains("invalid type"), "{message}");
        let parsed: Vec<CandidatePayload> = serde_json::from_str(
            r#"["email_discount", {"id": "x", "channel": "email", "kind": "sales", "value": 1, "cost": 0}]"#,
        )
        .unwrap_or_default();
        assert!(
            matches!(&parsed[..], [CandidatePayload::Id(id), CandidatePayload::Inline(a)]
            if id == "email_discount" && a.id == "x")
        );
        let number: Result<CandidatePayload, _> = serde_json::from_str("3");
        let message = number.map(|_| ()).unwrap_err().to_string();
        assert!(
            message.contains("an action id (string) or an inline action"),
            "{message}"
        );
    }
}
