//! `training/sentiment.toml`: the labelled corpora (one per domain), the lexicons, the holdout
//! share, the model.

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
    /// One labelled corpus (a single domain, named `default`); `[[corpus]]` gives several.
    #[serde(default)]
    pub data: Option<TextData>,
    /// Labelled corpora, one per domain.
    #[serde(default)]
    pub corpus: Vec<Corpus>,
    /// Lexicons behind the model's lexicon features (none: word features only).
    #[serde(default)]
    pub lexicons: SentimentLexicons,
    /// Holdout share (by a hash of the text, within every domain).
    #[serde(default = "default_holdout")]
    pub holdout_fraction: f64,
    /// Share of the training texts set aside to calibrate the model's probabilities.
    #[serde(default = "default_calibration")]
    pub calibration_fraction: f64,
    /// Writes the holdout texts (`text,label,domain`) here, for reports against other scorers.
    #[serde(default)]
    pub holdout_output: Option<PathBuf>,
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

fn default_calibration() -> f64 {
    0.1
}

/// One domain's labelled texts (CSV with a header; label `1`/`positive`, `0`/`negative`, or
/// `neutral`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corpus {
    /// Domain name (reports and balancing).
    pub domain: String,
    /// CSV file.
    pub texts: PathBuf,
    /// Column with the text.
    #[serde(default = "default_text_column")]
    pub text_column: String,
    /// Column with the label.
    #[serde(default = "default_label_column")]
    pub label_column: String,
    /// Multiplies the domain's weight after balancing (> 0; default 1): a noisy or off-topic
    /// domain can count for less.
    #[serde(default = "default_corpus_weight")]
    pub weight: f64,
}

fn default_corpus_weight() -> f64 {
    1.0
}

/// Lexicon files for the model's lexicon features (all optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentLexicons {
    /// VADER `vader_lexicon.txt`.
    pub vader: Option<PathBuf>,
    /// `AFINN-en-165.txt`.
    pub afinn: Option<PathBuf>,
    /// Bing Liu positive words.
    pub liu_positive: Option<PathBuf>,
    /// Bing Liu negative words.
    pub liu_negative: Option<PathBuf>,
    /// `Emoji_Sentiment_Data_v1.0.csv`.
    pub emoji: Option<PathBuf>,
    /// `AFINN-emoticon-8.txt`.
    pub emoticons: Option<PathBuf>,
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
    /// Weight of the character n-gram block against the word block (0..=2; 0 = none).
    pub char_weight: f64,
    /// How far domains are balanced (0..=1): each text weighs (mean domain size / its
    /// domain's size)^this, so 1 gives every domain the same total weight and 0 weighs texts
    /// alike.
    pub domain_balance: f64,
    /// Weight of a neutral text, trained towards P = 0.5 (0..=4; 0 leaves neutral texts out).
    pub neutral_weight: f64,
    /// Adds the lexicon's clearly polar words, each as a one-word text, as one more training
    /// domain (`lexicon_words`; never in the holdout): the hashed word and character weights
    /// then start from what the lexicons know, which carries to words and misspellings the
    /// corpora lack.
    pub lexicon_words: bool,
    /// Fits in two stages: first the lexicon features alone, then the hashed features on top
    /// with the lexicon part fixed, so the lexicon keeps its full weight on text whose words
    /// the corpora never showed.
    pub stagewise: bool,
    /// Scale of the hashed word and character features while fitting (0..=1, exclusive of 0):
    /// below 1 the corpus-specific word weights grow more slowly than the lexicon features'
    /// weights, which transfer to text unlike the corpora. The saved model folds the scale in.
    pub hashed_weight: f64,
    /// Training texts longer than this many words are split into sentences, each weighing an
    /// equal share of its text (0 = never): long film reviews then teach word weights at the
    /// scale of the short texts customers write. Holdout texts are always scored whole.
    pub split_sentences_over: u32,
    /// Weighs each domain's positive and negative texts the same in total, in training and in
    /// calibration, so a domain of mostly complaints does not make every text read unhappy.
    pub class_balance: bool,
    /// Texts of more than this many tokens also get a salted copy of their word n-grams, so
    /// long reviews learn their own word weights beside the shared ones short text uses
    /// (0 = never).
    pub long_over: u32,
    /// Length of that copy's block (0..=4).
    pub long_weight: f64,
    /// Length of a block repeating the words after the last "but" / "however" (0..=2; 0 = none).
    pub contrast_weight: f64,
    /// Reads a comparative after a modal as meant: "couldn't be happier" is praise, "could be
    /// better" is not.
    pub counterfactual: bool,
    /// Hashes a negator by the polarity of what it negates ("no complaints" → `no-`), so the
    /// weight a bare "no" learns from complaints does not read litotes backwards.
    pub negator_polarity: bool,
    /// Reads idioms of praise that negation reads backwards: "can't recommend it enough",
    /// "couldn't have asked for a better day".
    pub idioms: bool,
}

