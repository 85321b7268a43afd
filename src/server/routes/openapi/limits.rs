//! The limits the service enforces, written into the OpenAPI document: what the derive macros
//! cannot state (ids, texts, numbers and lists bounded by constants or by the running service's
//! [`Limits`], timestamps, the context's keys). One table, so that the document and the checks
//! in [`crate::engine::validate`] and [`crate::store`] can be compared side by side; a test
//! fails when a rule no longer finds its field.

use serde_json::{json, Map, Value};

use crate::engine::{Limits, MAX_EVENT_VALUE};
use crate::store::{MAX_ID_CHARS, MAX_OUTCOME_TYPE_CHARS};

/// Control characters (Unicode `Cc`, what `char::is_control` tells), as a regex class body.
const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";

/// The characters `str::trim` strips (Unicode `White_Space`), as a regex class body.
const WHITE_SPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// An id: not blank, no control characters (the length is `maxLength`).
fn id_pattern() -> String {
    format!("^[^{CONTROL}]*[^{CONTROL}{WHITE_SPACE}][^{CONTROL}]*$")
}

/// Text with something besides white space in it.
fn not_blank_pattern() -> String {
    format!("[^{WHITE_SPACE}]")
}

/// An outcome type: no control characters and no white space at either end.
fn outcome_type_pattern() -> String {
    format!("^[^{CONTROL}{WHITE_SPACE}](?:[^{CONTROL}]*[^{CONTROL}{WHITE_SPACE}])?$")
}

fn id(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_CHARS,
        "pattern": id_pattern(),
        "description": format!("{description} (an id: 1–{MAX_ID_CHARS} characters, not blank, no control characters)"),
    })
}

fn nullable(mut schema: Value) -> Value {
    match schema.get("anyOf").and_then(Value::as_array).cloned() {
        Some(mut branches) => {
            branches.push(json!({"type": "null"}));
            schema["anyOf"] = Value::Array(branches);
        }
        None => {
            if let Some(kind) = schema.get("type").cloned() {
                schema["type"] = json!([kind, "null"]);
            }
        }
    }
    schema
}

/// An RFC 3339 date-time or a plain date, within years 1000–9999.
fn timestamp(description: &str) -> Value {
    let years = "^[1-9][0-9]{3}-";
    json!({
        "anyOf": [
            {"type": "string", "format": "date-time", "pattern": years},
            {"type": "string", "format": "date", "pattern": years},
        ],
        "description": format!("{description} (an RFC 3339 date-time, or a date meaning midnight UTC, within years 1000–9999)"),
    })
}

