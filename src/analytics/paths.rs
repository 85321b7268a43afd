//! Paths as a journey map: sessions, the transition graph, the top paths, and the steps after
//! (or before) an anchor event as a Sankey.
//!
//! A session is a customer's run of events with no gap longer than the inactivity gap; within it
//! consecutive events with the same label are collapsed into one (path cleaning). Every session
//! begins at the virtual node `(start)` and ends at `(end)`, so a node's outgoing probabilities
//! sum to one and "leaves after X" is an edge like any other.

use std::str::FromStr;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::funnel::StepSpec;
use super::log::EventLog;
use super::table::Table;
use crate::journey::Timestamp;

/// The virtual first node of every session.
pub const START: &str = "(start)";
/// The virtual last node of every session.
pub const END: &str = "(end)";

/// What names a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeLabel {
    /// The event type.
    #[default]
    EventType,
    /// The event type and channel, `type@channel`.
    EventTypeAndChannel,
}

/// Which way from the anchor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The steps that follow the anchor.
    #[default]
    After,
    /// The steps that lead to it.
    Before,
}

impl FromStr for Direction {
    type Err = AnalyticsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "after" => Ok(Direction::After),
            "before" => Ok(Direction::Before),
            other => Err(AnalyticsError::invalid(
                "direction",
                format!("'{other}' is not after or before"),
            )),
        }
    }
}

/// A paths query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathSpec {
    /// The inactivity gap that ends a session, in minutes.
    pub gap_minutes: f64,
    /// Whether consecutive events with the same label are collapsed into one.
    pub collapse_repeats: bool,
    /// What names a node.
    pub label: NodeLabel,
    /// Event types left out entirely (e.g. `page_view`).
    pub exclude: Vec<String>,
    /// How many top paths to list.
    pub top: usize,
    /// Paths longer than this many steps are cut (and end in `…`).
    pub max_path_steps: usize,
    /// The anchor event of the Sankey, if any.
    pub anchor: Option<StepSpec>,
    /// Which way from the anchor.
    pub direction: Direction,
    /// How many steps from the anchor.
    pub steps: usize,
}

impl Default for PathSpec {
    fn default() -> Self {
        PathSpec {
            gap_minutes: 30.0,
            collapse_repeats: true,
            label: NodeLabel::EventType,
            exclude: Vec::new(),
            top: 20,
            max_path_steps: 8,
            anchor: None,
            direction: Direction::After,
            steps: 3,
        }
    }
}

impl PathSpec {
    /// Whether the paths look at channels or actions (channel labels, an anchor naming one);
    /// if not, the log can be read without them ([`super::LogOptions::details`]).
    pub fn uses_details(&self) -> bool {
        self.label == NodeLabel::EventTypeAndChannel
            || self.anchor.as_ref().is_some_and(StepSpec::uses_details)
    }

    /// Checks the limits.
    pub fn validate(&self) -> Result<()> {
        if !(self.gap_minutes > 0.0 && self.gap_minutes <= 525_600.0) {
            return Err(AnalyticsError::invalid(
                "gap",
                format!("must be > 0 and ≤ 525600 minutes, got {}", self.gap_minutes),
            ));
        }
        if self.top == 0 || self.top > 1000 {
            return Err(AnalyticsError::invalid(
                "top",
                format!("must be 1 to 1000, got {}", self.top),
            ));
        }
        if self.max_path_steps == 0 || self.max_path_steps > 50 {
            return Err(AnalyticsError::invalid(
                "max_path_steps",
                format!("must be 1 to 50, got {}", self.max_path_steps),
            ));
        }
        if self.steps == 0 || self.steps > 20 {
            return Err(AnalyticsError::invalid(
                "steps",
                format!("must be 1 to 20, got {}", self.steps),
            ));
        }
        Ok(())
    }
}

/// One edge of the transition graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Source node.
    pub from: String,
    /// Target node.
    pub to: String,
    /// Transitions.
    pub count: u64,
    /// Share of the source's outgoing transitions.
    pub probability: f64,
}

/// One of the most frequent session paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopPath {
    /// Its nodes joined by ` → `.
    pub path: String,
    /// Sessions that followed it.
    pub sessions: u64,
    /// Share of all sessions.
    pub share: f64,
}

/// One link of the anchor Sankey: from step `step − 1` to step `step` (0 is the anchor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SankeyLink {
    /// Steps from the anchor of the link's target (1, 2, …; before the anchor too).
    pub step: usize,
    /// Source node.
    pub from: String,
    /// Target node.
    pub to: String,
    /// Sessions.
    pub count: u64,
}

/// A paths result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paths {
    /// The query.
    pub spec: PathSpec,
    /// Sessions counted.
    pub sessions: u64,
    /// Customers with at least one session.
    pub customers: u64,
    /// Nodes with how often each occurs (after collapsing), most frequent first.
    pub nodes: Vec<(String, u64)>,
    /// The transition graph, by descending count.
    pub edges: Vec<Edge>,
    /// The most frequent paths.
    pub top_paths: Vec<TopPath>,
    /// Sessions that contain the anchor.
    pub anchor_sessions: u64,
    /// The Sankey links from the anchor.
    pub sankey: Vec<SankeyLink>,
    /// A second segment's paths beside these (`compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<Box<super::compare::ComparedPaths>>,
}

