//! Gradient-boosted trees through `forust-ml` (pure Rust, Apache-2.0; the XGBoost algorithm).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use forust_ml::constraints::{Constraint, ConstraintMap};
use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::metric::Metric;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::fnv::Fnv1a;

/// Share of the training rows early stopping sets aside when `validation_fraction` is absent.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;

/// How P(positive) must move as a feature grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monotone {
    /// Never falls as the feature grows.
    Increasing,
    /// Never rises as the feature grows.
    Decreasing,
}

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
    /// Early stopping (off when absent): set aside validation rows (`validation_fraction`, or
    /// each of `cv_folds` in turn), add trees until their log loss has not improved for this
    /// many rounds (1..=5000), then refit on every training row with the best number of trees.
    pub early_stopping_rounds: Option<usize>,
    /// Share of the training rows set aside for early stopping (0 < f ≤ 0.5; 0.2 when absent);
    /// whole customers when the caller passes customer ids, so no customer is on both sides.
    /// Not with `cv_folds`, where every fold is validated in turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// Cross-validated early stopping (2..=20 folds; needs `early_stopping_rounds`): the
    /// customers are dealt into this many folds by a salted hash of the id, every candidate
    /// setting is grown on each fold's complement, and the setting and number of trees with
    /// the lowest log loss over all held-out folds win. Slower than one validation split by
    /// about the number of folds, and much less noisy on small data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
    /// Further depths to try besides `max_depth` (at most 8, each 1..=16) when early stopping;
    /// the setting with the lowest validation log loss wins, ties going to the shallower tree.
    pub max_depth_candidates: Vec<usize>,
    /// Further minimum leaf weights to try besides `min_leaf_weight` (at most 8, each finite
    /// and ≥ 0) when early stopping, crossed with the depths; ties go to the larger weight.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub min_leaf_weight_candidates: Vec<f64>,
    /// Monotone constraints by feature name: the model's P(positive) may only rise
    /// (`increasing`) or only fall (`decreasing`) as that feature grows, all else equal. For
    /// relations known before seeing the data (more days since the last purchase, more churn);
    /// they keep small-data trees from fitting noise against them. Names are checked against
    /// the model's features when training starts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub monotone: BTreeMap<String, Monotone>,
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
            early_stopping_rounds: None,
            validation_fraction: None,
            cv_folds: None,
            max_depth_candidates: Vec::new(),
            min_leaf_weight_candidates: Vec::new(),
            monotone: BTreeMap::new(),
        }
    }
}

impl GbdtParams {
    /// Checks every range, naming the offending key. Monotone feature names need the model's
    /// features: see [`GbdtParams::monotone_columns`].
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
        )?;
        if let Some(rounds) = self.early_stopping_rounds {
            within(
                "early_stopping_rounds",
                (1..=5000).contains(&rounds),
                "within 1..=5000",
                rounds.to_string(),
            )?;
        }
        if let Some(fraction) = self.validation_fraction {
            within(
                "validation_fraction",
                fraction > 0.0 && fraction <= 0.5,
                "in (0, 0.5]",
                fraction.to_string(),
            )?;
        }
        if let Some(folds) = self.cv_folds {
            within(
                "cv_folds",
                (2..=20).contains(&folds),
                "within 2..=20",
                folds.to_string(),
            )?;
            within(
                "cv_folds",
                self.early_stopping_rounds.is_some(),
                "absent unless early_stopping_rounds is set (the folds choose the number of trees)",
                folds.to_string(),
            )?;
            if let Some(fraction) = self.validation_fraction {
                within(
                    "validation_fraction",
                    false,
                    "absent when cv_folds is set (each fold is validated in turn)",
                    fraction.to_string(),
                )?;
            }
        }
        let depths = &self.max_depth_candidates;
        within(
            "max_depth_candidates",
            depths.len() <= 8 && depths.iter().all(|d| (1..=16).contains(d)),
            "at most 8 depths, each within 1..=16",
            format!("{depths:?}"),
        )?;
        within(
            "max_depth_candidates",
            depths.is_empty() || self.early_stopping_rounds.is_some(),
            "empty unless early_stopping_rounds is set (depths are chosen on the validation rows)",
            format!("{depths:?}"),
        )?;
        let weights = &self.min_leaf_weight_candidates;
        within(
            "min_leaf_weight_candidates",
            weights.len() <= 8 && weights.iter().all(|w| *w >= 0.0 && w.is_finite()),
            "at most 8 weights, each a finite number ≥ 0",
            format!("{weights:?}"),
        )?;
        within(
            "min_leaf_weight_candidates",
            weights.is_empty() || self.early_stopping_rounds.is_some(),
            "empty unless early_stopping_rounds is set (weights are chosen on the validation rows)",
            format!("{weights:?}"),
        )
    }

    /// The monotone constraints as (column, direction) in column order, given the names of the
    /// model's input columns; an unknown name is an error naming its key.
    pub fn monotone_columns(&self, names: &[String]) -> Result<Vec<(usize, Monotone)>, String> {
        let mut columns = Vec::with_capacity(self.monotone.len());
        for (name, &direction) in &self.monotone {
            let Some(column) = names.iter().position(|n| n == name) else {
                return Err(format!(
                    "gbdt.monotone.{name}: not a feature of this model (its features: {})",
                    names.join(", ")
                ));
            };
            columns.push((column, direction));
        }
        columns.sort_unstable_by_key(|&(column, _)| column);
        Ok(columns)
    }

    /// The settings early stopping compares: every depth with every minimum leaf weight,
    /// shallowest first and, within a depth, the largest weight first, so that ties (kept by
    /// the first) go to the more regularised model.
    fn settings(&self) -> Vec<Setting> {
        let mut depths = self.max_depth_candidates.clone();
        depths.push(self.max_depth);
        depths.sort_unstable();
        depths.dedup();
        let mut weights = self.min_leaf_weight_candidates.clone();
        weights.push(self.min_leaf_weight);
        weights.sort_unstable_by(|a, b| b.total_cmp(a));
        weights.dedup();
        depths
            .iter()
            .flat_map(|&max_depth| {
                weights.iter().map(move |&min_leaf_weight| Setting {
                    max_depth,
                    min_leaf_weight,
                })
            })
            .collect()
    }
}

/// The hyper-parameters early stopping searches over.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Setting {
    max_depth: usize,
    min_leaf_weight: f64,
}

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

/// A fitted booster.
#[derive(Serialize, Deserialize)]
pub struct GbdtModel {
    booster: Box<GradientBooster>,
    /// The trees laid out flat for prediction, built on first use.
    #[serde(skip)]
    flat: OnceLock<FlatForest>,
}

