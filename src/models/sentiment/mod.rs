//! The sentiment model: a linear classifier over hashed word, bigram and character n-gram
//! features plus lexicon scores (VADER, AFINN, Bing Liu, emoji) computed with VADER's rules,
//! Platt-calibrated. Scores a tweet-length text in microseconds, so the service can call it per
//! request. The lexicon travels inside the model file: scoring needs no other file.

mod lexicon;
mod tokens;

use std::io::{Read, Write};
use std::path::Path;

use crate::features::TextScorer;
use crate::fnv::Fnv1a;

use super::ModelError;

use self::lexicon::CONTRAST;
pub use self::lexicon::{Lexicon, LexiconFiles, DENSE, DENSE_NAMES, DENSE_V2};
pub use self::tokens::{tokenize, tokens, tokens_with, Token, TokenRules};

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

/// How text becomes features: the hash size, the share of character n-grams, the lexicon.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoder {
    /// log2 of the number of hash buckets.
    pub bits: u32,
    /// Weight of the character 3- and 4-gram block against the word block (0 = none).
    pub char_weight: f32,
    /// Lexicon behind the dense features (`None`: the dense features are all zero).
    pub lexicon: Option<Lexicon>,
    /// Encoding rules added after the first format; all off reads text as that format did.
    pub options: EncoderOptions,
}

/// Encoding rules beyond the first model format (`NBSENT02`), each off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EncoderOptions {
    /// Texts of more than this many tokens also get a second copy of their word n-grams, salted
    /// so it lands in other buckets (0 = never). Long film reviews then learn what is their own
    /// in that copy, and the shared weights stay those of short text, where customer messages
    /// are ("frustratingly easy" domain adaptation, keyed on length, which scoring can see).
    /// Short texts cost nothing more.
    pub long_over: u32,
    /// Length of the long copy's block (like `char_weight`).
    pub long_weight: f32,
    /// Length of a block repeating the words after the last "but" / "however" / "although"
    /// (0 = none): in a mixed message the clause after the turn carries the verdict.
    pub contrast_weight: f32,
    /// Reads comparatives after modals as meant ([`TokenRules::counterfactual`]): "couldn't be happier".
    pub counterfactual: bool,
    /// A negator's own word features say what it negates: "no" before a negative lexicon word
    /// ("no complaints", "never had a problem") is hashed as `no-`, before a positive one ("not
    /// helpful") as `no+`, and before neither as itself. The bare negator learns from
    /// complaints ("no reply", "not arrived") a weight that reads litotes backwards.
    pub negator_polarity: bool,
    /// Idioms of praise that negation reads backwards ([`TokenRules::idioms`]).
    pub idioms: bool,
}

impl EncoderOptions {
    /// The tokenizer's rules these options ask for.
    pub fn token_rules(&self) -> TokenRules {
        TokenRules {
            counterfactual: self.counterfactual,
            idioms: self.idioms,
        }
    }
}

/// The features of one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// Sparse hashed features: (bucket, value), buckets ascending.
    pub sparse: Vec<(u32, f32)>,
    /// Dense lexicon features ([`DENSE_NAMES`]).
    pub dense: [f32; DENSE],
}

