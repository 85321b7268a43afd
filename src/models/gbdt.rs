//! Gradient-boosted trees through `forust-ml` (pure Rust, Apache-2.0; the XGBoost algorithm).

use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

use super::ModelError;

/// Hyper-parameters, validated before fitting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GbdtParams {
    /// Boosting rounds (1..=5000).
    pub iterations: usize,
    /// Shrinkage per round (0 < η ≤ 1).
    pub learning_rate: f64,
    /// Maximum tree depth (1..=16).
    pub max_depth: usize,
    /// L2 regularisation of leaf weights (≥ 0).
    pub l2: f64,
    /// Minimum hessian sum per leaf (≥ 0).
    pub min_leaf_weight: f64,
    /// Row subsample per round (0 < s ≤ 1).
    pub subsample: f64,
    /// Column subsample per tree (0 < c ≤ 1).
    pub colsample_bytree: f64,
    /// Histogram bins per feature (2..=255).
    pub nbins: u16,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            iterations: 300,
            learning_rate: 0.05,
            max_depth: 3,
            l2: 1.0,
            min_leaf_weight: 20.0,
            subsample: 0.8,
            colsample_bytree: 0.8,
            nbins: 255,
        }
    }
}

impl GbdtParams {
    /// Checks every range, naming the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let within = |key: &str, ok: bool, expected: &str, got: String| {
            if ok {
                Ok(())
            } else {
                Err(format!("gbdt.{key}: must be {expected}, got {got}"))
            }
        };
        within(
            "iterations",
            (1..=5000).contains(&self.iterations),
            "within 1..=5000",
            self.iterations.to_string(),
        )?;
        within(
            "learning_rate",
            self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            "in (0, 1]",
            self.learning_rate.to_string(),
        )?;
        within(
            "max_depth",
            (1..=16).contains(&self.max_depth),
            "within 1..=16",
            self.max_depth.to_string(),
        )?;
        within(
            "l2",
            self.l2 >= 0.0 && self.l2.is_finite(),
            "a finite number ≥ 0",
            self.l2.to_string(),
        )?;
        within(
            "min_leaf_weight",
            self.min_leaf_weight >= 0.0 && self.min_leaf_weight.is_finite(),
            "a finite number ≥ 0",
            self.min_leaf_weight.to_string(),
        )?;
        within(
            "subsample",
            self.subsample > 0.0 && self.subsample <= 1.0,
            "in (0, 1]",
            self.subsample.to_string(),
        )?;
        within(
            "colsample_bytree",
            self.colsample_bytree > 0.0 && self.colsample_bytree <= 1.0,
            "in (0, 1]",
            self.colsample_bytree.to_string(),
        )?;
        within(
            "nbins",
            (2..=255).contains(&self.nbins),
            "within 2..=255",
            self.nbins.to_string(),
        )
    }
}

/// A fitted booster.
#[derive(Serialize, Deserialize)]
pub struct GbdtModel {
    booster: Box<GradientBooster>,
}

impl std::fmt::Debug for GbdtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbdtModel")
            .field("trees", &self.booster.trees.len())
            .finish()
    }
}

/// Row-major f32 rows → the column-major f64 layout forust reads.
fn column_major(rows: &[f32], n_features: usize) -> Vec<f64> {
    let n = rows.len().checked_div(n_features).unwrap_or(0);
    let mut columns = vec![0.0; n * n_features];
    for (r, row) in rows.chunks_exact(n_features.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            columns[c * n + r] = f64::from(v);
        }
    }
    columns
}

impl GbdtModel {
    /// Fits a log-loss booster. Deterministic for a seed: histograms are built on one thread so
    /// floating-point sums never change order.
    pub fn fit(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        params: &GbdtParams,
        seed: u64,
    ) -> Result<Self, ModelError> {
        params.validate().map_err(ModelError::Training)?;
        super::validate_training_data(rows, n_features, labels)?;
        let n = labels.len();
        let columns = column_major(rows, n_features);
        let matrix = Matrix::new(&columns, n, n_features);
        let y: Vec<f64> = labels.iter().map(|&l| f64::from(u8::from(l))).collect();
        let weights = vec![1.0; n];
        let mut booster = GradientBooster::default()
            .set_iterations(params.iterations)
            .set_learning_rate(params.learning_rate as f32)
            .set_max_depth(params.max_depth)
            .set_l2(params.l2 as f32)
            .set_min_leaf_weight(params.min_leaf_weight as f32)
            .set_subsample(params.subsample as f32)
            .set_colsample_bytree(params.colsample_bytree)
            .set_nbins(params.nbins)
            .set_seed(seed)
            .set_parallel(false)
            .set_initialize_base_score(true);
        booster
            .fit(&matrix, &y, &weights, None)
            .map_err(|e| ModelError::Training(format!("gradient boosting: {e}")))?;
        Ok(GbdtModel {
            booster: Box::new(booster),
        })
    }

    /// P(positive) per row.
    pub fn predict_proba(&self, rows: &[f32], n_features: usize) -> Vec<f64> {
        if n_features == 0 || rows.is_empty() {
            return Vec::new();
        }
        let n = rows.len() / n_features;
        let columns = column_major(rows, n_features);
        let matrix = Matrix::new(&columns, n, n_features);
        self.booster
            .predict(&matrix, false)
            .into_iter()
            .map(|logit| 1.0 / (1.0 + (-logit).exp()))
            .collect()
    }

    /// Total split gain per feature, normalised to sum to 1.
    pub fn feature_importance(&self, n_features: usize) -> Vec<f64> {
        let map = self
            .booster
            .calculate_feature_importance(ImportanceMethod::TotalGain, true);
        (0..n_features)
            .map(|i| f64::from(map.get(&i).copied().unwrap_or(0.0)))
            .collect()
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.booster.trees.len()
    }
}
