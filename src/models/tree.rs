//! A single decision tree: the simple, explainable tabular model. `linfa-trees` chooses every
//! split; nextbest keeps the tree in its own format with training counts in every node.
//!
//! **Split rule.** A row goes to the left child when `value <= threshold` and to the right
//! otherwise (so NaN goes right). Training counts and predictions both use this one rule.
//!
//! **Why nextbest grows the tree node by node.** linfa-trees prunes, after fitting, every pair of
//! sibling leaves that predict the same majority label. On an imbalanced label such as churn (a
//! few percent positive) every leaf's majority is "no churn", so one linfa fit of the whole tree
//! collapses to a single leaf and ranks nothing. nextbest therefore asks linfa for one split at a
//! time: a depth-1 tree fitted on the rows that reach the node, whose chosen split (feature,
//! value, impurity decrease) `TreeNode::split` reports even when the two leaves were merged. The
//! criterion, `min_samples_leaf` and `min_weight_split` are linfa's, with every row weighing 1.
//!
//! **Probabilities.** A leaf predicts the Laplace-smoothed share of positive training rows that
//! reach it, `(positives + 1) / (rows + 2)`, computed from counts stored in the model, so a
//! reloaded model predicts bit-identically.

use linfa::prelude::*;
use linfa_trees::{DecisionTree, SplitQuality as LinfaQuality};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::params::{require, InvalidSetting, ParamGuard};
use super::{check_rows, ModelError};

/// The impurity measure a split minimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitQuality {
    /// Gini impurity.
    #[default]
    Gini,
    /// Entropy (information gain).
    Entropy,
}

/// Hyper-parameters as a config states them (unchecked); [`ParamGuard::check`] makes them
/// [`TreeValidParams`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TreeParams {
    /// Maximum depth; the root is at depth 0 (1..=32).
    pub max_depth: usize,
    /// Minimum training rows in each leaf (≥ 1).
    pub min_samples_leaf: usize,
    /// Minimum training rows a node needs to be split (≥ 2). Every row weighs 1, so this is
    /// linfa's `min_weight_split` in rows. Default: `2 × min_samples_leaf`, the fewest rows that
    /// can make two leaves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_weight_split: Option<usize>,
    /// `gini` or `entropy`.
    pub split_quality: SplitQuality,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_depth: 6,
            min_samples_leaf: 50,
            min_weight_split: None,
            split_quality: SplitQuality::Gini,
        }
    }
}

/// Checked [`TreeParams`]: what [`TreeModel::fit`] takes.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeValidParams(TreeParams);

impl std::ops::Deref for TreeValidParams {
    type Target = TreeParams;

    fn deref(&self) -> &TreeParams {
        &self.0
    }
}

impl ParamGuard for TreeParams {
    type Checked = TreeValidParams;

    /// Checks every range, naming the offending key.
    fn check(&self) -> Result<TreeValidParams, InvalidSetting> {
        require(
            (1..=32).contains(&self.max_depth),
            "tree.max_depth",
            "within 1..=32",
            self.max_depth,
        )?;
        require(
            self.min_samples_leaf >= 1,
            "tree.min_samples_leaf",
            "≥ 1",
            self.min_samples_leaf,
        )?;
        if let Some(split) = self.min_weight_split {
            require(split >= 2, "tree.min_weight_split", "≥ 2", split)?;
        }
        Ok(TreeValidParams(self.clone()))
    }
}

impl TreeParams {
    /// The effective minimum rows to split a node.
    fn split_rows(&self) -> usize {
        self.min_weight_split
            .unwrap_or(self.min_samples_leaf.saturating_mul(2))
            .max(2)
    }
}

/// One node of a fitted tree. Children always come after their parent in [`TreeModel`]'s node
/// list, which is what makes every walk from the root end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Node {
    /// An internal node: `value <= threshold` goes to `left`, anything else (also NaN) to `right`.
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold. An `f32` like the features, so the rule is exact on every input.
        threshold: f32,
        /// Index of the left child.
        left: usize,
        /// Index of the right child.
        right: usize,
        /// Training rows reaching this node.
        rows: u64,
        /// Positive training rows reaching this node.
        positives: u64,
        /// Impurity decrease of the split as linfa computed it (parent − weighted children).
        gain: f32,
    },
    /// A leaf: P(positive) = `(positives + 1) / (rows + 2)`.
    Leaf {
        /// Training rows reaching this leaf.
        rows: u64,
        /// Positive training rows reaching this leaf.
        positives: u64,
    },
}

