//! `nextbest experiment analyze` end to end: the binary on the committed table of units
//! (`tests/fixtures/experiment_stats/units.csv`) must print the numbers gbstats, scipy and
//! statsmodels computed for it (the `cli` section of fixtures.json), within 1e-6 absolute or
//! relative; bad input exits non-zero naming file, row and column.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/experiment_stats")
}

fn nextbest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn analyze(units: &str, extra: &[&str]) -> Output {
    let mut args = vec!["experiment", "analyze", "--units", units];
    args.extend_from_slice(extra);
    nextbest(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn reference() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("fixtures.json")).unwrap();
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    fixtures["cli"].clone()
}

fn number(value: &Value, pointer: &str) -> f64 {
    value
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {value}"))
}

#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    /// Within 1e-6, absolute or relative.
    fn check(&mut self, what: String, ours: f64, theirs: f64) {
        let gap = (ours - theirs).abs();
        if gap > 1e-6 && gap > 1e-6 * theirs.abs() {
            self.0
                .push(format!("{what}: ours {ours}, reference {theirs}"));
        }
    }
}

#[test]
fn analyze_prints_what_gbstats_computes() {
    let reference = reference();
    let units = fixture_dir().join("units.csv");
    let units = units.to_str().unwrap();
    let mut mismatches = Mismatches::default();
    for (run_name, run) in reference["runs"].as_object().unwrap() {
        let mut args: Vec<&str> = run["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        args.push("--json");
        let output = analyze(units, &args);
        assert!(output.status.success(), "{run_name}: {}", stderr(&output));
        let ours: Value = serde_json::from_slice(&output.stdout).unwrap();

        assert_eq!(ours["arms"], reference["arms"], "{run_name}");
        assert_eq!(ours["control"], reference["control"], "{run_name}");
        assert_eq!(ours["units"], reference["units"], "{run_name}");
        let srm = number(&reference, "/srm_p_value");
        mismatches.check(
            format!("{run_name} SRM"),
            number(&ours, "/srm/p_value"),
            srm,
        );
        // The only warning: the two units logged in a second arm. The pre-period covariate is
        // balanced (scipy's Welch p-values, far above 0.001), and every arm has > 100 units.
        for p in reference["pre_period_imbalance_p_values"]
            .as_object()
            .unwrap()
            .values()
        {
            assert!(p.as_f64().unwrap() > 0.001);
        }
        let codes: Vec<&str> = ours["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["units_in_several_arms"], "{run_name}");
        assert_eq!(reference["units_in_several_arms"], 2);
        assert!(ours["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("2 units"));

        let metrics = run["metrics"].as_array().unwrap();
        assert_eq!(ours["metrics"].as_array().unwrap().len(), metrics.len());
        for (m, metric) in metrics.iter().enumerate() {
            let our_metric = &ours["metrics"][m];
            assert_eq!(our_metric["metric"], metric["metric"]);
            for (a, arm) in metric["arms"].as_array().unwrap().iter().enumerate() {
                let our_arm = &our_metric["arms"][a];
                let at =
                    |what: &str| format!("{run_name} {} {} {what}", metric["metric"], arm["arm"]);
                assert_eq!(our_arm["arm"], arm["arm"]);
                assert_eq!(our_arm["summary"]["units"], arm["units"]);
                let summary = &our_arm["summary"];
                mismatches.check(at("mean"), number(summary, "/mean"), number(arm, "/mean"));
                let lower = number(summary, "/interval/lower");
                mismatches.check(at("lower"), lower, number(arm, "/lower"));
                let upper = number(summary, "/interval/upper");
                mismatches.check(at("upper"), upper, number(arm, "/upper"));
                if arm.get("relative").is_none() {
                    assert!(
                        our_arm["relative"].is_null(),
                        "{}",
                        at("control has no lift")
                    );
                    continue;
                }
                for (ours_key, theirs_key) in [
                    ("/relative/estimate", "/relative/estimate"),
                    ("/relative/interval/lower", "/relative/ci_lower"),
                    ("/relative/interval/upper", "/relative/ci_upper"),
                    ("/relative/p_value", "/relative/p_value"),
                    ("/absolute/estimate", "/absolute/estimate"),
                    ("/absolute/interval/lower", "/absolute/ci_lower"),
                    ("/absolute/interval/upper", "/absolute/ci_upper"),
                    ("/absolute/p_value", "/absolute/p_value"),
                    ("/bayesian/chance_to_win", "/bayesian/chance_to_win"),
                    ("/bayesian/risk_control", "/bayesian/risk_control"),
                    ("/bayesian/risk_treatment", "/bayesian/risk_treatment"),
                    ("/p_value_holm", "/p_value_holm"),
                    ("/p_value_bh", "/p_value_bh"),
                ] {
                    let theirs = number(arm, theirs_key);
                    mismatches.check(at(ours_key), number(our_arm, ours_key), theirs);
                }
            }
        }
    }
    assert!(mismatches.0.is_empty(), "{:#?}", mismatches.0);
}

#[test]
fn analyze_prints_a_readable_table() {
    let units = fixture_dir().join("units.csv");
    let output = analyze(
        units.to_str().unwrap(),
        &["--metric", "converted", "--ratio", "revenue/orders"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "3 arms, 1198 units; control control; fixed-horizon Welch t-test; 95 % intervals",
        "converted (rate)",
        "revenue/orders (ratio)",
        "lift vs control",
        "split: control 403 (expected 399)",
        "warning [units_in_several_arms]: 2 units",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

/// Writes a CSV into a temporary folder and returns its path.
fn table(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn bad_input_exits_non_zero_naming_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good_rows = "u1,control,1,3\nu2,b,0,4\nu3,control,0,5\n";
    let cases = [
        (
            "not_a_number.csv",
            format!("unit,arm,converted,revenue\n{good_rows}u4,b,1,lots\n"),
            vec!["--metric", "revenue"],
            "not_a_number.csv: row 4, column 'revenue': is 'lots', not a number",
        ),
        (
            "empty_cell.csv",
            format!("unit,arm,converted,revenue\n{good_rows}u4,b,,7\n"),
            vec!["--metric", "converted"],
            "empty_cell.csv: row 4, column 'converted': is empty",
        ),
        (
            "twice.csv",
            format!("unit,arm,converted,revenue\n{good_rows}u2,b,1,7\n"),
            vec!["--metric", "converted"],
            "twice.csv: row 4, column 'unit': unit 'u2' appears again in arm 'b' (first on row 2)",
        ),
        (
            "missing.csv",
            format!("unit,arm,converted,revenue\n{good_rows}"),
            vec!["--metric", "orders"],
            "missing.csv: missing required column 'orders'",
        ),
        (
            "control.csv",
            format!("unit,arm,converted,revenue\n{good_rows}"),
            vec!["--metric", "revenue", "--control", "nope"],
            "no arm named 'nope' (arms: b, control)",
        ),
        (
            "weights.csv",
            format!("unit,arm,converted,revenue\n{good_rows}"),
            vec!["--metric", "revenue", "--weights", "b=1"],
            "no weight for arm(s) control",
        ),
        (
            "nothing.csv",
            format!("unit,arm,converted,revenue\n{good_rows}"),
            vec![],
            "name at least one --metric",
        ),
    ];
    for (name, text, args, expected) in cases {
        let path = table(&dir, name, &text);
        let output = analyze(&path, &args);
        assert!(!output.status.success(), "{name} should fail");
        assert!(output.stdout.is_empty(), "{name} printed a result");
        let message = stderr(&output);
        assert!(message.contains(expected), "{name}: {message}");
    }
    let ratio = nextbest(&[
        "experiment",
        "analyze",
        "--units",
        "x.csv",
        "--ratio",
        "revenue",
    ]);
    assert!(!ratio.status.success());
    assert!(
        stderr(&ratio).contains("is not NUM/DEN"),
        "{}",
        stderr(&ratio)
    );
}

#[test]
fn a_parquet_table_gives_the_same_analysis_as_its_csv() {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;

    let csv_path = fixture_dir().join("units.csv");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let (mut units, mut arms, mut converted, mut revenue, mut orders, mut pre) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for record in reader.records() {
        let record = record.unwrap();
        units.push(record[0].to_string());
        arms.push(record[1].to_string());
        converted.push(record[2].parse::<i64>().unwrap());
        revenue.push(record[3].parse::<f64>().unwrap());
        orders.push(record[4].parse::<i64>().unwrap());
        pre.push(record[5].parse::<f64>().unwrap());
    }
    let batch = RecordBatch::try_from_iter(vec![
        ("unit", Arc::new(StringArray::from(units)) as ArrayRef),
        ("arm", Arc::new(StringArray::from(arms)) as ArrayRef),
        (
            "converted",
            Arc::new(Int64Array::from(converted)) as ArrayRef,
        ),
        ("revenue", Arc::new(Float64Array::from(revenue)) as ArrayRef),
        ("orders", Arc::new(Int64Array::from(orders)) as ArrayRef),
        ("pre_revenue", Arc::new(Float64Array::from(pre)) as ArrayRef),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let parquet_path = dir.path().join("units.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&parquet_path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let args = [
        "--metric",
        "converted",
        "--ratio",
        "revenue/orders",
        "--covariate",
        "pre_revenue",
        "--json",
    ];
    let analysis = |path: &std::path::Path| {
        let output = analyze(path.to_str().unwrap(), &args);
        assert!(output.status.success(), "{}", stderr(&output));
        let mut json: Value = serde_json::from_slice(&output.stdout).unwrap();
        json.as_object_mut().unwrap().remove("file");
        json
    };
    assert_eq!(analysis(&parquet_path), analysis(&csv_path));
}

/// The service's experiments from the command line: defined from a TOML file (checked against
/// the policies), started, ramped, read and stopped in the database; mistakes name the field.
#[test]
fn experiments_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nextbest.db");
    let db = db.to_str().unwrap();
    let file = dir.path().join("homepage.toml");
    std::fs::write(
        &file,
        r#"
id = "homepage"
name = "Homepage offers"
traffic = 0.2
arms = [
  { name = "rules", policy = "rules", weight = 1 },
  { name = "model", policy = "default", weight = 1 },
]
"#,
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["experiment"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database", db]);
        nextbest(&all)
    };
    let created = run(&["create", file]);
    assert!(created.status.success(), "{}", stderr(&created));
    let shown: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(shown["status"], "draft");
    let again = run(&["create", file]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));

    let started = run(&["start", "homepage"]);
    assert!(started.status.success(), "{}", stderr(&started));
    let ramped = run(&["traffic", "homepage", "--to", "0.5"]);
    assert!(ramped.status.success(), "{}", stderr(&ramped));
    let lower = run(&["traffic", "homepage", "--to", "0.1"]);
    assert!(!lower.status.success(), "traffic may only grow");
    let list = run(&["list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("homepage") && text.contains("running") && text.contains("50.0%"),
        "{text}"
    );
    let results = run(&["results", "homepage", "--json"]);
    assert!(results.status.success(), "{}", stderr(&results));
    let results: Value = serde_json::from_slice(&results.stdout).unwrap();
    assert_eq!(results["arms"][0]["units"], 0);
    assert!(results["verdict"]
        .as_str()
        .unwrap()
        .starts_with("Too early"));
    let stopped = run(&["stop", "homepage"]);
    assert!(stopped.status.success(), "{}", stderr(&stopped));

    // A definition naming a policy that does not exist: the field is named.
    std::fs::write(
        dir.path().join("bad.toml"),
        "id = \"bad\"\nname = \"x\"\narms = [{ name = \"a\", policy = \"nope\", weight = 1 }, { name = \"b\", holdout = true, weight = 1 }]\n",
    )
    .unwrap();
    let bad = run(&["create", dir.path().join("bad.toml").to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("arms[0].policy"), "{}", stderr(&bad));
}
