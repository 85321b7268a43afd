//! Models: one scorer interface for every backend, native model types, calibration, and the
//! artifact folder format (model file + `manifest.json` + `metrics.json`).

pub mod artifact;
pub mod calibration;
pub mod explain;
pub mod gbdt;
pub mod learner;
pub mod logistic;
pub mod meta;
pub mod onnx;
pub mod onnx_export;
pub mod params;
pub mod registry;
pub mod sentiment;
pub mod tree;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

pub use artifact::{Artifact, Manifest};
pub use calibration::Calibration;
pub use onnx::OnnxModel;

/// Scores feature rows: P(positive) per row. Native and ONNX models both implement it, and
/// [`TabularModel`] holds either, so callers need not know which backend they have.
///
/// Scoring is fallible because a backend can fail at run time (ONNX Runtime errors, rows whose
/// width is not the model's); errors have the code `model_scoring_failed`.
pub trait Scorer: Send + Sync {
    /// Probabilities for `rows`, a row-major matrix with `n_features` columns: one per row.
    fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError>;

    /// The same, for rows whose first `shared` columns are identical (one customer scored under
    /// several actions): a model may compute the shared part once. Results equal
    /// [`Scorer::predict_proba`]'s.
    fn predict_proba_shared(
        &self,
        rows: &[f32],
        n_features: usize,
        shared: usize,
    ) -> Result<Vec<f64>, ModelError> {
        let _ = shared;
        self.predict_proba(rows, n_features)
    }

    /// Probabilities of each row of `rows` and of each row with one of the `hot` columns set
    /// to 1 (a customer under each treatment indicator): per row `1 + hot.len()` values, the
    /// row as given first, then one per `hot` column in order. Results equal
    /// [`Scorer::predict_proba`]'s on the rows written out; a model may skip the work the
    /// variants share (gradient-boosted trees walk a variant only through trees that split on
    /// its column).
    fn predict_proba_onehot(
        &self,
        rows: &[f32],
        n_features: usize,
        hot: &[usize],
    ) -> Result<Vec<f64>, ModelError> {
        let wide = onehot_rows(rows, n_features, hot)?;
        self.predict_proba(&wide, n_features)
    }
}

/// `rows` written out with their one-hot variants (see [`Scorer::predict_proba_onehot`]).
pub(crate) fn onehot_rows(
    rows: &[f32],
    n_features: usize,
    hot: &[usize],
) -> Result<Vec<f32>, ModelError> {
    check_rows(rows, n_features, None)?;
    check_hot(hot, n_features)?;
    let mut wide = Vec::with_capacity(rows.len() * (1 + hot.len()));
    for row in rows.chunks_exact(n_features) {
        wide.extend_from_slice(row);
        for &column in hot {
            let start = wide.len();
            wide.extend_from_slice(row);
            wide[start + column] = 1.0;
        }
    }
    Ok(wide)
}

/// Checks that every one-hot column is inside rows of `n_features` values.
pub(crate) fn check_hot(hot: &[usize], n_features: usize) -> Result<(), ModelError> {
    match hot.iter().find(|&&c| c >= n_features) {
        Some(c) => Err(ModelError::Scoring(format!(
            "column {c} is outside rows of {n_features} features"
        ))),
        None => Ok(()),
    }
}

/// Checks that `rows` is a whole number of rows of `n_features` values, and that `n_features`
/// is what the model expects (when it says). Returns the number of rows.
pub(crate) fn check_rows(
    rows: &[f32],
    n_features: usize,
    expected: Option<usize>,
) -> Result<usize, ModelError> {
    if let Some(want) = expected.filter(|&want| want != n_features) {
        return Err(ModelError::Scoring(format!(
            "rows have {n_features} features, the model takes {want}"
        )));
    }
    if n_features == 0 || rows.len() % n_features != 0 {
        return Err(ModelError::Scoring(format!(
            "{} values do not form rows of {n_features} features",
            rows.len()
        )));
    }
    Ok(rows.len() / n_features)
}

/// What a model predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// P(churn within the horizon).
    Churn,
    /// P(convert | customer, action).
    Conversion,
    /// P(churn within the horizon | customer, action): what an action does to churn, learned
    /// from the decision log like conversion (an uplift model on the churn outcome).
    Retention,
    /// P(positive) of customer text.
    Sentiment,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Churn => "churn",
            Role::Conversion => "conversion",
            Role::Retention => "retention",
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

impl Backend {
    /// Lower-case name, as in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Onnx => "onnx",
        }
    }
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
    /// A T-, X- or DR-learner's parts (each one of the algorithms above).
    Meta(meta::MetaModel),
}

impl Estimator {
    /// The algorithm that fitted it (a meta-learner's: that of its control model).
    pub fn kind(&self) -> learner::Algorithm {
        match self {
            Estimator::Gbdt(_) => learner::Algorithm::Gbdt,
            Estimator::Logistic(_) => learner::Algorithm::Logistic,
            Estimator::Tree(_) => learner::Algorithm::Tree,
            Estimator::Meta(m) => m.control.kind(),
        }
    }

    /// The uplift meta-learner whose parts these are (none for a single model, which an uplift
    /// role uses as an S-learner).
    pub fn meta_learner(&self) -> Option<meta::MetaLearner> {
        match self {
            Estimator::Meta(m) => Some(m.learner),
            _ => None,
        }
    }