impl Encoder {
    /// Encodes a text.
    ///
    /// Word unigrams and bigrams (negated words marked) form one block and character 3- and
    /// 4-grams of each word (with word boundaries, so typos still share most of their grams
    /// with the word meant) another; each block is binary and has unit length, the character
    /// block then scaled by `char_weight`. The sign of a bucket comes from the hash's top bit,
    /// so collisions cancel instead of piling up.
    pub fn encode(&self, text: &str) -> Encoded {
        let mut toks = tokens_with(text, self.options.token_rules());
        let mask = (1u64 << self.bits) - 1;
        let bucket = |hash: u64| -> (u32, f32) {
            let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
            ((hash & mask) as u32, sign)
        };
        let negated = |t: &Token| if t.negated { b"n" as &[u8] } else { b"w" };
        // Word unigrams and bigrams of `toks`, hashed under `salt`; the shared block has none,
        // so its buckets are the first format's.
        let word_grams = |toks: &[Token], salt: &[u8]| -> Vec<(u32, f32)> {
            let salted = usize::from(!salt.is_empty());
            let mut words: Vec<(u32, f32)> = Vec::with_capacity(toks.len() * 2);
            for (i, token) in toks.iter().enumerate() {
                let unigram = [b"u", negated(token), token.text.as_bytes(), salt];
                words.push(bucket(fnv1a(&unigram[..3 + salted])));
                if let Some(next) = toks.get(i + 1) {
                    let bigram = [
                        b"b",
                        negated(token),
                        token.text.as_bytes(),
                        negated(next),
                        next.text.as_bytes(),
                        salt,
                    ];
                    words.push(bucket(fnv1a(&bigram[..5 + salted])));
                }
            }
            words
        };
        let dense = self
            .lexicon
            .as_ref()
            .map(|lex| lex.features(&toks))
            .unwrap_or([0.0; DENSE]);
        let mut char_block = Vec::new();
        if self.char_weight > 0.0 {
            let mut chars: Vec<(u32, f32)> = Vec::with_capacity(text.len() * 2);
            let mut padded: Vec<u8> = Vec::with_capacity(32);
            for token in &toks {
                if !token.text.chars().next().is_some_and(char::is_alphanumeric) {
                    continue;
                }
                padded.clear();
                padded.push(b'^');
                padded.extend_from_slice(token.text.as_bytes());
                padded.push(b'$');
                for n in 3..=4usize {
                    for gram in padded.windows(n) {
                        chars.push(bucket(fnv1a(&[b"c", negated(token), gram])));
                    }
                }
            }
            char_block = normalised(chars, self.char_weight);
        }
        if self.options.negator_polarity {
            if let Some(lex) = &self.lexicon {
                mark_negator_polarity(&mut toks, lex);
            }
        }
        let mut sparse = normalised(word_grams(&toks, b""), 1.0);
        let mut blocks = 1;
        if !char_block.is_empty() {
            sparse.extend(char_block);
            blocks += 1;
        }
        let o = &self.options;
        if o.long_over > 0 && o.long_weight > 0.0 && toks.len() > o.long_over as usize {
            sparse.extend(normalised(word_grams(&toks, b"long"), o.long_weight));
            blocks += 1;
        }
        if o.contrast_weight > 0.0 {
            if let Some(c) = toks
                .iter()
                .rposition(|t| CONTRAST.contains(&t.text.as_str()))
            {
                if c + 1 < toks.len() {
                    sparse.extend(normalised(
                        word_grams(&toks[c + 1..], b"after"),
                        o.contrast_weight,
                    ));
                    blocks += 1;
                }
            }
        }
        if blocks > 1 {
            // Merge the blocks: a bucket shared by two keeps the sum.
            sparse.sort_unstable_by_key(|f| f.0);
            let mut merged: Vec<(u32, f32)> = Vec::with_capacity(sparse.len());
            for (i, v) in sparse {
                match merged.last_mut() {
                    Some(last) if last.0 == i => last.1 += v,
                    _ => merged.push((i, v)),
                }
            }
            sparse = merged;
        }
        Encoded { sparse, dense }
    }
}

/// Renames each negator by the polarity of the lexicon words in its scope (`no-`, `no+`; see
/// [`EncoderOptions::negator_polarity`]); a scope with both, or with neither, keeps the word.
fn mark_negator_polarity(toks: &mut [Token], lex: &Lexicon) {
    for i in 0..toks.len() {
        if toks[i].negated || !tokens::NEGATORS.contains(&toks[i].text.as_str()) {
            continue;
        }
        let (mut positive, mut negative) = (false, false);
        for t in toks[i + 1..].iter().take_while(|t| t.negated) {
            let v = lex
                .get(&t.text)
                .and_then(|v| v.iter().copied().find(|x| *x != 0.0))
                .unwrap_or(0.0);
            positive |= v > 0.0;
            negative |= v < 0.0;
        }
        if positive != negative {
            toks[i].text.push(if positive { '+' } else { '-' });
        }
    }
}

/// Binary presence per bucket (the sign of the first occurrence wins), then length `scale`.
fn normalised(mut features: Vec<(u32, f32)>, scale: f32) -> Vec<(u32, f32)> {
    features.sort_unstable_by_key(|f| f.0);
    features.dedup_by_key(|f| f.0);
    let norm = (features.len().max(1) as f32).sqrt();
    for feature in &mut features {
        feature.1 *= scale / norm;
    }
    features
}

