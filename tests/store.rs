//! The store: decision log round trips, outcomes, bounded profiles, persistence,
//! concurrency, back-pressure and schema versions — every behaviour on both backends (a SQLite
//! file, and a database on a throwaway PostgreSQL server: see `common/postgres.rs`).

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::TestDb;

use nextbest::journey::{Channel, Event, EventType, Timestamp};
use nextbest::store::{
    DecisionRecord, ExperimentArm, LoggedAction, OutcomeRecord, Store, StoreConfig, StoreError,
    SCHEMA_VERSION,
};

const T0: i64 = 1_750_000_000_000_000;

fn decision(id: &str, customer: &str, at: i64) -> DecisionRecord {
    DecisionRecord {
        decision_id: id.to_string(),
        customer_id: customer.to_string(),
        policy: "expected_value".to_string(),
        experiment: Some(ExperimentArm {
            experiment_id: "exp-1".to_string(),
            arm: "treatment".to_string(),
        }),
        actions: vec![
            LoggedAction {
                action_id: "discount_10".to_string(),
                rank: 1,
                score: 3.25,
                propensity: 0.85,
            },
            LoggedAction {
                action_id: "push_reminder".to_string(),
                rank: 2,
                score: 1.0 / 3.0,
                propensity: 0.15,
            },
        ],
        model_versions: BTreeMap::from([
            ("churn".to_string(), "churn-v3".to_string()),
            ("conversion".to_string(), "conv-v1".to_string()),
        ]),
        context: serde_json::json!({"channel": "app", "placement": "home", "n": 2}),
        created: Timestamp(at),
        latency_us: 1_234,
        dry_run: false,
    }
}

fn outcome(decision_id: &str, kind: &str, action: Option<&str>) -> OutcomeRecord {
    OutcomeRecord {
        decision_id: decision_id.to_string(),
        outcome_type: kind.to_string(),
        value: Some(19.99),
        action_id: action.map(str::to_string),
        at: Timestamp(T0 + 3_600_000_000),
    }
}

fn event(customer: &str, at: i64, i: usize) -> Event {
    let mut e = Event::new(customer, Timestamp(at), EventType::PageView);
    match i % 4 {
        0 => e = e.with_channel(Channel::Web),
        1 => {
            e = e
                .with_channel(Channel::parse("kiosk"))
                .with_value(i as f64 * 0.5)
        }
        2 => e.event_type = EventType::parse("loyalty_points"),
        _ => {
            e.event_type = EventType::SupportTicket;
            e = e.with_text(format!("ticket {i}: où est ma commande ?"));
        }
    }
    e
}

fn decisions_round_trip_after_flush(db: &TestDb) {
    let store = db.open();
    let first = decision("d-1", "alice", T0);
    let mut second = decision("d-2", "alice", T0 + 1_000);
    second.experiment = None;
    second.actions.clear();
    second.dry_run = true;
    second.context = serde_json::Value::Null;
    let third = decision("d-3", "bob", T0 + 2_000);
    for d in [&first, &second, &third] {
        store.record_decision(d.clone()).unwrap();
    }
    store.flush().unwrap();

    assert_eq!(store.decision("d-1").unwrap().as_ref(), Some(&first));
    assert_eq!(store.decision("d-2").unwrap().as_ref(), Some(&second));
    assert_eq!(store.decision("nope").unwrap(), None);
    let alice = store.decisions_for("alice", 10).unwrap();
    assert_eq!(alice, vec![second.clone(), first.clone()], "newest first");
    assert_eq!(store.decisions_for("alice", 1).unwrap(), vec![second]);
    // The whole log, oldest first (what off-policy evaluation reads).
    assert_eq!(store.decision_ids().unwrap(), ["d-1", "d-2", "d-3"]);
    assert!(store.decisions_for("carol", 10).unwrap().is_empty());

    let counts = store.counts().unwrap();
    assert_eq!(counts.decisions, 3);
    let stats = store.stats();
    assert_eq!(stats.decisions_accepted, 3);
    assert_eq!(stats.decisions_written, 3);
    assert_eq!(stats.queue_depth, 0);
}

fn a_decision_is_readable_as_soon_as_it_is_accepted(db: &TestDb) {
    let store = db.open_with(&StoreConfig {
        batch_linger: Duration::from_secs(5),
        ..StoreConfig::default()
    });
    let d = decision("d-now", "alice", T0);
    store.record_decision(d.clone()).unwrap();
    // The writer is lingering on its batch; the lookup must not miss the queued record.
    assert_eq!(store.decision("d-now").unwrap(), Some(d));
}

