//! Training configurations (`training/*.toml`): one file per model role. Unknown keys and
//! out-of-range values are errors that name the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::journey::Timestamp;
use crate::models::calibration::CalibrationMethod;
use crate::models::gbdt::GbdtParams;
use crate::models::logistic::LogisticParams;
use crate::models::tree::TreeParams;
use crate::models::Role;

/// A problem with a configuration, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ConfigError {
    /// The config file (or `(flags)`).
    pub file: PathBuf,
    /// What is wrong, starting with the key.
    pub problem: String,
}

/// Reads a TOML config file; errors name the file (and the key, as the TOML parser reports it).
fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let error = |problem: String| ConfigError {
        file: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    toml::from_str(&text).map_err(|e| error(e.to_string().trim().replace('\n', " ")))
}

/// Reads a TOML config file and checks it with `validate`, whose message names the key.
fn read_validated<T, V>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<V, String>,
) -> Result<T, ConfigError>
where
    T: serde::de::DeserializeOwned,
{
    let config: T = read_toml(path)?;
    validate(&config).map_err(|problem| ConfigError {
        file: path.to_path_buf(),
        problem,
    })?;
    Ok(config)
}

/// Where the journey data is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Event file.
    pub events: PathBuf,
    /// Customer table.
    #[serde(default)]
    pub customers: Option<PathBuf>,
    /// Action catalog.
    #[serde(default)]
    pub catalog: Option<PathBuf>,
    /// Sentiment artifact that fills the sentiment feature slots.
    #[serde(default)]
    pub sentiment_model: Option<PathBuf>,
    /// Date column of the customer table that marks signup (default: `signup_date` if present).
    #[serde(default)]
    pub signup_column: Option<String>,
}

impl DataConfig {
    /// The data files, as given, for a manifest.
    pub fn files(&self) -> Vec<String> {
        [
            Some(&self.events),
            self.customers.as_ref(),
            self.catalog.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect()
    }
}

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

/// The estimator and its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `gbdt`, `logistic` or `tree`.
    pub algorithm: Algorithm,
    /// `none`, `platt` or `isotonic`; fitted on the last training snapshot, the model on the rest.
    #[serde(default = "default_calibration")]
    pub calibration: CalibrationMethod,
    /// Gradient-boosting parameters.
    #[serde(default)]
    pub gbdt: GbdtParams,
    /// Logistic-regression parameters.
    #[serde(default)]
    pub logistic: LogisticParams,
    /// Decision-tree parameters.
    #[serde(default)]
    pub tree: TreeParams,
}

fn default_calibration() -> CalibrationMethod {
    CalibrationMethod::None
}

/// Tabular algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Gradient-boosted trees (the strong default).
    Gbdt,
    /// Logistic regression (simple, explainable).
    Logistic,
    /// One decision tree (simple, explainable: a few readable rules).
    Tree,
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gbdt" => Ok(Algorithm::Gbdt),
            "logistic" => Ok(Algorithm::Logistic),
            "tree" => Ok(Algorithm::Tree),
            other => Err(format!(
                "unknown algorithm '{other}' (expected gbdt, logistic or tree)"
            )),
        }
    }
}

/// `training/churn.toml`.
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
    pub bgnbd: Option<super::bgnbd::BgNbdParams>,
}