impl Default for SentimentParams {
    fn default() -> Self {
        SentimentParams {
            bits: 18,
            epochs: 10,
            learning_rate: 0.5,
            l2: 1e-6,
            char_weight: 0.0,
            domain_balance: 0.0,
            neutral_weight: 0.0,
            lexicon_words: false,
            stagewise: false,
            hashed_weight: 1.0,
            split_sentences_over: 0,
            class_balance: false,
            long_over: 0,
            long_weight: 1.0,
            contrast_weight: 0.0,
            counterfactual: false,
            negator_polarity: false,
            idioms: false,
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
        require(
            (0.0..=2.0).contains(&self.char_weight),
            "model.char_weight",
            "within 0..=2",
            self.char_weight,
        )?;
        require(
            (0.0..=1.0).contains(&self.domain_balance),
            "model.domain_balance",
            "within 0..=1",
            self.domain_balance,
        )?;
        require(
            (0.0..=4.0).contains(&self.neutral_weight),
            "model.neutral_weight",
            "within 0..=4",
            self.neutral_weight,
        )?;
        require(
            self.hashed_weight > 0.0 && self.hashed_weight <= 1.0,
            "model.hashed_weight",
            "within (0, 1]",
            self.hashed_weight,
        )?;
        require(
            (0.0..=4.0).contains(&self.long_weight),
            "model.long_weight",
            "within 0..=4",
            self.long_weight,
        )?;
        require(
            (0.0..=2.0).contains(&self.contrast_weight),
            "model.contrast_weight",
            "within 0..=2",
            self.contrast_weight,
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
    /// Every corpus of the config: `[data]` (domain `default`) and then each `[[corpus]]`.
    pub fn corpora(&self) -> Vec<Corpus> {
        let single = self.data.as_ref().map(|d| Corpus {
            domain: "default".into(),
            texts: d.texts.clone(),
            text_column: d.text_column.clone(),
            label_column: d.label_column.clone(),
            weight: 1.0,
        });
        single
            .into_iter()
            .chain(self.corpus.iter().cloned())
            .collect()
    }

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
        require(
            (0.0..0.5).contains(&self.calibration_fraction),
            "calibration_fraction",
            "in [0, 0.5)",
            self.calibration_fraction,
        )?;
        if self.data.is_none() && self.corpus.is_empty() {
            return Err(InvalidSetting::new(
                "corpus",
                "no labelled texts: give [data] or one or more [[corpus]]",
            ));
        }
        let mut domains: Vec<&str> = self.corpus.iter().map(|c| c.domain.as_str()).collect();
        domains.sort_unstable();
        if let Some(w) = domains.windows(2).find(|w| w[0] == w[1]) {
            return Err(InvalidSetting::new(
                "corpus.domain",
                format!("domain '{}' is named twice", w[0]),
            ));
        }
        if let Some((i, c)) = self
            .corpus
            .iter()
            .enumerate()
            .find(|(_, c)| !(c.weight > 0.0 && c.weight.is_finite()))
        {
            return Err(InvalidSetting::new(
                format!("corpus[{i}].weight"),
                format!("must be a finite number > 0, got {}", c.weight),
            ));
        }
        let model = self.model.check()?;
        Ok(ValidSentimentConfig {
            config: self,
            model,
        })
    }
}
