//! Training the sentiment model on labelled text, and lexicon baselines to judge it against.

use std::collections::HashMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::config::{SentimentValidParams, ValidSentimentConfig};
use super::pipeline::{training_data, write_artifact, ArtifactSpec};
use super::TrainError;
use crate::fnv::Fnv1a;
use crate::models::artifact::LoadedModel;
use crate::models::params::InvalidSetting;
use crate::models::sentiment::{hashed_features, tokenize, SentimentModel};
use crate::models::{Manifest, ModelError, Role};
use crate::stats::{auc, log_loss};

/// A labelled text.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledText {
    /// The text.
    pub text: String,
    /// Positive?
    pub positive: bool,
}

/// Reads a CSV corpus, naming file, row and column on a bad label.
pub fn read_corpus(
    path: &Path,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<LabelledText>, ModelError> {
    let invalid = |problem: String| ModelError::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| invalid(e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| invalid(e.to_string()))?
        .clone();
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            invalid(format!(
                "missing column '{name}' (columns: {})",
                header.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let (t, l) = (column(text_column)?, column(label_column)?);
    let mut corpus = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = record.map_err(|e| invalid(format!("row {row}: {e}")))?;
        let label = record.get(l).unwrap_or("").trim();
        let positive = match label.to_ascii_lowercase().as_str() {
            "1" | "positive" | "pos" | "true" => true,
            "0" | "negative" | "neg" | "false" => false,
            other => {
                return Err(invalid(format!(
                    "row {row}, column '{label_column}': '{other}' is not a label (use 0/1 or negative/positive)"
                )))
            }
        };
        corpus.push(LabelledText {
            text: record.get(t).unwrap_or("").to_string(),
            positive,
        });
    }
    if corpus.is_empty() {
        return Err(invalid("contains no data rows".into()));
    }
    Ok(corpus)
}

/// Splits by a hash of the text, so the same text always lands on the same side (duplicates never
/// straddle the split) and the split does not depend on file order.
pub fn split_by_text(
    corpus: &[LabelledText],
    holdout_fraction: f64,
) -> (Vec<&LabelledText>, Vec<&LabelledText>) {
    corpus
        .iter()
        .partition(|doc| !Fnv1a::in_share(doc.text.as_bytes(), holdout_fraction))
}

/// 64-bit FNV-1a over every text and label, in file order.
fn corpus_fingerprint(corpus: &[LabelledText]) -> String {
    let mut hash = Fnv1a::default();
    for doc in corpus {
        hash.update(doc.text.as_bytes())
            .update(&[0xff, u8::from(doc.positive)]);
    }
    hash.hex()
}

/// Fits the hashed logistic model with AdaGrad; deterministic for a seed.
pub fn fit(
    train: &[&LabelledText],
    params: &SentimentValidParams,
    seed: u64,
) -> Result<SentimentModel, ModelError> {
    let positives = train.iter().filter(|d| d.positive).count();
    if train.is_empty() || positives == 0 || positives == train.len() {
        return Err(ModelError::Training(format!(
            "sentiment needs both positive and negative texts ({} of {} positive)",
            positives,
            train.len()
        )));
    }
    let features: Vec<Vec<(u32, f32)>> = train
        .iter()
        .map(|d| hashed_features(&d.text, params.bits))
        .collect();
    let size = 1usize << params.bits;
    let mut weights = vec![0f64; size];
    let mut squared = vec![1e-8f64; size];
    let (mut bias, mut bias_squared) = (0f64, 1e-8f64);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let rate = params.learning_rate;
    for _ in 0..params.epochs {
        order.shuffle(&mut rng);
        for &i in &order {
            let x = &features[i];
            let z: f64 = x
                .iter()
                .map(|&(j, v)| weights[j as usize] * f64::from(v))
                .sum::<f64>()
                + bias;
            let p = 1.0 / (1.0 + (-z).exp());
            let error = p - f64::from(u8::from(train[i].positive));
            for &(j, v) in x {
                let j = j as usize;
                let g = error * f64::from(v) + params.l2 * weights[j];
                squared[j] += g * g;
                weights[j] -= rate * g / squared[j].sqrt();
            }
            bias_squared += error * error;
            bias -= rate * error / bias_squared.sqrt();
        }
    }
    Ok(SentimentModel {
        bits: params.bits,
        weights: weights.into_iter().map(|w| w as f32).collect(),
        bias: bias as f32,
    })
}

/// Accuracy and ranking quality of scores in 0..1 against labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextScores {
    /// Texts scored.
    pub texts: usize,
    /// Share classified correctly at 0.5.
    pub accuracy: f64,
    /// ROC AUC.
    pub auc: Option<f64>,
    /// Log loss (meaningful for probabilistic scores only).
    pub log_loss: Option<f64>,
}

/// Evaluates scores (P(positive), or lexicon scores mapped to 0..1 with 0.5 as neutral).
pub fn evaluate(docs: &[&LabelledText], scores: &[f64], probabilistic: bool) -> TextScores {
    let labels: Vec<bool> = docs.iter().map(|d| d.positive).collect();
    let correct = scores
        .iter()
        .zip(&labels)
        .filter(|(s, y)| (**s >= 0.5) == **y)
        .count();
    TextScores {
        texts: docs.len(),
        accuracy: correct as f64 / docs.len().max(1) as f64,
        auc: auc(scores, &labels),
        log_loss: probabilistic.then(|| log_loss(scores, &labels)),
    }
}

/// A word-valence lexicon baseline (VADER's or AFINN's word list).
///
/// The score is VADER's core rule — the sum of word valences, a valence flipped and damped
/// (× −0.74) when one of the three preceding words is a negation, normalised as
/// `s / sqrt(s² + 15)` — without VADER's intensifier, capitalisation and punctuation rules.
/// Ties (no lexicon word) count as positive, like VADER's `compound ≥ 0`.
pub struct LexiconScorer {
    valences: HashMap<String, f64>,
}

impl LexiconScorer {
    /// Reads `token<TAB>valence[<TAB>…]` lines (VADER and AFINN files both fit).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let mut valences = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let mut parts = line.split('\t');
            let (Some(token), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let value: f64 = value.trim().parse().map_err(|_| ModelError::Invalid {
                path: path.to_path_buf(),
                problem: format!("line {}: '{value}' is not a valence", i + 1),
            })?;
            valences.insert(token.trim().to_lowercase(), value);
        }
        if valences.is_empty() {
            return Err(ModelError::Invalid {
                path: path.to_path_buf(),
                problem: "no lexicon entries".into(),
            });
        }
        Ok(LexiconScorer { valences })
    }

    /// A score in 0..1 (0.5 = neutral).
    pub fn score(&self, text: &str) -> f64 {
        let mut sum = 0.0;
        for token in tokenize(text) {
            let (word, negated) = match token.strip_prefix("not_") {
                Some(word) => (word, true),
                None => (token.as_str(), false),
            };
            if let Some(v) = self.valences.get(word) {
                sum += if negated { -0.74 * v } else { *v };
            }
        }
        let compound = sum / (sum * sum + 15.0).sqrt();
        (compound + 1.0) / 2.0
    }
}

