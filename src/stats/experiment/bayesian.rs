//! The Bayesian reading of a lift: a Gaussian posterior on the (relative or absolute) effect,
//! from which the chance that the treatment beats control and the expected loss (risk) of
//! choosing either arm follow. With the default (improper, flat) prior the posterior is the
//! frequentist estimate and its standard error.

use serde::{Deserialize, Serialize};

use super::distributions::{normal_cdf, normal_pdf, normal_quantile};
use super::frequentist::{is_testable, lift, lift_variance, DifferenceType, Interval};
use super::sufficient::ArmEstimate;

/// A Gaussian prior on the effect.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianPrior {
    /// Prior mean of the effect. Default 0.
    pub mean: f64,
    /// Prior variance of the effect. Default 0.01 (a standard deviation of 0.1: a relative lift
    /// beyond ±20 % is thought unlikely).
    pub variance: f64,
    /// Whether the prior is used at all; an improper prior is flat. Default false.
    pub proper: bool,
}

impl Default for GaussianPrior {
    /// gbstats' metric defaults: mean 0, standard deviation 0.1, improper.
    fn default() -> Self {
        GaussianPrior {
            mean: 0.0,
            variance: 0.01,
            proper: false,
        }
    }
}

/// Settings of the Bayesian test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BayesianSettings {
    /// The credible interval covers 1 − alpha. Default 0.05.
    pub alpha: f64,
    /// Absolute or relative effect. Default relative.
    pub difference: DifferenceType,
    /// Whether lower is better for this metric (e.g. unsubscribes): flips the chance to win and
    /// the risks. Default false.
    pub inverse: bool,
    /// The prior on the effect. Default improper.
    pub prior: GaussianPrior,
    /// The scale the prior is stated on; rescaled by the control's mean when it differs from
    /// `difference`. Default relative, as gbstats states its priors.
    pub prior_scale: DifferenceType,
}

impl Default for BayesianSettings {
    fn default() -> Self {
        BayesianSettings {
            alpha: 0.05,
            difference: DifferenceType::Relative,
            inverse: false,
            prior: GaussianPrior::default(),
            prior_scale: DifferenceType::Relative,
        }
    }
}

/// The posterior on the effect of treatment over control.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BayesianResult {
    /// Absolute or relative.
    pub difference: DifferenceType,
    /// Posterior mean of the effect.
    pub expected: f64,
    /// Posterior standard deviation.
    pub std_dev: f64,
    /// The 1 − alpha credible interval.
    pub interval: Interval,
    /// P(treatment is better than control) (better = lower, for an inverse metric).
    pub chance_to_win: f64,
    /// Expected loss of keeping control: E[max(effect, 0)] (the gain forgone).
    pub risk_control: f64,
    /// Expected loss of choosing the treatment: E[max(−effect, 0)].
    pub risk_treatment: f64,
}

/// The prior on the scale of the effect being estimated: a prior stated on the relative scale
/// is multiplied by |control mean| (variance by its square) for an absolute effect, and the
/// other way round.
fn rescaled_prior(settings: &BayesianSettings, control: &ArmEstimate) -> GaussianPrior {
    let base = control.unadjusted_mean;
    let prior = settings.prior;
    match (settings.difference, settings.prior_scale) {
        (DifferenceType::Relative, DifferenceType::Absolute) => GaussianPrior {
            mean: prior.mean / base.abs(),
            variance: prior.variance / base.powi(2),
            proper: prior.proper,
        },
        (DifferenceType::Absolute, DifferenceType::Relative) => GaussianPrior {
            mean: prior.mean * base.abs(),
            variance: prior.variance * base.powi(2),
            proper: prior.proper,
        },
        _ => prior,
    }
}

/// The expected losses (risk of keeping control, risk of choosing treatment) under a normal
/// posterior N(μ, σ²): E[max(X, 0)] = μΦ(μ/σ) + σφ(μ/σ) and E[max(−X, 0)] = σφ(μ/σ) − μΦ(−μ/σ)
/// (the closed forms of gbstats' truncated-normal means times their probabilities).
///
/// Mirrors gbstats' `EffectBayesianABTest.get_risk`.
pub fn expected_losses(mean: f64, std_dev: f64) -> (f64, f64) {
    let z = mean / std_dev;
    let density = std_dev * normal_pdf(z);
    let keep_control = mean * normal_cdf(z) + density;
    let choose_treatment = density - mean * normal_cdf(-z);
    (keep_control.max(0.0), choose_treatment.max(0.0))
}

