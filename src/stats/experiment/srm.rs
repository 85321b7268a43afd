//! Sample ratio mismatch: did the arms get the share of units their weights promise? A
//! mismatch means assignment or logging is broken (a redirect that loses users of one arm, a
//! bot filter that hits one arm harder), and then no lift computed on the arms can be trusted.

use serde::{Deserialize, Serialize};

use super::distributions::chi_square_sf;

/// Below this p-value the split is flagged: with a check on every look, 0.001 keeps false
/// alarms rare while a real mismatch on many units still shows (gbstats' threshold too).
pub const SRM_ALERT_P_VALUE: f64 = 0.001;

/// The outcome of the chi-square goodness-of-fit test of units per arm against the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrmCheck {
    /// Σ (observed − expected)² / expected over the arms with a positive weight.
    pub chi_square: f64,
    /// Arms − 1.
    pub degrees_of_freedom: usize,
    /// P(χ² ≥ chi_square); 1 when no unit was observed.
    pub p_value: f64,
    /// Units each arm should have had: weight / Σ weights × Σ observed.
    pub expected: Vec<f64>,
}

impl SrmCheck {
    /// Whether the p-value is below `threshold` (normally [`SRM_ALERT_P_VALUE`]).
    pub fn is_mismatch(&self, threshold: f64) -> bool {
        self.p_value < threshold
    }
}

/// The chi-square goodness-of-fit test of `observed` units per arm against `weights` (any
/// positive scale: `[0.5, 0.5]` and `[1, 1]` are the same). Arms of weight 0 add nothing to the
/// statistic but still count in the degrees of freedom, as in gbstats.
///
/// Mirrors gbstats' `check_srm` (utils.py). `None` when undefined: fewer than two arms, a
/// different number of weights and arms, or a weight that is negative, not finite, or all zero.
pub fn sample_ratio_mismatch(observed: &[u64], weights: &[f64]) -> Option<SrmCheck> {
    if observed.len() < 2 || observed.len() != weights.len() {
        return None;
    }
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return None;
    }
    let total_weight: f64 = weights.iter().sum();
    if total_weight <= 0.0 {
        return None;
    }
    let total_observed: f64 = observed.iter().map(|&o| o as f64).sum();
    let expected: Vec<f64> = weights
        .iter()
        .map(|w| w / total_weight * total_observed)
        .collect();
    let degrees_of_freedom = observed.len() - 1;
    if total_observed == 0.0 {
        return Some(SrmCheck {
            chi_square: 0.0,
            degrees_of_freedom,
            p_value: 1.0,
            expected,
        });
    }
    let chi_square: f64 = observed
        .iter()
        .zip(&expected)
        .zip(weights)
        .filter(|(_, &weight)| weight > 0.0)
        .map(|((&o, &e), _)| (o as f64 - e).powi(2) / e)
        .sum();
    let p_value = chi_square_sf(chi_square, degrees_of_freedom as f64)?;
    Some(SrmCheck {
        chi_square,
        degrees_of_freedom,
        p_value,
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_51_49_split_of_100000_is_a_mismatch_and_50_1_49_9_is_not() {
        let broken = sample_ratio_mismatch(&[51_000, 49_000], &[0.5, 0.5]).unwrap();
        assert!(broken.is_mismatch(SRM_ALERT_P_VALUE), "{broken:?}");
        let fine = sample_ratio_mismatch(&[50_100, 49_900], &[0.5, 0.5]).unwrap();
        assert!(!fine.is_mismatch(SRM_ALERT_P_VALUE), "{fine:?}");
        // χ² = 2 × 100² / 50000 = 0.4, p ≈ 0.527
        assert!((fine.chi_square - 0.4).abs() < 1e-12);
    }

    #[test]
    fn malformed_inputs_are_none() {
        assert!(sample_ratio_mismatch(&[10], &[1.0]).is_none());
        assert!(sample_ratio_mismatch(&[10, 10], &[1.0]).is_none());
        assert!(sample_ratio_mismatch(&[10, 10], &[0.0, 0.0]).is_none());
        assert!(sample_ratio_mismatch(&[10, 10], &[-1.0, 2.0]).is_none());
        let empty = sample_ratio_mismatch(&[0, 0], &[1.0, 1.0]).unwrap();
        assert_eq!(empty.p_value, 1.0);
    }
}