/// Holdout metrics of the sentiment model and its lexicon baselines, written as `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentimentMetrics {
    /// The trained model on the holdout.
    pub model: TextScores,
    /// The model on its own training texts.
    pub train: TextScores,
    /// VADER lexicon baseline on the holdout, when configured.
    pub vader: Option<TextScores>,
    /// AFINN lexicon baseline on the holdout, when configured.
    pub afinn: Option<TextScores>,
    /// Holdout share and how it was drawn.
    pub split: String,
}

/// What a sentiment training run produced.
#[derive(Clone, Debug)]
pub struct SentimentOutcome {
    /// The artifact's manifest.
    pub manifest: Manifest,
    /// Holdout metrics.
    pub metrics: SentimentMetrics,
}

/// Trains the sentiment model from a checked config and writes its artifact.
pub fn train(valid: &ValidSentimentConfig) -> Result<SentimentOutcome, TrainError> {
    let config = valid.config();
    let corpus = read_corpus(
        &config.data.texts,
        &config.data.text_column,
        &config.data.label_column,
    )?;
    let (train_docs, holdout) = split_by_text(&corpus, config.holdout_fraction);
    if holdout.is_empty() {
        return Err(InvalidSetting::new("holdout_fraction", "the holdout is empty").into());
    }
    let model = fit(&train_docs, valid.model(), config.seed)?;
    let score_all = |docs: &[&LabelledText]| -> Vec<f64> {
        docs.iter()
            .map(|d| f64::from(model.probability(&d.text)))
            .collect()
    };
    let lexicon = |path: &Option<std::path::PathBuf>| -> Result<Option<TextScores>, ModelError> {
        path.as_deref()
            .map(|p| {
                let scorer = LexiconScorer::load(p)?;
                let scores: Vec<f64> = holdout.iter().map(|d| scorer.score(&d.text)).collect();
                Ok(evaluate(&holdout, &scores, false))
            })
            .transpose()
    };
    let metrics = SentimentMetrics {
        model: evaluate(&holdout, &score_all(&holdout), true),
        train: evaluate(&train_docs, &score_all(&train_docs), true),
        vader: lexicon(&config.baseline.vader_lexicon)?,
        afinn: lexicon(&config.baseline.afinn_lexicon)?,
        split: format!(
            "{:.0}% holdout by a hash of the text",
            config.holdout_fraction * 100.0
        ),
    };
    let train_labels: Vec<bool> = train_docs.iter().map(|d| d.positive).collect();
    let manifest = write_artifact(
        &config.output,
        ArtifactSpec {
            role: Role::Sentiment,
            algorithm: "hashed_logistic",
            model_file: "model.bin",
            features: None,
            treatments: None,
            training_data: training_data(
                vec![config.data.texts.display().to_string()],
                corpus_fingerprint(&corpus),
                &train_labels,
                holdout.len(),
            ),
            seed: config.seed,
        },
        &serde_json::json!({"column": config.data.label_column, "positive": "1 or positive"}),
        config,
        &LoadedModel::Sentiment(model),
        &metrics,
    )?;
    Ok(SentimentOutcome { manifest, metrics })
}
