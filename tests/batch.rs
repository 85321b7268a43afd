//! `nextbest score` end to end on the committed sample: decisions and predictions from events
//! and from a feature matrix agree with each other and with the engine's own scoring; a bad
//! row names file, row and column and leaves no output; shards partition the customers;
//! exploration is off unless asked for, and then reproducible.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const EVENTS: &str = "datasets/sample/events.parquet";
const CUSTOMERS: &str = "datasets/sample/customers.parquet";
const AS_OF: &str = "2025-11-01T00:00:00Z";

fn nextbest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn read(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// A string column's value (plain or dictionary-encoded).
fn string(batch: &RecordBatch, column: &str, row: usize) -> String {
    let array = batch.column_by_name(column).unwrap();
    match array.data_type() {
        arrow_schema::DataType::Dictionary(_, _) => {
            let dict = array.as_dictionary::<arrow_array::types::Int32Type>();
            let values = dict.values().as_string::<i32>();
            values.value(dict.keys().value(row) as usize).to_string()
        }
        _ => array.as_string::<i32>().value(row).to_string(),
    }
}

fn float(batch: &RecordBatch, column: &str, row: usize) -> Option<f64> {
    let array = batch.column_by_name(column).unwrap();
    (!array.is_null(row)).then(|| array.as_primitive::<Float64Type>().value(row))
}

/// (customer, rank) → (action, score, p_convert) of a decisions file.
type Decisions = BTreeMap<(String, u32), (String, f64, Option<f64>)>;

fn decisions(path: &Path) -> Decisions {
    let mut out = BTreeMap::new();
    for batch in read(path) {
        let ranks = batch
            .column_by_name("rank")
            .unwrap()
            .as_primitive::<UInt32Type>();
        for row in 0..batch.num_rows() {
            out.insert(
                (string(&batch, "customer_id", row), ranks.value(row)),
                (
                    string(&batch, "action_id", row),
                    float(&batch, "score", row).unwrap(),
                    float(&batch, "p_convert", row),
                ),
            );
        }
    }
    out
}

fn score(dir: &Path, name: &str, extra: &[&str]) -> (Output, std::path::PathBuf) {
    let out = dir.join(name);
    let mut args = vec!["score", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    (nextbest(&args), out)
}

#[test]
fn decisions_from_events_cover_the_segment_and_summarise() {
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = score(
        dir.path(),
        "top2.parquet",
        &[
            "--events",
            EVENTS,
            "--customers",
            CUSTOMERS,
            "--as-of",
            AS_OF,
            "--top-k",
            "2",
            "--policy",
            "pega",
        ],
    );
    assert!(run.status.success(), "{}", text(&run));
    let report = text(&run);
    assert!(report.contains("actions chosen by kind"), "{report}");
    assert!(
        report.contains("ineligible candidates by reason"),
        "{report}"
    );
    assert!(report.contains("exploration: off (greedy)"), "{report}");
    let rows = decisions(&out);
    let customers: BTreeSet<&String> = rows.keys().map(|(c, _)| c).collect();
    assert!(customers.len() > 1000, "{}", customers.len());
    // Ranks run 1, 2 per customer, scores do not increase, and greedy picks have propensity 1.
    for ((customer, rank), (_, score, _)) in &rows {
        if *rank == 2 {
            let first = &rows[&(customer.clone(), 1)];
            assert!(first.1 >= *score, "{customer}: {} < {score}", first.1);
        }
    }
    for batch in read(&out) {
        let p = batch
            .column_by_name("propensity")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert!(p.values().iter().all(|&v| v == 1.0));
        assert!(!string(&batch, "conversion_model", 0).is_empty());
    }

    // A segment file narrows the run to its customers.
    let some: Vec<&String> = customers.iter().take(5).copied().collect();
    let segment = dir.path().join("segment.txt");
    std::fs::write(
        &segment,
        some.iter().map(|s| format!("{s}\n")).collect::<String>(),
    )
    .unwrap();
    let (run, narrow) = score(
        dir.path(),
        "segment.parquet",
        &[
            "--events",
            EVENTS,
            "--customers",
            CUSTOMERS,
            "--as-of",
            AS_OF,
            "--top-k",
            "2",
            "--policy",
            "pega",
            "--segment",
            segment.to_str().unwrap(),
        ],
    );
    assert!(run.status.success(), "{}", text(&run));
    let narrow = decisions(&narrow);
    let expected: Decisions = rows
        .iter()
        .filter(|((c, _), _)| some.contains(&c))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(narrow, expected);
}

#[test]
fn shards_and_memory_passes_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--events",
        EVENTS,
        "--customers",
        CUSTOMERS,
        "--as-of",
        AS_OF,
        "--policy",
        "pega",
    ];
    let (run, whole) = score(dir.path(), "whole.parquet", &base);
    assert!(run.status.success(), "{}", text(&run));
    let whole = decisions(&whole);
    let mut union = Decisions::new();
    for i in 0..2 {
        let shard = format!("{i}/2");
        let mut args = base.to_vec();
        args.extend(["--shard", &shard]);
        let (run, part) = score(dir.path(), &format!("shard{i}.parquet"), &args);
        assert!(run.status.success(), "{}", text(&run));
        let part = decisions(&part);
        assert!(!part.is_empty());
        for (k, v) in part {
            assert!(union.insert(k, v).is_none(), "a customer in two shards");
        }
    }
    assert_eq!(union, whole);
    // A tiny memory budget forces several passes over the events; the answers do not change.
    let mut args = base.to_vec();
    args.extend(["--max-memory-mb", "1"]);
    let (run, passes) = score(dir.path(), "passes.parquet", &args);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("passes under --max-memory-mb 1"),
        "{}",
        text(&run)
    );
    assert_eq!(decisions(&passes), whole);
}

