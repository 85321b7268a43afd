//! What customer text is about: a configurable taxonomy of aspects (delivery, price and
//! billing, …), each signalled by words and phrases, and a tagger that finds the aspects of each
//! sentence and scores that sentence's sentiment.
//!
//! Sentence level, because one message often praises one thing and blames another ("The agent
//! was lovely but the parcel is still lost"): the sentiment of the sentence that names an
//! aspect is the customer's view of that aspect.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::compute::TextScorer;
use crate::config_file::{from_toml_str, read_toml, ConfigFileError, TomlProblem};
use crate::error::ErrorCode;

/// The default taxonomy for retail and telecom (the file shipped in the source tree).
pub const DEFAULT_TAXONOMY: &str = include_str!("aspects.toml");

/// A taxonomy that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AspectError {
    /// The file cannot be read or parsed.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// The built-in default does not parse (a build defect).
    #[error("built-in aspect taxonomy: {0}")]
    Default(TomlProblem),
    /// The taxonomy parses but is not usable.
    #[error("{}aspect taxonomy: {key}: {problem}", file.as_deref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
    Invalid {
        /// The file, when read from one.
        file: Option<std::path::PathBuf>,
        /// The key (`aspect[2].terms[0]`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl AspectError {
    /// The catalogue code: a taxonomy is configuration.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidConfig
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyFile {
    aspect: Vec<AspectFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AspectFile {
    name: String,
    terms: Vec<String>,
}

/// One term: a word, a word prefix (`deliver*`) or a phrase of several words.
#[derive(Clone, Debug, PartialEq)]
enum Term {
    Word(String),
    Prefix(String),
    Phrase(Vec<String>),
}

/// A checked taxonomy.
#[derive(Clone, Debug, PartialEq)]
pub struct Taxonomy {
    aspects: Vec<(String, Vec<Term>)>,
}

/// Lower-case words of a text (letters, digits, `'` and `-` inside words).
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '-'))
        .map(|w| {
            w.trim_matches(|c| c == '\'' || c == '’' || c == '-')
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

impl Taxonomy {
    /// The default retail/telecom taxonomy ([`DEFAULT_TAXONOMY`]).
    pub fn default_taxonomy() -> Result<Self, AspectError> {
        let file: TaxonomyFile = from_toml_str(DEFAULT_TAXONOMY).map_err(AspectError::Default)?;
        Self::check(file, None)
    }

    /// The default taxonomy parsed once for the process (`None` only if the built-in file were
    /// broken, which a unit test rules out).
    pub fn shared_default() -> Option<&'static Taxonomy> {
        static DEFAULT: std::sync::OnceLock<Option<Taxonomy>> = std::sync::OnceLock::new();
        DEFAULT
            .get_or_init(|| Taxonomy::default_taxonomy().ok())
            .as_ref()
    }

    /// Reads and checks a taxonomy file; errors name the file and key.
    pub fn load(path: &Path) -> Result<Self, AspectError> {
        let file: TaxonomyFile = read_toml(path)?;
        Self::check(file, Some(path))
    }

    fn check(file: TaxonomyFile, path: Option<&Path>) -> Result<Self, AspectError> {
        let invalid = |key: String, problem: &str| AspectError::Invalid {
            file: path.map(Path::to_path_buf),
            key,
            problem: problem.to_string(),
        };
        if file.aspect.is_empty() {
            return Err(invalid("aspect".into(), "no aspects"));
        }
        let mut aspects = Vec::with_capacity(file.aspect.len());
        for (i, aspect) in file.aspect.into_iter().enumerate() {
            let name = aspect.name.trim().to_string();
            if name.is_empty() {
                return Err(invalid(format!("aspect[{i}].name"), "empty"));
            }
            if aspects.iter().any(|(n, _)| *n == name) {
                return Err(invalid(format!("aspect[{i}].name"), "named twice"));
            }
            if aspect.terms.is_empty() {
                return Err(invalid(format!("aspect[{i}].terms"), "no terms"));
            }
            let mut terms = Vec::with_capacity(aspect.terms.len());
            for (j, term) in aspect.terms.iter().enumerate() {
                let lower = term.trim().to_lowercase();
                let parts = words(&lower);
                let term = match (parts.len(), lower.strip_suffix('*')) {
                    (1, Some(prefix)) if !prefix.contains(' ') => Term::Prefix(parts[0].clone()),
                    (1, None) => Term::Word(parts[0].clone()),
                    (n, None) if n > 1 => Term::Phrase(parts),
                    _ => {
                        return Err(invalid(
                            format!("aspect[{i}].terms[{j}]"),
                            &format!("'{term}' is not a word, a word* prefix or a phrase"),
                        ))
                    }
                };
                terms.push(term);
            }
            aspects.push((name, terms));
        }
        Ok(Taxonomy { aspects })
    }

    /// Aspect names, in the taxonomy's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.aspects.iter().map(|(n, _)| n.as_str())
    }

    /// The aspects one sentence names, in the taxonomy's order.
    pub fn aspects_of(&self, sentence: &str) -> Vec<&str> {
        self.named_in(sentence)
            .map(|i| self.aspects[i].0.as_str())
            .collect()
    }

    /// Indices of the aspects one sentence names, in the taxonomy's order.
    fn named_in(&self, sentence: &str) -> impl Iterator<Item = usize> + '_ {
        let words = words(sentence);
        self.aspects
            .iter()
            .enumerate()
            .filter(move |(_, (_, terms))| {
                terms.iter().any(|term| match term {
                    Term::Word(w) => words.iter().any(|x| x == w),
                    Term::Prefix(p) => words.iter().any(|x| x.starts_with(p.as_str())),
                    Term::Phrase(p) => words.windows(p.len()).any(|w| w == p.as_slice()),
                })
            })
            .map(|(i, _)| i)
    }

    /// Tags a text: each sentence that names an aspect, with its aspects and its sentiment.
    pub fn tag(&self, text: &str, scorer: &dyn TextScorer) -> Vec<AspectMention> {
        let mut out = Vec::new();
        for sentence in sentences(text) {
            let aspects = self.aspects_of(sentence);
            if aspects.is_empty() {
                continue;
            }
            let sentiment = scorer.score(sentence);
            for aspect in aspects {
                out.push(AspectMention {
                    aspect: aspect.to_string(),
                    sentiment,
                    sentence: sentence.to_string(),
                });
            }
        }
        out
    }

    /// Adds one to `counts[i]` for every sentence of `text` that names aspect `i` and scores
    /// below 0.5 (the `aspect_<name>_negative_90d` features). A text of one sentence reuses
    /// `whole`, its score as a text; only sentences that name an aspect are scored.
    pub fn count_negative_mentions(
        &self,
        text: &str,
        whole: f32,
        scorer: &dyn TextScorer,
        counts: &mut [u32],
    ) {
        let parts = sentences(text);
        let single = parts.len() == 1;
        if single && whole >= 0.5 {
            // Nothing to count, and the decision path sees this on every happy message.
            return;
        }
        for sentence in parts {
            let named: Vec<usize> = self.named_in(sentence).collect();
            if named.is_empty() {
                continue;
            }
            let score = if single {
                whole
            } else {
                scorer.score(sentence)
            };
            if score < 0.5 {
                for i in named {
                    if let Some(c) = counts.get_mut(i) {
                        *c += 1;
                    }
                }
            }
        }
    }
}

