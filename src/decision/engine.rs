//! The decision engine: one request in, one ranked and explained answer out. It featurises the
//! customer's history at the decision instant (the same function as training), scores churn,
//! sentiment and every candidate's conversion with and without the action, applies the policy,
//! and logs the decision. No HTTP here: the server's handlers parse, call [`Engine::decide`] and
//! map errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::catalog::{Action, ActionKind, Catalog};
use super::state::{CandidateScores, ConsentMap, CustomerState, Exposure, Unsubscribes};
use super::{Decision, DecisionError, Policy, PolicySet};
use crate::features::{FeatureAccumulator, FeatureSpec};
use crate::journey::{AttrValue, AttributeKind, Channel, Event, EventType, Timestamp};
use crate::models::registry::{ModelPathsUpdate, ModelSet};
use crate::models::{ModelError, Scorer};
use crate::store::{DecisionRecord, LoggedAction, Store, StoreError};

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
        }
    }
}

/// A client mistake or a server failure while deciding; [`EngineError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    InvalidField {
        /// Stable code (`invalid_field`, `too_many`, `unknown_action`, `unknown_policy`, …).
        code: &'static str,
        /// The field, as a JSON path (`candidates[3]`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A model failed to score.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The policy refused the inputs.
    #[error("{0}")]
    Policy(String),
}

impl EngineError {
    pub(crate) fn field(
        code: &'static str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        EngineError::InvalidField {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidField { code, .. } => code,
            EngineError::Store(e) => e.code(),
            EngineError::Model(e) => e.code(),
            EngineError::Policy(_) => "invalid_input",
        }
    }

    /// Whether the caller caused it (4xx) rather than the server (5xx).
    pub fn is_client_error(&self) -> bool {
        match self {
            EngineError::InvalidField { .. } | EngineError::Policy(_) => true,
            EngineError::Store(e) => e.is_client_error(),
            EngineError::Model(_) => false,
        }
    }

    /// The offending field, when there is one.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            EngineError::InvalidField { field, .. } => Some(field),
            _ => None,
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

/// What the caller knows about the customer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPayload {
    /// Attributes by name, as in the customer table (numbers, booleans, dates as RFC 3339
    /// strings, categories as strings). Unknown names are ignored.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// One journey event of the customer, sent inline or to `POST /v1/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
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

/// A candidate: a catalog action id, or an inline action.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CandidatePayload {
    /// A catalog action id.
    Id(String),
    /// An action defined by the caller (same fields as a catalog entry).
    #[schema(value_type = Object)]
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
#[serde(deny_unknown_fields)]
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
    #[serde(default)]
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

/// The numbers behind one model's score: the features that moved it most.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Explanation {
    /// Model role.
    pub model: String,
    /// The prediction.
    pub prediction: f64,
    /// Feature name, value, and how much setting it to the population's typical value moves the
    /// prediction (positive: this feature raises it), largest first.
    pub top_features: Vec<FeatureContribution>,
}

/// One feature's contribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeatureContribution {
    /// Feature name.
    pub feature: String,
    /// Its value for this customer.
    pub value: f32,
    /// Its contribution to the prediction.
    pub contribution: f64,
}

/// The answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionResponse {
    /// Unique id; report outcomes against it.
    pub decision_id: String,
    /// The customer.
    pub customer_id: String,
    /// The policy that decided.
    pub policy: String,
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
    /// Whether this was a dry run (not logged).
    pub dry_run: bool,
    /// Time spent deciding, in microseconds.
    pub latency_us: u64,
}

/// Everything the engine serves with.
pub struct Engine {
    models: RwLock<Arc<ModelSet>>,
    catalog: Catalog,
    policies: PolicySet,
    default_policy: String,
    store: Arc<Store>,
    limits: Limits,
    record_exposures: bool,
    reloading: std::sync::Mutex<()>,
}