#[test]
fn a_feature_matrix_scores_like_the_events_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("features.parquet");
    // The models' spec, from the conversion model's manifest.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("models/conversion/manifest.json").unwrap())
            .unwrap();
    let spec = dir.path().join("models.spec.json");
    std::fs::write(&spec, manifest["features"].to_string()).unwrap();
    let run = nextbest(&[
        "features",
        "--events",
        EVENTS,
        "--customers",
        CUSTOMERS,
        "--spec",
        spec.to_str().unwrap(),
        "--sentiment-model",
        "models/sentiment",
        "--cutoff",
        AS_OF,
        "--out",
        matrix.to_str().unwrap(),
    ]);
    if !run.status.success() {
        panic!("{}", text(&run));
    }
    // The same `score` run from the matrix and from the events it came from.
    let from_both = |name: &str, extra: &[&str]| {
        let mut on_matrix = vec!["--features", matrix.to_str().unwrap()];
        on_matrix.extend_from_slice(extra);
        let mut on_events = vec![
            "--events",
            EVENTS,
            "--customers",
            CUSTOMERS,
            "--as-of",
            AS_OF,
        ];
        on_events.extend_from_slice(extra);
        let (run, from_matrix) = score(dir.path(), &format!("{name}_matrix.parquet"), &on_matrix);
        assert!(run.status.success(), "{}", text(&run));
        let (run, from_events) = score(dir.path(), &format!("{name}_events.parquet"), &on_events);
        assert!(run.status.success(), "{}", text(&run));
        (from_matrix, from_events)
    };
    let (from_matrix, from_events) = from_both("pred", &["--predictions"]);
    let predictions = |path: &Path| {
        let mut out = BTreeMap::new();
        for batch in read(path) {
            for row in 0..batch.num_rows() {
                out.insert(
                    (
                        string(&batch, "customer_id", row),
                        string(&batch, "action_id", row),
                    ),
                    (
                        float(&batch, "p_convert", row),
                        float(&batch, "uplift", row),
                        float(&batch, "p_churn", row),
                    ),
                );
            }
        }
        out
    };
    let a = predictions(&from_matrix);
    let b = predictions(&from_events);
    assert!(a.len() > 5_000, "{}", a.len());
    assert_eq!(a, b);

    // Decisions read the customer's recent sentiment (it gates sales actions) the same way from
    // a matrix as from events: the last 30 days, or none without a text in them.
    let (decided_matrix, decided_events) = from_both("dec", &[]);
    let sentiments = |path: &Path| {
        let mut out = BTreeMap::new();
        for batch in read(path) {
            for row in 0..batch.num_rows() {
                out.insert(
                    string(&batch, "customer_id", row),
                    float(&batch, "sentiment", row),
                );
            }
        }
        out
    };
    let a = sentiments(&decided_matrix);
    let b = sentiments(&decided_events);
    assert_eq!(a, b);
    let with = a.values().filter(|s| s.is_some()).count();
    assert!(with > 0 && with < a.len(), "{with} of {}", a.len());
}

#[test]
fn a_bad_row_names_file_row_and_column_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    std::fs::write(
        &events,
        "customer_id,timestamp,event_type,channel,action_id,value,text\n\
         C1,2025-10-01T10:00:00Z,visit,web,,,\n\
         C1,not-a-time,purchase,web,,12.5,\n\
         C2,2025-10-02T10:00:00Z,visit,web,,,\n",
    )
    .unwrap();
    let ev = events.to_str().unwrap();
    let (run, out) = score(
        dir.path(),
        "out.parquet",
        &["--events", ev, "--as-of", AS_OF],
    );
    assert!(!run.status.success());
    let message = text(&run);
    assert!(message.contains("events.csv"), "{message}");
    assert!(message.contains("row 2"), "{message}");
    assert!(message.contains("timestamp"), "{message}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("out.parquet"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let (run, out) = score(
        dir.path(),
        "out.parquet",
        &["--events", ev, "--as-of", AS_OF, "--skip-invalid"],
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("invalid rows skipped 1"),
        "{}",
        text(&run)
    );
    let customers: BTreeSet<String> = decisions(&out).keys().map(|(c, _)| c.clone()).collect();
    assert_eq!(
        customers,
        BTreeSet::from(["C1".to_string(), "C2".to_string()])
    );
}

#[test]
fn exploration_is_off_by_default_and_seeded_when_on() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "--events",
        EVENTS,
        "--customers",
        CUSTOMERS,
        "--as-of",
        AS_OF,
    ];
    let run_with = |name: &str, extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let (run, out) = score(dir.path(), name, &args);
        assert!(run.status.success(), "{}", text(&run));
        out
    };
    let greedy = decisions(&run_with("greedy.parquet", &[]));
    let a = run_with("a.parquet", &["--explore", "--seed", "7"]);
    let b = run_with("b.parquet", &["--explore", "--seed", "7"]);
    assert_eq!(decisions(&a), decisions(&b));
    let mut explored = 0;
    let mut below_one = 0;
    for batch in read(&a) {
        let flags = batch.column_by_name("explored").unwrap().as_boolean();
        explored += flags.true_count();
        let p = batch
            .column_by_name("propensity")
            .unwrap()
            .as_primitive::<Float64Type>();
        below_one += p.values().iter().filter(|&&v| v < 1.0).count();
    }
    // The default policy explores with ε = 5%: some picks differ, every pick is below 1.
    assert!(explored > 0);
    assert!(below_one > 1000, "{below_one}");
    assert_ne!(decisions(&a), greedy);
}
