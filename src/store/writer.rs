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

use super::backend::{DbError, WriteConn};
use super::batch::Committed;
use super::experiments::ExperimentChange;
use super::profile_cache::ProfileCache;
use super::{DecisionRecord, OutcomeRecord, StoreConfig, StoreError};
use crate::journey::Event;

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
    pub(crate) fn send(self, verdict: Verdict) {
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
    /// The flag says the events are already in the profile cache (the spool put them there
    /// before answering), so the writer must not merge them again.
    Decision(Box<DecisionRecord>, Vec<Event>, Option<Reply>, bool),
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
        !matches!(self, Message::Decision(_, _, None, _))
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
    /// Spooled (already answered) decisions whose commit failed: the spool keeps its files
    /// for the next start when this moves. Unlike a flush's verdict, nothing resets it.
    pub(crate) spooled_failed: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) cache_misses: AtomicU64,
}

/// State the writer shares with the store's callers.
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    pub(crate) cache: ProfileCache,
}

impl Shared {
    /// Zeroed counters and an empty cache whose entries live `config.profile_cache_ttl`, or
    /// the backend's `default_ttl` when the configuration leaves it open.
    pub(crate) fn new(config: &StoreConfig, default_ttl: Option<Duration>) -> Arc<Shared> {
        Arc::new(Shared {
            counters: Counters::default(),
            cache: ProfileCache::new(
                config.profile_cache_bytes,
                config.profile_cache_ttl.or(default_ttl),
            )
            .keeping(config.max_events_per_customer),
        })
    }
}

/// Attempts per batch before its records are given up on; the waits between attempts ride out
/// a lock held a while by another process or a briefly full disk.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_millis(1_000),
];

/// Starts the writer thread: it opens its connection itself (`connect`: a PostgreSQL client
/// must live on a thread of its own, never on an async runtime's), and this returns once the
/// connection is open and the schema current, or with the reason it could not be.
pub(crate) fn spawn<C, F>(
    connect: F,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    config: &StoreConfig,
) -> Result<JoinHandle<()>, StoreError>
where
    C: WriteConn + 'static,
    F: FnOnce() -> Result<C, StoreError> + Send + 'static,
{
    let batch_max = config.batch_max;
    let linger = config.batch_linger;
    let max_events = config.max_events_per_customer;
    let (opened, open_result) = std::sync::mpsc::sync_channel(1);
    let handle = std::thread::Builder::new()
        .name("nextbest-store-writer".into())
        .spawn(move || {
            yield_to_request_threads();
            let conn = match connect() {
                Ok(conn) => {
                    let _ = opened.send(Ok(()));
                    conn
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return;
                }
            };
            Writer {
                conn,
                queue,
                shared,
                batch_max,
                linger,
                max_events,
                unreported: None,
            }
            .run()
        })
        .map_err(|e| StoreError::io("starting the writer thread", e))?;
    match open_result.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(StoreError::writer_stopped())
        }
    }
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

struct Writer<C> {
    conn: C,
    queue: Receiver<Message>,
    shared: Arc<Shared>,
    batch_max: usize,
    linger: Duration,
    max_events: usize,
    /// The last failure that lost records and that no flush has reported yet.
    unreported: Option<StoreError>,
}