/// One node of [`FlatForest`]. Leaves point to themselves, so a walk can take a fixed number of
/// steps (the tree's depth) without checking for leaves.
#[derive(Clone, Copy, Debug)]
struct FlatNode {
    /// Go left when `value < threshold`: the smallest f32 at or above forust's f64 split, so the
    /// f32 comparison decides exactly like forust's `f64::from(value) < split`.
    threshold: f32,
    feature: u32,
    left: u32,
    right: u32,
    missing: u32,
    /// Leaf weight (unused on splits).
    value: f64,
}

/// The booster's prediction trees in one array with absolute child indices. Predicting walks
/// the f32 rows directly, tree by tree and level by level across all rows: the rows' walks are
/// independent, so the CPU overlaps them instead of waiting on one chain of loads and branches.
/// The arithmetic is forust's (base score, then each tree's leaf value in order), so results are
/// bit-identical to `GradientBooster::predict`.
#[derive(Debug)]
struct FlatForest {
    nodes: Vec<FlatNode>,
    /// Root index and depth of each tree.
    trees: Vec<(u32, u32)>,
    base_score: f64,
    missing: f64,
    /// Rows must have more columns than this.
    max_feature: usize,
    /// Highest feature each tree splits on (index-aligned with `trees`).
    tree_max_feature: Vec<usize>,
}

/// The smallest f32 that is ≥ `split` (infinite beyond f32's range, NaN for NaN).
fn f32_threshold(split: f64) -> f32 {
    let t = split as f32;
    if f64::from(t) >= split || t.is_nan() {
        return t;
    }
    // Round up by one unit in the last place.
    let bits = t.to_bits();
    if t == 0.0 {
        f32::from_bits(1)
    } else if t > 0.0 {
        f32::from_bits(bits + 1)
    } else {
        f32::from_bits(bits - 1)
    }
}

impl FlatForest {
    fn new(booster: &GradientBooster) -> Self {
        let used = booster
            .prediction_iteration
            .unwrap_or(booster.trees.len())
            .min(booster.trees.len());
        let mut nodes: Vec<FlatNode> = Vec::new();
        let mut trees = Vec::with_capacity(used);
        let mut tree_max_feature = Vec::with_capacity(used);
        let mut max_feature = 0;
        let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        for tree in &booster.trees[..used] {
            let offset = nodes.len();
            let count = tree.nodes.len();
            // A child outside the tree (malformed model) becomes a self-loop: never a panic.
            let child = |own: usize, i: usize| index(offset + if i < count { i } else { own });
            let mut depth = 0;
            let mut highest = 0;
            for (i, node) in tree.nodes.iter().enumerate() {
                depth = depth.max(node.depth);
                if !node.is_leaf {
                    highest = highest.max(node.split_feature);
                }
                nodes.push(if node.is_leaf {
                    FlatNode {
                        threshold: f32::NAN,
                        feature: 0,
                        left: index(offset + i),
                        right: index(offset + i),
                        missing: index(offset + i),
                        value: f64::from(node.weight_value),
                    }
                } else {
                    max_feature = max_feature.max(node.split_feature);
                    FlatNode {
                        threshold: f32_threshold(node.split_value),
                        feature: index(node.split_feature),
                        left: child(i, node.left_child),
                        right: child(i, node.right_child),
                        missing: child(i, node.missing_node),
                        value: 0.0,
                    }
                });
            }
            if count > 0 {
                trees.push((index(offset), index(depth)));
                tree_max_feature.push(highest);
            }
        }
        FlatForest {
            nodes,
            trees,
            base_score: booster.base_score,
            missing: booster.missing,
            max_feature,
            tree_max_feature,
        }
    }

    /// Log-odds of each row, for rows whose first `shared` columns are identical: a tree that
    /// splits only on those columns puts every row in the same leaf, so it is walked once.
    fn logits(&self, rows: &[f32], n_features: usize, shared: usize) -> Vec<f64> {
        if n_features <= self.max_feature {
            // Rows narrower than the model: the absent features read as missing.
            let width = self.max_feature + 1;
            let mut padded = Vec::with_capacity(rows.len() / n_features.max(1) * width);
            for row in rows.chunks_exact(n_features.max(1)) {
                padded.extend_from_slice(row);
                padded.extend(std::iter::repeat_n(f32::NAN, width - row.len()));
            }
            return self.logits(&padded, width, shared);
        }
        let n = rows.len() / n_features;
        let mut sums = vec![self.base_score; n];
        let mut at = vec![0u32; n];
        let missing_is_nan = self.missing.is_nan();
        let missing = self.missing as f32;
        for (t, &(root, depth)) in self.trees.iter().enumerate() {
            // Rows beyond the first only matter when the tree reads a column they differ in.
            let walked = if self.tree_max_feature[t] < shared {
                n.min(1)
            } else {
                n
            };
            at.fill(root);
            for _ in 0..depth {
                for (r, i) in at[..walked].iter_mut().enumerate() {
                    let node = &self.nodes[*i as usize];
                    let v = rows[r * n_features + node.feature as usize];
                    let is_missing = if missing_is_nan {
                        v.is_nan()
                    } else {
                        v == missing
                    };
                    *i = if is_missing {
                        node.missing
                    } else if v < node.threshold {
                        node.left
                    } else {
                        node.right
                    };
                }
            }
            if walked < n {
                let first = at[0];
                at.fill(first);
            }
            for (sum, &i) in sums.iter_mut().zip(&at) {
                *sum += self.nodes[i as usize].value;
            }
        }
        sums
    }
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

/// A labelled matrix in forust's layout.
struct Rows {
    columns: Vec<f64>,
    n: usize,
    n_features: usize,
    y: Vec<f64>,
    weights: Vec<f64>,
}

impl Rows {
    fn new(rows: &[f32], n_features: usize, labels: &[bool]) -> Self {
        Rows {
            columns: column_major(rows, n_features),
            n: labels.len(),
            n_features,
            y: labels.iter().map(|&l| f64::from(u8::from(l))).collect(),
            weights: vec![1.0; labels.len()],
        }
    }

    fn matrix(&self) -> Matrix<'_, f64> {
        Matrix::new(&self.columns, self.n, self.n_features)
    }

    fn positives(&self) -> usize {
        self.y.iter().filter(|&&y| y > 0.5).count()
    }
}

/// The training rows with the key that decides which side of a split each row is on.
struct Training<'a> {
    rows: &'a [f32],
    n_features: usize,
    labels: &'a [bool],
    groups: Option<&'a [String]>,
}

