//! The engine without HTTP: the customer's state comes from the same pass as the features,
//! decisions with `record_exposures` are logged only together with their exposures, and
//! explanations are built only when asked for.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use nextbest::catalog::Catalog;
use nextbest::decision::PolicySet;
use nextbest::engine::{DecisionRequest, Engine, EngineParts, Limits, UnknownAttributes};
use nextbest::models::registry::{ModelPaths, ModelSet};
use nextbest::store::Store;
use serde_json::json;

fn engine(dir: &Path, record_exposures: bool) -> Engine {
    engine_with(dir, record_exposures, Limits::default())
}

fn engine_with(dir: &Path, record_exposures: bool, limits: Limits) -> Engine {
    Engine::new(EngineParts {
        models: ModelSet::load(&ModelPaths::defaults_in(Path::new("models"))).unwrap(),
        catalog: Catalog::load("datasets/sample/catalog.toml").unwrap(),
        policies: PolicySet::load_dir("policies").unwrap(),
        default_policy: "default".into(),
        store: Arc::new(Store::open(dir.join("engine.db")).unwrap()),
        limits,
        record_exposures,
        acknowledge: nextbest::engine::Acknowledge::Committed,
        models_dir: "models".into(),
        sources: None,
    })
    .unwrap()
}

fn request(value: serde_json::Value) -> DecisionRequest {
    serde_json::from_value(value).unwrap()
}

/// A customer with consent everywhere and a purchase, so that sales actions are eligible.
fn stored_customer(engine: &Engine, id: &str) {
    let events: Vec<nextbest::journey::Event> = [
        ("2025-10-01T09:00:00Z", "visit", None),
        ("2025-10-01T09:05:00Z", "purchase", Some(120.0)),
    ]
    .iter()
    .map(|(ts, kind, value)| nextbest::journey::Event {
        customer_id: id.into(),
        timestamp: nextbest::journey::Timestamp::parse_rfc3339(ts).unwrap(),
        event_type: nextbest::journey::EventType::parse(kind),
        channel: Some(nextbest::journey::Channel::parse("web")),
        action_id: None,
        value: *value,
        text: None,
        anonymous_id: None,
    })
    .collect();
    engine.store().append_events(&events).unwrap();
}

fn decide_for(id: &str) -> DecisionRequest {
    request(json!({
        "customer_id": id,
        "context": {"timestamp": "2025-11-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true, "sms_consent": true, "push_consent": true}},
        "policy": "propensity"
    }))
}

#[test]
fn a_decision_is_answered_only_once_it_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), false);
    let mut batch = Vec::new();
    for i in 0..20 {
        let mut ask = decide_for(&format!("D-{i}"));
        if i % 2 == 0 {
            ask.history = Some(Vec::new());
        }
        batch.push(ask);
    }
    for ask in &batch {
        let answer = match engine.decide_in_memory(ask) {
            Some(decided) => decided.unwrap().wait().unwrap(),
            None => engine.decide(ask).unwrap(),
        };
        // No flush: the committed log is read directly, as after a crash.
        let logged = engine.store().decisions_for(&ask.customer_id, 1).unwrap();
        assert_eq!(logged.len(), 1, "{} not committed", answer.decision_id);
        assert_eq!(logged[0].decision_id, answer.decision_id);
    }
    // Many decided first, answered after: all committed by then too.
    let decided: Vec<_> = (20..40)
        .map(|i| {
            engine
                .decide_logged(&decide_for(&format!("D-{i}")))
                .unwrap()
        })
        .collect();
    for d in decided {
        let answer = d.wait().unwrap();
        let logged = engine
            .store()
            .decisions_for(&answer.customer_id, 1)
            .unwrap();
        assert_eq!(logged.len(), 1);
    }
}

#[test]
fn exposures_are_stored_with_their_decision() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), true);
    stored_customer(&engine, "C-1");
    let answer = engine.decide(&decide_for("C-1")).unwrap();
    let sent: Vec<&str> = answer
        .decision
        .actions
        .iter()
        .filter(|a| a.kind != nextbest::catalog::ActionKind::None)
        .map(|a| a.action_id.as_str())
        .collect();
    assert!(!sent.is_empty(), "{answer:?}");
    // Once answered, both the decision and its exposures are stored (no flush needed).
    let logged = engine.store().decision(&answer.decision_id).unwrap();
    assert!(logged.is_some());
    let profile = engine.store().history("C-1").unwrap();
    let exposed: Vec<&str> = profile
        .iter()
        .filter_map(|e| e.action_id.as_deref())
        .collect();
    assert_eq!(exposed, sent);
}

