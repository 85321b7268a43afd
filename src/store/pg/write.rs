//! PostgreSQL's side of the writer: one transaction per batch (READ COMMITTED) on the writer
//! thread's connection, where other replicas' writers run theirs at the same time. What makes
//! that safe:
//!
//! - a run of decisions is one `INSERT … SELECT FROM UNNEST(…) ON CONFLICT DO NOTHING
//!   RETURNING` (the first record of an id wins, whichever replica logged it), its actions and
//!   exposures one statement each: a batch costs a few round trips, not one per row;
//! - an outcome is inserted `ON CONFLICT DO NOTHING` against the `outcomes_once` index, so the
//!   same outcome sent to two replicas at once counts once;
//! - an experiment's row is read `FOR UPDATE`, and a start or a ramp holds a transaction-scoped
//!   advisory lock on its layer while it reads the layer's running experiments, so two replicas
//!   cannot give the same buckets to two experiments;
//! - pruning a profile may race with another replica's insert for the same customer and keep
//!   one or two events more than the limit until the customer's next write: never fewer.

use std::collections::HashMap;

use ::postgres::types::ToSql;
use ::postgres::Transaction;

use super::{prepared, schema, Session, Statements, Target};
use crate::experiment::Experiment;
use crate::fnv::Fnv1a;
use crate::journey::{Event, Timestamp};
use crate::store::backend::{
    experiment_from_json, experiment_json, DbError, DecisionColumns, WriteConn, WriteTx,
};
use crate::store::batch::{self, Committed};
use crate::store::writer::Message;
use crate::store::{DecisionRecord, OutcomeRecord, StoreError};

/// The writer thread's connection.
pub(crate) struct PgWriter {
    session: Session,
}

/// Connects (on the writer thread), sets the session's lock timeout and brings the schema to
/// the current version.
pub(crate) fn open_writer(target: &Target) -> Result<PgWriter, StoreError> {
    let setup = format!(
        "SET lock_timeout = {}",
        target.lock_timeout.as_millis().clamp(1, i32::MAX as u128)
    );
    let mut session = Session::new(target.clone(), Some(setup));
    let (client, _) = session.client()?;
    schema::migrate(client, &target.shown)?;
    Ok(PgWriter { session })
}

impl WriteConn for PgWriter {
    fn write(&mut self, batch: &[Message], max_events: usize) -> Result<Committed, DbError> {
        let (client, statements) = self.session.client().map_err(DbError::transient)?;
        let mut tx = PgTx {
            tx: client.transaction()?,
            statements,
        };
        let committed = batch::apply(&mut tx, batch, max_events)?;
        tx.tx.commit()?;
        Ok(committed)
    }
}

struct PgTx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut Statements,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl PgTx<'_> {
    fn execute(&mut self, sql: &'static str, params: &Params<'_>) -> Result<u64, DbError> {
        let statement = prepared(&mut self.tx, self.statements, sql)?;
        Ok(self.tx.execute(&statement, params)?)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> Result<Vec<::postgres::Row>, DbError> {
        let statement = prepared(&mut self.tx, self.statements, sql)?;
        Ok(self.tx.query(&statement, params)?)
    }

    fn definitions(rows: &[::postgres::Row]) -> Result<Vec<Experiment>, DbError> {
        rows.iter()
            .map(|row| experiment_from_json(&row.try_get::<_, String>(0)?))
            .collect()
    }
}

const INSERT_DECISIONS: &str = "
    INSERT INTO decisions (decision_id, customer_id, policy, experiment_id, arm, model_versions,
        context, created_us, latency_us, dry_run)
    SELECT d, c, p, e, a, m, x, t, l, r
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::int8[], $9::int8[], $10::int2[])
         WITH ORDINALITY AS u(d, c, p, e, a, m, x, t, l, r, n)
    ORDER BY n
    ON CONFLICT (decision_id) DO NOTHING
    RETURNING decision_id";

const INSERT_ACTIONS: &str = "
    INSERT INTO decision_actions (decision_id, rank, action_id, score, propensity)
    SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::float8[], $5::float8[])";

const INSERT_EVENTS: &str = "
    INSERT INTO events (customer_id, ts_us, event_type, channel, action_id, value, text)
    SELECT c, t, k, ch, a, v, x
    FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[],
                $7::text[])
         WITH ORDINALITY AS u(c, t, k, ch, a, v, x, n)
    ORDER BY n";

const PRUNE_EVENTS: &str = "
    DELETE FROM events WHERE seq IN (
        SELECT seq FROM (
            SELECT seq, ROW_NUMBER() OVER (PARTITION BY customer_id
                                           ORDER BY ts_us DESC, seq DESC) AS newest
            FROM events WHERE customer_id = ANY($1)) ranked
        WHERE newest > $2)";

