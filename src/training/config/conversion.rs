//! `training/conversion.toml`: the conversion label, control points, the time split, the model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{parse_time, read_toml, ConfigError, DataConfig, ModelConfig, ValidModelConfig};
use crate::journey::Timestamp;
use crate::models::params::{InvalidSetting, ParamGuard};
use crate::models::Role;

/// The conversion label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionLabel {
    /// Days after a decision in which a conversion counts (1..=365).
    pub window_days: u32,
    /// Event types that count as a conversion.
    #[serde(default = "default_conversion_events")]
    pub conversion_events: Vec<String>,
}

fn default_conversion_events() -> Vec<String> {
    vec!["purchase".into(), "conversion".into()]
}

/// Where control rows (no action) come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Candidate control instants every this many days, at midnight UTC (1..=365). Explicit
    /// `action` events for the catalog's no-action entry are control points too.
    pub every_days: u32,
    /// A control instant needs no contact this many days before it, because the effect of a
    /// recent contact would leak into its label (0..=365; default: the label window).
    pub lookback_days: Option<u32>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            every_days: 7,
            lookback_days: None,
        }
    }
}

/// Time-based split of decision points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionSplit {
    /// Decision points before this date are ignored (optional).
    #[serde(default)]
    pub train_from: Option<String>,
    /// Decision points from this date calibrate the model (required when calibrating); the
    /// model learns on earlier ones whose window ends before it.
    #[serde(default)]
    pub calibration_from: Option<String>,
    /// Decision points from this date on are the holdout; training labels end before it.
    pub holdout_from: String,
}

/// Optional evaluation against known truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionEvaluation {
    /// The simulator's `ground_truth.parquet`: the true P(convert) under every action at every
    /// decision point, to judge predicted uplift against the true uplift.
    #[serde(default)]
    pub ground_truth: Option<PathBuf>,
}

/// `training/conversion.toml` as written (unchecked); [`ConversionConfig::check`] makes it a
/// [`ValidConversionConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionConfig {
    /// Must be `conversion`.
    pub role: Role,
    /// Artifact folder to write.
    pub output: PathBuf,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
    /// Input files (the catalog is required: its actions are the treatments).
    pub data: DataConfig,
    /// Label definition.
    pub label: ConversionLabel,
    /// Control points.
    #[serde(default)]
    pub control: ControlConfig,
    /// Time split.
    pub split: ConversionSplit,
    /// Estimator.
    pub model: ModelConfig,
    /// Evaluation against ground truth.
    #[serde(default)]
    pub evaluation: ConversionEvaluation,
}

/// Parsed and checked dates and durations of a conversion config (durations in µs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConversionWindows {
    /// Earliest decision point used.
    pub train_from: Option<Timestamp>,
    /// Start of the calibration period.
    pub calibration_from: Option<Timestamp>,
    /// Start of the holdout period.
    pub holdout_from: Timestamp,
    /// Label window.
    pub window: i64,
    /// Contact-free time needed before a control point.
    pub lookback: i64,
    /// Spacing of control instants, in days.
    pub every_days: i64,
}

/// A checked conversion config: the file as written plus its parsed windows and checked model.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidConversionConfig {
    config: ConversionConfig,
    windows: ConversionWindows,
    model: ValidModelConfig,
}

impl ValidConversionConfig {
    /// The config as written (for the manifest, and the settings that need no checking).
    pub fn config(&self) -> &ConversionConfig {
        &self.config
    }

    /// The periods and durations.
    pub fn windows(&self) -> &ConversionWindows {
        &self.windows
    }

    /// The learner and the calibration.
    pub fn model(&self) -> &ValidModelConfig {
        &self.model
    }
}

impl ConversionConfig {
    /// Reads a config file without checking it (to apply flags before
    /// [`ConversionConfig::check`]).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<ValidConversionConfig, ConfigError> {
        Self::read(path)?
            .check()
            .map_err(|e| ConfigError::invalid(path, e))
    }

    /// Checks roles, ranges, hyper-parameters (of every algorithm) and dates once; the error
    /// names the key.
    pub fn check(self) -> Result<ValidConversionConfig, InvalidSetting> {
        if self.role != Role::Conversion {
            return Err(InvalidSetting::new(
                "role",
                format!("expected \"conversion\", got \"{}\"", self.role.as_str()),
            ));
        }
        if self.data.catalog.is_none() {
            return Err(InvalidSetting::new(
                "data.catalog",
                "required: the catalog's actions are the treatments the model learns",
            ));
        }
        if !(1..=365).contains(&self.label.window_days) {
            return Err(InvalidSetting::out_of_range(
                "label.window_days",
                "within 1..=365",
                self.label.window_days,
            ));
        }
        if self.label.conversion_events.is_empty() {
            return Err(InvalidSetting::new(
                "label.conversion_events",
                "must name at least one event type",
            ));
        }
        if !(1..=365).contains(&self.control.every_days) {
            return Err(InvalidSetting::out_of_range(
                "control.every_days",
                "within 1..=365",
                self.control.every_days,
            ));
        }
        let lookback_days = self.control.lookback_days.unwrap_or(self.label.window_days);
        if lookback_days > 365 {
            return Err(InvalidSetting::out_of_range(
                "control.lookback_days",
                "within 0..=365",
                lookback_days,
            ));
        }
        let model = self.model.check()?;
        let windows = self.windows(&model, lookback_days)?;
        Ok(ValidConversionConfig {
            config: self,
            windows,
            model,
        })
    }

    fn windows(
        &self,
        model: &ValidModelConfig,
        lookback_days: u32,
    ) -> Result<ConversionWindows, InvalidSetting> {
        let day = Timestamp::MICROS_PER_DAY;
        let window = i64::from(self.label.window_days) * day;
        let holdout_from = parse_time("split.holdout_from", &self.split.holdout_from)?;
        let train_from = self
            .split
            .train_from
            .as_deref()
            .map(|t| parse_time("split.train_from", t))
            .transpose()?;
        let calibration_from = self
            .split
            .calibration_from
            .as_deref()
            .map(|t| parse_time("split.calibration_from", t))
            .transpose()?;
        let calibrating = model.calibrating();
        match (calibrating, calibration_from) {
            (true, None) => {
                return Err(InvalidSetting::new(
                    "split.calibration_from",
                    "required when model.calibration is not \"none\" (the period the calibration is fitted on)",
                ))
            }
            (false, Some(_)) => {
                return Err(InvalidSetting::new(
                    "split.calibration_from",
                    "set, but model.calibration is \"none\"",
                ))
            }
            _ => {}
        }
        if let Some(calibration) = calibration_from {
            if calibration.0 + window > holdout_from.0 {
                return Err(InvalidSetting::new(
                    "split.calibration_from",
                    format!(
                        "must be at least label.window_days ({}) before split.holdout_from",
                        self.label.window_days
                    ),
                ));
            }
        }
        let first_fit_end = calibration_from.unwrap_or(holdout_from);
        if let Some(from) = train_from {
            if from.0 + window > first_fit_end.0 {
                return Err(InvalidSetting::new(
                    "split.train_from",
                    format!(
                        "must be at least label.window_days ({}) before {}",
                        self.label.window_days,
                        if calibrating {
                            "split.calibration_from"
                        } else {
                            "split.holdout_from"
                        }
                    ),
                ));
            }
        }
        Ok(ConversionWindows {
            train_from,
            calibration_from,
            holdout_from,
            window,
            lookback: i64::from(lookback_days) * day,
            every_days: i64::from(self.control.every_days),
        })
    }
}
