//! The boundary between the store's shared logic and its two databases.
//!
//! Everything that decides *what* is written or answered lives above this line and is shared:
//! validation, the writer thread and its group commit, the checks of an outcome against its
//! decision, the state machine of experiments, the profile cache. Below it, each backend
//! (`sqlite/`, `pg/`) implements three small things:
//!
//! - [`WriteConn`]: the writer thread's connection; it runs one batch of messages in one
//!   transaction by handing a [`WriteTx`] to [`batch::apply`](super::batch::apply).
//! - [`WriteTx`]: the row-level operations of that transaction (insert decisions with their
//!   actions, events, an outcome once, experiments; prune profiles; lock what must be locked
//!   when several writers share the database).
//! - [`Reads`]: the queries, each answering with shared record types.

use std::collections::BTreeMap;

use super::batch::Committed;
use super::writer::Message;
use super::{
    ArmTotals, DailyArm, DecisionRecord, ExperimentArm, LoggedAction, OutcomeRecord, StoreCounts,
    StoreError,
};
use crate::experiment::Experiment;
use crate::journey::{Event, Timestamp};

/// The schema version this build writes and understands, on either backend (SQLite keeps it
/// in `PRAGMA user_version`, PostgreSQL in the `schema_version` table).
pub const SCHEMA_VERSION: i64 = 2;

/// A database failure inside a write, reduced to what the writer needs: a message, and
/// whether the database refused a record itself (so that retrying the same batch cannot help
/// and the batch is split to isolate it).
#[derive(Debug)]
pub(crate) struct DbError {
    pub(crate) message: String,
    pub(crate) record_specific: bool,
}

impl DbError {
    /// A failure that waiting may cure (a lock, a lost connection, a full disk).
    pub(crate) fn transient(message: impl std::fmt::Display) -> Self {
        DbError {
            message: message.to_string(),
            record_specific: false,
        }
    }

