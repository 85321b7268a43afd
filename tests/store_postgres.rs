//! What changes when several stores — replicas — share one PostgreSQL database: each sees
//! what the others committed, experiment changes and outcomes stay consistent under races, the
//! schema is migrated once, the profile cache never serves another replica's writes stale
//! unless a time to live allows it, and the store can be called from async code.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::TestDb;
use nextbest::experiment::Experiment;
use nextbest::journey::{Event, EventType, Timestamp};
use nextbest::store::{
    DecisionRecord, ExperimentArm, ExperimentChange, LoggedAction, OutcomeRecord, Store,
    StoreConfig,
};
use serde_json::json;

const T0: i64 = 1_750_000_000_000_000;

fn decision(id: &str, customer: &str) -> DecisionRecord {
    DecisionRecord {
        decision_id: id.to_string(),
        customer_id: customer.to_string(),
        policy: "default".to_string(),
        experiment: Some(ExperimentArm {
            experiment_id: "e".to_string(),
            arm: "a".to_string(),
        }),
        actions: vec![LoggedAction {
            action_id: "email_discount".to_string(),
            rank: 1,
            score: 1.5,
            propensity: 0.9,
        }],
        model_versions: BTreeMap::new(),
        context: json!({"channel": "web"}),
        created: Timestamp(T0),
        latency_us: 10,
        dry_run: false,
    }
}

fn experiment(id: &str, layer: &str, traffic: f64) -> Experiment {
    let spec = json!({
        "id": id,
        "name": id,
        "arms": [{"name": "a", "policy": "default", "weight": 1.0},
                 {"name": "b", "policy": "rules", "weight": 1.0}],
        "layer": layer,
        "traffic": traffic,
    });
    serde_json::from_value::<nextbest::experiment::ExperimentSpec>(spec)
        .unwrap()
        .check(
            |policy| ["default", "rules"].contains(&policy),
            Timestamp(T0),
        )
        .unwrap()
}

#[test]
fn two_stores_on_one_database_see_each_other_s_writes() {
    let db = TestDb::postgres();
    let (a, b) = (db.open(), db.open());
    a.record_decision_with_events(decision("d-1", "alice"), Vec::new())
        .unwrap();
    // Committed by A: B finds it, and takes its outcome.
    assert_eq!(b.decision("d-1").unwrap(), Some(decision("d-1", "alice")));
    assert_eq!(b.decision_ids().unwrap(), ["d-1"]);
    let outcome = OutcomeRecord {
        decision_id: "d-1".into(),
        outcome_type: "conversion".into(),
        value: Some(30.0),
        action_id: Some("email_discount".into()),
        at: Timestamp(T0 + 1_000_000),
    };
    b.record_outcome(outcome.clone()).unwrap();
    assert_eq!(a.outcomes_for("d-1").unwrap(), vec![outcome]);
    // Experiments too.
    a.change_experiment(ExperimentChange::Create(Box::new(experiment(
        "exp", "home", 0.5,
    ))))
    .unwrap();
    b.change_experiment(ExperimentChange::Start("exp".into()))
        .unwrap();
    assert_eq!(a.experiment("exp").unwrap().status.name(), "running");
    // And profiles: with the cache off (the default on PostgreSQL) B reads A's events at once.
    let visit = |t| Event::new("alice", Timestamp(t), EventType::Visit);
    assert!(b.history("alice").unwrap().is_empty());
    a.append_events(&[visit(T0)]).unwrap();
    assert_eq!(b.history("alice").unwrap().len(), 1);
    assert!(b.cached_history("alice").is_none(), "nothing is cached");
}

#[test]
fn with_a_time_to_live_another_replica_s_events_show_once_it_passes() {
    let db = TestDb::postgres();
    let ttl = Duration::from_millis(300);
    let a = db.open();
    let b = db.open_with(&StoreConfig {
        profile_cache_ttl: Some(ttl),
        ..StoreConfig::default()
    });
    let visit = |t| Event::new("alice", Timestamp(t), EventType::Visit);
    a.append_events(&[visit(T0)]).unwrap();
    assert_eq!(b.history("alice").unwrap().len(), 1); // loaded and cached
    a.append_events(&[visit(T0 + 1)]).unwrap();
    // B's own writes are merged at once; A's show once the entry has lived its time.
    assert_eq!(
        b.cached_history("alice").unwrap().len(),
        1,
        "stale within the TTL"
    );
    b.append_events(&[visit(T0 + 2)]).unwrap();
    assert_eq!(b.history("alice").unwrap().len(), 2, "own write merged");
    std::thread::sleep(ttl + Duration::from_millis(100));
    assert!(b.cached_history("alice").is_none(), "expired");
    assert_eq!(
        b.history("alice").unwrap().len(),
        3,
        "reloaded: every write"
    );
}

