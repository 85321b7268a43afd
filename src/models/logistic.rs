//! Logistic regression on standardised features, fitted with `linfa-logistic` (L-BFGS).
//!
//! The fitted coefficients are kept in nextbest's own format and applied by a plain dot product,
//! so a reloaded model predicts bit-identically and needs no linfa types at serving time.

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::params::{require, InvalidSetting, ParamGuard};
use super::{check_rows, ModelError};

/// Hyper-parameters as a config states them (unchecked); [`ParamGuard::check`] makes them
/// [`LogisticValidParams`].
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

/// Checked [`LogisticParams`]: what [`LogisticModel::fit`] takes.
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticValidParams(LogisticParams);

impl std::ops::Deref for LogisticValidParams {
    type Target = LogisticParams;

    fn deref(&self) -> &LogisticParams {
        &self.0
    }
}

impl ParamGuard for LogisticParams {
    type Checked = LogisticValidParams;

    /// Checks every range, naming the offending key.
    fn check(&self) -> Result<LogisticValidParams, InvalidSetting> {
        require(
            self.l2 >= 0.0 && self.l2.is_finite(),
            "logistic.l2",
            "a finite number ≥ 0",
            self.l2,
        )?;
        require(
            (1..=10_000).contains(&self.max_iterations),
            "logistic.max_iterations",
            "within 1..=10000",
            self.max_iterations,
        )?;
        Ok(LogisticValidParams(self.clone()))
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
        params: &LogisticValidParams,
    ) -> Result<Self, ModelError> {
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

    /// P(positive) per row; an error unless `rows` holds whole rows of exactly the model's
    /// features.
    pub fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        check_rows(rows, n_features, Some(self.n_features()))?;
        Ok(rows
            .chunks_exact(n_features)
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
            .collect())
    }

    /// The weights and intercept on the raw features (the standardisation folded in):
    /// `z = Σ xⱼ·wⱼ + b`, for exporting.
    pub fn folded(&self) -> (Vec<f64>, f64) {
        let weights: Vec<f64> = self
            .coefficients
            .iter()
            .zip(&self.scales)
            .map(|(c, s)| c / s)
            .collect();
        let shift: f64 = weights.iter().zip(&self.means).map(|(w, m)| w * m).sum();
        (weights, self.intercept - shift)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted() -> LogisticModel {
        let rows: Vec<f32> = (0..40).map(|i| (i % 7) as f32).collect();
        let labels: Vec<bool> = (0..20).map(|i| i % 3 == 0).collect();
        let params = LogisticParams::default().check().unwrap();
        LogisticModel::fit(&rows, 2, &labels, &params).unwrap()
    }

    #[test]
    fn short_or_wide_rows_are_errors_not_panics() {
        let model = fitted();
        assert_eq!(
            model.predict_proba(&[1.0, 2.0, 3.0, 4.0], 2).unwrap().len(),
            2
        );
        // Three values are not whole rows of two.
        let error = model.predict_proba(&[1.0, 2.0, 3.0], 2).unwrap_err();
        assert_eq!(error.code(), "model_scoring_failed");
        // Rows of three features for a model of two: the coefficients would be read past
        // their end.
        let error = model.predict_proba(&[1.0, 2.0, 3.0], 3).unwrap_err();
        assert!(error.to_string().contains("the model takes 2"), "{error}");
        assert!(model.predict_proba(&[], 0).is_err());
    }

    #[test]
    fn bad_params_name_the_key() {
        let params = LogisticParams {
            l2: -1.0,
            ..LogisticParams::default()
        };
        assert_eq!(
            params.check().unwrap_err().to_string(),
            "logistic.l2: must be a finite number ≥ 0, got -1"
        );
        let params = LogisticParams {
            max_iterations: 0,
            ..LogisticParams::default()
        };
        assert!(params
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("logistic.max_iterations: must be within 1..=10000"));
    }
}
