//! Chooses the sentiment model's settings by how they transfer, not only by in-domain holdout.
//!
//! For each variant (model settings written as `key=value` over a training config's `[model]`),
//! it fits the model as `nextbest train` does and reports, per domain:
//!
//! - `hold`: accuracy on the domain's 20% holdout, trained on every domain (what `metrics.json`
//!   reports);
//! - `lodo`: accuracy on the whole domain when the model was trained (and calibrated) on the
//!   *other* domains only — how well it reads text unlike anything it saw, which is what
//!   customer text is to it;
//!
//! plus P(positive) of the demo sentences and the share of neutral holdout texts within
//! 0.35–0.65. Texts are encoded once per encoder setting. Never scores the customer-service
//! fixture: that is judged apart.
//!
//!     cargo run --release --example sentiment_sweep -- training/sentiment.toml \
//!         "base:" "hw03:hashed_weight=0.3" "l2:l2=1e-5,epochs=5"
//!
//! With `NOLODO=1` in the environment it skips the leave-one-domain-out fits (5× faster).

// A development tool: a bad argument or a missing file ends it with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use nextbest::fnv::Fnv1a;
use nextbest::models::params::ParamGuard;
use nextbest::models::sentiment::{Encoded, Encoder, Lexicon, LexiconFiles};
use nextbest::training::config::{SentimentConfig, SentimentParams};
use nextbest::training::sentiment::{
    class_balanced, corpus_weights, encoder, evaluate, fit_calibration, fit_encoded,
    lexicon_word_texts, read_corpus, split_by_text, split_long_texts, text_weights, Label,
    LabelledText,
};

/// The development sets written for tuning (never the test set in `customer_service/`): short
/// customer-service messages (`dev`) and short review sentences (`rev`), each a TSV of label,
/// kind (or domain) and text.
const DEV_SETS: [(&str, &str); 2] = [
    ("dev", "tests/fixtures/customer_service_dev/messages.tsv"),
    ("rev", "tests/fixtures/review_sentences_dev/sentences.tsv"),
];

/// Real labelled text the committed settings never train on, read as a transfer test when
/// fetched (`datasets/fetch.py --only clothing_reviews`): short product-review headlines
/// (`clo`), scored by balanced accuracy over 1–2 against 4–5 stars. Unless the config being
/// swept trains on them, they are text unlike anything the model saw.
const TRANSFER_SETS: [(&str, &str); 1] = [("clo", "datasets/real/clothing_reviews/titles.csv")];

/// Balanced accuracy (the mean of the two classes' recalls) of `model` on polar `texts`.
fn balanced_accuracy(
    model: &nextbest::models::sentiment::SentimentModel,
    texts: &[LabelledText],
) -> (f64, f64, f64) {
    let (mut pos, mut pos_right, mut neg, mut neg_right) = (0usize, 0usize, 0usize, 0usize);
    for t in texts {
        let positive = model.probability(&t.text) >= 0.5;
        match t.label {
            Label::Positive => {
                pos += 1;
                pos_right += usize::from(positive);
            }
            Label::Negative => {
                neg += 1;
                neg_right += usize::from(!positive);
            }
            Label::Neutral => {}
        }
    }
    let recall_pos = pos_right as f64 / pos.max(1) as f64;
    let recall_neg = neg_right as f64 / neg.max(1) as f64;
    ((recall_pos + recall_neg) / 2.0, recall_pos, recall_neg)
}

/// (label, kind, text) rows of a development set, when it is there.
fn dev_set(path: &str) -> Vec<(String, String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            Some((p.next()?.into(), p.next()?.into(), p.next()?.into()))
        })
        .collect()
}

/// Accuracy on the development set's polar messages, the share of its neutral ones within
/// 0.25–0.75, and right/total per kind.
fn dev_summary(
    model: &nextbest::models::sentiment::SentimentModel,
    name: &str,
    dev: &[(String, String, String)],
) -> String {
    if dev.is_empty() {
        return String::new();
    }
    let mut kinds: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let (mut right, mut polar, mut near, mut neutral) = (0, 0, 0, 0);
    for (label, kind, text) in dev {
        let p = model.probability(text);
        if label == "neutral" {
            neutral += 1;
            near += usize::from((0.25..=0.75).contains(&p));
            continue;
        }
        let ok = (p >= 0.5) == (label == "positive");
        polar += 1;
        right += usize::from(ok);
        let k = kinds.entry(kind.as_str()).or_default();
        k.0 += usize::from(ok);
        k.1 += 1;
    }
    let per: Vec<String> = kinds
        .iter()
        .map(|(k, (r, n))| format!("{k} {r}/{n}"))
        .collect();
    format!(
        " {name} {:.3} n{near}/{neutral} [{}]",
        right as f64 / polar.max(1) as f64,
        per.join(" ")
    )
}

const PROBES: [&str; 3] = [
    "Thanks, the agent fixed my order in minutes!",
    "This is the third time I have to contact you about my invoice.",
    "What time do you open on Sunday?",
];

