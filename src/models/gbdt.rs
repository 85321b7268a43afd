//! Gradient-boosted trees through `forust-ml` (pure Rust, Apache-2.0; the XGBoost algorithm).

use std::sync::OnceLock;

use forust_ml::gradientbooster::ImportanceMethod;
use forust_ml::metric::Metric;
use forust_ml::{GradientBooster, Matrix};
use serde::{Deserialize, Serialize};

use super::ModelError;
use crate::fnv::Fnv1a;

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
    /// Early stopping (off when absent): set aside `validation_fraction` of the training rows,
    /// add trees until their log loss has not improved for this many rounds (1..=5000), then
    /// refit on every training row with the best number of trees.
    pub early_stopping_rounds: Option<usize>,
    /// Share of the training rows set aside for early stopping (0 < f ≤ 0.5); whole customers
    /// when the caller passes customer ids, so no customer is on both sides.
    pub validation_fraction: f64,
    /// Further depths to try besides `max_depth` (at most 8, each 1..=16) when early stopping;
    /// the depth with the lowest validation log loss wins, ties going to the shallower tree.
    pub max_depth_candidates: Vec<usize>,
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
            validation_fraction: 0.2,
            max_depth_candidates: Vec::new(),
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
        )?;
        if let Some(rounds) = self.early_stopping_rounds {
            within(
                "early_stopping_rounds",
                (1..=5000).contains(&rounds),
                "within 1..=5000",
                rounds.to_string(),
            )?;
        }
        within(
            "validation_fraction",
            self.validation_fraction > 0.0 && self.validation_fraction <= 0.5,
            "in (0, 0.5]",
            self.validation_fraction.to_string(),
        )?;
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
        )
    }
}

/// One depth tried on the validation rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepthTrial {
    /// Maximum tree depth.
    pub max_depth: usize,
    /// Trees at the lowest validation log loss.
    pub best_iterations: usize,
    /// Whether the trees ran out (`iterations`) before the validation loss stopped improving.
    pub hit_limit: bool,
    /// Validation log loss after `best_iterations` trees.
    pub validation_log_loss: f64,
}

/// How early stopping chose the model's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Rows the trees were grown on during the search.
    pub fit_rows: usize,
    /// Rows set aside to judge them.
    pub validation_rows: usize,
    /// Positive labels among the validation rows.
    pub validation_positives: usize,
    /// Every depth tried, in ascending order.
    pub trials: Vec<DepthTrial>,
}

/// What a fit produced besides the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GbdtFitReport {
    /// Trees in the final model.
    pub iterations_used: usize,
    /// Maximum depth of the final model's trees.
    pub max_depth_used: usize,
    /// The validation search, when early stopping.
    pub early_stopping: Option<EarlyStopping>,
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
}

