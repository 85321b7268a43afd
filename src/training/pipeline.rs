//! The training pipeline every role runs: fit → calibrate → evaluate → write the artifact.
//!
//! Churn and conversion differ in how they build their rows (customer snapshots; decision
//! points of the journey log) and in the metrics only they report. Fitting the configured
//! learner, calibrating it on a later period, judging it on the holdout, and writing the model
//! with its manifest and metrics are the same steps for both, and live here once. Sentiment fits
//! its own text model and shares the last step.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::ValidModelConfig;
use super::TrainError;
use crate::features::FeatureSpec;
use crate::fnv::Fnv1a;
use crate::journey::Timestamp;
use crate::models::artifact::{LoadedModel, TrainingData};
use crate::models::calibration::Calibration;
use crate::models::gbdt::GbdtFitReport;
use crate::models::learner::TrainingRows;
use crate::models::params::InvalidSetting;
use crate::models::{Artifact, Backend, Manifest, ModelError, NativeModel, Role, Scorer};
use crate::stats::{
    auc, brier, calibration_deciles, expected_calibration_error, log_loss, CalibrationBin,
};

/// Rows (row-major, a fixed width) and their labels.
#[derive(Clone, Copy, Debug)]
pub struct LabelledRows<'a> {
    /// Row-major values.
    pub rows: &'a [f32],
    /// One label per row.
    pub labels: &'a [bool],
}

/// A fitted, calibrated tabular model.
#[derive(Debug)]
pub struct FittedTabular {
    /// The estimator with its calibration map.
    pub model: NativeModel,
    /// How the GBDT chose its size (none for other algorithms).
    pub gbdt_report: Option<GbdtFitReport>,
}

/// Fit and calibrate: fits the configured learner on `fit`, then, when the config calibrates,
/// the calibration map on `calibration` (rows the model never saw).
pub fn fit_and_calibrate(
    model: &ValidModelConfig,
    fit: &TrainingRows<'_>,
    calibration: Option<LabelledRows<'_>>,
    seed: u64,
) -> Result<FittedTabular, TrainError> {
    let fitted = model.learner.fit(fit, seed)?;
    Ok(FittedTabular {
        model: calibrate(model, fitted.estimator, calibration, fit.n_features)?,
        gbdt_report: fitted.gbdt_report,
    })
}

/// A fitted estimator with the configured calibration map, fitted on `calibration` (rows of
/// `n_features` the estimator never saw) when the config calibrates.
pub fn calibrate(
    model: &ValidModelConfig,
    estimator: crate::models::Estimator,
    calibration: Option<LabelledRows<'_>>,
    n_features: usize,
) -> Result<NativeModel, TrainError> {
    let calibration = if model.calibrating() {
        let Some(set) = calibration else {
            return Err(InvalidSetting::new("model.calibration", "no rows to calibrate on").into());
        };
        let raw = estimator.raw_proba(set.rows, n_features)?;
        Calibration::fit(model.calibration, &raw, set.labels)
    } else {
        Calibration::None
    };
    Ok(NativeModel {
        estimator,
        calibration,
    })
}

/// What every tabular role reports about its holdout and its training rows.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldoutEvaluation {
    /// ROC AUC on the holdout.
    pub auc: Option<f64>,
    /// Log loss on the holdout.
    pub log_loss: f64,
    /// Brier score on the holdout.
    pub brier: f64,
    /// Expected calibration error over deciles.
    pub expected_calibration_error: f64,
    /// Calibration table in deciles of the prediction.
    pub calibration_deciles: Vec<CalibrationBin>,
    /// ROC AUC on the training rows.
    pub train_auc: Option<f64>,
    /// Features with a non-zero importance, highest first.
    pub feature_importance: Vec<(String, f64)>,
    /// FNV-1a hash of the holdout rows and labels: equal hashes mean the same holdout.
    pub holdout_fingerprint: String,
}

/// Evaluate: scores the holdout and the training rows with the calibrated model. `names` name
/// the `n_features` columns.
pub fn evaluate(
    model: &NativeModel,
    names: &[String],
    n_features: usize,
    train: LabelledRows<'_>,
    holdout: LabelledRows<'_>,
) -> Result<HoldoutEvaluation, ModelError> {
    let predicted = model.predict_proba(holdout.rows, n_features)?;
    let train_predicted = model.predict_proba(train.rows, n_features)?;
    let deciles = calibration_deciles(&predicted, holdout.labels);
    Ok(HoldoutEvaluation {
        auc: auc(&predicted, holdout.labels),
        log_loss: log_loss(&predicted, holdout.labels),
        brier: brier(&predicted, holdout.labels),
        expected_calibration_error: expected_calibration_error(&deciles),
        calibration_deciles: deciles,
        train_auc: auc(&train_predicted, train.labels),
        feature_importance: ranked_importance(
            names.iter().cloned(),
            model.estimator.feature_importance(n_features),
        ),
        holdout_fingerprint: fingerprint([(holdout.rows, holdout.labels)]),
    })
}