/// Where a rule applies: a property of a component schema, or the component itself.
enum Place {
    Property(&'static str, &'static str),
    Component(&'static str),
}

/// What a rule does there.
enum Change {
    /// Sets these keywords (the others stay).
    Merge(Value),
    /// Replaces the schema (its description is kept when the new one has none).
    Replace(Value),
}

fn rules(limits: &Limits) -> Vec<(Place, Change)> {
    use Change::{Merge, Replace};
    use Place::{Component, Property};
    let text = |max: usize| Merge(json!({"maxLength": max}));
    let non_negative = || Merge(json!({"minimum": 0}));
    let probability = || Merge(json!({"minimum": 0, "maximum": 1}));
    let count = || Merge(json!({"minimum": 0, "maximum": u32::MAX, "format": null}));
    let event_value = json!({
        "minimum": -MAX_EVENT_VALUE,
        "maximum": MAX_EVENT_VALUE,
        "description": format!("Money, for purchases and conversions: within ±{MAX_EVENT_VALUE:e}, and not negative on a purchase or conversion (a refund is an event of its own)."),
    });
    vec![
        (
            Property("DecisionRequest", "customer_id"),
            Replace(id("The customer")),
        ),
        (
            Property("DecisionRequest", "candidates"),
            Merge(json!({"maxItems": limits.max_candidates, "uniqueItems": true})),
        ),
        (
            Property("DecisionRequest", "history"),
            Merge(json!({"maxItems": limits.max_history})),
        ),
        (
            Property("DecisionRequest", "max_actions"),
            Merge(json!({"minimum": 1, "maximum": limits.max_actions})),
        ),
        (Component("DecisionContext"), Replace(context(limits))),
        (
            Property("EventPayload", "customer_id"),
            Replace(nullable(id(
                "The customer (optional inline in a decision: it is the decision's customer)",
            ))),
        ),
        (
            Property("EventPayload", "timestamp"),
            Replace(timestamp("When it happened")),
        ),
        (
            Property("EventPayload", "event_type"),
            Merge(json!({
                "minLength": 1,
                "maxLength": limits.max_string_chars,
                "pattern": not_blank_pattern(),
            })),
        ),
        (
            Property("EventPayload", "channel"),
            text(limits.max_string_chars),
        ),
        (
            Property("EventPayload", "action_id"),
            Replace(nullable(id("Which action (on `action` events)"))),
        ),
        (
            Property("EventPayload", "action_id"),
            text(limits.max_string_chars.min(MAX_ID_CHARS)),
        ),
        (Property("EventPayload", "value"), Merge(event_value)),
        (Component("EventPayload"), Merge(sales_are_not_negative())),
        (
            Property("EventPayload", "text"),
            text(limits.max_string_chars),
        ),
        (
            Property("EventsRequest", "events"),
            Merge(json!({
                "maxItems": limits.max_events,
                // Stored events name their customer; inline ones may leave it to the decision.
                "items": {"allOf": [
                    {"$ref": "#/components/schemas/EventPayload"},
                    {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
                ]},
            })),
        ),
        (
            Property("BatchRequest", "requests"),
            Merge(json!({"maxItems": limits.max_batch})),
        ),
        (
            Component("CandidatePayload"),
            Merge(json!({"oneOf": [
                id("A catalog action id"),
                {"$ref": "#/components/schemas/Action", "description": "An action defined by the caller (same fields as a catalog entry)."},
            ]})),
        ),
        (Property("Action", "id"), Replace(id("Unique id"))),
        (Property("Action", "value"), non_negative()),
        (Property("Action", "cost"), non_negative()),
        (Property("ContactCaps", "per_7_days"), count()),
        (Property("ContactCaps", "per_30_days"), count()),
        (Property("ContactCaps", "cooldown_days"), non_negative()),
        (Property("Eligibility", "min_churn_risk"), probability()),
        (Property("Eligibility", "max_churn_risk"), probability()),
        (Property("Eligibility", "min_sentiment"), probability()),
        (
            Property("Eligibility", "requires_support_contact_within_days"),
            non_negative(),
        ),
        (
            Property("OutcomeRequest", "decision_id"),
            Replace(id("The decision it answers")),
        ),
        (
            Property("OutcomeRequest", "type"),
            Merge(json!({
                "minLength": 1,
                "maxLength": MAX_OUTCOME_TYPE_CHARS,
                "pattern": outcome_type_pattern(),
            })),
        ),
        (Property("OutcomeRequest", "value"), non_negative()),
        (
            Property("OutcomeRequest", "action_id"),
            Replace(nullable(id("Which of the decision's actions it answers"))),
        ),
        (
            Property("OutcomeRequest", "timestamp"),
            Replace(nullable(timestamp(
                "When it happened (default: now); from 5 minutes before the decision's instant to 366 days after it",
            ))),
        ),
    ]
}

/// A purchase or a conversion brings money in: its value is not negative.
fn sales_are_not_negative() -> Value {
    json!({
        "if": {
            "properties": {"event_type": {"enum": ["purchase", "conversion"]}},
            "required": ["event_type"],
        },
        "then": {"properties": {"value": {"anyOf": [{"type": "null"}, {"minimum": 0}]}}},
    })
}

/// The decision context: three known keys, and up to `max_context_keys` others (logged with
/// the decision). The count of the others is what is bounded, so the bound on all keys grows
/// with each known key present: one branch per subset of them.
fn context(limits: &Limits) -> Value {
    const KNOWN: [&str; 3] = ["channel", "placement", "timestamp"];
    let subsets: Vec<Value> = (0u8..8)
        .map(|mask| {
            let present: Vec<&str> = KNOWN
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, k)| *k)
                .collect();
            json!({"required": present, "maxProperties": limits.max_context_keys + present.len()})
        })
        .collect();
    let text = |description: &str| json!({"type": ["string", "null"], "maxLength": limits.max_string_chars, "description": description});
    json!({
        "type": "object",
        "description": format!(
            "The request context: `channel`, `placement`, `timestamp`, and up to {} other keys the caller wants logged with the decision, taking at most {} bytes as JSON.",
            limits.max_context_keys, limits.max_context_bytes
        ),
        "properties": {
            "channel": text("The channel the customer is on (`web`, `app`, `call_center`, …)."),
            "placement": text("Where the answer will be shown (`homepage`, `checkout`, …)."),
            "timestamp": nullable(timestamp("The decision instant; default: now")),
        },
        "additionalProperties": true,
        "anyOf": subsets,
    })
}

/// Writes the limits into a generated document; returns the rules that found no place (a
/// field renamed without its rule), which a test keeps empty.
pub fn apply(doc: &mut Value, limits: &Limits) -> Vec<String> {
    let mut lost = Vec::new();
    for (place, change) in rules(limits) {
        let (name, target) = match place {
            Place::Component(component) => (
                component.to_string(),
                doc.pointer_mut(&format!("/components/schemas/{component}")),
            ),
            Place::Property(component, property) => (
                format!("{component}.{property}"),
                doc.pointer_mut(&format!(
                    "/components/schemas/{component}/properties/{property}"
                )),
            ),
        };
        let Some(Value::Object(schema)) = target else {
            lost.push(name);
            continue;
        };
        match change {
            Change::Merge(Value::Object(keywords)) => merge(schema, keywords),
            Change::Replace(Value::Object(mut replacement)) => {
                if !replacement.contains_key("description") {
                    if let Some(description) = schema.get("description").cloned() {
                        replacement.insert("description".into(), description);
                    }
                }
                *schema = replacement;
            }
            _ => lost.push(name),
        }
    }
    lost
}

/// Sets each keyword; a `null` removes it.
fn merge(schema: &mut Map<String, Value>, keywords: Map<String, Value>) {
    for (key, value) in keywords {
        if value.is_null() {
            schema.remove(&key);
        } else {
            schema.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_finds_its_field() {
        let mut doc = serde_json::to_value(<super::super::ApiDoc as utoipa::OpenApi>::openapi())
            .unwrap_or_default();
        assert_eq!(apply(&mut doc, &Limits::default()), Vec::<String>::new());
    }
}
