//! PostgreSQL's queries, run by a few reader threads that own one connection each (see the
//! module above for why no caller's thread talks to PostgreSQL). Each query is one statement,
//! so it reads one snapshot: a decision and its actions come from the same moment.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use ::postgres::{Client, Row};

use super::{numbered_placeholders, prepared, Session, Statements, Target, READERS};
use crate::experiment::Experiment;
use crate::experiment::{ArmTotals, DailyArm};
use crate::journey::{Channel, Event, EventType, Timestamp};
use crate::store::backend::{experiment_from_json, into_record, DbError, DecisionRow, Reads};
use crate::store::experiments;
use crate::store::{DecisionRecord, LoggedAction, OutcomeRecord, StoreCounts, StoreError};

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// The reader threads and the queue of queries they take from.
pub(crate) struct Readers {
    // `None` only while dropping: closing the queue ends the threads.
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    shown: PathBuf,
}

impl Readers {
    /// Starts the reader threads; each connects on its first query.
    pub(crate) fn start(target: Target) -> Result<Readers, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let shown = target.shown.clone();
        let mut threads = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let queue = Arc::clone(&queue);
            let mut session = Session::new(
                target.clone(),
                Some("SET default_transaction_read_only = on".into()),
            );
            let thread = std::thread::Builder::new()
                // Not "nextbest-store-…": that prefix (all of a name /proc keeps) is the
                // writer's.
                .name("nextbest-pg-reader".into())
                .spawn(move || serve(&queue, &mut session))
                .map_err(|e| StoreError::io("starting the reader threads", e))?;
            threads.push(thread);
        }
        Ok(Readers {
            jobs: Some(jobs),
            threads,
            shown,
        })
    }

    /// Runs `query` on a reader thread and waits for its answer; failures are `store_io` while
    /// doing `context`. A connection the server closed while idle fails its first query: the
    /// query is tried once more on a new connection.
    fn run<T: Send + 'static>(
        &self,
        context: &'static str,
        mut query: impl FnMut(&mut Client, &mut Statements) -> Result<T, DbError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |session: &mut Session| {
            let mut attempt = |session: &mut Session| {
                let (client, statements) = session.client().map_err(DbError::transient)?;
                query(client, statements)
            };
            let mut result = attempt(session);
            if result.is_err() && session.is_closed() {
                result = attempt(session);
            }
            let _ = reply.send(result);
        });
        let stopped = || StoreError::io(context, "the reader threads have stopped");
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answer
            .recv()
            .map_err(|_| stopped())?
            .map_err(|e| StoreError::io(format!("{context} ({})", self.shown.display()), e))
    }
}

fn serve(queue: &Mutex<Receiver<Job>>, session: &mut Session) {
    loop {
        // A poisoned lock still guards a valid receiver.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else {
            return;
        };
        // A query that panicked answers nobody (its caller sees the reader gone) but must not
        // take the thread with it; its connection may be mid-query, so it is opened anew.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(session))).is_err() {
            session.reset();
        }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn decision_row(row: &Row) -> Result<DecisionRow, DbError> {
    Ok(DecisionRow {
        decision_id: row.try_get(0)?,
        customer_id: row.try_get(1)?,
        policy: row.try_get(2)?,
        experiment_id: row.try_get(3)?,
        arm: row.try_get(4)?,
        model_versions: row.try_get(5)?,
        context: row.try_get(6)?,
        created_us: row.try_get(7)?,
        latency_us: row.try_get(8)?,
        dry_run: row.try_get::<_, i16>(9)? != 0,
    })
}

/// Rows of decisions left-joined with their actions (columns 10–13), grouped per decision in
/// the order they come.
fn decisions_with_actions(rows: &[Row]) -> Result<Vec<(DecisionRow, Vec<LoggedAction>)>, DbError> {
    let mut out: Vec<(DecisionRow, Vec<LoggedAction>)> = Vec::new();
    for row in rows {
        let id: &str = row.try_get(0)?;
        if out.last().is_none_or(|(d, _)| d.decision_id != id) {
            out.push((decision_row(row)?, Vec::new()));
        }
        let Some(action_id) = row.try_get::<_, Option<String>>(10)? else {
            continue;
        };
        if let Some((_, actions)) = out.last_mut() {
            actions.push(LoggedAction {
                action_id,
                rank: u32::try_from(row.try_get::<_, i64>(11)?).unwrap_or(u32::MAX),
                score: row.try_get(12)?,
                propensity: row.try_get(13)?,
            });
        }
    }
    Ok(out)
}

const DECISION: &str = "
    SELECT d.decision_id, d.customer_id, d.policy, d.experiment_id, d.arm, d.model_versions,
        d.context, d.created_us, d.latency_us, d.dry_run,
        a.action_id, a.rank, a.score, a.propensity
    FROM decisions d LEFT JOIN decision_actions a ON a.decision_id = d.decision_id
    WHERE d.decision_id = $1 ORDER BY a.rank";

const DECISIONS_FOR: &str = "
    WITH d AS (
        SELECT decision_id, customer_id, policy, experiment_id, arm, model_versions, context,
            created_us, latency_us, dry_run, seq
        FROM decisions WHERE customer_id = $1 ORDER BY created_us DESC, seq DESC LIMIT $2)
    SELECT d.decision_id, d.customer_id, d.policy, d.experiment_id, d.arm, d.model_versions,
        d.context, d.created_us, d.latency_us, d.dry_run,
        a.action_id, a.rank, a.score, a.propensity
    FROM d LEFT JOIN decision_actions a ON a.decision_id = d.decision_id
    ORDER BY d.created_us DESC, d.seq DESC, a.rank";