#[test]
fn a_decision_whose_exposures_fail_is_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), true);
    stored_customer(&engine, "C-2");
    engine.store().flush().unwrap();
    // From now on the database refuses every journey event, as a full disk would.
    let conn = rusqlite::Connection::open(dir.path().join("engine.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse_events BEFORE INSERT ON events \
         BEGIN SELECT RAISE(ABORT, 'events refused (test)'); END;",
    )
    .unwrap();
    drop(conn);
    let error = engine.decide(&decide_for("C-2")).unwrap_err();
    assert_eq!(error.code(), "store_io", "{error}");
    engine.store().flush().unwrap();
    // The caller was told; nothing of the decision may be in the log.
    let counts = engine.store().counts().unwrap();
    assert_eq!(counts.decisions, 0, "{counts:?}");
    assert_eq!(engine.store().stats().decisions_failed, 1);
    assert_eq!(engine.store().stats().queue_depth, 0);
    // A dry run logs nothing and records nothing, so it still answers.
    let mut dry = decide_for("C-2");
    dry.dry_run = true;
    assert!(engine.decide(&dry).is_ok());
}

#[test]
fn opt_outs_and_contacts_reach_the_policy_from_the_feature_pass() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), false);
    // Unsubscribed from WhatsApp (a channel the features do not track), and sent three e-mails
    // this week (the policy's e-mail cap); the candidates are a WhatsApp offer and the newsletter.
    let answer = engine
        .decide(&request(json!({
            "customer_id": "C-3",
            "context": {"timestamp": "2025-11-20T10:00:00Z"},
            "customer": {"attributes": {"email_consent": true}},
            "policy": "propensity",
            "explain": true,
            "history": [
                {"timestamp": "2025-11-01T09:05:00Z", "event_type": "purchase", "value": 30.0},
                {"timestamp": "2025-11-02T09:00:00Z", "event_type": "unsubscribe", "channel": "whatsapp"},
                {"timestamp": "2025-11-15T09:00:00Z", "event_type": "action", "channel": "email",
                 "action_id": "email_newsletter"},
                {"timestamp": "2025-11-17T09:00:00Z", "event_type": "action", "channel": "email",
                 "action_id": "email_discount"},
                {"timestamp": "2025-11-19T09:00:00Z", "event_type": "action", "channel": "email",
                 "action_id": "email_newsletter"}
            ],
            "candidates": [
                "email_newsletter",
                {"id": "whatsapp_offer", "channel": "whatsapp", "kind": "sales", "value": 10, "cost": 0.1,
                 "model_as": "email_discount"}
            ]
        })))
        .unwrap();
    let reason = |id: &str| {
        answer
            .decision
            .ineligible
            .iter()
            .find(|i| i.action_id == id)
            .map(|i| i.reason_code.as_str().to_string())
    };
    assert_eq!(reason("whatsapp_offer").as_deref(), Some("unsubscribed"));
    assert!(
        matches!(
            reason("email_newsletter").as_deref(),
            Some("cooldown" | "cap_7d" | "channel_cap" | "global_cap")
        ),
        "{answer:?}"
    );
}

#[test]
fn reasons_and_passed_over_candidates_only_when_explaining() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), false);
    let mut ask = decide_for("C-4");
    ask.dry_run = true;
    ask.history = Some(Vec::new());
    ask.max_actions = Some(1);
    let plain = engine.decide(&ask).unwrap();
    assert!(plain.decision.actions.iter().all(|a| a.reasons.is_empty()));
    assert!(plain.decision.passed_over.is_empty());
    assert!(plain.explanations.is_empty());
    ask.explain = true;
    let explained = engine.decide(&ask).unwrap();
    assert!(explained
        .decision
        .actions
        .iter()
        .all(|a| !a.reasons.is_empty()));
    assert!(!explained.decision.passed_over.is_empty());
    assert!(!explained.explanations.is_empty());
}

