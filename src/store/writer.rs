//! The background writer: the only thread that writes. It takes messages from one bounded
//! queue in arrival order and commits many per transaction (group commit).
//!
//! Because the queue is FIFO and one thread applies it, anything acknowledged before a message
//! was queued is in the database by the time that message is handled: an outcome queued right
//! after its decision finds it, and a flush returns once everything queued before it is
//! committed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::experiments::{self, ExperimentChange};
use super::profile_cache::ProfileCache;
use super::{DecisionRecord, OutcomeRecord, StoreConfig, StoreError};
use crate::journey::{Event, Timestamp};

/// What a commit's waiter is told.
pub(crate) type Verdict = Result<(), StoreError>;

/// Where the writer sends the result of a call that waits for its commit: a thread blocked on
/// a channel, or a task awaiting a one-shot (an async request handler must not block).
pub(crate) enum Reply {
    /// A thread blocked in `recv`.
    Blocking(SyncSender<Verdict>),
    /// A task awaiting the answer.
    Async(tokio::sync::oneshot::Sender<Verdict>),
}

impl Reply {
    /// Tells the waiter. One that gave up waiting has dropped its receiver: nothing to tell.
    fn send(self, verdict: Verdict) {
        match self {
            Reply::Blocking(sender) => {
                let _ = sender.send(verdict);
            }
            Reply::Async(sender) => {
                let _ = sender.send(verdict);
            }
        }
    }
}

/// One unit of work for the writer.
pub(crate) enum Message {
    /// Log a decision together with the events it caused (its exposures, possibly none), in
    /// one transaction. With a reply the caller waits for the commit; without one nobody does
    /// (the decision was acknowledged when queued).
    Decision(Box<DecisionRecord>, Vec<Event>, Option<Reply>),
    /// Store an outcome (validated against its decision in the same transaction).
    Outcome(Box<OutcomeRecord>, Reply),
    /// Append journey events to profiles.
    Events(Vec<Event>, Reply),
    /// Create, change, start, stop or ramp an experiment (checked against its stored state).
    Experiment(Box<ExperimentChange>, Reply),
    /// Answer once everything queued before has been committed.
    Flush(Reply),
}

impl Message {
    /// Whether a caller is waiting until this message is committed.
    fn has_waiter(&self) -> bool {
        !matches!(self, Message::Decision(_, _, None))
    }
}

/// Counters shared between the writer and the store's callers.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) duplicate: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) rejected: AtomicU64,
    /// Decisions refused at commit with their caller told (logged with their exposures).
    pub(crate) failed: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
}

/// State the writer shares with the store's callers.
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    pub(crate) cache: ProfileCache,
}

/// How long before its decision an outcome may be dated: the caller's clock and the service's
/// differ a little.
const OUTCOME_CLOCK_SKEW_US: i64 = 5 * 60 * 1_000_000;
/// How long after its decision an outcome may be dated.
const OUTCOME_HORIZON_US: i64 = 366 * Timestamp::MICROS_PER_DAY;

/// Attempts per batch before its records are given up on; the waits between attempts ride out
/// a lock held a while by another process or a briefly full disk.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_millis(1_000),
];

/// Starts the writer thread on an already opened and migrated connection.
pub(crate) fn spawn(
    conn: Connection,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    config: &StoreConfig,
) -> std::io::Result<JoinHandle<()>> {
    let writer = Writer {
        conn,
        queue,
        shared,
        batch_max: config.batch_max,
        linger: config.batch_linger,
        max_events: config.max_events_per_customer,
        unreported: None,
    };
    std::thread::Builder::new()
        .name("nextbest-store-writer".into())
        .spawn(move || {
            yield_to_request_threads();
            writer.run()
        })
}

/// How much lower than the request threads the writer runs, in nice levels above the process's
/// own (5 gives it about a third of a request thread's share when the CPU is contended, which
/// keeps group commit ahead of the queue at full load).
#[cfg(target_os = "linux")]
const WRITER_NICE: libc::c_int = 5;

