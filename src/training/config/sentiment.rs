//! `training/sentiment.toml`: the labelled corpus, the holdout share, the hashed model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{read_toml, ConfigError};
use crate::models::params::{require, InvalidSetting, ParamGuard};
use crate::models::Role;

/// `training/sentiment.toml` as written (unchecked); [`SentimentConfig::check`] makes it a
/// [`ValidSentimentConfig`].
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

/// Sentiment model hyper-parameters as written (unchecked).
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

/// Checked [`SentimentParams`]: what [`crate::training::sentiment::fit`] takes.
#[derive(Clone, Debug, PartialEq)]
pub struct SentimentValidParams(SentimentParams);

impl std::ops::Deref for SentimentValidParams {
    type Target = SentimentParams;

    fn deref(&self) -> &SentimentParams {
        &self.0
    }
}

impl ParamGuard for SentimentParams {
    type Checked = SentimentValidParams;

    /// Checks every range, naming the key (under `model.`, as in the config).
    fn check(&self) -> Result<SentimentValidParams, InvalidSetting> {
        require(
            (10..=24).contains(&self.bits),
            "model.bits",
            "within 10..=24",
            self.bits,
        )?;
        require(
            (1..=100).contains(&self.epochs),
            "model.epochs",
            "within 1..=100",
            self.epochs,
        )?;
        require(
            self.learning_rate > 0.0 && self.learning_rate.is_finite(),
            "model.learning_rate",
            "a finite number > 0",
            self.learning_rate,
        )?;
        require(
            self.l2 >= 0.0 && self.l2.is_finite(),
            "model.l2",
            "a finite number ≥ 0",
            self.l2,
        )?;
        Ok(SentimentValidParams(self.clone()))
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

/// A checked sentiment config: the file as written plus its checked model parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidSentimentConfig {
    config: SentimentConfig,
    model: SentimentValidParams,
}

impl ValidSentimentConfig {
    /// The config as written.
    pub fn config(&self) -> &SentimentConfig {
        &self.config
    }

    /// The checked model parameters.
    pub fn model(&self) -> &SentimentValidParams {
        &self.model
    }
}

impl SentimentConfig {
    /// Reads a config file without checking it (to apply flags before
    /// [`SentimentConfig::check`]).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<ValidSentimentConfig, ConfigError> {
        Self::read(path)?
            .check()
            .map_err(|e| ConfigError::invalid(path, e))
    }

    /// Checks the role and every range once; the error names the key.
    pub fn check(self) -> Result<ValidSentimentConfig, InvalidSetting> {
        if self.role != Role::Sentiment {
            return Err(InvalidSetting::new(
                "role",
                format!("expected \"sentiment\", got \"{}\"", self.role.as_str()),
            ));
        }
        require(
            self.holdout_fraction > 0.0 && self.holdout_fraction < 1.0,
            "holdout_fraction",
            "in (0, 1)",
            self.holdout_fraction,
        )?;
        let model = self.model.check()?;
        Ok(ValidSentimentConfig {
            config: self,
            model,
        })
    }
}
