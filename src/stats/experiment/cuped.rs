//! CUPED: regression adjustment with a pre-period covariate. Each arm's mean becomes
//! mean(metric) − θ·mean(covariate), with θ the slope of the metric on the covariate pooled
//! over the two arms being compared, which removes the part of the variance the covariate
//! explains without biasing the difference (both arms are shifted by the same θ).

use super::sufficient::{covariance, AdjustedSample, ArmEstimate};

/// θ = Cov(metric, covariate) / Var(covariate) over both arms pooled; 0 when either pooled
/// variance is zero (CUPED then falls back to the unadjusted metric).
///
/// Mirrors gbstats' `compute_theta` (models/statistics.py).
pub fn pooled_theta(control: &AdjustedSample, treatment: &AdjustedSample) -> f64 {
    let metric = control.metric.pooled(&treatment.metric);
    let covariate = control.covariate.pooled(&treatment.covariate);
    let covariate_variance = covariate.variance();
    if covariate_variance == 0.0 || metric.variance() == 0.0 {
        return 0.0;
    }
    let pooled_covariance = covariance(
        metric.n,
        metric.sum,
        covariate.sum,
        control.sum_products + treatment.sum_products,
    );
    pooled_covariance / covariate_variance
}

/// One arm adjusted with a given θ: mean = mean(metric) − θ·mean(covariate), variance =
/// Var(metric) + θ²·Var(covariate) − 2θ·Cov(metric, covariate) (0 when n < 2), and the
/// unadjusted mean kept as the base of relative lifts.
///
/// Mirrors gbstats' `RegressionAdjustedStatistic` (mean, variance, unadjusted_mean).
pub fn adjusted_estimate(arm: &AdjustedSample, theta: f64) -> ArmEstimate {
    let variance = if arm.n() <= 1 {
        0.0
    } else {
        arm.metric.variance() + theta * theta * arm.covariate.variance()
            - 2.0 * theta * arm.covariance()
    };
    ArmEstimate {
        n: arm.n(),
        mean: arm.metric.mean() - theta * arm.covariate.mean(),
        unadjusted_mean: arm.metric.mean(),
        variance,
    }
}

/// Both arms adjusted with their pooled θ, ready for any of the tests; with θ = 0 (no variance
/// to explain) they are the plain metric's estimates, as gbstats' `BaseABTest` falls back.
pub fn adjusted_estimates(
    control: &AdjustedSample,
    treatment: &AdjustedSample,
) -> (ArmEstimate, ArmEstimate) {
    let theta = pooled_theta(control, treatment);
    if theta == 0.0 {
        return (control.metric.estimate(), treatment.metric.estimate());
    }
    (
        adjusted_estimate(control, theta),
        adjusted_estimate(treatment, theta),
    )
}

#[cfg(test)]
mod tests {
    use super::super::sufficient::{Sample, SampleKind};
    use super::*;

    fn arm(pairs: &[(f64, f64)]) -> AdjustedSample {
        let metric: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let covariate: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        AdjustedSample {
            metric: Sample::of_values(SampleKind::Mean, &metric),
            covariate: Sample::of_values(SampleKind::Mean, &covariate),
            sum_products: pairs.iter().map(|p| p.0 * p.1).sum(),
        }
    }

    #[test]
    fn a_covariate_that_explains_the_metric_removes_its_variance() {
        // metric = 2 × covariate + arm effect, the covariate balanced between the arms: the
        // pooled θ is 2 and no variance is left.
        let control = arm(&[(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]);
        let treatment = arm(&[(3.0, 1.0), (5.0, 2.0), (7.0, 3.0)]);
        assert!((pooled_theta(&control, &treatment) - 2.0).abs() < 1e-12);
        let (c, t) = adjusted_estimates(&control, &treatment);
        assert!(c.variance.abs() < 1e-9 && t.variance.abs() < 1e-9);
        assert!((t.mean - c.mean - 1.0).abs() < 1e-9);
        assert!((c.unadjusted_mean - 4.0).abs() < 1e-12);
    }

    #[test]
    fn a_constant_covariate_falls_back_to_the_plain_metric() {
        let control = arm(&[(2.0, 1.0), (4.0, 1.0), (7.0, 1.0)]);
        let treatment = arm(&[(3.0, 1.0), (5.0, 1.0), (8.0, 1.0)]);
        assert_eq!(pooled_theta(&control, &treatment), 0.0);
        let (c, _) = adjusted_estimates(&control, &treatment);
        assert_eq!(c, control.metric.estimate());
    }
}