fn invalid_decisions_are_refused_before_queueing(db: &TestDb) {
    let store = db.open();
    let mut bad = decision("d-bad", "alice", T0);
    bad.actions[1].propensity = 1.5;
    let err = store.record_decision(bad).unwrap_err();
    assert_eq!(err.code(), "invalid_decision");
    assert!(err.to_string().contains("actions[1].propensity"), "{err}");
    store.flush().unwrap();
    assert_eq!(store.counts().unwrap().decisions, 0);
    assert_eq!(store.stats().decisions_accepted, 0);
}

fn a_duplicate_decision_id_keeps_the_first_record(db: &TestDb) {
    let store = db.open();
    let first = decision("d-1", "alice", T0);
    let mut again = decision("d-1", "bob", T0 + 5);
    again.actions.truncate(1);
    store.record_decision(first.clone()).unwrap();
    store.record_decision(again).unwrap();
    store.flush().unwrap();
    assert_eq!(store.decision("d-1").unwrap(), Some(first));
    let stats = store.stats();
    assert_eq!((stats.decisions_written, stats.decisions_duplicate), (1, 1));
    assert_eq!(stats.queue_depth, 0);
}

/// Alice's profile in memory, then decision `d-1` with one exposure logged twice (a retry).
fn log_twice_with_an_exposure(store: &Store) {
    let mut exposure =
        Event::new("alice", Timestamp(T0), EventType::Action).with_channel(Channel::Email);
    exposure.action_id = Some("discount_10".into());
    store.append_events(&[event("alice", T0 - 10, 0)]).unwrap();
    assert_eq!(store.history("alice").unwrap().len(), 1); // now in memory
    for _ in 0..2 {
        store
            .record_decision_with_events(decision("d-1", "alice", T0), vec![exposure.clone()])
            .unwrap();
    }
}

fn a_duplicate_decision_with_exposures_adds_them_neither_to_disk_nor_to_memory(db: &TestDb) {
    let store = db.open_with(&db.cached());
    log_twice_with_an_exposure(&store);
    let stats = store.stats();
    assert_eq!((stats.decisions_written, stats.decisions_duplicate), (1, 1));
    let in_memory = store.cached_history("alice").expect("cached");
    assert_eq!(in_memory.len(), 2, "{:?}", *in_memory);
    store.close().unwrap();
    assert_eq!(*db.open().history("alice").unwrap(), *in_memory);
}

fn an_outcome_for_an_unknown_decision_is_refused(db: &TestDb) {
    let store = db.open();
    let err = store
        .record_outcome(outcome("never-made", "conversion", None))
        .unwrap_err();
    assert_eq!(err.code(), "unknown_decision");
    assert!(err.code().is_client_error());
    assert_eq!(store.counts().unwrap().outcomes, 0);
}

fn an_outcome_right_after_its_decision_needs_no_flush(db: &TestDb) {
    // A long linger: without the queue's ordering the decision would still be uncommitted.
    let store = db.open_with(&StoreConfig {
        batch_linger: Duration::from_secs(5),
        ..StoreConfig::default()
    });
    store.record_decision(decision("d-1", "alice", T0)).unwrap();
    let click = outcome("d-1", "click", Some("push_reminder"));
    store.record_outcome(click.clone()).unwrap();
    let conversion = OutcomeRecord {
        value: None,
        action_id: None,
        at: Timestamp(T0 + 7_200_000_000),
        ..outcome("d-1", "conversion", None)
    };
    store.record_outcome(conversion.clone()).unwrap();

    // An action the decision did not choose is refused, naming the ones it did.
    let err = store
        .record_outcome(outcome("d-1", "click", Some("call_back")))
        .unwrap_err();
    assert_eq!(err.code(), "invalid_outcome");
    assert!(
        err.to_string().contains("discount_10, push_reminder"),
        "{err}"
    );
    // Field validation needs no database.
    let err = store.record_outcome(outcome("d-1", "", None)).unwrap_err();
    assert_eq!(err.code(), "invalid_outcome");
    let mut nan = outcome("d-1", "conversion", None);
    nan.value = Some(f64::NAN);
    assert_eq!(
        store.record_outcome(nan).unwrap_err().code(),
        "invalid_outcome"
    );

    assert_eq!(store.outcomes_for("d-1").unwrap(), vec![click, conversion]);
    assert!(store.outcomes_for("d-2").unwrap().is_empty());
}

