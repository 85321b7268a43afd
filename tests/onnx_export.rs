//! ONNX export: every native model kind (gradient-boosted trees, a decision tree, logistic
//! regression; isotonic and Platt calibration), written as standard ONNX and run by ONNX
//! Runtime, agrees with nextbest's own scoring to 1e-5 on holdout rows (features at a cutoff
//! after the models' training period); and `models import` wraps an ONNX file into an artifact
//! that scores the same, refusing one whose input does not fit the feature spec.
//!
//! Needs ONNX Runtime as tests/onnx.rs does: without it they say so and pass, except on CI.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use nextbest::features::matrix::Attributes;
use nextbest::features::{CustomerMatrixBuilder, FeatureSpec};
use nextbest::journey::{CustomerTable, EventReader, ReadOptions, Timestamp};
use nextbest::models::artifact::LoadedModel;
use nextbest::models::calibration::CalibrationMethod;
use nextbest::models::logistic::{LogisticModel, LogisticParams};
use nextbest::models::onnx::find_library;
use nextbest::models::onnx_export::export;
use nextbest::models::params::ParamGuard;
use nextbest::models::tree::{TreeModel, TreeParams};
use nextbest::models::{Artifact, Calibration, Estimator, NativeModel, OnnxModel, Scorer};

const TOLERANCE: f64 = 1e-5;

fn runtime_available() -> bool {
    match find_library() {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("CI must have ONNX Runtime (.ci/run runs ./scripts/setup.sh): {e}")
        }
        Err(e) => {
            eprintln!("skipping: {e}");
            false
        }
    }
}

fn spec_of(artifact: &Artifact) -> FeatureSpec {
    artifact.manifest.features.clone().unwrap()
}

/// Holdout rows: every sample customer's features at the end of the sample period.
fn holdout_rows(spec: &FeatureSpec) -> Vec<f32> {
    let cutoff = Timestamp::parse_date_or_datetime("2025-12-31").unwrap();
    let customers = CustomerTable::read("datasets/sample/customers.parquet", None).unwrap();
    let mapping = spec.attribute_mapping(&customers).unwrap();
    let events =
        EventReader::read_all("datasets/sample/events.parquet", ReadOptions::default()).unwrap();
    let mut builder = CustomerMatrixBuilder::new(spec, cutoff, None);
    builder.add(&events);
    let (rows, _) = builder.finish(Some(Attributes::new(&customers, &mapping)));
    rows.into_iter().flat_map(|r| r.features).collect()
}

fn native(artifact: &Artifact) -> &NativeModel {
    match &artifact.model {
        LoadedModel::Tabular(model) => model.as_native().unwrap(),
        LoadedModel::Sentiment(_) => panic!("not tabular"),
    }
}

/// Exports `model`, runs it in ONNX Runtime and returns the largest difference.
fn max_difference(dir: &Path, name: &str, model: &NativeModel, rows: &[f32], width: usize) -> f64 {
    let bytes = export(model, width, &[]).unwrap();
    let path = dir.join(format!("{name}.onnx"));
    std::fs::write(&path, bytes).unwrap();
    let onnx = OnnxModel::load_with_sessions(&path, width, 1).unwrap();
    let theirs = onnx.predict_proba(rows, width).unwrap();
    let ours = model.predict_proba(rows, width).unwrap();
    assert_eq!(theirs.len(), ours.len());
    assert!(ours.len() >= 1_000, "{}", ours.len());
    let gap = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("{name}: {} rows, largest difference {gap:.2e}", ours.len());
    gap
}

#[test]
fn exported_boosted_trees_score_as_natively() {
    if !runtime_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let churn = Artifact::load("models/churn").unwrap();
    let spec = spec_of(&churn);
    let rows = holdout_rows(&spec);
    let gap = max_difference(dir.path(), "churn", native(&churn), &rows, spec.len());
    assert!(gap <= TOLERANCE, "churn: {gap}");

    // The conversion model takes one indicator column per treatment after the features:
    // each row scored under no action and under each treatment in turn.
    let conversion = Artifact::load("models/conversion").unwrap();
    let k = conversion.manifest.treatments.as_ref().unwrap().len();
    let width = spec.len() + k;
    let mut wide = Vec::new();
    for (i, row) in rows.chunks_exact(spec.len()).enumerate() {
        wide.extend_from_slice(row);
        let t = i % (k + 1);
        wide.extend((0..k).map(|j| if j + 1 == t { 1.0 } else { 0.0 }));
    }
    let gap = max_difference(dir.path(), "conversion", native(&conversion), &wide, width);
    assert!(gap <= TOLERANCE, "conversion: {gap}");
}

