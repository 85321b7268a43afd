//! What a fit reports besides the model: the size it chose and, with early stopping, every
//! setting it tried (written into `metrics.json`).

use serde::{Deserialize, Serialize};

/// One setting tried on the validation rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthTrial {
    /// Maximum tree depth.
    pub max_depth: usize,
    /// Minimum hessian sum per leaf.
    #[serde(default)]
    pub min_leaf_weight: f64,
    /// Trees at the lowest validation log loss.
    pub best_iterations: usize,
    /// Whether the trees ran out (`iterations`) before the validation loss stopped improving.
    pub hit_limit: bool,
    /// Validation log loss after `best_iterations` trees.
    pub validation_log_loss: f64,
}

/// How early stopping chose the model's size on one validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Rows the trees were grown on during the search.
    pub fit_rows: usize,
    /// Rows set aside to judge them.
    pub validation_rows: usize,
    /// Positive labels among the validation rows.
    pub validation_positives: usize,
    /// Every setting tried, by depth, then by minimum leaf weight from the largest.
    pub trials: Vec<DepthTrial>,
}

/// One setting tried by cross-validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CvTrial {
    /// Maximum tree depth.
    pub max_depth: usize,
    /// Minimum hessian sum per leaf.
    pub min_leaf_weight: f64,
    /// Trees at the lowest log loss over the held-out folds.
    pub best_iterations: usize,
    /// Whether the trees ran out (`iterations`) before that loss stopped improving.
    pub hit_limit: bool,
    /// Log loss over every training row, each predicted by the fold model that did not see
    /// it, after `best_iterations` trees.
    pub log_loss: f64,
    /// Each fold's own validation log loss after `best_iterations` trees.
    pub fold_log_loss: Vec<f64>,
}

/// How cross-validated early stopping chose the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Number of folds.
    pub folds: usize,
    /// Rows validated in each fold.
    pub fold_rows: Vec<usize>,
    /// Positive labels among each fold's rows.
    pub fold_positives: Vec<usize>,
    /// Every setting tried, by depth, then by minimum leaf weight from the largest.
    pub trials: Vec<CvTrial>,
    /// The chosen setting's cross-validated log loss after 1, 1 + `curve_step`, … trees, up
    /// to where its search stopped: how sharp the optimum is.
    pub chosen_curve: Vec<f64>,
    /// Trees between the points of `chosen_curve`.
    pub curve_step: usize,
}

/// What a fit produced besides the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtFitReport {
    /// Trees in the final model.
    pub iterations_used: usize,
    /// Maximum depth of the final model's trees.
    pub max_depth_used: usize,
    /// Minimum leaf weight of the final model.
    pub min_leaf_weight_used: f64,
    /// The validation search, when early stopping on one split.
    pub early_stopping: Option<EarlyStopping>,
    /// The cross-validated search, when early stopping with `cv_folds`.
    pub cross_validation: Option<CrossValidation>,
}
