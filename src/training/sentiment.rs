//! Training the sentiment model on labelled text from several domains, and lexicon baselines to
//! judge it against.
//!
//! Each domain (film reviews, tweets to brands, patient reviews, …) is split into train and
//! holdout by a hash of the text; a further share of the training texts calibrates the
//! probabilities. Domains are balanced by weight, so the largest one does not decide alone what
//! words mean, and neutral texts are trained towards P = 0.5 so text without sentiment does not
//! read as unhappy.

use std::collections::HashMap;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

pub use super::text_weights::{
    class_balanced, corpus_weights, fit_calibration, split_long_texts, text_weights,
};

use super::config::{SentimentParams, SentimentValidParams, ValidSentimentConfig};
use super::pipeline::{training_data, write_artifact, ArtifactSpec};
use super::TrainError;
use crate::fnv::Fnv1a;
use crate::models::artifact::LoadedModel;
use crate::models::params::InvalidSetting;
use crate::models::sentiment::{
    tokenize, Encoded, Encoder, EncoderOptions, Lexicon, LexiconFiles, SentimentModel, DENSE,
};
use crate::models::{Manifest, ModelError, Role};
use crate::stats::{auc, log_loss};

/// The lexicons' clearly polar words as one-word labelled texts of `domain` (the trainer's
/// `lexicon_words` option).
pub fn lexicon_word_texts(lexicon: &Lexicon, domain: usize) -> Vec<LabelledText> {
    lexicon
        .polar_words(1.0)
        .into_iter()
        .map(|(word, positive)| LabelledText {
            text: word.to_string(),
            label: if positive {
                Label::Positive
            } else {
                Label::Negative
            },
            domain,
        })
        .collect()
}

/// The encoder the parameters describe, over `lexicon`.
pub fn encoder(params: &SentimentParams, lexicon: Option<Lexicon>) -> Encoder {
    Encoder {
        bits: params.bits,
        char_weight: params.char_weight as f32,
        lexicon,
        options: EncoderOptions {
            long_over: params.long_over,
            long_weight: params.long_weight as f32,
            contrast_weight: params.contrast_weight as f32,
            counterfactual: params.counterfactual,
            negator_polarity: params.negator_polarity,
            idioms: params.idioms,
        },
    }
}

/// What a text is labelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// Negative.
    Negative,
    /// Neither: trained towards P = 0.5, judged apart from accuracy.
    Neutral,
    /// Positive.
    Positive,
}

impl Label {
    /// The training target.
    pub fn target(self) -> f64 {
        match self {
            Label::Negative => 0.0,
            Label::Neutral => 0.5,
            Label::Positive => 1.0,
        }
    }
}

/// A labelled text of a domain.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledText {
    /// The text.
    pub text: String,
    /// Its label.
    pub label: Label,
    /// Index of its domain in the config's corpora.
    pub domain: usize,
}