fn with_overrides(base: &SentimentParams, spec: &str) -> SentimentParams {
    let mut table = toml::Value::try_from(base).unwrap();
    for pair in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = pair.split_once('=').expect("key=value");
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .expect("a TOML value")["v"]
            .clone();
        table
            .as_table_mut()
            .unwrap()
            .insert(key.trim().to_string(), value);
    }
    table.try_into().expect("valid [model] keys")
}

struct Run {
    model: nextbest::models::sentiment::SentimentModel,
}

/// Sentences of the long training texts, encoded: per text (by address) its sentence texts.
type Splits = HashMap<*const LabelledText, Vec<(LabelledText, Encoded)>>;

/// Fits on `train` (plus the lexicon words), calibrates on `calibration`, as `train` does.
#[allow(clippy::too_many_arguments)]
fn run(
    train: &[&LabelledText],
    calibration: &[&LabelledText],
    encoded: &HashMap<*const LabelledText, Encoded>,
    splits: &Splits,
    domain_weights: &[f64],
    encoder: &Encoder,
    params: &SentimentParams,
    seed: u64,
) -> Run {
    let checked = params.check().unwrap();
    let mut weights = corpus_weights(
        train,
        text_weights(train, params.domain_balance, params.neutral_weight),
        domain_weights,
    );
    if params.class_balance {
        weights = class_balanced(train, weights);
    }
    let (mut docs, mut features, mut fit_weights) = (Vec::new(), Vec::new(), Vec::new());
    for (d, w) in train.iter().zip(&weights) {
        let key = *d as *const LabelledText;
        match splits.get(&key) {
            Some(parts) if params.split_sentences_over > 0 => {
                for (doc, x) in parts {
                    docs.push(doc);
                    features.push(x);
                    fit_weights.push(w / parts.len() as f64);
                }
            }
            _ => {
                docs.push(*d);
                features.push(&encoded[&key]);
                fit_weights.push(*w);
            }
        }
    }
    let mut model = fit_encoded(&docs, &features, &fit_weights, encoder, &checked, seed).unwrap();
    let polar: Vec<&LabelledText> = calibration
        .iter()
        .copied()
        .filter(|d| d.label != Label::Neutral)
        .collect();
    let z: Vec<f64> = polar
        .iter()
        .map(|d| f64::from(model.raw_logit(&encoded[&(*d as *const LabelledText)])))
        .collect();
    let (a, b) = fit_calibration(&polar, &z, params);
    model.calibration = (a as f32, b as f32);
    Run { model }
}