/// One single-threaded forust fit; with `validation`, stops once its log loss has not improved
/// for the given number of rounds (forust then records the best iteration and the loss history).
fn boost(
    train: &Rows,
    params: &GbdtParams,
    max_depth: usize,
    iterations: usize,
    seed: u64,
    validation: Option<(&Rows, usize)>,
) -> Result<Box<GradientBooster>, ModelError> {
    let mut booster = GradientBooster::default()
        .set_iterations(iterations)
        .set_learning_rate(params.learning_rate as f32)
        .set_max_depth(max_depth)
        .set_l2(params.l2 as f32)
        .set_min_leaf_weight(params.min_leaf_weight as f32)
        .set_subsample(params.subsample as f32)
        .set_colsample_bytree(params.colsample_bytree)
        .set_nbins(params.nbins)
        .set_seed(seed)
        .set_parallel(false)
        .set_initialize_base_score(true);
    let evaluation = validation.map(|(set, patience)| {
        booster.early_stopping_rounds = Some(patience);
        booster.evaluation_metric = Some(Metric::LogLoss);
        vec![(set.matrix(), set.y.as_slice(), set.weights.as_slice())]
    });
    booster
        .fit(&train.matrix(), &train.y, &train.weights, evaluation)
        .map_err(|e| ModelError::Training(format!("gradient boosting: {e}")))?;
    Ok(Box::new(booster))
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
        Self::fit_grouped(rows, n_features, labels, None, params, seed).map(|(model, _)| model)
    }

    /// Fits a log-loss booster and reports how its size was chosen. `groups` (one key per row,
    /// e.g. the customer id) decides which rows early stopping sets aside: a key is on one side
    /// only, so a customer with several snapshot rows cannot leak into its own validation. The
    /// split hashes the key with the seed, independently of any earlier split by the same key.
    ///
    /// The early-stopped search model is not kept: the final model is refitted on every
    /// training row with the chosen depth and number of trees. On small data the 20% or so of
    /// rows held back for validation are worth more to the trees than the exact stopping point
    /// (which the search gives only approximately anyway), and the refit model depends on the
    /// validation rows through two integers only.
    pub fn fit_grouped(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        groups: Option<&[String]>,
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
        let Some(patience) = params.early_stopping_rounds else {
            let booster = boost(
                &Rows::new(rows, n_features, labels),
                params,
                params.max_depth,
                params.iterations,
                seed,
                None,
            )?;
            let report = GbdtFitReport {
                iterations_used: booster.trees.len(),
                max_depth_used: params.max_depth,
                early_stopping: None,
            };
            return Ok((
                GbdtModel {
                    booster,
                    flat: OnceLock::new(),
                },
                report,
            ));
        };
        let mut salt = b"nextbest/gbdt-validation/".to_vec();
        salt.extend_from_slice(&seed.to_le_bytes());
        let fraction = params.validation_fraction;
        let (mut fit_rows, mut fit_labels) = (Vec::new(), Vec::new());
        let (mut val_rows, mut val_labels) = (Vec::new(), Vec::new());
        for (i, (row, &label)) in rows.chunks_exact(n_features).zip(labels.iter()).enumerate() {
            let validation = match groups {
                Some(groups) => Fnv1a::in_salted_share(&salt, groups[i].as_bytes(), fraction),
                None => Fnv1a::in_salted_share(&salt, &(i as u64).to_le_bytes(), fraction),
            };
            let (side_rows, side_labels) = if validation {
                (&mut val_rows, &mut val_labels)
            } else {
                (&mut fit_rows, &mut fit_labels)
            };
            side_rows.extend_from_slice(row);
            side_labels.push(label);
        }
        if fit_labels.is_empty() || val_labels.is_empty() {
            return Err(ModelError::Training(format!(
                "gbdt.validation_fraction: {fraction} of {} rows leaves {} to fit and {} to validate; early stopping needs both",
                labels.len(),
                fit_labels.len(),
                val_labels.len()
            )));
        }
        let fit_set = Rows::new(&fit_rows, n_features, &fit_labels);
        let val_set = Rows::new(&val_rows, n_features, &val_labels);
        let mut depths = params.max_depth_candidates.clone();
        depths.push(params.max_depth);
        depths.sort_unstable();
        depths.dedup();
        let mut trials = Vec::with_capacity(depths.len());
        for depth in depths {
            let search = boost(
                &fit_set,
                params,
                depth,
                params.iterations,
                seed,
                Some((&val_set, patience)),
            )?;
            let best = search.best_iteration.unwrap_or(0);
            let loss = search
                .evaluation_history
                .as_ref()
                .and_then(|h| h.data.get(best).copied())
                .unwrap_or(f64::INFINITY);
            trials.push(DepthTrial {
                max_depth: depth,
                best_iterations: best + 1,
                hit_limit: search.trees.len() == params.iterations
                    && best + patience >= params.iterations,
                validation_log_loss: loss,
            });
        }
        // Lowest validation loss; on a tie the first, i.e. the shallowest.
        let chosen = trials
            .iter()
            .fold(None::<&DepthTrial>, |best, t| match best {
                Some(b) if b.validation_log_loss <= t.validation_log_loss => Some(b),
                _ => Some(t),
            })
            .cloned()
            .ok_or_else(|| ModelError::Training("gbdt: no depth to try".into()))?;
        let booster = boost(
            &Rows::new(rows, n_features, labels),
            params,
            chosen.max_depth,
            chosen.best_iterations,
            seed,
            None,
        )?;
        let report = GbdtFitReport {
            iterations_used: booster.trees.len(),
            max_depth_used: chosen.max_depth,
            early_stopping: Some(EarlyStopping {
                fit_rows: fit_labels.len(),
                validation_rows: val_labels.len(),
                validation_positives: val_labels.iter().filter(|&&y| y).count(),
                trials,
            }),
        };
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
        let (model, _) = GbdtModel::fit_grouped(&clean, 5, &labels, None, &params, 3).unwrap();
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
                validation_fraction: fraction,
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
        let fit = || GbdtModel::fit_grouped(&rows, 5, &labels, Some(&groups), &params, 3).unwrap();
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
        let error = GbdtModel::fit_grouped(&rows, 5, &labels, Some(&one), &early(10), 3)
            .unwrap_err()
            .to_string();
        assert!(error.contains("gbdt.validation_fraction"), "{error}");
        // Without ids, rows are split one by one.
        let (_, report) = GbdtModel::fit_grouped(&rows, 5, &labels, None, &early(10), 3).unwrap();
        assert!(report.early_stopping.unwrap().validation_rows > 0);
        let short = vec!["a".to_string(); 2];
        assert!(GbdtModel::fit_grouped(&rows, 5, &labels, Some(&short), &early(10), 3).is_err());
    }
}