    /// The algorithm's name as in configs and manifests.
    pub fn algorithm(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The number of features the fitted model takes, when it records it.
    pub fn n_features(&self) -> Option<usize> {
        match self {
            Estimator::Gbdt(_) => None,
            Estimator::Logistic(m) => Some(m.n_features()),
            Estimator::Tree(m) => Some(m.n_features()),
            Estimator::Meta(m) => Some(m.n_features()),
        }
    }

    /// Uncalibrated probabilities; an error unless `rows` holds whole rows of the model's
    /// features.
    pub fn raw_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        match self {
            Estimator::Gbdt(m) => m.predict_proba(rows, n_features),
            Estimator::Logistic(m) => m.predict_proba(rows, n_features),
            Estimator::Tree(m) => m.predict_proba(rows, n_features),
            Estimator::Meta(m) => m.raw_proba(rows, n_features),
        }
    }

    /// Importance per feature (index-aligned), normalised to sum to 1.
    pub fn feature_importance(&self, n_features: usize) -> Vec<f64> {
        match self {
            Estimator::Gbdt(m) => m.feature_importance(n_features),
            Estimator::Logistic(m) => m.feature_importance(),
            Estimator::Tree(m) => m.feature_importance(),
            Estimator::Meta(m) => m.feature_importance(),
        }
    }
}

impl Scorer for NativeModel {
    fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        let raw = self.estimator.raw_proba(rows, n_features)?;
        Ok(raw.into_iter().map(|p| self.calibration.apply(p)).collect())
    }

    fn predict_proba_shared(
        &self,
        rows: &[f32],
        n_features: usize,
        shared: usize,
    ) -> Result<Vec<f64>, ModelError> {
        let raw = match &self.estimator {
            Estimator::Gbdt(m) => m.predict_proba_shared(rows, n_features, shared)?,
            other => other.raw_proba(rows, n_features)?,
        };
        Ok(raw.into_iter().map(|p| self.calibration.apply(p)).collect())
    }

    fn predict_proba_onehot(
        &self,
        rows: &[f32],
        n_features: usize,
        hot: &[usize],
    ) -> Result<Vec<f64>, ModelError> {
        let raw = match &self.estimator {
            Estimator::Gbdt(m) => m.predict_proba_onehot(rows, n_features, hot)?,
            other => other.raw_proba(&onehot_rows(rows, n_features, hot)?, n_features)?,
        };
        Ok(raw.into_iter().map(|p| self.calibration.apply(p)).collect())
    }
}

/// A tabular model (churn, conversion) of either backend. Score it through [`Scorer`]; the
/// manifest says which backend it came from.
#[derive(Debug)]
pub enum TabularModel {
    /// Trained and run by nextbest (serialisable: it is what the trainer writes).
    Native(Box<NativeModel>),
    /// An ONNX file run by ONNX Runtime.
    Onnx(Box<OnnxModel>),
}

impl TabularModel {
    /// Where the model runs.
    pub fn backend(&self) -> Backend {
        match self {
            TabularModel::Native(_) => Backend::Native,
            TabularModel::Onnx(_) => Backend::Onnx,
        }
    }

    /// The native model, if it is one.
    pub fn as_native(&self) -> Option<&NativeModel> {
        match self {
            TabularModel::Native(m) => Some(m),
            TabularModel::Onnx(_) => None,
        }
    }
}

impl Scorer for TabularModel {
    fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        match self {
            TabularModel::Native(m) => m.predict_proba(rows, n_features),
            TabularModel::Onnx(m) => m.predict_proba(rows, n_features),
        }
    }

    fn predict_proba_shared(
        &self,
        rows: &[f32],
        n_features: usize,
        shared: usize,
    ) -> Result<Vec<f64>, ModelError> {
        match self {
            TabularModel::Native(m) => m.predict_proba_shared(rows, n_features, shared),
            TabularModel::Onnx(m) => m.predict_proba(rows, n_features),
        }
    }

    fn predict_proba_onehot(
        &self,
        rows: &[f32],
        n_features: usize,
        hot: &[usize],
    ) -> Result<Vec<f64>, ModelError> {
        match self {
            TabularModel::Native(m) => m.predict_proba_onehot(rows, n_features, hot),
            TabularModel::Onnx(m) => {
                m.predict_proba(&onehot_rows(rows, n_features, hot)?, n_features)
            }
        }
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
    /// ONNX Runtime, needed for `backend: onnx` models, is missing or cannot be loaded.
    #[error(
        "ONNX Runtime is not available: {problem}. Install it with ./scripts/setup.sh (the PyPI \
         onnxruntime wheel, into .ort/) or set ORT_DYLIB_PATH to its libonnxruntime.so.<version>"
    )]
    OnnxRuntime {
        /// What was looked for, and what went wrong.
        problem: String,
    },
    /// A model could not score the rows it was given.
    #[error("scoring: {0}")]
    Scoring(String),
}

impl ModelError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            ModelError::Io { .. } => ErrorCode::ModelIo,
            ModelError::Invalid { .. } => ErrorCode::ModelInvalid,
            ModelError::FeatureMismatch { .. } => ErrorCode::ModelFeatureMismatch,
            ModelError::Training(_) => ErrorCode::TrainingFailed,
            ModelError::OnnxRuntime { .. } => ErrorCode::OnnxRuntimeUnavailable,
            ModelError::Scoring(_) => ErrorCode::ModelScoringFailed,
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
