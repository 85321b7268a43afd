//! How much each training text of the sentiment model counts: domains balanced against each
//! other, classes balanced within a domain, corpus weights, long texts split into sentences, and
//! the Platt calibration fitted with the same weights.

use std::collections::HashMap;

use super::config::SentimentParams;
use super::sentiment::{platt, Label, LabelledText};
use crate::features::aspects::sentences;

/// Per-text training weights: domains balanced by `(mean size / domain size)^balance`, neutral
/// texts scaled by `neutral_weight`.
pub fn text_weights(docs: &[&LabelledText], domain_balance: f64, neutral_weight: f64) -> Vec<f64> {
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    for d in docs {
        *sizes.entry(d.domain).or_default() += 1;
    }
    let mean = docs.len() as f64 / sizes.len().max(1) as f64;
    docs.iter()
        .map(|d| {
            let domain = (mean / sizes[&d.domain] as f64).powf(domain_balance);
            match d.label {
                Label::Neutral => domain * neutral_weight,
                _ => domain,
            }
        })
        .collect()
}

/// Training texts longer than `over` words replaced by their sentences, each with its text's
/// label and an equal share of its weight; shorter texts are kept whole. A film review runs to
/// hundreds of words and a customer message to a sentence or two: fitted on whole reviews, every
/// word's weight is learned at a scale (one of hundreds of unit-length features) that makes it
/// loud in a short text. Returns the texts and their weights; `over` = 0 keeps every text whole.
pub fn split_long_texts(
    docs: &[&LabelledText],
    weights: &[f64],
    over: usize,
) -> (Vec<LabelledText>, Vec<f64>) {
    let mut texts = Vec::with_capacity(docs.len());
    let mut out = Vec::with_capacity(docs.len());
    for (doc, &weight) in docs.iter().zip(weights) {
        let parts = if over > 0 && doc.text.split_whitespace().count() > over {
            sentences(&doc.text.replace("<br />", "\n"))
                .into_iter()
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        if parts.len() < 2 {
            texts.push((*doc).clone());
            out.push(weight);
            continue;
        }
        let share = weight / parts.len() as f64;
        for text in parts {
            texts.push(LabelledText {
                text,
                label: doc.label,
                domain: doc.domain,
            });
            out.push(share);
        }
    }
    (texts, out)
}

/// `weights` rescaled so that, within each domain, the positive texts weigh as much in total
/// as the negative ones (the domain's polar total kept; neutral texts untouched). Tweets to an
/// airline are four-fifths complaints: unbalanced, the model learns that customer text is
/// unhappy before it reads a word, and a thank-you starts from a deficit.
pub fn class_balanced(docs: &[&LabelledText], weights: Vec<f64>) -> Vec<f64> {
    let mut totals: HashMap<(usize, bool), f64> = HashMap::new();
    for (d, w) in docs.iter().zip(&weights) {
        if d.label != Label::Neutral {
            *totals
                .entry((d.domain, d.label == Label::Positive))
                .or_default() += w;
        }
    }
    docs.iter()
        .zip(weights)
        .map(|(d, w)| {
            if d.label == Label::Neutral {
                return w;
            }
            let pos = totals.get(&(d.domain, true)).copied().unwrap_or(0.0);
            let neg = totals.get(&(d.domain, false)).copied().unwrap_or(0.0);
            let own = if d.label == Label::Positive { pos } else { neg };
            if pos > 0.0 && neg > 0.0 {
                w * (pos + neg) / (2.0 * own)
            } else {
                w
            }
        })
        .collect()
}

/// `weights` scaled by each text's corpus weight (`[[corpus]] weight`; texts of no corpus, the
/// lexicon words, keep theirs).
pub fn corpus_weights(docs: &[&LabelledText], weights: Vec<f64>, corpus: &[f64]) -> Vec<f64> {
    docs.iter()
        .zip(weights)
        .map(|(d, w)| w * corpus.get(d.domain).copied().unwrap_or(1.0))
        .collect()
}

/// The Platt calibration (a, b) of a fitted model from its raw `logits` on the `polar`
/// calibration texts, weighed as training weighs texts (domains by `domain_balance`, then
/// classes with `class_balance`); (1, 0) when there are none. The trainer and the settings
/// sweep both call this, so a sweep's refit is the trained model.
pub fn fit_calibration(
    polar: &[&LabelledText],
    logits: &[f64],
    params: &SentimentParams,
) -> (f64, f64) {
    if polar.is_empty() {
        return (1.0, 0.0);
    }
    let targets: Vec<f64> = polar.iter().map(|d| d.label.target()).collect();
    let mut weights = text_weights(polar, params.domain_balance, 0.0);
    if params.class_balance {
        weights = class_balanced(polar, weights);
    }
    platt(logits, &targets, &weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, label: Label, domain: usize) -> LabelledText {
        LabelledText {
            text: text.into(),
            label,
            domain,
        }
    }

    #[test]
    fn calibration_weighs_a_domain_of_complaints_as_training_does() {
        // Four complaints and one thanks, the raw scores symmetric about 0.
        let docs: Vec<LabelledText> = (0..5)
            .map(|i| {
                let label = if i == 0 {
                    Label::Positive
                } else {
                    Label::Negative
                };
                doc(&i.to_string(), label, 0)
            })
            .collect();
        let refs: Vec<&LabelledText> = docs.iter().collect();
        let logits = [1.0, -1.0, -1.0, -1.0, -1.0];
        let params = |class_balance| SentimentParams {
            class_balance,
            ..SentimentParams::default()
        };
        let (_, balanced) = fit_calibration(&refs, &logits, &params(true));
        let (_, skewed) = fit_calibration(&refs, &logits, &params(false));
        // Balanced, the classes weigh alike and the intercept stays near 0; unbalanced, the
        // four complaints pull every score down.
        assert!(balanced.abs() < 0.05, "{balanced}");
        assert!(skewed < -0.3, "{skewed}");
        assert_eq!(fit_calibration(&[], &[], &params(true)), (1.0, 0.0));
    }

    #[test]
    fn a_domain_of_mostly_complaints_weighs_its_classes_alike() {
        let docs = [
            doc("a", Label::Negative, 0),
            doc("b", Label::Negative, 0),
            doc("c", Label::Negative, 0),
            doc("d", Label::Positive, 0),
            doc("e", Label::Neutral, 0),
            doc("f", Label::Positive, 1),
        ];
        let refs: Vec<&LabelledText> = docs.iter().collect();
        let w = class_balanced(&refs, vec![1.0; 6]);
        // Domain 0: 3 negatives and 1 positive share the polar total of 4 equally.
        assert_eq!(w[..4], [2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 2.0]);
        // Neutral texts, and a domain with one class only, keep their weights.
        assert_eq!(w[4..], [1.0, 1.0]);
        let scaled = corpus_weights(&refs, w, &[0.5]);
        assert_eq!(scaled[3], 1.0);
        assert_eq!(
            scaled[5], 1.0,
            "a text of no listed corpus keeps its weight"
        );
    }

    #[test]
    fn long_texts_become_sentences_sharing_their_weight() {
        let long = doc(
            "The plot drags. The acting is wooden!<br /><br />I left early",
            Label::Negative,
            0,
        );
        let short = doc("Great film. Loved it.", Label::Positive, 0);
        let (texts, weights) = split_long_texts(&[&long, &short], &[3.0, 1.0], 5);
        let got: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            got,
            [
                "The plot drags.",
                "The acting is wooden!",
                "I left early",
                "Great film. Loved it."
            ]
        );
        assert_eq!(weights, [1.0, 1.0, 1.0, 1.0]);
        assert!(texts[..3].iter().all(|t| t.label == Label::Negative));
        let (whole, _) = split_long_texts(&[&long], &[1.0], 0);
        assert_eq!(whole.len(), 1, "0 keeps every text whole");
    }
}