    /// A stored JSON column that does not parse (the database was edited by hand).
    pub(crate) fn corrupt(column: &str, e: serde_json::Error) -> Self {
        DbError::transient(format!("column {column} holds invalid JSON ({e})"))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The writer thread's connection to one backend.
pub(crate) trait WriteConn: Send {
    /// Writes the batch in one transaction (everything or nothing) and commits it; the
    /// messages' own verdicts are in [`Committed`]. A batch of flushes alone never gets here.
    fn write(&mut self, batch: &[Message], max_events: usize) -> Result<Committed, DbError>;
}

/// The row-level operations of one write transaction.
pub(crate) trait WriteTx {
    /// Inserts decisions with their actions, in order; for each, whether it was new (a
    /// decision id already logged — earlier, or earlier in `records` — keeps its first record).
    fn insert_decisions(&mut self, records: &[&DecisionRecord]) -> Result<Vec<bool>, DbError>;
    /// Appends journey events, in order (their arrival order).
    fn insert_events(&mut self, events: &[&Event]) -> Result<(), DbError>;
    /// Deletes each customer's events beyond the latest `keep` (by time, then arrival).
    fn prune_events(&mut self, customers: &[&str], keep: usize) -> Result<(), DbError>;
    /// When the decision was made, if it was logged (committed, or earlier in this transaction).
    fn decision_created(&mut self, decision_id: &str) -> Result<Option<i64>, DbError>;
    /// The decision's chosen actions, by rank.
    fn decision_action_ids(&mut self, decision_id: &str) -> Result<Vec<String>, DbError>;
    /// Stores the outcome unless one with the same (decision, type, action) is stored; whether
    /// it was new. Must hold even when several writers store the same outcome at once.
    fn insert_outcome_once(
        &mut self,
        outcome: &OutcomeRecord,
        recorded: Timestamp,
    ) -> Result<bool, DbError>;
    /// One experiment, its row locked until the commit where other writers may change it.
    fn experiment_for_update(&mut self, id: &str) -> Result<Option<Experiment>, DbError>;
    /// Serialises changes to one layer's running experiments among concurrent writers until
    /// the commit (nothing to do where the transaction already excludes every other writer).
    fn lock_layer(&mut self, layer: &str) -> Result<(), DbError>;
    /// The other running experiments of a layer.
    fn running_in_layer(&mut self, layer: &str, except: &str) -> Result<Vec<Experiment>, DbError>;
    /// Stores a new experiment; false if the id is taken.
    fn insert_experiment(&mut self, e: &Experiment, now: Timestamp) -> Result<bool, DbError>;
    /// Overwrites a stored experiment's definition and state.
    fn update_experiment(&mut self, e: &Experiment, now: Timestamp) -> Result<(), DbError>;
}

/// The store's queries, on committed data. Errors are `store_io` naming what was being read.
pub(crate) trait Reads: Send + Sync {
    /// The decision with this id.
    fn decision(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError>;
    /// The customer's latest `limit` decisions, newest first (equal times: last logged first).
    fn decisions_for(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StoreError>;
    /// The decision's outcomes in the order they happened.
    fn outcomes_for(&self, decision_id: &str) -> Result<Vec<OutcomeRecord>, StoreError>;
    /// The ids of every committed decision, oldest first (equal times: first logged first).
    fn decision_ids(&self) -> Result<Vec<String>, StoreError>;
    /// The customer's kept events, oldest first (ties in arrival order).
    fn history(&self, customer_id: &str) -> Result<Vec<Event>, StoreError>;
    /// Row counts, from one snapshot.
    fn counts(&self) -> Result<StoreCounts, StoreError>;
    /// Every experiment, oldest first.
    fn experiments(&self) -> Result<Vec<Experiment>, StoreError>;
    /// One experiment.
    fn experiment(&self, id: &str) -> Result<Option<Experiment>, StoreError>;
    /// The experiment's arm totals and daily units.
    fn experiment_totals(
        &self,
        experiment: &Experiment,
    ) -> Result<(Vec<ArmTotals>, Vec<DailyArm>), StoreError>;
}

/// A decisions row before its JSON columns are parsed.
pub(crate) struct DecisionRow {
    pub(crate) decision_id: String,
    pub(crate) customer_id: String,
    pub(crate) policy: String,
    pub(crate) experiment_id: Option<String>,
    pub(crate) arm: Option<String>,
    pub(crate) model_versions: String,
    pub(crate) context: String,
    pub(crate) created_us: i64,
    pub(crate) latency_us: i64,
    pub(crate) dry_run: bool,
}

/// The columns of [`DecisionRow`], in its order.
pub(crate) const DECISION_COLUMNS: &str = "decision_id, customer_id, policy, experiment_id, arm, \
     model_versions, context, created_us, latency_us, dry_run";

/// Turns a row and its actions into a record; JSON written by this store always parses, so a
/// failure means the database was edited by hand and is reported as such.
pub(crate) fn into_record(
    row: DecisionRow,
    actions: Vec<LoggedAction>,
) -> Result<DecisionRecord, StoreError> {
    let corrupt = |column: &str, e: serde_json::Error| {
        StoreError::io(
            format!("reading decision '{}'", row.decision_id),
            format!("column {column} holds invalid JSON ({e})"),
        )
    };
    let model_versions: BTreeMap<String, String> =
        serde_json::from_str(&row.model_versions).map_err(|e| corrupt("model_versions", e))?;
    let context = serde_json::from_str(&row.context).map_err(|e| corrupt("context", e))?;
    let experiment = match (row.experiment_id, row.arm) {
        (Some(experiment_id), Some(arm)) => Some(ExperimentArm { experiment_id, arm }),
        _ => None,
    };
    Ok(DecisionRecord {
        decision_id: row.decision_id,
        customer_id: row.customer_id,
        policy: row.policy,
        experiment,
        actions,
        model_versions,
        context,
        created: Timestamp(row.created_us),
        latency_us: u64::try_from(row.latency_us).unwrap_or(0),
        dry_run: row.dry_run,
    })
}

/// A decision's columns as the backends bind them.
pub(crate) struct DecisionColumns<'a> {
    pub(crate) experiment_id: Option<&'a str>,
    pub(crate) arm: Option<&'a str>,
    pub(crate) model_versions: String,
    pub(crate) context: String,
    pub(crate) latency_us: i64,
}

impl<'a> DecisionColumns<'a> {
    pub(crate) fn of(d: &'a DecisionRecord) -> Self {
        let (experiment_id, arm) = match &d.experiment {
            Some(e) => (Some(e.experiment_id.as_str()), Some(e.arm.as_str())),
            None => (None, None),
        };
        DecisionColumns {
            experiment_id,
            arm,
            // A map of strings always serialises; the fallback only keeps this path free of
            // panics.
            model_versions: serde_json::to_string(&d.model_versions)
                .unwrap_or_else(|_| "{}".to_string()),
            context: d.context.to_string(),
            latency_us: i64::try_from(d.latency_us).unwrap_or(i64::MAX),
        }
    }
}

/// The experiment as stored: its JSON definition.
pub(crate) fn experiment_json(e: &Experiment) -> Result<String, DbError> {
    serde_json::to_string(e).map_err(|e| DbError::corrupt("definition", e))
}

/// An experiment read back from its JSON definition.
pub(crate) fn experiment_from_json(text: &str) -> Result<Experiment, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::corrupt("definition", e))
}
