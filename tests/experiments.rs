//! Experiments through the HTTP service: defined, started, assigning decisions to arms by
//! hash (the same customer always in the same arm, a holdout answering "no action"), fixed once
//! running, stopped, and only by the right scope. The flows that store experiments and
//! decisions run on both backends (SQLite, and PostgreSQL: `common/postgres.rs`).

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::TestDb;

use actix_web::http::StatusCode;
use actix_web::{test, web};
use nextbest::models::registry::ModelPaths;
use nextbest::server::auth::{Scope, TokenConfig};
use nextbest::server::{app, build_state, ServeConfig};
use serde_json::{json, Value};

fn config(db: &TestDb) -> ServeConfig {
    ServeConfig {
        database: db.location(),
        models: ModelPaths::defaults_in(Path::new("models")),
        ..ServeConfig::default()
    }
}

macro_rules! service {
    ($config:expr) => {{
        let state = web::Data::new(build_state(&$config).expect("state"));
        (test::init_service(app(state.clone())).await, state)
    }};
}

async fn call(
    service: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = match method {
        "GET" => test::TestRequest::get(),
        "PUT" => test::TestRequest::put(),
        _ => test::TestRequest::post(),
    }
    .uri(path);
    if let Some(body) = body {
        request = request
            .set_payload(body.to_string())
            .insert_header(("content-type", "application/json"));
    }
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    let response = test::call_service(service, request.to_request()).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn three_arms() -> Value {
    json!({
        "id": "model-vs-rules",
        "name": "Model-driven offers against the marketer's rules",
        "hypothesis": "Expected-value decisions convert more customers than the rules",
        "arms": [
            {"name": "rules", "policy": "rules", "weight": 0.4},
            {"name": "model", "policy": "default", "weight": 0.4},
            {"name": "holdout", "holdout": true, "weight": 0.2}
        ],
        "primary_metric": "conversion_rate",
        "secondary_metrics": ["revenue_per_customer"],
        "guardrails": ["unsubscribe_rate", "complaint_rate"],
        "attribution_window_days": 14
    })
}

fn decision_for(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "context": {"channel": "web", "placement": "homepage", "timestamp": "2025-11-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true, "sms_consent": true, "push_consent": true,
                                    "signup_date": "2024-03-01T00:00:00Z", "plan": "premium"}},
        "history": [
            {"timestamp": "2025-11-01T09:00:00Z", "event_type": "visit", "channel": "web"},
            {"timestamp": "2025-11-01T09:05:00Z", "event_type": "purchase", "channel": "web", "value": 80.0}
        ]
    })
}

