//! The flat forest's trees rewritten as complete binary trees, for the common case of shallow
//! trees whose splits send missing values right: a walk then computes each child's position
//! (`2p + 1` left, `2p + 2` right) instead of loading it, and keeps a few rows' positions in
//! registers through a tree's levels instead of storing them between levels.

/// Rows walked together: their positions stay in registers and their loads overlap.
const LANES: usize = 8;

/// Deepest tree rewritten (a complete tree of depth d has 2^d leaves).
pub(super) const MAX_DEPTH: u32 = 12;

/// One tree of [`CompleteTrees`].
#[derive(Clone, Copy, Debug)]
struct Tree {
    /// First of its `2^depth - 1` splits in [`CompleteTrees::splits`].
    splits: usize,
    /// First of its `2^depth` leaves in [`CompleteTrees::leaves`].
    leaves: usize,
    depth: u32,
}

/// Complete binary trees in heap order: split `p`'s children are `2p + 1` (the value is below
/// the threshold) and `2p + 2` (otherwise, NaN included). A leaf above the deepest level
/// becomes splits that always go right (a NaN threshold) over copies of its value, so every
/// walk takes exactly `depth` steps and ends where the flat forest's walk ends.
#[derive(Debug)]
pub(super) struct CompleteTrees {
    trees: Vec<Tree>,
    /// (threshold, column slot) of each split.
    splits: Vec<(f32, u32)>,
    /// Leaf values; a walk returns indices into this.
    leaves: Vec<f64>,
}

/// A flat-forest node as the rewrite needs it: threshold, slot, (right, left) children,
/// value. A leaf's children are itself.
pub(super) type Node = (f32, u32, [u32; 2], f64);

impl CompleteTrees {
    /// The rewrite of trees given by (root, depth) over `nodes`; `None` when a tree is deeper
    /// than [`MAX_DEPTH`].
    pub(super) fn new(nodes: &[Node], trees: &[(u32, u32)]) -> Option<Self> {
        let mut complete = CompleteTrees {
            trees: Vec::with_capacity(trees.len()),
            splits: Vec::new(),
            leaves: Vec::new(),
        };
        for &(root, depth) in trees {
            if depth > MAX_DEPTH {
                return None;
            }
            let tree = Tree {
                splits: complete.splits.len(),
                leaves: complete.leaves.len(),
                depth,
            };
            complete
                .splits
                .resize(tree.splits + (1 << depth) - 1, (f32::NAN, 0));
            complete.leaves.resize(tree.leaves + (1 << depth), 0.0);
            complete.fill(nodes, &tree, root as usize, 0, 0);
            complete.trees.push(tree);
        }
        Some(complete)
    }

    /// Writes the subtree of flat node `node` at heap position `position`, `level` deep.
    fn fill(&mut self, nodes: &[Node], tree: &Tree, node: usize, position: usize, level: u32) {
        let Some(&(threshold, slot, [right, left], value)) = nodes.get(node) else {
            return;
        };
        let first_leaf = (1usize << tree.depth) - 1;
        if level == tree.depth {
            self.leaves[tree.leaves + position - first_leaf] = value;
            return;
        }
        // A leaf is its own child: it fills its whole subtree with its value.
        self.splits[tree.splits + position] = (threshold, slot);
        self.fill(nodes, tree, left as usize, 2 * position + 1, level + 1);
        self.fill(nodes, tree, right as usize, 2 * position + 2, level + 1);
    }

    /// Leaf `i`'s value (`i` from [`CompleteTrees::walk`]).
    #[inline]
    pub(super) fn leaf(&self, i: u32) -> f64 {
        self.leaves[i as usize]
    }

    /// Walks the first `at.len()` rows down tree `t`; leaves each row's leaf index in `at`.
    /// `columns` holds `n` values per slot.
    #[inline]
    pub(super) fn walk(&self, t: usize, columns: &[f32], n: usize, at: &mut [u32]) {
        let tree = self.trees[t];
        let count = (1usize << tree.depth) - 1;
        let splits = &self.splits[tree.splits..tree.splits + count];
        // The child's position: the right one unless the value is below the threshold.
        let step = |position: usize, row: usize| {
            let (threshold, slot) = splits[position];
            let value = columns[slot as usize * n + row];
            2 * position + 2 - usize::from(value < threshold)
        };
        let leaf = |position: usize| u32::try_from(tree.leaves + position - count).unwrap_or(0);
        let mut chunks = at.chunks_exact_mut(LANES);
        let mut first = 0;
        for chunk in &mut chunks {
            let mut positions = [0usize; LANES];
            for _ in 0..tree.depth {
                for (k, position) in positions.iter_mut().enumerate() {
                    *position = step(*position, first + k);
                }
            }
            for (i, position) in chunk.iter_mut().zip(positions) {
                *i = leaf(position);
            }
            first += LANES;
        }
        for (k, i) in chunks.into_remainder().iter_mut().enumerate() {
            let mut position = 0;
            for _ in 0..tree.depth {
                position = step(position, first + k);
            }
            *i = leaf(position);
        }
    }
}
