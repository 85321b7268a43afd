//! Gradient-boosted trees through `forust-ml` (pure Rust, Apache-2.0; the XGBoost algorithm).
//!
//! - [`params`]: hyper-parameters, unchecked as read and checked once ([`GbdtValidParams`]);
//! - `fit` and `early_stopping`: fitting, with the number of trees and the setting chosen on a
//!   validation split or by cross-validation, then a refit on every training row;
//! - `forest`: the flat forest that predicts bit-identically to forust, faster;
//! - [`report`]: what a fit chose and tried;
//! - serialisation: [`GbdtModel`] is saved as forust's booster (the flat forest is rebuilt on
//!   first use), so a reloaded model predicts bit-identically.

mod early_stopping;
mod fit;
mod forest;
mod masks;
pub mod params;
pub mod report;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::GradientBooster;
use serde::{Deserialize, Serialize};

pub use fit::WeightedRows;
use forest::FlatForest;
pub use params::{GbdtParams, GbdtValidParams, Monotone, DEFAULT_VALIDATION_FRACTION};
pub use report::{CrossValidation, CvTrial, DepthTrial, EarlyStopping, GbdtFitReport};

use super::{check_hot, check_rows, ModelError};

/// A fitted booster.
#[derive(Serialize, Deserialize)]
pub struct GbdtModel {
    booster: Box<GradientBooster>,
    /// The trees laid out flat for prediction, built on first use.
    #[serde(skip)]
    flat: OnceLock<FlatForest>,
}

impl std::fmt::Debug for GbdtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbdtModel")
            .field("trees", &self.booster.trees.len())
            .finish()
    }
}

impl GbdtModel {
    /// P(positive) per row; an error unless `rows` holds whole rows of `n_features` values.
    /// Rows narrower than the features the trees split on read the absent ones as missing.
    pub fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        self.predict_proba_shared(rows, n_features, 0)
    }

    /// P(positive) per row, for rows whose first `shared` columns are identical (see
    /// [`crate::models::Scorer::predict_proba_shared`]).
    pub fn predict_proba_shared(
        &self,
        rows: &[f32],
        n_features: usize,
        shared: usize,
    ) -> Result<Vec<f64>, ModelError> {
        check_rows(rows, n_features, None)?;
        if shared > n_features {
            return Err(ModelError::Scoring(format!(
                "{shared} shared columns in rows of {n_features} features"
            )));
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let flat = self.flat.get_or_init(|| FlatForest::new(&self.booster));
        Ok(flat
            .logits(rows, n_features, shared)
            .into_iter()
            .map(|logit| 1.0 / (1.0 + (-logit).exp()))
            .collect())
    }

    /// The sum of the trees per row: the prediction of a squared-error model
    /// ([`GbdtModel::fit_regression`]); the logit of a log-loss one.
    pub fn predict_value(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        check_rows(rows, n_features, None)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let flat = self.flat.get_or_init(|| FlatForest::new(&self.booster));
        Ok(flat.logits(rows, n_features, 0))
    }

    /// P(positive) of each row and of each row with one of the `hot` columns set to 1 (see
    /// [`crate::models::Scorer::predict_proba_onehot`]).
    pub fn predict_proba_onehot(
        &self,
        rows: &[f32],
        n_features: usize,
        hot: &[usize],
    ) -> Result<Vec<f64>, ModelError> {
        check_rows(rows, n_features, None)?;
        check_hot(hot, n_features)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let flat = self.flat.get_or_init(|| FlatForest::new(&self.booster));
        Ok(flat
            .logits_onehot(rows, n_features, hot)
            .into_iter()
            .map(|logit| 1.0 / (1.0 + (-logit).exp()))
            .collect())
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

    /// The trees used for prediction as exportable nodes (go to the true child when
    /// `value < threshold`), with the base score; an error for a booster whose missing-value
    /// rule ONNX cannot express (a missing value other than NaN, a separate missing branch).
    pub fn export_trees(
        &self,
    ) -> Result<(Vec<Vec<super::onnx_export::ExportNode>>, f64), ModelError> {
        use super::onnx_export::ExportNode;
        let b = &self.booster;
        if !b.missing.is_nan() {
            return Err(ModelError::Invalid {
                path: "model".into(),
                problem: format!(
                    "the booster treats {} as missing; ONNX trees only treat NaN so",
                    b.missing
                ),
            });
        }
        let used = b
            .prediction_iteration
            .unwrap_or(b.trees.len())
            .min(b.trees.len());
        let mut trees = Vec::with_capacity(used);
        for (t, tree) in b.trees[..used].iter().enumerate() {
            let mut nodes = Vec::with_capacity(tree.nodes.len());
            for (i, node) in tree.nodes.iter().enumerate() {
                if node.is_leaf {
                    nodes.push(ExportNode::Leaf(f64::from(node.weight_value)));
                    continue;
                }
                let missing_true = if node.missing_node == node.left_child {
                    true
                } else if node.missing_node == node.right_child {
                    false
                } else {
                    return Err(ModelError::Invalid {
                        path: "model".into(),
                        problem: format!(
                            "tree {t} node {i} sends missing values to a third branch, which ONNX trees cannot express"
                        ),
                    });
                };
                nodes.push(ExportNode::Split {
                    feature: node.split_feature,
                    threshold: node.split_value,
                    true_child: node.left_child,
                    false_child: node.right_child,
                    missing_true,
                });
            }
            trees.push(nodes);
        }
        Ok((trees, b.base_score))
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.booster.trees.len()
    }
}
