//! Two segments' journeys side by side: the same paths query for a second segment, and every
//! transition with both segments' counts and probabilities and the difference.

use serde::{Deserialize, Serialize};

use super::paths::Paths;
use super::table::Table;

/// One transition in both segments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EdgeComparison {
    /// Source node.
    pub from: String,
    /// Target node.
    pub to: String,
    /// Transitions in the first segment.
    pub count: u64,
    /// Share of the source's transitions in the first segment (0 when absent there).
    pub probability: f64,
    /// Transitions in the second segment.
    pub compared_count: u64,
    /// Share of the source's transitions in the second segment.
    pub compared_probability: f64,
    /// compared_probability − probability.
    pub difference: f64,
}

/// The second segment's paths and the transitions compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparedPaths {
    /// The second segment's conditions, as given.
    pub segment: String,
    /// Its paths (same query, same period).
    pub paths: Paths,
    /// Every transition of either segment, largest absolute difference first.
    pub edges: Vec<EdgeComparison>,
}

/// Compares `first`'s transitions with `second`'s.
pub fn compare_paths(first: &Paths, second: Paths, segment: &str) -> ComparedPaths {
    let mut edges: Vec<EdgeComparison> = first
        .edges
        .iter()
        .map(|e| EdgeComparison {
            from: e.from.clone(),
            to: e.to.clone(),
            count: e.count,
            probability: e.probability,
            compared_count: 0,
            compared_probability: 0.0,
            difference: 0.0,
        })
        .collect();
    for e in &second.edges {
        match edges.iter_mut().find(|x| x.from == e.from && x.to == e.to) {
            Some(x) => {
                x.compared_count = e.count;
                x.compared_probability = e.probability;
            }
            None => edges.push(EdgeComparison {
                from: e.from.clone(),
                to: e.to.clone(),
                count: 0,
                probability: 0.0,
                compared_count: e.count,
                compared_probability: e.probability,
                difference: 0.0,
            }),
        }
    }
    for e in &mut edges {
        e.difference = e.compared_probability - e.probability;
    }
    edges.sort_by(|a, b| {
        b.difference
            .abs()
            .total_cmp(&a.difference.abs())
            .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
    });
    ComparedPaths {
        segment: segment.to_string(),
        paths: second,
        edges,
    }
}

impl ComparedPaths {
    /// The transitions compared.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            "edges_compared",
            &[
                "from",
                "to",
                "count",
                "probability",
                "compared_count",
                "compared_probability",
                "difference",
            ],
        );
        for e in &self.edges {
            t.push(vec![
                e.from.as_str().into(),
                e.to.as_str().into(),
                e.count.into(),
                e.probability.into(),
                e.compared_count.into(),
                e.compared_probability.into(),
                e.difference.into(),
            ]);
        }
        t
    }
}