fn profiles_keep_the_latest_events_sorted(db: &TestDb) {
    let store = db.open_with(&db.cached());
    // 1,500 events in three batches, out of time order within and across batches.
    let all: Vec<Event> = (0..1_500)
        .map(|i| {
            let at = T0 + ((i * 7_919) % 1_500) as i64 * 1_000_000;
            event("alice", at, i)
        })
        .collect();
    // Warm the cache on an empty profile, so that the writer's merge path is exercised too.
    assert!(store.history("alice").unwrap().is_empty());
    for chunk in all.chunks(500) {
        store.append_events(chunk).unwrap();
    }
    store.append_events(&[event("bob", T0, 0)]).unwrap();

    let mut expected = all.clone();
    expected.sort_by_key(|e| e.timestamp);
    let expected = expected.split_off(500);
    let cached = store.history("alice").unwrap();
    assert_eq!(cached.len(), 1_000);
    assert_eq!(*cached, expected);
    assert_eq!(store.history("bob").unwrap().len(), 1);
    assert!(store.history("nobody").unwrap().is_empty());
    let counts = store.counts().unwrap();
    assert_eq!((counts.events, counts.profiles), (1_001, 2));

    // A second handle has a cold cache: the same profile comes from SQL.
    let other = db.open_with(&db.cached());
    assert_eq!(*other.history("alice").unwrap(), expected);
    assert_eq!(other.stats().profile_cache_misses, 1);
    assert_eq!(*other.history("alice").unwrap(), expected);
    assert_eq!(other.stats().profile_cache_hits, 1);
}

fn equal_timestamps_keep_arrival_order_in_memory_and_on_disk(db: &TestDb) {
    let store = db.open_with(&StoreConfig {
        max_events_per_customer: 3,
        ..db.cached()
    });
    store.history("c").unwrap();
    let tagged = |tag: &str| Event::new("c", Timestamp(T0), EventType::Visit).with_action(tag);
    store.append_events(&[tagged("a"), tagged("b")]).unwrap();
    store.append_events(&[tagged("c"), tagged("d")]).unwrap();
    let tags =
        |p: &[Event]| -> Vec<String> { p.iter().map(|e| e.action_id.clone().unwrap()).collect() };
    assert_eq!(tags(&store.history("c").unwrap()), ["b", "c", "d"]);
    drop(store);
    assert_eq!(tags(&db.open().history("c").unwrap()), ["b", "c", "d"]);
}

fn invalid_events_write_nothing(db: &TestDb) {
    let store = db.open();
    let good = event("alice", T0, 0);
    let mut bad = event("alice", T0, 1);
    bad.value = Some(f64::INFINITY);
    let err = store.append_events(&[good.clone(), bad]).unwrap_err();
    assert_eq!(err.code(), "invalid_event");
    assert!(err.to_string().contains("index 1"), "{err}");
    let mut nameless = good.clone();
    nameless.customer_id = String::new();
    assert_eq!(
        store.append_events(&[nameless]).unwrap_err().code(),
        "invalid_event"
    );
    // A NUL character fits no text column (PostgreSQL refuses it): refused on every backend.
    let mut nul = good.clone();
    nul.text = Some("before\0after".into());
    let err = store.append_events(&[nul]).unwrap_err();
    assert_eq!(err.code(), "invalid_event");
    assert!(err.to_string().contains("text"), "{err}");
    assert_eq!(store.counts().unwrap().events, 0);
    assert!(store.history("alice").unwrap().is_empty());
    store.append_events(&[]).unwrap();
}

fn everything_survives_a_reopen(db: &TestDb) {
    let d = decision("d-1", "alice", T0);
    let o = outcome("d-1", "conversion", Some("discount_10"));
    let events: Vec<Event> = (0..20).map(|i| event("alice", T0 + i as i64, i)).collect();
    {
        let store = db.open();
        store.record_decision(d.clone()).unwrap();
        store.record_outcome(o.clone()).unwrap();
        store.append_events(&events).unwrap();
        // Queued but never flushed explicitly: dropping the store must drain the queue.
        store
            .record_decision(decision("d-2", "bob", T0 + 1))
            .unwrap();
    }
    let store = db.open();
    assert_eq!(store.decision("d-1").unwrap(), Some(d));
    assert!(store.decision("d-2").unwrap().is_some());
    assert_eq!(store.outcomes_for("d-1").unwrap(), vec![o]);
    assert_eq!(*store.history("alice").unwrap(), events);
    store.close().unwrap();
}

