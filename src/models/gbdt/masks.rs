//! The flat forest's small trees evaluated by leaf elimination instead of walks, for the
//! common case of trees with at most 32 leaves whose splits send missing values right.
//!
//! Number a tree's leaves left to right. A row that goes right at a split cannot end in that
//! split's left subtree, so each split the row goes right at clears its left subtree's leaves
//! from a 32-bit mask; the row's leaf is the lowest leaf left. Every split is tested against
//! every row, on or off the row's path (a split off the path only clears leaves the row does
//! not reach), so the work is a few vector instructions per split and block of rows, with no
//! data-dependent loads — instead of a chain of dependent loads per level and row.

/// Most leaves a tree may have (bits of the mask).
const MAX_LEAVES: usize = 32;

/// One tree of [`LeafMasks`].
#[derive(Clone, Debug)]
struct Tree {
    /// Its splits in [`LeafMasks::splits`].
    splits: std::ops::Range<usize>,
    /// Its first leaf in [`LeafMasks::leaves`].
    leaves: u32,
}

/// A split: threshold, column slot, and the mask that clears its left subtree's leaves.
type Split = (f32, u32, u32);

/// Small trees as splits with leaf masks; see the module documentation.
#[derive(Debug)]
pub(super) struct LeafMasks {
    trees: Vec<Tree>,
    splits: Vec<Split>,
    /// Leaf values, left to right per tree; [`LeafMasks::walk`] returns indices into this.
    leaves: Vec<f64>,
}

/// A flat-forest node as the rewrite needs it: threshold, slot, (right, left) children,
/// value. A leaf's children are itself.
pub(super) type Node = (f32, u32, [u32; 2], f64);

impl LeafMasks {
    /// The trees given by (root, depth) over `nodes`; `None` unless every tree is a proper
    /// binary tree with at most 32 leaves, each no deeper than the tree's depth (so that the
    /// flat forest's walk of `depth` steps ends at the same leaf).
    pub(super) fn new(nodes: &[Node], trees: &[(u32, u32)]) -> Option<Self> {
        let mut masks = LeafMasks {
            trees: Vec::with_capacity(trees.len()),
            splits: Vec::new(),
            leaves: Vec::new(),
        };
        let mut seen = vec![false; nodes.len()];
        for &(root, depth) in trees {
            let first_split = masks.splits.len();
            let leaves = u32::try_from(masks.leaves.len()).ok()?;
            masks.add(nodes, &mut seen, root as usize, 0, depth, leaves)?;
            masks.trees.push(Tree {
                splits: first_split..masks.splits.len(),
                leaves,
            });
        }
        Some(masks)
    }

    /// Adds the subtree of `node` (`level` deep); returns the mask of its leaves.
    fn add(
        &mut self,
        nodes: &[Node],
        seen: &mut [bool],
        node: usize,
        level: u32,
        depth: u32,
        first_leaf: u32,
    ) -> Option<u32> {
        let &(threshold, slot, [right, left], value) = nodes.get(node)?;
        // A node reached twice (a malformed tree) is no tree: the walk is used instead.
        if std::mem::replace(seen.get_mut(node)?, true) {
            return None;
        }
        let own = u32::try_from(node).ok()?;
        if right == own && left == own {
            let bit = self.leaves.len() - first_leaf as usize;
            if bit >= MAX_LEAVES {
                return None;
            }
            self.leaves.push(value);
            return Some(1 << bit);
        }
        if level >= depth || right == own || left == own {
            return None;
        }
        let at = self.splits.len();
        self.splits.push((threshold, slot, 0));
        let left_leaves = self.add(nodes, seen, left as usize, level + 1, depth, first_leaf)?;
        let right_leaves = self.add(nodes, seen, right as usize, level + 1, depth, first_leaf)?;
        self.splits[at].2 = !left_leaves;
        Some(left_leaves | right_leaves)
    }

    /// Leaf `i`'s value (`i` from [`LeafMasks::walk`]).
    #[inline]
    pub(super) fn leaf(&self, i: u32) -> f64 {
        self.leaves[i as usize]
    }

    /// Finds the leaf of each of the first `at.len()` rows in tree `t` and leaves its index in
    /// `at`. `columns` holds `n` values per slot.
    #[inline]
    pub(super) fn walk(&self, t: usize, columns: &[f32], n: usize, at: &mut [u32]) {
        let tree = &self.trees[t];
        let rows = at.len();
        at.fill(u32::MAX);
        for &(threshold, slot, clear) in &self.splits[tree.splits.clone()] {
            let column = &columns[slot as usize * n..][..rows];
            for (mask, &value) in at.iter_mut().zip(column) {
                // Below the threshold goes left (keeps everything); otherwise, NaN included,
                // right: the left subtree's leaves are out.
                *mask &= if value < threshold { u32::MAX } else { clear };
            }
        }
        for mask in at.iter_mut() {
            *mask = tree.leaves + mask.trailing_zeros();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_leaf_left_is_where_the_walk_ends_and_nan_goes_right() {
        // Node 0 splits column slot 0 at 0.5: left is leaf 1 (value 1); right is node 2,
        // which splits slot 1 at 0: left leaf 3 (value 2), right leaf 4 (value 3).
        let leaf = |i: u32, value: f64| (f32::NAN, 0, [i, i], value);
        let nodes: Vec<Node> = vec![
            (0.5, 0, [2, 1], 0.0),
            leaf(1, 1.0),
            (0.0, 1, [4, 3], 0.0),
            leaf(3, 2.0),
            leaf(4, 3.0),
        ];
        let trees = LeafMasks::new(&nodes, &[(0, 2)]).unwrap();
        let slot0 = [
            0.0,
            0.4,
            0.6,
            0.6,
            f32::NAN,
            f32::NAN,
            0.5,
            -1.0,
            9.0,
            0.6,
            f32::NAN,
        ];
        let slot1 = [
            0.0,
            5.0,
            -1.0,
            1.0,
            -1.0,
            f32::NAN,
            -0.5,
            0.0,
            0.0,
            f32::NAN,
            3.0,
        ];
        let want = [1.0, 1.0, 2.0, 3.0, 2.0, 3.0, 2.0, 1.0, 3.0, 3.0, 3.0];
        let columns: Vec<f32> = slot0.iter().chain(&slot1).copied().collect();
        let mut at = vec![0u32; 11];
        trees.walk(0, &columns, 11, &mut at);
        let got: Vec<f64> = at.iter().map(|&i| trees.leaf(i)).collect();
        assert_eq!(got, want);
        // Only the first rows: the rest is left alone.
        let mut few = [u32::MAX; 3];
        trees.walk(0, &columns, 11, &mut few[..2]);
        assert_eq!(few[2], u32::MAX);
        // A leaf deeper than the tree's depth, or a node reached twice: no rewrite.
        assert!(LeafMasks::new(&nodes, &[(0, 1)]).is_none());
        let twice = [(0.5, 0, [1, 1], 0.0), leaf(1, 1.0)];
        assert!(LeafMasks::new(&twice, &[(0, 1)]).is_none());
    }
}
