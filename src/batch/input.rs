//! What a batch run reads and for whom: input files (one, or a folder of them), the segment,
//! the shard, the options, the progress it reports and the summary it ends with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use super::BatchError;
use crate::catalog::ActionKind;
use crate::decision::{Decision, ReasonCode};
use crate::journey::{Format, JourneyError, Timestamp, TypedTable};

/// What each customer's rows hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The policy's top-K actions, one row per (customer, rank).
    Decisions,
    /// Every candidate's P(convert), uplift and P(churn), one row per (customer, candidate).
    Predictions,
}

/// One part of a job split across machines or processes: customer `index` of `count` by a
/// hash of the customer id, so every shard reads the same input and the shards' outputs
/// together are the whole job's, each customer in exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    /// At least 1.
    pub count: u32,
}

impl Shard {
    /// The whole job.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `i/n` (0 ≤ i < n).
    pub fn parse(text: &str) -> Result<Shard, BatchError> {
        let bad =
            || BatchError::invalid("--shard", format!("'{text}': expected i/n with 0 ≤ i < n"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard scores the customer.
    pub fn owns(&self, customer_id: &str) -> bool {
        self.count <= 1 || bucket(customer_id, SHARD_SEED, self.count) == self.index
    }
}

const SHARD_SEED: u64 = 0x6e62_7368_6172_6400;
const PASS_SEED: u64 = 0x6e62_7061_7373_0000;

/// A stable bucket in `0..count` for a customer id (xxh3: every machine computes it alike).
pub(crate) fn bucket(customer_id: &str, seed: u64, count: u32) -> u32 {
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(customer_id.as_bytes(), seed);
    (hash % u64::from(count.max(1))) as u32
}

/// The pass of a multi-pass run that handles this customer.
pub(crate) fn pass_of(customer_id: &str, passes: u32) -> u32 {
    if passes <= 1 {
        0
    } else {
        bucket(customer_id, PASS_SEED, passes)
    }
}

/// The RNG seed of one customer's exploration: the run's seed and the customer id, so the
/// answer does not depend on partitioning, threads or order.
pub(crate) fn customer_seed(customer_id: &str, seed: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(customer_id.as_bytes(), seed)
}

/// The customers to score.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    ids: FxHashSet<String>,
}

impl Segment {
    /// Reads a segment: a text file of one customer id per line (blank lines ignored), or a
    /// Parquet/CSV/JSONL table with a `customer_id` column.
    pub fn read(path: &Path) -> Result<Segment, BatchError> {
        let ids = match Format::from_path(path) {
            Ok(format) => TypedTable::read(path, Some(format), "customer_id")?
                .keys
                .into_iter()
                .collect(),
            Err(_) => {
                let text = std::fs::read_to_string(path).map_err(|e| JourneyError::io(path, e))?;
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            }
        };
        Ok(Segment { ids })
    }

    /// A segment of these ids.
    pub fn of(ids: impl IntoIterator<Item = String>) -> Segment {
        Segment {
            ids: ids.into_iter().collect(),
        }
    }

    /// Whether the segment holds the customer.
    pub fn contains(&self, customer_id: &str) -> bool {
        self.ids.contains(customer_id)
    }

    /// The ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(String::as_str)
    }

    /// How many customers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// How a run scores.
#[derive(Clone, Debug)]
pub struct ScoreOptions {
    /// Decisions or predictions.
    pub mode: Mode,
    /// Most actions per customer (decisions).
    pub top_k: usize,
    /// The decision instant (features mode: overrides the matrix's `as_of` column).
    pub as_of: Option<Timestamp>,
    /// Exploration as the policy says, drawn from this seed; `None`: greedy.
    pub explore_seed: Option<u64>,
    /// Only these customers.
    pub segment: Option<Segment>,
    /// Only this shard's customers.
    pub shard: Shard,
    /// Count bad rows and go on instead of stopping at the first.
    pub skip_invalid: bool,
    /// Memory for per-customer state and buffers, in bytes: a larger input takes more passes
    /// over the events (or smaller batches), not more memory.
    pub memory_budget: usize,
    /// Rows per record batch read and written.
    pub batch_rows: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            mode: Mode::Decisions,
            top_k: 1,
            as_of: None,
            explore_seed: None,
            segment: None,
            shard: Shard::ALL,
            skip_invalid: false,
            memory_budget: 2 << 30,
            batch_rows: 8 * 1024,
        }
    }
}