fn with_words<'a>(
    docs: Vec<&'a LabelledText>,
    words: &'a [LabelledText],
    on: bool,
) -> Vec<&'a LabelledText> {
    if on {
        docs.into_iter().chain(words).collect()
    } else {
        docs
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = SentimentConfig::read(Path::new(&args[0])).unwrap();
    let corpora = config.corpora();
    let mut corpus = Vec::new();
    for (i, c) in corpora.iter().enumerate() {
        corpus.extend(read_corpus(&c.texts, &c.text_column, &c.label_column, i).unwrap());
    }
    let l = &config.lexicons;
    let lexicon = Lexicon::load(&LexiconFiles {
        vader: l.vader.as_deref(),
        afinn: l.afinn.as_deref(),
        liu_positive: l.liu_positive.as_deref(),
        liu_negative: l.liu_negative.as_deref(),
        emoji: l.emoji.as_deref(),
        emoticons: l.emoticons.as_deref(),
    })
    .unwrap();
    let words = lexicon_word_texts(&lexicon, corpora.len());
    let devs: Vec<(&str, Vec<_>)> = DEV_SETS
        .iter()
        .map(|(name, path)| (*name, dev_set(path)))
        .collect();
    let transfer_sets: Vec<(&str, Vec<LabelledText>)> = TRANSFER_SETS
        .iter()
        .filter(|(_, path)| Path::new(path).exists())
        .map(|(name, path)| {
            (
                *name,
                read_corpus(Path::new(path), "text", "label", usize::MAX).unwrap(),
            )
        })
        .collect();
    let (train_all, holdout) = split_by_text(&corpus, config.holdout_fraction);
    let (calibration, train_docs): (Vec<&LabelledText>, Vec<&LabelledText>) =
        train_all.iter().partition(|d| {
            Fnv1a::in_salted_share(
                b"calibration",
                d.text.as_bytes(),
                config.calibration_fraction,
            )
        });
    let mut cache: HashMap<String, HashMap<*const LabelledText, Encoded>> = HashMap::new();
    let mut split_cache: HashMap<(String, u32), Splits> = HashMap::new();
    for spec in &args[1..] {
        let (name, overrides) = spec.split_once(':').unwrap_or((spec, ""));
        // `w.DOMAIN=x` sets a corpus weight; everything else is a [model] key.
        let (corpus_over, model_over): (Vec<&str>, Vec<&str>) = overrides
            .split(',')
            .partition(|p| p.trim().starts_with("w."));
        let params = with_overrides(&config.model, &model_over.join(","));
        let mut domain_weights: Vec<f64> = corpora.iter().map(|c| c.weight).collect();
        for o in corpus_over {
            let (k, v) = o.trim()[2..].split_once('=').unwrap();
            let i = corpora
                .iter()
                .position(|c| c.domain == k)
                .expect("a domain");
            domain_weights[i] = v.parse().unwrap();
        }
        let encoder = encoder(&params, Some(lexicon.clone()));
        let key = format!(
            "{} {} {:?}",
            params.bits, params.char_weight, encoder.options
        );
        let encoded = cache.entry(key.clone()).or_insert_with(|| {
            corpus
                .iter()
                .chain(&words)
                .map(|d| (d as *const LabelledText, encoder.encode(&d.text)))
                .collect()
        });
        let over = params.split_sentences_over;
        let splits = split_cache.entry((key, over)).or_insert_with(|| {
            let mut out = Splits::new();
            if over == 0 {
                return out;
            }
            for d in &train_docs {
                let (parts, _) = split_long_texts(&[*d], &[1.0], over as usize);
                if parts.len() > 1 {
                    let parts = parts
                        .into_iter()
                        .map(|p| {
                            let x = encoder.encode(&p.text);
                            (p, x)
                        })
                        .collect();
                    out.insert(*d as *const LabelledText, parts);
                }
            }
            out
        });

        let full = run(
            &with_words(train_docs.clone(), &words, params.lexicon_words),
            &calibration,
            encoded,
            splits,
            &domain_weights,
            &encoder,
            &params,
            config.seed,
        );
        let mut line = format!("{name:<14}");
        let mut lodo_sum = 0.0;
        for (i, c) in corpora.iter().enumerate() {
            let docs: Vec<&LabelledText> =
                holdout.iter().copied().filter(|d| d.domain == i).collect();
            let s: Vec<f64> = docs
                .iter()
                .map(|d| f64::from(full.model.probability(&d.text)))
                .collect();
            let hold = evaluate(&docs, &s, true);
            // Long and short texts apart (film: IMDB reviews against Rotten Tomatoes lines).
            let long_short: Vec<String> = [true, false]
                .iter()
                .map(|&long| {
                    let (d, p): (Vec<&LabelledText>, Vec<f64>) = docs
                        .iter()
                        .zip(&s)
                        .filter(|(d, _)| (d.text.split_whitespace().count() > 40) == long)
                        .map(|(d, p)| (*d, *p))
                        .unzip();
                    format!("{:.3}", evaluate(&d, &p, true).accuracy)
                })
                .collect();
            if std::env::var_os("NOLODO").is_some() {
                line += &format!(
                    " | {} hold {:.3} (L {} S {})",
                    c.domain.chars().take(6).collect::<String>(),
                    hold.accuracy,
                    long_short[0],
                    long_short[1]
                );
                continue;
            }
            let others: Vec<&LabelledText> = train_docs
                .iter()
                .copied()
                .filter(|d| d.domain != i)
                .collect();
            let cal: Vec<&LabelledText> = calibration
                .iter()
                .copied()
                .filter(|d| d.domain != i)
                .collect();
            let lodo = run(
                &with_words(others, &words, params.lexicon_words),
                &cal,
                encoded,
                splits,
                &domain_weights,
                &encoder,
                &params,
                config.seed,
            );
            let all: Vec<&LabelledText> = corpus.iter().filter(|d| d.domain == i).collect();
            let s: Vec<f64> = all
                .iter()
                .map(|d| f64::from(lodo.model.probability(&d.text)))
                .collect();
            let transfer = evaluate(&all, &s, true);
            lodo_sum += transfer.accuracy;
            let neutral: Vec<f64> = docs
                .iter()
                .filter(|d| d.label == Label::Neutral)
                .map(|d| f64::from(full.model.probability(&d.text)))
                .collect();
            let near = if neutral.is_empty() {
                String::new()
            } else {
                format!(
                    " n{:.2}",
                    neutral
                        .iter()
                        .filter(|p| (0.35..=0.65).contains(*p))
                        .count() as f64
                        / neutral.len() as f64
                )
            };
            let short: String = c.domain.chars().take(6).collect();
            line += &format!(
                " | {short} hold {:.3} (L {} S {}) lodo {:.3}{near}",
                hold.accuracy, long_short[0], long_short[1], transfer.accuracy
            );
        }
        line += &format!(" | lodo mean {:.3} |", lodo_sum / corpora.len() as f64);
        for probe in PROBES {
            line += &format!(" {:.2}", full.model.probability(probe));
        }
        for (name, dev) in &devs {
            line += &dev_summary(&full.model, name, dev);
        }
        for (name, texts) in &transfer_sets {
            let (balanced, pos, neg) = balanced_accuracy(&full.model, texts);
            line += &format!(" {name} {balanced:.3} (+ {pos:.3} - {neg:.3})");
        }
        println!("{line}");
    }
}
