//! `training/churn.toml`: the churn label, the snapshots, the model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{parse_time, read_toml, ConfigError, DataConfig, ModelConfig, ValidModelConfig};
use crate::journey::Timestamp;
use crate::models::params::{InvalidSetting, ParamGuard};
use crate::models::Role;
use crate::training::bgnbd::BgNbdParams;

/// How churn is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnDefinition {
    /// A `cancel` event within the horizon.
    Cancel,
    /// No activity event within the horizon (data without cancel events, e.g. CDNOW).
    Inactivity,
}

/// The churn label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnLabel {
    /// Days after the snapshot in which churn counts (1..=3650).
    pub horizon_days: u32,
    /// Cancel event, or inactivity.
    pub definition: ChurnDefinition,
    /// Event types that count as activity for `inactivity`.
    #[serde(default = "default_activity")]
    pub activity_events: Vec<String>,
}

fn default_activity() -> Vec<String> {
    vec!["purchase".into()]
}

/// How rows are split into training and holdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum SnapshotSplit {
    /// Training snapshots, then a later holdout snapshot (the honest default).
    Time {
        /// Feature cutoffs of the training snapshots.
        train_cutoffs: Vec<String>,
        /// Feature cutoff of the holdout snapshot.
        holdout_cutoff: String,
    },
    /// One snapshot; a share of the customers (chosen by a hash of their id) is held out. For
    /// data too short for a time split, such as CDNOW's 39 + 39 weeks: features still come
    /// only from before the cutoff and labels only from after it.
    Customers {
        /// Feature cutoff.
        cutoff: String,
        /// Share of customers held out (0 < f < 1).
        holdout_fraction: f64,
    },
}

/// `training/churn.toml` as written (unchecked); [`ChurnConfig::check`] makes it a
/// [`ValidChurnConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnConfig {
    /// Must be `churn`.
    pub role: Role,
    /// Artifact folder to write.
    pub output: PathBuf,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
    /// Input files.
    pub data: DataConfig,
    /// Label definition.
    pub label: ChurnLabel,
    /// Snapshots.
    pub split: SnapshotSplit,
    /// Estimator.
    pub model: ModelConfig,
    /// Baselines.
    #[serde(default)]
    pub baseline: ChurnBaselines,
}

/// Parsed and checked snapshot dates.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshots {
    /// Training cutoffs, ascending (for a customer split: the one cutoff).
    pub train: Vec<Timestamp>,
    /// Holdout cutoff.
    pub holdout: Timestamp,
    /// For a customer split: the share of customers held out.
    pub holdout_customers: Option<f64>,
}

/// Baselines to score on the holdout beside the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnBaselines {
    /// BG/NBD parameters (time unit: weeks), scored on the holdout from each customer's purchase
    /// history as −(expected purchases over the horizon), and as 1 − P(alive).
    #[serde(default)]
    pub bgnbd: Option<BgNbdParams>,
}

/// A checked churn config: the file as written plus its parsed snapshots and checked model.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidChurnConfig {
    config: ChurnConfig,
    snapshots: Snapshots,
    model: ValidModelConfig,
}

impl ValidChurnConfig {
    /// The config as written (for the manifest, and the settings that need no checking).
    pub fn config(&self) -> &ChurnConfig {
        &self.config
    }

    /// The snapshot dates.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// The learner and the calibration.
    pub fn model(&self) -> &ValidModelConfig {
        &self.model
    }
}

impl ChurnConfig {
    /// Reads a config file without checking it (to apply flags before [`ChurnConfig::check`]).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// Reads and checks a config file; relative data paths are taken from the working
    /// directory.
    pub fn load(path: &Path) -> Result<ValidChurnConfig, ConfigError> {
        Self::read(path)?
            .check()
            .map_err(|e| ConfigError::invalid(path, e))
    }

    /// Checks roles, ranges, hyper-parameters and the split once; the error names the key.
    pub fn check(self) -> Result<ValidChurnConfig, InvalidSetting> {
        if self.role != Role::Churn {
            return Err(InvalidSetting::new(
                "role",
                format!("expected \"churn\", got \"{}\"", self.role.as_str()),
            ));
        }
        if !(1..=3650).contains(&self.label.horizon_days) {
            return Err(InvalidSetting::out_of_range(
                "label.horizon_days",
                "within 1..=3650",
                self.label.horizon_days,
            ));
        }
        if self.label.definition == ChurnDefinition::Inactivity
            && self.label.activity_events.is_empty()
        {
            return Err(InvalidSetting::new(
                "label.activity_events",
                "must name at least one event type for inactivity",
            ));
        }
        let model = self.model.check()?;
        if let Some(bgnbd) = &self.baseline.bgnbd {
            bgnbd.validate().map_err(|e| e.within("baseline.bgnbd"))?;
        }
        let snapshots = self.snapshots(&model)?;
        Ok(ValidChurnConfig {
            config: self,
            snapshots,
            model,
        })
    }

    fn snapshots(&self, model: &ValidModelConfig) -> Result<Snapshots, InvalidSetting> {
        let (train_cutoffs, holdout_cutoff) = match &self.split {
            SnapshotSplit::Customers {
                cutoff,
                holdout_fraction,
            } => {
                if !(*holdout_fraction > 0.0 && *holdout_fraction < 1.0) {
                    return Err(InvalidSetting::out_of_range(
                        "split.holdout_fraction",
                        "in (0, 1)",
                        holdout_fraction,
                    ));
                }
                if model.calibrating() {
                    return Err(InvalidSetting::new(
                        "model.calibration",
                        "needs split.mode = \"time\" (a later snapshot to calibrate on)",
                    ));
                }
                let at = parse_time("split.cutoff", cutoff)?;
                return Ok(Snapshots {
                    train: vec![at],
                    holdout: at,
                    holdout_customers: Some(*holdout_fraction),
                });
            }
            SnapshotSplit::Time {
                train_cutoffs,
                holdout_cutoff,
            } => (train_cutoffs, holdout_cutoff),
        };
        if train_cutoffs.is_empty() {
            return Err(InvalidSetting::new(
                "split.train_cutoffs",
                "needs at least one date",
            ));
        }
        if model.calibrating() && train_cutoffs.len() < 2 {
            return Err(InvalidSetting::new(
                "split.train_cutoffs",
                "calibration needs at least two training snapshots (the last one calibrates)",
            ));
        }
        let mut train = Vec::new();
        for (i, text) in train_cutoffs.iter().enumerate() {
            train.push(parse_time(&format!("split.train_cutoffs[{i}]"), text)?);
        }
        if train.windows(2).any(|w| w[0] >= w[1]) {
            return Err(InvalidSetting::new(
                "split.train_cutoffs",
                "dates must be strictly increasing",
            ));
        }
        let holdout = parse_time("split.holdout_cutoff", holdout_cutoff)?;
        let horizon = i64::from(self.label.horizon_days) * Timestamp::MICROS_PER_DAY;
        if let Some(last) = train.last() {
            if last.0 + horizon > holdout.0 {
                return Err(InvalidSetting::new(
                    "split.holdout_cutoff",
                    format!(
                        "must be at least label.horizon_days ({}) after the last training cutoff, so training labels never see the holdout period",
                        self.label.horizon_days
                    ),
                ));
            }
        }
        Ok(Snapshots {
            train,
            holdout,
            holdout_customers: None,
        })
    }
}