#[test]
fn exported_trees_and_logistic_regressions_with_calibration_score_as_natively() {
    if !runtime_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_of(&Artifact::load("models/churn").unwrap());
    let n = spec.len();
    let rows = holdout_rows(&spec);
    // Something learnable: did the customer buy in the last 30 days?
    let target = spec.index_of("purchases_30d").unwrap();
    let labels: Vec<bool> = rows.chunks_exact(n).map(|r| r[target] > 0.0).collect();
    // Without the label's own column, so the models have to combine the others.
    let mut blinded = rows.clone();
    for row in blinded.chunks_exact_mut(n) {
        row[target] = 0.0;
    }
    let logistic = LogisticModel::fit(
        &blinded,
        n,
        &labels,
        &LogisticParams::default().check().unwrap(),
    )
    .unwrap();
    let tree = TreeModel::fit(
        &blinded,
        n,
        &labels,
        &TreeParams::default().check().unwrap(),
    )
    .unwrap();
    for (name, estimator) in [
        ("logistic", Estimator::Logistic(logistic)),
        ("tree", Estimator::Tree(tree)),
    ] {
        let raw = estimator.raw_proba(&blinded, n).unwrap();
        for method in [
            CalibrationMethod::None,
            CalibrationMethod::Platt,
            CalibrationMethod::Isotonic,
        ] {
            let model = NativeModel {
                calibration: Calibration::fit(method, &raw, &labels),
                estimator: match &estimator {
                    Estimator::Logistic(m) => Estimator::Logistic(m.clone()),
                    Estimator::Tree(m) => Estimator::Tree(m.clone()),
                    Estimator::Gbdt(_) | Estimator::Meta(_) => unreachable!(),
                },
            };
            let gap = max_difference(dir.path(), name, &model, &blinded, n);
            assert!(
                gap <= TOLERANCE,
                "{name} with {method:?} calibration: {gap}"
            );
        }
    }
}

#[test]
fn export_then_import_makes_an_artifact_that_scores_the_same() {
    if !runtime_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("churn.onnx");
    let nextbest = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nextbest"))
            .args(args)
            .output()
            .unwrap()
    };
    let run = nextbest(&[
        "models",
        "export-onnx",
        "models/churn",
        "--out",
        onnx.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let imported = dir.path().join("churn_imported");
    let run = nextbest(&[
        "models",
        "import",
        onnx.to_str().unwrap(),
        "--role",
        "churn",
        "--features-from",
        "models/churn",
        "--out",
        imported.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let artifact = Artifact::load(&imported).unwrap();
    let original = Artifact::load("models/churn").unwrap();
    let spec = spec_of(&original);
    let rows = holdout_rows(&spec);
    let LoadedModel::Tabular(model) = &artifact.model else {
        panic!("tabular")
    };
    let theirs = model.predict_proba(&rows, spec.len()).unwrap();
    let ours = native(&original).predict_proba(&rows, spec.len()).unwrap();
    let gap = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(gap <= TOLERANCE, "{gap}");

    // The conversion model's input is wider than the churn spec: importing it as churn fails,
    // names the mismatch, and leaves no folder behind.
    let wide = dir.path().join("conversion.onnx");
    let run = nextbest(&[
        "models",
        "export-onnx",
        "models/conversion",
        "--out",
        wide.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let refused = dir.path().join("refused");
    let run = nextbest(&[
        "models",
        "import",
        wide.to_str().unwrap(),
        "--role",
        "churn",
        "--features-from",
        "models/churn",
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let message = String::from_utf8_lossy(&run.stderr);
    assert!(message.contains("features"), "{message}");
    assert!(!refused.exists());
    // As a conversion model with the conversion model's features and treatments, it fits.
    let run = nextbest(&[
        "models",
        "import",
        wide.to_str().unwrap(),
        "--role",
        "conversion",
        "--features-from",
        "models/conversion",
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