/// Where the engine gets its parts.
pub struct EngineParts {
    /// Loaded models.
    pub models: ModelSet,
    /// The action catalog.
    pub catalog: Catalog,
    /// The decision policies.
    pub policies: PolicySet,
    /// Name of the policy used when a request names none.
    pub default_policy: String,
    /// The embedded database.
    pub store: Arc<Store>,
    /// Request limits.
    pub limits: Limits,
    /// Record each logged decision's chosen actions as `action` events in the customer's profile,
    /// so contact caps see them before the orchestration engine reports the send. Off by
    /// default: a decision is not a send (previews would burn caps, and reported sends would
    /// count twice).
    pub record_exposures: bool,
}

/// Ids (customers, actions) longer than the decision log accepts are refused up front.
/// Field names are built only on error (`format_args!`), so a valid request allocates none.
fn id_too_long(field: impl std::fmt::Display, text: &str) -> Result<(), EngineError> {
    if longer_than(text, crate::store::MAX_ID_CHARS) {
        return Err(EngineError::field(
            "too_long",
            field.to_string(),
            format!("ids are at most {} characters", crate::store::MAX_ID_CHARS),
        ));
    }
    Ok(())
}

/// Largest money amount accepted on an event: beyond it sums would overflow the features.
pub const MAX_EVENT_VALUE: f64 = 1e12;

/// Whether `text` has more than `max` characters (bytes bound characters, so short strings
/// are not counted).
fn longer_than(text: &str, max: usize) -> bool {
    text.len() > max && text.chars().count() > max
}

fn too_long(field: impl std::fmt::Display, text: &str, limits: &Limits) -> Result<(), EngineError> {
    if longer_than(text, limits.max_string_chars) {
        return Err(EngineError::field(
            "too_long",
            field.to_string(),
            format!("longer than {} characters", limits.max_string_chars),
        ));
    }
    Ok(())
}

fn parse_time(field: impl std::fmt::Display, text: &str) -> Result<Timestamp, EngineError> {
    Timestamp::parse_date_or_datetime(text)
        .map_err(|e| EngineError::field("invalid_field", field.to_string(), e.to_string()))
}

/// Converts an event payload into an event, naming the field of any problem.
pub fn event_from_payload(
    payload: &EventPayload,
    customer_id: Option<&str>,
    field: impl std::fmt::Display,
    limits: &Limits,
) -> Result<Event, EngineError> {
    let customer = match (&payload.customer_id, customer_id) {
        (Some(own), Some(decision)) if own != decision => {
            return Err(EngineError::field(
                "invalid_field",
                format!("{field}.customer_id"),
                format!("'{own}' differs from the decision's customer '{decision}'"),
            ))
        }
        (Some(own), _) => own.clone(),
        (None, Some(decision)) => decision.to_string(),
        (None, None) => {
            return Err(EngineError::field(
                "missing_field",
                format!("{field}.customer_id"),
                "required",
            ))
        }
    };
    if customer.trim().is_empty() {
        return Err(EngineError::field(
            "invalid_field",
            format!("{field}.customer_id"),
            "must not be empty",
        ));
    }
    id_too_long(format_args!("{field}.customer_id"), &customer)?;
    let timestamp = parse_time(format_args!("{field}.timestamp"), &payload.timestamp)?;
    if payload.event_type.trim().is_empty() {
        return Err(EngineError::field(
            "invalid_field",
            format!("{field}.event_type"),
            "must not be empty",
        ));
    }
    too_long(
        format_args!("{field}.event_type"),
        &payload.event_type,
        limits,
    )?;
    if let Some(value) = payload.value {
        if !(value.is_finite() && value.abs() <= MAX_EVENT_VALUE) {
            return Err(EngineError::field(
                "invalid_field",
                format!("{field}.value"),
                format!("must be a finite number within ±{MAX_EVENT_VALUE:e}"),
            ));
        }
    }
    if let Some(action_id) = &payload.action_id {
        id_too_long(format_args!("{field}.action_id"), action_id)?;
    }
    for (name, text) in [
        ("channel", &payload.channel),
        ("action_id", &payload.action_id),
        ("text", &payload.text),
    ] {
        if let Some(text) = text {
            too_long(format_args!("{field}.{name}"), text, limits)?;
        }
    }
    Ok(Event {
        customer_id: customer,
        timestamp,
        event_type: EventType::parse(&payload.event_type),
        channel: payload.channel.as_deref().map(Channel::parse),
        action_id: payload.action_id.clone(),
        value: payload.value,
        text: payload.text.clone(),
    })
}