/// Logging a decision can wait a few milliseconds; answering it cannot. Under load the writer
/// competes with the request workers for the same cores, and on a 2-core machine that shows up
/// as tail latency (p99 5.1 → 3.9 ms at 8 connections in `benches/load_test.sh`). On Linux a
/// nice level belongs to the calling thread, so this lowers the writer and nothing else.
#[cfg(target_os = "linux")]
fn yield_to_request_threads() {
    // SAFETY: nice() takes a plain integer and touches no memory of ours; glibc and musl apply
    // it to the calling thread on Linux. It is relative, so a process started under `nice`
    // keeps its writer below itself. Failure only leaves the writer at the process's
    // priority, so the result is ignored on purpose.
    let _ = unsafe { libc::nice(WRITER_NICE) };
}

#[cfg(not(target_os = "linux"))]
fn yield_to_request_threads() {}

struct Writer {
    conn: Connection,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    batch_max: usize,
    linger: Duration,
    max_events: usize,
    /// The last failure that lost records and that no flush has reported yet.
    unreported: Option<StoreError>,
}

/// What a committed batch did, for counters, the cache and the waiting callers.
struct Committed {
    written: u64,
    duplicate: u64,
    /// Whether a transaction was committed (a batch of flushes alone needs none).
    transaction: bool,
    /// One verdict per message of the batch (outcomes can be refused on their own).
    verdicts: Vec<Result<(), StoreError>>,
    /// Messages of the batch whose events were not written (a decision with exposures whose id
    /// was already logged): the cache must not gain them either.
    events_skipped: Vec<usize>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::with_capacity(self.batch_max);
        // Ends when every sender is gone (the store was dropped) and the queue is drained.
        while let Ok(first) = self.queue.recv() {
            batch.push(first);
            self.fill(&mut batch);
            self.process(&mut batch);
        }
    }

    /// Adds queued messages to the batch until it is full, the linger time has passed, or
    /// someone is waiting on a message in it (no caller waits on the linger).
    fn fill(&self, batch: &mut Vec<Message>) {
        let deadline = Instant::now() + self.linger;
        let mut waiter = batch.iter().any(Message::has_waiter);
        while batch.len() < self.batch_max {
            let next = match self.queue.try_recv() {
                Ok(message) => message,
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if waiter || now >= deadline {
                        return;
                    }
                    match self.queue.recv_timeout(deadline - now) {
                        Ok(message) => message,
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            waiter |= next.has_waiter();
            batch.push(next);
        }
    }

    fn process(&mut self, batch: &mut Vec<Message>) {
        let verdicts = self.commit(batch);
        // A flush answers for everything before it: it fails if records were lost since the
        // last flush that said so, and every flush of this batch says so.
        let flush_verdict = match &self.unreported {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        };
        let mut flushed = false;
        for (message, verdict) in batch.drain(..).zip(verdicts) {
            match message {
                Message::Decision(_, _, None) => {}
                Message::Decision(_, _, Some(reply))
                | Message::Outcome(_, reply)
                | Message::Events(_, reply)
                | Message::Experiment(_, reply) => reply.send(verdict),
                Message::Flush(reply) => {
                    flushed = true;
                    reply.send(flush_verdict.clone());
                }
            }
        }
        if flushed {
            self.unreported = None;
        }
    }

    /// Commits the batch and returns one verdict per message. When the batch keeps failing
    /// because SQLite refuses a record (not because of the disk or a lock), its messages are
    /// written one per transaction, so that the bad record loses only itself.
    fn commit(&mut self, batch: &[Message]) -> Vec<Result<(), StoreError>> {
        let error = match self.write_with_retries(batch) {
            Ok(committed) => return self.committed(batch, committed),
            Err(error) => error,
        };
        if batch.len() == 1 || !record_specific(&error) {
            return self.failed(batch, batch_error(error));
        }
        let mut verdicts = Vec::with_capacity(batch.len());
        for one in batch.chunks(1) {
            match write_batch(&mut self.conn, one, self.max_events) {
                Ok(committed) => verdicts.extend(self.committed(one, committed)),
                Err(e) => verdicts.extend(self.failed(one, batch_error(e))),
            }
        }
        verdicts
    }

    /// Writes the batch, retrying with back-off; the last SQLite error if every attempt fails.
    fn write_with_retries(&mut self, batch: &[Message]) -> rusqlite::Result<Committed> {
        let mut attempt = 0;
        loop {
            match write_batch(&mut self.conn, batch, self.max_events) {
                Ok(committed) => return Ok(committed),
                Err(e) if record_specific(&e) => return Err(e),
                Err(_) if attempt < BACKOFF.len() => {
                    std::thread::sleep(BACKOFF[attempt]);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn committed(&self, batch: &[Message], committed: Committed) -> Vec<Result<(), StoreError>> {
        let counters = &self.shared.counters;
        counters
            .written
            .fetch_add(committed.written, Ordering::Relaxed);
        counters
            .duplicate
            .fetch_add(committed.duplicate, Ordering::Relaxed);
        if committed.transaction {
            counters.batches.fetch_add(1, Ordering::Relaxed);
        }
        self.update_cache(batch, &committed.events_skipped);
        committed.verdicts
    }

    fn failed(&mut self, batch: &[Message], error: StoreError) -> Vec<Result<(), StoreError>> {
        let counters = &self.shared.counters;
        let unanswered = batch
            .iter()
            .filter(|m| matches!(m, Message::Decision(_, _, None)))
            .count() as u64;
        // A decision whose caller waits is told of the failure and answered as failed: it is
        // not lost unreported, but it is not written either.
        let answered = batch
            .iter()
            .filter(|m| matches!(m, Message::Decision(_, _, Some(_))))
            .count() as u64;
        counters.lost.fetch_add(unanswered, Ordering::Relaxed);
        counters.failed.fetch_add(answered, Ordering::Relaxed);
        if unanswered > 0 {
            self.unreported = Some(error.clone());
        }
        vec![Err(error); batch.len()]
    }

    /// Merges the batch's committed events into cached profiles, per customer in arrival order.
    fn update_cache(&self, batch: &[Message], events_skipped: &[usize]) {
        let mut by_customer: HashMap<&str, Vec<Event>> = HashMap::new();
        for (index, message) in batch.iter().enumerate() {
            if events_skipped.contains(&index) {
                continue;
            }
            if let Message::Events(events, _) | Message::Decision(_, events, _) = message {
                for event in events {
                    by_customer
                        .entry(event.customer_id.as_str())
                        .or_default()
                        .push(event.clone());
                }
            }
        }
        for (customer, events) in by_customer {
            self.shared
                .cache
                .apply_committed(customer, &events, self.max_events);
        }
    }
}

/// Whether SQLite refused a record itself, so that waiting and retrying cannot help.
fn record_specific(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch)
    )
}

fn batch_error(error: rusqlite::Error) -> StoreError {
    StoreError::io("writing to the store", error)
}

/// Writes one batch in one transaction. Errors here are SQLite's (the whole batch is rolled
/// back and retried); an outcome's own problems are its verdict and do not fail the batch.
fn write_batch(
    conn: &mut Connection,
    batch: &[Message],
    max_events: usize,
) -> rusqlite::Result<Committed> {
    let mut committed = Committed {
        written: 0,
        duplicate: 0,
        transaction: false,
        verdicts: Vec::with_capacity(batch.len()),
        events_skipped: Vec::new(),
    };
    // Flushes alone write nothing: answering them needs no transaction.
    if batch.iter().all(|m| matches!(m, Message::Flush(_))) {
        committed.verdicts.resize_with(batch.len(), || Ok(()));
        return Ok(committed);
    }
    // Immediate: take the write lock up front rather than fail to upgrade a read lock later.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut touched: Vec<&str> = Vec::new();
    for (index, message) in batch.iter().enumerate() {
        let verdict = match message {
            Message::Outcome(outcome, _) => insert_outcome(&tx, outcome)?,
            Message::Experiment(change, _) => experiments::apply(&tx, change)?,
            Message::Events(events, _) => {
                insert_events(&tx, events)?;
                touched.extend(events.iter().map(|e| e.customer_id.as_str()));
                Ok(())
            }
            Message::Decision(record, events, _) => {
                // A retried request (same id) must not send its exposures twice either.
                if insert_decision(&tx, record)? {
                    committed.written += 1;
                    if !events.is_empty() {
                        insert_events(&tx, events)?;
                        touched.extend(events.iter().map(|e| e.customer_id.as_str()));
                    }
                } else {
                    committed.duplicate += 1;
                    committed.events_skipped.push(index);
                }
                Ok(())
            }
            Message::Flush(_) => Ok(()),
        };
        committed.verdicts.push(verdict);
    }
    touched.sort_unstable();
    touched.dedup();
    prune_events(&tx, &touched, max_events)?;
    tx.commit()?;
    committed.transaction = true;
    Ok(committed)
}

/// Inserts a decision and its actions; false if the id was already logged (the first record
/// wins, so a retried request cannot double-count an exposure).
fn insert_decision(conn: &Connection, d: &DecisionRecord) -> rusqlite::Result<bool> {
    let (experiment_id, arm) = match &d.experiment {
        Some(e) => (Some(e.experiment_id.as_str()), Some(e.arm.as_str())),
        None => (None, None),
    };
    // A map of strings always serialises; the fallback only keeps this path free of panics.
    let model_versions =
        serde_json::to_string(&d.model_versions).unwrap_or_else(|_| "{}".to_string());
    let inserted = conn
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
            experiment_id,
            arm,
            model_versions,
            d.context.to_string(),
            d.created.0,
            i64::try_from(d.latency_us).unwrap_or(i64::MAX),
            d.dry_run,
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    let mut insert_action = conn.prepare_cached(
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

/// Checks the outcome against its decision and stores it. The outer error is SQLite's; the
/// inner one is the outcome's verdict.
fn insert_outcome(
    conn: &Connection,
    o: &OutcomeRecord,
) -> rusqlite::Result<Result<(), StoreError>> {
    let created = conn
        .prepare_cached("SELECT created_us FROM decisions WHERE decision_id = ?1")?
        .query_row([&o.decision_id], |row| row.get::<_, i64>(0))
        .optional()?;
    let Some(created) = created else {
        return Ok(Err(StoreError::UnknownDecision {
            decision_id: o.decision_id.clone(),
        }));
    };
    // What happened after a decision happened after it (give or take the clocks of the caller
    // and of the service), and not years later.
    let earliest = created.saturating_sub(OUTCOME_CLOCK_SKEW_US);
    let latest = created.saturating_add(OUTCOME_HORIZON_US);
    if o.at.0 < earliest || o.at.0 > latest {
        return Ok(Err(StoreError::InvalidOutcome {
            field: "at",
            problem: format!(
                "{} is not within the decision's window ({} − 5 minutes … + 366 days)",
                o.at,
                Timestamp(created)
            ),
        }));
    }
    if let Some(action_id) = &o.action_id {
        let mut statement = conn.prepare_cached(
            "SELECT action_id FROM decision_actions WHERE decision_id = ?1 ORDER BY rank",
        )?;
        let chosen = statement
            .query_map([&o.decision_id], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        if !chosen.iter().any(|a| a == action_id) {
            let problem = if chosen.is_empty() {
                format!(
                    "'{action_id}' given, but decision '{}' chose no action",
                    o.decision_id
                )
            } else {
                format!(
                    "'{action_id}' is not one of decision '{}''s actions ({})",
                    o.decision_id,
                    chosen.join(", ")
                )
            };
            return Ok(Err(StoreError::InvalidOutcome {
                field: "action_id",
                problem,
            }));
        }
    }
    // Counted once: a repeat of the same (decision, type, action) — a retried request, a
    // forged duplicate — is acknowledged and not stored again; the first one stands.
    let repeat = conn
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
        return Ok(Ok(()));
    }
    conn.prepare_cached(
        "INSERT INTO outcomes (decision_id, outcome_type, value, action_id, at_us, recorded_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        o.decision_id,
        o.outcome_type,
        o.value,
        o.action_id,
        o.at.0,
        Timestamp::now().0,
    ])?;
    Ok(Ok(()))
}

fn insert_events(conn: &Connection, events: &[Event]) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
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

/// Deletes each touched customer's events beyond the latest `max` (by time, then arrival).
fn prune_events(conn: &Connection, customers: &[&str], max: usize) -> rusqlite::Result<()> {
    if customers.is_empty() {
        return Ok(());
    }
    let mut prune = conn.prepare_cached(
        "DELETE FROM events WHERE customer_id = ?1 AND seq IN (
             SELECT seq FROM events WHERE customer_id = ?1
             ORDER BY ts_us DESC, seq DESC LIMIT -1 OFFSET ?2)",
    )?;
    let keep = i64::try_from(max).unwrap_or(i64::MAX);
    for customer in customers {
        prune.execute(params![customer, keep])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{schema, LoggedAction};

    fn writer(dir: &std::path::Path) -> (Writer, SyncSender<Message>) {
        let config = StoreConfig::default();
        let conn = schema::open_writer(&dir.join("w.db"), &config).unwrap();
        let (sender, queue) = std::sync::mpsc::sync_channel(4);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            cache: ProfileCache::new(100),
        });
        let writer = Writer {
            conn,
            queue,
            shared,
            batch_max: config.batch_max,
            linger: config.batch_linger,
            max_events: config.max_events_per_customer,
            unreported: None,
        };
        (writer, sender)
    }

    fn decision(id: &str, ranks: &[u32]) -> Message {
        Message::Decision(
            Box::new(DecisionRecord {
                decision_id: id.into(),
                customer_id: "c".into(),
                policy: "p".into(),
                experiment: None,
                actions: ranks
                    .iter()
                    .map(|&rank| LoggedAction {
                        action_id: format!("a{rank}"),
                        rank,
                        score: 1.0,
                        propensity: 0.5,
                    })
                    .collect(),
                model_versions: Default::default(),
                context: serde_json::Value::Null,
                created: Timestamp(0),
                latency_us: 1,
                dry_run: false,
            }),
            Vec::new(),
            None,
        )
    }

    #[test]
    fn a_record_sqlite_refuses_loses_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, _sender) = writer(dir.path());
        // Duplicate ranks bypass validation here; SQLite's primary key refuses them.
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let reply = Reply::Blocking(reply);
        let mut batch = vec![
            decision("ok-1", &[1]),
            decision("bad", &[1, 1]),
            decision("ok-2", &[1, 2]),
            Message::Flush(reply),
        ];
        writer.process(&mut batch);
        let flushed = answer.recv().unwrap();
        assert_eq!(flushed.unwrap_err().code(), "store_io");
        let counters = &writer.shared.counters;
        assert_eq!(counters.written.load(Ordering::Relaxed), 2);
        assert_eq!(counters.lost.load(Ordering::Relaxed), 1);
        let kept: i64 = writer
            .conn
            .query_row("SELECT count(*) FROM decisions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 2);
        // The loss was reported; the next flush is clean.
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        writer.process(&mut vec![Message::Flush(Reply::Blocking(reply))]);
        assert!(answer.recv().unwrap().is_ok());
    }
}
