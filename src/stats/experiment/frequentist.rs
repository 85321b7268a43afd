//! The frequentist lift of a treatment arm over control: Welch's t-test with Satterthwaite
//! degrees of freedom, on the absolute difference of means or on the relative lift (by the
//! delta method), with a two-sided p-value and confidence interval.

use serde::{Deserialize, Serialize};

use super::distributions::{student_t_quantile, student_t_sf};
use super::sufficient::ArmEstimate;

/// Which difference between the arms is estimated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceType {
    /// (treatment − control) / control: "+4.2 %". gbstats' default.
    #[default]
    Relative,
    /// treatment − control, in the metric's unit.
    Absolute,
}

/// A two-sided interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// `center ± half_width`.
    pub fn around(center: f64, half_width: f64) -> Self {
        Interval {
            lower: center - half_width,
            upper: center + half_width,
        }
    }

    /// Whether `value` lies inside (bounds included).
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }
}

/// Settings of a frequentist test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrequentistSettings {
    /// Significance level: the interval covers 1 − alpha. Default 0.05.
    pub alpha: f64,
    /// Absolute or relative difference. Default relative.
    pub difference: DifferenceType,
    /// The difference under the null hypothesis. Default 0.
    pub test_value: f64,
}

impl Default for FrequentistSettings {
    fn default() -> Self {
        FrequentistSettings {
            alpha: 0.05,
            difference: DifferenceType::Relative,
            test_value: 0.0,
        }
    }
}

/// The estimated lift of treatment over control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiftEstimate {
    /// Absolute or relative.
    pub difference: DifferenceType,
    /// The point estimate.
    pub estimate: f64,
    /// Its standard error.
    pub std_error: f64,
    /// The two-sided 1 − alpha interval (always valid, for the sequential test).
    pub interval: Interval,
    /// Two-sided p-value against the test value.
    pub p_value: f64,
    /// Welch–Satterthwaite degrees of freedom; `None` for the sequential test, which uses none.
    pub degrees_of_freedom: Option<f64>,
}

/// The point estimate: treatment − control, or that over the control's unadjusted mean.
///
/// Mirrors gbstats' `frequentist_diff` (frequentist/tests.py).
pub fn lift(control: &ArmEstimate, treatment: &ArmEstimate, difference: DifferenceType) -> f64 {
    match difference {
        DifferenceType::Absolute => treatment.mean - control.mean,
        DifferenceType::Relative => (treatment.mean - control.mean) / control.unadjusted_mean,
    }
}

/// The variance of the point estimate: Var_t/n_t + Var_c/n_c for the absolute difference; by
/// the delta method for the relative lift, Var_t/(μ_c²·n_t) + Var_c·μ_t²/(μ_c⁴·n_c) with the
/// unadjusted means μ.
///
/// Mirrors gbstats' `frequentist_variance` (frequentist/tests.py).
pub fn lift_variance(
    control: &ArmEstimate,
    treatment: &ArmEstimate,
    difference: DifferenceType,
) -> f64 {
    let (n_c, n_t) = (control.n as f64, treatment.n as f64);
    match difference {
        DifferenceType::Absolute => treatment.variance / n_t + control.variance / n_c,
        DifferenceType::Relative => {
            let (mean_c, mean_t) = (control.unadjusted_mean, treatment.unadjusted_mean);
            treatment.variance / (mean_c.powi(2) * n_t)
                + control.variance * mean_t.powi(2) / (mean_c.powi(4) * n_c)
        }
    }
}

/// Welch–Satterthwaite degrees of freedom:
/// (s_t²/n_t + s_c²/n_c)² / (s_t⁴/(n_t²(n_t − 1)) + s_c⁴/(n_c²(n_c − 1))).
///
/// Mirrors gbstats' `TTest.dof` (frequentist/tests.py). `None` when an arm has fewer than two
/// units or both variances are zero.
pub fn welch_degrees_of_freedom(control: &ArmEstimate, treatment: &ArmEstimate) -> Option<f64> {
    if control.n < 2 || treatment.n < 2 {
        return None;
    }
    let (n_c, n_t) = (control.n as f64, treatment.n as f64);
    let (v_c, v_t) = (control.variance, treatment.variance);
    let numerator = (v_t / n_t + v_c / n_c).powi(2);
    let denominator =
        v_t.powi(2) / (n_t.powi(2) * (n_t - 1.0)) + v_c.powi(2) / (n_c.powi(2) * (n_c - 1.0));
    let dof = numerator / denominator;
    (dof.is_finite() && dof > 0.0).then_some(dof)
}