/// Customer attributes from JSON, in the spec's attribute order, typed as the spec says.
pub fn attributes_from_json(
    spec: &FeatureSpec,
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<AttrValue>, EngineError> {
    use serde_json::Value;
    spec.attributes
        .iter()
        .map(|encoding| {
            let field = || format!("customer.attributes.{}", encoding.name);
            let wrong = |expected: &str| {
                EngineError::field("invalid_field", field(), format!("must be {expected}"))
            };
            let Some(value) = attributes.get(&encoding.name) else {
                return Ok(AttrValue::Missing);
            };
            if value.is_null() {
                return Ok(AttrValue::Missing);
            }
            Ok(match encoding.kind {
                AttributeKind::Numeric => match value.as_f64() {
                    Some(v) if v.is_finite() => AttrValue::Number(v),
                    _ => return Err(wrong("a finite number")),
                },
                AttributeKind::Boolean => match value {
                    Value::Bool(b) => AttrValue::Bool(*b),
                    _ => return Err(wrong("true or false")),
                },
                AttributeKind::Date => match value.as_str() {
                    Some(text) => AttrValue::Date(parse_time(field(), text)?),
                    None => return Err(wrong("a date or RFC 3339 time string")),
                },
                AttributeKind::Categorical => match value {
                    Value::String(s) => AttrValue::Category(s.clone()),
                    Value::Number(n) => AttrValue::Category(n.to_string()),
                    Value::Bool(b) => AttrValue::Category(b.to_string()),
                    _ => return Err(wrong("a string")),
                },
            })
        })
        .collect()
}

/// What the models said about one customer.
struct CustomerScores {
    features: Vec<f32>,
    p_churn: Option<f64>,
    sentiment: Option<f64>,
    customer_value: f64,
}

impl Engine {
    /// Builds an engine from its parts; fails when the default policy does not exist.
    pub fn new(parts: EngineParts) -> Result<Self, EngineError> {
        if parts.policies.get(&parts.default_policy).is_none() {
            return Err(EngineError::field(
                "unknown_policy",
                "default_policy",
                format!(
                    "no policy named '{}' (have: {})",
                    parts.default_policy,
                    parts.policies.names().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(Engine {
            models: RwLock::new(Arc::new(parts.models)),
            catalog: parts.catalog,
            policies: parts.policies,
            default_policy: parts.default_policy,
            store: parts.store,
            limits: parts.limits,
            record_exposures: parts.record_exposures,
            reloading: std::sync::Mutex::new(()),
        })
    }

    /// The models serving now.
    pub fn models(&self) -> Arc<ModelSet> {
        match self.models.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Loads new models (the current folders, with `update`'s replacing them), checks them, and
    /// swaps them in whole; on any error the old ones keep serving. Reloads run one at a time,
    /// so a slow reload cannot overwrite a newer one.
    pub fn reload(&self, update: Option<&ModelPathsUpdate>) -> Result<Arc<ModelSet>, ModelError> {
        let _one_at_a_time = match self.reloading.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let current = self.models();
        let paths = match update {
            Some(update) => current.paths.merged(update),
            None => current.paths.clone(),
        };
        let fresh = Arc::new(ModelSet::load(&paths)?);
        check_models(&fresh, &self.catalog)?;
        match self.models.write() {
            Ok(mut guard) => *guard = Arc::clone(&fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&fresh),
        }
        Ok(fresh)
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The policies.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// The default policy's name.
    pub fn default_policy(&self) -> &str {
        &self.default_policy
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A shared handle on the store, for work moved off the request thread.
    pub fn store_handle(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decides for one request.
    pub fn decide(&self, request: &DecisionRequest) -> Result<DecisionResponse, EngineError> {
        self.decide_at(request, "")
    }

    /// Decides for one request; `field_prefix` prefixes field names in errors (batch items).
    pub fn decide_at(
        &self,
        request: &DecisionRequest,
        field_prefix: &str,
    ) -> Result<DecisionResponse, EngineError> {
        let started = Instant::now();
        let limits = &self.limits;
        let f = |name: &str| format!("{field_prefix}{name}");
        if request.customer_id.trim().is_empty() {
            return Err(EngineError::field(
                "invalid_field",
                f("customer_id"),
                "must not be empty",
            ));
        }
        id_too_long(
            format_args!("{field_prefix}customer_id"),
            &request.customer_id,
        )?;
        let policy_name = request.policy.as_deref().unwrap_or(&self.default_policy);
        let policy: &Policy = self.policies.get(policy_name).ok_or_else(|| {
            EngineError::field(
                "unknown_policy",
                f("policy"),
                format!(
                    "no policy named '{policy_name}' (have: {})",
                    self.policies.names().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let now = match &request.context.timestamp {
            Some(text) => parse_time(format_args!("{field_prefix}context.timestamp"), text)?,
            None => Timestamp::now(),
        };
        for (name, value) in [
            ("context.channel", &request.context.channel),
            ("context.placement", &request.context.placement),
        ] {
            if let Some(text) = value {
                too_long(format_args!("{field_prefix}{name}"), text, limits)?;
            }
        }
        let max_actions = match request.max_actions {
            Some(0) => {
                return Err(EngineError::field(
                    "invalid_field",
                    f("max_actions"),
                    "must be at least 1",
                ))
            }
            Some(n) if n > limits.max_actions => {
                return Err(EngineError::field(
                    "too_many",
                    f("max_actions"),
                    format!("at most {} actions per decision", limits.max_actions),
                ))
            }
            other => other,
        };
        let candidates = self.candidates(request, field_prefix)?;

        // History: inline, or the profile store's.
        let stored;
        let inline: Vec<Event>;
        let history: &[Event] = match &request.history {
            Some(events) => {
                if events.len() > limits.max_history {
                    return Err(EngineError::field(
                        "too_many",
                        f("history"),
                        format!("at most {} events", limits.max_history),
                    ));
                }
                let mut parsed = events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        event_from_payload(
                            e,
                            Some(&request.customer_id),
                            format_args!("{field_prefix}history[{i}]"),
                            limits,
                        )
                    })
                    .collect::<Result<Vec<Event>, EngineError>>()?;
                parsed.sort_by_key(|e| e.timestamp);
                inline = parsed;
                &inline
            }
            None => {
                stored = self.store.history(&request.customer_id)?;
                stored.as_slice()
            }
        };

        let models = self.models();
        let scores = self.score_customer(&models, request, history, now, field_prefix)?;
        let ids: Vec<&str> = candidates
            .iter()
            .map(|a| a.model_as.as_deref().unwrap_or(&a.id))
            .collect();
        let (p_none, p_actions) = match (&models.conversion, &scores.features) {
            (Some(conversion), features) if !features.is_empty() => {
                let (none, per) = conversion.score(features, &ids)?;
                (Some(none), per)
            }
            _ => (None, vec![None; ids.len()]),
        };
        let scored: Vec<CandidateScores<'_>> = candidates
            .iter()
            .zip(&p_actions)
            .map(|(action, p)| CandidateScores {
                action,
                p_convert: *p,
                p_convert_no_action: p.and(p_none),
            })
            .collect();
        let state = customer_state(request, history, now, &scores);
        let (decision_id, seed) = new_decision_id();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut decision = policy
            .decide_with_max(&state, &scored, max_actions, &mut rng)
            .map_err(|e| {
                let field = match &e {
                    DecisionError::InvalidInput { field, .. } => field.clone(),
                    DecisionError::DuplicateCandidate { index, .. } => {
                        format!("candidates[{index}]")
                    }
                };
                EngineError::field(e.code(), f(&field), e.to_string())
            })?;
        // Reasons and the passed-over candidates are the explanation: only on request, which
        // halves the answer the orchestration engine has to read.
        if !request.explain {
            for action in &mut decision.actions {
                action.reasons.clear();
            }
            decision.passed_over.clear();
        }
        let explanations = if request.explain {
            explain(&models, &scores.features)
        } else {
            Vec::new()
        };
        let model_versions: BTreeMap<String, String> = models.versions().into_iter().collect();
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if !request.dry_run {
            let record = DecisionRecord {
                decision_id: decision_id.clone(),
                customer_id: request.customer_id.clone(),
                policy: policy_name.to_string(),
                experiment: None,
                actions: decision
                    .actions
                    .iter()
                    .map(|a| LoggedAction {
                        action_id: a.action_id.clone(),
                        rank: a.rank,
                        score: a.score,
                        propensity: a.propensity,
                    })
                    .collect(),
                model_versions: model_versions.clone(),
                context: serde_json::to_value(&request.context).unwrap_or_default(),
                created: now,
                latency_us,
                dry_run: false,
            };
            self.store.record_decision(record)?;
            if self.record_exposures {
                let sent: Vec<Event> = decision
                    .actions
                    .iter()
                    .filter(|a| a.kind != ActionKind::None)
                    .map(|a| Event {
                        customer_id: request.customer_id.clone(),
                        timestamp: now,
                        event_type: EventType::Action,
                        channel: Some(a.channel.clone()),
                        action_id: Some(a.action_id.clone()),
                        value: None,
                        text: None,
                    })
                    .collect();
                if !sent.is_empty() && request.history.is_none() {
                    self.store.append_events(&sent)?;
                }
            }
        }
        Ok(DecisionResponse {
            decision_id,
            customer_id: request.customer_id.clone(),
            policy: policy_name.to_string(),
            decision,
            p_churn: scores.p_churn,
            sentiment: scores.sentiment,
            model_versions,
            explanations,
            dry_run: request.dry_run,
            latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        })
    }

    fn candidates(
        &self,
        request: &DecisionRequest,
        field_prefix: &str,
    ) -> Result<Vec<Action>, EngineError> {
        let f = |name: String| format!("{field_prefix}{name}");
        let Some(list) = &request.candidates else {
            return Ok(self.catalog.actions.clone());
        };
        if list.len() > self.limits.max_candidates {
            return Err(EngineError::field(
                "too_many",
                f("candidates".into()),
                format!("at most {} candidates", self.limits.max_candidates),
            ));
        }
        list.iter()
            .enumerate()
            .map(|(i, candidate)| match candidate {
                CandidatePayload::Id(id) => self.catalog.get(id).cloned().ok_or_else(|| {
                    EngineError::field(
                        "unknown_action",
                        f(format!("candidates[{i}]")),
                        format!("'{id}' is not in the catalog"),
                    )
                }),
                CandidatePayload::Inline(action) => {
                    id_too_long(format_args!("{field_prefix}candidates[{i}].id"), &action.id)?;
                    action.validate().map_err(|(key, problem)| {
                        EngineError::field(
                            "invalid_field",
                            f(format!("candidates[{i}].{key}")),
                            problem,
                        )
                    })?;
                    Ok((**action).clone())
                }
            })
            .collect()
    }

    fn score_customer(
        &self,
        models: &ModelSet,
        request: &DecisionRequest,
        history: &[Event],
        now: Timestamp,
        field_prefix: &str,
    ) -> Result<CustomerScores, EngineError> {
        let Some(spec) = &models.spec else {
            return Ok(CustomerScores {
                features: Vec::new(),
                p_churn: None,
                sentiment: None,
                customer_value: 0.0,
            });
        };
        let attributes = match &request.customer {
            Some(customer) => Some(attributes_from_json(spec, &customer.attributes).map_err(
                |e| match e {
                    EngineError::InvalidField {
                        code,
                        field,
                        message,
                    } => EngineError::InvalidField {
                        code,
                        field: format!("{field_prefix}{field}"),
                        message,
                    },
                    other => other,
                },
            )?),
            None => None,
        };
        // Fill the sentiment slots only if the models were trained with them filled (the
        // registry checked that it is the same sentiment model).
        let scorer = models
            .sentiment
            .as_ref()
            .filter(|_| spec.sentiment_model.is_some())
            .map(|s| s as &dyn crate::features::TextScorer);
        let mut accumulator = FeatureAccumulator::new(spec, now, scorer);
        for event in history {
            accumulator.observe(event);
        }
        let features = accumulator.finish(attributes.as_deref());
        let p_churn = match &models.churn {
            Some(churn) => churn
                .scorer
                .predict_proba(&features, features.len())?
                .first()
                .copied(),
            None => None,
        };
        let value = |name: &str| spec.index_of(name).map(|i| f64::from(features[i]));
        let sentiment = match value("texts_90d") {
            Some(n) if n > 0.0 => value("sentiment_mean_90d"),
            _ => None,
        };
        // Customer value for retention: a year's revenue so far (what leaving would cost).
        let customer_value = value("revenue_365d")
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .max(0.0);
        Ok(CustomerScores {
            features,
            p_churn,
            sentiment,
            customer_value,
        })
    }
}

/// A model set the service can decide with: at least one tabular model, and every action the
/// models track in the catalog, so a renamed or missing action is caught at load time, not
/// mid-request.
pub fn check_models(models: &ModelSet, catalog: &Catalog) -> Result<(), ModelError> {
    let Some(spec) = &models.spec else {
        return Err(ModelError::Invalid {
            path: PathBuf::from("models"),
            problem: "no churn or conversion model: decisions would have no scores".into(),
        });
    };
    check_catalog(spec, catalog)
}

fn check_catalog(spec: &FeatureSpec, catalog: &Catalog) -> Result<(), ModelError> {
    for tracked in &spec.actions {
        if catalog.get(&tracked.id).is_none() {
            return Err(ModelError::FeatureMismatch {
                path: PathBuf::from("catalog"),
                problem: format!(
                    "the models track action '{}', which the catalog lacks",
                    tracked.id
                ),
            });
        }
    }
    Ok(())
}

fn customer_state(
    request: &DecisionRequest,
    history: &[Event],
    now: Timestamp,
    scores: &CustomerScores,
) -> CustomerState {
    let mut state = CustomerState::new(now);
    state.context_channel = request.context.channel.as_deref().map(Channel::parse);
    state.placement = request.context.placement.clone();
    state.p_churn = scores.p_churn;
    state.sentiment = scores.sentiment;
    state.customer_value = scores.customer_value;
    let mut consent = ConsentMap::new();
    if let Some(customer) = &request.customer {
        for channel in [Channel::Email, Channel::Sms, Channel::Push] {
            let key = format!("{}_consent", channel.as_str());
            if let Some(serde_json::Value::Bool(granted)) = customer.attributes.get(&key) {
                consent.set(channel, *granted);
            }
        }
    }
    state.consent = consent;
    let mut unsubscribed = Unsubscribes::default();
    for event in history.iter().filter(|e| e.timestamp < now) {
        match event.event_type {
            EventType::Unsubscribe => match &event.channel {
                Some(channel) => {
                    if !unsubscribed.channel(channel) {
                        unsubscribed.channels.push(channel.clone());
                    }
                }
                None => unsubscribed.all = true,
            },
            EventType::SupportTicket | EventType::Chat | EventType::Complaint => {
                state.last_support_contact = Some(
                    state
                        .last_support_contact
                        .map_or(event.timestamp, |t| t.max(event.timestamp)),
                );
            }
            EventType::Action => {
                if let (Some(action_id), Some(channel)) = (&event.action_id, &event.channel) {
                    state.exposures.push(Exposure {
                        at: event.timestamp,
                        action_id: action_id.clone(),
                        channel: channel.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    state.unsubscribed = unsubscribed;
    state
}

/// A 128-bit id in hex, laid out as a UUIDv7: 48 bits of milliseconds since the epoch, then 80
/// random bits. Unique without coordination between replicas, sortable by time, and, because
/// new ids land at the end of the decision log's index instead of anywhere in it, cheap to
/// insert however large the log grows. The random part seeds the decision's exploration, so a
/// logged decision can be replayed.
fn new_decision_id() -> (String, u64) {
    let mut rng = rand::rng();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let time = (millis as u64) & 0xffff_ffff_ffff;
    let (random_high, random_low) = (rng.next_u64() & 0xffff, rng.next_u64());
    let id = format!("{time:012x}{random_high:04x}{random_low:016x}");
    (id, random_low ^ (random_high << 48))
}

/// Top feature contributions of the churn model (and the conversion model under no action):
/// for each feature, the change in the prediction when that feature is replaced by the value a
/// customer with no history would have. Cheap (one batched call per model) and model-agnostic,
/// so ONNX models explain the same way as native ones.
fn explain(models: &ModelSet, features: &[f32]) -> Vec<Explanation> {
    let Some(spec) = &models.spec else {
        return Vec::new();
    };
    let baseline = FeatureAccumulator::new(spec, Timestamp(0), None).finish(None);
    let n = features.len();
    let mut out = Vec::new();
    let mut explain_one = |name: &str, scorer: &dyn Scorer, suffix: &[f32]| {
        let width = n + suffix.len();
        let changed: Vec<usize> = (0..n).filter(|&i| features[i] != baseline[i]).collect();
        let mut rows = Vec::with_capacity(width * (changed.len() + 1));
        rows.extend_from_slice(features);
        rows.extend_from_slice(suffix);
        for &i in &changed {
            let start = rows.len();
            rows.extend_from_slice(features);
            rows.extend_from_slice(suffix);
            rows[start + i] = baseline[i];
        }
        let Ok(p) = scorer.predict_proba(&rows, width) else {
            return;
        };
        let Some(&prediction) = p.first() else {
            return;
        };
        let names: Vec<&str> = spec.names().collect();
        let mut top: Vec<FeatureContribution> = changed
            .iter()
            .zip(p.iter().skip(1))
            .map(|(&i, &without)| FeatureContribution {
                feature: names.get(i).copied().unwrap_or("?").to_string(),
                value: features[i],
                contribution: prediction - without,
            })
            .filter(|c| c.contribution != 0.0)
            .collect();
        top.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        top.truncate(8);
        out.push(Explanation {
            model: name.to_string(),
            prediction,
            top_features: top,
        });
    };
    if let Some(churn) = &models.churn {
        explain_one("churn", &churn.scorer, &[]);
    }
    if let Some(conversion) = &models.conversion {
        let zeros = vec![0.0; conversion.treatments.len()];
        explain_one("conversion (no action)", &conversion.model.scorer, &zeros);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_ids_are_32_hex_digits_led_by_the_time() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (id, _) = new_decision_id();
        let (other, _) = new_decision_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(id, other);
        let millis = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
        assert!(millis >= before && millis < before + 60_000, "{id}");
        // Lexical order follows time: an id from an earlier millisecond sorts first.
        assert!(format!("{:012x}", before - 1).as_str() < &id[..12]);
    }

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