#[test]
fn only_decisions_that_never_read_the_database_are_made_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = engine(dir.path(), false);
        stored_customer(&engine, "C-5");
    }
    // A fresh engine on the same database: the profile is on disk, not in memory.
    let engine = engine(dir.path(), false);
    let ask = decide_for("C-5");
    let misses = engine.store().stats().profile_cache_misses;
    assert!(engine.decide_in_memory(&ask).is_none());
    assert_eq!(
        engine.store().stats().profile_cache_misses,
        misses,
        "no SQLite read"
    );
    // Deciding the blocking way loads the profile; then it is in memory.
    let first = engine.decide(&ask).unwrap();
    let again = engine
        .decide_in_memory(&ask)
        .expect("cached now")
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(again.decision.actions.len(), first.decision.actions.len());

    let mut inline = decide_for("C-6");
    inline.history = Some(Vec::new());
    assert!(engine.decide_in_memory(&inline).is_some());
    inline.explain = true;
    assert!(
        engine.decide_in_memory(&inline).is_none(),
        "explaining costs more"
    );

    // Exposures to commit: decided in memory too, and answered once they are committed.
    let other = tempfile::tempdir().unwrap();
    let recording = self::engine(other.path(), true);
    stored_customer(&recording, "C-5");
    recording.decide(&ask).unwrap();
    let decided = recording.decide_in_memory(&ask).expect("cached").unwrap();
    let answer = actix_web::rt::System::new()
        .block_on(decided.answer())
        .unwrap();
    let logged = recording.store().decisions_for("C-5", 10).unwrap();
    assert!(logged.iter().any(|d| d.decision_id == answer.decision_id));
}

#[test]
fn a_bad_attribute_is_refused_before_the_store_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), false);
    let mut ask = decide_for("C-7");
    ask.customer =
        Some(serde_json::from_value(json!({"attributes": {"signup_date": 12}})).unwrap());
    let misses = engine.store().stats().profile_cache_misses;
    let error = engine.decide(&ask).unwrap_err();
    assert_eq!(error.code(), "invalid_field");
    assert_eq!(error.field_name(), Some("customer.attributes.signup_date"));
    assert_eq!(engine.store().stats().profile_cache_misses, misses);
}

#[test]
fn an_attribute_no_model_uses_is_reported_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), false);
    let mut ask = decide_for("C-8");
    ask.dry_run = true;
    ask.customer = Some(
        serde_json::from_value(json!({"attributes": {
            "email_consent": true, "plan": "premium", "regoin": "north", "favourite_colour": "red"
        }}))
        .unwrap(),
    );
    let answer = engine.decide(&ask).unwrap();
    let warnings = &answer.decision.warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("customer.attributes.regoin:")
                && w.contains("did you mean 'region'")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("customer.attributes.favourite_colour:") && !w.contains("mean")),
        "{warnings:?}"
    );
    // Known attributes and consent flags raise nothing.
    assert_eq!(
        warnings.iter().filter(|w| w.contains("attributes")).count(),
        2
    );

    let strict = Limits {
        unknown_attributes: UnknownAttributes::Reject,
        ..Limits::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with(dir.path(), false, strict);
    let error = engine.decide(&ask).unwrap_err();
    assert_eq!(error.code(), "invalid_field");
    let field = error.field_name().unwrap();
    assert!(
        field == "customer.attributes.regoin" || field == "customer.attributes.favourite_colour",
        "{field}"
    );
}

#[test]
fn a_low_sentiment_is_explained_by_the_aspects_the_customer_wrote_about() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), false);
    let mut ask = request(json!({
        "customer_id": "C-5",
        "context": {"timestamp": "2025-11-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true}},
        "policy": "propensity",
        "dry_run": true,
        "history": [
            {"timestamp": "2025-11-01T09:05:00Z", "event_type": "purchase", "value": 30.0},
            {"timestamp": "2025-11-10T09:00:00Z", "event_type": "complaint",
             "text": "My parcel still hasn't arrived after two weeks. Terrible delivery service."},
            {"timestamp": "2025-11-15T09:00:00Z", "event_type": "support_ticket",
             "text": "You charged me twice for the same order and nobody will refund me."}
        ]
    }));
    let plain = engine.decide(&ask).unwrap();
    assert!(plain.sentiment.unwrap() < 0.5, "{:?}", plain.sentiment);
    assert!(plain.sentiment_aspects.is_empty(), "only when explaining");
    ask.explain = true;
    let explained = engine.decide(&ask).unwrap();
    let aspects: Vec<&str> = explained
        .sentiment_aspects
        .iter()
        .map(|a| a.aspect.as_str())
        .collect();
    assert!(aspects.contains(&"delivery"), "{aspects:?}");
    assert!(aspects.contains(&"price_and_billing"), "{aspects:?}");
    assert!(explained
        .sentiment_aspects
        .iter()
        .all(|a| a.negative_mentions >= 1 && !a.example.is_empty()));
    let json = serde_json::to_value(&explained).unwrap();
    assert!(json["sentiment_aspects"][0]["aspect"].is_string());
}
