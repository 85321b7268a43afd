//! SQLite's queries, on a small pool of read connections (WAL lets them read while the
//! writer writes).

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};

use super::schema::open_reader;
use crate::experiment::Experiment;
use crate::experiment::{ArmTotals, DailyArm};
use crate::journey::{Channel, Event, EventType, Timestamp};
use crate::store::backend::{into_record, DecisionRow, Reads, DECISION_COLUMNS};
use crate::store::experiments;
use crate::store::{
    DecisionRecord, LoggedAction, OutcomeRecord, StoreConfig, StoreCounts, StoreError,
};

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

/// The committed decision with this id.
fn decision(pool: &ReadPool, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
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
fn decisions_for(
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
fn outcomes_for(pool: &ReadPool, decision_id: &str) -> Result<Vec<OutcomeRecord>, StoreError> {
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
fn history(pool: &ReadPool, customer_id: &str) -> Result<Vec<Event>, StoreError> {
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
                anonymous_id: None,
            })
        })?
        .collect()
    })
}

/// Row counts, all from one snapshot.
fn counts(pool: &ReadPool) -> Result<StoreCounts, StoreError> {
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

fn json_error(e: crate::store::backend::DbError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::new(std::io::Error::other(e.message)),
    )
}

fn load_experiment(conn: &Connection, id: &str) -> rusqlite::Result<Option<Experiment>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT definition FROM experiments WHERE experiment_id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    text.map(|t| crate::store::backend::experiment_from_json(&t).map_err(json_error))
        .transpose()
}

fn load_experiments(conn: &Connection) -> rusqlite::Result<Vec<Experiment>> {
    let mut statement = conn
        .prepare_cached("SELECT definition FROM experiments ORDER BY created_us, experiment_id")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.map(|text| crate::store::backend::experiment_from_json(&text?).map_err(json_error))
        .collect()
}

fn arm_totals(conn: &Connection, e: &Experiment) -> rusqlite::Result<Vec<ArmTotals>> {
    let (window, pre) = experiments::window_params(e);
    let sql = experiments::per_unit_query(experiments::TOTALS_SQL);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![e.id, window, pre], |row| {
        let mut sums = [None; 16];
        for (i, sum) in sums.iter_mut().enumerate() {
            *sum = row.get::<_, Option<f64>>(4 + i)?;
        }
        Ok(ArmTotals::from_sums(
            row.get(0)?,
            [row.get(1)?, row.get(2)?, row.get(3)?],
            sums,
        ))
    })?;
    let found = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(experiments::in_arm_order(e, found))
}

fn daily(conn: &Connection, e: &Experiment) -> rusqlite::Result<Vec<DailyArm>> {
    let (window, pre) = experiments::window_params(e);
    let sql = experiments::per_unit_query(experiments::DAILY_SQL);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![e.id, window, pre], |row| {
        Ok(DailyArm::from_row(
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
        ))
    })?;
    rows.collect()
}

impl Reads for ReadPool {
    fn decision(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        decision(self, decision_id)
    }

    fn decisions_for(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        decisions_for(self, customer_id, limit)
    }

    fn outcomes_for(&self, decision_id: &str) -> Result<Vec<OutcomeRecord>, StoreError> {
        outcomes_for(self, decision_id)
    }

    fn decision_ids(&self) -> Result<Vec<String>, StoreError> {
        self.with("listing decisions", |conn| {
            conn.prepare_cached("SELECT decision_id FROM decisions ORDER BY created_us, rowid")?
                .query_map([], |row| row.get(0))?
                .collect()
        })
    }

    fn history(&self, customer_id: &str) -> Result<Vec<Event>, StoreError> {
        history(self, customer_id)
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        counts(self)
    }

    fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        self.with("reading experiments", load_experiments)
    }

    fn experiment(&self, id: &str) -> Result<Option<Experiment>, StoreError> {
        self.with("reading an experiment", |conn| load_experiment(conn, id))
    }

    fn experiment_totals(
        &self,
        experiment: &Experiment,
    ) -> Result<(Vec<ArmTotals>, Vec<DailyArm>), StoreError> {
        self.with("computing experiment totals", |conn| {
            Ok((arm_totals(conn, experiment)?, daily(conn, experiment)?))
        })
    }
}