/// Chance to win, credible interval and risks from a Gaussian posterior on the lift: the data's
/// lift and variance (as the frequentist test's), combined with the prior by precision
/// weighting when the prior is proper.
///
/// Mirrors gbstats' `EffectBayesianABTest` (bayesian/tests.py). `None` when undefined: an
/// empty arm, zero variance, or (relative) a control mean of 0.
pub fn bayesian_test(
    control: &ArmEstimate,
    treatment: &ArmEstimate,
    settings: &BayesianSettings,
) -> Option<BayesianResult> {
    if !is_testable(control, treatment, settings.difference) {
        return None;
    }
    let prior = rescaled_prior(settings, control);
    let data_mean = lift(control, treatment, settings.difference);
    let data_variance = lift_variance(control, treatment, settings.difference);

    let (expected, precision) = if prior.proper {
        let precision = 1.0 / data_variance + 1.0 / prior.variance;
        let mean = (data_mean / data_variance + prior.mean / prior.variance) / precision;
        (mean, precision)
    } else {
        (data_mean, 1.0 / data_variance)
    };
    let std_dev = (1.0 / precision).sqrt();

    let better = normal_cdf(expected / std_dev);
    let chance_to_win = if settings.inverse {
        1.0 - better
    } else {
        better
    };
    let z = normal_quantile(1.0 - settings.alpha / 2.0)?;
    let (keep_control, choose_treatment) = expected_losses(expected, std_dev);
    let (risk_control, risk_treatment) = if settings.inverse {
        (choose_treatment, keep_control)
    } else {
        (keep_control, choose_treatment)
    };
    let result = BayesianResult {
        difference: settings.difference,
        expected,
        std_dev,
        interval: Interval::around(expected, z * std_dev),
        chance_to_win,
        risk_control,
        risk_treatment,
    };
    [
        result.expected,
        result.std_dev,
        result.chance_to_win,
        result.interval.lower,
        result.interval.upper,
        result.risk_control,
        result.risk_treatment,
    ]
    .iter()
    .all(|x| x.is_finite())
    .then_some(result)
}

#[cfg(test)]
mod tests {
    use super::super::sufficient::Sample;
    use super::*;

    #[test]
    fn a_clear_winner_has_a_high_chance_and_little_risk() {
        let control = Sample::proportion(10_000, 1_000.0).estimate();
        let treatment = Sample::proportion(10_000, 1_200.0).estimate();
        let result = bayesian_test(&control, &treatment, &BayesianSettings::default()).unwrap();
        assert!(result.chance_to_win > 0.999);
        assert!(result.risk_treatment < 1e-4);
        assert!(result.risk_control > 0.15);
        let inverse = BayesianSettings {
            inverse: true,
            ..BayesianSettings::default()
        };
        let flipped = bayesian_test(&control, &treatment, &inverse).unwrap();
        assert!((flipped.chance_to_win - (1.0 - result.chance_to_win)).abs() < 1e-15);
        assert_eq!(flipped.risk_control, result.risk_treatment);
    }

    #[test]
    fn a_proper_prior_pulls_the_estimate_towards_its_mean() {
        let control = Sample::mean_of(40, 400.0, 4400.0).estimate();
        let treatment = Sample::mean_of(40, 480.0, 6200.0).estimate();
        let flat = bayesian_test(&control, &treatment, &BayesianSettings::default()).unwrap();
        let settings = BayesianSettings {
            prior: GaussianPrior {
                proper: true,
                ..GaussianPrior::default()
            },
            ..BayesianSettings::default()
        };
        let shrunk = bayesian_test(&control, &treatment, &settings).unwrap();
        assert!(shrunk.expected < flat.expected && shrunk.expected > 0.0);
        assert!(shrunk.std_dev < flat.std_dev);
    }
}