/// A fitted decision tree in nextbest's own format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTree")]
pub struct TreeModel {
    n_features: usize,
    /// Pre-order (parent, left subtree, right subtree); the root is node 0.
    nodes: Vec<Node>,
}

/// The serialised form, checked before it becomes a [`TreeModel`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTree {
    n_features: usize,
    nodes: Vec<Node>,
}

/// Why a serialised tree was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MalformedTree {
    /// The node list is empty.
    #[error("tree: no nodes")]
    NoNodes,
    /// A split reads a feature the model does not have.
    #[error("tree node {node}: feature {feature} ≥ n_features {n_features}")]
    FeatureOutOfRange {
        /// The split's index.
        node: usize,
        /// The feature it reads.
        feature: usize,
        /// The model's feature count.
        n_features: usize,
    },
    /// A child that does not come after its parent (a loop) or lies outside the list.
    #[error("tree node {node}: child {child} must come after it, within {nodes} nodes")]
    ChildOutOfOrder {
        /// The split's index.
        node: usize,
        /// The offending child index.
        child: usize,
        /// Nodes in the list.
        nodes: usize,
    },
}

impl TryFrom<RawTree> for TreeModel {
    type Error = MalformedTree;

    /// Refuses trees whose walks could leave the node list, loop, or read a missing feature.
    fn try_from(raw: RawTree) -> Result<Self, Self::Error> {
        if raw.nodes.is_empty() {
            return Err(MalformedTree::NoNodes);
        }
        for (i, node) in raw.nodes.iter().enumerate() {
            if let Node::Split {
                feature,
                left,
                right,
                ..
            } = *node
            {
                if feature >= raw.n_features {
                    return Err(MalformedTree::FeatureOutOfRange {
                        node: i,
                        feature,
                        n_features: raw.n_features,
                    });
                }
                for child in [left, right] {
                    if child <= i || child >= raw.nodes.len() {
                        return Err(MalformedTree::ChildOutOfOrder {
                            node: i,
                            child,
                            nodes: raw.nodes.len(),
                        });
                    }
                }
            }
        }
        Ok(TreeModel {
            n_features: raw.n_features,
            nodes: raw.nodes,
        })
    }
}

/// The largest `f32` at or below `x` (a finite midpoint of two `f32` values): for any `f32` v,
/// `v <= result` exactly when `v <= x`.
fn f32_at_or_below(x: f64) -> f32 {
    let t = x as f32;
    if f64::from(t) <= x {
        return t;
    }
    // Rounding went up: step one representable value down.
    if t == 0.0 {
        -f32::from_bits(1)
    } else if t > 0.0 {
        f32::from_bits(t.to_bits() - 1)
    } else {
        f32::from_bits(t.to_bits() + 1)
    }
}

/// Laplace-smoothed share of positives.
fn smoothed(rows: u64, positives: u64) -> f64 {
    (positives as f64 + 1.0) / (rows as f64 + 2.0)
}

