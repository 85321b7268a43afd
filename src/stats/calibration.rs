//! Calibration tables: does a predicted probability of p come true a share p of the time?

use serde::{Deserialize, Serialize};

use super::quantile::quantile_bins;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn expected_calibration_error_weighs_bins_by_rows() {
        let bin = |count, mean_predicted, observed_rate| CalibrationBin {
            count,
            mean_predicted,
            observed_rate,
        };
        let bins = [bin(30, 0.2, 0.1), bin(10, 0.5, 0.9)];
        let ece = expected_calibration_error(&bins);
        assert!(
            (ece - (30.0 * 0.1 + 10.0 * 0.4) / 40.0).abs() < 1e-12,
            "{ece}"
        );
        assert_eq!(expected_calibration_error(&[]), 0.0);
    }
}
