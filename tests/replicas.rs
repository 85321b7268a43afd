//! Two `nextbest serve` replicas on one PostgreSQL database, as behind a load balancer: an
//! experiment defined and started through one is applied by the other; each customer gets the
//! same arm from both; outcomes sent to the replica that did not decide are taken; and every
//! decision and outcome either replica acknowledged is in the database.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{free_port, wait_ready, Connection};
use common::TestDb;
use serde_json::{json, Value};

/// A running replica, killed when dropped (a failing test leaves no process behind).
struct Replica {
    child: Child,
    port: u16,
}

impl Replica {
    fn start(url: &str) -> Replica {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_nextbest"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--workers", "2", "--database", url])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Replica { child, port }
    }

    fn connection(&self) -> Connection {
        Connection::open(self.port).expect("connect to the replica")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn post(c: &mut Connection, path: &str, body: &Value) -> (u16, Value) {
    c.request("POST", path, &body.to_string())
        .unwrap_or_else(|| panic!("no answer to POST {path} {body}"))
}

fn decision_for(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "context": {"channel": "web", "placement": "homepage", "timestamp": "2025-11-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true, "sms_consent": true, "push_consent": true}},
        "history": [
            {"timestamp": "2025-11-01T09:00:00Z", "event_type": "visit", "channel": "web"},
            {"timestamp": "2025-11-01T09:05:00Z", "event_type": "purchase", "channel": "web", "value": 80.0}
        ]
    })
}

/// A decision's id and its arm in the experiment (`None`: not enrolled).
fn decide(c: &mut Connection, customer: &str) -> (String, Option<String>) {
    let (status, answer) = post(c, "/v1/decisions", &decision_for(customer));
    assert_eq!(status, 200, "{answer}");
    let arm = answer["experiment"]["arm"].as_str().map(str::to_string);
    (answer["decision_id"].as_str().unwrap().to_string(), arm)
}

#[test]
fn two_replicas_share_experiments_decisions_and_outcomes() {
    let db = TestDb::postgres();
    let url = db.pg().unwrap().url.clone();
    let started = Instant::now();
    let replicas = [Replica::start(&url), Replica::start(&url)];
    for replica in &replicas {
        wait_ready(replica.port);
    }
    let mut a = replicas[0].connection();
    let mut b = replicas[1].connection();

    let experiment = json!({
        "id": "replicated",
        "name": "Model against rules, on two replicas",
        "arms": [
            {"name": "rules", "policy": "rules", "weight": 0.4},
            {"name": "model", "policy": "default", "weight": 0.4},
            {"name": "holdout", "holdout": true, "weight": 0.2}
        ]
    });
    let (status, created) = post(&mut a, "/v1/experiments", &experiment);
    assert_eq!(status, 201, "{created}");
    let (status, running) = post(&mut a, "/v1/experiments/replicated/start", &json!({}));
    assert_eq!(status, 200, "{running}");

    let mut acknowledged: Vec<String> = Vec::new();
    // B applies it within its refresh period (2 s); its probe decisions count as any other.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (id, arm) = decide(&mut b, "probe");
        acknowledged.push(id);
        if arm.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica B never applied the experiment"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A's connection idled past the service's keep-alive meanwhile.
    let mut a = replicas[0].connection();
    // Every customer decided by both replicas, alternating which goes first.
    let mut decided_by: Vec<(String, usize)> = Vec::new();
    let mut arms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in 0..60 {
        let customer = format!("R-{i}");
        for turn in 0..2 {
            let which = (i + turn) % 2;
            let c = if which == 0 { &mut a } else { &mut b };
            let (id, arm) = decide(c, &customer);
            let arm = arm.unwrap_or_else(|| panic!("{customer}: not enrolled by replica {which}"));
            arms.entry(customer.clone()).or_default().insert(arm);
            decided_by.push((id.clone(), which));
            acknowledged.push(id);
        }
    }
    for (customer, seen) in &arms {
        assert_eq!(seen.len(), 1, "{customer} got different arms: {seen:?}");
    }

    // Outcomes for a third of the decisions, each sent to the replica that did not decide it.
    let mut outcomes: Vec<String> = Vec::new();
    for (id, which) in decided_by.iter().step_by(3) {
        let c = if *which == 0 { &mut b } else { &mut a };
        let body = json!({"decision_id": id, "type": "conversion", "value": 25.0,
                          "timestamp": "2025-11-21T10:00:00Z"});
        let (status, answer) = post(c, "/v1/outcomes", &body);
        assert_eq!(status, 201, "{answer}");
        outcomes.push(id.clone());
    }

    // Every acknowledged decision and outcome is in the database, each customer in one arm.
    let pg = db.pg().unwrap();
    let logged: BTreeSet<String> = pg
        .query_strings("SELECT decision_id FROM decisions")
        .into_iter()
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !logged.contains(*id))
        .collect();
    assert!(missing.is_empty(), "decisions missing: {missing:?}");
    assert_eq!(logged.len(), acknowledged.len());
    let with_outcome: BTreeSet<String> = pg
        .query_strings("SELECT decision_id FROM outcomes WHERE outcome_type = 'conversion'")
        .into_iter()
        .collect();
    assert_eq!(with_outcome, outcomes.iter().cloned().collect());
    let split = pg.query_strings(
        "SELECT customer_id FROM decisions WHERE experiment_id = 'replicated'
         GROUP BY customer_id HAVING COUNT(DISTINCT arm) > 1",
    );
    assert!(split.is_empty(), "customers logged in two arms: {split:?}");
    let logged_arms = pg.query_strings(
        "SELECT customer_id || '=' || MIN(arm) FROM decisions
         WHERE experiment_id = 'replicated' AND customer_id LIKE 'R-%' GROUP BY customer_id",
    );
    for entry in logged_arms {
        let (customer, arm) = entry.split_once('=').unwrap();
        assert!(arms[customer].contains(arm), "{customer}: {arm} in the log");
    }
    eprintln!(
        "two replicas: {} decisions, {} outcomes in {:.1} s",
        acknowledged.len(),
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
}
