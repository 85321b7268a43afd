//! SQLite's side of the writer: one immediate transaction per batch on the only write
//! connection. The transaction holds SQLite's database-wide write lock, so there is no other
//! writer to lock rows or layers against.

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use crate::experiment::Experiment;
use crate::journey::{Event, Timestamp};
use crate::store::backend::{
    experiment_from_json, experiment_json, DbError, DecisionColumns, WriteConn, WriteTx,
};
use crate::store::batch::{self, Committed};
use crate::store::writer::Message;
use crate::store::{DecisionRecord, OutcomeRecord};

impl From<rusqlite::Error> for DbError {
    fn from(error: rusqlite::Error) -> Self {
        // Whether SQLite refused a record itself, so that waiting and retrying cannot help.
        let record_specific = matches!(
            error.sqlite_error_code(),
            Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch)
        );
        DbError {
            message: error.to_string(),
            record_specific,
        }
    }
}

/// The writer thread's SQLite connection.
pub(crate) struct SqliteWriter {
    pub(crate) conn: Connection,
}

impl WriteConn for SqliteWriter {
    fn write(&mut self, batch: &[Message], max_events: usize) -> Result<Committed, DbError> {
        // Immediate: take the write lock up front rather than fail to upgrade a read lock later.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let committed = batch::apply(&mut SqliteTx(&tx), batch, max_events)?;
        tx.commit()?;
        Ok(committed)
    }
}

/// The row operations, on the writer's open transaction.
struct SqliteTx<'a>(&'a Connection);

impl SqliteTx<'_> {
    fn insert_decision(&self, d: &DecisionRecord) -> rusqlite::Result<bool> {
        let c = DecisionColumns::of(d);
        let inserted = self
            .0
            .prepare_cached(
                "INSERT INTO decisions (decision_id, customer_id, policy, experiment_id, arm,
                     model_versions, context, created_us, latency_us, dry_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (decision_id) DO NOTHING",
            )?
            .execute(params![
                d.decision_id,
                d.customer_id,
                d.policy,
                c.experiment_id,
                c.arm,
                c.model_versions,
                c.context,
                d.created.0,
                c.latency_us,
                d.dry_run,
            ])?;
        if inserted == 0 {
            return Ok(false);
        }
        let mut insert_action = self.0.prepare_cached(
            "INSERT INTO decision_actions (decision_id, rank, action_id, score, propensity)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for action in &d.actions {
            insert_action.execute(params![
                d.decision_id,
                i64::from(action.rank),
                action.action_id,
                action.score,
                action.propensity,
            ])?;
        }
        Ok(true)
    }
}

impl WriteTx for SqliteTx<'_> {
    fn insert_decisions(&mut self, records: &[&DecisionRecord]) -> Result<Vec<bool>, DbError> {
        let mut inserted = Vec::with_capacity(records.len());
        for record in records {
            inserted.push(self.insert_decision(record)?);
        }
        Ok(inserted)
    }

    fn insert_events(&mut self, events: &[&Event]) -> Result<(), DbError> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO events (customer_id, ts_us, event_type, channel, action_id, value, text)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in events {
            insert.execute(params![
                e.customer_id,
                e.timestamp.0,
                e.event_type.as_str(),
                e.channel.as_ref().map(|c| c.as_str()),
                e.action_id,
                e.value,
                e.text,
            ])?;
        }
        Ok(())
    }

    fn prune_events(&mut self, customers: &[&str], keep: usize) -> Result<(), DbError> {
        let mut prune = self.0.prepare_cached(
            "DELETE FROM events WHERE customer_id = ?1 AND seq IN (
                 SELECT seq FROM events WHERE customer_id = ?1
                 ORDER BY ts_us DESC, seq DESC LIMIT -1 OFFSET ?2)",
        )?;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        for customer in customers {
            prune.execute(params![customer, keep])?;
        }
        Ok(())
    }

    fn decision_created(&mut self, decision_id: &str) -> Result<Option<i64>, DbError> {
        Ok(self
            .0
            .prepare_cached("SELECT created_us FROM decisions WHERE decision_id = ?1")?
            .query_row([decision_id], |row| row.get::<_, i64>(0))
            .optional()?)
    }

    fn decision_action_ids(&mut self, decision_id: &str) -> Result<Vec<String>, DbError> {
        let mut statement = self.0.prepare_cached(
            "SELECT action_id FROM decision_actions WHERE decision_id = ?1 ORDER BY rank",
        )?;
        let ids = statement
            .query_map([decision_id], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    fn insert_outcome_once(
        &mut self,
        o: &OutcomeRecord,
        recorded: Timestamp,
    ) -> Result<bool, DbError> {
        // The only writer: a look first is enough to count the outcome once.
        let repeat = self
            .0
            .prepare_cached(
                "SELECT 1 FROM outcomes WHERE decision_id = ?1 AND outcome_type = ?2
                 AND action_id IS ?3",
            )?
            .query_row(params![o.decision_id, o.outcome_type, o.action_id], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        if repeat {
            return Ok(false);
        }
        self.0
            .prepare_cached(
                "INSERT INTO outcomes (decision_id, outcome_type, value, action_id, at_us,
                     recorded_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                o.decision_id,
                o.outcome_type,
                o.value,
                o.action_id,
                o.at.0,
                recorded.0,
            ])?;
        Ok(true)
    }

    fn experiment_for_update(&mut self, id: &str) -> Result<Option<Experiment>, DbError> {
        // The immediate transaction already excludes every other writer.
        let text: Option<String> = self
            .0
            .prepare_cached("SELECT definition FROM experiments WHERE experiment_id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?;
        text.map(|t| experiment_from_json(&t)).transpose()
    }

    fn lock_layer(&mut self, _layer: &str) -> Result<(), DbError> {
        Ok(())
    }

    fn running_in_layer(&mut self, layer: &str, except: &str) -> Result<Vec<Experiment>, DbError> {
        let mut statement = self.0.prepare_cached(
            "SELECT definition FROM experiments
             WHERE layer = ?1 AND status = 'running' AND experiment_id <> ?2",
        )?;
        let texts = statement
            .query_map(params![layer, except], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        texts.iter().map(|t| experiment_from_json(t)).collect()
    }

    fn insert_experiment(&mut self, e: &Experiment, now: Timestamp) -> Result<bool, DbError> {
        let definition = experiment_json(e)?;
        let inserted = self
            .0
            .prepare_cached(
                "INSERT INTO experiments (experiment_id, definition, status, layer, created_us,
                     updated_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (experiment_id) DO NOTHING",
            )?
            .execute(params![e.id, definition, e.status.name(), e.layer, now.0])?;
        Ok(inserted == 1)
    }

    fn update_experiment(&mut self, e: &Experiment, now: Timestamp) -> Result<(), DbError> {
        let definition = experiment_json(e)?;
        self.0
            .prepare_cached(
                "UPDATE experiments SET definition = ?2, status = ?3, layer = ?4, updated_us = ?5
                 WHERE experiment_id = ?1",
            )?
            .execute(params![e.id, definition, e.status.name(), e.layer, now.0])?;
        Ok(())
    }
}
