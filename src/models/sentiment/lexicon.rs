//! Word-valence lexicons carried inside the sentiment model, and the lexicon features computed
//! from them with VADER's rules (negation, intensifiers, capitals, "but"-clauses, `!`).
//!
//! Lexicon scores transfer across domains where learned word weights do not: "refund" or
//! "invoice" never occur in film reviews, but "useless", "thanks" and 😡 mean the same
//! everywhere. Four channels are kept apart so the model can weigh each source: VADER's
//! lexicon (−4..4), AFINN-165 (−5..5, scaled to −4..4), Bing Liu's opinion words (±2) and emoji
//! and emoticons (Emoji Sentiment Ranking and AFINN's emoticons, −4..4).

use std::collections::HashMap;
use std::path::Path;

use super::tokens::Token;
use crate::models::ModelError;

/// Number of lexicon channels.
pub const CHANNELS: usize = 4;
/// Number of dense lexicon features per text (see [`Lexicon::features`]).
pub const DENSE: usize = 10;
/// Dense features of the first model format (`NBSENT02`): the first eight of [`DENSE_NAMES`].
pub const DENSE_V2: usize = 8;
/// Names of the dense features, in order (for reports).
pub const DENSE_NAMES: [&str; DENSE] = [
    "vader_compound",
    "afinn_compound",
    "liu_compound",
    "emoji_compound",
    "positive_words",
    "negative_words",
    "no_lexicon_word",
    "question",
    "negated_negative",
    "negated_positive",
];

/// Words that strengthen (+) or soften (−) the sentiment word after them (VADER's booster
/// list, abridged).
const BOOSTERS: &[(&str, f32)] = &[
    ("absolutely", 0.293),
    ("amazingly", 0.293),
    ("completely", 0.293),
    ("considerably", 0.293),
    ("deeply", 0.293),
    ("especially", 0.293),
    ("extremely", 0.293),
    ("entirely", 0.293),
    ("fully", 0.293),
    ("greatly", 0.293),
    ("highly", 0.293),
    ("hugely", 0.293),
    ("incredibly", 0.293),
    ("most", 0.293),
    ("much", 0.293),
    ("particularly", 0.293),
    ("purely", 0.293),
    ("quite", 0.293),
    ("really", 0.293),
    ("so", 0.293),
    ("soooo", 0.293),
    ("super", 0.293),
    ("thoroughly", 0.293),
    ("totally", 0.293),
    ("truly", 0.293),
    ("utterly", 0.293),
    ("very", 0.293),
    ("way", 0.293),
    ("too", 0.293),
    ("barely", -0.293),
    ("hardly", -0.293),
    ("kinda", -0.293),
    ("less", -0.293),
    ("little", -0.293),
    ("marginally", -0.293),
    ("occasionally", -0.293),
    ("partly", -0.293),
    ("scarcely", -0.293),
    ("slightly", -0.293),
    ("somewhat", -0.293),
    ("sort", -0.293),
    ("bit", -0.293),
];
/// Words that turn the weight of a text onto the clause after them.
pub(super) const CONTRAST: &[&str] = &["but", "however", "although", "though", "yet"];

/// Why a lexicon section of a model file cannot be read.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum LexiconFormatError {
    /// The section ends early.
    #[error("lexicon section is truncated")]
    Truncated,
    /// A token is not UTF-8.
    #[error("lexicon token is not UTF-8")]
    NotUtf8,
    /// A valence is NaN or infinite.
    #[error("non-finite valence for '{0}'")]
    NonFinite(String),
}

/// Valences by token, one per channel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lexicon {
    entries: HashMap<String, [f32; CHANNELS]>,
}