fn decisions_from_four_threads_are_all_persisted(db: &TestDb) {
    let store = Arc::new(db.open());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..2_500 {
                    let mut d = decision(&format!("t{t}-{i}"), &format!("c{}", i % 50), T0 + i);
                    // Back-pressure is the caller's to handle; here, wait and retry.
                    loop {
                        match store.record_decision(d) {
                            Ok(()) => break,
                            Err(StoreError::Overloaded { .. }) => {
                                std::thread::sleep(Duration::from_millis(1));
                                d = decision(&format!("t{t}-{i}"), &format!("c{}", i % 50), T0 + i);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.counts().unwrap().decisions, 10_000);
    let stats = store.stats();
    assert_eq!(stats.decisions_written, 10_000);
    assert!(
        stats.batches_committed < 10_000,
        "writes are batched: {stats:?}"
    );
    drop(store);
    assert_eq!(db.open().counts().unwrap().decisions, 10_000);
}

fn a_full_queue_refuses_decisions_at_once_and_loses_none_it_accepted(db: &TestDb) {
    let config = StoreConfig {
        queue_capacity: 8,
        batch_max: 4,
        batch_linger: Duration::ZERO,
        busy_timeout: Duration::from_secs(30),
        ..StoreConfig::default()
    };
    let store = db.open_with(&config);
    let lock = db.lock_writes();
    let mut accepted = 0;
    let mut refused = None;
    for i in 0..100 {
        match store.record_decision(decision(&format!("d-{i}"), "alice", T0 + i)) {
            Ok(()) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a stalled writer must fill the queue");
    assert_eq!(refused.code(), "store_overloaded");
    assert!(!refused.code().is_client_error());
    // The writer holds at most one batch; the queue holds the rest.
    assert!(
        accepted <= config.queue_capacity + config.batch_max,
        "{accepted}"
    );
    assert_eq!(store.stats().decisions_rejected_overloaded, 1);

    drop(lock);
    store.flush().unwrap();
    assert_eq!(store.counts().unwrap().decisions, accepted as u64);
    assert_eq!(store.stats().queue_depth, 0);
}

fn records_the_writer_cannot_write_are_counted_and_reported_by_flush(db: &TestDb) {
    let config = StoreConfig {
        busy_timeout: Duration::from_millis(5),
        batch_linger: Duration::ZERO,
        ..StoreConfig::default()
    };
    let store = db.open_with(&config);
    let lock = db.lock_writes();
    store
        .record_decision(decision("d-lost", "alice", T0))
        .unwrap();
    let err = store.flush().unwrap_err();
    assert_eq!(err.code(), "store_io");
    assert_eq!(store.stats().decisions_lost, 1);
    let err = store.append_events(&[event("alice", T0, 0)]).unwrap_err();
    assert_eq!(err.code(), "store_io");
    // Once the lock is gone the store works again, and the loss was reported only once.
    drop(lock);
    store
        .record_decision(decision("d-kept", "alice", T0))
        .unwrap();
    store.flush().unwrap();
    assert!(store.decision("d-kept").unwrap().is_some());
    assert_eq!(store.decision("d-lost").unwrap(), None);
}

fn a_newer_schema_version_is_refused(db: &TestDb) {
    db.open().close().unwrap();
    db.set_schema_version(SCHEMA_VERSION + 1);
    let err = Store::open(db.location()).unwrap_err();
    assert_eq!(err.code(), "store_schema");
    assert!(
        err.to_string()
            .contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{err}"
    );
}

/// With the decision spool (SQLite), a decision is answered before its commit; a profile
/// loaded from the log meanwhile (not cached when the decision was made) must still hold its
/// exposures, or the next decision for the customer would break a contact cap.
#[test]
fn spooled_exposures_are_seen_before_their_commit_and_counted_once() {
    let db = TestDb::sqlite();
    let store = db.open_with(&StoreConfig {
        spool_decisions: true,
        // The writer waits this long for more before committing: the read lands before.
        batch_linger: Duration::from_millis(400),
        ..db.cached()
    });
    let mut exposure =
        Event::new("alice", Timestamp(T0), EventType::Action).with_channel(Channel::Email);
    exposure.action_id = Some("discount_10".into());
    store
        .record_decision_with_events(decision("d-1", "alice", T0), vec![exposure.clone()])
        .unwrap();
    assert!(store.cached_history("alice").is_none(), "not cached yet");
    let before_commit = store.history("alice").unwrap();
    assert_eq!(*before_commit, vec![exposure.clone()]);
    store.flush().unwrap();
    assert_eq!(*store.history("alice").unwrap(), vec![exposure.clone()]);
    store.close().unwrap();
    assert_eq!(*db.open().history("alice").unwrap(), vec![exposure]);
}

/// With the decision spool (SQLite), a repeat is answered at once and its exposures reach the
/// cached profile before the writer finds the id taken; the writer then drops that profile, so
/// memory and disk agree again once the repeat is committed.
#[test]
fn a_spooled_duplicate_with_exposures_leaves_memory_as_the_log() {
    let db = TestDb::sqlite();
    let store = db.open_with(&StoreConfig {
        spool_decisions: true,
        ..db.cached()
    });
    log_twice_with_an_exposure(&store);
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!((stats.decisions_written, stats.decisions_duplicate), (1, 1));
    if let Some(in_memory) = store.cached_history("alice") {
        assert_eq!(in_memory.len(), 2, "{:?}", *in_memory);
    }
    let history = store.history("alice").unwrap();
    assert_eq!(history.len(), 2, "{:?}", *history);
    store.close().unwrap();
    assert_eq!(*db.open().history("alice").unwrap(), *history);
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(
        &path,
        "these are not the tables you are looking for\n".repeat(100),
    )
    .unwrap();
    assert_eq!(Store::open(&path).unwrap_err().code(), "store_schema");
}

/// Merges into cached profiles and pruning in SQL must keep the same events in the same order.
/// (The narrow race of a load overtaken by a commit is pinned by a unit test of the cache.)
fn the_cache_agrees_with_the_database_under_concurrent_reads_and_writes(db: &TestDb) {
    let config = StoreConfig {
        max_events_per_customer: 50,
        // Room for about four of the six profiles: some are evicted and reloaded while writes
        // go on, and stale ones would have a chance to stay until the end.
        profile_cache_bytes: 400 * (std::mem::size_of::<nextbest::journey::Event>() + 8),
        ..db.cached()
    };
    let store = Arc::new(db.open_with(&config));
    let customers: Vec<String> = (0..6).map(|i| format!("c{i}")).collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let store = Arc::clone(&store);
            let customers = customers.clone();
            std::thread::spawn(move || {
                for i in 0..300usize {
                    let customer = &customers[(i + w) % customers.len()];
                    let at = T0 + ((i * 37 + w * 11) % 200) as i64;
                    store
                        .append_events(&[event(customer, at, i), event(customer, at + 1, i + 1)])
                        .unwrap();
                }
            })
        })
        .collect();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let store = Arc::clone(&store);
            let customers = customers.clone();
            let writing = Arc::clone(&writing);
            std::thread::spawn(move || {
                let mut i = 0usize;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let profile = store
                        .history(&customers[(i * 7 + r) % customers.len()])
                        .unwrap();
                    assert!(profile.len() <= 50);
                    assert!(profile.windows(2).all(|p| p[0].timestamp <= p[1].timestamp));
                }
            })
        })
        .collect();
    for thread in writers {
        thread.join().unwrap();
    }
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    for thread in readers {
        thread.join().unwrap();
    }
    let fresh = db.open();
    for customer in &customers {
        assert_eq!(
            *store.history(customer).unwrap(),
            *fresh.history(customer).unwrap(),
            "{customer}: cached profile differs from the database"
        );
    }
}

