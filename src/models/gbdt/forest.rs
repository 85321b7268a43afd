//! The flat forest: the booster's trees laid out in one array for fast, bit-exact prediction.

use forust_ml::GradientBooster;

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
pub(super) struct FlatForest {
    nodes: Vec<FlatNode>,
    /// Root index and depth of each tree.
    trees: Vec<(u32, u32)>,
    base_score: f64,
    missing: f64,
    /// Rows must have more columns than this.
    max_feature: usize,
    /// Highest feature each tree splits on (index-aligned with `trees`).
    tree_max_feature: Vec<usize>,
    /// The distinct features each tree splits on, sorted (index-aligned with `trees`).
    tree_features: Vec<Vec<u32>>,
}

/// The smallest f32 that is ≥ `split` (infinite beyond f32's range, NaN for NaN).
pub(super) fn f32_threshold(split: f64) -> f32 {
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
    pub(super) fn new(booster: &GradientBooster) -> Self {
        let used = booster
            .prediction_iteration
            .unwrap_or(booster.trees.len())
            .min(booster.trees.len());
        let mut nodes: Vec<FlatNode> = Vec::new();
        let mut trees = Vec::with_capacity(used);
        let mut tree_max_feature = Vec::with_capacity(used);
        let mut tree_features = Vec::with_capacity(used);
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
                let mut used: Vec<u32> = tree
                    .nodes
                    .iter()
                    .filter(|n| !n.is_leaf)
                    .map(|n| index(n.split_feature))
                    .collect();
                used.sort_unstable();
                used.dedup();
                tree_features.push(used);
            }
        }
        FlatForest {
            nodes,
            trees,
            base_score: booster.base_score,
            missing: booster.missing,
            max_feature,
            tree_max_feature,
            tree_features,
        }
    }

    /// Rows narrower than the model, padded with missing values to its width.
    fn padded(&self, rows: &[f32], n_features: usize) -> (Vec<f32>, usize) {
        let width = self.max_feature + 1;
        let mut padded = Vec::with_capacity(rows.len() / n_features.max(1) * width);
        for row in rows.chunks_exact(n_features.max(1)) {
            padded.extend_from_slice(row);
            padded.extend(std::iter::repeat_n(f32::NAN, width - row.len()));
        }
        (padded, width)
    }

    /// Walks the first `at.len()` rows down one tree, level by level across the rows (their
    /// walks are independent, so the CPU overlaps them); leaves `at` at each row's leaf.
    #[inline]
    fn walk(&self, root: u32, depth: u32, rows: &[f32], n_features: usize, at: &mut [u32]) {
        at.fill(root);
        let missing_is_nan = self.missing.is_nan();
        let missing = self.missing as f32;
        for _ in 0..depth {
            for (r, i) in at.iter_mut().enumerate() {
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
    }

    /// Log-odds of each row and of each row with one of the `hot` columns set to 1 (one
    /// treatment indicator switched on): per row `1 + hot.len()` values, the row as given
    /// first. Walked tree-major over all rows; a tree that does not split on a hot column puts
    /// that variant in the row's own leaf, so only the variants a tree reads are walked. The
    /// sums are added in tree order, as for the materialised rows: the bits are the same.
    pub(super) fn logits_onehot(&self, rows: &[f32], n_features: usize, hot: &[usize]) -> Vec<f64> {
        if n_features <= self.max_feature {
            let (padded, width) = self.padded(rows, n_features);
            return self.logits_onehot(&padded, width, hot);
        }
        let n = rows.len() / n_features;
        let stride = 1 + hot.len();
        let mut sums = vec![self.base_score; n * stride];
        let mut scratch = rows.to_vec();
        let mut base = vec![0u32; n];
        let mut at = vec![0u32; n];
        for (t, &(root, depth)) in self.trees.iter().enumerate() {
            self.walk(root, depth, &scratch, n_features, &mut base);
            let reads = &self.tree_features[t];
            for (j, &column) in hot.iter().enumerate() {
                let leaves = if u32::try_from(column).is_ok_and(|c| reads.binary_search(&c).is_ok())
                {
                    for r in 0..n {
                        scratch[r * n_features + column] = 1.0;
                    }
                    self.walk(root, depth, &scratch, n_features, &mut at);
                    for r in 0..n {
                        scratch[r * n_features + column] = rows[r * n_features + column];
                    }
                    &at
                } else {
                    &base
                };
                for (r, &leaf) in leaves.iter().enumerate() {
                    sums[r * stride + 1 + j] += self.nodes[leaf as usize].value;
                }
            }
            for (r, &leaf) in base.iter().enumerate() {
                sums[r * stride] += self.nodes[leaf as usize].value;
            }
        }
        sums
    }

    /// Log-odds of each row, for rows whose first `shared` columns are identical: a tree that
    /// splits only on those columns puts every row in the same leaf, so it is walked once.
    pub(super) fn logits(&self, rows: &[f32], n_features: usize, shared: usize) -> Vec<f64> {
        if n_features <= self.max_feature {
            // Rows narrower than the model: the absent features read as missing.
            let (padded, width) = self.padded(rows, n_features);
            return self.logits(&padded, width, shared);
        }
        let n = rows.len() / n_features;
        let mut sums = vec![self.base_score; n];
        let mut at = vec![0u32; n];
        for (t, &(root, depth)) in self.trees.iter().enumerate() {
            // Rows beyond the first only matter when the tree reads a column they differ in.
            let walked = if self.tree_max_feature[t] < shared {
                n.min(1)
            } else {
                n
            };
            self.walk(root, depth, rows, n_features, &mut at[..walked]);
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