impl WriteTx for PgTx<'_> {
    fn insert_decisions(&mut self, records: &[&DecisionRecord]) -> Result<Vec<bool>, DbError> {
        let columns: Vec<DecisionColumns<'_>> =
            records.iter().map(|d| DecisionColumns::of(d)).collect();
        let ids: Vec<&str> = records.iter().map(|d| d.decision_id.as_str()).collect();
        let customers: Vec<&str> = records.iter().map(|d| d.customer_id.as_str()).collect();
        let policies: Vec<&str> = records.iter().map(|d| d.policy.as_str()).collect();
        let experiments: Vec<Option<&str>> = columns.iter().map(|c| c.experiment_id).collect();
        let arms: Vec<Option<&str>> = columns.iter().map(|c| c.arm).collect();
        let versions: Vec<&str> = columns.iter().map(|c| c.model_versions.as_str()).collect();
        let contexts: Vec<&str> = columns.iter().map(|c| c.context.as_str()).collect();
        let created: Vec<i64> = records.iter().map(|d| d.created.0).collect();
        let latency: Vec<i64> = columns.iter().map(|c| c.latency_us).collect();
        let dry_run: Vec<i16> = records.iter().map(|d| i16::from(d.dry_run)).collect();
        let rows = self.query(
            INSERT_DECISIONS,
            &[
                &ids,
                &customers,
                &policies,
                &experiments,
                &arms,
                &versions,
                &contexts,
                &created,
                &latency,
                &dry_run,
            ],
        )?;
        let mut new: HashMap<String, ()> = HashMap::with_capacity(rows.len());
        for row in &rows {
            new.insert(row.try_get(0)?, ());
        }
        // The first record of an id in the run takes its insertion; a later one is a repeat.
        let inserted: Vec<bool> = records
            .iter()
            .map(|d| new.remove(&d.decision_id).is_some())
            .collect();
        let mut action_ids = Vec::new();
        let mut ranks = Vec::new();
        let mut actions = Vec::new();
        let mut scores = Vec::new();
        let mut propensities = Vec::new();
        for (d, _) in records.iter().zip(&inserted).filter(|(_, new)| **new) {
            for a in &d.actions {
                action_ids.push(d.decision_id.as_str());
                ranks.push(i64::from(a.rank));
                actions.push(a.action_id.as_str());
                scores.push(a.score);
                propensities.push(a.propensity);
            }
        }
        if !action_ids.is_empty() {
            self.execute(
                INSERT_ACTIONS,
                &[&action_ids, &ranks, &actions, &scores, &propensities],
            )?;
        }
        Ok(inserted)
    }

    fn insert_events(&mut self, events: &[&Event]) -> Result<(), DbError> {
        if events.is_empty() {
            return Ok(());
        }
        let customers: Vec<&str> = events.iter().map(|e| e.customer_id.as_str()).collect();
        let times: Vec<i64> = events.iter().map(|e| e.timestamp.0).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let channels: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.channel.as_ref().map(|c| c.as_str()))
            .collect();
        let actions: Vec<Option<&str>> = events.iter().map(|e| e.action_id.as_deref()).collect();
        let values: Vec<Option<f64>> = events.iter().map(|e| e.value).collect();
        let texts: Vec<Option<&str>> = events.iter().map(|e| e.text.as_deref()).collect();
        self.execute(
            INSERT_EVENTS,
            &[
                &customers, &times, &kinds, &channels, &actions, &values, &texts,
            ],
        )?;
        Ok(())
    }

    fn prune_events(&mut self, customers: &[&str], keep: usize) -> Result<(), DbError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.execute(PRUNE_EVENTS, &[&customers, &keep])?;
        Ok(())
    }

    fn decision_created(&mut self, decision_id: &str) -> Result<Option<i64>, DbError> {
        let rows = self.query(
            "SELECT created_us FROM decisions WHERE decision_id = $1",
            &[&decision_id],
        )?;
        Ok(rows.first().map(|row| row.try_get(0)).transpose()?)
    }

    fn decision_action_ids(&mut self, decision_id: &str) -> Result<Vec<String>, DbError> {
        let rows = self.query(
            "SELECT action_id FROM decision_actions WHERE decision_id = $1 ORDER BY rank",
            &[&decision_id],
        )?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?)
    }

    fn insert_outcome_once(
        &mut self,
        o: &OutcomeRecord,
        recorded: Timestamp,
    ) -> Result<bool, DbError> {
        let inserted = self.execute(
            "INSERT INTO outcomes (decision_id, outcome_type, value, action_id, at_us,
                 recorded_us)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
            &[
                &o.decision_id,
                &o.outcome_type,
                &o.value,
                &o.action_id,
                &o.at.0,
                &recorded.0,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn experiment_for_update(&mut self, id: &str) -> Result<Option<Experiment>, DbError> {
        let rows = self.query(
            "SELECT definition FROM experiments WHERE experiment_id = $1 FOR UPDATE",
            &[&id],
        )?;
        Ok(PgTx::definitions(&rows)?.pop())
    }

    fn lock_layer(&mut self, layer: &str) -> Result<(), DbError> {
        // The same key on every replica: a hash of the layer's name under a fixed prefix.
        let key = Fnv1a::default()
            .update(b"nextbest/layer/")
            .update(layer.as_bytes())
            .finish() as i64;
        self.execute("SELECT pg_advisory_xact_lock($1)", &[&key])?;
        Ok(())
    }

    fn running_in_layer(&mut self, layer: &str, except: &str) -> Result<Vec<Experiment>, DbError> {
        let rows = self.query(
            "SELECT definition FROM experiments
             WHERE layer = $1 AND status = 'running' AND experiment_id <> $2",
            &[&layer, &except],
        )?;
        PgTx::definitions(&rows)
    }

    fn insert_experiment(&mut self, e: &Experiment, now: Timestamp) -> Result<bool, DbError> {
        let definition = experiment_json(e)?;
        let inserted = self.execute(
            "INSERT INTO experiments (experiment_id, definition, status, layer, created_us,
                 updated_us)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (experiment_id) DO NOTHING",
            &[&e.id, &definition, &e.status.name(), &e.layer, &now.0],
        )?;
        Ok(inserted == 1)
    }

    fn update_experiment(&mut self, e: &Experiment, now: Timestamp) -> Result<(), DbError> {
        let definition = experiment_json(e)?;
        self.execute(
            "UPDATE experiments SET definition = $2, status = $3, layer = $4, updated_us = $5
             WHERE experiment_id = $1",
            &[&e.id, &definition, &e.status.name(), &e.layer, &now.0],
        )?;
        Ok(())
    }
}
