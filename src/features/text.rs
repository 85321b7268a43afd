//! Customer text as the features see it: the scorer interface and what its scores mean.

/// Scores customer text for sentiment: P(positive) in 0..1.
pub trait TextScorer: Send + Sync {
    /// Name and version, recorded in the feature spec.
    fn name(&self) -> String;
    /// P(positive) of one text.
    fn score(&self, text: &str) -> f32;
}

/// Sentiment below this counts as a negative text.
pub const NEGATIVE_SENTIMENT: f32 = 0.3;
/// Sentiment used when there is no scored text: neutral.
pub const NEUTRAL_SENTIMENT: f32 = 0.5;

/// The mean of `n` sentiment scores summing to `sum`; neutral when there are none.
pub(super) fn mean_sentiment(sum: f64, n: u32) -> f32 {
    if n == 0 {
        NEUTRAL_SENTIMENT
    } else {
        (sum / f64::from(n)) as f32
    }
}
