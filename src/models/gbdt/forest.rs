//! The flat forest: the booster's trees laid out in one array for fast, bit-exact prediction.

use forust_ml::GradientBooster;

use super::masks::{self, LeafMasks};

/// One node of [`FlatForest`]. Leaves point to themselves, so a walk can take a fixed number of
/// steps (the tree's depth) without checking for leaves.
#[derive(Clone, Copy, Debug)]
struct FlatNode {
    /// Go left when `value < threshold`: the smallest f32 at or above forust's f64 split, so the
    /// f32 comparison decides exactly like forust's `f64::from(value) < split`.
    threshold: f32,
    /// The split's column among the forest's used features (see [`FlatForest::used`]).
    slot: u32,
    /// The next node by outcome, indexed without a branch (the outcome is data, so a branch
    /// would be mispredicted half the time): `[right, left, missing, missing]`.
    next: [u32; 4],
    /// Leaf weight (unused on splits).
    value: f64,
}

/// The booster's prediction trees in one array with absolute child indices. Predicting walks
/// the rows tree by tree and level by level across all rows (the rows' walks are independent,
/// so the CPU overlaps them), reading the rows column-major: a tree reads a handful of
/// features, whose values for all the rows sit together in cache. The arithmetic is forust's
/// (base score, then each tree's leaf value in order), so results are bit-identical to
/// `GradientBooster::predict`.
#[derive(Debug)]
pub(super) struct FlatForest {
    nodes: Vec<FlatNode>,
    /// Root index and depth of each tree.
    trees: Vec<(u32, u32)>,
    base_score: f64,
    missing: f64,
    /// The features any tree splits on, sorted: a node's `slot` indexes this list.
    used: Vec<u32>,
    /// Highest feature each tree splits on (index-aligned with `trees`).
    tree_max_feature: Vec<usize>,
    /// The slots each tree splits on, sorted (index-aligned with `trees`).
    tree_slots: Vec<Vec<u32>>,
    /// Every split sends missing values right, where a NaN goes anyway (it fails `<`): walks
    /// need not test for missing values when the missing value is NaN.
    missing_goes_right: bool,
    /// The trees as leaf masks, evaluated instead of walked when missing values are NaN and go
    /// right and every tree is small enough (see [`LeafMasks`]).
    masks: Option<LeafMasks>,
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
        let used_trees = booster
            .prediction_iteration
            .unwrap_or(booster.trees.len())
            .min(booster.trees.len());
        let trees_used = &booster.trees[..used_trees];
        let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        let mut used: Vec<u32> = trees_used
            .iter()
            .flat_map(|tree| tree.nodes.iter())
            .filter(|n| !n.is_leaf)
            .map(|n| index(n.split_feature))
            .collect();
        used.sort_unstable();
        used.dedup();
        // `used` holds every split feature, so the search always finds it.
        let slot_of = |feature: usize| index(used.binary_search(&index(feature)).unwrap_or(0));
        let mut nodes: Vec<FlatNode> = Vec::new();
        let mut trees = Vec::with_capacity(used_trees);
        let mut tree_max_feature = Vec::with_capacity(used_trees);
        let mut tree_slots = Vec::with_capacity(used_trees);
        let mut missing_goes_right = true;
        for tree in trees_used {
            let offset = nodes.len();
            let count = tree.nodes.len();
            // A child outside the tree (malformed model) becomes a self-loop: never a panic.
            let child = |own: usize, i: usize| index(offset + if i < count { i } else { own });
            let mut depth = 0;
            let mut highest = 0;
            for (i, node) in tree.nodes.iter().enumerate() {
                depth = depth.max(node.depth);
                nodes.push(if node.is_leaf {
                    let own = index(offset + i);
                    FlatNode {
                        threshold: f32::NAN,
                        slot: 0,
                        next: [own; 4],
                        value: f64::from(node.weight_value),
                    }
                } else {
                    highest = highest.max(node.split_feature);
                    let missing = child(i, node.missing_node);
                    missing_goes_right &= missing == child(i, node.right_child);
                    FlatNode {
                        threshold: f32_threshold(node.split_value),
                        slot: slot_of(node.split_feature),
                        next: [
                            child(i, node.right_child),
                            child(i, node.left_child),
                            missing,
                            missing,
                        ],
                        value: 0.0,
                    }
                });
            }
            if count > 0 {
                trees.push((index(offset), index(depth)));
                tree_max_feature.push(highest);
                let mut slots: Vec<u32> = tree
                    .nodes
                    .iter()
                    .filter(|n| !n.is_leaf)
                    .map(|n| slot_of(n.split_feature))
                    .collect();
                slots.sort_unstable();
                slots.dedup();
                tree_slots.push(slots);
            }
        }
        let masks = if booster.missing.is_nan() && missing_goes_right {
            let flat: Vec<masks::Node> = nodes
                .iter()
                .map(|n| (n.threshold, n.slot, [n.next[0], n.next[1]], n.value))
                .collect();
            LeafMasks::new(&flat, &trees)
        } else {
            None
        };
        FlatForest {
            masks,
            nodes,
            trees,
            base_score: booster.base_score,
            missing: booster.missing,
            used,
            tree_max_feature,
            tree_slots,
            missing_goes_right,
        }
    }

    /// The used features of `rows` (row-major, `n_features` each) column by column, `n` values
    /// per column; features the rows lack read as missing (NaN). Returns the columns and `n`.
    fn columns(&self, rows: &[f32], n_features: usize) -> (Vec<f32>, usize) {
        let n = rows.len() / n_features.max(1);
        // At least one column, so that a leaf's slot 0 is always inside.
        let mut columns = vec![f32::NAN; self.used.len().max(1) * n];
        for (column, &feature) in columns.chunks_exact_mut(n.max(1)).zip(&self.used) {
            let f = feature as usize;
            if f < n_features {
                for (value, row) in column.iter_mut().zip(rows.chunks_exact(n_features)) {
                    *value = row[f];
                }
            }
        }
        (columns, n)
    }

    /// The slot of a feature, when some tree splits on it.
    fn slot(&self, feature: usize) -> Option<usize> {
        let feature = u32::try_from(feature).ok()?;
        self.used.binary_search(&feature).ok()
    }

    /// Walks the first `at.len()` rows down tree `t` (by leaf masks, or level by level across
    /// the rows); leaves in `at` each row's leaf, to read with [`FlatForest::leaf`]. `columns` holds `n` values
    /// per slot.
    #[inline]
    fn walk(&self, t: usize, columns: &[f32], n: usize, at: &mut [u32]) {
        if let Some(masks) = &self.masks {
            return masks.walk(t, columns, n, at);
        }
        let (root, depth) = self.trees[t];
        if self.missing.is_nan() && self.missing_goes_right {
            self.walk_with(root, depth, columns, n, at, |_| false);
        } else if self.missing.is_nan() {
            self.walk_with(root, depth, columns, n, at, f32::is_nan);
        } else {
            let missing = self.missing as f32;
            self.walk_with(root, depth, columns, n, at, |v| v == missing);
        }
    }

    /// The value of a leaf [`FlatForest::walk`] ended at.
    #[inline]
    fn leaf(&self, i: u32) -> f64 {
        match &self.masks {
            Some(masks) => masks.leaf(i),
            None => self.nodes[i as usize].value,
        }
    }

    #[inline(always)]
    fn walk_with(
        &self,
        root: u32,
        depth: u32,
        columns: &[f32],
        n: usize,
        at: &mut [u32],
        is_missing: impl Fn(f32) -> bool,
    ) {
        at.fill(root);
        for _ in 0..depth {
            for (r, i) in at.iter_mut().enumerate() {
                let node = &self.nodes[*i as usize];
                let v = columns[node.slot as usize * n + r];
                // NaN compares false, so it goes right unless it is missing.
                let outcome = usize::from(v < node.threshold) | usize::from(is_missing(v)) << 1;
                *i = node.next[outcome];
            }
        }
    }

    /// Log-odds of each row and of each row with one of the `hot` columns set to 1 (one
    /// treatment indicator switched on): per row `1 + hot.len()` values, the row as given
    /// first. Walked tree-major over all rows; a tree that does not split on a hot column puts
    /// that variant in the row's own leaf, so only the variants a tree reads are walked. The
    /// sums are added in tree order, as for the materialised rows: the bits are the same.
    pub(super) fn logits_onehot(&self, rows: &[f32], n_features: usize, hot: &[usize]) -> Vec<f64> {
        let (mut columns, n) = self.columns(rows, n_features);
        let stride = 1 + hot.len();
        // Variant-major while summing (variant v's sums at `v * n..`), so that adding a tree's
        // leaf values is a contiguous, vectorised add; interleaved per row at the end.
        let mut sums = vec![self.base_score; n * stride];
        let slots: Vec<Option<usize>> = hot.iter().map(|&c| self.slot(c)).collect();
        let mut base = vec![0u32; n];
        let mut at = vec![0u32; n];
        let mut saved = vec![0f32; n];
        let mut leaf = vec![0f64; n];
        for t in 0..self.trees.len() {
            self.walk(t, &columns, n, &mut base);
            for (value, &i) in leaf.iter_mut().zip(&base) {
                *value = self.leaf(i);
            }
            let (own, variants) = sums.split_at_mut(n);
            add(own, &leaf);
            let reads = &self.tree_slots[t];
            for (slot, part) in slots.iter().zip(variants.chunks_exact_mut(n.max(1))) {
                match slot {
                    Some(s) if reads.binary_search(&(*s as u32)).is_ok() => {
                        let column = &mut columns[s * n..(s + 1) * n];
                        saved.copy_from_slice(column);
                        column.fill(1.0);
                        self.walk(t, &columns, n, &mut at);
                        columns[s * n..(s + 1) * n].copy_from_slice(&saved);
                        for (sum, &i) in part.iter_mut().zip(&at) {
                            *sum += self.leaf(i);
                        }
                    }
                    _ => add(part, &leaf),
                }
            }
        }
        let mut out = vec![0f64; n * stride];
        for (v, part) in sums.chunks_exact(n.max(1)).enumerate() {
            for (r, &sum) in part.iter().enumerate() {
                out[r * stride + v] = sum;
            }
        }
        out
    }

    /// Log-odds of each row, for rows whose first `shared` columns are identical: a tree that
    /// splits only on those columns puts every row in the same leaf, so it is walked once.
    pub(super) fn logits(&self, rows: &[f32], n_features: usize, shared: usize) -> Vec<f64> {
        let (columns, n) = self.columns(rows, n_features);
        let mut sums = vec![self.base_score; n];
        let mut at = vec![0u32; n];
        for t in 0..self.trees.len() {
            // Rows beyond the first only matter when the tree reads a column they differ in.
            let walked = if self.tree_max_feature[t] < shared {
                n.min(1)
            } else {
                n
            };
            self.walk(t, &columns, n, &mut at[..walked]);
            if walked < n {
                let first = at[0];
                at.fill(first);
            }
            for (sum, &i) in sums.iter_mut().zip(&at) {
                *sum += self.leaf(i);
            }
        }
        sums
    }
}

/// `sums[r] += values[r]` for every row.
#[inline]
fn add(sums: &mut [f64], values: &[f64]) {
    for (sum, &value) in sums.iter_mut().zip(values) {
        *sum += value;
    }
}