/// State shared while growing one tree.
struct Grower<'a> {
    rows: &'a [f32],
    n_features: usize,
    labels: &'a [bool],
    params: &'a TreeValidParams,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    /// Adds the node for `members` (training row indices) and its subtree; returns its index.
    fn grow(&mut self, members: Vec<usize>, depth: usize) -> Result<usize, ModelError> {
        let count = members.len() as u64;
        let positives = members.iter().filter(|&&r| self.labels[r]).count() as u64;
        let index = self.nodes.len();
        self.nodes.push(Node::Leaf {
            rows: count,
            positives,
        });
        // A pure or small node, or one at the depth limit, stays a leaf without asking linfa.
        if depth >= self.params.max_depth
            || members.len() < self.params.split_rows()
            || positives == 0
            || positives == count
        {
            return Ok(index);
        }
        let Some((feature, threshold, gain)) = self.best_split(&members)? else {
            return Ok(index);
        };
        let (left, right): (Vec<usize>, Vec<usize>) = members
            .iter()
            .partition(|&&r| self.rows[r * self.n_features + feature] <= threshold);
        // linfa partitions with the same rule, so both sides hold min_samples_leaf rows; the
        // check only guards against a future change there.
        if left.len() < self.params.min_samples_leaf || right.len() < self.params.min_samples_leaf {
            return Ok(index);
        }
        drop(members);
        let left = self.grow(left, depth + 1)?;
        let right = self.grow(right, depth + 1)?;
        self.nodes[index] = Node::Split {
            feature,
            threshold,
            left,
            right,
            rows: count,
            positives,
            gain,
        };
        Ok(index)
    }

    /// linfa's best split of the rows in `members`, if it finds one worth making.
    fn best_split(&self, members: &[usize]) -> Result<Option<(usize, f32, f32)>, ModelError> {
        let d = self.n_features;
        let x = Array2::from_shape_fn((members.len(), d), |(i, j)| {
            f64::from(self.rows[members[i] * d + j])
        });
        let y = Array1::from_iter(members.iter().map(|&r| self.labels[r]));
        let quality = match self.params.split_quality {
            SplitQuality::Gini => LinfaQuality::Gini,
            SplitQuality::Entropy => LinfaQuality::Entropy,
        };
        let stump = DecisionTree::<f64, bool>::params()
            .split_quality(quality)
            .max_depth(Some(1))
            .min_weight_leaf(self.params.min_samples_leaf as f32)
            .min_weight_split(self.params.split_rows() as f32)
            .fit(&Dataset::new(x, y))
            .map_err(|e| ModelError::Training(format!("decision tree: {e}")))?;
        // The split survives linfa's pruning of same-label leaves (see the module docs); a node
        // linfa did not split reports an impurity decrease of exactly 0.
        let (feature, value, gain) = stump.root_node().split();
        if gain.is_nan() || gain <= 0.0 || feature >= d || !value.is_finite() {
            return Ok(None);
        }
        Ok(Some((feature, f32_at_or_below(value), gain as f32)))
    }
}

impl TreeModel {
    /// Fits on row-major rows. Deterministic: the same rows and labels give the same tree.
    pub fn fit(
        rows: &[f32],
        n_features: usize,
        labels: &[bool],
        params: &TreeValidParams,
    ) -> Result<Self, ModelError> {
        super::validate_training_data(rows, n_features, labels)?;
        let mut grower = Grower {
            rows,
            n_features,
            labels,
            params,
            nodes: Vec::new(),
        };
        grower.grow((0..labels.len()).collect(), 0)?;
        Ok(TreeModel {
            n_features,
            nodes: grower.nodes,
        })
    }