/// Computes sessions, graph, top paths and the anchor Sankey over `[from, to)`.
pub fn paths(
    log: &EventLog,
    members: &[bool],
    spec: &PathSpec,
    from: i64,
    to: i64,
) -> Result<Paths> {
    spec.validate()?;
    let gap = Timestamp(0).plus_days(spec.gap_minutes / 1440.0).0;
    let excluded: Vec<bool> = (0..log.types.len() as u32)
        .map(|k| spec.exclude.iter().any(|e| e == log.types.name(k)))
        .collect();
    // Node ids: 0 start, 1 end, then labels as met.
    let mut names: Vec<String> = vec![START.into(), END.into()];
    let mut ids: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let by_channel = spec.label == NodeLabel::EventTypeAndChannel;
    let anchor = spec.anchor.as_ref().map(|a| {
        (
            log.kind_of(&a.event_type),
            a.channel.as_deref().map(|c| log.channels.get(c)),
            a.action.as_deref().map(|c| log.actions.get(c)),
        )
    });
    let mut node_counts: Vec<u64> = vec![0, 0];
    let mut edges: FxHashMap<(u32, u32), u64> = FxHashMap::default();
    let mut path_counts: FxHashMap<Vec<u32>, u64> = FxHashMap::default();
    let mut links: FxHashMap<(usize, u32, u32), u64> = FxHashMap::default();
    let (mut sessions, mut customers, mut anchor_sessions) = (0u64, 0u64, 0u64);
    let mut session: Vec<u32> = Vec::new();
    let mut anchor_at: Option<usize> = None;
    let mut flush = |session: &mut Vec<u32>,
                     anchor_at: &mut Option<usize>,
                     edges: &mut FxHashMap<(u32, u32), u64>,
                     node_counts: &mut Vec<u64>| {
        if session.is_empty() {
            return;
        }
        sessions += 1;
        let mut previous = 0u32;
        for &node in session.iter() {
            *edges.entry((previous, node)).or_default() += 1;
            node_counts[node as usize] += 1;
            previous = node;
        }
        *edges.entry((previous, 1)).or_default() += 1;
        let mut key: Vec<u32> = session.iter().take(spec.max_path_steps).copied().collect();
        if session.len() > spec.max_path_steps {
            key.push(u32::MAX);
        }
        *path_counts.entry(key).or_default() += 1;
        if let Some(a) = anchor_at.take() {
            anchor_sessions += 1;
            let mut from_node = session[a];
            for step in 1..=spec.steps {
                let to_node = match spec.direction {
                    Direction::After => session.get(a + step).copied().unwrap_or(1),
                    Direction::Before => a.checked_sub(step).map_or(0, |p| session[p]),
                };
                *links.entry((step, from_node, to_node)).or_default() += 1;
                if to_node <= 1 {
                    break;
                }
                from_node = to_node;
            }
        }
        session.clear();
    };
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let mut last_time: Option<i64> = None;
        let mut had_session = false;
        for i in log.events_of(c) {
            let t = log.time[i];
            if t < from || excluded[log.kind[i] as usize] {
                continue;
            }
            if t >= to {
                break;
            }
            if last_time.is_some_and(|l| t - l > gap) {
                flush(&mut session, &mut anchor_at, &mut edges, &mut node_counts);
            }
            last_time = Some(t);
            had_session = true;
            let key = (log.kind[i], if by_channel { log.channel[i] } else { 0 });
            let node = *ids.entry(key).or_insert_with(|| {
                let mut name = log.types.name(key.0).to_string();
                if by_channel && key.1 != 0 {
                    name.push('@');
                    name.push_str(log.channels.name(key.1));
                }
                names.push(name);
                node_counts.push(0);
                (names.len() - 1) as u32
            });
            if !(spec.collapse_repeats && session.last() == Some(&node)) {
                session.push(node);
            }
            if anchor_at.is_none() {
                if let Some((kind, channel, action)) = anchor {
                    let hit = kind == Some(log.kind[i])
                        && channel.is_none_or(|ch| ch == Some(log.channel[i]))
                        && action.is_none_or(|a| a == Some(log.action[i]));
                    if hit {
                        anchor_at = Some(session.len() - 1);
                    }
                }
            }
        }
        flush(&mut session, &mut anchor_at, &mut edges, &mut node_counts);
        customers += u64::from(had_session);
    }
    let mut out_totals = vec![0u64; names.len()];
    for (&(a, _), &n) in &edges {
        out_totals[a as usize] += n;
    }
    let name = |n: u32| -> String {
        if n == u32::MAX {
            "…".to_string()
        } else {
            names[n as usize].clone()
        }
    };
    let mut edge_list: Vec<Edge> = edges
        .iter()
        .map(|(&(a, b), &n)| Edge {
            from: name(a),
            to: name(b),
            count: n,
            probability: n as f64 / out_totals[a as usize] as f64,
        })
        .collect();
    edge_list.sort_by(|x, y| {
        y.count
            .cmp(&x.count)
            .then_with(|| x.from.cmp(&y.from))
            .then_with(|| x.to.cmp(&y.to))
    });
    let mut top: Vec<TopPath> = path_counts
        .iter()
        .map(|(p, &n)| TopPath {
            path: p.iter().map(|&x| name(x)).collect::<Vec<_>>().join(" → "),
            sessions: n,
            share: n as f64 / sessions.max(1) as f64,
        })
        .collect();
    top.sort_by(|x, y| {
        y.sessions
            .cmp(&x.sessions)
            .then_with(|| x.path.cmp(&y.path))
    });
    top.truncate(spec.top);
    let mut nodes: Vec<(String, u64)> = names
        .iter()
        .zip(&node_counts)
        .skip(2)
        .map(|(n, &c)| (n.clone(), c))
        .collect();
    nodes.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    let mut sankey: Vec<SankeyLink> = links
        .iter()
        .map(|(&(step, a, b), &n)| SankeyLink {
            step,
            from: name(a),
            to: name(b),
            count: n,
        })
        .collect();
    sankey.sort_by(|x, y| {
        x.step
            .cmp(&y.step)
            .then_with(|| y.count.cmp(&x.count))
            .then_with(|| x.from.cmp(&y.from))
            .then_with(|| x.to.cmp(&y.to))
    });
    Ok(Paths {
        spec: spec.clone(),
        sessions,
        customers,
        nodes,
        edges: edge_list,
        top_paths: top,
        anchor_sessions,
        sankey,
        compared: None,
    })
}

