//! The simulator: deterministic per seed, and its ground truth agrees with what it simulates.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, RecordBatch};
use nextbest::journey::{EventReader, ReadOptions, Timestamp};
use nextbest::simulator::{generate, SimulatorConfig};

fn simulate(dir: &Path, customers: u64, days: u32, seed: u64) {
    let config = SimulatorConfig {
        customers,
        days,
        seed,
        start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap(),
    };
    generate(&config, dir, &|_| {}).unwrap();
}

fn batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn numbers(batches: &[RecordBatch], column: &str) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(column)
                .unwrap()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn booleans(batches: &[RecordBatch], column: &str) -> Vec<bool> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap().as_boolean().clone();
            (0..a.len()).map(move |i| a.value(i)).collect::<Vec<_>>()
        })
        .collect()
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap().as_string::<i32>().clone();
            (0..a.len())
                .map(move |i| a.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn same_seed_same_world_other_seed_other_world() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    simulate(a.path(), 300, 60, 9);
    simulate(b.path(), 300, 60, 9);
    simulate(c.path(), 300, 60, 10);
    let read = |dir: &Path| {
        EventReader::read_all(dir.join("events.parquet"), ReadOptions::default()).unwrap()
    };
    let (ea, eb, ec) = (read(a.path()), read(b.path()), read(c.path()));
    assert!(ea.len() > 1000);
    assert_eq!(ea, eb);
    assert_ne!(ea, ec);
    assert_eq!(
        batches(&a.path().join("ground_truth.parquet")),
        batches(&b.path().join("ground_truth.parquet"))
    );
    // Events end with the simulation and are in time order within each customer.
    let end = Timestamp::parse_date_or_datetime("2025-03-02").unwrap();
    assert!(ea.iter().all(|e| e.timestamp < end));
    assert!(ea
        .windows(2)
        .all(|w| w[0].customer_id != w[1].customer_id || w[0].timestamp <= w[1].timestamp));
}

#[test]
fn ground_truth_agrees_with_simulated_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 3000, 182, 21);
    let truth = batches(&dir.path().join("ground_truth.parquet"));
    let actions = strings(&truth, "action_id");
    let propensity = numbers(&truth, "propensity");
    let converted = booleans(&truth, "converted_7d");
    let n = actions.len();
    assert!(n > 50_000, "{n} decision points");
    let ids = [
        "email_discount",
        "email_newsletter",
        "sms_flash_sale",
        "push_new_arrivals",
        "call_retention_offer",
        "email_service_followup",
        "no_action",
    ];
    for id in ids {
        let p: Vec<f64> = numbers(&truth, &format!("p_convert__{id}"));
        assert!(p.iter().all(|x| (0.0..=1.0).contains(x)));
        let c: Vec<f64> = numbers(&truth, &format!("p_churn_7d__{id}"));
        assert!(c.iter().all(|x| (0.0..=1.0).contains(x)));
        // Where this action was taken, the realised conversion rate matches the mean true probability.
        let taken: Vec<usize> = (0..n).filter(|&i| actions[i] == id).collect();
        assert!(taken.len() > 2000, "{id} taken {} times", taken.len());
        let expected: f64 = taken.iter().map(|&i| p[i]).sum::<f64>() / taken.len() as f64;
        let observed = taken.iter().filter(|&&i| converted[i]).count() as f64 / taken.len() as f64;
        let se = (expected * (1.0 - expected) / taken.len() as f64).sqrt();
        assert!(
            (observed - expected).abs() < 4.0 * se + 0.002,
            "{id}: observed {observed:.4} vs truth {expected:.4}"
        );
    }
    // Randomised logging: control at 40%, propensities consistent with the choice.
    let control = actions.iter().filter(|a| *a == "no_action").count() as f64 / n as f64;
    assert!((control - 0.4).abs() < 0.03, "control share {control}");
    assert!(propensity.iter().all(|p| *p > 0.0 && *p <= 1.0));

    // Heterogeneous effects: each sales action helps some customers and hurts (raises churn of) others.
    let none_convert = numbers(&truth, "p_convert__no_action");
    let none_churn = numbers(&truth, "p_churn_7d__no_action");
    for id in ["email_discount", "sms_flash_sale", "call_retention_offer"] {
        let conv = numbers(&truth, &format!("p_convert__{id}"));
        let churn = numbers(&truth, &format!("p_churn_7d__{id}"));
        let helps = (0..n)
            .filter(|&i| conv[i] > none_convert[i] * 1.2 || churn[i] < none_churn[i] * 0.8)
            .count();
        let hurts = (0..n).filter(|&i| churn[i] > none_churn[i] * 1.2).count();
        assert!(
            helps > n / 20 && hurts > n / 50,
            "{id}: helps {helps}, hurts {hurts} of {n}"
        );
    }
}