fn query(
    client: &mut Client,
    statements: &mut Statements,
    sql: &'static str,
    params: &[&(dyn ::postgres::types::ToSql + Sync)],
) -> Result<Vec<Row>, DbError> {
    let statement = prepared(client, statements, sql)?;
    Ok(client.query(&statement, params)?)
}

fn records(
    found: Vec<(DecisionRow, Vec<LoggedAction>)>,
) -> Result<Vec<DecisionRecord>, StoreError> {
    found
        .into_iter()
        .map(|(row, actions)| into_record(row, actions))
        .collect()
}

impl Reads for Readers {
    fn decision(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let id = decision_id.to_string();
        let found = self.run("reading a decision", move |client, statements| {
            decisions_with_actions(&query(client, statements, DECISION, &[&id])?)
        })?;
        Ok(records(found)?.pop())
    }

    fn decisions_for(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        let customer = customer_id.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found = self.run(
            "reading a customer's decisions",
            move |client, statements| {
                let rows = query(client, statements, DECISIONS_FOR, &[&customer, &limit])?;
                decisions_with_actions(&rows)
            },
        )?;
        records(found)
    }

    fn outcomes_for(&self, decision_id: &str) -> Result<Vec<OutcomeRecord>, StoreError> {
        let id = decision_id.to_string();
        self.run("reading outcomes", move |client, statements| {
            let rows = query(
                client,
                statements,
                "SELECT outcome_type, value, action_id, at_us FROM outcomes
                 WHERE decision_id = $1 ORDER BY at_us, outcome_id",
                &[&id],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(OutcomeRecord {
                        decision_id: id.clone(),
                        outcome_type: row.try_get(0)?,
                        value: row.try_get(1)?,
                        action_id: row.try_get(2)?,
                        at: Timestamp(row.try_get(3)?),
                    })
                })
                .collect()
        })
    }

    fn decision_ids(&self) -> Result<Vec<String>, StoreError> {
        self.run("listing decisions", move |client, statements| {
            let rows = query(
                client,
                statements,
                "SELECT decision_id FROM decisions ORDER BY created_us, seq",
                &[],
            )?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
        })
    }

    fn history(&self, customer_id: &str) -> Result<Vec<Event>, StoreError> {
        let customer = customer_id.to_string();
        self.run("reading a customer's profile", move |client, statements| {
            let rows = query(
                client,
                statements,
                "SELECT ts_us, event_type, channel, action_id, value, text FROM events
                 WHERE customer_id = $1 ORDER BY ts_us, seq",
                &[&customer],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(Event {
                        customer_id: customer.clone(),
                        timestamp: Timestamp(row.try_get(0)?),
                        event_type: EventType::parse(row.try_get(1)?),
                        channel: row.try_get::<_, Option<&str>>(2)?.map(Channel::parse),
                        action_id: row.try_get(3)?,
                        value: row.try_get(4)?,
                        text: row.try_get(5)?,
                        anonymous_id: None,
                    })
                })
                .collect()
        })
    }

    fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.run("counting rows", |client, statements| {
            let rows = query(
                client,
                statements,
                "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM outcomes),
                        (SELECT count(*) FROM events),
                        (SELECT count(*) FROM (SELECT DISTINCT customer_id FROM events) c)",
                &[],
            )?;
            let row = rows
                .first()
                .ok_or_else(|| DbError::transient("the counts query answered no row"))?;
            let get = |i| -> Result<u64, DbError> {
                Ok(u64::try_from(row.try_get::<_, i64>(i)?).unwrap_or(0))
            };
            Ok(StoreCounts {
                decisions: get(0)?,
                outcomes: get(1)?,
                events: get(2)?,
                profiles: get(3)?,
            })
        })
    }

    fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        self.run("reading experiments", |client, statements| {
            let rows = query(
                client,
                statements,
                "SELECT definition FROM experiments ORDER BY created_us, experiment_id",
                &[],
            )?;
            rows.iter()
                .map(|row| experiment_from_json(row.try_get(0)?))
                .collect()
        })
    }

    fn experiment(&self, id: &str) -> Result<Option<Experiment>, StoreError> {
        let id = id.to_string();
        self.run("reading an experiment", move |client, statements| {
            let rows = query(
                client,
                statements,
                "SELECT definition FROM experiments WHERE experiment_id = $1",
                &[&id],
            )?;
            rows.first()
                .map(|row| experiment_from_json(row.try_get(0)?))
                .transpose()
        })
    }

    fn experiment_totals(
        &self,
        experiment: &Experiment,
    ) -> Result<(Vec<ArmTotals>, Vec<DailyArm>), StoreError> {
        let e = experiment.clone();
        self.run("computing experiment totals", move |client, _| {
            let (window, pre) = experiments::window_params(&e);
            let params: [&(dyn ::postgres::types::ToSql + Sync); 3] = [&e.id, &window, &pre];
            let totals_sql =
                numbered_placeholders(&experiments::per_unit_query(experiments::TOTALS_SQL));
            let mut found = Vec::new();
            for row in client.query(&totals_sql, &params)? {
                let mut sums = [None; 16];
                for (i, sum) in sums.iter_mut().enumerate() {
                    *sum = row.try_get::<_, Option<f64>>(4 + i)?;
                }
                let counts = [row.try_get(1)?, row.try_get(2)?, row.try_get(3)?];
                found.push(ArmTotals::from_sums(row.try_get(0)?, counts, sums));
            }
            let daily_sql =
                numbered_placeholders(&experiments::per_unit_query(experiments::DAILY_SQL));
            let mut daily = Vec::new();
            for row in client.query(&daily_sql, &params)? {
                daily.push(DailyArm::from_row(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                ));
            }
            Ok((experiments::in_arm_order(&e, found), daily))
        })
    }
}
