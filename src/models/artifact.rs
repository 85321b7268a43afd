//! Model artifacts: a folder with the model file, `manifest.json` and `metrics.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::onnx::OnnxModel;
use super::sentiment::SentimentModel;
use super::{Backend, ModelError, Role, TabularModel};
use crate::features::FeatureSpec;
use crate::journey::Timestamp;

/// File names inside an artifact folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Metrics on the holdout.
pub const METRICS_FILE: &str = "metrics.json";

/// What the training data was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    /// Input files as given in the config.
    pub files: Vec<String>,
    /// FNV-1a hash of the training and holdout matrices and labels (changes when the data does).
    pub fingerprint: String,
    /// Training rows.
    pub train_rows: u64,
    /// Holdout rows.
    pub holdout_rows: u64,
    /// Share of positive labels in training.
    pub train_positive_rate: f64,
}

/// Everything needed to use and audit a model, written as `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// What it predicts.
    pub role: Role,
    /// Version: the creation time, unique per training run.
    pub version: String,
    /// Where it runs.
    pub backend: Backend,
    /// The algorithm (`gbdt`, `logistic`, `hashed_logistic`, …).
    pub algorithm: String,
    /// The model file inside the folder.
    pub model_file: String,
    /// The feature spec the model was trained on (ordered names, types, vocabularies); none for
    /// text models.
    pub features: Option<FeatureSpec>,
    /// For conversion models: one indicator column per treatment (action id), appended after
    /// the features in this order; all zero means no action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treatments: Option<Vec<String>>,
    /// For conversion and retention models: the catalog's actions when it was trained (id,
    /// kind, channel), so that a catalog loaded beside it can be checked to still mean the
    /// same actions (absent in artifacts trained before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<crate::catalog::TrainedAction>>,
    /// How labels were defined.
    pub label: serde_json::Value,
    /// Training data summary.
    pub training_data: TrainingData,
    /// The configuration that produced it.
    pub config: serde_json::Value,
    /// Random seed.
    pub seed: u64,
    /// When it was trained.
    pub created: Timestamp,
    /// nextbest version that trained it.
    pub crate_version: String,
}

/// A loaded model.
#[derive(Debug)]
pub enum LoadedModel {
    /// A tabular model over the feature vector, native or ONNX.
    Tabular(TabularModel),
    /// A text model.
    Sentiment(SentimentModel),
}

/// A loaded artifact.
#[derive(Debug)]
pub struct Artifact {
    /// The folder it came from.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The model.
    pub model: LoadedModel,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::Invalid {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ModelError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| ModelError::Invalid {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    std::fs::write(path, text + "\n").map_err(|e| ModelError::io(path, e))
}

impl Artifact {
    /// Loads an artifact folder: manifest first, then the model file it names. Tabular models
    /// (churn, conversion) may be `native` or `onnx`; an ONNX model must take exactly as many
    /// features as the manifest lists (`model_feature_mismatch` otherwise), and loading one
    /// needs ONNX Runtime (`onnx_runtime_unavailable` when it is missing).
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, ModelError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest: Manifest = read_json(&dir.join(MANIFEST_FILE))?;
        let model_path = dir.join(&manifest.model_file);
        let model = match manifest.role {
            Role::Sentiment => {
                if manifest.backend != Backend::Native {
                    return Err(ModelError::Invalid {
                        path: dir.join(MANIFEST_FILE),
                        problem: "backend: sentiment models run natively only".into(),
                    });
                }
                LoadedModel::Sentiment(SentimentModel::load(&model_path)?)
            }
            Role::Churn | Role::Conversion | Role::Retention => {
                let Some(spec) = &manifest.features else {
                    return Err(ModelError::Invalid {
                        path: dir.join(MANIFEST_FILE),
                        problem: "features: a tabular model must list its features".into(),
                    });
                };
                LoadedModel::Tabular(match manifest.backend {
                    Backend::Native => TabularModel::Native(Box::new(read_json(&model_path)?)),
                    Backend::Onnx => {
                        // A conversion model takes one indicator column per treatment too.
                        let width = spec.len() + manifest.treatments.as_ref().map_or(0, Vec::len);
                        TabularModel::Onnx(Box::new(OnnxModel::load(&model_path, width)?))
                    }
                })
            }
        };
        Ok(Artifact {
            dir,
            manifest,
            model,
        })
    }

    /// Writes an artifact folder atomically: into a temporary sibling, then renamed into place.
    /// Native models only: ONNX artifacts are written by their exporter
    /// (`training/export_onnx.py`).
    pub fn save(
        dir: &Path,
        manifest: &Manifest,
        model: &LoadedModel,
        metrics: &impl Serialize,
    ) -> Result<(), ModelError> {
        if let LoadedModel::Tabular(TabularModel::Onnx(_)) = model {
            return Err(ModelError::Invalid {
                path: dir.to_path_buf(),
                problem: "ONNX artifacts are written by their exporter, not saved by nextbest"
                    .into(),
            });
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let temp = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir_all(&temp).map_err(|e| ModelError::io(&temp, e))?;
        let written = (|| {
            match model {
                LoadedModel::Tabular(TabularModel::Native(m)) => {
                    write_json(&temp.join(&manifest.model_file), m.as_ref())?
                }
                LoadedModel::Tabular(TabularModel::Onnx(_)) => {}
                LoadedModel::Sentiment(m) => m.save(&temp.join(&manifest.model_file))?,
            }
            write_json(&temp.join(METRICS_FILE), metrics)?;
            write_json(&temp.join(MANIFEST_FILE), manifest)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        }
        std::fs::rename(&temp, dir).map_err(|e| ModelError::io(dir, e))
    }

    /// The metrics file as JSON.
    pub fn metrics(&self) -> Result<serde_json::Value, ModelError> {
        read_json(&self.dir.join(METRICS_FILE))
    }

    /// Refuses the model unless its feature list is exactly what `spec` produces, in order.
    pub fn check_features(&self, spec: &FeatureSpec) -> Result<(), ModelError> {
        let mismatch = |problem: String| ModelError::FeatureMismatch {
            path: self.dir.clone(),
            problem,
        };
        let Some(expected) = &self.manifest.features else {
            return Err(mismatch("the model lists no features".into()));
        };
        if expected.version != spec.version {
            return Err(mismatch(format!(
                "trained on feature set version {}, the pipeline produces version {}",
                expected.version, spec.version
            )));
        }
        for (i, (want, got)) in expected.features.iter().zip(&spec.features).enumerate() {
            if want != got {
                return Err(mismatch(format!(
                    "feature {i} is '{}' ({:?}) in the model but '{}' ({:?}) in the pipeline",
                    want.name, want.kind, got.name, got.kind
                )));
            }
        }
        if expected.features.len() != spec.features.len() {
            return Err(mismatch(format!(
                "the model has {} features, the pipeline produces {}",
                expected.features.len(),
                spec.features.len()
            )));
        }
        Ok(())
    }
}
