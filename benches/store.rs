//! Store benchmarks: what the decision service pays per request for the decision log
//! (`record_decision` alone, and with the writer's commit included) and for reading a hot
//! customer profile from the cache.
//!
//! Run with `cargo bench --bench store`.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nextbest::journey::{Channel, Event, EventType, Timestamp};
use nextbest::store::{DecisionRecord, ExperimentArm, LoggedAction, Store, StoreConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 1_000;
const T0: i64 = 1_750_000_000_000_000;

/// A realistic record: three ranked actions, two model versions, a small context.
fn record(n: u64) -> DecisionRecord {
    DecisionRecord {
        decision_id: format!("{n:016x}-bench"),
        customer_id: format!("customer-{}", n % 100_000),
        policy: "expected_value".into(),
        experiment: Some(ExperimentArm {
            experiment_id: "exp-2026-q4".into(),
            arm: if n % 2 == 0 { "control" } else { "treatment" }.into(),
        }),
        actions: (1..=3)
            .map(|rank| LoggedAction {
                action_id: format!("action_{rank}"),
                rank,
                score: 1.0 / rank as f64,
                propensity: 0.9 / rank as f64,
            })
            .collect(),
        model_versions: BTreeMap::from([
            ("churn".into(), "churn-gbdt-v3".into()),
            ("conversion".into(), "uplift-v1".into()),
        ]),
        context: serde_json::json!({"channel": "app", "placement": "home"}),
        created: Timestamp(T0 + n as i64),
        latency_us: 900,
        dry_run: false,
    }
}

fn decision_log(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("bench.db")).expect("open store");
    let mut next = 0u64;
    let mut records = |count: usize| -> Vec<DecisionRecord> {
        (0..count)
            .map(|_| {
                next += 1;
                record(next)
            })
            .collect()
    };

    let mut group = c.benchmark_group("decision_log");
    group.throughput(Throughput::Elements(BATCH as u64));
    // The request path's cost: validating and queueing (the commit happens off the clock).
    group.bench_function("record_decision_1000", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let batch = records(BATCH);
                let start = Instant::now();
                for r in batch {
                    store.record_decision(r).expect("queue has room");
                }
                elapsed += start.elapsed();
                store.flush().expect("flush");
            }
            elapsed
        })
    });
    // Sustained throughput: queueing plus the writer committing everything.
    group.bench_function("record_decision_and_commit_1000", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let batch = records(BATCH);
                let start = Instant::now();
                for r in batch {
                    store.record_decision(r).expect("queue has room");
                }
                store.flush().expect("flush");
                elapsed += start.elapsed();
            }
            elapsed
        })
    });
    group.finish();
    let stats = store.stats();
    eprintln!(
        "decision_log: {} written in {} transactions ({:.0} per transaction)",
        stats.decisions_written,
        stats.batches_committed,
        stats.decisions_written as f64 / stats.batches_committed.max(1) as f64
    );
}

fn profile_history(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("bench.db")).expect("open store");
    let mut group = c.benchmark_group("profile");
    for size in [50usize, 1_000] {
        let customer = format!("customer-{size}");
        let events: Vec<Event> = (0..size)
            .map(|i| {
                Event::new(
                    &customer,
                    Timestamp(T0 + i as i64 * 1_000_000),
                    EventType::PageView,
                )
                .with_channel(Channel::Web)
            })
            .collect();
        store.append_events(&events).expect("append");
        store.history(&customer).expect("warm the cache");
        group.bench_function(format!("history_cache_hit_{size}_events"), |b| {
            b.iter(|| store.history(&customer).expect("history").len())
        });
        // The miss path: a second handle whose one-event cache budget keeps only the last
        // profile read, alternating between two customers so that every read goes to SQL.
        let twin = format!("{customer}-twin");
        let twin_events: Vec<Event> = events
            .iter()
            .map(|e| Event {
                customer_id: twin.clone(),
                ..e.clone()
            })
            .collect();
        store.append_events(&twin_events).expect("append");
        let uncached = Store::open_with(
            store.path(),
            &StoreConfig {
                profile_cache_bytes: 1,
                ..StoreConfig::default()
            },
        )
        .expect("open second handle");
        let mut flip = false;
        group.bench_function(format!("history_cache_miss_{size}_events"), |b| {
            b.iter(|| {
                flip = !flip;
                let who = if flip { &customer } else { &twin };
                uncached.history(who).expect("history").len()
            })
        });
        let stats = uncached.stats();
        assert_eq!(stats.profile_cache_hits, 0, "the miss benchmark must miss");
    }
    group.finish();
}

criterion_group!(benches, decision_log, profile_history);
criterion_main!(benches);
