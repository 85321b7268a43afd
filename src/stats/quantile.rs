//! Equal-count bins of rows by score, the basis of decile tables.

/// Row indices split into `bins` equal-count groups by ascending score (empty groups dropped;
/// ties broken by row index, so the grouping is deterministic).
pub fn quantile_bins(scores: &[f64], bins: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let n = order.len();
    (0..bins)
        .map(|b| order[b * n / bins..(b + 1) * n / bins].to_vec())
        .filter(|rows| !rows.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_row_once_in_score_order() {
        let scores = [0.9, 0.1, 0.5, 0.3, 0.7];
        let bins = quantile_bins(&scores, 2);
        assert_eq!(bins, vec![vec![1, 3], vec![2, 4, 0]]);
        // More bins than rows: the empty ones are dropped.
        assert_eq!(quantile_bins(&scores[..2], 10).len(), 2);
        assert!(quantile_bins(&[], 10).is_empty());
    }
}
