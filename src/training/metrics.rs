//! Model quality metrics as pure functions over predictions and outcomes.

use serde::{Deserialize, Serialize};

/// Area under the ROC curve (the probability a random positive outranks a random negative, ties
/// counting half). `None` when one class is absent.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let positives = labels.iter().filter(|&&y| y).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of (average) ranks of the positives, ties sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] {
                rank_sum += mean_rank;
            }
        }
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Mean negative log-likelihood, probabilities clipped to [1e-15, 1 − 1e-15].
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n
}

/// Mean squared error of the probabilities.
pub fn brier(probabilities: &[f64], labels: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2))
        .sum::<f64>()
        / n
}

/// One bin of a calibration table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Rows in the bin.
    pub count: usize,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Observed positive rate.
    pub observed_rate: f64,
}

/// Calibration by deciles of the predicted probability (equal-count bins, ties kept together
/// as far as the order allows).
pub fn calibration_deciles(probabilities: &[f64], labels: &[bool]) -> Vec<CalibrationBin> {
    quantile_bins(probabilities, 10)
        .into_iter()
        .map(|rows| {
            let count = rows.len();
            let mean_predicted = rows.iter().map(|&i| probabilities[i]).sum::<f64>() / count as f64;
            let observed_rate = rows.iter().filter(|&&i| labels[i]).count() as f64 / count as f64;
            CalibrationBin {
                count,
                mean_predicted,
                observed_rate,
            }
        })
        .collect()
}

/// Row indices split into `bins` equal-count groups by ascending score (empty groups dropped).
pub fn quantile_bins(scores: &[f64], bins: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let n = order.len();
    (0..bins)
        .map(|b| order[b * n / bins..(b + 1) * n / bins].to_vec())
        .filter(|rows| !rows.is_empty())
        .collect()
}

/// Expected calibration error: count-weighted mean |predicted − observed| over the bins.
pub fn expected_calibration_error(bins: &[CalibrationBin]) -> f64 {
    let total: usize = bins.iter().map(|b| b.count).sum();
    if total == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.count as f64 * (b.mean_predicted - b.observed_rate).abs())
        .sum::<f64>()
        / total as f64
}

/// Uplift per decile of predicted uplift (highest first): treated and control response rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpliftBin {
    /// Mean predicted uplift in the bin.
    pub mean_predicted_uplift: f64,
    /// Treated rows and their response rate.
    pub treated: usize,
    /// Response rate of the treated.
    pub treated_rate: f64,
    /// Control rows.
    pub control: usize,
    /// Response rate of the control.
    pub control_rate: f64,
    /// Observed uplift: treated rate − control rate.
    pub observed_uplift: f64,
}

/// Observed uplift by decile of predicted uplift, highest predicted uplift first.
pub fn uplift_deciles(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
) -> Vec<UpliftBin> {
    let mut bins = quantile_bins(predicted_uplift, 10);
    bins.reverse();
    bins.into_iter()
        .map(|rows| {
            let rate = |want: bool| {
                let group: Vec<usize> = rows
                    .iter()
                    .copied()
                    .filter(|&i| treated[i] == want)
                    .collect();
                let hits = group.iter().filter(|&&i| outcome[i]).count();
                (
                    group.len(),
                    if group.is_empty() {
                        0.0
                    } else {
                        hits as f64 / group.len() as f64
                    },
                )
            };
            let (t, tr) = rate(true);
            let (c, cr) = rate(false);
            UpliftBin {
                mean_predicted_uplift: rows.iter().map(|&i| predicted_uplift[i]).sum::<f64>()
                    / rows.len() as f64,
                treated: t,
                treated_rate: tr,
                control: c,
                control_rate: cr,
                observed_uplift: tr - cr,
            }
        })
        .collect()
}

