//! Nothing acknowledged is lost: decisions are sent to a real `nextbest serve` process from
//! several connections at once, the process is killed with SIGKILL mid-stream, and every
//! decision it answered with 200 must be in the database when it is opened again — a SQLite
//! file, or a PostgreSQL database.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::http::{free_port, wait_ready, Connection};
use common::TestDb;
use nextbest::store::{Store, StoreLocation};
use serde_json::json;

const CONNECTIONS: usize = 8;

fn start_server(dir: &Path, database: &StoreLocation, port: u16, acknowledge: &str) -> Child {
    // A long linger keeps decisions nobody waits for queued for a while: answered before their
    // commit, they would be lost by the kill, so the test could not pass by luck.
    let config = dir.join("serve.toml");
    std::fs::write(&config, "[store]\nbatch_linger_ms = 200\n").unwrap();
    Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "2",
        ])
        .arg("--config")
        .arg(config)
        .arg("--database")
        .arg(String::from(database.clone()))
        .args(["--acknowledge", acknowledge])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Half the decisions carry their history (decided in memory), half read a stored profile
/// that is not cached yet (decided on the blocking pool): both ways of answering are covered.
fn decision_body(connection: usize, i: usize) -> String {
    let customer = format!("K-{connection}-{i}");
    let mut body = json!({
        "customer_id": customer,
        "context": {"channel": "web", "timestamp": "2025-11-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true, "sms_consent": true}},
    });
    if i % 2 == 0 {
        body["history"] = json!([
            {"timestamp": "2025-11-01T09:00:00Z", "event_type": "visit", "channel": "web"},
            {"timestamp": "2025-11-01T09:05:00Z", "event_type": "purchase", "channel": "web", "value": 80.0}
        ]);
    }
    body.to_string()
}

/// Sends decisions until the server dies; returns the ids it acknowledged.
fn send_until_killed(port: u16, connection: usize, stop: &AtomicBool) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let Some(mut c) = Connection::open(port) else {
        return acknowledged;
    };
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match c.request("POST", "/v1/decisions", &decision_body(connection, i)) {
            Some((200, answer)) => {
                acknowledged.push(answer["decision_id"].as_str().unwrap().to_string());
            }
            Some((status, answer)) => panic!("{status}: {answer}"),
            None => break,
        }
    }
    acknowledged
}

fn every_acknowledged_decision_survives_sigkill(db: &TestDb) {
    survives_sigkill(db, "committed");
}

/// `--acknowledge spooled` (SQLite): answered once appended to the spool, before the commit;
/// opening the store replays what the killed process left in the spool.
#[test]
fn every_decision_acknowledged_once_spooled_survives_sigkill() {
    let db = TestDb::sqlite();
    survives_sigkill(&db, "spooled");
    let spools = std::fs::read_dir(db.dir())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().contains("-spool.")
        })
        .count();
    assert_eq!(spools, 0, "the replayed spool files are deleted");
}

fn survives_sigkill(db: &TestDb, acknowledge: &str) {
    let database = db.location();
    let port = free_port();
    let mut server = start_server(db.dir(), &database, port, acknowledge);
    wait_ready(port);

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|connection| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || send_until_killed(port, connection, &stop))
        })
        .collect();
    // Long enough for thousands of decisions and many group commits, then no warning.
    std::thread::sleep(Duration::from_millis(1_500));
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 100,
        "too few decisions to prove anything: {}",
        acknowledged.len()
    );

    // Opening the database again recovers its write-ahead log, as a restarted server would
    // (on PostgreSQL the server never went away: the killed replica's commits are simply there).
    let store = Store::open(&database).unwrap();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| store.decision(id).unwrap().is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged decisions lost, e.g. {:?}",
        missing.len(),
        acknowledged.len(),
        missing.iter().take(3).collect::<Vec<_>>()
    );
}

on_both_backends!(every_acknowledged_decision_survives_sigkill);