/// An aspect named in a sentence, and the sentiment of that sentence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AspectMention {
    /// Aspect name.
    pub aspect: String,
    /// P(positive) of the sentence.
    pub sentiment: f32,
    /// The sentence.
    pub sentence: String,
}

/// What a customer's recent texts say about one aspect.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AspectSummary {
    /// Aspect name.
    pub aspect: String,
    /// Sentences naming it in the window.
    pub mentions: u32,
    /// Of those, sentences scored below 0.5.
    pub negative_mentions: u32,
    /// Mean P(positive) of those sentences.
    pub mean_sentiment: f32,
    /// The most negative such sentence.
    pub example: String,
}

/// Sums up the aspects of the texts in `history` from the `days` before `now` (events at or
/// after `now` are not seen): per aspect, mentions, negative mentions, mean sentiment and the
/// most negative sentence; aspects with negative mentions first (most first), then by name.
pub fn summarize(
    taxonomy: &Taxonomy,
    scorer: &dyn TextScorer,
    history: &[crate::journey::Event],
    now: crate::journey::Timestamp,
    days: f64,
) -> Vec<AspectSummary> {
    let mut out: Vec<(AspectSummary, f32, f32)> = Vec::new();
    for event in history {
        let Some(text) = event.text.as_deref() else {
            continue;
        };
        let age = now.days_since(event.timestamp);
        if !(age > 0.0 && age <= days) {
            continue;
        }
        for mention in taxonomy.tag(text, scorer) {
            if !mention.sentiment.is_finite() {
                continue;
            }
            let at = match out.iter().position(|(s, _, _)| s.aspect == mention.aspect) {
                Some(at) => at,
                None => {
                    out.push((
                        AspectSummary {
                            aspect: mention.aspect.clone(),
                            mentions: 0,
                            negative_mentions: 0,
                            mean_sentiment: 0.0,
                            example: String::new(),
                        },
                        0.0,
                        f32::INFINITY,
                    ));
                    out.len() - 1
                }
            };
            let (summary, sum, lowest) = &mut out[at];
            summary.mentions += 1;
            *sum += mention.sentiment;
            if mention.sentiment < 0.5 {
                summary.negative_mentions += 1;
            }
            if mention.sentiment < *lowest {
                *lowest = mention.sentiment;
                summary.example = mention.sentence;
            }
        }
    }
    let mut summaries: Vec<AspectSummary> = out
        .into_iter()
        .map(|(mut s, sum, _)| {
            s.mean_sentiment = sum / s.mentions.max(1) as f32;
            s
        })
        .collect();
    summaries.sort_by(|a, b| {
        b.negative_mentions
            .cmp(&a.negative_mentions)
            .then_with(|| a.aspect.cmp(&b.aspect))
    });
    summaries
}