/// Summary of one evaluation set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetSummary {
    /// Feature cutoffs of the snapshots in the set (for decision points: the first and last
    /// decision instant).
    pub cutoffs: Vec<String>,
    /// Rows.
    pub rows: usize,
    /// Positive labels.
    pub positives: usize,
}

/// 64-bit FNV-1a over feature bytes and labels.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = (&'a [f32], &'a [bool])>) -> String {
    let mut hash = Fnv1a::default();
    for (rows, labels) in parts {
        for value in rows {
            hash.update(&value.to_le_bytes());
        }
        for &label in labels {
            hash.update(&[u8::from(label)]);
        }
    }
    hash.hex()
}

/// Features with a non-zero importance, highest first (ties by name), for `metrics.json`.
pub fn ranked_importance(
    names: impl IntoIterator<Item = String>,
    importance: Vec<f64>,
) -> Vec<(String, f64)> {
    let mut ranked: Vec<(String, f64)> = names
        .into_iter()
        .zip(importance)
        .filter(|(_, v)| *v > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// The manifest's summary of the training data.
pub fn training_data(
    files: Vec<String>,
    fingerprint: String,
    train_labels: &[bool],
    holdout_rows: usize,
) -> TrainingData {
    TrainingData {
        files,
        fingerprint,
        train_rows: train_labels.len() as u64,
        holdout_rows: holdout_rows as u64,
        train_positive_rate: train_labels.iter().filter(|&&y| y).count() as f64
            / train_labels.len().max(1) as f64,
    }
}

/// What an artifact's manifest says besides the label and config it records.
#[derive(Clone, Debug)]
pub struct ArtifactSpec<'a> {
    /// What the model predicts.
    pub role: Role,
    /// The algorithm's name.
    pub algorithm: &'a str,
    /// The model file inside the folder.
    pub model_file: &'a str,
    /// The feature spec (none for text models).
    pub features: Option<FeatureSpec>,
    /// Treatment indicator columns (conversion models).
    pub treatments: Option<Vec<String>>,
    /// The catalog's actions as trained on (uplift models), see [`Manifest::actions`].
    pub actions: Option<Vec<crate::catalog::TrainedAction>>,
    /// The training data summary.
    pub training_data: TrainingData,
    /// The random seed.
    pub seed: u64,
}

/// A value as JSON for the manifest: failing, never a silent `null`.
fn manifest_json(
    field: &'static str,
    value: &impl Serialize,
) -> Result<serde_json::Value, TrainError> {
    serde_json::to_value(value).map_err(|source| TrainError::Manifest { field, source })
}

/// Write the artifact: the manifest (recording `label` and the `config` as written, stamped
/// with the creation time as its version), the model and the metrics, atomically into
/// `output`.
pub fn write_artifact(
    output: &Path,
    spec: ArtifactSpec<'_>,
    label: &impl Serialize,
    config: &impl Serialize,
    model: &LoadedModel,
    metrics: &impl Serialize,
) -> Result<Manifest, TrainError> {
    let label = manifest_json("label", label)?;
    let config = manifest_json("config", config)?;
    let created = Timestamp::now();
    let manifest = Manifest {
        role: spec.role,
        version: created.to_rfc3339(),
        backend: Backend::Native,
        algorithm: spec.algorithm.into(),
        model_file: spec.model_file.into(),
        features: spec.features,
        treatments: spec.treatments,
        actions: spec.actions,
        label,
        training_data: spec.training_data,
        config,
        seed: spec.seed,
        created,
        crate_version: env!("CARGO_PKG_VERSION").into(),
    };
    Artifact::save(output, &manifest, model, metrics)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_cannot_be_json_is_an_error_not_null() {
        // A path that is not UTF-8 has no JSON form.
        use std::os::unix::ffi::OsStrExt;
        let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"models/\xff"));
        let error = manifest_json("config", &path).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("manifest.config: cannot be written as JSON"),
            "{error}"
        );
        assert_eq!(manifest_json("label", &"ok").unwrap(), "ok");
    }

    #[test]
    fn importance_ranks_non_zero_features_highest_first() {
        let names = ["a", "b", "c", "d"].map(String::from);
        let ranked = ranked_importance(names, vec![0.2, 0.0, 0.5, 0.2]);
        assert_eq!(
            ranked,
            [("c".to_string(), 0.5), ("a".into(), 0.2), ("d".into(), 0.2)]
        );
    }
}
