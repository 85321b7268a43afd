//! What customers wrote: the sentiment of their texts (a KPI) and the aspects they were unhappy
//! about (issue 9's tagger), over time and as pain-point triggers.
//!
//! Texts are scored once per log ([`TextTags::new`]): each text's P(positive) from the sentiment
//! model, and each sentence that names an aspect with that sentence's P(positive). A *negative
//! mention* is a sentence scored below 0.5, as in the decision explanations.

use serde::{Deserialize, Serialize};

use super::cohorts::Bucket;
use super::log::EventLog;
use super::table::Table;
use crate::features::aspects::Taxonomy;
use crate::features::TextScorer;

/// Below this P(positive) a text or sentence counts as negative.
pub const NEGATIVE: f32 = 0.5;

/// The log's texts, scored.
#[derive(Clone, Debug, Default)]
pub struct TextTags {
    /// The sentiment model's name and version.
    pub model: String,
    /// Aspect names, in the taxonomy's order.
    pub aspects: Vec<String>,
    /// Per text event (in log order): (event index, P(positive) of the whole text).
    pub texts: Vec<(u32, f32)>,
    /// Per negative aspect mention (in log order): (event index, aspect index).
    pub negative: Vec<(u32, u32)>,
}

impl TextTags {
    /// Scores every text of the log.
    pub fn new(log: &EventLog, taxonomy: &Taxonomy, scorer: &dyn TextScorer) -> Self {
        let aspects: Vec<String> = taxonomy.names().map(str::to_string).collect();
        let mut tags = TextTags {
            model: scorer.name(),
            aspects,
            ..TextTags::default()
        };
        for (i, &t) in log.text.iter().enumerate() {
            if t == 0 {
                continue;
            }
            let text = &log.texts[t as usize];
            let p = scorer.score(text);
            if p.is_finite() {
                tags.texts.push((i as u32, p));
            }
            for mention in taxonomy.tag(text, scorer) {
                if mention.sentiment < NEGATIVE {
                    if let Some(a) = tags.aspects.iter().position(|n| *n == mention.aspect) {
                        tags.negative.push((i as u32, a as u32));
                    }
                }
            }
        }
        tags
    }
}

/// The sentiment of the texts a segment wrote in a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextSentiment {
    /// The model that scored them.
    pub model: String,
    /// Texts written.
    pub texts: u64,
    /// Their mean P(positive).
    pub mean_sentiment: Option<f64>,
    /// Of those, scored below 0.5.
    pub negative_texts: u64,
}

/// Mean sentiment of the texts of `members` in `[from, to)`.
pub fn text_sentiment(
    log: &EventLog,
    tags: &TextTags,
    members: &[bool],
    from: i64,
    to: i64,
) -> TextSentiment {
    let (mut n, mut sum, mut negative) = (0u64, 0.0f64, 0u64);
    for &(i, p) in &tags.texts {
        let i = i as usize;
        let t = log.time[i];
        if t < from || t >= to || !members[log.customer[i] as usize] {
            continue;
        }
        n += 1;
        sum += f64::from(p);
        negative += u64::from(p < NEGATIVE);
    }
    TextSentiment {
        model: tags.model.clone(),
        texts: n,
        mean_sentiment: (n > 0).then(|| sum / n as f64),
        negative_texts: negative,
    }
}

/// One aspect's negative mentions over time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AspectTrend {
    /// The aspect.
    pub aspect: String,
    /// Negative mentions in the period.
    pub negative_mentions: u64,
    /// Customers with a negative mention in the period.
    pub customers: u64,
    /// Negative mentions per bucket of the period.
    pub per_period: Vec<u64>,
}

/// The most frequent negative aspects of customer text, bucket by bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AspectTrends {
    /// The buckets' labels.
    pub periods: Vec<String>,
    /// Aspects with a negative mention, most mentioned first (then by name).
    pub aspects: Vec<AspectTrend>,
}