/// The Qini coefficient: area between the Qini curve of the ranking and the random-targeting
/// line, normalised by the number of rows (Radcliffe 2007). Targeting the top k rows by predicted
/// uplift, the curve is `Q(k) = R_t(k) − R_c(k) · N_t(k) / N_c(k)` (incremental responders);
/// positive means the ranking beats random targeting.
pub fn qini_coefficient(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
) -> Option<f64> {
    let n = predicted_uplift.len();
    let total_t = treated.iter().filter(|&&t| t).count();
    let total_c = n - total_t;
    if n == 0 || total_t == 0 || total_c == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        predicted_uplift[b]
            .total_cmp(&predicted_uplift[a])
            .then(a.cmp(&b))
    });
    let (mut nt, mut nc, mut rt, mut rc) = (0.0, 0.0, 0.0, 0.0);
    let final_gain = {
        let rt_all = (0..n).filter(|&i| treated[i] && outcome[i]).count() as f64;
        let rc_all = (0..n).filter(|&i| !treated[i] && outcome[i]).count() as f64;
        rt_all - rc_all * total_t as f64 / total_c as f64
    };
    let mut area = 0.0;
    for (k, &i) in order.iter().enumerate() {
        if treated[i] {
            nt += 1.0;
            rt += f64::from(u8::from(outcome[i]));
        } else {
            nc += 1.0;
            rc += f64::from(u8::from(outcome[i]));
        }
        let gain = if nc > 0.0 { rt - rc * nt / nc } else { rt };
        let random = final_gain * (k + 1) as f64 / n as f64;
        area += gain - random;
    }
    Some(area / (n as f64 * n as f64))
}

/// Pearson correlation; `None` if either side is constant.
pub fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < 2 {
        return None;
    }
    let mean = |x: &[f64]| x[..n].iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (da, db) = (a[i] - ma, b[i] - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values computed with scikit-learn's documented examples.
    #[test]
    fn auc_matches_scikit_learn() {
        let labels = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &labels), Some(0.75));
        // Ties count half.
        assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &labels), Some(0.5));
        assert_eq!(auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn log_loss_and_brier_match_scikit_learn() {
        // sklearn.metrics.log_loss(["spam","ham","ham","spam"], [[.1,.9],[.9,.1],[.8,.2],[.35,.65]])
        let loss = log_loss(&[0.9, 0.1, 0.2, 0.65], &[true, false, false, true]);
        assert!((loss - 0.216_161_5).abs() < 1e-6, "{loss}");
        // sklearn.metrics.brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3])
        let score = brier(&[0.1, 0.9, 0.8, 0.3], &[false, true, true, false]);
        assert!((score - 0.0375).abs() < 1e-12);
    }

    #[test]
    fn calibration_bins_cover_every_row() {
        let p: Vec<f64> = (0..95).map(|i| f64::from(i) / 95.0).collect();
        let y: Vec<bool> = (0..95).map(|i| i % 3 == 0).collect();
        let bins = calibration_deciles(&p, &y);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins.iter().map(|b| b.count).sum::<usize>(), 95);
        assert!(bins
            .windows(2)
            .all(|w| w[0].mean_predicted < w[1].mean_predicted));
    }

    #[test]
    fn qini_rewards_a_ranking_that_finds_the_persuadables() {
        // Rows 0..50 respond only when treated; rows 50..100 never respond.
        let treated: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let outcome: Vec<bool> = (0..100).map(|i| i < 50 && i % 2 == 0).collect();
        let good: Vec<f64> = (0..100).map(|i| if i < 50 { 1.0 } else { 0.0 }).collect();
        let bad: Vec<f64> = good.iter().map(|u| 1.0 - u).collect();
        let q_good = qini_coefficient(&good, &treated, &outcome).unwrap();
        let q_bad = qini_coefficient(&bad, &treated, &outcome).unwrap();
        assert!(q_good > 0.05 && q_bad < -0.05, "{q_good} {q_bad}");
        let deciles = uplift_deciles(&good, &treated, &outcome);
        assert!(deciles[0].observed_uplift > 0.9 && deciles[9].observed_uplift.abs() < 1e-12);
    }
}
