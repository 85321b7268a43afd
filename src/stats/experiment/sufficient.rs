//! Sufficient statistics: what a database can compute per arm with `COUNT`, `SUM` and sums of
//! products, and all the experiment statistics need. No unit-level rows are kept.

use serde::{Deserialize, Serialize};

/// What the values of a [`Sample`] are; the variance differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    /// Any numbers (revenue, counts): the sample variance with n − 1 in the denominator.
    Mean,
    /// 0/1 outcomes (converted or not): the variance is p(1 − p), as gbstats'
    /// `ProportionStatistic` has it (the population form, no n − 1).
    Proportion,
}

/// One arm's values of one metric, reduced to n, Σx and Σx².
///
/// A proportion is a mean of 0/1 values, so Σx² = Σx; only its variance formula differs
/// ([`SampleKind::Proportion`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Whether the values are any numbers or 0/1 outcomes.
    pub kind: SampleKind,
    /// Units.
    pub n: u64,
    /// Σx over the units.
    pub sum: f64,
    /// Σx² over the units.
    pub sum_squares: f64,
}

impl Sample {
    /// A sample of any numbers from its sufficient statistics.
    pub fn mean_of(n: u64, sum: f64, sum_squares: f64) -> Self {
        Sample {
            kind: SampleKind::Mean,
            n,
            sum,
            sum_squares,
        }
    }

    /// A sample of 0/1 outcomes: `successes` of `n` units (Σx² = Σx).
    pub fn proportion(n: u64, successes: f64) -> Self {
        Sample {
            kind: SampleKind::Proportion,
            n,
            sum: successes,
            sum_squares: successes,
        }
    }

    /// An empty sample of the given kind, to [`add`](Self::add) values to.
    pub fn empty(kind: SampleKind) -> Self {
        Sample {
            kind,
            n: 0,
            sum: 0.0,
            sum_squares: 0.0,
        }
    }

    /// Adds one unit's value.
    pub fn add(&mut self, value: f64) {
        self.n += 1;
        self.sum += value;
        self.sum_squares += value * value;
    }

    /// The sample of a slice of values.
    pub fn of_values(kind: SampleKind, values: &[f64]) -> Self {
        let mut sample = Sample::empty(kind);
        for &value in values {
            sample.add(value);
        }
        sample
    }

    /// The mean Σx / n; 0 for an empty sample (as gbstats: the tests refuse empty arms).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// The variance of one unit's value; 0 when undefined (n < 2 for a mean). Mirrors gbstats'
    /// `SampleMeanStatistic.variance` and `ProportionStatistic.variance`.
    pub fn variance(&self) -> f64 {
        match self.kind {
            SampleKind::Mean => {
                if self.n <= 1 {
                    return 0.0;
                }
                let n = self.n as f64;
                (self.sum_squares - self.sum * self.sum / n) / (n - 1.0)
            }
            SampleKind::Proportion => {
                let p = self.mean();
                p * (1.0 - p)
            }
        }
    }

    /// Two arms' samples as one, for statistics pooled over arms (gbstats'
    /// `create_joint_statistic`). The pool is a proportion only if both are.
    pub fn pooled(&self, other: &Sample) -> Sample {
        let kind = if self.kind == SampleKind::Proportion && other.kind == SampleKind::Proportion {
            SampleKind::Proportion
        } else {
            SampleKind::Mean
        };
        Sample {
            kind,
            n: self.n + other.n,
            sum: self.sum + other.sum,
            sum_squares: self.sum_squares + other.sum_squares,
        }
    }

    /// What the tests need of this arm: n, mean and per-unit variance.
    pub fn estimate(&self) -> ArmEstimate {
        ArmEstimate {
            n: self.n,
            mean: self.mean(),
            unadjusted_mean: self.mean(),
            variance: self.variance(),
        }
    }
}

/// A ratio metric of one arm (revenue per order, clicks per session): per unit a numerator and
/// a denominator, reduced to their samples and Σ numerator × denominator. The metric is
/// Σ numerator / Σ denominator, its variance comes from the delta method.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioSample {
    /// The numerator per unit (e.g. revenue); its `n` is the number of units.
    pub numerator: Sample,
    /// The denominator per unit (e.g. orders), over the same units.
    pub denominator: Sample,
    /// Σ numerator × denominator over the units.
    pub sum_products: f64,
}

impl RatioSample {
    /// Units (the numerator's n).
    pub fn n(&self) -> u64 {
        self.numerator.n
    }

    /// Σ numerator / Σ denominator; 0 when the denominator sums to 0 (as gbstats).
    pub fn ratio(&self) -> f64 {
        if self.denominator.sum == 0.0 {
            0.0
        } else {
            self.numerator.sum / self.denominator.sum
        }
    }