impl ChurnConfig {
    /// Reads and validates a config file; relative data paths are taken from the working directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        read_validated(path, ChurnConfig::validate)
    }

    /// Checks roles, ranges and the split; the message starts with the key.
    pub fn validate(&self) -> Result<Snapshots, String> {
        if self.role != Role::Churn {
            return Err(format!(
                "role: expected \"churn\", got \"{}\"",
                self.role.as_str()
            ));
        }
        if !(1..=3650).contains(&self.label.horizon_days) {
            return Err(format!(
                "label.horizon_days: must be within 1..=3650, got {}",
                self.label.horizon_days
            ));
        }
        if self.label.definition == ChurnDefinition::Inactivity
            && self.label.activity_events.is_empty()
        {
            return Err(
                "label.activity_events: must name at least one event type for inactivity".into(),
            );
        }
        self.model
            .gbdt
            .validate()
            .map_err(|e| format!("model.{e}"))?;
        self.model
            .logistic
            .validate()
            .map_err(|e| format!("model.{e}"))?;
        self.model
            .tree
            .validate()
            .map_err(|e| format!("model.{e}"))?;
        let parse = |key: &str, text: &str| {
            Timestamp::parse_date_or_datetime(text).map_err(|e| format!("{key}: {e}"))
        };
        if let Some(bgnbd) = &self.baseline.bgnbd {
            bgnbd
                .validate()
                .map_err(|e| format!("baseline.bgnbd.{e}"))?;
        }
        let (train_cutoffs, holdout_cutoff) = match &self.split {
            SnapshotSplit::Customers {
                cutoff,
                holdout_fraction,
            } => {
                if !(*holdout_fraction > 0.0 && *holdout_fraction < 1.0) {
                    return Err(format!(
                        "split.holdout_fraction: must be in (0, 1), got {holdout_fraction}"
                    ));
                }
                if self.model.calibration != CalibrationMethod::None {
                    return Err("model.calibration: needs split.mode = \"time\" (a later snapshot to calibrate on)".into());
                }
                let at = parse("split.cutoff", cutoff)?;
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
            return Err("split.train_cutoffs: needs at least one date".into());
        }
        if self.model.calibration != CalibrationMethod::None && train_cutoffs.len() < 2 {
            return Err("split.train_cutoffs: calibration needs at least two training snapshots (the last one calibrates)".into());
        }
        let mut train = Vec::new();
        for (i, text) in train_cutoffs.iter().enumerate() {
            train.push(parse(&format!("split.train_cutoffs[{i}]"), text)?);
        }
        if train.windows(2).any(|w| w[0] >= w[1]) {
            return Err("split.train_cutoffs: dates must be strictly increasing".into());
        }
        let holdout = parse("split.holdout_cutoff", holdout_cutoff)?;
        let horizon = i64::from(self.label.horizon_days) * Timestamp::MICROS_PER_DAY;
        if let Some(last) = train.last() {
            if last.0 + horizon > holdout.0 {
                return Err(format!(
                    "split.holdout_cutoff: must be at least label.horizon_days ({}) after the last training cutoff, so training labels never see the holdout period",
                    self.label.horizon_days
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

/// `training/conversion.toml`.
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

impl ConversionConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        read_validated(path, ConversionConfig::validate)
    }

    /// Checks roles, ranges and dates; the message starts with the key.
    pub fn validate(&self) -> Result<ConversionWindows, String> {
        if self.role != Role::Conversion {
            return Err(format!(
                "role: expected \"conversion\", got \"{}\"",
                self.role.as_str()
            ));
        }
        if self.data.catalog.is_none() {
            return Err(
                "data.catalog: required: the catalog's actions are the treatments the model learns"
                    .into(),
            );
        }
        if !(1..=365).contains(&self.label.window_days) {
            return Err(format!(
                "label.window_days: must be within 1..=365, got {}",
                self.label.window_days
            ));
        }
        if self.label.conversion_events.is_empty() {
            return Err("label.conversion_events: must name at least one event type".into());
        }
        if !(1..=365).contains(&self.control.every_days) {
            return Err(format!(
                "control.every_days: must be within 1..=365, got {}",
                self.control.every_days
            ));
        }
        let lookback_days = self.control.lookback_days.unwrap_or(self.label.window_days);
        if lookback_days > 365 {
            return Err(format!(
                "control.lookback_days: must be within 0..=365, got {lookback_days}"
            ));
        }
        self.model
            .gbdt
            .validate()
            .map_err(|e| format!("model.{e}"))?;
        self.model
            .logistic
            .validate()
            .map_err(|e| format!("model.{e}"))?;
        let parse = |key: &str, text: &str| {
            Timestamp::parse_date_or_datetime(text).map_err(|e| format!("{key}: {e}"))
        };
        let day = Timestamp::MICROS_PER_DAY;
        let window = i64::from(self.label.window_days) * day;
        let holdout_from = parse("split.holdout_from", &self.split.holdout_from)?;
        let train_from = self
            .split
            .train_from
            .as_deref()
            .map(|t| parse("split.train_from", t))
            .transpose()?;
        let calibration_from = self
            .split
            .calibration_from
            .as_deref()
            .map(|t| parse("split.calibration_from", t))
            .transpose()?;
        let calibrating = self.model.calibration != CalibrationMethod::None;
        match (calibrating, calibration_from) {
            (true, None) => {
                return Err("split.calibration_from: required when model.calibration is not \"none\" (the period the calibration is fitted on)".into())
            }
            (false, Some(_)) => {
                return Err("split.calibration_from: set, but model.calibration is \"none\"".into())
            }
            _ => {}
        }
        if let Some(calibration) = calibration_from {
            if calibration.0 + window > holdout_from.0 {
                return Err(format!(
                    "split.calibration_from: must be at least label.window_days ({}) before split.holdout_from",
                    self.label.window_days
                ));
            }
        }
        let first_fit_end = calibration_from.unwrap_or(holdout_from);
        if let Some(from) = train_from {
            if from.0 + window > first_fit_end.0 {
                return Err(format!(
                    "split.train_from: must be at least label.window_days ({}) before {}",
                    self.label.window_days,
                    if calibrating {
                        "split.calibration_from"
                    } else {
                        "split.holdout_from"
                    }
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

/// `training/sentiment.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentConfig {
    /// Must be `sentiment`.
    pub role: Role,
    /// Artifact folder to write.
    pub output: PathBuf,
    /// Random seed (shuffling).
    #[serde(default)]
    pub seed: u64,
    /// The labelled corpus.
    pub data: TextData,
    /// Holdout share.
    #[serde(default = "default_holdout")]
    pub holdout_fraction: f64,
    /// Model hyper-parameters.
    #[serde(default)]
    pub model: SentimentParams,
    /// Lexicon baselines to compare with (optional).
    #[serde(default)]
    pub baseline: SentimentBaselines,
}

fn default_holdout() -> f64 {
    0.2
}

/// A labelled text corpus (CSV with a header).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextData {
    /// CSV file.
    pub texts: PathBuf,
    /// Column with the text.
    #[serde(default = "default_text_column")]
    pub text_column: String,
    /// Column with the label: 0/1, or positive/negative.
    #[serde(default = "default_label_column")]
    pub label_column: String,
}

fn default_text_column() -> String {
    "text".into()
}

fn default_label_column() -> String {
    "label".into()
}

/// Sentiment model hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentimentParams {
    /// log2 of the number of hash buckets (10..=24).
    pub bits: u32,
    /// Passes over the training data (1..=100).
    pub epochs: u32,
    /// AdaGrad learning rate (> 0).
    pub learning_rate: f64,
    /// L2 penalty per update (≥ 0).
    pub l2: f64,
}

impl Default for SentimentParams {
    fn default() -> Self {
        SentimentParams {
            bits: 18,
            epochs: 10,
            learning_rate: 0.5,
            l2: 1e-6,
        }
    }
}

/// Lexicons for baseline scores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentBaselines {
    /// VADER lexicon file (`token<TAB>mean<TAB>…`).
    pub vader_lexicon: Option<PathBuf>,
    /// AFINN-165 file (`token<TAB>score`).
    pub afinn_lexicon: Option<PathBuf>,
}

impl SentimentConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        read_validated(path, SentimentConfig::validate)
    }

    /// Checks roles and ranges; the message starts with the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.role != Role::Sentiment {
            return Err(format!(
                "role: expected \"sentiment\", got \"{}\"",
                self.role.as_str()
            ));
        }
        if !(self.holdout_fraction > 0.0 && self.holdout_fraction < 1.0) {
            return Err(format!(
                "holdout_fraction: must be in (0, 1), got {}",
                self.holdout_fraction
            ));
        }
        let m = &self.model;
        if !(10..=24).contains(&m.bits) {
            return Err(format!(
                "model.bits: must be within 10..=24, got {}",
                m.bits
            ));
        }
        if !(1..=100).contains(&m.epochs) {
            return Err(format!(
                "model.epochs: must be within 1..=100, got {}",
                m.epochs
            ));
        }
        if !(m.learning_rate > 0.0 && m.learning_rate.is_finite()) {
            return Err(format!(
                "model.learning_rate: must be a finite number > 0, got {}",
                m.learning_rate
            ));
        }
        if !(m.l2 >= 0.0 && m.l2.is_finite()) {
            return Err(format!(
                "model.l2: must be a finite number ≥ 0, got {}",
                m.l2
            ));
        }
        Ok(())
    }
}
