//! One arm on its own: its mean (or rate, or ratio) with a confidence interval.

use serde::{Deserialize, Serialize};

use super::distributions::{normal_quantile, student_t_quantile};
use super::frequentist::Interval;
use super::sufficient::{RatioSample, Sample, SampleKind};

/// One arm's metric: units, the mean (rate, ratio) and its 1 − alpha interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// Units.
    pub units: u64,
    /// The mean, rate or ratio.
    pub mean: f64,
    /// Its 1 − alpha confidence interval; `None` when undefined (fewer than two units, or no
    /// denominator for a ratio).
    pub interval: Option<Interval>,
}

/// The interval of a sample's mean: for a mean, mean ± t(1 − alpha/2, n − 1)·s/√n; for a
/// proportion, the Wilson score interval, which stays inside [0, 1] and behaves at rates near 0
/// or 1 where the normal interval does not. `None` when n < 2.
///
/// Reference values: `scipy.stats.t.interval` and
/// `statsmodels.stats.proportion.proportion_confint(method="wilson")`.
pub fn sample_interval(sample: &Sample, alpha: f64) -> Option<Interval> {
    if sample.n < 2 {
        return None;
    }
    let n = sample.n as f64;
    match sample.kind {
        SampleKind::Mean => {
            let critical = student_t_quantile(1.0 - alpha / 2.0, n - 1.0)?;
            let half_width = critical * (sample.variance() / n).sqrt();
            Some(Interval::around(sample.mean(), half_width)).filter(finite)
        }
        SampleKind::Proportion => {
            let z = normal_quantile(1.0 - alpha / 2.0)?;
            let p = sample.mean();
            let z2 = z * z;
            let denominator = 1.0 + z2 / n;
            let center = (p + z2 / (2.0 * n)) / denominator;
            let half_width =
                z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt();
            Some(Interval::around(center, half_width)).filter(finite)
        }
    }
}

/// The interval of a ratio: ratio ± t(1 − alpha/2, n − 1)·√(delta-method variance / n).
/// `None` when n < 2 or the denominator's mean is 0.
pub fn ratio_interval(ratio: &RatioSample, alpha: f64) -> Option<Interval> {
    if ratio.n() < 2 || ratio.denominator.mean() == 0.0 {
        return None;
    }
    let n = ratio.n() as f64;
    let critical = student_t_quantile(1.0 - alpha / 2.0, n - 1.0)?;
    let half_width = critical * (ratio.variance().max(0.0) / n).sqrt();
    Some(Interval::around(ratio.ratio(), half_width)).filter(finite)
}

/// A sample's summary.
pub fn summarize_sample(sample: &Sample, alpha: f64) -> ArmSummary {
    ArmSummary {
        units: sample.n,
        mean: sample.mean(),
        interval: sample_interval(sample, alpha),
    }
}

/// A ratio's summary.
pub fn summarize_ratio(ratio: &RatioSample, alpha: f64) -> ArmSummary {
    ArmSummary {
        units: ratio.n(),
        mean: ratio.ratio(),
        interval: ratio_interval(ratio, alpha),
    }
}

fn finite(interval: &Interval) -> bool {
    interval.lower.is_finite() && interval.upper.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wilson_interval_stays_inside_zero_one() {
        let none_converted = Sample::proportion(20, 0.0);
        let interval = sample_interval(&none_converted, 0.05).unwrap();
        assert!(interval.lower.abs() < 1e-15 && interval.upper > 0.0 && interval.upper < 1.0);
        assert!(sample_interval(&Sample::proportion(1, 1.0), 0.05).is_none());
    }
}
