//! Queries, on a small pool of read connections (WAL lets them read while the writer writes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension};

use super::schema::open_reader;
use super::{
    DecisionRecord, ExperimentArm, LoggedAction, OutcomeRecord, StoreConfig, StoreCounts,
    StoreError,
};
use crate::journey::{Channel, Event, EventType, Timestamp};

/// Idle read connections kept for reuse; more are opened under a burst and closed after.
const MAX_IDLE_READERS: usize = 8;

/// Read connections opened on demand and reused.
pub(crate) struct ReadPool {
    path: PathBuf,
    config: StoreConfig,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, config: StoreConfig) -> Self {
        ReadPool {
            path,
            config,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `query` on a pooled connection; SQLite errors are reported as `store_io` while
    /// doing `context`.
    pub(crate) fn with<T>(
        &self,
        context: &str,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        // A poisoned pool is still a valid list of connections.
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.path, &self.config)?,
        };
        let result = query(&conn).map_err(|e| StoreError::io(context, e));
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

/// A decisions row before its JSON columns are parsed.
struct DecisionRow {
    decision_id: String,
    customer_id: String,
    policy: String,
    experiment_id: Option<String>,
    arm: Option<String>,
    model_versions: String,
    context: String,
    created_us: i64,
    latency_us: i64,
    dry_run: bool,
}

const DECISION_COLUMNS: &str = "decision_id, customer_id, policy, experiment_id, arm, \
     model_versions, context, created_us, latency_us, dry_run";

fn decision_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DecisionRow> {
    Ok(DecisionRow {
        decision_id: row.get(0)?,
        customer_id: row.get(1)?,
        policy: row.get(2)?,
        experiment_id: row.get(3)?,
        arm: row.get(4)?,
        model_versions: row.get(5)?,
        context: row.get(6)?,
        created_us: row.get(7)?,
        latency_us: row.get(8)?,
        dry_run: row.get(9)?,
    })
}

fn actions_of(conn: &Connection, decision_id: &str) -> rusqlite::Result<Vec<LoggedAction>> {
    let mut statement = conn.prepare_cached(
        "SELECT action_id, rank, score, propensity FROM decision_actions
         WHERE decision_id = ?1 ORDER BY rank",
    )?;
    let rows = statement.query_map([decision_id], |row| {
        Ok(LoggedAction {
            action_id: row.get(0)?,
            rank: u32::try_from(row.get::<_, i64>(1)?).unwrap_or(u32::MAX),
            score: row.get(2)?,
            propensity: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// Turns a row and its actions into a record; JSON written by this store always parses, so a
/// failure means the file was edited by hand and is reported as such.
fn into_record(row: DecisionRow, actions: Vec<LoggedAction>) -> Result<DecisionRecord, StoreError> {
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

/// The committed decision with this id.
pub(crate) fn decision(
    pool: &ReadPool,
    decision_id: &str,
) -> Result<Option<DecisionRecord>, StoreError> {
    let found = pool.with("reading a decision", |conn| {
        // One read transaction, so the row and its actions come from the same snapshot.
        conn.execute_batch("BEGIN")?;
        let result = (|| {
            let row = conn
                .prepare_cached(&format!(
                    "SELECT {DECISION_COLUMNS} FROM decisions WHERE decision_id = ?1"
                ))?
                .query_row([decision_id], decision_row)
                .optional()?;
            match row {
                Some(row) => Ok(Some((actions_of(conn, decision_id)?, row))),
                None => Ok(None),
            }
        })();
        conn.execute_batch("COMMIT")?;
        result
    })?;
    found
        .map(|(actions, row)| into_record(row, actions))
        .transpose()
}

/// The customer's latest committed decisions, newest first.
pub(crate) fn decisions_for(
    pool: &ReadPool,
    customer_id: &str,
    limit: usize,
) -> Result<Vec<DecisionRecord>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = pool.with("reading a customer's decisions", |conn| {
        conn.execute_batch("BEGIN")?;
        let result = (|| {
            let rows = conn
                .prepare_cached(&format!(
                    "SELECT {DECISION_COLUMNS} FROM decisions WHERE customer_id = ?1
                     ORDER BY created_us DESC, rowid DESC LIMIT ?2"
                ))?
                .query_map(rusqlite::params![customer_id, limit], decision_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter()
                .map(|row| Ok((actions_of(conn, &row.decision_id)?, row)))
                .collect::<rusqlite::Result<Vec<_>>>()
        })();
        conn.execute_batch("COMMIT")?;
        result
    })?;
    rows.into_iter()
        .map(|(actions, row)| into_record(row, actions))
        .collect()
}

/// The decision's outcomes, in the order they happened.
pub(crate) fn outcomes_for(
    pool: &ReadPool,
    decision_id: &str,
) -> Result<Vec<OutcomeRecord>, StoreError> {
    pool.with("reading outcomes", |conn| {
        conn.prepare_cached(
            "SELECT outcome_type, value, action_id, at_us FROM outcomes
             WHERE decision_id = ?1 ORDER BY at_us, outcome_id",
        )?
        .query_map([decision_id], |row| {
            Ok(OutcomeRecord {
                decision_id: decision_id.to_string(),
                outcome_type: row.get(0)?,
                value: row.get(1)?,
                action_id: row.get(2)?,
                at: Timestamp(row.get(3)?),
            })
        })?
        .collect()
    })
}

/// The customer's kept events, oldest first (ties in arrival order).
pub(crate) fn history(pool: &ReadPool, customer_id: &str) -> Result<Vec<Event>, StoreError> {
    pool.with("reading a customer's profile", |conn| {
        conn.prepare_cached(
            "SELECT ts_us, event_type, channel, action_id, value, text FROM events
             WHERE customer_id = ?1 ORDER BY ts_us, seq",
        )?
        .query_map([customer_id], |row| {
            Ok(Event {
                customer_id: customer_id.to_string(),
                timestamp: Timestamp(row.get(0)?),
                event_type: EventType::parse(&row.get::<_, String>(1)?),
                channel: row.get::<_, Option<String>>(2)?.map(|c| Channel::parse(&c)),
                action_id: row.get(3)?,
                value: row.get(4)?,
                text: row.get(5)?,
            })
        })?
        .collect()
    })
}

/// Row counts, all from one snapshot.
pub(crate) fn counts(pool: &ReadPool) -> Result<StoreCounts, StoreError> {
    pool.with("counting rows", |conn| {
        conn.query_row(
            "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM outcomes),
                    (SELECT count(*) FROM events),
                    (SELECT count(*) FROM (SELECT DISTINCT customer_id FROM events))",
            [],
            |row| {
                let get = |i| row.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
                Ok(StoreCounts {
                    decisions: get(0)?,
                    outcomes: get(1)?,
                    events: get(2)?,
                    profiles: get(3)?,
                })
            },
        )
    })
}