impl Training<'_> {
    /// Row `i`'s split key: its group (customer id), or else its row number.
    fn key(&self, i: usize) -> std::borrow::Cow<'_, [u8]> {
        match self.groups {
            Some(groups) => groups[i].as_bytes().into(),
            None => (i as u64).to_le_bytes().to_vec().into(),
        }
    }

    /// Each row's cross-validation fold (< `folds`): a salted hash of its key, so a customer's
    /// rows share a fold, and the folds are independent of the customer holdout.
    fn folds(&self, folds: usize, seed: u64) -> Vec<usize> {
        let salt = salt(b"nextbest/gbdt-cv/", seed);
        (0..self.labels.len())
            .map(|i| Fnv1a::salted_bucket(&salt, &self.key(i), folds))
            .collect()
    }

    /// (rows to fit, rows to validate) for a choice of validation rows.
    fn partition(&self, validate: impl Fn(usize) -> bool) -> (Rows, Rows) {
        let (mut fit_rows, mut fit_labels) = (Vec::new(), Vec::new());
        let (mut val_rows, mut val_labels) = (Vec::new(), Vec::new());
        let rows = self.rows.chunks_exact(self.n_features);
        for (i, (row, &label)) in rows.zip(self.labels).enumerate() {
            let (side_rows, side_labels) = if validate(i) {
                (&mut val_rows, &mut val_labels)
            } else {
                (&mut fit_rows, &mut fit_labels)
            };
            side_rows.extend_from_slice(row);
            side_labels.push(label);
        }
        (
            Rows::new(&fit_rows, self.n_features, &fit_labels),
            Rows::new(&val_rows, self.n_features, &val_labels),
        )
    }
}

/// The salt of a split: its name and the seed.
fn salt(name: &[u8], seed: u64) -> Vec<u8> {
    let mut salt = name.to_vec();
    salt.extend_from_slice(&seed.to_le_bytes());
    salt
}

/// Scans a validation loss curve the way forust's early stopping does: the index of the
/// lowest loss so far, and the index at which `patience` rounds have passed without a strict
/// improvement (none if the curve ends first).
fn early_stop(curve: &[f64], patience: usize) -> (usize, Option<usize>) {
    let mut best = 0;
    for (i, &loss) in curve.iter().enumerate() {
        if loss < curve[best] {
            best = i;
        } else if i - best >= patience {
            return (best, Some(i));
        }
    }
    (best, None)
}

/// Makes every tree exactly monotone in the constrained columns. forust bounds the weights
/// below a split on a constrained column (the left side below the mean of the two children's
/// weights, the right side above it, or the reverse), but clamps a child to those bounds only
/// when the child's own split is on a constrained column too: below a split on any other
/// column, one child can leave its bounds and the constraint fails by a little. This clamps
/// every leaf to the bounds its constrained ancestors set (the same bounds forust uses, the
/// way XGBoost and LightGBM apply them), so for two rows that differ only in a constrained
/// column, the leaves they reach are ordered at the split where their paths part.
fn enforce_monotone(booster: &mut GradientBooster, constraints: &ConstraintMap) {
    for tree in &mut booster.trees {
        let nodes = &mut tree.nodes;
        let mut seen = vec![false; nodes.len()];
        let mut stack = vec![(0, f32::NEG_INFINITY, f32::INFINITY)];
        while let Some((i, lower, upper)) = stack.pop() {
            // A missing-value branch may be one of the children: the first visit bounds it.
            if i >= nodes.len() || std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let node = &nodes[i];
            if node.is_leaf {
                nodes[i].weight_value = nodes[i].weight_value.max(lower).min(upper);
                continue;
            }
            let (left, right, missing) = (node.left_child, node.right_child, node.missing_node);
            let weight = |n: usize| nodes.get(n).map_or(0.0, |n| n.weight_value);
            let mid = ((weight(left) + weight(right)) / 2.0).max(lower).min(upper);
            let (left_bounds, right_bounds) = match constraints.get(&node.split_feature) {
                Some(Constraint::Positive) => ((lower, mid), (mid, upper)),
                Some(Constraint::Negative) => ((mid, upper), (lower, mid)),
                _ => ((lower, upper), (lower, upper)),
            };
            stack.push((missing, lower, upper));
            stack.push((right, right_bounds.0, right_bounds.1));
            stack.push((left, left_bounds.0, left_bounds.1));
        }
    }
}

/// What every fit of one training run shares.
struct Grower<'a> {
    params: &'a GbdtParams,
    /// Monotone constraints by column, if any.
    constraints: Option<ConstraintMap>,
    seed: u64,
}