impl<C: WriteConn> Writer<C> {
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
        let customers = batch.iter().flat_map(|m| match m {
            Message::Events(events, _) | Message::Decision(_, events, ..) => events.as_slice(),
            _ => &[],
        });
        let stripes = self
            .shared
            .cache
            .begin_writes(customers.map(|e| e.customer_id.as_str()));
        let verdicts = self.commit(batch);
        self.shared.cache.end_writes(&stripes);
        // A flush answers for everything before it: it fails if records were lost since the
        // last flush that said so, and every flush of this batch says so.
        let flush_verdict = match &self.unreported {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        };
        let mut flushed = false;
        for (message, verdict) in batch.drain(..).zip(verdicts) {
            match message {
                Message::Decision(_, _, None, _) => {}
                Message::Decision(_, _, Some(reply), _)
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
    /// because the database refuses a record (not because of the disk, a lock or the network),
    /// its messages are written one per transaction, so that the bad record loses only itself.
    fn commit(&mut self, batch: &[Message]) -> Vec<Result<(), StoreError>> {
        let error = match self.write_with_retries(batch) {
            Ok(committed) => return self.committed(batch, committed),
            Err(error) => error,
        };
        if batch.len() == 1 || !error.record_specific {
            return self.failed(batch, batch_error(error));
        }
        let mut verdicts = Vec::with_capacity(batch.len());
        for one in batch.chunks(1) {
            match self.write(one) {
                Ok(committed) => verdicts.extend(self.committed(one, committed)),
                Err(e) => verdicts.extend(self.failed(one, batch_error(e))),
            }
        }
        verdicts
    }

    fn write(&mut self, batch: &[Message]) -> Result<Committed, DbError> {
        // Flushes alone write nothing: answering them needs no transaction.
        if batch.iter().all(|m| matches!(m, Message::Flush(_))) {
            return Ok(Committed::nothing(batch.len()));
        }
        self.conn.write(batch, self.max_events)
    }

    /// Writes the batch, retrying with back-off; the last error if every attempt fails.
    fn write_with_retries(&mut self, batch: &[Message]) -> Result<Committed, DbError> {
        let mut attempt = 0;
        loop {
            match self.write(batch) {
                Ok(committed) => return Ok(committed),
                Err(e) if e.record_specific => return Err(e),
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
            .filter(|m| matches!(m, Message::Decision(_, _, None, _)))
            .count() as u64;
        // A decision whose caller waits is told of the failure and answered as failed: it is
        // not lost unreported, but it is not written either.
        let answered = batch
            .iter()
            .filter(|m| matches!(m, Message::Decision(_, _, Some(_), _)))
            .count() as u64;
        counters.lost.fetch_add(unanswered, Ordering::Relaxed);
        counters.failed.fetch_add(answered, Ordering::Relaxed);
        let spooled = batch
            .iter()
            .filter(|m| matches!(m, Message::Decision(_, _, None, true)))
            .count() as u64;
        counters
            .spooled_failed
            .fetch_add(spooled, Ordering::Relaxed);
        for message in batch {
            self.settle_spooled(message, false);
        }
        if unanswered > 0 {
            self.unreported = Some(error.clone());
        }
        vec![Err(error); batch.len()]
    }

    /// A spooled decision's exposures went into the cache as pending before its commit: now
    /// they are settled. When the log did not take them (a repeated id, a failed commit) the
    /// profiles they were merged into are dropped too, to be loaded again from the log.
    fn settle_spooled(&self, message: &Message, taken: bool) {
        let Message::Decision(_, events, _, true) = message else {
            return;
        };
        // The same runs of one customer's events as the spool handed over.
        for run in events.chunk_by(|a, b| a.customer_id == b.customer_id) {
            let customer = &run[0].customer_id;
            self.shared.cache.settle_spooled(customer, run.len());
            if !taken {
                self.shared.cache.forget(customer);
            }
        }
    }

    /// Merges the batch's committed events into cached profiles, per customer in arrival order.
    fn update_cache(&self, batch: &[Message], events_skipped: &[usize]) {
        let mut by_customer: HashMap<&str, Vec<Event>> = HashMap::new();
        for (index, message) in batch.iter().enumerate() {
            let taken = !events_skipped.contains(&index);
            self.settle_spooled(message, taken);
            if !taken {
                continue;
            }
            if let Message::Events(events, _) | Message::Decision(_, events, _, false) = message {
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

fn batch_error(error: DbError) -> StoreError {
    StoreError::io("writing to the store", error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::Timestamp;
    use crate::store::sqlite::{self, SqliteWriter};
    use crate::store::LoggedAction;

    fn writer(dir: &std::path::Path) -> (Writer<SqliteWriter>, SyncSender<Message>) {
        let config = StoreConfig::default();
        let (conn, _) = sqlite::open(&dir.join("w.db"), &config).unwrap();
        let (sender, queue) = std::sync::mpsc::sync_channel(4);
        let shared = Shared::new(&config, None);
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
            false,
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
