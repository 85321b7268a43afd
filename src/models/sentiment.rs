//! The sentiment model: negation-aware tokens, hashed word and bigram features, a linear
//! classifier. Scores any text in about a microsecond, so the service can call it per request.

use std::io::{Read, Write};
use std::path::Path;

use crate::features::TextScorer;
use crate::fnv::Fnv1a;

use super::ModelError;

/// Words that flip the polarity of the words after them, up to the end of the clause.
const NEGATORS: &[&str] = &[
    "not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "cannot", "without",
    "hardly", "barely", "nowhere",
];
/// How many tokens after a negator are marked.
const NEGATION_SCOPE: usize = 3;
/// Negative contractions written without the apostrophe.
const CONTRACTED: &[&str] = &[
    "dont", "isnt", "wasnt", "didnt", "doesnt", "wont", "cant", "couldnt", "wouldnt", "shouldnt",
    "arent", "werent", "hasnt", "havent",
];
/// Markup fragments (IMDB reviews carry `<br />`) that are not words.
const IGNORED: &[&str] = &["br"];

/// Splits text into lower-case tokens, marking negated tokens with a `not_` prefix.
///
/// `don't` becomes `do not`, and the next up to three words before punctuation are marked, so
/// "not good" and "good" are different features. `!` and `?` are kept as tokens.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::with_capacity(text.len() / 4);
    let mut negated = 0usize;
    let mut word = String::new();
    let push_word = |word: &mut String, tokens: &mut Vec<String>, negated: &mut usize| {
        if word.is_empty() {
            return;
        }
        let mut w = std::mem::take(word);
        let mut negates_next = false;
        let stem = w
            .strip_suffix("n't")
            .or_else(|| CONTRACTED.contains(&w.as_str()).then(|| &w[..w.len() - 2]))
            .map(str::to_string);
        if let Some(stem) = stem {
            w = stem;
            negates_next = true;
        }
        let w = w.trim_matches('\'').to_string();
        if !w.is_empty() && !IGNORED.contains(&w.as_str()) {
            if NEGATORS.contains(&w.as_str()) {
                tokens.push(w);
                *negated = NEGATION_SCOPE;
            } else if *negated > 0 {
                tokens.push(format!("not_{w}"));
                *negated -= 1;
            } else {
                tokens.push(w);
            }
        }
        if negates_next {
            tokens.push("not".to_string());
            *negated = NEGATION_SCOPE;
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' || c == '’' {
            for lower in c.to_lowercase() {
                word.push(if lower == '’' { '\'' } else { lower });
            }
            continue;
        }
        push_word(&mut word, &mut tokens, &mut negated);
        match c {
            '.' | ',' | ';' | ':' | '(' | ')' => negated = 0,
            '!' | '?' => {
                tokens.push(c.to_string());
                negated = 0;
            }
            _ => {}
        }
    }
    push_word(&mut word, &mut tokens, &mut negated);
    tokens
}

/// 64-bit FNV-1a: stable across platforms and releases, which a hashed model needs.
/// Parts are separated by a 0x1f byte, so ("ab", "c") and ("a", "bc") differ.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = Fnv1a::default();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update(&[0x1f]);
        }
        hash.update(part);
    }
    hash.finish()
}

/// Sparse, L2-normalised hashed features of one text: (bucket, value) pairs.
pub fn hashed_features(text: &str, bits: u32) -> Vec<(u32, f32)> {
    let tokens = tokenize(text);
    let mask = (1u64 << bits) - 1;
    let mut features: Vec<(u32, f32)> = Vec::with_capacity(tokens.len() * 2 + 1);
    let mut add = |hash: u64| {
        // The top bit picks a sign so that collisions cancel out instead of piling up.
        let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
        features.push(((hash & mask) as u32, sign));
    };
    for (i, token) in tokens.iter().enumerate() {
        add(fnv1a(&[b"u", token.as_bytes()]));
        if let Some(next) = tokens.get(i + 1) {
            add(fnv1a(&[b"b", token.as_bytes(), next.as_bytes()]));
        }
    }
    features.sort_unstable_by_key(|f| f.0);
    // Binary presence per bucket (the sign of the first occurrence wins), then unit length.
    features.dedup_by_key(|f| f.0);
    let norm = (features.len().max(1) as f32).sqrt();
    for feature in &mut features {
        feature.1 /= norm;
    }
    features
}

/// A trained hashed linear sentiment classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct SentimentModel {
    /// log2 of the number of hash buckets.
    pub bits: u32,
    /// One weight per bucket.
    pub weights: Vec<f32>,
    /// Intercept.
    pub bias: f32,
}

const MAGIC: &[u8; 8] = b"NBSENT01";

impl SentimentModel {
    /// The raw linear score (log-odds) of a text.
    pub fn logit(&self, text: &str) -> f32 {
        hashed_features(text, self.bits)
            .iter()
            .map(|&(i, v)| self.weights[i as usize] * v)
            .sum::<f32>()
            + self.bias
    }

    /// P(positive) of a text.
    pub fn probability(&self, text: &str) -> f32 {
        1.0 / (1.0 + (-self.logit(text)).exp())
    }

    /// Writes the model as a small binary file (magic, bits, bias, little-endian weights).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let mut bytes = Vec::with_capacity(16 + self.weights.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.bits.to_le_bytes());
        bytes.extend_from_slice(&self.bias.to_le_bytes());
        for w in &self.weights {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let mut file = std::fs::File::create(path).map_err(|e| ModelError::io(path, e))?;
        file.write_all(&bytes).map_err(|e| ModelError::io(path, e))
    }

    /// Reads a model written by [`Self::save`], checking its size and values.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| ModelError::io(path, e))?;
        let invalid = |problem: &str| ModelError::Invalid {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(invalid("not a nextbest sentiment model (bad header)"));
        }
        let bits = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if !(8..=26).contains(&bits) {
            return Err(invalid("hash size out of range"));
        }
        let bias = f32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let expected = 16 + (1usize << bits) * 4;
        if bytes.len() != expected {
            return Err(invalid(&format!(
                "expected {expected} bytes, found {}",
                bytes.len()
            )));
        }
        let weights: Vec<f32> = bytes[16..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if !bias.is_finite() || weights.iter().any(|w| !w.is_finite()) {
            return Err(invalid("non-finite weights"));
        }
        Ok(SentimentModel {
            bits,
            weights,
            bias,
        })
    }
}

/// A sentiment model with the version that goes into feature specs.
pub struct NamedSentimentModel {
    /// The model.
    pub model: SentimentModel,
    /// Name and version, e.g. `sentiment/2026-11-22T21:40:00Z`.
    pub name: String,
}

impl TextScorer for NamedSentimentModel {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn score(&self, text: &str) -> f32 {
        self.model.probability(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_marks_the_words_that_follow_until_punctuation() {
        assert_eq!(
            tokenize("Not good at all. Great!"),
            ["not", "not_good", "not_at", "not_all", "great", "!"]
        );
        assert_eq!(
            tokenize("I don't like it"),
            ["i", "do", "not", "not_like", "not_it"]
        );
        assert_eq!(
            tokenize("It wasn’t BAD<br /><br />fine"),
            ["it", "was", "not", "not_bad", "not_fine"]
        );
    }

    #[test]
    fn features_are_stable_normalised_and_sparse() {
        let a = hashed_features("great movie, not bad", 18);
        assert_eq!(a, hashed_features("great movie, not bad", 18));
        let norm: f32 = a.iter().map(|f| f.1 * f.1).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(a.iter().all(|f| f.0 < 1 << 18));
        assert!(hashed_features("", 18).is_empty());
    }
}
