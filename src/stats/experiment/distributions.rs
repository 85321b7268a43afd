//! The few distribution functions the tests need, over `statrs`, with the edge cases folded
//! into `Option` so that nothing downstream sees a panic or a NaN.

use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};

/// The standard normal distribution.
fn standard_normal() -> Option<Normal> {
    Normal::new(0.0, 1.0).ok()
}

/// Φ(x), the standard normal CDF.
pub(crate) fn normal_cdf(x: f64) -> f64 {
    standard_normal().map_or(f64::NAN, |normal| normal.cdf(x))
}

/// φ(x), the standard normal density.
pub(crate) fn normal_pdf(x: f64) -> f64 {
    standard_normal().map_or(f64::NAN, |normal| normal.pdf(x))
}

/// Φ⁻¹(p), the standard normal quantile.
pub(crate) fn normal_quantile(p: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&p) {
        return None;
    }
    standard_normal().map(|normal| normal.inverse_cdf(p))
}

/// P(T > t) for Student's t with `dof` degrees of freedom (the upper tail directly, so that a
/// tiny p-value keeps its digits).
pub(crate) fn student_t_sf(t: f64, dof: f64) -> Option<f64> {
    let dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    Some(dist.sf(t))
}

/// The `p` quantile of Student's t with `dof` degrees of freedom.
///
/// statrs inverts through the regularised incomplete beta function, whose inverse loses digits
/// at large degrees of freedom; two Newton steps on the CDF bring it back to full precision.
pub(crate) fn student_t_quantile(p: f64, dof: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    let dist = StudentsT::new(0.0, 1.0, dof).ok()?;
    let mut t = dist.inverse_cdf(p);
    for _ in 0..3 {
        let density = dist.pdf(t);
        if density.is_nan() || density <= 0.0 || !t.is_finite() {
            break;
        }
        // F(t) − p, computed on whichever tail is small, where the digits are.
        let error = if p > 0.5 {
            (1.0 - p) - dist.sf(t)
        } else {
            dist.cdf(t) - p
        };
        t -= error / density;
    }
    t.is_finite().then_some(t)
}

/// P(X > x) for the chi-square distribution with `dof` degrees of freedom.
pub(crate) fn chi_square_sf(x: f64, dof: f64) -> Option<f64> {
    let dist = ChiSquared::new(dof).ok()?;
    Some(dist.sf(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_invert_their_cdf() {
        for dof in [1.5, 4.0, 37.2, 1_000.0, 250_000.0] {
            for p in [0.001, 0.025, 0.5, 0.95, 0.975, 0.9995] {
                let t = student_t_quantile(p, dof).unwrap();
                let back = 1.0 - student_t_sf(t, dof).unwrap();
                assert!((back - p).abs() < 1e-12, "dof {dof} p {p}: {back}");
            }
        }
        assert!((normal_quantile(0.975).unwrap() - 1.959_963_984_540_054).abs() < 1e-12);
    }

    #[test]
    fn out_of_range_arguments_are_none() {
        assert!(student_t_quantile(1.0, 10.0).is_none());
        assert!(student_t_sf(1.0, 0.0).is_none());
        assert!(chi_square_sf(1.0, 0.0).is_none());
        assert!(normal_quantile(1.5).is_none());
    }
}
