//! Parity: for a sample of customers, `nextbest score` answers exactly what a running
//! `nextbest serve` answers on `POST /v1/decisions` for the same history, attributes, policy
//! and instant (exploration off) — action for action, score for score.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::process::{Child, Command, Stdio};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use common::http::{free_port, wait_ready, Connection};
use nextbest::journey::{AttrValue, CustomerTable, EventReader, ReadOptions, Timestamp};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Map, Value};

const EVENTS: &str = "datasets/sample/events.parquet";
const CUSTOMERS: &str = "datasets/sample/customers.parquet";
const AS_OF: &str = "2025-11-15T00:00:00Z";
const TOP_K: usize = 3;

/// A running service, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The default policy without exploration, as a policy of its own (`greedy`).
fn greedy_policies(dir: &std::path::Path) -> std::path::PathBuf {
    let folder = dir.join("policies");
    std::fs::create_dir_all(&folder).unwrap();
    let default = std::fs::read_to_string("policies/default.toml").unwrap();
    let greedy: String = default
        .lines()
        .filter(|l| !l.starts_with("exploration =") && !l.starts_with("epsilon ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        greedy.len(),
        default.len() + 1,
        "the default policy explores"
    );
    std::fs::write(folder.join("greedy.toml"), greedy).unwrap();
    folder
}

fn attribute_json(table: &CustomerTable, id: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let row = table.get(id).unwrap();
    for (column, value) in table.attributes.iter().zip(row) {
        let v = match value {
            AttrValue::Missing => continue,
            AttrValue::Number(x) => json!(x),
            AttrValue::Bool(b) => json!(b),
            AttrValue::Date(t) => json!(t.to_rfc3339()),
            AttrValue::Category(c) => json!(c),
        };
        out.insert(column.name.clone(), v);
    }
    out
}

fn dict_string(batch: &RecordBatch, column: &str, row: usize) -> String {
    let array = batch.column_by_name(column).unwrap();
    match array.data_type() {
        arrow_schema::DataType::Dictionary(_, _) => {
            let dict = array.as_dictionary::<Int32Type>();
            dict.values()
                .as_string::<i32>()
                .value(dict.keys().value(row) as usize)
                .to_string()
        }
        _ => array.as_string::<i32>().value(row).to_string(),
    }
}

fn float(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let array = batch.column_by_name(column).unwrap();
    (!array.is_null(row)).then(|| array.as_primitive::<Float64Type>().value(row))
}

#[test]
fn batch_answers_equal_the_service_answers() {
    let dir = tempfile::tempdir().unwrap();
    let policies = greedy_policies(dir.path());
    let as_of = Timestamp::parse_date_or_datetime(AS_OF).unwrap();
    let table = CustomerTable::read(CUSTOMERS, None).unwrap();
    let events = EventReader::read_all(EVENTS, ReadOptions::default()).unwrap();
    let mut history: BTreeMap<&str, Vec<&nextbest::journey::Event>> = BTreeMap::new();
    for event in events.iter().filter(|e| e.timestamp < as_of) {
        history.entry(&event.customer_id).or_default().push(event);
    }
    // Every 40th customer of the table with some history (inline history is capped at 2,000).
    let sample: Vec<&str> = table
        .ids()
        .iter()
        .map(String::as_str)
        .filter(|id| history.get(id).is_some_and(|h| h.len() <= 2_000))
        .step_by(40)
        .collect();
    assert!(sample.len() >= 30, "{}", sample.len());

    // The batch side.
    let segment = dir.path().join("segment.txt");
    std::fs::write(&segment, sample.join("\n")).unwrap();
    let out = dir.path().join("scores.parquet");
    let run = Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args([
            "score",
            "--events",
            EVENTS,
            "--customers",
            CUSTOMERS,
            "--as-of",
            AS_OF,
        ])
        .args([
            "--policy",
            "greedy",
            "--policies",
            policies.to_str().unwrap(),
        ])
        .args([
            "--top-k",
            &TOP_K.to_string(),
            "--segment",
            segment.to_str().unwrap(),
        ])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // customer → [(action, score, p_convert, uplift, p_churn, propensity)] by rank.
    type Row = (String, f64, Option<f64>, Option<f64>, Option<f64>, f64);
    let mut batch_answers: BTreeMap<String, Vec<(u32, Row)>> = BTreeMap::new();
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap();
    for batch in reader {
        let batch = batch.unwrap();
        let ranks = batch
            .column_by_name("rank")
            .unwrap()
            .as_primitive::<UInt32Type>();
        for r in 0..batch.num_rows() {
            batch_answers
                .entry(
                    batch
                        .column_by_name("customer_id")
                        .unwrap()
                        .as_string::<i32>()
                        .value(r)
                        .to_string(),
                )
                .or_default()
                .push((
                    ranks.value(r),
                    (
                        dict_string(&batch, "action_id", r),
                        float(&batch, "score", r).unwrap(),
                        float(&batch, "p_convert", r),
                        float(&batch, "uplift", r),
                        float(&batch, "p_churn", r),
                        float(&batch, "propensity", r).unwrap(),
                    ),
                ));
        }
    }

    // The online side: a real service on a free loopback port.
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--workers", "1", "--policies", policies.to_str().unwrap()])
        .args(["--database", dir.path().join("nb.db").to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env("NEXTBEST_DEFAULT_POLICY", "greedy")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    wait_ready(server.port);
    let mut connection = Connection::open(server.port).unwrap();
    let mut compared_actions = 0;
    for id in &sample {
        let events: Vec<Value> = history[id]
            .iter()
            .map(|e| {
                let mut v = json!({
                    "timestamp": e.timestamp.to_rfc3339(),
                    "event_type": e.event_type.as_str(),
                });
                if let Some(c) = &e.channel {
                    v["channel"] = json!(c.as_str());
                }
                if let Some(a) = &e.action_id {
                    v["action_id"] = json!(a);
                }
                if let Some(x) = e.value {
                    v["value"] = json!(x);
                }
                if let Some(t) = &e.text {
                    v["text"] = json!(t);
                }
                v
            })
            .collect();
        let request = json!({
            "customer_id": id,
            "context": {"timestamp": AS_OF},
            "customer": {"attributes": attribute_json(&table, id)},
            "history": events,
            "policy": "greedy",
            "max_actions": TOP_K,
            "dry_run": true,
        });
        let (status, answer) = connection
            .request("POST", "/v1/decisions", &request.to_string())
            .expect("an answer");
        assert_eq!(status, 200, "{answer}");
        let online: Vec<(u32, Row)> = answer["decision"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let c = &a["components"];
                (
                    a["rank"].as_u64().unwrap() as u32,
                    (
                        a["action_id"].as_str().unwrap().to_string(),
                        a["score"].as_f64().unwrap(),
                        c["p_convert"].as_f64(),
                        c["uplift"].as_f64(),
                        answer["p_churn"].as_f64(),
                        a["propensity"].as_f64().unwrap(),
                    ),
                )
            })
            .collect();
        let batch = batch_answers.get(*id).cloned().unwrap_or_default();
        assert_eq!(batch, online, "customer {id}");
        compared_actions += online.len();
    }
    assert!(compared_actions >= sample.len(), "{compared_actions}");
}
