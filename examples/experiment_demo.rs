//! An experiment you can watch end to end: the model-driven policy against the marketer's
//! rules and a no-action holdout, on simulated customers whose true response to every action is
//! known, run through a live `nextbest serve` over HTTP.
//!
//! 1. Simulates customers (the journey simulator, in memory) and, for each, picks a decision
//!    point with its ground truth: the true P(purchase within 7 days) under every action.
//! 2. Sends their histories up to that instant (`POST /v1/events`), defines and starts the
//!    experiment (`POST /v1/experiments`, `/start`).
//! 3. Asks for each customer's decision at that instant (`POST /v1/decisions`): the experiment
//!    assigns the arm, the arm's policy picks the action.
//! 4. Draws whether the customer converts from the simulator's truth for the action actually
//!    taken, and reports conversions (`POST /v1/outcomes`).
//! 5. Reads the results (`GET /v1/experiments/{id}/results`) and compares each arm's measured
//!    lift with its true lift for the same decisions (the mean of the true probabilities).
//!
//! `scripts/demo_experiment.sh` starts the service and runs this; by hand:
//!
//!     cargo run --release --example experiment_demo -- --port 8080 --customers 6000
//!
//! The service must run with no token, or pass `--token` (scopes decide, ingest, admin, results).

// A demo: it stops with a message on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/http.rs"]
#[allow(dead_code)]
mod http;

use std::collections::BTreeMap;

use nextbest::journey::{Event, Timestamp};
use nextbest::simulator::world::{self, simulate_customer, Distributions, NO_ACTION};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde_json::{json, Value};

struct Options {
    port: u16,
    customers: u64,
    seed: u64,
    token: Option<String>,
    id: String,
}

fn options() -> Options {
    let mut o = Options {
        port: 8080,
        customers: 6_000,
        seed: 11,
        token: None,
        id: String::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--port" => o.port = value.parse().expect("--port N"),
            "--customers" => o.customers = value.parse().expect("--customers N"),
            "--seed" => o.seed = value.parse().expect("--seed N"),
            "--token" => o.token = Some(value),
            "--id" => o.id = value,
            other => {
                panic!("unknown argument {other} (see the top of examples/experiment_demo.rs)")
            }
        }
        i += 2;
    }
    if o.id.is_empty() {
        o.id = format!("demo-{}", o.seed);
    }
    o
}

/// One simulated customer at their decision point.
struct Case {
    customer_id: String,
    at: Timestamp,
    history: Vec<Event>,
    attributes: Value,
    /// True P(purchase within 7 days) under each catalog action.
    p_convert: Vec<f64>,
    order_value: f64,
}

fn simulate(customers: u64, seed: u64) -> Vec<Case> {
    let catalog = world::catalog();
    let no_action = catalog
        .actions
        .iter()
        .position(|a| a.id == NO_ACTION)
        .unwrap();
    let distributions = Distributions::new().unwrap();
    let start = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let days = 240;
    let end = start.plus_days(f64::from(days));
    (0..customers)
        .into_par_iter()
        .filter_map(|i| {
            let id = format!("X{i:07}");
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let run = simulate_customer(&mut rng, &distributions, &catalog, no_action, &id, start, days);
            // The last decision point with a whole week of truth after it, and a past to learn from.
            let point = run
                .decisions
                .iter()
                .rev()
                .find(|d| d.timestamp < end.plus_days(-8.0) && d.timestamp > start.plus_days(120.0))?;
            let history: Vec<Event> = run.events.iter().filter(|e| e.timestamp < point.timestamp).cloned().collect();
            let p = &run.profile;
            Some(Case {
                customer_id: id,
                at: point.timestamp,
                history,
                attributes: json!({
                    "signup_date": p.signup.to_rfc3339(), "plan": p.plan, "region": p.region,
                    "age_band": p.age_band, "acquisition_channel": p.acquisition,
                    "email_consent": p.consent[0], "sms_consent": p.consent[1], "push_consent": p.consent[2]
                }),
                p_convert: point.p_convert.clone(),
                order_value: run.traits.order_value,
            })
        })
        .collect()
}

