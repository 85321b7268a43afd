//! Payload → domain values: every check of a decision request, each mistake a
//! [`EngineError::InvalidField`] naming the field as a JSON path relative to the request
//! (`candidates[3].cost`). Field names are built only on error, so a valid request allocates
//! none; a caller that nests requests (the batch route) prefixes the path itself.

use crate::catalog::{Action, Catalog};
use crate::decision::{ConsentMap, Policy, PolicySet};
use crate::error::ErrorCode;
use crate::features::FeatureSpec;
use crate::journey::{AttrValue, AttributeKind, Channel, Event, EventType, Timestamp};
use crate::models::registry::ModelSet;

use super::request::{
    CandidatePayload, CustomerPayload, DecisionRequest, EventPayload, Limits, UnknownAttributes,
};
use super::EngineError;

/// A decision request, checked: everything the engine needs that does not depend on the models
/// or the store.
pub struct ValidRequest<'a> {
    /// The policy that decides.
    pub policy: &'a Policy,
    /// Its name.
    pub policy_name: &'a str,
    /// The decision instant.
    pub now: Timestamp,
    /// Most actions to return, when the request caps them.
    pub max_actions: Option<usize>,
    /// The candidates (the catalog's actions when the request names none).
    pub candidates: Vec<Action>,
    /// The inline history, sorted by time; `None` when the profile store's is to be used.
    pub history: Option<Vec<Event>>,
    /// Consent per channel, from the `<channel>_consent` attributes.
    pub consent: ConsentMap,
    /// The channel the customer is on now.
    pub context_channel: Option<Channel>,
    /// The customer's attributes in the models' order, typed as their spec says (`None` when
    /// the request sends none).
    pub attributes: Option<Vec<AttrValue>>,
    /// What the answer should warn about (attributes no model uses).
    pub warnings: Vec<String>,
}

/// What the checks need from the engine.
pub struct Checks<'a> {
    /// Request limits.
    pub limits: &'a Limits,
    /// The action catalog.
    pub catalog: &'a Catalog,
    /// The loaded policies.
    pub policies: &'a PolicySet,
    /// The policy of a request that names none.
    pub default_policy: &'a str,
    /// The models serving: their feature spec types the customer's attributes, and the
    /// conversion model must know what an inline candidate is scored as (`model_as`).
    pub models: &'a ModelSet,
}

