//! Multiple comparisons: with several treatment arms and several primary metrics, some p-value
//! falls below 0.05 by chance alone. Adjusted p-values restore the promise: Holm–Bonferroni
//! bounds the chance of *any* false positive (family-wise error), Benjamini–Hochberg the
//! expected *share* of false positives among the discoveries (false discovery rate).
//!
//! Inputs are p-values in [0, 1]; outputs come back in the input's order.

/// The indices of `p_values` from the smallest p-value to the largest (ties keep their order).
fn ascending_order(p_values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    order
}

/// Holm–Bonferroni adjusted p-values: sorted ascending, the k-th smallest (k from 0) becomes
/// max over j ≤ k of min(1, (m − j)·p₍ⱼ₎). Reject where the adjusted value is below alpha.
///
/// Matches `statsmodels.stats.multitest.multipletests(method="holm")`.
pub fn holm_bonferroni(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut adjusted = vec![0.0; m];
    let mut running_max: f64 = 0.0;
    for (rank, &index) in ascending_order(p_values).iter().enumerate() {
        let scaled = ((m - rank) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[index] = running_max;
    }
    adjusted
}

/// Benjamini–Hochberg adjusted p-values (q-values): sorted ascending, the k-th smallest (k from
/// 1) becomes min over j ≥ k of min(1, m/j·p₍ⱼ₎).
///
/// Matches `statsmodels.stats.multitest.multipletests(method="fdr_bh")` and
/// `scipy.stats.false_discovery_control(method="bh")`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut adjusted = vec![0.0; m];
    let mut running_min: f64 = 1.0;
    let order = ascending_order(p_values);
    for (rank, &index) in order.iter().enumerate().rev() {
        let scaled = (m as f64 / (rank + 1) as f64 * p_values[index]).min(1.0);
        running_min = running_min.min(scaled);
        adjusted[index] = running_min;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_p_value_is_unchanged_and_order_is_kept() {
        assert_eq!(holm_bonferroni(&[0.03]), vec![0.03]);
        assert_eq!(benjamini_hochberg(&[0.03]), vec![0.03]);
        assert!(holm_bonferroni(&[]).is_empty());
        let holm = holm_bonferroni(&[0.04, 0.01]);
        assert!((holm[0] - 0.04).abs() < 1e-15 && (holm[1] - 0.02).abs() < 1e-15);
        let bh = benjamini_hochberg(&[0.04, 0.01]);
        assert!((bh[0] - 0.04).abs() < 1e-15 && (bh[1] - 0.02).abs() < 1e-15);
    }
}