#[test]
fn bad_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let start = Timestamp::parse_date_or_datetime("2025-01-01").unwrap();
    for (customers, days) in [(0, 30), (10, 3), (10, 100_000)] {
        let config = SimulatorConfig {
            customers,
            days,
            seed: 1,
            start,
        };
        assert!(generate(&config, dir.path(), &|_| {}).is_err());
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no files for a refused config"
    );
}

#[test]
fn committed_sample_is_what_the_simulator_makes_for_its_seed() {
    // datasets/sample = `nextbest generate --customers 2000 --days 365 --seed 42` (ground truth
    // not committed). If this fails after a simulator change, regenerate the sample.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/sample");
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 2000, 365, 42);
    let read =
        |d: &Path| EventReader::read_all(d.join("events.parquet"), ReadOptions::default()).unwrap();
    let committed = read(&sample);
    assert_eq!(committed.len(), 294_675);
    assert!(
        committed == read(dir.path()),
        "datasets/sample/events.parquet is stale: regenerate it"
    );
    let customers = |d: &Path| {
        nextbest::journey::CustomerTable::read(d.join("customers.parquet"), None).unwrap()
    };
    let (a, b) = (customers(&sample), customers(dir.path()));
    assert_eq!(a.ids(), b.ids());
    assert!(a.ids().iter().all(|id| a.get(id) == b.get(id)));
    let catalog = std::fs::read_to_string(sample.join("catalog.toml")).unwrap();
    assert_eq!(
        catalog,
        std::fs::read_to_string(dir.path().join("catalog.toml")).unwrap()
    );
}

#[test]
fn realised_outcomes_agree_with_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 1500, 98, 7);
    let events =
        EventReader::read_all(dir.path().join("events.parquet"), ReadOptions::default()).unwrap();
    let truth = batches(&dir.path().join("ground_truth.parquet"));
    let end = Timestamp::parse_date_or_datetime("2025-04-09").unwrap();
    let mut purchases: std::collections::HashMap<&str, Vec<Timestamp>> = Default::default();
    let mut cancels: std::collections::HashMap<&str, Timestamp> = Default::default();
    for e in &events {
        match e.event_type {
            nextbest::journey::EventType::Purchase => purchases
                .entry(&e.customer_id)
                .or_default()
                .push(e.timestamp),
            nextbest::journey::EventType::Cancel => {
                cancels.insert(&e.customer_id, e.timestamp);
            }
            _ => {}
        }
    }
    let ids = strings(&truth, "customer_id");
    let converted = booleans(&truth, "converted_7d");
    let times: Vec<Timestamp> = truth
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name("timestamp")
                .unwrap()
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .clone();
            (0..a.len())
                .map(move |i| Timestamp(a.value(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    let churned: Vec<Option<bool>> = truth
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name("churned_30d")
                .unwrap()
                .as_boolean()
                .clone();
            (0..a.len())
                .map(move |i| a.is_valid(i).then(|| a.value(i)))
                .collect::<Vec<_>>()
        })
        .collect();
    let week = 7 * Timestamp::MICROS_PER_DAY;
    let month = 30 * Timestamp::MICROS_PER_DAY;
    for i in 0..ids.len() {
        let t = times[i];
        assert!(
            t.0 + week <= end.0,
            "a decision whose window passes the end was logged"
        );
        let bought = purchases
            .get(ids[i].as_str())
            .is_some_and(|p| p.iter().any(|&p| p >= t && p.0 < t.0 + week));
        assert_eq!(converted[i], bought, "converted_7d of {} at {t}", ids[i]);
        let cancel = cancels
            .get(ids[i].as_str())
            .is_some_and(|&c| c >= t && c.0 < t.0 + month);
        match churned[i] {
            Some(value) => assert_eq!(value, cancel),
            None => assert!(
                t.0 + month > end.0,
                "only windows past the end are censored"
            ),
        }
    }
    assert!(churned.iter().any(|c| c.is_none()) && churned.contains(&Some(true)));
}