impl<'a> Checks<'a> {
    /// Checks a decision request.
    pub fn request(&self, request: &'a DecisionRequest) -> Result<ValidRequest<'a>, EngineError> {
        let limits = self.limits;
        check_id("customer_id", &request.customer_id)?;
        let policy_name = request.policy.as_deref().unwrap_or(self.default_policy);
        let policy = self.policies.get(policy_name).ok_or_else(|| {
            EngineError::field(
                ErrorCode::UnknownPolicy,
                "policy",
                format!(
                    "no policy named '{policy_name}' (have: {})",
                    self.policies.names().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        let now = match &request.context.timestamp {
            Some(text) => parse_time("context.timestamp", text)?,
            None => Timestamp::now(),
        };
        for (name, value) in [
            ("context.channel", &request.context.channel),
            ("context.placement", &request.context.placement),
        ] {
            if let Some(text) = value {
                too_long(name, text, limits)?;
            }
        }
        context_extras(request, limits)?;
        let max_actions = match request.max_actions {
            Some(0) => {
                return Err(EngineError::field(
                    ErrorCode::InvalidField,
                    "max_actions",
                    "must be at least 1",
                ))
            }
            Some(n) if n > limits.max_actions => {
                return Err(EngineError::field(
                    ErrorCode::TooMany,
                    "max_actions",
                    format!("at most {} actions per decision", limits.max_actions),
                ))
            }
            other => other,
        };
        let candidates = self.candidates(request)?;
        let history = match &request.history {
            Some(events) => Some(self.inline_history(&request.customer_id, events)?),
            None => None,
        };
        let attributes = match (&request.customer, self.models.spec.as_ref()) {
            (Some(customer), Some(spec)) => Some(attributes_from_json(spec, &customer.attributes)?),
            _ => None,
        };
        let warnings = match (&request.customer, self.models.spec.as_ref()) {
            (Some(customer), Some(spec)) => unknown_attributes(spec, customer, limits)?,
            _ => Vec::new(),
        };
        Ok(ValidRequest {
            policy,
            policy_name,
            now,
            max_actions,
            candidates,
            history,
            consent: consent(request),
            context_channel: request.context.channel.as_deref().map(Channel::parse),
            attributes,
            warnings,
        })
    }

    fn candidates(&self, request: &DecisionRequest) -> Result<Vec<Action>, EngineError> {
        let Some(list) = &request.candidates else {
            return Ok(self.catalog.actions.clone());
        };
        if list.len() > self.limits.max_candidates {
            return Err(EngineError::field(
                ErrorCode::TooMany,
                "candidates",
                format!("at most {} candidates", self.limits.max_candidates),
            ));
        }
        list.iter()
            .enumerate()
            .map(|(i, candidate)| match candidate {
                CandidatePayload::Id(id) => self.catalog.get(id).cloned().ok_or_else(|| {
                    EngineError::field(
                        ErrorCode::UnknownAction,
                        format!("candidates[{i}]"),
                        format!("'{id}' is not in the catalog"),
                    )
                }),
                CandidatePayload::Inline(action) => {
                    check_id(format_args!("candidates[{i}].id"), &action.id)?;
                    action.validate().map_err(|p| {
                        EngineError::field(
                            ErrorCode::InvalidField,
                            format!("candidates[{i}].{}", p.key),
                            p.problem,
                        )
                    })?;
                    // Scored as an action the model never saw, it would silently be ineligible.
                    if let (Some(model_as), Some(conversion)) =
                        (&action.model_as, &self.models.conversion)
                    {
                        if !conversion.knows(model_as) {
                            return Err(EngineError::field(
                                ErrorCode::InvalidField,
                                format!("candidates[{i}].model_as"),
                                format!(
                                    "the conversion model knows no action '{model_as}' (it knows: {})",
                                    conversion.treatments.join(", ")
                                ),
                            ));
                        }
                    }
                    Ok((**action).clone())
                }
            })
            .collect()
    }

    fn inline_history(
        &self,
        customer_id: &str,
        events: &[EventPayload],
    ) -> Result<Vec<Event>, EngineError> {
        if events.len() > self.limits.max_history {
            return Err(EngineError::field(
                ErrorCode::TooMany,
                "history",
                format!("at most {} events", self.limits.max_history),
            ));
        }
        let mut parsed = events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                event_from_payload(
                    e,
                    Some(customer_id),
                    format_args!("history[{i}]"),
                    self.limits,
                )
            })
            .collect::<Result<Vec<Event>, EngineError>>()?;
        parsed.sort_by_key(|e| e.timestamp);
        Ok(parsed)
    }
}

/// The caller's extra context keys are logged with the decision: bounded in number and size.
fn context_extras(request: &DecisionRequest, limits: &Limits) -> Result<(), EngineError> {
    let extra = &request.context.extra;
    if extra.is_empty() {
        return Ok(());
    }
    if extra.len() > limits.max_context_keys {
        return Err(EngineError::field(
            ErrorCode::TooMany,
            "context",
            format!(
                "at most {} keys beside channel, placement and timestamp",
                limits.max_context_keys
            ),
        ));
    }
    let bytes = serde_json::to_vec(extra).map_or(usize::MAX, |json| json.len());
    if bytes > limits.max_context_bytes {
        return Err(EngineError::field(
            ErrorCode::TooLong,
            "context",
            format!(
                "the extra keys take {bytes} bytes as JSON; at most {}",
                limits.max_context_bytes
            ),
        ));
    }
    Ok(())
}

/// Consent per channel from the customer's `<channel>_consent` boolean attributes.
fn consent(request: &DecisionRequest) -> ConsentMap {
    let mut consent = ConsentMap::new();
    if let Some(customer) = &request.customer {
        for channel in [Channel::Email, Channel::Sms, Channel::Push] {
            let key = format!("{}_consent", channel.as_str());
            if let Some(serde_json::Value::Bool(granted)) = customer.attributes.get(&key) {
                consent.set(channel, *granted);
            }
        }
    }
    consent
}

/// An id (of a customer, an action): not blank, at most as long as the decision log accepts,
/// and without control characters (ids are echoed in answers, logs and pages). Field names are
/// built only on error (`format_args!`), so a valid request allocates none.
pub(crate) fn check_id(field: impl std::fmt::Display, text: &str) -> Result<(), EngineError> {
    if text.trim().is_empty() {
        return Err(EngineError::field(
            ErrorCode::InvalidField,
            field.to_string(),
            "must not be empty",
        ));
    }
    if longer_than(text, crate::store::MAX_ID_CHARS) {
        return Err(EngineError::field(
            ErrorCode::TooLong,
            field.to_string(),
            format!("ids are at most {} characters", crate::store::MAX_ID_CHARS),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(EngineError::field(
            ErrorCode::InvalidField,
            field.to_string(),
            "ids must not contain control characters",
        ));
    }
    Ok(())
}

/// Journey events for the profile store (`POST /v1/events`): each checked as an inline event,
/// at most `limits.max_events`, and none dated more than `limits.max_future_event_secs` past
/// `now` — the store keeps each customer's newest events, so a far-future event would push
/// real history out.
pub fn events_for_store(
    payloads: &[EventPayload],
    limits: &Limits,
    now: Timestamp,
) -> Result<Vec<Event>, EngineError> {
    if payloads.len() > limits.max_events {
        return Err(EngineError::field(
            ErrorCode::TooMany,
            "events",
            format!("at most {} events per call", limits.max_events),
        ));
    }
    let skew_us = i64::try_from(limits.max_future_event_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000);
    let latest = Timestamp(now.0.saturating_add(skew_us));
    payloads
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let event = event_from_payload(payload, None, format_args!("events[{i}]"), limits)?;
            if event.timestamp > latest {
                return Err(EngineError::field(
                    ErrorCode::InvalidField,
                    format!("events[{i}].timestamp"),
                    format!(
                        "is more than {} s past the server's clock (limits.max_future_event_secs)",
                        limits.max_future_event_secs
                    ),
                ));
            }
            Ok(event)
        })
        .collect()
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
            ErrorCode::TooLong,
            field.to_string(),
            format!("longer than {} characters", limits.max_string_chars),
        ));
    }
    Ok(())
}