    /// The sample covariance of numerator and denominator; 0 when n < 2.
    pub fn covariance(&self) -> f64 {
        covariance(
            self.n(),
            self.numerator.sum,
            self.denominator.sum,
            self.sum_products,
        )
    }

    /// The delta-method variance of the ratio, per unit (divide by n for the ratio's own
    /// variance): Var(M)/μ_D² − 2·Cov(M, D)·μ_M/μ_D³ + μ_M²·Var(D)/μ_D⁴. 0 when undefined
    /// (n < 2 or a zero denominator mean). Mirrors gbstats' `RatioStatistic.variance`.
    pub fn variance(&self) -> f64 {
        let mean_d = self.denominator.mean();
        if mean_d == 0.0 || self.n() <= 1 {
            return 0.0;
        }
        let mean_m = self.numerator.mean();
        self.numerator.variance() / mean_d.powi(2)
            - 2.0 * self.covariance() * mean_m / mean_d.powi(3)
            + mean_m.powi(2) * self.denominator.variance() / mean_d.powi(4)
    }

    /// What the tests need of this arm.
    pub fn estimate(&self) -> ArmEstimate {
        ArmEstimate {
            n: self.n(),
            mean: self.ratio(),
            unadjusted_mean: self.ratio(),
            variance: self.variance(),
        }
    }
}

/// A metric with a pre-period covariate for CUPED: the metric's sample, the covariate's sample
/// over the same units (e.g. revenue in the weeks before the experiment) and Σ metric ×
/// covariate. See [`super::cuped`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdjustedSample {
    /// The metric during the experiment; its `n` is the number of units.
    pub metric: Sample,
    /// The covariate before the experiment, over the same units.
    pub covariate: Sample,
    /// Σ metric × covariate over the units.
    pub sum_products: f64,
}

impl AdjustedSample {
    /// Units (the metric's n).
    pub fn n(&self) -> u64 {
        self.metric.n
    }

    /// The sample covariance of metric and covariate; 0 when n < 2.
    pub fn covariance(&self) -> f64 {
        covariance(
            self.n(),
            self.metric.sum,
            self.covariate.sum,
            self.sum_products,
        )
    }
}

/// The sample covariance from Σx, Σy and Σxy; 0 when n < 2.
pub(super) fn covariance(n: u64, sum_x: f64, sum_y: f64, sum_products: f64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    (sum_products - sum_x * sum_y / n) / (n - 1.0)
}

/// One arm as the tests see it, whatever the metric's kind: units, the (possibly
/// CUPED-adjusted) mean, the mean before adjustment (the base of relative lifts) and the
/// variance of one unit's value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmEstimate {
    /// Units.
    pub n: u64,
    /// The mean the difference is taken between (adjusted, for CUPED).
    pub mean: f64,
    /// The mean before any adjustment: relative lifts are divided by the control's.
    pub unadjusted_mean: f64,
    /// Variance of one unit's value (the mean's variance is this / n).
    pub variance: f64,
}

impl ArmEstimate {
    /// Whether the variance is zero or negative, when no test is defined.
    pub fn has_zero_variance(&self) -> bool {
        self.variance <= 0.0 || !self.variance.is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_built_value_by_value_matches_its_formula() {
        let sample = Sample::of_values(SampleKind::Mean, &[1.0, 2.0, 3.0, 6.0]);
        assert_eq!(sample, Sample::mean_of(4, 12.0, 50.0));
        assert!((sample.mean() - 3.0).abs() < 1e-12);
        // Σ(x − 3)² = 4 + 1 + 0 + 9 = 14, over n − 1 = 3.
        assert!((sample.variance() - 14.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_proportion_uses_p_times_one_minus_p() {
        let sample = Sample::proportion(10, 3.0);
        assert!((sample.variance() - 0.21).abs() < 1e-12);
        assert_eq!(sample.sum_squares, sample.sum);
    }

    #[test]
    fn undefined_statistics_are_zero_not_nan() {
        assert_eq!(Sample::mean_of(0, 0.0, 0.0).mean(), 0.0);
        assert_eq!(Sample::mean_of(1, 5.0, 25.0).variance(), 0.0);
        let ratio = RatioSample {
            numerator: Sample::mean_of(3, 6.0, 14.0),
            denominator: Sample::mean_of(3, 0.0, 0.0),
            sum_products: 0.0,
        };
        assert_eq!(ratio.ratio(), 0.0);
        assert_eq!(ratio.variance(), 0.0);
    }
}
