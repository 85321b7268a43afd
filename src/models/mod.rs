//! Models: one scorer interface for every backend, native model types, calibration, and the
//! artifact folder format (model file + `manifest.json` + `metrics.json`).

pub mod artifact;
pub mod calibration;
pub mod gbdt;
pub mod logistic;
pub mod sentiment;
pub mod tree;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use artifact::{Artifact, Manifest};
pub use calibration::Calibration;

/// Scores feature rows: P(positive) per row. Native and ONNX models both implement it.
pub trait Scorer: Send + Sync {
    /// Probabilities for `rows`, a row-major matrix with `n_features` columns.
    fn predict_proba(&self, rows: &[f32], n_features: usize) -> Vec<f64>;
}

/// What a model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// P(churn within the horizon).
    Churn,
    /// P(convert | customer, action).
    Conversion,
    /// P(positive) of customer text.
    Sentiment,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Churn => "churn",
            Role::Conversion => "conversion",
            Role::Sentiment => "sentiment",
        }
    }
}

/// Where a model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Trained and run in Rust by nextbest.
    Native,
    /// An ONNX file run by ONNX Runtime.
    Onnx,
}

/// A native tabular model: the algorithm's parameters plus a calibration map.
#[derive(Debug, Serialize, Deserialize)]
pub struct NativeModel {
    /// The fitted algorithm.
    pub estimator: Estimator,
    /// Maps raw probabilities to calibrated ones.
    pub calibration: Calibration,
}

/// The fitted algorithms.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum Estimator {
    /// Gradient-boosted trees.
    Gbdt(gbdt::GbdtModel),
    /// Standardised logistic regression.
    Logistic(logistic::LogisticModel),
    /// A single decision tree.
    Tree(tree::TreeModel),
}

impl Estimator {
    /// The algorithm's name as in configs and manifests.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Estimator::Gbdt(_) => "gbdt",
            Estimator::Logistic(_) => "logistic",
            Estimator::Tree(_) => "tree",
        }
    }

    /// Uncalibrated probabilities.
    pub fn raw_proba(&self, rows: &[f32], n_features: usize) -> Vec<f64> {
        match self {
            Estimator::Gbdt(m) => m.predict_proba(rows, n_features),
            Estimator::Logistic(m) => m.predict_proba(rows, n_features),
            Estimator::Tree(m) => m.predict_proba(rows, n_features),
        }
    }

    /// Importance per feature (index-aligned), normalised to sum to 1.
    pub fn feature_importance(&self, n_features: usize) -> Vec<f64> {
        match self {
            Estimator::Gbdt(m) => m.feature_importance(n_features),
            Estimator::Logistic(m) => m.feature_importance(),
            Estimator::Tree(m) => m.feature_importance(),
        }
    }
}

impl Scorer for NativeModel {
    fn predict_proba(&self, rows: &[f32], n_features: usize) -> Vec<f64> {
        let raw = self.estimator.raw_proba(rows, n_features);
        raw.into_iter().map(|p| self.calibration.apply(p)).collect()
    }
}

/// Errors of loading, checking and fitting models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause (in the message, not exposed as `source()`, so chains print it once).
        cause: std::io::Error,
    },
    /// An artifact file is not valid.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The model expects other features than the pipeline produces.
    #[error("{path}: feature mismatch: {problem}")]
    FeatureMismatch {
        /// The artifact folder.
        path: PathBuf,
        /// The first difference.
        problem: String,
    },
    /// Training could not proceed (empty set, one class, non-finite values, bad parameters).
    #[error("training: {0}")]
    Training(String),
}

impl ModelError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Io { .. } => "model_io",
            ModelError::Invalid { .. } => "model_invalid",
            ModelError::FeatureMismatch { .. } => "model_feature_mismatch",
            ModelError::Training(_) => "training_failed",
        }
    }

    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        ModelError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// Checks a training matrix: rows × n_features finite values and both classes present.
pub fn validate_training_data(
    rows: &[f32],
    n_features: usize,
    labels: &[bool],
) -> Result<(), ModelError> {
    if labels.is_empty() {
        return Err(ModelError::Training("the training set is empty".into()));
    }
    if n_features == 0 || rows.len() != labels.len() * n_features {
        return Err(ModelError::Training(format!(
            "{} values do not form {} rows of {n_features} features",
            rows.len(),
            labels.len()
        )));
    }
    if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
        return Err(ModelError::Training(format!(
            "row {}, feature {} is {} (features must be finite)",
            i / n_features + 1,
            i % n_features,
            rows[i]
        )));
    }
    let positives = labels.iter().filter(|&&y| y).count();
    if positives == 0 || positives == labels.len() {
        return Err(ModelError::Training(format!(
            "all {} training labels are {}: a classifier needs both classes",
            labels.len(),
            positives > 0
        )));
    }
    Ok(())
}