async fn an_experiment_assigns_arms_by_hash_and_logs_every_exposure(db: &TestDb) {
    let (service, state) = service!(config(db));
    let (status, created) = call(
        &service,
        "POST",
        "/v1/experiments",
        Some(three_arms()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "draft");
    // Weights are normalised; the first arm is the control.
    assert_eq!(created["arms"][0]["name"], "rules");
    assert!((created["arms"][2]["weight"].as_f64().unwrap() - 0.2).abs() < 1e-12);

    // A draft assigns nobody.
    let (_, answer) = call(
        &service,
        "POST",
        "/v1/decisions",
        Some(decision_for("C-0")),
        None,
    )
    .await;
    assert!(answer.get("experiment").is_none(), "{answer}");

    let (status, started) = call(
        &service,
        "POST",
        "/v1/experiments/model-vs-rules/start",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status"], "running");

    let mut arms: HashMap<String, usize> = HashMap::new();
    let mut first_arm: HashMap<String, String> = HashMap::new();
    for i in 0..600 {
        let customer = format!("C-{}", i % 300);
        let (status, answer) = call(
            &service,
            "POST",
            "/v1/decisions",
            Some(decision_for(&customer)),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["experiment"]["id"], "model-vs-rules", "{answer}");
        let arm = answer["experiment"]["arm"].as_str().unwrap().to_string();
        // The same customer always gets the same arm.
        let seen = first_arm.entry(customer).or_insert_with(|| arm.clone());
        assert_eq!(seen, &arm);
        match arm.as_str() {
            "holdout" => {
                assert_eq!(answer["policy"], "holdout");
                assert_eq!(answer["decision"]["actions"], json!([]), "{answer}");
            }
            "rules" => assert_eq!(answer["policy"], "rules"),
            _ => assert_eq!(answer["policy"], "default"),
        }
        *arms.entry(arm).or_default() += 1;
    }
    // 300 customers split about 40/40/20 (each counted twice).
    let holdout = arms["holdout"] / 2;
    assert!((35..=85).contains(&holdout), "{arms:?}");
    assert!(arms["rules"] / 2 > 80 && arms["model"] / 2 > 80, "{arms:?}");

    // Every decision is logged with its arm.
    let store = state.engine.store();
    store.flush().unwrap();
    let logged = store.decisions_for("C-7", 10).unwrap();
    assert_eq!(logged.len(), 2);
    for d in &logged {
        let e = d.experiment.as_ref().unwrap();
        assert_eq!(e.experiment_id, "model-vs-rules");
        assert_eq!(&e.arm, &first_arm["C-7"]);
    }

    // A request that names its policy is not enrolled.
    let mut named = decision_for("C-1");
    named["policy"] = json!("propensity");
    let (_, answer) = call(&service, "POST", "/v1/decisions", Some(named), None).await;
    assert!(answer.get("experiment").is_none(), "{answer}");

    // A running experiment's arms are fixed; its traffic may only grow.
    let mut changed = three_arms();
    changed["arms"][0]["weight"] = json!(0.8);
    let (status, error) = call(
        &service,
        "PUT",
        "/v1/experiments/model-vs-rules",
        Some(changed),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["code"], "experiment_conflict");
    let (status, error) = call(
        &service,
        "POST",
        "/v1/experiments/model-vs-rules/traffic",
        Some(json!({"traffic": 0.5})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");

    let (status, stopped) = call(
        &service,
        "POST",
        "/v1/experiments/model-vs-rules/stop",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{stopped}");
    assert_eq!(stopped["status"], "stopped");
    assert!(stopped["stopped_at"].is_string());
    let (_, answer) = call(
        &service,
        "POST",
        "/v1/decisions",
        Some(decision_for("C-1")),
        None,
    )
    .await;
    assert!(answer.get("experiment").is_none(), "stopped: {answer}");
    // Stopping keeps its data; it cannot start again.
    assert_eq!(store.decisions_for("C-7", 10).unwrap().len(), 2);
    let (status, _) = call(
        &service,
        "POST",
        "/v1/experiments/model-vs-rules/start",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, list) = call(&service, "GET", "/v1/experiments", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["experiments"].as_array().unwrap().len(), 1);
}

async fn bad_definitions_are_refused_with_the_field_named(db: &TestDb) {
    let (service, _state) = service!(config(db));
    let cases = [
        ("/arms/1/policy", json!("no-such-policy"), "arms[1].policy"),
        ("/arms/0/weight", json!(0.0), "arms[0].weight"),
        ("/arms/1/name", json!("rules"), "arms[1].name"),
        ("/traffic", json!(1.5), "traffic"),
        ("/id", json!("bad id!"), "id"),
        (
            "/attribution_window_days",
            json!(0),
            "attribution_window_days",
        ),
    ];
    for (pointer, value, field) in cases {
        let mut spec = three_arms();
        match spec.pointer_mut(pointer) {
            Some(slot) => *slot = value,
            None => spec[&pointer[1..]] = value,
        }
        let (status, error) = call(&service, "POST", "/v1/experiments", Some(spec), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pointer}: {error}");
        assert_eq!(error["field"], field, "{error}");
    }
    let (status, _) = call(
        &service,
        "POST",
        "/v1/experiments",
        Some(three_arms()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = call(
        &service,
        "POST",
        "/v1/experiments",
        Some(three_arms()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "same id twice: {error}");
    let (status, error) = call(&service, "GET", "/v1/experiments/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert_eq!(error["code"], "unknown_experiment");
}

async fn experiments_of_one_layer_never_share_a_customer(db: &TestDb) {
    let (service, _state) = service!(config(db));
    for (id, traffic) in [
        ("homepage-a", 0.5),
        ("homepage-b", 0.5),
        ("homepage-c", 0.1),
    ] {
        let mut spec = three_arms();
        spec["id"] = json!(id);
        spec["layer"] = json!("homepage");
        spec["traffic"] = json!(traffic);
        let (status, _) = call(&service, "POST", "/v1/experiments", Some(spec), None).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    for id in ["homepage-a", "homepage-b"] {
        let (status, e) = call(
            &service,
            "POST",
            &format!("/v1/experiments/{id}/start"),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{e}");
    }
    // The layer is full.
    let (status, error) = call(
        &service,
        "POST",
        "/v1/experiments/homepage-c/start",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let mut counts: HashMap<String, usize> = HashMap::new();
    for i in 0..200 {
        let (_, answer) = call(
            &service,
            "POST",
            "/v1/decisions",
            Some(decision_for(&format!("L-{i}"))),
            None,
        )
        .await;
        let id = answer["experiment"]["id"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        *counts.entry(id).or_default() += 1;
    }
    // Half and half, nobody in both (each decision is in exactly one), nobody left out.
    assert!(
        counts["homepage-a"] > 70 && counts["homepage-b"] > 70,
        "{counts:?}"
    );
    assert!(!counts.contains_key("none"), "{counts:?}");
}

#[actix_web::test]
async fn only_admins_define_experiments_and_results_readers_read_them() {
    let db = TestDb::sqlite();
    let token = |name: &str, token: &str, scopes: &[Scope]| TokenConfig {
        name: name.into(),
        token: token.into(),
        scopes: scopes.to_vec(),
    };
    let config = ServeConfig {
        tokens: vec![
            token("orchestrator", "t-decide", &[Scope::Decide]),
            token("marketing", "t-results", &[Scope::Results]),
            token("data-science", "t-admin", &[Scope::Admin]),
        ],
        ..config(&db)
    };
    let (service, _state) = service!(config);
    for who in [None, Some("t-decide"), Some("t-results")] {
        let (status, _) = call(&service, "POST", "/v1/experiments", Some(three_arms()), who).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{who:?}: {status}"
        );
    }
    let (status, _) = call(
        &service,
        "POST",
        "/v1/experiments",
        Some(three_arms()),
        Some("t-admin"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&service, "GET", "/v1/experiments", None, Some("t-decide")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, list) = call(&service, "GET", "/v1/experiments", None, Some("t-results")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
}

/// Each customer counts once, in the arm of their first exposure, with the outcomes and
/// journey events inside the attribution window after it; revenue before it is the CUPED
/// covariate. The expected numbers are kept by hand beside the requests.
async fn results_count_each_customer_once_within_the_window(db: &TestDb) {
    let (service, _state) = service!(config(db));
    let spec = json!({
        "id": "window", "name": "Attribution window",
        "arms": [{"name": "rules", "policy": "rules", "weight": 1}, {"name": "model", "policy": "default", "weight": 1}],
        "secondary_metrics": ["revenue_per_customer"], "guardrails": ["unsubscribe_rate"],
        "attribution_window_days": 14, "pre_period_days": 30
    });
    let (status, _) = call(&service, "POST", "/v1/experiments", Some(spec), None).await;
    assert_eq!(status, StatusCode::CREATED);
    call(&service, "POST", "/v1/experiments/window/start", None, None).await;

    #[derive(Default, Debug)]
    struct Expected {
        units: u64,
        exposures: u64,
        converted: u64,
        revenue: f64,
        unsubscribed: u64,
    }
    let mut expected: HashMap<String, Expected> = HashMap::new();
    let n = 60;
    for i in 0..n {
        let customer = format!("W-{i}");
        // Pre-period purchases for even customers (the covariate); consent for everyone.
        let mut events = vec![
            json!({"customer_id": customer, "timestamp": "2025-10-01T09:00:00Z", "event_type": "visit", "channel": "web"}),
        ];
        if i % 2 == 0 {
            events.push(json!({"customer_id": customer, "timestamp": "2025-11-10T09:00:00Z", "event_type": "purchase", "channel": "web", "value": 50.0}));
        }
        let (status, body) = call(
            &service,
            "POST",
            "/v1/events",
            Some(json!({"events": events})),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut ask = decision_for(&customer);
        ask.as_object_mut().unwrap().remove("history");
        let (status, answer) =
            call(&service, "POST", "/v1/decisions", Some(ask.clone()), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let arm = answer["experiment"]["arm"].as_str().unwrap().to_string();
        let id = answer["decision_id"].as_str().unwrap().to_string();
        let e = expected.entry(arm.clone()).or_default();
        e.units += 1;
        e.exposures += 1;
        if i % 4 == 0 {
            // A second exposure a day later: still one unit.
            ask["context"]["timestamp"] = json!("2025-11-21T10:00:00Z");
            let (_, again) = call(&service, "POST", "/v1/decisions", Some(ask), None).await;
            assert_eq!(again["experiment"]["arm"], arm.as_str());
            e.exposures += 1;
        }
        let mut converted = false;
        if i % 3 == 0 {
            let outcome = json!({"decision_id": id, "type": "conversion", "value": 20.0, "timestamp": "2025-11-21T12:00:00Z"});
            let (status, body) = call(&service, "POST", "/v1/outcomes", Some(outcome), None).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            e.revenue += 20.0;
            converted = true;
        }
        if i % 5 == 0 {
            // Outside the 14-day window: not counted.
            let late = json!({"decision_id": id, "type": "conversion", "value": 99.0, "action_id": null, "timestamp": "2025-12-20T12:00:00Z"});
            let late = {
                let mut l = late;
                l.as_object_mut().unwrap().remove("action_id");
                l["type"] = json!("purchase");
                l
            };
            let (status, body) = call(&service, "POST", "/v1/outcomes", Some(late), None).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        if i % 7 == 0 {
            // A purchase reported as a journey event inside the window counts too.
            let event = json!({"events": [{"customer_id": customer, "timestamp": "2025-11-22T09:00:00Z", "event_type": "purchase", "channel": "web", "value": 30.0}]});
            call(&service, "POST", "/v1/events", Some(event), None).await;
            e.revenue += 30.0;
            converted = true;
        }
        if i == 11 {
            let event = json!({"events": [{"customer_id": customer, "timestamp": "2025-11-23T09:00:00Z", "event_type": "unsubscribe", "channel": "email"}]});
            call(&service, "POST", "/v1/events", Some(event), None).await;
            e.unsubscribed += 1;
        }
        e.converted += u64::from(converted);
    }
    let (status, results) = call(
        &service,
        "GET",
        "/v1/experiments/window/results?sequential=false",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{results}");
    for arm in results["arms"].as_array().unwrap() {
        let name = arm["arm"].as_str().unwrap();
        let e = &expected[name];
        assert_eq!(arm["units"], e.units, "{name}: {results}");
        assert_eq!(arm["exposures"], e.exposures, "{name}");
    }
    let metric = |name: &str| {
        results["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["metric"] == name)
            .unwrap()
            .clone()
    };
    let conversion = metric("conversion_rate");
    assert_eq!(conversion["role"], "primary");
    for a in conversion["arms"].as_array().unwrap() {
        let e = &expected[a["arm"].as_str().unwrap()];
        let rate = a["mean"].as_f64().unwrap();
        assert!(
            (rate - e.converted as f64 / e.units as f64).abs() < 1e-12,
            "{a} {e:?}"
        );
    }
    let revenue = metric("revenue_per_customer");
    for a in revenue["arms"].as_array().unwrap() {
        let e = &expected[a["arm"].as_str().unwrap()];
        let mean = a["mean"].as_f64().unwrap();
        assert!(
            (mean - e.revenue / e.units as f64).abs() < 1e-9,
            "{a} {e:?}"
        );
    }
    let unsubscribes = metric("unsubscribe_rate");
    assert_eq!(unsubscribes["role"], "guardrail");
    assert_eq!(unsubscribes["higher_is_better"], false);
    let total: f64 = unsubscribes["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["mean"].as_f64().unwrap() * a["units"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-9, "{unsubscribes}");
    // The pre-period purchases make CUPED apply to the comparison.
    assert_eq!(conversion["comparisons"][0]["cuped"], true, "{conversion}");
    // 60 customers: too few to judge, and said so.
    assert!(
        results["verdict"]
            .as_str()
            .unwrap()
            .starts_with("Too early to tell"),
        "{}",
        results["verdict"]
    );
    let health = results["health"].as_array().unwrap();
    assert!(
        health.iter().any(|h| h["code"] == "too_few_units"),
        "{health:?}"
    );
}

#[actix_web::test]
async fn a_bad_query_string_is_a_json_400_naming_it() {
    let db = TestDb::sqlite();
    let (service, _state) = service!(config(&db));
    call(
        &service,
        "POST",
        "/v1/experiments",
        Some(three_arms()),
        None,
    )
    .await;
    for query in ["unknown=1", "alpha=lots", "alpha=0.9"] {
        let (status, error) = call(
            &service,
            "GET",
            &format!("/v1/experiments/model-vs-rules/results?{query}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(error["code"], "invalid_field", "{query}: {error}");
        assert!(
            error["field"] == "query" || error["field"] == "alpha",
            "{error}"
        );
    }
}

on_both_backends_async!(
    an_experiment_assigns_arms_by_hash_and_logs_every_exposure,
    bad_definitions_are_refused_with_the_field_named,
    experiments_of_one_layer_never_share_a_customer,
    results_count_each_customer_once_within_the_window,
);