/// Which files make a lexicon (any may be absent).
#[derive(Clone, Debug, Default)]
pub struct LexiconFiles<'a> {
    /// VADER `token<TAB>mean<TAB>…`.
    pub vader: Option<&'a Path>,
    /// AFINN-165 `token<TAB>score`.
    pub afinn: Option<&'a Path>,
    /// Bing Liu positive words, one a line (`;` comments).
    pub liu_positive: Option<&'a Path>,
    /// Bing Liu negative words.
    pub liu_negative: Option<&'a Path>,
    /// Emoji Sentiment Ranking CSV (`Emoji,Unicode codepoint,Occurrences,Position,Negative,Neutral,Positive,…`).
    pub emoji: Option<&'a Path>,
    /// AFINN emoticons `emoticon<TAB>score`.
    pub emoticons: Option<&'a Path>,
}

fn read(path: &Path) -> Result<String, ModelError> {
    std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))
}

fn invalid(path: &Path, line: usize, problem: &str) -> ModelError {
    ModelError::Invalid {
        path: path.to_path_buf(),
        problem: format!("line {line}: {problem}"),
    }
}

impl Lexicon {
    /// Builds a lexicon from the files given; an unparsable line is an error naming it.
    pub fn load(files: &LexiconFiles<'_>) -> Result<Self, ModelError> {
        let mut lex = Lexicon::default();
        let mut tab_file = |path: &Path, channel: usize, scale: f32| -> Result<(), ModelError> {
            for (i, line) in read(path)?.lines().enumerate() {
                let mut parts = line.split('\t');
                let (Some(token), Some(value)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let token = token.trim();
                if token.is_empty() || token.contains(' ') {
                    continue; // phrases: the tokenizer never yields them
                }
                let value: f32 = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(path, i + 1, &format!("'{value}' is not a valence")))?;
                lex.set(token, channel, value * scale);
            }
            Ok(())
        };
        if let Some(p) = files.vader {
            tab_file(p, 0, 1.0)?;
        }
        if let Some(p) = files.afinn {
            tab_file(p, 1, 0.8)?;
        }
        if let Some(p) = files.emoticons {
            tab_file(p, 3, 0.8)?;
        }
        for (path, value) in [(files.liu_positive, 2.0), (files.liu_negative, -2.0)] {
            if let Some(p) = path {
                for line in read(p)?.lines() {
                    let word = line.trim();
                    if !word.is_empty() && !word.starts_with(';') {
                        lex.set(word, 2, value);
                    }
                }
            }
        }
        if let Some(p) = files.emoji {
            let mut reader =
                csv::Reader::from_path(p).map_err(|e| invalid(p, 1, &e.to_string()))?;
            for (i, record) in reader.records().enumerate() {
                let record = record.map_err(|e| invalid(p, i + 2, &e.to_string()))?;
                let num = |k: usize| -> Result<f32, ModelError> {
                    record
                        .get(k)
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| {
                            invalid(p, i + 2, &format!("column {} is not a number", k + 1))
                        })
                };
                let (occurrences, negative, positive) = (num(2)?, num(4)?, num(6)?);
                let emoji = record.get(0).unwrap_or("").trim();
                // Emoji seen fewer than 20 times have no reliable score.
                if !emoji.is_empty() && occurrences >= 20.0 {
                    lex.set(emoji, 3, 4.0 * (positive - negative) / occurrences);
                }
            }
        }
        Ok(lex)
    }

    fn set(&mut self, token: &str, channel: usize, value: f32) {
        self.entries
            .entry(token.to_lowercase_if_word())
            .or_insert([0.0; CHANNELS])[channel] = value;
    }

    /// Number of tokens with a valence.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the lexicon has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Words (not emoji or emoticons) whose channels agree on a clear polarity (mean valence of
    /// the channels that have one at least `min` in size), sorted: (word, positive?).
    pub fn polar_words(&self, min: f32) -> Vec<(&str, bool)> {
        let mut out: Vec<(&str, bool)> = self
            .entries
            .iter()
            .filter(|(k, _)| k.chars().all(char::is_alphabetic))
            .filter_map(|(k, v)| {
                let set: Vec<f32> = v.iter().copied().filter(|x| *x != 0.0).collect();
                let mean = set.iter().sum::<f32>() / set.len().max(1) as f32;
                let agree = set.iter().all(|x| x.signum() == mean.signum());
                (agree && mean.abs() >= min).then_some((k.as_str(), mean > 0.0))
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Valences of a token, when it has any.
    pub fn get(&self, token: &str) -> Option<&[f32; CHANNELS]> {
        self.entries.get(token)
    }

    /// Lexicon features of a tokenised text: per channel VADER's compound score
    /// `s / sqrt(s² + 15)` of the rule-adjusted valence sum; positive and negative word counts
    /// (over √tokens); whether no word had a valence; whether the text asks a question; and
    /// the numbers of negated negative and negated positive words (over √tokens) — "can't
    /// fault them" and "never had a problem" are praise in customer text, "not helpful" is a
    /// complaint, and one flip-and-damp rule for both reads neither well.
    pub fn features(&self, tokens: &[Token]) -> [f32; DENSE] {
        let mut sums = [0f32; CHANNELS];
        let (mut positive, mut negative, mut hits) = (0f32, 0f32, 0usize);
        let (mut negated_negative, mut negated_positive) = (0f32, 0f32);
        let letters_caps = tokens.iter().filter(|t| t.caps).count();
        let words = tokens
            .iter()
            .filter(|t| t.text.chars().next().is_some_and(char::is_alphanumeric))
            .count();
        // Capitals are emphasis only when the text is not shouted throughout.
        let shouting = words > 0 && letters_caps == words;
        let contrast = tokens
            .iter()
            .rposition(|t| CONTRAST.contains(&t.text.as_str()));
        let mut exclamations = 0usize;
        let mut question = 0f32;
        for (i, token) in tokens.iter().enumerate() {
            match token.text.as_str() {
                "!" => exclamations += 1,
                "?" => question = 1.0,
                _ => {}
            }
            let Some(valences) = self.entries.get(&token.text) else {
                continue;
            };
            hits += 1;
            let mut boost = 0f32;
            for k in 1..=3usize {
                let Some(prev) = i.checked_sub(k).and_then(|j| tokens.get(j)) else {
                    break;
                };
                if let Some((_, b)) = BOOSTERS.iter().find(|(w, _)| *w == prev.text) {
                    boost += b * [1.0, 0.95, 0.9][k - 1];
                }
            }
            let clause = match contrast {
                Some(c) if i < c => 0.5,
                Some(c) if i > c => 1.5,
                _ => 1.0,
            };
            for (channel, &v) in valences.iter().enumerate() {
                if v == 0.0 {
                    continue;
                }
                let mut v = v + v.signum() * boost;
                if token.caps && !shouting {
                    v += v.signum() * 0.733;
                }
                if token.negated {
                    v *= -0.74;
                }
                sums[channel] += v * clause;
            }
            let v = valences.iter().copied().find(|v| *v != 0.0).unwrap_or(0.0);
            if token.negated && v < 0.0 {
                negated_negative += 1.0;
            } else if token.negated && v > 0.0 {
                negated_positive += 1.0;
            }
            let v = if token.negated { -v } else { v };
            if v > 0.0 {
                positive += 1.0;
            } else if v < 0.0 {
                negative += 1.0;
            }
        }
        let emphasis = exclamations.min(4) as f32 * 0.292;
        let compound = |s: f32| {
            let s = if s == 0.0 {
                0.0
            } else {
                s + s.signum() * emphasis
            };
            s / (s * s + 15.0).sqrt()
        };
        let norm = (tokens.len().max(1) as f32).sqrt();
        [
            compound(sums[0]),
            compound(sums[1]),
            compound(sums[2]),
            compound(sums[3]),
            positive / norm,
            negative / norm,
            f32::from(u8::from(hits == 0)),
            question,
            negated_negative / norm,
            negated_positive / norm,
        ]
    }

    /// Appends the lexicon in a stable binary form: entry count, then per entry (sorted by
    /// token) the token's byte length (u8), its bytes and the channel valences.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut entries: Vec<(&String, &[f32; CHANNELS])> = self
            .entries
            .iter()
            .filter(|(k, _)| k.len() <= usize::from(u8::MAX))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for (token, values) in entries {
            out.push(token.len() as u8);
            out.extend_from_slice(token.as_bytes());
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    /// Reads what [`Lexicon::write`] wrote from the front of `bytes`; returns it and the bytes
    /// consumed, or a description of what is wrong.
    pub fn read(bytes: &[u8]) -> Result<(Self, usize), LexiconFormatError> {
        let take = |at: usize, n: usize| -> Result<&[u8], LexiconFormatError> {
            bytes.get(at..at + n).ok_or(LexiconFormatError::Truncated)
        };
        let c = take(0, 4)?;
        let count = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
        let mut at = 4;
        let mut entries = HashMap::with_capacity(count);
        for _ in 0..count {
            let len = usize::from(take(at, 1)?[0]);
            at += 1;
            let token = std::str::from_utf8(take(at, len)?)
                .map_err(|_| LexiconFormatError::NotUtf8)?
                .to_string();
            at += len;
            let mut values = [0f32; CHANNELS];
            for v in &mut values {
                let b = take(at, 4)?;
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                if !v.is_finite() {
                    return Err(LexiconFormatError::NonFinite(token));
                }
                at += 4;
            }
            entries.insert(token, values);
        }
        Ok((Lexicon { entries }, at))
    }
}

/// Lower-cases words but keeps emoticons such as `:D` or `xD` as written.
trait LowerIfWord {
    fn to_lowercase_if_word(&self) -> String;
}

impl LowerIfWord for str {
    fn to_lowercase_if_word(&self) -> String {
        if self
            .chars()
            .all(|c| c.is_alphanumeric() || c == '\'' || c == '-')
        {
            self.to_lowercase()
        } else {
            self.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tokens::tokens;
    use super::*;

    fn lexicon() -> Lexicon {
        let mut lex = Lexicon::default();
        for (w, v) in [("good", 1.9), ("great", 3.1), ("bad", -2.5), (":)", 2.0)] {
            lex.set(w, 0, v);
        }
        lex
    }

    #[test]
    fn vader_rules_negate_boost_and_weigh_the_clause_after_but() {
        let lex = lexicon();
        let f = |t: &str| lex.features(&tokens(t))[0];
        assert!(f("good") > 0.0 && f("not good") < 0.0);
        assert!(f("very good") > f("good"));
        assert!(f("GOOD food") > f("good food"));
        assert!(f("good!!") > f("good"));
        assert!(f("good but bad") < 0.0 && f("bad but good") > 0.0);
        assert!(f("thanks :)") > 0.0);
        let counts = |t: &str| {
            let x = lex.features(&tokens(t));
            (x[8] > 0.0, x[9] > 0.0)
        };
        assert_eq!(counts("not bad at all"), (true, false));
        assert_eq!(counts("not good"), (false, true));
        assert_eq!(counts("good"), (false, false));
        let neutral = lex.features(&tokens("What time do you open on Sunday?"));
        assert_eq!(neutral[0], 0.0);
        assert_eq!(neutral[6], 1.0);
        assert_eq!(neutral[7], 1.0);
    }

    #[test]
    fn the_binary_form_round_trips() {
        let lex = lexicon();
        let mut bytes = Vec::new();
        lex.write(&mut bytes);
        let (back, used) = Lexicon::read(&bytes).unwrap();
        assert_eq!(back, lex);
        assert_eq!(used, bytes.len());
        assert!(Lexicon::read(&bytes[..bytes.len() - 1]).is_err());
    }
}