    /// Index of the leaf `row` reaches. Walks the flat node list without allocating.
    fn leaf_of(&self, row: &[f32]) -> usize {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf { .. } => return i,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    // A missing feature (a row shorter than the model's) reads as NaN: right.
                    let value = row.get(feature).copied().unwrap_or(f32::NAN);
                    i = if value <= threshold { left } else { right };
                }
            }
        }
    }

    /// The number of features the tree was fitted on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// P(positive) of one row.
    pub fn predict_one(&self, row: &[f32]) -> f64 {
        match self.nodes[self.leaf_of(row)] {
            Node::Leaf { rows, positives } => smoothed(rows, positives),
            // leaf_of only returns leaves.
            Node::Split { .. } => f64::NAN,
        }
    }

    /// P(positive) per row; an error unless `rows` holds whole rows of exactly the model's
    /// features.
    pub fn predict_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        check_rows(rows, n_features, Some(self.n_features))?;
        Ok(rows
            .chunks_exact(n_features)
            .map(|row| self.predict_one(row))
            .collect())
    }

    /// Total impurity decrease per feature (each split's decrease × its training rows),
    /// normalised to sum to 1; all zero for a tree without splits.
    pub fn feature_importance(&self) -> Vec<f64> {
        let mut importance = vec![0.0; self.n_features];
        for node in &self.nodes {
            if let Node::Split {
                feature,
                rows,
                gain,
                ..
            } = *node
            {
                importance[feature] += f64::from(gain) * rows as f64;
            }
        }
        let total: f64 = importance.iter().sum();
        if total > 0.0 {
            importance.iter_mut().for_each(|v| *v /= total);
        }
        importance
    }

    /// The tree as exportable nodes (true child when `value <= threshold`, NaN to the false
    /// child), leaves holding their smoothed probability.
    pub fn export_nodes(&self) -> Vec<super::onnx_export::ExportNode> {
        use super::onnx_export::ExportNode;
        self.nodes
            .iter()
            .map(|node| match *node {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => ExportNode::Split {
                    feature,
                    threshold: f64::from(threshold),
                    true_child: left,
                    false_child: right,
                    missing_true: false,
                },
                Node::Leaf { rows, positives } => ExportNode::Leaf(smoothed(rows, positives)),
            })
            .collect()
    }

    /// The nodes in pre-order; the root is first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of leaves.
    pub fn leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf { .. }))
            .count()
    }

    /// Depth of the deepest leaf (0 for a single leaf).
    pub fn depth(&self) -> usize {
        // Children come after parents, so one forward pass sees every parent's depth first.
        let mut depth = vec![0usize; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::Split { left, right, .. } = *node {
                depth[left] = depth[i] + 1;
                depth[right] = depth[i] + 1;
            }
        }
        depth.into_iter().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::auc;
    use rand::{Rng, SeedableRng};

    /// `n` rows of 3 uniform features in [0, 1); the label is `x1 > cut` (feature 0 and 2 are
    /// noise), flipped for a share `noise` of rows.
    fn threshold_data(n: usize, cut: f32, noise: f64, seed: u64) -> (Vec<f32>, Vec<bool>) {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut rows = Vec::with_capacity(n * 3);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let row: [f32; 3] = [rng.random(), rng.random(), rng.random()];
            let flip = rng.random::<f64>() < noise;
            labels.push((row[1] > cut) != flip);
            rows.extend_from_slice(&row);
        }
        (rows, labels)
    }

    fn small_leaves() -> TreeValidParams {
        TreeParams {
            min_samples_leaf: 5,
            ..TreeParams::default()
        }
        .check()
        .unwrap()
    }

    fn defaults() -> TreeValidParams {
        TreeParams::default().check().unwrap()
    }

    /// Every leaf's probability is the smoothed share of the training rows routed to it.
    fn assert_leaves_match_training_rows(model: &TreeModel, rows: &[f32], labels: &[bool]) {
        let mut counts = vec![(0u64, 0u64); model.nodes.len()];
        for (row, &label) in rows.chunks_exact(3).zip(labels) {
            let leaf = model.leaf_of(row);
            counts[leaf].0 += 1;
            counts[leaf].1 += u64::from(label);
        }
        let mut total = 0;
        for (i, node) in model.nodes.iter().enumerate() {
            if let Node::Leaf { rows: n, positives } = *node {
                assert_eq!(counts[i], (n, positives), "leaf {i}");
                total += n;
            }
        }
        assert_eq!(total as usize, labels.len());
        for (row, p) in rows
            .chunks_exact(3)
            .zip(model.predict_proba(rows, 3).unwrap())
            .take(200)
        {
            let (n, pos) = counts[model.leaf_of(row)];
            assert_eq!(p, (pos as f64 + 1.0) / (n as f64 + 2.0));
        }
    }

    #[test]
    fn a_threshold_rule_is_learned_with_leaf_frequencies_as_probabilities() {
        let (rows, labels) = threshold_data(2000, 0.4, 0.0, 1);
        let model = TreeModel::fit(&rows, 3, &labels, &small_leaves()).unwrap();
        let scores = model.predict_proba(&rows, 3).unwrap();
        let a = auc(&scores, &labels).unwrap();
        assert!(a > 0.999, "AUC {a}");
        // The root splits on feature 1 near the cut, and that split carries the importance.
        let Node::Split {
            feature, threshold, ..
        } = model.nodes[0]
        else {
            panic!("no split: {model:?}")
        };
        assert_eq!(feature, 1);
        assert!((threshold - 0.4).abs() < 0.01, "threshold {threshold}");
        let importance = model.feature_importance();
        assert!(importance[1] > 0.99, "{importance:?}");
        assert!((importance.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_leaves_match_training_rows(&model, &rows, &labels);
        // A fresh sample from the same rule is ranked just as well.
        let (test_rows, test_labels) = threshold_data(1000, 0.4, 0.0, 2);
        let a = auc(&model.predict_proba(&test_rows, 3).unwrap(), &test_labels).unwrap();
        assert!(a > 0.99, "test AUC {a}");
    }

    #[test]
    fn a_rare_positive_class_still_grows_a_tree() {
        // P(positive) is 30% where x1 > 0.8 and 2% elsewhere: no region has a positive majority.
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let (rows, _) = threshold_data(6000, 0.5, 0.0, 3);
        let labels: Vec<bool> = rows
            .chunks_exact(3)
            .map(|r| rng.random::<f64>() < if r[1] > 0.8 { 0.3 } else { 0.02 })
            .collect();
        // linfa prunes sibling leaves with the same majority label, so one fit of the whole tree
        // collapses to a single leaf (why the tree is grown split by split). If this starts to
        // fail, linfa changed its pruning and the workaround may no longer be needed.
        let x = Array2::from_shape_fn((labels.len(), 3), |(i, j)| f64::from(rows[i * 3 + j]));
        let whole = DecisionTree::<f64, bool>::params()
            .max_depth(Some(6))
            .min_weight_leaf(50.0)
            .fit(&Dataset::new(x, Array1::from(labels.clone())))
            .unwrap();
        assert_eq!(whole.num_leaves(), 1);
        // …while its first split is still reported.
        let (feature, value, gain) = whole.root_node().split();
        assert!(feature == 1 && (value - 0.8).abs() < 0.02 && gain > 0.0);

        let model = TreeModel::fit(&rows, 3, &labels, &defaults()).unwrap();
        let Node::Split {
            feature, threshold, ..
        } = model.nodes[0]
        else {
            panic!("no split: {model:?}")
        };
        assert!(feature == 1 && (threshold - 0.8).abs() < 0.02, "{model:?}");
        let a = auc(&model.predict_proba(&rows, 3).unwrap(), &labels).unwrap();
        assert!(a > 0.7, "AUC {a}");
        assert_leaves_match_training_rows(&model, &rows, &labels);
        assert!(model.depth() <= TreeParams::default().max_depth);
    }

    #[test]
    fn leaves_respect_min_samples_leaf_and_depth() {
        let (rows, labels) = threshold_data(3000, 0.5, 0.2, 4);
        let params = TreeParams {
            max_depth: 3,
            min_samples_leaf: 120,
            ..TreeParams::default()
        }
        .check()
        .unwrap();
        let model = TreeModel::fit(&rows, 3, &labels, &params).unwrap();
        assert!(model.depth() <= 3 && model.leaves() > 1);
        for node in model.nodes() {
            if let Node::Leaf { rows, .. } = node {
                assert!(*rows >= 120, "{model:?}");
            }
        }
        assert_leaves_match_training_rows(&model, &rows, &labels);
    }

    #[test]
    fn the_split_rule_sends_the_threshold_left_and_nan_right() {
        let model = TreeModel {
            n_features: 1,
            nodes: vec![
                Node::Split {
                    feature: 0,
                    threshold: 0.5,
                    left: 1,
                    right: 2,
                    rows: 4,
                    positives: 2,
                    gain: 0.5,
                },
                Node::Leaf {
                    rows: 2,
                    positives: 0,
                },
                Node::Leaf {
                    rows: 2,
                    positives: 2,
                },
            ],
        };
        assert_eq!(
            model
                .predict_proba(&[0.5, 0.50001, f32::NAN, -1.0], 1)
                .unwrap(),
            [0.25, 0.75, 0.75, 0.25]
        );
        // Rows must be whole rows of the model's features.
        assert!(model.predict_proba(&[0.5, 0.5], 2).is_err());
        assert!(model.predict_proba(&[0.5], 0).is_err());
        // A row missing the feature reads as NaN instead of panicking.
        assert_eq!(model.predict_one(&[]), 0.75);
    }

    #[test]
    fn thresholds_round_down_to_f32_so_the_rule_matches_the_midpoint() {
        for (a, b) in [
            (1.0f32, 1.0000001f32),
            (3649.0, 3650.0),
            (-2.5, -2.4999998),
            (-1e-40, 0.0),
            (0.0, 1e-45),
        ] {
            let mid = (f64::from(a) + f64::from(b)) / 2.0;
            let t = f32_at_or_below(mid);
            assert!(f64::from(t) <= mid && a <= t && t < b, "{a} {b} → {t}");
        }
    }

    #[test]
    fn saved_and_loaded_models_predict_bit_identically() {
        let (rows, labels) = threshold_data(1500, 0.3, 0.1, 5);
        let model = TreeModel::fit(&rows, 3, &labels, &small_leaves()).unwrap();
        let json = serde_json::to_string_pretty(&model).unwrap();
        let loaded: TreeModel = serde_json::from_str(&json).unwrap();
        assert_eq!(loaded, model);
        let (probe, _) = threshold_data(500, 0.3, 0.0, 6);
        let bits = |m: &TreeModel| -> Vec<u64> {
            m.predict_proba(&probe, 3)
                .unwrap()
                .iter()
                .map(|p| p.to_bits())
                .collect()
        };
        assert_eq!(bits(&loaded), bits(&model));
        assert_eq!(serde_json::to_string_pretty(&loaded).unwrap(), json);
    }

    #[test]
    fn fits_are_deterministic() {
        let (rows, labels) = threshold_data(2000, 0.6, 0.15, 7);
        let params = TreeParams {
            split_quality: SplitQuality::Entropy,
            min_samples_leaf: 5,
            ..TreeParams::default()
        }
        .check()
        .unwrap();
        let a = TreeModel::fit(&rows, 3, &labels, &params).unwrap();
        let b = TreeModel::fit(&rows, 3, &labels, &params).unwrap();
        assert_eq!(
            serde_json::to_vec(&a).unwrap(),
            serde_json::to_vec(&b).unwrap()
        );
    }

    #[test]
    fn invalid_params_name_the_key() {
        let cases = [
            (
                TreeParams {
                    max_depth: 0,
                    ..TreeParams::default()
                },
                "tree.max_depth: must be within 1..=32, got 0",
            ),
            (
                TreeParams {
                    max_depth: 33,
                    ..TreeParams::default()
                },
                "tree.max_depth: must be within 1..=32, got 33",
            ),
            (
                TreeParams {
                    min_samples_leaf: 0,
                    ..TreeParams::default()
                },
                "tree.min_samples_leaf: must be ≥ 1, got 0",
            ),
            (
                TreeParams {
                    min_weight_split: Some(1),
                    ..TreeParams::default()
                },
                "tree.min_weight_split: must be ≥ 2, got 1",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(params.check().unwrap_err().to_string(), message);
        }
        assert!(TreeParams::default().check().is_ok());
        // Unknown keys and unknown criteria are refused by the config parser.
        assert!(toml::from_str::<TreeParams>("depth = 3").is_err());
        assert!(toml::from_str::<TreeParams>("split_quality = \"variance\"").is_err());
        let parsed: TreeParams =
            toml::from_str("split_quality = \"entropy\"\nmin_weight_split = 10").unwrap();
        assert_eq!(parsed.split_quality, SplitQuality::Entropy);
        assert_eq!(parsed.min_weight_split, Some(10));
    }

    #[test]
    fn non_finite_rows_are_refused() {
        let (mut rows, labels) = threshold_data(100, 0.5, 0.0, 9);
        rows[4] = f32::NAN;
        let error = TreeModel::fit(&rows, 3, &labels, &defaults()).unwrap_err();
        assert!(error.to_string().contains("row 2, feature 1"), "{error}");
    }

    #[test]
    fn malformed_model_files_are_refused() {
        let leaf = r#"{"leaf": {"rows": 1, "positives": 0}}"#;
        let split = |feature: usize, left: usize, right: usize| {
            format!(
                r#"{{"split": {{"feature": {feature}, "threshold": 0.5, "left": {left}, "right": {right}, "rows": 2, "positives": 1, "gain": 0.1}}}}"#
            )
        };
        let tree =
            |nodes: &[String]| format!(r#"{{"n_features": 2, "nodes": [{}]}}"#, nodes.join(","));
        let ok = tree(&[split(1, 1, 2), leaf.into(), leaf.into()]);
        assert!(serde_json::from_str::<TreeModel>(&ok).is_ok());
        for (bad, problem) in [
            (tree(&[]), "no nodes"),
            (
                tree(&[split(2, 1, 2), leaf.into(), leaf.into()]),
                "feature 2",
            ),
            (tree(&[split(0, 0, 2), leaf.into(), leaf.into()]), "child 0"),
            (tree(&[split(0, 1, 3), leaf.into(), leaf.into()]), "child 3"),
        ] {
            let error = serde_json::from_str::<TreeModel>(&bad).unwrap_err();
            assert!(error.to_string().contains(problem), "{error}");
        }
    }
}