impl Grower<'_> {
    /// One single-threaded forust fit. With `validation`, forust records the validation log
    /// loss after every tree; with a patience too, it stops once that loss has not improved
    /// for so many rounds (and records the best iteration).
    fn boost(
        &self,
        train: &Rows,
        setting: Setting,
        iterations: usize,
        validation: Option<(&Rows, Option<usize>)>,
    ) -> Result<Box<GradientBooster>, ModelError> {
        let params = self.params;
        let mut booster = GradientBooster::default()
            .set_iterations(iterations)
            .set_learning_rate(params.learning_rate as f32)
            .set_max_depth(setting.max_depth)
            .set_l2(params.l2 as f32)
            .set_min_leaf_weight(setting.min_leaf_weight as f32)
            .set_subsample(params.subsample as f32)
            .set_colsample_bytree(params.colsample_bytree)
            .set_nbins(params.nbins)
            .set_seed(self.seed)
            .set_parallel(false)
            .set_initialize_base_score(true)
            .set_monotone_constraints(self.constraints.clone());
        let evaluation = validation.map(|(set, patience)| {
            booster.early_stopping_rounds = patience;
            booster.evaluation_metric = Some(Metric::LogLoss);
            vec![(set.matrix(), set.y.as_slice(), set.weights.as_slice())]
        });
        booster
            .fit(&train.matrix(), &train.y, &train.weights, evaluation)
            .map_err(|e| ModelError::Training(format!("gradient boosting: {e}")))?;
        if let Some(constraints) = &self.constraints {
            enforce_monotone(&mut booster, constraints);
        }
        // Only growing trees reads the constraints, and forust keeps them in a HashMap, which
        // would serialise in a different order each run: the model file must not change.
        booster.monotone_constraints = None;
        Ok(Box::new(booster))
    }

    /// Validation log loss after each tree (one evaluation set).
    fn history(booster: &GradientBooster) -> Vec<f64> {
        booster
            .evaluation_history
            .as_ref()
            .map(|h| h.data.clone())
            .unwrap_or_default()
    }

    /// Early stopping on one validation split: each setting grows trees on the rest until the
    /// validation loss stops improving.
    fn validation_split(
        &self,
        data: &Training<'_>,
        patience: usize,
    ) -> Result<(Setting, usize, EarlyStopping), ModelError> {
        let params = self.params;
        let salt = salt(b"nextbest/gbdt-validation/", self.seed);
        let fraction = params
            .validation_fraction
            .unwrap_or(DEFAULT_VALIDATION_FRACTION);
        let (fit, val) = data.partition(|i| Fnv1a::in_salted_share(&salt, &data.key(i), fraction));
        if fit.n == 0 || val.n == 0 {
            return Err(ModelError::Training(format!(
                "gbdt.validation_fraction: {fraction} of {} rows leaves {} to fit and {} to validate; early stopping needs both",
                data.labels.len(),
                fit.n,
                val.n
            )));
        }
        let mut trials = Vec::new();
        for setting in params.settings() {
            let search = self.boost(
                &fit,
                setting,
                params.iterations,
                Some((&val, Some(patience))),
            )?;
            let best = search.best_iteration.unwrap_or(0);
            let loss = Self::history(&search)
                .get(best)
                .copied()
                .unwrap_or(f64::INFINITY);
            trials.push(DepthTrial {
                max_depth: setting.max_depth,
                min_leaf_weight: setting.min_leaf_weight,
                best_iterations: best + 1,
                hit_limit: search.trees.len() == params.iterations
                    && best + patience >= params.iterations,
                validation_log_loss: loss,
            });
        }
        // Lowest validation loss; on a tie the first (see `GbdtParams::settings`).
        let chosen = &trials[first_lowest(&trials, |t| t.validation_log_loss)?];
        let setting = Setting {
            max_depth: chosen.max_depth,
            min_leaf_weight: chosen.min_leaf_weight,
        };
        let iterations = chosen.best_iterations;
        Ok((
            setting,
            iterations,
            EarlyStopping {
                fit_rows: fit.n,
                validation_rows: val.n,
                validation_positives: val.positives(),
                trials,
            },
        ))
    }

    /// Cross-validated early stopping, as LightGBM's `cv`: the groups are dealt into `folds`;
    /// for each setting, every fold's complement grows trees while the fold records its
    /// validation loss after each one, and the search stops once the loss pooled over all
    /// folds has not improved for `patience` rounds. Fold models are grown to a budget that
    /// doubles until the pooled loss has stopped (forust cannot add trees to a fitted model;
    /// the first trees of a longer fit are the same trees, so this equals growing the folds in
    /// lockstep).
    fn cross_validate(
        &self,
        data: &Training<'_>,
        folds: usize,
        patience: usize,
    ) -> Result<(Setting, usize, CrossValidation), ModelError> {
        let params = self.params;
        let fold_of = data.folds(folds, self.seed);
        let mut sets = Vec::with_capacity(folds);
        for fold in 0..folds {
            let (fit, val) = data.partition(|i| fold_of[i] == fold);
            if fit.n == 0 || val.n == 0 {
                return Err(ModelError::Training(format!(
                    "gbdt.cv_folds: {folds} folds of {} rows leave fold {} with {} rows to validate and {} to fit; every fold needs both (fewer folds, or more customers)",
                    data.labels.len(),
                    fold + 1,
                    val.n,
                    fit.n
                )));
            }
            sets.push((fit, val));
        }
        let validated = sets.iter().map(|(_, val)| val.n).sum::<usize>() as f64;
        // A first budget that usually suffices: the best iteration plus the patience.
        let first_budget = params.iterations.min(patience.saturating_mul(4).max(100));
        let mut trials = Vec::new();
        let mut curves = Vec::new();
        for setting in params.settings() {
            let mut budget = first_budget;
            let (pooled, fold_curves, best, stopped) = loop {
                let fold_curves = sets
                    .iter()
                    .map(|(fit, val)| {
                        self.boost(fit, setting, budget, Some((val, None)))
                            .map(|b| Self::history(&b))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let length = fold_curves.iter().map(Vec::len).min().unwrap_or(0);
                // Row-weighted, so it is the log loss over all out-of-fold predictions.
                let pooled: Vec<f64> = (0..length)
                    .map(|t| {
                        sets.iter()
                            .zip(&fold_curves)
                            .map(|((_, val), curve)| curve[t] * val.n as f64)
                            .sum::<f64>()
                            / validated
                    })
                    .collect();
                let (best, stop) = early_stop(&pooled, patience);
                if let Some(stop) = stop {
                    break (pooled[..=stop].to_vec(), fold_curves, best, true);
                }
                if budget >= params.iterations {
                    break (pooled, fold_curves, best, false);
                }
                budget = budget.saturating_mul(2).min(params.iterations);
            };
            trials.push(CvTrial {
                max_depth: setting.max_depth,
                min_leaf_weight: setting.min_leaf_weight,
                best_iterations: best + 1,
                hit_limit: !stopped,
                log_loss: pooled.get(best).copied().unwrap_or(f64::INFINITY),
                fold_log_loss: fold_curves
                    .iter()
                    .map(|c| c.get(best).copied().unwrap_or(f64::INFINITY))
                    .collect(),
            });
            curves.push(pooled);
        }
        let index = first_lowest(&trials, |t| t.log_loss)?;
        // About 25 points from the first tree to where the search stopped.
        let curve = curves.swap_remove(index);
        let curve_step = curve.len().div_ceil(25).max(1);
        let report = CrossValidation {
            folds,
            fold_rows: sets.iter().map(|(_, val)| val.n).collect(),
            fold_positives: sets.iter().map(|(_, val)| val.positives()).collect(),
            chosen_curve: curve.iter().step_by(curve_step).copied().collect(),
            curve_step,
            trials: trials.clone(),
        };
        let chosen = &trials[index];
        Ok((
            Setting {
                max_depth: chosen.max_depth,
                min_leaf_weight: chosen.min_leaf_weight,
            },
            chosen.best_iterations,
            report,
        ))
    }
}

/// Index of the first item with the lowest loss (ties keep the earlier item).
fn first_lowest<T>(items: &[T], loss: impl Fn(&T) -> f64) -> Result<usize, ModelError> {
    items
        .iter()
        .enumerate()
        .fold(None::<usize>, |best, (i, t)| match best {
            Some(b) if loss(&items[b]) <= loss(t) => Some(b),
            _ => Some(i),
        })
        .ok_or_else(|| ModelError::Training("gbdt: no setting to try".into()))
}

impl GbdtModel {
    /// Fits a log-loss booster. Deterministic for a seed: histograms are built on one thread so
    /// floating-point sums never change order. With early stopping, validation rows are chosen
    /// by row number; see [`GbdtModel::fit_grouped`] to keep a customer's rows together.
    pub fn fit(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        params: &GbdtParams,
        seed: u64,
    ) -> Result<Self, ModelError> {
        Self::fit_grouped(rows, n_features, labels, None, None, params, seed)
            .map(|(model, _)| model)
    }

    /// Fits a log-loss booster and reports how its size was chosen. `groups` (one key per row,
    /// e.g. the customer id) decides which rows early stopping sets aside: a key is on one side
    /// only, so a customer with several snapshot rows cannot leak into its own validation. The
    /// split hashes the key with the seed, independently of any earlier split by the same key.
    /// `names` (one per column) resolve the monotone constraints, which need them.
    ///
    /// The early-stopped search models are not kept: the final model is refitted on every
    /// training row with the chosen setting and number of trees. On small data the rows held
    /// back for validation are worth more to the trees than the exact stopping point (which
    /// the search gives only approximately anyway), and the refit model depends on the
    /// validation rows through the chosen setting and tree count only.
    pub fn fit_grouped(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        groups: Option<&[String]>,
        names: Option<&[String]>,
        params: &GbdtParams,
        seed: u64,
    ) -> Result<(Self, GbdtFitReport), ModelError> {
        params.validate().map_err(ModelError::Training)?;
        super::validate_training_data(rows, n_features, labels)?;
        if let Some(groups) = groups {
            if groups.len() != labels.len() {
                return Err(ModelError::Training(format!(
                    "{} group keys for {} rows",
                    groups.len(),
                    labels.len()
                )));
            }
        }
        let constraints = if params.monotone.is_empty() {
            None
        } else {
            let names = match names {
                Some(names) if names.len() == n_features => names,
                _ => {
                    return Err(ModelError::Training(format!(
                        "gbdt.monotone: needs the names of the model's {n_features} features"
                    )))
                }
            };
            let columns = params
                .monotone_columns(names)
                .map_err(ModelError::Training)?;
            Some(
                columns
                    .into_iter()
                    .map(|(column, direction)| {
                        let constraint = match direction {
                            Monotone::Increasing => Constraint::Positive,
                            Monotone::Decreasing => Constraint::Negative,
                        };
                        (column, constraint)
                    })
                    .collect(),
            )
        };
        let grower = Grower {
            params,
            constraints,
            seed,
        };
        let data = Training {
            rows,
            n_features,
            labels,
            groups,
        };
        let mut report = GbdtFitReport {
            iterations_used: params.iterations,
            max_depth_used: params.max_depth,
            min_leaf_weight_used: params.min_leaf_weight,
            early_stopping: None,
            cross_validation: None,
        };
        let mut setting = Setting {
            max_depth: params.max_depth,
            min_leaf_weight: params.min_leaf_weight,
        };
        match (params.early_stopping_rounds, params.cv_folds) {
            (None, _) => {}
            (Some(patience), None) => {
                let (chosen, iterations, search) = grower.validation_split(&data, patience)?;
                (setting, report.iterations_used) = (chosen, iterations);
                report.early_stopping = Some(search);
            }
            (Some(patience), Some(folds)) => {
                let (chosen, iterations, search) = grower.cross_validate(&data, folds, patience)?;
                (setting, report.iterations_used) = (chosen, iterations);
                report.cross_validation = Some(search);
            }
        }
        let booster = grower.boost(
            &Rows::new(rows, n_features, labels),
            setting,
            report.iterations_used,
            None,
        )?;
        report.iterations_used = booster.trees.len();
        report.max_depth_used = setting.max_depth;
        report.min_leaf_weight_used = setting.min_leaf_weight;
        Ok((
            GbdtModel {
                booster,
                flat: OnceLock::new(),
            },
            report,
        ))
    }

    /// P(positive) per row.
    pub fn predict_proba(&self, rows: &[f32], n_features: usize) -> Vec<f64> {
        if n_features == 0 || rows.is_empty() {
            return Vec::new();
        }
        self.predict_proba_shared(rows, n_features, 0)
    }

    /// P(positive) per row, for rows whose first `shared` columns are identical (see
    /// [`crate::models::Scorer::predict_proba_shared`]).
    pub fn predict_proba_shared(&self, rows: &[f32], n_features: usize, shared: usize) -> Vec<f64> {
        if n_features == 0 || rows.is_empty() {
            return Vec::new();
        }
        let flat = self.flat.get_or_init(|| FlatForest::new(&self.booster));
        flat.logits(rows, n_features, shared)
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A weak signal in two of five features plus label noise: trees stop helping early.
    fn noisy(n: usize) -> (Vec<f32>, Vec<bool>, Vec<String>) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
        let mut rows = Vec::with_capacity(n * 5);
        let mut labels = Vec::with_capacity(n);
        let mut groups = Vec::with_capacity(n);
        for i in 0..n {
            let x: [f32; 5] = std::array::from_fn(|_| rng.random::<f32>());
            let p = 1.0 / (1.0 + (-(1.5 * f64::from(x[0] - x[1]))).exp());
            labels.push(rng.random::<f64>() < p);
            rows.extend_from_slice(&x);
            // Three snapshot rows per customer.
            groups.push(format!("c{}", i / 3));
        }
        (rows, labels, groups)
    }

    fn early(rounds: usize) -> GbdtParams {
        GbdtParams {
            iterations: 400,
            learning_rate: 0.2,
            max_depth: 4,
            min_leaf_weight: 1.0,
            early_stopping_rounds: Some(rounds),
            ..GbdtParams::default()
        }
    }

    #[test]
    fn the_flat_forest_predicts_exactly_what_forust_predicts() {
        let (mut rows, labels, _) = noisy(3000);
        // Some missing values, so the missing branches are exercised too.
        for v in rows.iter_mut().step_by(37) {
            *v = f32::NAN;
        }
        let params = GbdtParams {
            iterations: 60,
            max_depth: 4,
            ..GbdtParams::default()
        };
        let clean: Vec<f32> = rows
            .iter()
            .map(|v| if v.is_nan() { 0.0 } else { *v })
            .collect();
        let (model, _) =
            GbdtModel::fit_grouped(&clean, 5, &labels, None, None, &params, 3).unwrap();
        let flat = model.predict_proba(&rows, 5);
        let n = rows.len() / 5;
        let columns = column_major(&rows, 5);
        let reference: Vec<f64> = model
            .booster
            .predict(&Matrix::new(&columns, n, 5), false)
            .into_iter()
            .map(|logit| 1.0 / (1.0 + (-logit).exp()))
            .collect();
        assert_eq!(flat.len(), reference.len());
        for (a, b) in flat.iter().zip(&reference) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        // Rows that share their first three columns: the shared path gives the same bits.
        let mut variants = Vec::new();
        for k in 0..6 {
            variants.extend_from_slice(&clean[..3]);
            variants.extend_from_slice(&clean[5 * k + 3..5 * k + 5]);
        }
        let shared = model.predict_proba_shared(&variants, 5, 3);
        let plain = model.predict_proba_shared(&variants, 5, 0);
        assert_eq!(shared, plain);
        // A row shorter than the model expects reads the missing features as missing.
        assert_eq!(model.predict_proba(&rows[..3], 3).len(), 1);
    }

    #[test]
    fn f32_thresholds_decide_like_the_f64_split() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        for _ in 0..20_000 {
            let split: f64 = rng.random_range(-1e6..1e6) * 10f64.powi(rng.random_range(-30..5));
            let t = f32_threshold(split);
            let near = split as f32;
            for v in [
                near,
                f32::from_bits(near.to_bits().wrapping_add(1)),
                f32::from_bits(near.to_bits().wrapping_sub(1)),
                t,
                0.0,
                -0.0,
            ] {
                assert_eq!(v < t, f64::from(v) < split, "split {split}, value {v}");
            }
        }
        assert_eq!(f32_threshold(0.0), 0.0);
        assert_eq!(f32_threshold(1e300), f32::INFINITY);
    }

    #[test]
    fn bad_early_stopping_params_name_the_key() {
        let check = |params: GbdtParams, key: &str, got: &str| {
            let error = params.validate().unwrap_err();
            assert!(
                error.starts_with(&format!("gbdt.{key}: must be ")) && error.ends_with(got),
                "{error}"
            );
        };
        check(early(0), "early_stopping_rounds", "got 0");
        check(early(5001), "early_stopping_rounds", "got 5001");
        for fraction in [0.0, 0.75, f64::NAN] {
            let params = GbdtParams {
                validation_fraction: Some(fraction),
                ..early(10)
            };
            check(params, "validation_fraction", &format!("got {fraction}"));
        }
        let params = GbdtParams {
            max_depth_candidates: vec![2, 17],
            ..early(10)
        };
        check(params, "max_depth_candidates", "got [2, 17]");
        let params = GbdtParams {
            max_depth_candidates: vec![2],
            ..GbdtParams::default()
        };
        check(params, "max_depth_candidates", "got [2]");
        assert_eq!(early(10).validate(), Ok(()));
        assert_eq!(GbdtParams::default().validate(), Ok(()));
    }

    #[test]
    fn early_stopping_stops_before_the_limit_and_is_deterministic() {
        let (rows, labels, groups) = noisy(1500);
        let params = GbdtParams {
            max_depth_candidates: vec![1, 2],
            ..early(20)
        };
        let fit =
            || GbdtModel::fit_grouped(&rows, 5, &labels, Some(&groups), None, &params, 3).unwrap();
        let (model, report) = fit();
        let search = report.early_stopping.clone().unwrap();
        assert!(report.iterations_used < 100, "{report:?}");
        assert_eq!(model.trees(), report.iterations_used);
        assert_eq!(search.trials.len(), 3);
        assert!(search.trials.iter().all(|t| !t.hit_limit), "{search:?}");
        let chosen = search
            .trials
            .iter()
            .find(|t| t.max_depth == report.max_depth_used)
            .unwrap();
        assert_eq!(chosen.best_iterations, report.iterations_used);
        assert!(search
            .trials
            .iter()
            .all(|t| t.validation_log_loss >= chosen.validation_log_loss));
        // About a fifth of the rows, in whole customers (three rows each).
        assert_eq!(search.fit_rows + search.validation_rows, 1500);
        assert_eq!(search.validation_rows % 3, 0);
        assert!((200..400).contains(&search.validation_rows), "{search:?}");
        // Same data, same seed: the same trees, byte for byte.
        let (again, again_report) = fit();
        assert_eq!(again_report, report);
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&model).unwrap()
        );
        // Without early stopping every iteration is used.
        let full = GbdtModel::fit(&rows, 5, &labels, &GbdtParams::default(), 3).unwrap();
        assert_eq!(full.trees(), GbdtParams::default().iterations);
    }

    #[test]
    fn early_stopping_keeps_a_group_on_one_side() {
        let (rows, labels, _) = noisy(300);
        // One customer owns every row: nothing can be set aside without splitting them.
        let one = vec!["same".to_string(); 300];
        let error = GbdtModel::fit_grouped(&rows, 5, &labels, Some(&one), None, &early(10), 3)
            .unwrap_err()
            .to_string();
        assert!(error.contains("gbdt.validation_fraction"), "{error}");
        // Without ids, rows are split one by one.
        let (_, report) =
            GbdtModel::fit_grouped(&rows, 5, &labels, None, None, &early(10), 3).unwrap();
        assert!(report.early_stopping.unwrap().validation_rows > 0);
        let short = vec!["a".to_string(); 2];
        assert!(
            GbdtModel::fit_grouped(&rows, 5, &labels, Some(&short), None, &early(10), 3).is_err()
        );
    }

    fn cross_validated(folds: usize) -> GbdtParams {
        GbdtParams {
            cv_folds: Some(folds),
            max_depth_candidates: vec![2],
            min_leaf_weight_candidates: vec![5.0],
            ..early(20)
        }
    }

    #[test]
    fn cv_folds_keep_each_customer_in_one_fold_and_follow_the_seed() {
        let (rows, labels, groups) = noisy(1500);
        let data = Training {
            rows: &rows,
            n_features: 5,
            labels: &labels,
            groups: Some(&groups),
        };
        let folds = data.folds(5, 3);
        let mut fold_of_customer = std::collections::HashMap::new();
        for (group, &fold) in groups.iter().zip(&folds) {
            assert!(fold < 5);
            assert_eq!(
                *fold_of_customer.entry(group).or_insert(fold),
                fold,
                "{group}"
            );
        }
        // Every fold gets about a fifth of the 500 customers.
        for fold in 0..5 {
            let customers = fold_of_customer.values().filter(|&&f| f == fold).count();
            assert!((70..130).contains(&customers), "fold {fold}: {customers}");
        }
        // The same seed deals the same folds; another seed deals others.
        assert_eq!(data.folds(5, 3), folds);
        let other = data.folds(5, 4);
        let moved = folds.iter().zip(&other).filter(|(a, b)| a != b).count();
        assert!(moved > 900, "{moved} of 1500 rows changed fold");
        // Without groups, rows are dealt one by one.
        let rows_only = Training {
            groups: None,
            ..data
        };
        let single = rows_only.folds(5, 3);
        let split = single
            .chunks_exact(3)
            .filter(|c| c[0] != c[1] || c[1] != c[2])
            .count();
        assert!(
            split > 300,
            "{split} of 500 customers' rows in more than one fold"
        );
    }

    #[test]
    fn cross_validation_picks_the_setting_with_the_lowest_pooled_loss_deterministically() {
        let (rows, labels, groups) = noisy(1500);
        let params = cross_validated(5);
        let fit = |seed| {
            GbdtModel::fit_grouped(&rows, 5, &labels, Some(&groups), None, &params, seed).unwrap()
        };
        let (model, report) = fit(3);
        let cv = report.cross_validation.clone().unwrap();
        assert!(report.early_stopping.is_none());
        assert_eq!(cv.folds, 5);
        // Folds of whole customers (three rows each) that cover every row once.
        assert_eq!(cv.fold_rows.iter().sum::<usize>(), 1500);
        assert!(cv.fold_rows.iter().all(|n| n % 3 == 0), "{cv:?}");
        // Two depths × two leaf weights, shallowest first, larger weight first.
        let tried: Vec<(usize, f64)> = cv
            .trials
            .iter()
            .map(|t| (t.max_depth, t.min_leaf_weight))
            .collect();
        assert_eq!(tried, [(2, 5.0), (2, 1.0), (4, 5.0), (4, 1.0)]);
        let chosen = cv
            .trials
            .iter()
            .find(|t| {
                t.max_depth == report.max_depth_used
                    && t.min_leaf_weight == report.min_leaf_weight_used
            })
            .unwrap();
        assert!(cv.trials.iter().all(|t| t.log_loss >= chosen.log_loss));
        assert!(cv.trials.iter().all(|t| !t.hit_limit), "{cv:?}");
        assert_eq!(report.iterations_used, chosen.best_iterations);
        assert_eq!(model.trees(), chosen.best_iterations);
        assert!(chosen.best_iterations < 100, "{chosen:?}");
        // The pooled loss is the row-weighted mean of the folds' losses.
        let pooled = chosen
            .fold_log_loss
            .iter()
            .zip(&cv.fold_rows)
            .map(|(loss, &n)| loss * n as f64)
            .sum::<f64>()
            / 1500.0;
        assert!((pooled - chosen.log_loss).abs() < 1e-12);
        // The curve starts at the first tree, reaches the chosen loss, and stops after it.
        let lowest = cv
            .chosen_curve
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        assert!(lowest >= chosen.log_loss - 1e-12 && cv.chosen_curve[0] > lowest);
        assert!(cv.curve_step * cv.chosen_curve.len() >= chosen.best_iterations);
        // Same data, same seed: the same report and the same trees, byte for byte.
        let (again, again_report) = fit(3);
        assert_eq!(again_report, report);
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&model).unwrap()
        );
        // Another seed deals other folds.
        let (_, other) = fit(4);
        assert_ne!(other.cross_validation.unwrap().fold_rows, cv.fold_rows);
    }

    #[test]
    fn a_longer_fit_starts_with_the_same_trees() {
        // Cross-validation grows fold models to a budget that doubles; that equals growing
        // them in lockstep only if the first trees do not depend on the budget.
        let (rows, labels, _) = noisy(600);
        let all = Rows::new(&rows, 5, &labels);
        let params = GbdtParams::default();
        let grower = Grower {
            params: &params,
            constraints: None,
            seed: 9,
        };
        let setting = Setting {
            max_depth: 3,
            min_leaf_weight: 5.0,
        };
        let short = grower.boost(&all, setting, 20, Some((&all, None))).unwrap();
        let long = grower.boost(&all, setting, 45, Some((&all, None))).unwrap();
        assert_eq!(
            serde_json::to_string(&short.trees).unwrap(),
            serde_json::to_string(&long.trees[..20]).unwrap()
        );
        assert_eq!(Grower::history(&short), Grower::history(&long)[..20]);
    }

    #[test]
    fn the_pooled_curve_stops_like_forust() {
        // Strict improvements only; stop once `patience` rounds have passed without one.
        let curve = [0.9, 0.8, 0.7, 0.7, 0.75, 0.72, 0.69, 0.7, 0.71, 0.72];
        assert_eq!(early_stop(&curve, 1), (2, Some(3)));
        assert_eq!(early_stop(&curve, 3), (2, Some(5)));
        assert_eq!(early_stop(&curve, 4), (6, None));
        assert_eq!(early_stop(&[], 5), (0, None));
    }

    #[test]
    fn cv_folds_need_enough_customers() {
        let (rows, labels, _) = noisy(300);
        // Two customers cannot fill five folds.
        let two: Vec<String> = (0..300).map(|i| format!("c{}", i % 2)).collect();
        let error =
            GbdtModel::fit_grouped(&rows, 5, &labels, Some(&two), None, &cross_validated(5), 3)
                .unwrap_err()
                .to_string();
        assert!(
            error.contains("gbdt.cv_folds: 5 folds of 300 rows leave fold"),
            "{error}"
        );
    }

    #[test]
    fn bad_cross_validation_and_monotone_params_name_the_key() {
        let error = |params: GbdtParams| params.validate().unwrap_err();
        for folds in [1, 21] {
            assert_eq!(
                error(cross_validated(folds)),
                format!("gbdt.cv_folds: must be within 2..=20, got {folds}")
            );
        }
        let without_stopping = GbdtParams {
            cv_folds: Some(5),
            ..GbdtParams::default()
        };
        assert!(error(without_stopping)
            .starts_with("gbdt.cv_folds: must be absent unless early_stopping_rounds is set"));
        let both = GbdtParams {
            validation_fraction: Some(0.2),
            ..cross_validated(5)
        };
        assert_eq!(
            error(both),
            "gbdt.validation_fraction: must be absent when cv_folds is set (each fold is validated in turn), got 0.2"
        );
        let negative = GbdtParams {
            min_leaf_weight_candidates: vec![10.0, -1.0],
            ..early(10)
        };
        assert!(error(negative).starts_with("gbdt.min_leaf_weight_candidates: must be at most 8"));
        let unstopped = GbdtParams {
            min_leaf_weight_candidates: vec![10.0],
            ..GbdtParams::default()
        };
        assert!(error(unstopped).starts_with("gbdt.min_leaf_weight_candidates: must be empty"));
        assert_eq!(cross_validated(5).validate(), Ok(()));

        let names: Vec<String> = ["recency", "frequency"].map(String::from).into();
        let mut params = GbdtParams::default();
        params
            .monotone
            .insert("frequency".into(), Monotone::Decreasing);
        params
            .monotone
            .insert("recency".into(), Monotone::Increasing);
        assert_eq!(
            params.monotone_columns(&names),
            Ok(vec![(0, Monotone::Increasing), (1, Monotone::Decreasing)])
        );
        params
            .monotone
            .insert("recenzy".into(), Monotone::Increasing);
        let unknown = params.monotone_columns(&names).unwrap_err();
        assert!(
            unknown.starts_with("gbdt.monotone.recenzy: not a feature of this model")
                && unknown.contains("recency, frequency"),
            "{unknown}"
        );
        // Fitting checks the names too, and needs them.
        let (rows, labels, _) = noisy(300);
        let short: Vec<String> = (0..5).map(|i| format!("x{i}")).collect();
        let fitted = GbdtModel::fit_grouped(&rows, 5, &labels, None, Some(&short), &params, 3);
        assert!(fitted
            .unwrap_err()
            .to_string()
            .contains("gbdt.monotone.frequency"));
        let unnamed = GbdtModel::fit(&rows, 5, &labels, &params, 3).unwrap_err();
        assert!(unnamed
            .to_string()
            .contains("gbdt.monotone: needs the names"));
    }

    /// P(positive) along `column` from 0 to 1, the other columns fixed at `others`.
    fn profile(model: &GbdtModel, column: usize, others: f32) -> Vec<f64> {
        let mut grid = Vec::new();
        for step in 0..=200 {
            let mut row = [others; 3];
            row[column] = step as f32 / 200.0;
            grid.extend_from_slice(&row);
        }
        model.predict_proba(&grid, 3)
    }

    #[test]
    fn monotone_constraints_make_predictions_monotone_in_their_feature() {
        // P(positive) rises with x0 overall but dips in the middle; it falls with x1; x2 is
        // noise. Unconstrained trees follow the dip, constrained ones cannot.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(21);
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..6000 {
            let x: [f32; 3] = std::array::from_fn(|_| rng.random::<f32>());
            let dip = if (0.4..0.6).contains(&x[0]) {
                -2.5
            } else {
                0.0
            };
            let logit = 3.0 * f64::from(x[0]) - 2.0 * f64::from(x[1]) + dip;
            labels.push(rng.random::<f64>() < 1.0 / (1.0 + (-logit).exp()));
            rows.extend_from_slice(&x);
        }
        let names: Vec<String> = ["x0", "x1", "x2"].map(String::from).into();
        let mut params = GbdtParams {
            iterations: 150,
            learning_rate: 0.1,
            max_depth: 4,
            min_leaf_weight: 5.0,
            ..GbdtParams::default()
        };
        let fit = |params: &GbdtParams| {
            GbdtModel::fit_grouped(&rows, 3, &labels, None, Some(&names), params, 1)
                .unwrap()
                .0
        };
        let steps = |p: &[f64]| p.windows(2).map(|w| w[1] - w[0]).collect::<Vec<f64>>();
        let free = fit(&params);
        assert!(
            steps(&profile(&free, 0, 0.5)).iter().any(|&d| d < -0.05),
            "the data's dip should show without constraints"
        );
        params.monotone.insert("x0".into(), Monotone::Increasing);
        params.monotone.insert("x1".into(), Monotone::Decreasing);
        let constrained = fit(&params);
        for others in [0.0, 0.3, 0.5, 0.9] {
            let up = profile(&constrained, 0, others);
            assert!(
                steps(&up).iter().all(|&d| d >= 0.0),
                "x0 at {others}: {up:?}"
            );
            assert!(up[200] > up[0] + 0.2);
            let down = profile(&constrained, 1, others);
            assert!(
                steps(&down).iter().all(|&d| d <= 0.0),
                "x1 at {others}: {down:?}"
            );
        }
        // The constraints shape growing only; the saved model is deterministic.
        let again = fit(&params);
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&constrained).unwrap()
        );
    }

    #[test]
    fn leaves_below_an_unconstrained_split_are_clamped_to_their_bounds() {
        // x0 is constrained (increasing): everything left of its split must stay at or below
        // the mean of the two children (0.0), everything right of it at or above. forust
        // leaves node 4 (0.6) above it because its own split is on x1, so a row with x1 = 0.6
        // scored 0.6 at x0 = 0.4 but only 0.2 at x0 = 0.6.
        let node = |num: usize, weight: f32, split: Option<(usize, f64, usize, usize)>| {
            let (feature, value, left, right) = split.unwrap_or((0, 0.0, 0, 0));
            let depth = [0, 1, 1, 2, 2, 2, 2][num];
            serde_json::json!({
                "num": num, "weight_value": weight, "hessian_sum": 1.0,
                "depth": depth,
                "split_value": value, "split_feature": feature, "split_gain": 1.0,
                "missing_node": left, "left_child": left, "right_child": right,
                "is_leaf": split.is_none()
            })
        };
        let tree = serde_json::json!({"nodes": [
            node(0, 0.0, Some((0, 0.5, 1, 2))),
            node(1, -1.0, Some((1, 0.5, 3, 4))),
            node(2, 1.0, Some((1, 0.8, 5, 6))),
            node(3, -1.0, None),
            node(4, 0.6, None),
            node(5, 0.2, None),
            node(6, 1.5, None),
        ]});
        let mut booster = GradientBooster::default();
        booster.base_score = 0.0;
        booster.trees = vec![serde_json::from_value(tree).unwrap()];
        let constraints = ConstraintMap::from([(0, Constraint::Positive)]);
        enforce_monotone(&mut booster, &constraints);
        let leaves: Vec<f32> = booster.trees[0].nodes[3..]
            .iter()
            .map(|n| n.weight_value)
            .collect();
        assert_eq!(leaves, [-1.0, 0.0, 0.2, 1.5]);
        let model = GbdtModel {
            booster: Box::new(booster),
            flat: OnceLock::new(),
        };
        let p = model.predict_proba(&[0.4, 0.6, 0.6, 0.6], 2);
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!(
            (logit(p[0]) - 0.0).abs() < 1e-6 && (logit(p[1]) - 0.2).abs() < 1e-6,
            "{p:?}"
        );
    }
}