/// Whether the tests are defined for this pair: both arms with units and positive variance,
/// and, for a relative lift, a control mean to divide by. gbstats returns an "uninformative"
/// default in these cases; here they are `None`.
pub(super) fn is_testable(
    control: &ArmEstimate,
    treatment: &ArmEstimate,
    difference: DifferenceType,
) -> bool {
    if control.n == 0 || treatment.n == 0 {
        return false;
    }
    if difference == DifferenceType::Relative
        && (control.mean == 0.0 || control.unadjusted_mean == 0.0)
    {
        return false;
    }
    !control.has_zero_variance() && !treatment.has_zero_variance()
}

/// Welch's two-sided t-test of treatment against control: the lift, its standard error, the
/// 1 − alpha interval estimate ± t(1 − alpha/2, dof)·se and the p-value
/// 2·P(T > |estimate − test_value| / se).
///
/// Mirrors gbstats' `TwoSidedTTest` (frequentist/tests.py). One deliberate difference: gbstats
/// also refuses an *absolute* difference when the control mean is 0, which nothing in the
/// formula needs; here only the relative lift does. `None` when undefined: an arm with fewer
/// than two units, zero variance, or (relative) a control mean of 0.
pub fn two_sided_t_test(
    control: &ArmEstimate,
    treatment: &ArmEstimate,
    settings: &FrequentistSettings,
) -> Option<LiftEstimate> {
    if !is_testable(control, treatment, settings.difference) {
        return None;
    }
    let estimate = lift(control, treatment, settings.difference);
    let std_error = lift_variance(control, treatment, settings.difference).sqrt();
    let dof = welch_degrees_of_freedom(control, treatment)?;
    let t = (estimate - settings.test_value) / std_error;
    let p_value = (2.0 * student_t_sf(t.abs(), dof)?).min(1.0);
    let critical = student_t_quantile(1.0 - settings.alpha / 2.0, dof)?;
    let result = LiftEstimate {
        difference: settings.difference,
        estimate,
        std_error,
        interval: Interval::around(estimate, critical * std_error),
        p_value,
        degrees_of_freedom: Some(dof),
    };
    is_finite(&result).then_some(result)
}

/// Whether every number of a result is finite (the `None` rule: no NaN leaves this module).
pub(super) fn is_finite(result: &LiftEstimate) -> bool {
    [
        result.estimate,
        result.std_error,
        result.interval.lower,
        result.interval.upper,
        result.p_value,
    ]
    .iter()
    .all(|x| x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::super::sufficient::Sample;
    use super::*;

    #[test]
    fn equal_arms_have_no_lift_and_p_value_one() {
        let arm = Sample::mean_of(50, 100.0, 260.0).estimate();
        let result = two_sided_t_test(&arm, &arm, &FrequentistSettings::default()).unwrap();
        assert_eq!(result.estimate, 0.0);
        assert!((result.p_value - 1.0).abs() < 1e-12);
        assert!(result.interval.contains(0.0));
        // Equal variances and sizes: Satterthwaite gives n_c + n_t − 2.
        assert!((result.degrees_of_freedom.unwrap() - 98.0).abs() < 1e-9);
    }

    #[test]
    fn undefined_tests_are_none() {
        let zero_mean = Sample::mean_of(10, 0.0, 4.0).estimate();
        let arm = Sample::mean_of(10, 5.0, 9.0).estimate();
        let relative = FrequentistSettings::default();
        assert!(two_sided_t_test(&zero_mean, &arm, &relative).is_none());
        let absolute = FrequentistSettings {
            difference: DifferenceType::Absolute,
            ..relative
        };
        assert!(two_sided_t_test(&zero_mean, &arm, &absolute).is_some());
        let constant = Sample::mean_of(10, 10.0, 10.0).estimate();
        assert!(two_sided_t_test(&arm, &constant, &absolute).is_none());
        let single = Sample::mean_of(1, 1.0, 1.0).estimate();
        assert!(two_sided_t_test(&single, &arm, &absolute).is_none());
    }
}
