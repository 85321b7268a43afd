//! Logistic regression on standardised features, fitted with `linfa-logistic` (L-BFGS).
//!
//! The fitted coefficients are kept in nextbest's own format and applied by a plain dot product,
//! so a reloaded model predicts bit-identically and needs no linfa types at serving time.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::ModelError;

/// Hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogisticParams {
    /// L2 penalty on the standardised coefficients (≥ 0).
    pub l2: f64,
    /// L-BFGS iterations (1..=10000).
    pub max_iterations: u64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            l2: 1.0,
            max_iterations: 300,
        }
    }
}

impl LogisticParams {
    /// Checks every range, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(format!(
                "logistic.l2: must be a finite number ≥ 0, got {}",
                self.l2
            ));
        }
        if !(1..=10_000).contains(&self.max_iterations) {
            return Err(format!(
                "logistic.max_iterations: must be within 1..=10000, got {}",
                self.max_iterations
            ));
        }
        Ok(())
    }
}

/// A fitted logistic regression with its standardisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    means: Vec<f64>,
    scales: Vec<f64>,
    coefficients: Vec<f64>,
    intercept: f64,
}

impl LogisticModel {
    /// Fits on row-major rows. Constant features get scale 1 and a zero coefficient.
    pub fn fit(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        params: &LogisticParams,
    ) -> Result<Self, ModelError> {
        params.validate().map_err(ModelError::Training)?;
        super::validate_training_data(rows, n_features, labels)?;
        let n = labels.len();
        let mut means = vec![0.0; n_features];
        let mut scales = vec![0.0; n_features];
        for row in rows.chunks_exact(n_features) {
            for (j, &v) in row.iter().enumerate() {
                means[j] += f64::from(v);
            }
        }
        means.iter_mut().for_each(|m| *m /= n as f64);
        for row in rows.chunks_exact(n_features) {
            for (j, &v) in row.iter().enumerate() {
                scales[j] += (f64::from(v) - means[j]).powi(2);
            }
        }
        for s in &mut scales {
            *s = (*s / n as f64).sqrt();
            if *s < 1e-12 {
                *s = 1.0;
            }
        }
        let x = Array2::from_shape_fn((n, n_features), |(i, j)| {
            (f64::from(rows[i * n_features + j]) - means[j]) / scales[j]
        });
        let y = Array1::from_iter(labels.iter().copied());
        let dataset = Dataset::new(x, y);
        let fitted = LogisticRegression::default()
            .alpha(params.l2)
            .max_iterations(params.max_iterations)
            .fit(&dataset)
            .map_err(|e| ModelError::Training(format!("logistic regression: {e}")))?;
        // linfa's coefficients give P(its "positive" class), which it picks from the data; turn
        // them into P(true) whichever class that was.
        let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
        Ok(LogisticModel {
            means,
            scales,
            coefficients: fitted.params().iter().map(|c| sign * c).collect(),
            intercept: sign * fitted.intercept(),
        })
    }

    /// The number of features it was fitted on.
    pub fn n_features(&self) -> usize {
        self.means.len()
    }

    /// P(positive) per row.
    pub fn predict_proba(&self, rows: &[f32], n_features: usize) -> Vec<f64> {
        rows.chunks_exact(n_features.max(1))
            .map(|row| {
                let z = row
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| {
                        (f64::from(v) - self.means[j]) / self.scales[j] * self.coefficients[j]
                    })
                    .sum::<f64>()
                    + self.intercept;
                1.0 / (1.0 + (-z).exp())
            })
            .collect()
    }

    /// |coefficient| on the standardised scale, normalised to sum to 1.
    pub fn feature_importance(&self) -> Vec<f64> {
        let total: f64 = self.coefficients.iter().map(|c| c.abs()).sum();
        self.coefficients
            .iter()
            .map(|c| if total > 0.0 { c.abs() / total } else { 0.0 })
            .collect()
    }
}