/// How far a run has got, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What is being counted: `events` read, `customers` scored or matrix `rows` scored.
    pub unit: &'static str,
    /// Done so far (in this pass).
    pub done: u64,
    /// In all, when known.
    pub total: Option<u64>,
    /// 1-based pass, and the number of passes.
    pub pass: (u32, u32),
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Customers scored.
    pub customers: u64,
    /// Rows written.
    pub rows: u64,
    /// Customers left without any action (nothing eligible).
    pub customers_without_action: u64,
    /// Chosen actions by kind (`sales`, `retention`, `service`, `none`).
    pub actions_by_kind: BTreeMap<String, u64>,
    /// Ineligible candidates by reason code.
    pub ineligible_by_reason: BTreeMap<String, u64>,
    /// Input rows read (events, or matrix rows).
    pub input_rows: u64,
    /// Bad input rows skipped (`skip_invalid`).
    pub invalid_rows_skipped: u64,
    /// The first few skipped rows' errors, for the report.
    pub invalid_examples: Vec<String>,
    /// Passes over the events (more than one when the memory budget asked for it).
    pub passes: u32,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl Summary {
    /// Adds another part's counts (a thread's, a pass's).
    pub(crate) fn merge(&mut self, other: Summary) {
        self.customers += other.customers;
        self.rows += other.rows;
        self.customers_without_action += other.customers_without_action;
        for (k, v) in other.actions_by_kind {
            *self.actions_by_kind.entry(k).or_default() += v;
        }
        for (k, v) in other.ineligible_by_reason {
            *self.ineligible_by_reason.entry(k).or_default() += v;
        }
        self.input_rows += other.input_rows;
        self.invalid_rows_skipped += other.invalid_rows_skipped;
        for example in other.invalid_examples {
            self.note_invalid(example);
        }
    }

    /// Keeps a skipped row's error as an example (the first ten).
    pub(crate) fn note_invalid(&mut self, message: String) {
        if self.invalid_examples.len() < 10 {
            self.invalid_examples.push(message);
        }
    }
}

/// One worker's counts of decisions, keyed by the enums rather than by strings (a string-keyed
/// map costs string compares for every ineligible candidate of every customer), added to a
/// [`Summary`] once per chunk of customers.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    customers: u64,
    without_action: u64,
    kinds: Vec<(ActionKind, u64)>,
    reasons: Vec<(ReasonCode, u64)>,
}

impl Tally {
    /// Counts one customer's decision.
    pub(crate) fn count(&mut self, decision: &Decision) {
        self.customers += 1;
        if decision.actions.is_empty() {
            self.without_action += 1;
        }
        for action in &decision.actions {
            bump(&mut self.kinds, action.kind);
        }
        for ineligible in &decision.ineligible {
            bump(&mut self.reasons, ineligible.reason_code);
        }
    }

    /// Adds the counts to `summary`.
    pub(crate) fn add_to(self, summary: &mut Summary) {
        summary.customers += self.customers;
        summary.customers_without_action += self.without_action;
        for (kind, n) in self.kinds {
            *summary
                .actions_by_kind
                .entry(kind.as_str().to_string())
                .or_default() += n;
        }
        for (reason, n) in self.reasons {
            *summary
                .ineligible_by_reason
                .entry(reason.as_str().to_string())
                .or_default() += n;
        }
    }
}

/// Adds one to a key's count (a handful of keys: a linear search is the fastest).
fn bump<K: PartialEq>(counts: &mut Vec<(K, u64)>, key: K) {
    match counts.iter_mut().find(|(k, _)| *k == key) {
        Some((_, count)) => *count += 1,
        None => counts.push((key, 1)),
    }
}

/// The files of an input: the file itself, or every file of a folder (not hidden, with a
/// known extension, sorted by name) — a partitioned dataset.
pub fn input_files(path: &Path, what: &str) -> Result<Vec<PathBuf>, BatchError> {
    if !path.is_dir() {
        if !path.exists() {
            return Err(BatchError::invalid(
                what,
                format!("{}: no such file or folder", path.display()),
            ));
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(BatchError::invalid(
            what,
            format!(
                "{}: the folder holds no .parquet, .csv or .jsonl files",
                path.display()
            ),
        ));
    }
    Ok(files)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BatchError> {
    let entries = std::fs::read_dir(dir).map_err(|e| JourneyError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| JourneyError::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(['.', '_']));
        if hidden {
            continue;
        }
        if path.is_dir() {
            // Hive-style partitions (`date=2025-01-01/part-0.parquet`).
            collect(&path, out)?;
        } else if Format::from_path(&path).is_ok() {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_customers_into_disjoint_covering_parts() {
        assert!(Shard::parse("2/2").is_err());
        assert!(Shard::parse("1").is_err());
        let shards: Vec<Shard> = (0..3)
            .map(|i| Shard::parse(&format!("{i}/3")).unwrap())
            .collect();
        let mut sizes = [0; 3];
        for c in 0..3000 {
            let id = format!("C{c}");
            let owners: Vec<usize> = (0..3).filter(|&s| shards[s].owns(&id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&s| s > 800), "{sizes:?}");
        assert!(Shard::ALL.owns("anyone"));
    }
}