/// Reads a CSV corpus, naming file, row and column on a bad label.
pub fn read_corpus(
    path: &Path,
    text_column: &str,
    label_column: &str,
    domain: usize,
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
        let label = match label.to_ascii_lowercase().as_str() {
            "1" | "positive" | "pos" | "true" => Label::Positive,
            "0" | "negative" | "neg" | "false" => Label::Negative,
            "neutral" => Label::Neutral,
            other => {
                return Err(invalid(format!(
                    "row {row}, column '{label_column}': '{other}' is not a label (use 0/1, negative/positive or neutral)"
                )))
            }
        };
        corpus.push(LabelledText {
            text: record.get(t).unwrap_or("").to_string(),
            label,
            domain,
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

/// 64-bit FNV-1a over every text, label and domain, in file order.
fn corpus_fingerprint(corpus: &[LabelledText]) -> String {
    let mut hash = Fnv1a::default();
    for doc in corpus {
        hash.update(doc.text.as_bytes())
            .update(&[0xff, doc.label as u8, doc.domain as u8]);
    }
    hash.hex()
}

/// Fits the linear model (hash weights, lexicon-feature weights, bias) with AdaGrad on weighted
/// log loss; deterministic for a seed. The result is uncalibrated (`calibration` = (1, 0)).
pub fn fit(
    train: &[&LabelledText],
    weights: &[f64],
    encoder: &Encoder,
    params: &SentimentValidParams,
    seed: u64,
) -> Result<SentimentModel, ModelError> {
    let features: Vec<Encoded> = train.iter().map(|d| encoder.encode(&d.text)).collect();
    let refs: Vec<&Encoded> = features.iter().collect();
    fit_encoded(train, &refs, weights, encoder, params, seed)
}

/// [`fit`] on texts already encoded by `encoder` (`features[i]` is `train[i]`'s), so a
/// hyper-parameter search encodes each text once.
///
/// The hashed features enter scaled by `hashed_weight`: under AdaGrad that slows what the
/// word and character weights learn against the lexicon features, whose meaning carries across
/// domains. The scale is folded into the saved weights, so scoring is unchanged.
pub fn fit_encoded(
    train: &[&LabelledText],
    features: &[&Encoded],
    weights: &[f64],
    encoder: &Encoder,
    params: &SentimentValidParams,
    seed: u64,
) -> Result<SentimentModel, ModelError> {
    let positives = train.iter().filter(|d| d.label == Label::Positive).count();
    let negatives = train.iter().filter(|d| d.label == Label::Negative).count();
    if positives == 0 || negatives == 0 {
        return Err(ModelError::Training(format!(
            "sentiment needs both positive and negative texts ({positives} positive, {negatives} negative of {})",
            train.len()
        )));
    }
    let scale = params.hashed_weight;
    let size = 1usize << encoder.bits;
    let mut w = vec![0f64; size];
    let mut squared = vec![1e-8f64; size];
    let mut dense = [0f64; DENSE];
    let mut dense_squared = [1e-8f64; DENSE];
    let (mut bias, mut bias_squared) = (0f64, 1e-8f64);
    let mut order: Vec<usize> = (0..train.len()).filter(|&i| weights[i] > 0.0).collect();
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let rate = params.learning_rate;
    // Stagewise: a pass of epochs over the lexicon features and bias alone, then one over the
    // hashed features alone; otherwise one pass over everything.
    let stages: &[(bool, bool)] = if params.stagewise {
        &[(true, false), (false, true)]
    } else {
        &[(true, true)]
    };
    for &(fit_dense, fit_sparse) in stages {
        for _ in 0..params.epochs {
            order.shuffle(&mut rng);
            for &i in &order {
                let x = features[i];
                let z: f64 = x
                    .sparse
                    .iter()
                    .map(|&(j, v)| w[j as usize] * f64::from(v) * scale)
                    .sum::<f64>()
                    + x.dense
                        .iter()
                        .zip(&dense)
                        .map(|(v, d)| f64::from(*v) * d)
                        .sum::<f64>()
                    + bias;
                let p = 1.0 / (1.0 + (-z).exp());
                let error = weights[i] * (p - train[i].label.target());
                if fit_sparse {
                    for &(j, v) in &x.sparse {
                        let j = j as usize;
                        let g = error * f64::from(v) * scale + params.l2 * w[j];
                        squared[j] += g * g;
                        w[j] -= rate * g / squared[j].sqrt();
                    }
                }
                if fit_dense {
                    for (k, v) in x.dense.iter().enumerate() {
                        let g = error * f64::from(*v) + params.l2 * dense[k];
                        dense_squared[k] += g * g;
                        dense[k] -= rate * g / dense_squared[k].sqrt();
                    }
                    bias_squared += error * error;
                    bias -= rate * error / bias_squared.sqrt();
                }
            }
        }
    }
    Ok(SentimentModel {
        encoder: encoder.clone(),
        weights: w.into_iter().map(|w| (w * scale) as f32).collect(),
        dense_weights: dense.map(|d| d as f32),
        bias: bias as f32,
        calibration: (1.0, 0.0),
    })
}

/// Platt scaling: the (a, b) of σ(a·z + b) that minimise weighted log loss of raw log-odds `z`
/// against targets in 0..=1 (Newton's method on two parameters, a little ridge for stability).
pub fn platt(z: &[f64], targets: &[f64], weights: &[f64]) -> (f64, f64) {
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) =
            (1e-6 * (a - 1.0), 1e-6 * b, 1e-6, 0.0, 1e-6);
        for ((&z, &y), &w) in z.iter().zip(targets).zip(weights) {
            let p = 1.0 / (1.0 + (-(a * z + b)).exp());
            let (g, h) = (w * (p - y), w * p * (1.0 - p));
            ga += g * z;
            gb += g;
            haa += h * z * z;
            hab += h * z;
            hbb += h;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-9 {
            break;
        }
    }
    (a, b)
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

/// Evaluates scores (P(positive), or lexicon scores mapped to 0..1 with 0.5 as neutral) on the
/// positive and negative texts; neutral texts are left out.
pub fn evaluate(docs: &[&LabelledText], scores: &[f64], probabilistic: bool) -> TextScores {
    let (scores, labels): (Vec<f64>, Vec<bool>) = docs
        .iter()
        .zip(scores)
        .filter(|(d, _)| d.label != Label::Neutral)
        .map(|(d, s)| (*s, d.label == Label::Positive))
        .unzip();
    let correct = scores
        .iter()
        .zip(&labels)
        .filter(|(s, y)| (**s >= 0.5) == **y)
        .count();
    TextScores {
        texts: labels.len(),
        accuracy: correct as f64 / labels.len().max(1) as f64,
        auc: auc(&scores, &labels),
        log_loss: probabilistic.then(|| log_loss(&scores, &labels)),
    }
}

/// How close to 0.5 neutral texts score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeutralScores {
    /// Neutral texts scored.
    pub texts: usize,
    /// Mean P(positive).
    pub mean: f64,
    /// Mean |P − 0.5|.
    pub mean_distance_from_half: f64,
    /// Share within 0.35..=0.65.
    pub share_near_half: f64,
}

fn neutral_scores(docs: &[&LabelledText], scores: &[f64]) -> Option<NeutralScores> {
    let neutral: Vec<f64> = docs
        .iter()
        .zip(scores)
        .filter(|(d, _)| d.label == Label::Neutral)
        .map(|(_, s)| *s)
        .collect();
    let n = neutral.len() as f64;
    (!neutral.is_empty()).then(|| NeutralScores {
        texts: neutral.len(),
        mean: neutral.iter().sum::<f64>() / n,
        mean_distance_from_half: neutral.iter().map(|p| (p - 0.5).abs()).sum::<f64>() / n,
        share_near_half: neutral
            .iter()
            .filter(|p| (0.35..=0.65).contains(*p))
            .count() as f64
            / n,
    })
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

/// Holdout metrics of one domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainMetrics {
    /// Domain name.
    pub domain: String,
    /// The model on the domain's positive and negative holdout texts.
    pub model: TextScores,
    /// VADER lexicon baseline on the same texts, when configured.
    pub vader: Option<TextScores>,
    /// The model on the domain's neutral holdout texts, when it has any.
    pub neutral: Option<NeutralScores>,
}

/// Holdout metrics of the sentiment model and its lexicon baselines, written as `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentimentMetrics {
    /// The trained model on the holdout (every domain).
    pub model: TextScores,
    /// The model on its own training texts.
    pub train: TextScores,
    /// VADER lexicon baseline on the holdout, when configured.
    pub vader: Option<TextScores>,
    /// AFINN lexicon baseline on the holdout, when configured.
    pub afinn: Option<TextScores>,
    /// Per domain.
    pub domains: Vec<DomainMetrics>,
    /// The Platt calibration fitted on the calibration share: (a, b).
    pub calibration: (f64, f64),
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
    let corpora = config.corpora();
    let mut corpus = Vec::new();
    for (i, c) in corpora.iter().enumerate() {
        corpus.extend(read_corpus(&c.texts, &c.text_column, &c.label_column, i)?);
    }
    let (train_all, holdout) = split_by_text(&corpus, config.holdout_fraction);
    if holdout.is_empty() {
        return Err(InvalidSetting::new("holdout_fraction", "the holdout is empty").into());
    }
    let (calibration, train_docs): (Vec<&LabelledText>, Vec<&LabelledText>) =
        train_all.iter().partition(|d| {
            Fnv1a::in_salted_share(
                b"calibration",
                d.text.as_bytes(),
                config.calibration_fraction,
            )
        });
    let l = &config.lexicons;
    let any_lexicon = [
        &l.vader,
        &l.afinn,
        &l.liu_positive,
        &l.liu_negative,
        &l.emoji,
        &l.emoticons,
    ]
    .iter()
    .any(|p| p.is_some());
    let lexicon = any_lexicon
        .then(|| {
            Lexicon::load(&LexiconFiles {
                vader: l.vader.as_deref(),
                afinn: l.afinn.as_deref(),
                liu_positive: l.liu_positive.as_deref(),
                liu_negative: l.liu_negative.as_deref(),
                emoji: l.emoji.as_deref(),
                emoticons: l.emoticons.as_deref(),
            })
        })
        .transpose()?;
    let params = valid.model();
    let encoder = encoder(params, lexicon);
    let lexicon_docs: Vec<LabelledText> = match (&encoder.lexicon, params.lexicon_words) {
        (Some(lex), true) => lexicon_word_texts(lex, corpora.len()),
        _ => Vec::new(),
    };
    let train_docs: Vec<&LabelledText> = train_docs.into_iter().chain(&lexicon_docs).collect();
    let domain_weights: Vec<f64> = corpora.iter().map(|c| c.weight).collect();
    let mut weights = corpus_weights(
        &train_docs,
        text_weights(&train_docs, params.domain_balance, params.neutral_weight),
        &domain_weights,
    );
    if params.class_balance {
        weights = class_balanced(&train_docs, weights);
    }
    let (split_docs, split_weights) =
        split_long_texts(&train_docs, &weights, params.split_sentences_over as usize);
    let split_refs: Vec<&LabelledText> = split_docs.iter().collect();
    let mut model = fit(&split_refs, &split_weights, &encoder, params, config.seed)?;
    let polar: Vec<&LabelledText> = calibration
        .iter()
        .copied()
        .filter(|d| d.label != Label::Neutral)
        .collect();
    let logits: Vec<f64> = polar
        .iter()
        .map(|d| f64::from(model.raw_logit(&encoder.encode(&d.text))))
        .collect();
    let calibration_fit = fit_calibration(&polar, &logits, params);
    model.calibration = (calibration_fit.0 as f32, calibration_fit.1 as f32);
    let score_all = |docs: &[&LabelledText]| -> Vec<f64> {
        docs.iter()
            .map(|d| f64::from(model.probability(&d.text)))
            .collect()
    };
    let vader = config
        .baseline
        .vader_lexicon
        .as_deref()
        .map(LexiconScorer::load)
        .transpose()?;
    let lexicon_scores = |scorer: &LexiconScorer, docs: &[&LabelledText]| -> TextScores {
        let scores: Vec<f64> = docs.iter().map(|d| scorer.score(&d.text)).collect();
        evaluate(docs, &scores, false)
    };
    let holdout_scores = score_all(&holdout);
    let domains = corpora
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (docs, scores): (Vec<&LabelledText>, Vec<f64>) = holdout
                .iter()
                .zip(&holdout_scores)
                .filter(|(d, _)| d.domain == i)
                .map(|(d, s)| (*d, *s))
                .unzip();
            DomainMetrics {
                domain: c.domain.clone(),
                model: evaluate(&docs, &scores, true),
                vader: vader.as_ref().map(|v| lexicon_scores(v, &docs)),
                neutral: neutral_scores(&docs, &scores),
            }
        })
        .collect();
    let afinn = config
        .baseline
        .afinn_lexicon
        .as_deref()
        .map(LexiconScorer::load)
        .transpose()?;
    let metrics = SentimentMetrics {
        model: evaluate(&holdout, &holdout_scores, true),
        train: evaluate(&train_docs, &score_all(&train_docs), true),
        vader: vader.as_ref().map(|v| lexicon_scores(v, &holdout)),
        afinn: afinn.as_ref().map(|v| lexicon_scores(v, &holdout)),
        domains,
        calibration: calibration_fit,
        split: format!(
            "{:.0}% holdout by a hash of the text; {:.0}% of the rest calibrates",
            config.holdout_fraction * 100.0,
            config.calibration_fraction * 100.0
        ),
    };
    if let Some(path) = &config.holdout_output {
        write_holdout(path, &holdout, &corpora)?;
    }
    let train_labels: Vec<bool> = train_docs
        .iter()
        .filter(|d| d.label != Label::Neutral)
        .map(|d| d.label == Label::Positive)
        .collect();
    let manifest = write_artifact(
        &config.output,
        ArtifactSpec {
            role: Role::Sentiment,
            algorithm: "hashed_logistic_lexicon",
            model_file: "model.bin",
            features: None,
            treatments: None,
            actions: None,
            training_data: training_data(
                corpora
                    .iter()
                    .map(|c| c.texts.display().to_string())
                    .collect(),
                corpus_fingerprint(&corpus),
                &train_labels,
                holdout.len(),
            ),
            seed: config.seed,
        },
        &serde_json::json!({"positive": "1 or positive", "negative": "0 or negative", "neutral": "neutral (trained towards 0.5)"}),
        config,
        &LoadedModel::Sentiment(model),
        &metrics,
    )?;
    Ok(SentimentOutcome { manifest, metrics })
}

