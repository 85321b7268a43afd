//! The ONNX backend: the committed `models/churn_onnx` artifact scores exactly as Python's ONNX
//! Runtime did when it was exported, and bad artifacts get clear errors.
//!
//! These tests need ONNX Runtime, found as the binary finds it (`ORT_DYLIB_PATH`, else
//! `.ort/py/…` from `./scripts/setup.sh`). Without it they say so and pass, except on CI
//! (`CI` set), where the setup script must have installed it and its absence fails them.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use nextbest::catalog::Catalog;
use nextbest::features::FeatureSpec;
use nextbest::journey::CustomerTable;
use nextbest::models::artifact::LoadedModel;
use nextbest::models::onnx::find_library;
use nextbest::models::{Artifact, Backend, OnnxModel, Scorer};

const ARTIFACT: &str = "models/churn_onnx";

/// Whether ONNX Runtime can be found; on CI its absence is a failure.
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

#[derive(serde::Deserialize)]
struct Reference {
    n_features: usize,
    rows: Vec<Vec<f64>>,
    probabilities: Vec<f64>,
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(Path::new(ARTIFACT).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The spec the pipeline produces for the committed sample data.
fn pipeline_spec() -> FeatureSpec {
    let customers = CustomerTable::read("datasets/sample/customers.parquet", None).unwrap();
    let catalog = Catalog::load("datasets/sample/catalog.toml").unwrap();
    FeatureSpec::new(Some(&catalog), Some(&customers)).unwrap()
}

/// A copy of the artifact in a temporary folder, for editing.
fn copy_artifact() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("churn_onnx");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(ARTIFACT).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    (dir, copy)
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn the_onnx_model_reproduces_pythons_probabilities() {
    if !runtime_available() {
        return;
    }
    let artifact = Artifact::load(ARTIFACT).unwrap();
    assert_eq!(artifact.manifest.backend, Backend::Onnx);
    // It was trained on the pipeline's features, in the pipeline's order.
    artifact.check_features(&pipeline_spec()).unwrap();
    let LoadedModel::Tabular(model) = &artifact.model else {
        panic!("not tabular")
    };
    assert_eq!(model.backend(), Backend::Onnx);

    let reference = reference();
    let d = reference.n_features;
    assert_eq!(
        Some(d),
        artifact.manifest.features.as_ref().map(|s| s.len())
    );
    assert!(reference.rows.len() >= 40);
    let rows: Vec<f32> = reference.rows.iter().flatten().map(|&v| v as f32).collect();

    // One batch, and row by row: each within 1e-5 of Python's ONNX Runtime.
    let batch = model.predict_proba(&rows, d).unwrap();
    assert_eq!(batch.len(), reference.probabilities.len());
    for (i, (&rust, &python)) in batch.iter().zip(&reference.probabilities).enumerate() {
        assert!(
            (rust - python).abs() <= 1e-5,
            "row {i}: rust {rust}, python {python}"
        );
        let single = model.predict_proba(&rows[i * d..(i + 1) * d], d).unwrap();
        assert!((single[0] - python).abs() <= 1e-5, "row {i} alone");
    }
    let worst = batch
        .iter()
        .zip(&reference.probabilities)
        .map(|(r, p)| (r - p).abs())
        .fold(0.0, f64::max);
    eprintln!("max |rust − python| over {} rows: {worst:e}", batch.len());
    // Distinct probabilities: the reference exercises more than one leaf path.
    let mut distinct = batch.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(distinct.len() > 10, "{distinct:?}");

    // Several threads at once share the session pool and get the same answers.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..25)
                        .map(|_| model.predict_proba(&rows, d).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for scores in handle.join().unwrap() {
                assert_eq!(scores, batch);
            }
        }
    });

    // No rows, no scores; rows of the wrong width are an error, not a panic.
    assert!(model.predict_proba(&[], d).unwrap().is_empty());
    let error = model.predict_proba(&rows[..d - 1], d - 1).unwrap_err();
    assert_eq!(error.code(), "model_scoring_failed");
    assert!(error.to_string().contains("features"), "{error}");
    let error = model.predict_proba(&rows[..d + 1], d).unwrap_err();
    assert_eq!(error.code(), "model_scoring_failed");
}

#[test]
fn a_single_session_model_scores_too() {
    if !runtime_available() {
        return;
    }
    let reference = reference();
    let d = reference.n_features;
    let model =
        OnnxModel::load_with_sessions(&Path::new(ARTIFACT).join("model.onnx"), d, 1).unwrap();
    assert_eq!(model.sessions(), 1);
    let rows: Vec<f32> = reference.rows.iter().flatten().map(|&v| v as f32).collect();
    let scores = model.predict_proba(&rows, d).unwrap();
    for (rust, python) in scores.iter().zip(&reference.probabilities) {
        assert!((rust - python).abs() <= 1e-5);
    }
}

#[test]
fn a_manifest_whose_features_differ_is_refused() {
    if !runtime_available() {
        return;
    }
    // One feature fewer than the model takes: refused when loading.
    let d = reference().n_features;
    let (_dir, copy) = copy_artifact();
    edit_manifest(&copy, |m| {
        m["features"]["features"].as_array_mut().unwrap().pop();
    });
    let error = Artifact::load(&copy).unwrap_err();
    assert_eq!(error.code(), "model_feature_mismatch", "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&d.to_string()) && message.contains(&(d - 1).to_string()),
        "{message}"
    );

    // Same count, another name: loads, and the feature check against the pipeline refuses it.
    let (_dir, copy) = copy_artifact();
    edit_manifest(&copy, |m| {
        m["features"]["features"][5]["name"] = "days_since_something_else".into();
    });
    let artifact = Artifact::load(&copy).unwrap();
    let error = artifact.check_features(&pipeline_spec()).unwrap_err();
    assert_eq!(error.code(), "model_feature_mismatch");
    assert!(
        error.to_string().contains("days_since_something_else"),
        "{error}"
    );
}

#[test]
fn a_corrupt_or_missing_model_file_is_a_clear_error() {
    if !runtime_available() {
        return;
    }
    let original = std::fs::read(Path::new(ARTIFACT).join("model.onnx")).unwrap();
    for (what, bytes) in [
        ("garbage", b"this is not an ONNX model".to_vec()),
        ("truncated", original[..original.len() / 2].to_vec()),
        ("empty", Vec::new()),
    ] {
        let (_dir, copy) = copy_artifact();
        std::fs::write(copy.join("model.onnx"), bytes).unwrap();
        let error = Artifact::load(&copy).unwrap_err();
        assert_eq!(error.code(), "model_invalid", "{what}: {error}");
        let message = error.to_string();
        assert!(
            message.contains("model.onnx") && message.contains("ONNX Runtime cannot load"),
            "{what}: {message}"
        );
    }
    let (_dir, copy) = copy_artifact();
    std::fs::remove_file(copy.join("model.onnx")).unwrap();
    let error = Artifact::load(&copy).unwrap_err();
    assert_eq!(error.code(), "model_io", "{error}");
    assert!(error.to_string().contains("model.onnx"), "{error}");

    // ONNX is for tabular models only.
    let (_dir, copy) = copy_artifact();
    edit_manifest(&copy, |m| m["role"] = "sentiment".into());
    let error = Artifact::load(&copy).unwrap_err();
    assert_eq!(error.code(), "model_invalid");
    assert!(error.to_string().contains("backend"), "{error}");
}
