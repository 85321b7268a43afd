//! Sequential, always-valid inference: asymptotic confidence sequences (Waudby-Smith et al.,
//! "Time-uniform central limit theory and asymptotic confidence sequences", 2023). The interval
//! covers the true lift with probability 1 − alpha at *every* look at once, so results can be
//! watched daily and stopped early without inflating false positives; the price is a wider
//! interval than the fixed-horizon t-test's.

use serde::{Deserialize, Serialize};

use super::frequentist::{
    is_finite, is_testable, lift, lift_variance, DifferenceType, Interval, LiftEstimate,
};
use super::sufficient::ArmEstimate;

/// The default tuning parameter: the total sample size (both arms) at which the interval is
/// tightest relative to the fixed-horizon one. gbstats' default.
pub const DEFAULT_TUNING: f64 = 5000.0;

/// Settings of a sequential test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequentialSettings {
    /// Significance level, over all looks together. Default 0.05.
    pub alpha: f64,
    /// Absolute or relative difference. Default relative.
    pub difference: DifferenceType,
    /// The difference under the null hypothesis. Default 0.
    pub test_value: f64,
    /// The tuning parameter (units in both arms where the sequence is tightest). Default 5000.
    pub tuning: f64,
}

impl Default for SequentialSettings {
    fn default() -> Self {
        SequentialSettings {
            alpha: 0.05,
            difference: DifferenceType::Relative,
            test_value: 0.0,
            tuning: DEFAULT_TUNING,
        }
    }
}

/// ρ = √((−2 ln α + ln(−2 ln α + 1)) / tuning), the mixing parameter chosen so that the
/// sequence is tightest at `tuning` units (eq. 161 of Waudby-Smith et al.).
///
/// Mirrors gbstats' `SequentialTwoSidedTTest.rho`.
pub fn sequential_rho(alpha: f64, tuning: f64) -> f64 {
    let log_alpha = -2.0 * alpha.ln();
    ((log_alpha + (log_alpha + 1.0).ln()) / tuning).sqrt()
}

/// The always-valid two-sided test of treatment against control. With N the units of both
/// arms, σ² = N·Var(estimate) and ρ from [`sequential_rho`]:
/// - interval: estimate ± σ·√(2(Nρ² + 1)·ln(√(Nρ² + 1)/α) / (Nρ)²) (eq. 9);
/// - p-value: 1 / e-value, at most 1, with
///   e-value = exp(ρ²·N·(estimate − test_value)²/σ² / (2(Nρ² + 1))) / √(Nρ² + 1) (eq. 155).
///
/// Mirrors gbstats' `SequentialTwoSidedTTest` (frequentist/tests.py). `None` when undefined:
/// as [`two_sided_t_test`](super::frequentist::two_sided_t_test).
pub fn sequential_t_test(
    control: &ArmEstimate,
    treatment: &ArmEstimate,
    settings: &SequentialSettings,
) -> Option<LiftEstimate> {
    let tuning_is_positive = settings.tuning.is_finite() && settings.tuning > 0.0;
    if !is_testable(control, treatment, settings.difference) || !tuning_is_positive {
        return None;
    }
    let estimate = lift(control, treatment, settings.difference);
    let variance = lift_variance(control, treatment, settings.difference);
    let total = (control.n + treatment.n) as f64;
    let rho = sequential_rho(settings.alpha, settings.tuning);
    let rho2 = rho * rho;
    let scaled_variance = variance * total;
    let spread = total * rho2 + 1.0;

    let half_width = scaled_variance.sqrt()
        * (2.0 * spread * (spread.sqrt() / settings.alpha).ln() / (total * rho).powi(2)).sqrt();

    // In logs, so that an overwhelming effect gives p = 0 rather than ∞ / ∞.
    let standardized2 = (estimate - settings.test_value).powi(2) * total / variance;
    let log_evalue = rho2 * standardized2 / (2.0 * spread) - 0.5 * spread.ln();
    let p_value = (-log_evalue).exp().min(1.0);

    let result = LiftEstimate {
        difference: settings.difference,
        estimate,
        std_error: variance.sqrt(),
        interval: Interval::around(estimate, half_width),
        p_value,
        degrees_of_freedom: None,
    };
    is_finite(&result).then_some(result)
}

#[cfg(test)]
mod tests {
    use super::super::frequentist::{two_sided_t_test, FrequentistSettings};
    use super::super::sufficient::Sample;
    use super::*;

    #[test]
    fn the_always_valid_interval_is_wider_than_the_fixed_one() {
        let control = Sample::proportion(4000, 400.0).estimate();
        let treatment = Sample::proportion(4000, 460.0).estimate();
        let fixed = two_sided_t_test(&control, &treatment, &FrequentistSettings::default());
        let always = sequential_t_test(&control, &treatment, &SequentialSettings::default());
        let (fixed, always) = (fixed.unwrap(), always.unwrap());
        assert_eq!(fixed.estimate, always.estimate);
        assert!(always.interval.lower < fixed.interval.lower);
        assert!(always.interval.upper > fixed.interval.upper);
        assert!(always.p_value > fixed.p_value);
    }
}