#[test]
fn replicas_starting_experiments_in_one_layer_at_once_never_overlap() {
    let db = TestDb::postgres();
    let stores: Vec<Arc<Store>> = (0..2).map(|_| Arc::new(db.open())).collect();
    for round in 0..5 {
        // Two experiments that each want 60% of the layer: at most one can run.
        let ids = [format!("x{round}"), format!("y{round}")];
        let layer = format!("layer-{round}");
        for id in &ids {
            stores[0]
                .change_experiment(ExperimentChange::Create(Box::new(experiment(
                    id, &layer, 0.6,
                ))))
                .unwrap();
        }
        let barrier = Arc::new(Barrier::new(2));
        let starts: Vec<_> = stores
            .iter()
            .zip(ids.clone())
            .map(|(store, id)| {
                let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    store.change_experiment(ExperimentChange::Start(id))
                })
            })
            .collect();
        let results: Vec<_> = starts.into_iter().map(|t| t.join().unwrap()).collect();
        let started = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(started, 1, "round {round}: {results:?}");
        let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(refused.code(), "experiment_conflict", "{refused}");
    }
}

#[test]
fn the_same_outcome_sent_to_two_replicas_at_once_counts_once() {
    let db = TestDb::postgres();
    let stores: Vec<Arc<Store>> = (0..2).map(|_| Arc::new(db.open())).collect();
    for i in 0..20 {
        stores[0]
            .record_decision_with_events(decision(&format!("d-{i}"), "bob"), Vec::new())
            .unwrap();
    }
    let barrier = Arc::new(Barrier::new(2));
    let senders: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, barrier) = (Arc::clone(store), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..20 {
                    store
                        .record_outcome(OutcomeRecord {
                            decision_id: format!("d-{i}"),
                            outcome_type: "click".into(),
                            value: None,
                            action_id: None,
                            at: Timestamp(T0 + 5),
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(stores[1].counts().unwrap().outcomes, 20);
}

#[test]
fn replicas_opening_a_new_database_together_migrate_it_once() {
    let db = Arc::new(TestDb::postgres());
    let barrier = Arc::new(Barrier::new(3));
    let openers: Vec<_> = (0..3)
        .map(|_| {
            let (db, barrier) = (Arc::clone(&db), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                Store::open(db.location()).map(|store| store.close())
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap().unwrap();
    }
    let version = db
        .pg()
        .unwrap()
        .query_strings("SELECT version::text FROM schema_version");
    assert_eq!(version, [nextbest::store::SCHEMA_VERSION.to_string()]);
}

#[test]
fn an_unreachable_server_is_a_store_io_error_naming_it_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://nb:secret@{}:1/nb?connect_timeout=2",
        dir.path().display().to_string().replace('/', "%2F")
    );
    let err = Store::open(nextbest::store::StoreLocation::parse(&url).unwrap()).unwrap_err();
    assert_eq!(err.code(), "store_io");
    let message = err.to_string();
    assert!(
        message.contains("connecting to postgres://nb:***@"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");
}

/// The `postgres` client runs a runtime of its own that must never start on an async
/// runtime's thread: the store keeps it on threads of its own, so an async handler (or test)
/// may open the store and call it directly.
#[actix_web::test]
async fn the_store_may_be_called_from_async_code() {
    let db = TestDb::postgres();
    let store = db.open();
    store.record_decision(decision("d-async", "carol")).unwrap();
    assert!(store.decision("d-async").unwrap().is_some());
    assert_eq!(store.decisions_for("carol", 5).unwrap().len(), 1);
    assert!(store.experiments().unwrap().is_empty());
    store.close().unwrap();
}
