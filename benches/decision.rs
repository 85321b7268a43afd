//! Decision benchmarks: the per-request cost of a policy decision once the models have scored
//! the candidates — 20 candidates, 30 past exposures, caps and consent to check.
//!
//! Run with `cargo bench --bench decision` (from the repository root: it loads `policies/`).

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use nextbest::catalog::{Action, ActionKind, ContactCaps, Eligibility};
use nextbest::decision::{CandidateScores, ConsentMap, CustomerState, Exposure, Policy};
use nextbest::journey::{Channel, Timestamp};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: Timestamp = Timestamp(1_750_000_000_000_000);

fn actions() -> Vec<Action> {
    let channels = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::CallCenter,
    ];
    let mut actions: Vec<Action> = (0..19)
        .map(|i| Action {
            id: format!("action_{i:02}"),
            channel: channels[i % channels.len()].clone(),
            kind: if i % 7 == 3 {
                ActionKind::Retention
            } else {
                ActionKind::Sales
            },
            value: 20.0 + i as f64 * 3.0,
            cost: 0.1 + (i % 5) as f64,
            requires_consent: None,
            caps: ContactCaps {
                per_7_days: (i % 3 == 0).then_some(2),
                per_30_days: (i % 4 == 0).then_some(4),
                cooldown_days: (i % 2 == 0).then_some(3.0),
            },
            eligibility: Eligibility {
                min_churn_risk: (i % 7 == 3).then_some(0.05),
                ..Default::default()
            },
            description: None,
            model_as: None,
        })
        .collect();
    actions.push(Action {
        id: "no_action".into(),
        channel: Channel::parse("none"),
        kind: ActionKind::None,
        value: 0.0,
        cost: 0.0,
        requires_consent: None,
        caps: ContactCaps::default(),
        eligibility: Eligibility::default(),
        description: None,
        model_as: None,
    });
    actions
}

fn state(actions: &[Action]) -> CustomerState {
    let exposures = (0..30)
        .map(|i| {
            let action = &actions[(i * 7) % 19];
            Exposure {
                at: Timestamp(NOW.0 - i as i64 * Timestamp::MICROS_PER_DAY * 2),
                action_id: action.id.clone(),
                channel: action.channel.clone(),
            }
        })
        .collect();
    CustomerState {
        p_churn: Some(0.3),
        sentiment: Some(0.6),
        customer_value: 400.0,
        consent: ConsentMap::new()
            .with(Channel::Email, true)
            .with(Channel::Sms, true)
            .with(Channel::Push, false),
        last_support_contact: Some(Timestamp(NOW.0 - 5 * Timestamp::MICROS_PER_DAY)),
        exposures,
        ..CustomerState::new(NOW)
    }
}

fn decide(c: &mut Criterion) {
    let actions = actions();
    let state = state(&actions);
    let candidates: Vec<CandidateScores<'_>> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| CandidateScores::scored(a, 0.02 + i as f64 * 0.004, 0.03))
        .collect();
    for name in ["default", "pega", "rules"] {
        let policy = Policy::load(format!("policies/{name}.toml")).expect("policy");
        let mut seed = 0u64;
        c.bench_function(&format!("decide_20_candidates_{name}"), |b| {
            b.iter(|| {
                seed += 1;
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                policy.decide(&state, &candidates, &mut rng)
            })
        });
    }
}

/// The whole in-process decision the service makes per request: featurise a 36-event history
/// (5 texts through the sentiment model), churn model, conversion model for 20 candidates and no
/// action, the default policy. `dry_run` keeps the decision log out of the loop (the HTTP load
/// test, `benches/load_test.sh`, includes it).
fn engine(c: &mut Criterion) {
    use nextbest::catalog::Catalog;
    use nextbest::decision::PolicySet;
    use nextbest::engine::{DecisionRequest, Engine, EngineParts, Limits};
    use nextbest::models::registry::{ModelPaths, ModelSet};
    use nextbest::store::Store;
    use std::path::Path;
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::new(EngineParts {
        models: ModelSet::load(&ModelPaths::defaults_in(Path::new("models"))).expect("models"),
        catalog: Catalog::load("datasets/sample/catalog.toml").expect("catalog"),
        policies: PolicySet::load_dir("policies").expect("policies"),
        default_policy: "default".into(),
        store: Arc::new(Store::open(dir.path().join("bench.db")).expect("store")),
        limits: Limits::default(),
        record_exposures: true,
        acknowledge: nextbest::engine::Acknowledge::Committed,
        models_dir: "models".into(),
        sources: None,
    })
    .expect("engine");
    let text = std::fs::read_to_string("benches/load/decision.json").expect("request");
    let mut request: DecisionRequest = serde_json::from_str(&text).expect("request json");
    request.dry_run = true;
    c.bench_function("engine_decide_20_candidates_5_texts", |b| {
        b.iter(|| engine.decide(&request).expect("decision"))
    });
    // The service's other per-request work: reading the 6.6 KB body and writing the answer.
    c.bench_function("parse_decision_request", |b| {
        b.iter(|| serde_json::from_str::<DecisionRequest>(&text).expect("request json"))
    });
    let response = engine.decide(&request).expect("decision");
    c.bench_function("serialize_decision_response", |b| {
        b.iter(|| serde_json::to_vec(&response).expect("response json"))
    });

    // The same decision under a running experiment (the bar: at most 50 µs more). The request
    // names no policy, so the experiment's arm decides; both arms run the default policy, so
    // the difference is the assignment alone.
    let spec: nextbest::experiment::ExperimentSpec = serde_json::from_value(serde_json::json!({
        "id": "bench", "name": "bench",
        "arms": [{"name": "a", "policy": "default", "weight": 1}, {"name": "b", "policy": "default", "weight": 1}]
    }))
    .expect("spec");
    request.policy = None;
    c.bench_function("engine_decide_no_experiment", |b| {
        b.iter(|| engine.decide(&request).expect("decision"))
    });
    engine.create_experiment(&spec).expect("experiment");
    engine.start_experiment("bench").expect("start");
    c.bench_function("engine_decide_under_experiment", |b| {
        b.iter(|| engine.decide(&request).expect("decision"))
    });
    c.bench_function("experiment_assignment", |b| {
        let running = engine.running_experiments();
        let now = nextbest::journey::Timestamp(1_750_000_000_000_000);
        b.iter(|| {
            running
                .assign("C00000077", Some("homepage"), now)
                .expect("assigned")
        })
    });
}

criterion_group!(benches, decide, engine);
criterion_main!(benches);