/// Negative aspect mentions of `members` in `[from, to)`, per bucket from `from`.
pub fn aspect_trends(
    log: &EventLog,
    tags: &TextTags,
    members: &[bool],
    bucket: Bucket,
    from: i64,
    to: i64,
) -> AspectTrends {
    let width = (bucket.index(from, to - 1) + 1).max(0) as usize;
    let mut per = vec![vec![0u64; width]; tags.aspects.len()];
    let mut who: Vec<Vec<u32>> = vec![Vec::new(); tags.aspects.len()];
    for &(i, a) in &tags.negative {
        let (i, a) = (i as usize, a as usize);
        let t = log.time[i];
        let c = log.customer[i];
        if t < from || t >= to || !members[c as usize] {
            continue;
        }
        per[a][bucket.index(from, t) as usize] += 1;
        who[a].push(c);
    }
    let mut aspects: Vec<AspectTrend> = per
        .into_iter()
        .zip(who)
        .enumerate()
        .filter(|(_, (counts, _))| counts.iter().any(|&n| n > 0))
        .map(|(a, (per_period, mut customers))| {
            customers.sort_unstable();
            customers.dedup();
            AspectTrend {
                aspect: tags.aspects[a].clone(),
                negative_mentions: per_period.iter().sum(),
                customers: customers.len() as u64,
                per_period,
            }
        })
        .collect();
    aspects.sort_by(|x, y| {
        y.negative_mentions
            .cmp(&x.negative_mentions)
            .then_with(|| x.aspect.cmp(&y.aspect))
    });
    AspectTrends {
        periods: (0..width as i64).map(|b| bucket.label(from, b)).collect(),
        aspects,
    }
}

impl AspectTrends {
    /// Long form: aspect, period, negative mentions.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            "negative_aspects",
            &["aspect", "period", "negative_mentions"],
        );
        for a in &self.aspects {
            for (p, &n) in self.periods.iter().zip(&a.per_period) {
                t.push(vec![a.aspect.as_str().into(), p.as_str().into(), n.into()]);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Event, EventType, Timestamp};

    struct Words;
    impl TextScorer for Words {
        fn name(&self) -> String {
            "words".into()
        }
        fn score(&self, text: &str) -> f32 {
            if text.contains("late") || text.contains("awful") {
                0.1
            } else {
                0.9
            }
        }
    }

    #[test]
    fn texts_are_scored_and_negative_aspects_counted_per_bucket() {
        let d = |x: f64| Timestamp(0).plus_days(x);
        let events = vec![
            Event::new("a", d(1.0), EventType::Complaint)
                .with_text("The parcel arrived late. The price was fine."),
            Event::new("a", d(12.0), EventType::Review).with_text("Great service, thank you"),
            Event::new("b", d(15.0), EventType::Chat).with_text("Delivery late again"),
            Event::new("b", d(16.0), EventType::Visit),
        ];
        let log = EventLog::from_events(&events);
        let taxonomy = Taxonomy::default_taxonomy().unwrap();
        let tags = TextTags::new(&log, &taxonomy, &Words);
        let s = text_sentiment(&log, &tags, &[true, true], 0, d(20.0).0);
        assert_eq!((s.texts, s.negative_texts), (3, 2));
        assert!((s.mean_sentiment.unwrap() - (0.1 + 0.9 + 0.1) / 3.0).abs() < 1e-6);
        let trends = aspect_trends(&log, &tags, &[true, true], Bucket::Days(10), 0, d(20.0).0);
        assert_eq!(trends.periods.len(), 2);
        let delivery = &trends.aspects[0];
        assert_eq!(delivery.aspect, "delivery");
        assert_eq!(delivery.per_period, [1, 1]);
        assert_eq!(delivery.customers, 2);
        // The price sentence was positive: not a negative mention.
        assert!(trends
            .aspects
            .iter()
            .all(|a| a.aspect != "price_and_billing"));
    }
}
