//! Training configurations (`training/*.toml`): one file per model role. Each is read as an
//! unchecked struct (what the file says, as the manifest records it) and checked once into a
//! valid one ([`ValidChurnConfig`], [`ValidConversionConfig`], [`ValidSentimentConfig`]) that
//! holds the parsed dates and every algorithm's checked hyper-parameters; the trainers take only
//! the valid ones. Unknown keys and out-of-range values are errors that name the key.

mod churn;
mod conversion;
mod sentiment;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::churn::{
    ChurnBaselines, ChurnConfig, ChurnDefinition, ChurnLabel, SnapshotSplit, Snapshots,
    ValidChurnConfig,
};
pub use self::conversion::{
    ChooseBy, ControlConfig, ConversionConfig, ConversionEvaluation, ConversionLabel,
    ConversionSplit, ConversionWindows, Period, PropensityWeighting, SplitBy, SplitPlan,
    UpliftChoice, UpliftConfig, UpliftLearner, ValidConversionConfig,
};
pub use self::sentiment::{
    Corpus, SentimentBaselines, SentimentConfig, SentimentLexicons, SentimentParams,
    SentimentValidParams, TextData, ValidSentimentConfig,
};
use crate::config_file::ConfigFileError;
use crate::journey::Timestamp;
use crate::models::calibration::CalibrationMethod;
use crate::models::gbdt::GbdtParams;
pub use crate::models::learner::{Algorithm, Learner, UnknownAlgorithm};
use crate::models::logistic::LogisticParams;
use crate::models::params::{InvalidSetting, ParamGuard};
use crate::models::tree::TreeParams;

/// A problem with a configuration file, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ConfigError {
    /// The config file (or `(flags)`).
    pub file: PathBuf,
    /// What is wrong, starting with the key.
    pub problem: String,
}

impl ConfigError {
    /// An invalid setting of `file`.
    pub fn invalid(file: &Path, setting: InvalidSetting) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            problem: setting.to_string(),
        }
    }
}

/// Reads a TOML config file with the one reader ([`crate::config_file`]): errors name the file,
/// the dotted key and the line.
fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    crate::config_file::read_toml(path).map_err(|e| match e {
        ConfigFileError::Io { file, cause } => ConfigError {
            file,
            problem: cause.to_string(),
        },
        ConfigFileError::Parse { file, problem } => ConfigError {
            file,
            problem: problem.to_string(),
        },
    })
}

/// Parses a date or date-time setting.
fn parse_time(key: &str, text: &str) -> Result<Timestamp, InvalidSetting> {
    Timestamp::parse_date_or_datetime(text).map_err(|e| InvalidSetting::new(key, e.to_string()))
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

/// The estimator and its hyper-parameters, as the config states them (unchecked).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `gbdt`, `logistic` or `tree`.
    pub algorithm: Algorithm,
    /// `none`, `platt` or `isotonic`; fitted on a later period than the model.
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

/// A checked `[model]` section: the learner the config chose and its calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidModelConfig {
    /// The algorithm with its checked hyper-parameters.
    pub learner: Learner,
    /// The calibration to fit.
    pub calibration: CalibrationMethod,
}

impl ValidModelConfig {
    /// Whether a calibration map is fitted.
    pub fn calibrating(&self) -> bool {
        self.calibration != CalibrationMethod::None
    }
}

impl ParamGuard for ModelConfig {
    type Checked = ValidModelConfig;

    /// Checks the hyper-parameters of every algorithm, not only the chosen one (a typo in a
    /// section fails now, not when someone switches algorithm), keys under `model.`.
    fn check(&self) -> Result<ValidModelConfig, InvalidSetting> {
        let within = |e: InvalidSetting| e.within("model");
        let gbdt = self.gbdt.check().map_err(within)?;
        let logistic = self.logistic.check().map_err(within)?;
        let tree = self.tree.check().map_err(within)?;
        let learner = match self.algorithm {
            Algorithm::Gbdt => Learner::Gbdt(gbdt),
            Algorithm::Logistic => Learner::Logistic(logistic),
            Algorithm::Tree => Learner::Tree(tree),
        };
        Ok(ValidModelConfig {
            learner,
            calibration: self.calibration,
        })
    }
}

impl ModelConfig {
    /// Checks that the monotone constraints name input columns of the model (known once the
    /// data files give the feature spec), the key under `model.`.
    pub fn check_feature_names(&self, names: &[String]) -> Result<(), InvalidSetting> {
        self.gbdt
            .monotone_columns(names)
            .map(|_| ())
            .map_err(|e| e.within("model"))
    }
}