fn parse_time(field: impl std::fmt::Display, text: &str) -> Result<Timestamp, EngineError> {
    Timestamp::parse_date_or_datetime(text)
        .map_err(|e| EngineError::field(ErrorCode::InvalidField, field.to_string(), e.to_string()))
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
                ErrorCode::InvalidField,
                format!("{field}.customer_id"),
                format!("'{own}' differs from the decision's customer '{decision}'"),
            ))
        }
        (Some(own), _) => own.clone(),
        (None, Some(decision)) => decision.to_string(),
        (None, None) => {
            return Err(EngineError::field(
                ErrorCode::MissingField,
                format!("{field}.customer_id"),
                "required",
            ))
        }
    };
    check_id(format_args!("{field}.customer_id"), &customer)?;
    let timestamp = parse_time(format_args!("{field}.timestamp"), &payload.timestamp)?;
    if payload.event_type.trim().is_empty() {
        return Err(EngineError::field(
            ErrorCode::InvalidField,
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
                ErrorCode::InvalidField,
                format!("{field}.value"),
                format!("must be a finite number within ±{MAX_EVENT_VALUE:e}"),
            ));
        }
        // Money in: a refund is an event of its own, not a negative sale.
        let sale = matches!(
            EventType::parse(&payload.event_type),
            EventType::Purchase | EventType::Conversion
        );
        if sale && value < 0.0 {
            return Err(EngineError::field(
                ErrorCode::InvalidField,
                format!("{field}.value"),
                "must not be negative on a purchase or conversion (report a refund as an event of its own)",
            ));
        }
    }
    if let Some(action_id) = &payload.action_id {
        check_id(format_args!("{field}.action_id"), action_id)?;
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
        anonymous_id: None,
    })
}

/// The attributes of a request that neither the models' spec nor the consent rules use: a
/// warning each, or an error naming the first under `UnknownAttributes::Reject`.
fn unknown_attributes(
    spec: &FeatureSpec,
    customer: &CustomerPayload,
    limits: &Limits,
) -> Result<Vec<String>, EngineError> {
    let consent = |name: &str| {
        [Channel::Email, Channel::Sms, Channel::Push]
            .iter()
            .any(|c| name.strip_suffix("_consent") == Some(c.as_str()))
    };
    let mut warnings = Vec::new();
    for name in customer.attributes.keys() {
        if consent(name) || spec.attributes.iter().any(|a| a.name == *name) {
            continue;
        }
        let problem = match closest_attribute(spec, name) {
            Some(close) => format!("no model uses this attribute (did you mean '{close}'?)"),
            None => "no model uses this attribute".to_string(),
        };
        if limits.unknown_attributes == UnknownAttributes::Reject {
            return Err(EngineError::field(
                ErrorCode::InvalidField,
                format!("customer.attributes.{name}"),
                problem,
            ));
        }
        warnings.push(format!("customer.attributes.{name}: {problem}; ignored"));
    }
    Ok(warnings)
}

/// The spec's attribute nearest to `name` by edit distance, when it is a plausible typo (at
/// most two edits, or a third of the name).
fn closest_attribute<'a>(spec: &'a FeatureSpec, name: &str) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    spec.attributes
        .iter()
        .map(|a| (edit_distance(&a.name, name), a.name.as_str()))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance over characters (names are short: a two-row table suffices).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
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
                EngineError::field(
                    ErrorCode::InvalidField,
                    field(),
                    format!("must be {expected}"),
                )
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
