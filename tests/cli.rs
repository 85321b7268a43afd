//! The `nextbest` binary end to end: generate → inspect → features, and bad input exits non-zero
//! with file, row and column, leaving no partial output.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

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

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

#[test]
fn generate_inspect_and_featurise() {
    let dir = tempfile::tempdir().unwrap();
    let out = path(dir.path(), "world");
    let run = nextbest(&[
        "generate",
        "--customers",
        "200",
        "--days",
        "90",
        "--seed",
        "3",
        "--out",
        &out,
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("simulated 200 customers"));

    let events = format!("{out}/events.parquet");
    let customers = format!("{out}/customers.parquet");
    let run = nextbest(&["inspect", &events, "--customers", &customers]);
    assert!(run.status.success(), "{}", text(&run));
    let report = text(&run);
    assert!(report.contains("customers        200"), "{report}");
    assert!(report.contains("rows with problems 0"), "{report}");

    let matrix = path(dir.path(), "features.parquet");
    let run = nextbest(&[
        "features",
        "--events",
        &events,
        "--customers",
        &customers,
        "--catalog",
        &format!("{out}/catalog.toml"),
        "--cutoff",
        "2025-03-01",
        "--out",
        &matrix,
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(Path::new(&matrix).exists());
    assert!(dir.path().join("features.spec.json").exists());

    // Per decision point, reusing the saved spec.
    let decisions = path(dir.path(), "decisions.parquet");
    let run = nextbest(&[
        "features",
        "--events",
        &events,
        "--customers",
        &customers,
        "--spec",
        &path(dir.path(), "features.spec.json"),
        "--decisions",
        &format!("{out}/ground_truth.parquet"),
        "--out",
        &decisions,
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("rows ×"));
}

#[test]
fn bad_rows_fail_with_file_row_and_column_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let events = path(dir.path(), "events.csv");
    std::fs::write(
        &events,
        "customer_id,timestamp,event_type,value\nc1,2024-01-01T00:00:00Z,purchase,10\nc2,2024-01-02T00:00:00Z,purchase,ten\n",
    )
    .unwrap();
    let out = path(dir.path(), "features.parquet");
    let run = nextbest(&[
        "features",
        "--events",
        &events,
        "--cutoff",
        "2024-02-01",
        "--out",
        &out,
    ]);
    assert!(!run.status.success());
    let message = text(&run);
    assert!(
        message.contains("events.csv: row 2, column 'value'"),
        "{message}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 1,
        "only the input remains"
    );

    let run = nextbest(&["inspect", &events]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run).contains("rows with problems 1"));

    let run = nextbest(&[
        "features", "--events", &events, "--cutoff", "someday", "--out", &out,
    ]);
    assert!(!run.status.success());
    assert!(text(&run).contains("--cutoff"));

    let run = nextbest(&[
        "generate",
        "--customers",
        "0",
        "--out",
        &path(dir.path(), "w"),
    ]);
    assert!(!run.status.success());
    assert!(text(&run).contains("customers"));
}