/// Sparse, L2-normalised hashed word and bigram features of one text (no character n-grams,
/// no lexicon): (bucket, value) pairs.
pub fn hashed_features(text: &str, bits: u32) -> Vec<(u32, f32)> {
    Encoder {
        bits,
        char_weight: 0.0,
        lexicon: None,
        options: EncoderOptions::default(),
    }
    .encode(text)
    .sparse
}

/// A trained sentiment classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct SentimentModel {
    /// How texts become features.
    pub encoder: Encoder,
    /// One weight per hash bucket.
    pub weights: Vec<f32>,
    /// One weight per dense lexicon feature.
    pub dense_weights: [f32; DENSE],
    /// Intercept.
    pub bias: f32,
    /// Platt calibration of the raw log-odds: P = σ(a · z + b).
    pub calibration: (f32, f32),
}

const MAGIC_V1: &[u8; 8] = b"NBSENT01";
/// The format before [`EncoderOptions`]: still read, scoring as it did.
const MAGIC_V2: &[u8; 8] = b"NBSENT02";
const MAGIC: &[u8; 8] = b"NBSENT03";
/// Encoder flag bits a model file may set: counterfactual, negator polarity, idioms.
const KNOWN_FLAGS: u32 = 0b111;

impl SentimentModel {
    /// The raw linear score (log-odds before calibration) of encoded features.
    pub fn raw_logit(&self, features: &Encoded) -> f32 {
        features
            .sparse
            .iter()
            .map(|&(i, v)| self.weights[i as usize] * v)
            .sum::<f32>()
            + features
                .dense
                .iter()
                .zip(&self.dense_weights)
                .map(|(x, w)| x * w)
                .sum::<f32>()
            + self.bias
    }

    /// The calibrated log-odds of a text.
    pub fn logit(&self, text: &str) -> f32 {
        let (a, b) = self.calibration;
        a * self.raw_logit(&self.encoder.encode(text)) + b
    }

    /// P(positive) of a text.
    pub fn probability(&self, text: &str) -> f32 {
        1.0 / (1.0 + (-self.logit(text)).exp())
    }

