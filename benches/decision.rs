//! Decision benchmarks: the per-request cost of a policy decision once the models have scored
//! the candidates — 20 candidates, 30 past exposures, caps and consent to check.
//!
//! Run with `cargo bench --bench decision` (from the repository root: it loads `policies/`).

use criterion::{criterion_group, criterion_main, Criterion};
use nextbest::decision::catalog::{ContactCaps, Eligibility};
use nextbest::decision::{
    Action, ActionKind, CandidateScores, ConsentMap, CustomerState, Exposure, Policy,
};
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

criterion_group!(benches, decide);
criterion_main!(benches);