fn main() {
    let o = options();
    let auth = o.token.as_ref().map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let mut c = http::Connection::open(o.port).expect("connect to nextbest serve");
    let mut call = |method: &str, path: &str, body: Value| -> Value {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, answer) = c
            .request_with(method, path, &text, &headers)
            .expect("the service answered");
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    };

    eprintln!("== simulating {} customers (seed {})", o.customers, o.seed);
    let cases = simulate(o.customers, o.seed);
    let catalog = world::catalog();
    let index: BTreeMap<&str, usize> = catalog
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let no_action = index[NO_ACTION];

    eprintln!(
        "== sending {} customers' histories (POST /v1/events)",
        cases.len()
    );
    let mut batch: Vec<Value> = Vec::new();
    let mut sent = 0usize;
    for case in &cases {
        // The store keeps each customer's latest 1,000 events anyway.
        let from = case.history.len().saturating_sub(1_000);
        for e in &case.history[from..] {
            batch.push(serde_json::to_value(e).unwrap());
        }
        if batch.len() >= 5_000 {
            sent += batch.len();
            call(
                "POST",
                "/v1/events",
                json!({"events": std::mem::take(&mut batch)}),
            );
        }
    }
    sent += batch.len();
    call("POST", "/v1/events", json!({"events": batch}));
    eprintln!("   {sent} events stored");

    let spec = json!({
        "id": o.id, "name": "Model-driven offers against the marketer's rules",
        "hypothesis": "Choosing each customer's action by expected uplift converts more customers than the rules, and doing nothing converts fewest",
        "arms": [
            {"name": "rules", "policy": "rules", "weight": 0.4},
            {"name": "model", "policy": "default", "weight": 0.4},
            {"name": "holdout", "holdout": true, "weight": 0.2}
        ],
        "primary_metric": "conversion_rate",
        "secondary_metrics": ["revenue_per_customer"],
        "guardrails": ["unsubscribe_rate"],
        "attribution_window_days": 7,
        "pre_period_days": 30
    });
    call("POST", "/v1/experiments", spec);
    call(
        "POST",
        &format!("/v1/experiments/{}/start", o.id),
        Value::Null,
    );
    eprintln!(
        "== experiment '{}' running; deciding for every customer (POST /v1/decisions)",
        o.id
    );

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(o.seed.wrapping_add(1));
    // Per arm: customers, Σ true P(convert) of the action taken, conversions drawn.
    let mut truth: BTreeMap<String, (u64, f64, u64)> = BTreeMap::new();
    for case in &cases {
        let ask = json!({
            "customer_id": case.customer_id,
            "context": {"channel": "web", "timestamp": case.at.to_rfc3339()},
            "customer": {"attributes": case.attributes}
        });
        let answer = call("POST", "/v1/decisions", ask);
        let arm = answer["experiment"]["arm"]
            .as_str()
            .expect("assigned")
            .to_string();
        let chosen = answer["decision"]["actions"][0]["action_id"]
            .as_str()
            .unwrap_or(NO_ACTION);
        let p = case.p_convert[index.get(chosen).copied().unwrap_or(no_action)];
        let converted = rng.random::<f64>() < p;
        let entry = truth.entry(arm).or_default();
        entry.0 += 1;
        entry.1 += p;
        if converted {
            entry.2 += 1;
            call(
                "POST",
                "/v1/outcomes",
                json!({
                    "decision_id": answer["decision_id"], "type": "conversion",
                    "value": (case.order_value * 100.0).round() / 100.0,
                    "timestamp": case.at.plus_days(2.0).to_rfc3339()
                }),
            );
        }
    }

    let results = call(
        "GET",
        &format!("/v1/experiments/{}/results?sequential=false", o.id),
        Value::Null,
    );
    let conversion = results["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == "conversion_rate")
        .unwrap();
    let control = conversion["arms"][0]["arm"].as_str().unwrap().to_string();
    let true_rate = |arm: &str| truth.get(arm).map_or(0.0, |(n, sum, _)| sum / *n as f64);
    println!("\n{}\n", results["verdict"].as_str().unwrap_or(""));
    println!(
        "{:<9} {:>9} {:>10} {:>10} {:>10} {:>24} {:>10} {:>8}",
        "arm",
        "customers",
        "measured",
        "true",
        "lift",
        "95% interval (measured)",
        "true lift",
        "inside"
    );
    println!(
        "{:<9} {:>9} {:>9.2}% {:>9.2}% {:>10} {:>24} {:>10} {:>8}",
        control,
        truth[&control].0,
        conversion["arms"][0]["mean"].as_f64().unwrap() * 100.0,
        true_rate(&control) * 100.0,
        "control",
        "",
        "",
        ""
    );
    for c in conversion["comparisons"].as_array().unwrap() {
        let arm = c["arm"].as_str().unwrap();
        let measured = conversion["arms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["arm"] == arm)
            .unwrap();
        let true_lift = true_rate(arm) / true_rate(&control) - 1.0;
        let (lo, hi) = (
            c["interval"][0].as_f64().unwrap_or(f64::NAN),
            c["interval"][1].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "{:<9} {:>9} {:>9.2}% {:>9.2}% {:>+9.1}% {:>24} {:>+9.1}% {:>8}",
            arm,
            truth[arm].0,
            measured["mean"].as_f64().unwrap() * 100.0,
            true_rate(arm) * 100.0,
            c["relative_lift"].as_f64().unwrap_or(f64::NAN) * 100.0,
            format!("[{:+.1}%, {:+.1}%]", lo * 100.0, hi * 100.0),
            true_lift * 100.0,
            if lo <= true_lift && true_lift <= hi {
                "yes"
            } else {
                "NO"
            }
        );
    }
    println!("\n(true: the mean of the simulator's P(purchase within 7 days) for the action each customer was given)");
    println!(
        "results page: http://127.0.0.1:{}/experiments/{}",
        o.port, o.id
    );
}