    /// Writes the model as a small binary file: magic, bits, char weight, bias, calibration,
    /// the encoder options (long-copy words and weight, contrast weight, flags), dense
    /// weights, the lexicon, then the little-endian hash weights.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let mut bytes = Vec::with_capacity(64 + self.weights.len() * 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&self.encoder.bits.to_le_bytes());
        for v in [
            self.encoder.char_weight,
            self.bias,
            self.calibration.0,
            self.calibration.1,
        ] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let o = &self.encoder.options;
        bytes.extend_from_slice(&o.long_over.to_le_bytes());
        bytes.extend_from_slice(&o.long_weight.to_le_bytes());
        bytes.extend_from_slice(&o.contrast_weight.to_le_bytes());
        let flags = u32::from(o.counterfactual)
            | u32::from(o.negator_polarity) << 1
            | u32::from(o.idioms) << 2;
        bytes.extend_from_slice(&flags.to_le_bytes());
        bytes.extend_from_slice(&(DENSE as u32).to_le_bytes());
        for w in &self.dense_weights {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        match &self.encoder.lexicon {
            Some(lex) => {
                bytes.push(1);
                lex.write(&mut bytes);
            }
            None => bytes.push(0),
        }
        for w in &self.weights {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let mut file = std::fs::File::create(path).map_err(|e| ModelError::io(path, e))?;
        file.write_all(&bytes).map_err(|e| ModelError::io(path, e))
    }

    /// Reads a model written by [`Self::save`] or by the format before it (`NBSENT02`, which
    /// scores as it did: no encoder options, the newer dense features weigh nothing), checking
    /// its size and values.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| ModelError::io(path, e))?;
        let invalid = |problem: &str| ModelError::Invalid {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        };
        let u32_at = |at: usize| -> Result<u32, ModelError> {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| invalid("truncated header"))
        };
        let f32_at = |at: usize| -> Result<f32, ModelError> { u32_at(at).map(f32::from_bits) };
        if bytes.len() >= 8 && &bytes[..8] == MAGIC_V1 {
            return Err(invalid(
                "a sentiment model of the older word-only format (NBSENT01): retrain it with this build",
            ));
        }
        let v2 = bytes.len() >= 8 && &bytes[..8] == MAGIC_V2;
        if bytes.len() < 16 || (&bytes[..8] != MAGIC && !v2) {
            return Err(invalid("not a nextbest sentiment model (bad header)"));
        }
        let bits = u32_at(8)?;
        if !(8..=26).contains(&bits) {
            return Err(invalid("hash size out of range"));
        }
        let (char_weight, bias) = (f32_at(12)?, f32_at(16)?);
        let calibration = (f32_at(20)?, f32_at(24)?);
        let (options, at) = if v2 {
            (EncoderOptions::default(), 28)
        } else {
            let flags = u32_at(40)?;
            if flags & !(KNOWN_FLAGS) != 0 {
                return Err(invalid("unknown encoder flags"));
            }
            let options = EncoderOptions {
                long_over: u32_at(28)?,
                long_weight: f32_at(32)?,
                contrast_weight: f32_at(36)?,
                counterfactual: flags & 1 == 1,
                negator_polarity: flags & 2 == 2,
                idioms: flags & 4 == 4,
            };
            (options, 44)
        };
        let dense_count = if v2 { DENSE_V2 } else { DENSE };
        if u32_at(at)? as usize != dense_count {
            return Err(invalid("dense feature count differs from this build's"));
        }
        let mut dense_weights = [0f32; DENSE];
        for (i, w) in dense_weights.iter_mut().take(dense_count).enumerate() {
            *w = f32_at(at + 4 + 4 * i)?;
        }
        let at = at + 4 + 4 * dense_count;
        let (lexicon, start) = match bytes.get(at) {
            Some(0) => (None, at + 1),
            Some(1) => {
                let (lex, used) =
                    Lexicon::read(&bytes[at + 1..]).map_err(|e| invalid(&e.to_string()))?;
                (Some(lex), at + 1 + used)
            }
            _ => return Err(invalid("bad lexicon marker")),
        };
        let expected = start + (1usize << bits) * 4;
        if bytes.len() != expected {
            return Err(invalid(&format!(
                "expected {expected} bytes, found {}",
                bytes.len()
            )));
        }
        let weights: Vec<f32> = bytes[start..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let scalars = [
            char_weight,
            bias,
            calibration.0,
            calibration.1,
            options.long_weight,
            options.contrast_weight,
        ];
        if scalars
            .iter()
            .chain(&dense_weights)
            .chain(&weights)
            .any(|w| !w.is_finite())
        {
            return Err(invalid("non-finite weights"));
        }
        Ok(SentimentModel {
            encoder: Encoder {
                bits,
                char_weight,
                lexicon,
                options,
            },
            weights,
            dense_weights,
            bias,
            calibration,
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
    fn features_are_stable_normalised_and_sparse() {
        let a = hashed_features("great movie, not bad", 18);
        assert_eq!(a, hashed_features("great movie, not bad", 18));
        let norm: f32 = a.iter().map(|f| f.1 * f.1).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(a.iter().all(|f| f.0 < 1 << 18));
        assert!(hashed_features("", 18).is_empty());
    }

    #[test]
    fn character_grams_let_a_typo_share_features_with_the_word() {
        let encoder = Encoder {
            bits: 18,
            char_weight: 1.0,
            lexicon: None,
            options: EncoderOptions::default(),
        };
        let buckets = |t: &str| -> std::collections::BTreeSet<u32> {
            encoder.encode(t).sparse.iter().map(|f| f.0).collect()
        };
        let (right, typo) = (buckets("excellent"), buckets("excelent"));
        assert!(right.intersection(&typo).count() >= 5);
    }

    #[test]
    fn long_texts_and_the_clause_after_but_get_copies_of_their_words() {
        let plain = Encoder {
            bits: 18,
            char_weight: 0.0,
            lexicon: None,
            options: EncoderOptions::default(),
        };
        let with = |options| Encoder {
            options,
            ..plain.clone()
        };
        let long = with(EncoderOptions {
            long_over: 4,
            long_weight: 1.0,
            ..Default::default()
        });
        let short = "great service";
        let long_text = "great service and a great price too";
        assert_eq!(long.encode(short), plain.encode(short));
        let (a, b) = (
            plain.encode(long_text).sparse,
            long.encode(long_text).sparse,
        );
        assert!(b.len() > a.len() + 10, "{} {}", a.len(), b.len());
        let contrast = with(EncoderOptions {
            contrast_weight: 0.5,
            ..Default::default()
        });
        assert_eq!(contrast.encode(short), plain.encode(short));
        let mixed = "great staff but the app crashed";
        let extra = contrast.encode(mixed).sparse.len() - plain.encode(mixed).sparse.len();
        // "the", "app", "crashed" and their two bigrams (barring collisions).
        assert!((4..=5).contains(&extra), "{extra}");
    }

    #[test]
    fn a_negator_is_renamed_by_the_polarity_of_what_it_negates() {
        let dir = tempfile::tempdir().unwrap();
        let vader = dir.path().join("vader.txt");
        std::fs::write(&vader, "helpful\t1.9\t0.5\t[]\ncomplaints\t-1.5\t0.5\t[]\n").unwrap();
        let lexicon = Lexicon::load(&LexiconFiles {
            vader: Some(&vader),
            ..Default::default()
        })
        .unwrap();
        let marked = |text: &str| -> Vec<String> {
            let mut toks = tokens_with(text, TokenRules::default());
            mark_negator_polarity(&mut toks, &lexicon);
            toks.into_iter().map(|t| t.text).collect()
        };
        // Litotes: a negated complaint is praise, and the negator says so.
        assert_eq!(
            marked("no complaints at all"),
            ["no-", "complaints", "at", "all"]
        );
        // Negated praise.
        assert_eq!(marked("not helpful"), ["not+", "helpful"]);
        // Nothing polar in scope, or both: the negator stays itself.
        assert_eq!(marked("no reply yet"), ["no", "reply", "yet"]);
        assert_eq!(
            marked("no complaints, not helpful either"),
            ["no-", "complaints", "not+", "helpful", "either"]
        );
        assert_eq!(
            marked("not helpful or complaints"),
            ["not", "helpful", "or", "complaints"]
        );
    }

    #[test]
    fn a_model_round_trips_through_its_file_with_its_lexicon() {
        let dir = tempfile::tempdir().unwrap();
        let vader = dir.path().join("vader.txt");
        std::fs::write(&vader, "good\t1.9\t0.5\t[]\n:)\t2.0\t0.1\t[]\n").unwrap();
        let lexicon = Lexicon::load(&LexiconFiles {
            vader: Some(&vader),
            ..Default::default()
        })
        .unwrap();
        let mut model = SentimentModel {
            encoder: Encoder {
                bits: 10,
                char_weight: 0.5,
                lexicon: Some(lexicon),
                options: EncoderOptions {
                    long_over: 40,
                    long_weight: 0.7,
                    contrast_weight: 0.5,
                    counterfactual: true,
                    negator_polarity: true,
                    idioms: true,
                },
            },
            weights: (0..1024).map(|i| (i as f32 * 0.37).sin()).collect(),
            dense_weights: [0.5; DENSE],
            bias: 0.1,
            calibration: (0.9, -0.05),
        };
        model.dense_weights[0] = 3.0;
        let path = dir.path().join("model.bin");
        model.save(&path).unwrap();
        let back = SentimentModel::load(&path).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.probability("good :)"), model.probability("good :)"));
        let bytes = std::fs::read(&path).unwrap();
        // A file of the flags before `idioms` reads it as off; a flag this build does not know
        // is refused.
        for (flags, idioms) in [(3u32, Some(false)), (8, None)] {
            let mut edited = bytes.clone();
            edited[40..44].copy_from_slice(&flags.to_le_bytes());
            std::fs::write(&path, &edited).unwrap();
            let loaded = SentimentModel::load(&path).ok();
            assert_eq!(loaded.map(|m| m.encoder.options.idioms), idioms, "{flags}");
        }
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        assert!(SentimentModel::load(&path).is_err());

        // The previous format: no options, eight dense weights; it loads and scores as then.
        let mut v2 = b"NBSENT02".to_vec();
        v2.extend_from_slice(&bytes[8..28]);
        v2.extend_from_slice(&(DENSE_V2 as u32).to_le_bytes());
        v2.extend_from_slice(&bytes[48..48 + 4 * DENSE_V2]);
        v2.extend_from_slice(&bytes[48 + 4 * DENSE..]);
        std::fs::write(&path, &v2).unwrap();
        let old = SentimentModel::load(&path).unwrap();
        assert_eq!(old.encoder.options, EncoderOptions::default());
        assert_eq!(
            old.dense_weights[..DENSE_V2],
            model.dense_weights[..DENSE_V2]
        );
        assert!(old.dense_weights[DENSE_V2..].iter().all(|w| *w == 0.0));
        assert_eq!(old.weights, model.weights);
    }
}