/// Writes the holdout as `text,label,domain` (label 1, 0 or neutral).
fn write_holdout(
    path: &Path,
    holdout: &[&LabelledText],
    corpora: &[super::config::Corpus],
) -> Result<(), ModelError> {
    let io = |e: csv::Error| ModelError::Invalid {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
    }
    let mut out = csv::Writer::from_path(path).map_err(io)?;
    out.write_record(["text", "label", "domain"]).map_err(io)?;
    for d in holdout {
        let label = match d.label {
            Label::Positive => "1",
            Label::Negative => "0",
            Label::Neutral => "neutral",
        };
        out.write_record([d.text.as_str(), label, corpora[d.domain].domain.as_str()])
            .map_err(io)?;
    }
    out.flush().map_err(|e| ModelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_recovers_a_known_map() {
        // Targets drawn from σ(2z − 0.5) exactly: the fit must find (2, −0.5).
        let z: Vec<f64> = (0..200).map(|i| f64::from(i) / 50.0 - 2.0).collect();
        let y: Vec<f64> = z
            .iter()
            .map(|z| 1.0 / (1.0 + (-(2.0 * z - 0.5)).exp()))
            .collect();
        let (a, b) = platt(&z, &y, &vec![1.0; z.len()]);
        assert!((a - 2.0).abs() < 1e-3 && (b + 0.5).abs() < 1e-3, "{a} {b}");
    }
}