/// The writer runs below the request threads (a higher nice value) so logging yields to
/// answering on a busy CPU; the caller's own priority is untouched.
fn the_writer_thread_runs_at_a_lower_priority_than_its_caller(db: &TestDb) {
    if !cfg!(target_os = "linux") {
        return;
    }
    // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value; the comm (field 2) has no
    // spaces for these threads, so splitting on spaces is safe.
    fn nice_of(task: &Path) -> Option<i64> {
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let after_comm = stat.rsplit_once(')')?.1;
        after_comm.split_whitespace().nth(16)?.parse().ok()
    }
    let store = db.open();
    store.flush().unwrap();
    let own = nice_of(Path::new("/proc/thread-self")).unwrap();
    let writer = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(Result::ok)
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("nextbest-store"))
        })
        .expect("a writer thread");
    let writer_nice = nice_of(&writer.path()).unwrap();
    // Relative to the process (19 is the floor of priority, for a test run under `nice`).
    assert!(
        writer_nice > own || writer_nice == 19,
        "writer nice {writer_nice}, caller {own}"
    );
    assert_eq!(nice_of(Path::new("/proc/thread-self")), Some(own));
}

fn an_outcome_counts_once_and_only_within_its_decision_s_window(db: &TestDb) {
    let store = db.open();
    store.record_decision(decision("d-1", "alice", T0)).unwrap();
    let conversion = outcome("d-1", "conversion", Some("discount_10"));
    // Sent five times (a retrying client, or a forger): one conversion.
    for _ in 0..5 {
        store.record_outcome(conversion.clone()).unwrap();
    }
    assert_eq!(store.outcomes_for("d-1").unwrap(), vec![conversion]);
    // Another type, or another action, is another outcome.
    store
        .record_outcome(outcome("d-1", "click", Some("discount_10")))
        .unwrap();
    assert_eq!(store.outcomes_for("d-1").unwrap().len(), 2);
    // Before the decision (beyond clock skew), or years after it: refused, naming the time.
    for at in [T0 - 3_600_000_000, T0 + 400 * Timestamp::MICROS_PER_DAY] {
        let mut late = outcome("d-1", "purchase", None);
        late.at = Timestamp(at);
        let err = store.record_outcome(late).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidOutcome { field: "at", .. }),
            "{err}"
        );
    }
    let mut skewed = outcome("d-1", "purchase", None);
    skewed.at = Timestamp(T0 - 60_000_000);
    store.record_outcome(skewed).unwrap();
}