/// Splits text into sentences at `.`, `!`, `?`, `;` and line breaks (a `.` between digits, as
/// in "4.99", does not end one).
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        let ends = match c {
            '!' | '?' | ';' | '\n' => true,
            '.' => {
                !(i > 0
                    && bytes[i - 1].is_ascii_digit()
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            }
            _ => false,
        };
        if ends {
            let s = text[start..=i].trim();
            if s.chars().any(char::is_alphanumeric) {
                out.push(s);
            }
            start = i + c.len_utf8();
        }
    }
    let s = text[start..].trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores by two words, enough to see that each sentence is scored on its own.
    struct Words;
    impl TextScorer for Words {
        fn name(&self) -> String {
            "words".into()
        }
        fn score(&self, text: &str) -> f32 {
            let t = text.to_lowercase();
            if t.contains("lovely") || t.contains("great") {
                0.9
            } else if t.contains("lost") || t.contains("twice") || t.contains("crash") {
                0.1
            } else {
                0.5
            }
        }
    }

    #[test]
    fn negative_mentions_are_counted_per_aspect_and_sentence() {
        let tax = Taxonomy::default_taxonomy().unwrap();
        let mut counts = vec![0; tax.names().count()];
        // Two sentences: the lost parcel counts against delivery, the lovely agent does not
        // count against support.
        let text = "The courier lost my parcel. The agent on the phone was lovely.";
        tax.count_negative_mentions(text, 0.5, &Words, &mut counts);
        // One sentence: its score as a whole text is used (0.2 here, though Words says 0.5).
        tax.count_negative_mentions("My invoice is wrong", 0.2, &Words, &mut counts);
        // Nothing about an aspect: nothing counted, whatever the score.
        tax.count_negative_mentions("I am sad", 0.0, &Words, &mut counts);
        let by_name: Vec<(&str, u32)> = tax.names().zip(counts.iter().copied()).collect();
        assert_eq!(
            by_name,
            [
                ("delivery", 1),
                ("price_and_billing", 1),
                ("product_quality", 0),
                ("customer_support", 0),
                ("app_and_website", 0),
                ("account_and_subscription", 0),
            ]
        );
    }

    #[test]
    fn the_default_taxonomy_tags_hand_made_sentences() {
        let tax = Taxonomy::default_taxonomy().unwrap();
        assert_eq!(
            tax.names().collect::<Vec<_>>(),
            [
                "delivery",
                "price_and_billing",
                "product_quality",
                "customer_support",
                "app_and_website",
                "account_and_subscription"
            ]
        );
        let cases: &[(&str, &[&str])] = &[
            ("My parcel still hasn't arrived.", &["delivery"]),
            (
                "You charged me twice for the same order.",
                &["price_and_billing"],
            ),
            ("The jacket fell apart after a week.", &["product_quality"]),
            (
                "I was on hold for an hour and the agent was rude.",
                &["customer_support"],
            ),
            ("Your app keeps crashing at checkout.", &["app_and_website"]),
            (
                "I want to cancel my subscription.",
                &["account_and_subscription"],
            ),
            (
                "The courier was late and the invoice is wrong.",
                &["delivery", "price_and_billing"],
            ),
            ("What time do you open on Sunday?", &[]),
        ];
        for (sentence, expected) in cases {
            assert_eq!(&tax.aspects_of(sentence), expected, "{sentence}");
        }
    }

    #[test]
    fn each_sentence_carries_its_own_sentiment() {
        let tax = Taxonomy::default_taxonomy().unwrap();
        let mentions = tax.tag(
            "The agent was lovely. But my parcel is lost and I was charged twice!",
            &Words,
        );
        let got: Vec<(&str, f32)> = mentions
            .iter()
            .map(|m| (m.aspect.as_str(), m.sentiment))
            .collect();
        assert_eq!(
            got,
            [
                ("customer_support", 0.9),
                ("delivery", 0.1),
                ("price_and_billing", 0.1)
            ]
        );
        assert_eq!(
            mentions[1].sentence,
            "But my parcel is lost and I was charged twice!"
        );
    }

    #[test]
    fn a_history_sums_up_by_aspect_within_the_window() {
        use crate::journey::{Event, EventType, Timestamp};
        let tax = Taxonomy::default_taxonomy().unwrap();
        let now = Timestamp::parse_date_or_datetime("2025-06-01").unwrap();
        let at = |day: &str| Timestamp::parse_date_or_datetime(day).unwrap();
        let event = |day: &str, text: &str| {
            Event::new("C1", at(day), EventType::parse("complaint")).with_text(text)
        };
        let history = [
            event("2025-05-20", "My parcel is lost. The agent was lovely."),
            event("2025-05-25", "Parcel lost again!"),
            event("2025-01-01", "I was charged twice."), // older than 90 days
            event("2025-06-02", "Charged twice"),        // after the decision
        ];
        let summary = summarize(&tax, &Words, &history, now, 90.0);
        let got: Vec<(&str, u32, u32)> = summary
            .iter()
            .map(|s| (s.aspect.as_str(), s.mentions, s.negative_mentions))
            .collect();
        assert_eq!(got, [("delivery", 2, 2), ("customer_support", 1, 0)]);
        assert_eq!(summary[0].example, "My parcel is lost.");
    }

    #[test]
    fn sentences_split_at_ends_but_not_inside_prices() {
        assert_eq!(
            sentences("It cost £4.99. Fine!\nThanks? ok"),
            ["It cost £4.99.", "Fine!", "Thanks?", "ok"]
        );
    }

    #[test]
    fn a_bad_taxonomy_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tax.toml");
        std::fs::write(&path, "[[aspect]]\nname = \"x\"\nterms = [\"ok\", \"*\"]\n").unwrap();
        let error = Taxonomy::load(&path).unwrap_err().to_string();
        assert!(error.contains("aspect[0].terms[1]"), "{error}");
        std::fs::write(&path, "[[aspect]]\nname = \"x\"\nwords = []\n").unwrap();
        let error = Taxonomy::load(&path).unwrap_err().to_string();
        assert!(error.contains("tax.toml"), "{error}");
    }
}