impl Paths {
    /// The tables: `edges`, `top_paths`, and `sankey` when an anchor was given.
    pub fn tables(&self) -> Vec<Table> {
        let mut edges = Table::new("edges", &["from", "to", "count", "probability"]);
        for e in &self.edges {
            edges.push(vec![
                e.from.as_str().into(),
                e.to.as_str().into(),
                e.count.into(),
                e.probability.into(),
            ]);
        }
        let mut top = Table::new("top_paths", &["path", "sessions", "share"]);
        for p in &self.top_paths {
            top.push(vec![
                p.path.as_str().into(),
                p.sessions.into(),
                p.share.into(),
            ]);
        }
        let mut out = vec![edges, top];
        out.extend(self.compared.as_ref().map(|c| c.table()));
        if self.spec.anchor.is_some() {
            let mut s = Table::new("sankey", &["step", "from", "to", "count"]);
            for l in &self.sankey {
                s.push(vec![
                    l.step.into(),
                    l.from.as_str().into(),
                    l.to.as_str().into(),
                    l.count.into(),
                ]);
            }
            out.push(s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Event, EventType};

    #[test]
    fn sessions_split_on_gaps_collapse_repeats_and_feed_the_graph() {
        let m = |x: f64| Timestamp(0).plus_days(x / 1440.0);
        let events = vec![
            Event::new("a", m(0.0), EventType::Visit),
            Event::new("a", m(1.0), EventType::PageView),
            Event::new("a", m(2.0), EventType::PageView),
            Event::new("a", m(3.0), EventType::AddToCart),
            // 60 minutes later: a new session.
            Event::new("a", m(63.0), EventType::Visit),
            Event::new("b", m(0.0), EventType::Visit),
            Event::new("b", m(5.0), EventType::PageView),
        ];
        let log = EventLog::from_events(&events);
        let spec = PathSpec {
            anchor: Some("visit".parse().unwrap()),
            steps: 2,
            ..PathSpec::default()
        };
        let p = paths(&log, &[true, true], &spec, 0, m(1000.0).0).unwrap();
        assert_eq!((p.sessions, p.customers), (3, 2));
        let edge = |a: &str, b: &str| p.edges.iter().find(|e| e.from == a && e.to == b).cloned();
        assert_eq!(edge("visit", "page_view").unwrap().count, 2);
        assert_eq!(edge("page_view", "page_view"), None);
        let v = edge("visit", END).unwrap();
        assert!((v.probability - 1.0 / 3.0).abs() < 1e-12);
        // Three paths once each, ties in name order.
        let top: Vec<&str> = p.top_paths.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(
            top,
            [
                "visit",
                "visit → page_view",
                "visit → page_view → add_to_cart"
            ]
        );
        assert_eq!(p.anchor_sessions, 3);
        let link = |s: usize, a: &str, b: &str| {
            p.sankey
                .iter()
                .find(|l| l.step == s && l.from == a && l.to == b)
                .map(|l| l.count)
        };
        assert_eq!(link(1, "visit", "page_view"), Some(2));
        assert_eq!(link(1, "visit", END), Some(1));
        assert_eq!(link(2, "page_view", "add_to_cart"), Some(1));
        assert_eq!(link(2, "page_view", END), Some(1));
    }
}