on_both_backends!(
    decisions_round_trip_after_flush,
    a_decision_is_readable_as_soon_as_it_is_accepted,
    invalid_decisions_are_refused_before_queueing,
    a_duplicate_decision_id_keeps_the_first_record,
    a_duplicate_decision_with_exposures_adds_them_neither_to_disk_nor_to_memory,
    an_outcome_for_an_unknown_decision_is_refused,
    an_outcome_right_after_its_decision_needs_no_flush,
    profiles_keep_the_latest_events_sorted,
    equal_timestamps_keep_arrival_order_in_memory_and_on_disk,
    invalid_events_write_nothing,
    everything_survives_a_reopen,
    decisions_from_four_threads_are_all_persisted,
    a_full_queue_refuses_decisions_at_once_and_loses_none_it_accepted,
    records_the_writer_cannot_write_are_counted_and_reported_by_flush,
    a_newer_schema_version_is_refused,
    the_cache_agrees_with_the_database_under_concurrent_reads_and_writes,
    the_writer_thread_runs_at_a_lower_priority_than_its_caller,
    an_outcome_counts_once_and_only_within_its_decision_s_window,
);

/// An answered (spooled) decision whose commit fails stays in the spool, even through a clean
/// close whose own flush reports the failure, and is committed when the store next opens.
#[test]
fn a_spooled_decision_whose_commit_failed_is_replayed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let config = StoreConfig {
        spool_decisions: true,
        busy_timeout: Duration::from_millis(20),
        ..StoreConfig::default()
    };
    let store = Store::open_with(path.as_path(), &config).unwrap();
    store.record_decision(decision("d-0", "alice", T0)).unwrap();
    store.flush().unwrap();
    // Another process holds the database: the writer's commit fails after its retries.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    store
        .record_decision_with_events(decision("d-1", "alice", T0), Vec::new())
        .unwrap(); // answered once spooled
    let start = std::time::Instant::now();
    while store.stats().decisions_lost == 0 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(store.stats().decisions_lost, 1);
    blocker.execute_batch("ROLLBACK").unwrap();
    drop(blocker);
    assert!(
        store.close().is_err(),
        "the close reports the failed commit"
    );
    let store = Store::open(path.as_path()).unwrap();
    assert!(store.decision("d-1").unwrap().is_some());
    assert!(store.decision("d-0").unwrap().is_some());
}
