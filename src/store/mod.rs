//! The state of the online decision service: the decision log, outcomes, customer profiles
//! and experiments, in one SQLite file (WAL mode; the embedded default) or in one PostgreSQL
//! database that several replicas share ([`StoreLocation`]: a `postgres://` URL switches it).
//!
//! # Two backends, one store
//! Everything that decides what is written and answered is shared: validation, the writer
//! thread and its group commit (`writer.rs`), what a batch does in its transaction — decisions
//! with their exposures, outcomes checked against their decision, events, experiment changes,
//! pruning (`batch.rs`), the rules of experiment changes and the totals SQL (`experiments.rs`),
//! the profile cache. Below a small boundary (`backend.rs`: the writer's connection, the row
//! operations of its transaction, and the queries), `sqlite/` and `pg/` each implement the SQL.
//! A trait rather than an enum: the writer is generic over its connection, and the readers are
//! one trait object per store, so neither backend's types leak into the other.
//!
//! On PostgreSQL, other replicas write the same tables at the same time, so the transaction
//! also locks what the single SQLite writer never needed to: an experiment's row
//! (`FOR UPDATE`) and its layer (an advisory lock) while it starts or ramps, a unique index
//! that counts an outcome once, `ON CONFLICT DO NOTHING` for a decision id (see `pg/write.rs`).
//! The `postgres` client runs a runtime of its own that must not start on an async runtime's
//! thread, so the store only calls it from its writer thread and a few reader threads of its
//! own (`pg/mod.rs`): every method may be called from anywhere, as on SQLite.
//!
//! The profile cache is exact on SQLite (the store's own writer merges every commit into it).
//! On PostgreSQL another replica's writes never reach it, and contact caps count the sends in
//! a profile, so it is off by default there; [`StoreConfig::profile_cache_ttl`] turns it on
//! with a bound on how stale another replica's writes may be seen.
//!
//! # Writes
//! One background thread owns the only write connection and applies a bounded FIFO queue in
//! batches, one transaction per batch (group commit). A batch ends when
//! [`StoreConfig::batch_max`] messages are gathered, when someone waits on a message in it and
//! nothing more is queued, or [`StoreConfig::batch_linger`] after its first message. So:
//!
//! - [`Store::log_decision`] never blocks: it validates the record and queues it, or answers
//!   `store_overloaded` at once when the queue is full (a request path must not stall behind a
//!   stalled disk; the refusal is counted in [`Store::stats`]). It returns a [`PendingCommit`]
//!   that a thread waits on or a task awaits; the decision service answers only then. While one
//!   transaction commits, the decisions arriving meanwhile queue up for the next, so waiting
//!   costs each request about one commit, not one commit per request.
//! - [`Store::record_decision`] queues without waiting (acknowledged when queued).
//! - [`Store::record_outcome`] and [`Store::append_events`] go through the same queue and
//!   return once committed. The queue's order is what lets an outcome sent right after its
//!   decision find it, with no explicit flush.
//! - [`Store::flush`] returns once everything queued before it is committed; dropping the
//!   store (or [`Store::close`]) drains the queue and stops the writer.
//!
//! # Durability
//! On PostgreSQL, a commit is the server's (its own settings decide the rest). On SQLite,
//! `synchronous=NORMAL` in WAL mode: a commit is written to the WAL but not fsynced, so a
//! process crash (`kill -9`, out of memory) loses nothing committed; a power cut or kernel
//! crash can lose the commits since the last checkpoint. A decision whose commit was awaited
//! survives the crash of the process (`tests/durability.rs`); one acknowledged when queued is
//! lost if the process dies before the next commit — normally the last `batch_linger` plus
//! one commit (a few ms).
//!
//! # Reads
//! Reads use separate connections and see committed data only (on PostgreSQL, also what other
//! replicas committed); [`Store::decision`] flushes and looks again before answering "none", so
//! a decision is readable as soon as `record_decision` has returned. [`Store::history`] serves
//! hot profiles from memory without SQL (where the cache is on).
//!
//! # From async code
//! `record_decision` and a cache hit of `history` only take short in-memory locks. Everything
//! else blocks the calling thread on the database or on the writer: from an async handler, run
//! it on a blocking pool (e.g. actix-web's `web::block`). Blocking is all it does: nothing
//! panics when called from an async runtime's thread, on either backend.

mod backend;
mod batch;
mod error;
mod experiments;
mod location;
mod pg;
mod profile_cache;
mod spool;
mod sqlite;
mod types;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use backend::SCHEMA_VERSION;
pub use error::StoreError;
pub use experiments::ExperimentChange;
pub use location::{LocationError, StoreLocation};
pub use profile_cache::Profile;
pub use types::{
    DecisionRecord, ExperimentArm, LoggedAction, OutcomeRecord, StoreConfig, StoreCounts,
    StoreStats, MAX_ID_CHARS, MAX_OUTCOME_TYPE_CHARS,
};

use crate::experiment::{ArmTotals, DailyArm, Experiment};
use crate::journey::Event;
use backend::Reads;
use writer::{Message, Shared};

/// Loads of one profile at most in [`Store::history`] when commits of the customer's events
/// keep ending during the load (the last is served, not cached).
const HISTORY_LOADS: u32 = 3;

/// The store. `Send + Sync`: share one per process behind an `Arc`.
pub struct Store {
    location: StoreLocation,
    shown: PathBuf,
    capacity: usize,
    // `None` only while dropping: closing the queue is what tells the writer to finish.
    sender: Option<SyncSender<Message>>,
    writer: Option<JoinHandle<()>>,
    // On SQLite: the spool thread, through which decisions with a waiter (and flushes) pass
    // on their way to the writer (`spool/`). Closed before the writer's queue.
    spool_sender: Option<SyncSender<Message>>,
    spool: Option<JoinHandle<()>>,
    readers: Box<dyn Reads>,
    shared: Arc<Shared>,
}

impl Store {
    /// Opens (or creates) the store at `location` (a SQLite file's path, or a
    /// [`StoreLocation`]) with the default configuration.
    pub fn open(location: impl Into<StoreLocation>) -> Result<Store, StoreError> {
        Store::open_with(location, &StoreConfig::default())
    }

    /// Opens (or creates) the store at `location`: on SQLite the file in WAL mode, on
    /// PostgreSQL a database that must exist; the schema created or migrated, the writer thread
    /// started. A database written by a newer nextbest (a higher schema version) or a file that
    /// is not a SQLite database is refused with `store_schema`; a database that cannot be
    /// reached with `store_io`.
    pub fn open_with(
        location: impl Into<StoreLocation>,
        config: &StoreConfig,
    ) -> Result<Store, StoreError> {
        let location = location.into();
        let config = config.sanitized();
        let (sender, queue) = mpsc::sync_channel(config.queue_capacity);
        let mut spool_parts = None;
        let (readers, writer, shared): (Box<dyn Reads>, _, _) = match &location {
            StoreLocation::Sqlite(path) => {
                let (conn, readers) = sqlite::open(path, &config)?;
                let shared = Shared::new(&config, None);
                let writer = writer::spawn(move || Ok(conn), queue, Arc::clone(&shared), &config)?;
                let next_number = replay_spool(path, &sender, &shared)?;
                if config.spool_decisions {
                    let (spool_sender, spool_queue) = mpsc::sync_channel(config.queue_capacity);
                    let thread = spool::spawn(
                        path,
                        next_number,
                        spool_queue,
                        sender.clone(),
                        Arc::clone(&shared),
                    )?;
                    spool_parts = Some((spool_sender, thread));
                }
                (Box::new(readers), writer, shared)
            }
            StoreLocation::Postgres(url) => {
                let target = pg::Target::new(url, &config)?;
                let shared = Shared::new(&config, Some(std::time::Duration::ZERO));
                let connect = {
                    let target = target.clone();
                    move || pg::open_writer(&target)
                };
                let writer = writer::spawn(connect, queue, Arc::clone(&shared), &config)?;
                (Box::new(pg::Readers::start(target)?), writer, shared)
            }
        };
        Ok(Store {
            shown: location.shown_path(),
            location,
            capacity: config.queue_capacity,
            sender: Some(sender),
            writer: Some(writer),
            spool_sender: spool_parts.as_ref().map(|(s, _)| s.clone()),
            spool: spool_parts.map(|(_, thread)| thread),
            readers,
            shared,
        })
    }

    /// Where the store lives.
    pub fn location(&self) -> &StoreLocation {
        &self.location
    }

    /// The database file; for a store on PostgreSQL, its URL with any password hidden.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    fn sender(&self) -> Result<&SyncSender<Message>, StoreError> {
        self.sender.as_ref().ok_or_else(StoreError::writer_stopped)
    }

    /// Queues a decision for the log without blocking and without waiting for its commit (see
    /// [`Store::log_decision`] for that). Errors: `invalid_decision` (nothing queued),
    /// `store_overloaded` when the queue is full, `store_io` if the writer has stopped. A record
    /// whose `decision_id` was already logged is ignored (the first one is kept) and counted in
    /// [`StoreStats::decisions_duplicate`].
    pub fn record_decision(&self, record: DecisionRecord) -> Result<(), StoreError> {
        self.log_decision(record, Vec::new(), Waiter::Nobody)
            .map(|_| ())
    }

    /// Logs a decision together with the `action` events it caused (its exposures, see
    /// `serve.record_exposures`) in one transaction, and waits for the commit: both are stored
    /// or neither is, so a caller told of a failure knows the decision was not logged. Errors
    /// as [`Store::log_decision`].
    pub fn record_decision_with_events(
        &self,
        record: DecisionRecord,
        events: Vec<Event>,
    ) -> Result<(), StoreError> {
        self.log_decision(record, events, Waiter::Thread)?.wait()
    }

    /// Queues a decision and the events it caused (possibly none) for one transaction, without
    /// blocking, and returns how to learn of the commit: [`PendingCommit::wait`] for a
    /// `Waiter::Thread`, [`PendingCommit::committed`] (a future) for a `Waiter::Task`; with
    /// `Waiter::Nobody` the decision counts as done once queued. Errors before anything is
    /// queued: `invalid_decision`, `invalid_event`, `store_overloaded` when the queue is full
    /// (never a wait for room: a request must not stall behind a stalled disk), `store_io` if
    /// the writer has stopped. The commit's own verdict is `store_io` or `ok`.
    pub fn log_decision(
        &self,
        record: DecisionRecord,
        events: Vec<Event>,
        waiter: Waiter,
    ) -> Result<PendingCommit, StoreError> {
        record.validate()?;
        for (index, event) in events.iter().enumerate() {
            types::validate_event(index, event)?;
        }
        // A decision someone waits for is answered once spooled, where there is a spool.
        let sender = match (&self.spool_sender, waiter) {
            (Some(spool), Waiter::Thread | Waiter::Task) => spool,
            _ => self.sender()?,
        };
        let (reply, pending) = match waiter {
            Waiter::Nobody => (None, PendingCommit(Pending::Queued)),
            Waiter::Thread => {
                let (reply, answer) = mpsc::sync_channel(1);
                (
                    Some(writer::Reply::Blocking(reply)),
                    PendingCommit(Pending::Thread(answer)),
                )
            }
            Waiter::Task => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                (
                    Some(writer::Reply::Async(reply)),
                    PendingCommit(Pending::Task(answer)),
                )
            }
        };
        let counters = &self.shared.counters;
        // Counted before sending so that the writer can never count it written first.
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        match sender.try_send(Message::Decision(Box::new(record), events, reply, false)) {
            Ok(()) => Ok(pending),
            Err(refused) => {
                counters.accepted.fetch_sub(1, Ordering::Relaxed);
                match refused {
                    TrySendError::Full(_) => {
                        counters.rejected.fetch_add(1, Ordering::Relaxed);
                        Err(StoreError::Overloaded {
                            capacity: self.capacity,
                        })
                    }
                    TrySendError::Disconnected(_) => Err(StoreError::writer_stopped()),
                }
            }
        }
    }

    /// Queues a message and waits until the writer has committed it. Blocks while the queue
    /// is full: these calls wait for the disk anyway, and are rare next to decisions.
    fn send_and_wait(&self, make: impl FnOnce(writer::Reply) -> Message) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.sender()?
            .send(make(writer::Reply::Blocking(reply)))
            .map_err(|_| StoreError::writer_stopped())?;
        answer.recv().map_err(|_| StoreError::writer_stopped())?
    }

    /// Returns once every record queued before the call is committed. Fails with `store_io`
    /// if records were lost (could not be written) since the last flush that reported it.
    pub fn flush(&self) -> Result<(), StoreError> {
        // Through the spool, so that it also covers the decisions the spool still holds.
        let Some(spool) = &self.spool_sender else {
            return self.send_and_wait(Message::Flush);
        };
        let (reply, answer) = mpsc::sync_channel(1);
        spool
            .send(Message::Flush(writer::Reply::Blocking(reply)))
            .map_err(|_| StoreError::writer_stopped())?;
        answer.recv().map_err(|_| StoreError::writer_stopped())?
    }

    /// Stores an outcome, synchronously. Errors: `invalid_outcome` (bad field, an `action_id`
    /// that is not one of the decision's actions, or a time outside the decision's window: from
    /// 5 minutes before it — clocks differ — to 366 days after), `unknown_decision` when no
    /// decision with that id was logged or queued before this call, `store_io`. An outcome is
    /// counted once per (decision, type, action): a repeat is acknowledged and not stored again.
    pub fn record_outcome(&self, outcome: OutcomeRecord) -> Result<(), StoreError> {
        outcome.validate()?;
        self.send_and_wait(|reply| Message::Outcome(Box::new(outcome), reply))
    }

    /// Appends journey events to their customers' profiles, synchronously; each profile then
    /// keeps only its latest [`StoreConfig::max_events_per_customer`] events. The batch is
    /// validated first (`invalid_event` names the first bad event) and written all or nothing.
    pub fn append_events(&self, events: &[Event]) -> Result<(), StoreError> {
        for (index, event) in events.iter().enumerate() {
            types::validate_event(index, event)?;
        }
        if events.is_empty() {
            return Ok(());
        }
        let events = events.to_vec();
        self.send_and_wait(|reply| Message::Events(events, reply))
    }

    /// Applies a change to the stored experiments and waits for its commit. Errors:
    /// `unknown_experiment`, `experiment_conflict` (the experiment's state refuses it: see
    /// [`ExperimentChange`]), `invalid_field`, `store_io`.
    pub fn change_experiment(&self, change: ExperimentChange) -> Result<(), StoreError> {
        self.send_and_wait(|reply| Message::Experiment(Box::new(change), reply))
    }

    /// Every stored experiment, oldest first.
    pub fn experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        self.readers.experiments()
    }

    /// One experiment; `unknown_experiment` if none has this id.
    pub fn experiment(&self, id: &str) -> Result<Experiment, StoreError> {
        self.readers.experiment(id)?.ok_or_else(|| {
            StoreError::Experiment(crate::experiment::ExperimentError::Unknown {
                id: id.to_string(),
            })
        })
    }

    /// The experiment's arm totals (sufficient statistics, in its arm order) and its units per
    /// day and arm, from the committed log (call [`Store::flush`] first to include what is
    /// queued).
    pub fn experiment_totals(
        &self,
        experiment: &Experiment,
    ) -> Result<(Vec<ArmTotals>, Vec<DailyArm>), StoreError> {
        self.readers.experiment_totals(experiment)
    }

    /// The logged decision with this id, if any. A decision still queued is flushed first, so
    /// whatever `record_decision` accepted before this call is found.
    pub fn decision(&self, decision_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        if let Some(found) = self.readers.decision(decision_id)? {
            return Ok(Some(found));
        }
        self.flush()?;
        self.readers.decision(decision_id)
    }

    /// The customer's latest `limit` committed decisions, newest first (call [`flush`] first
    /// to include queued ones).
    ///
    /// [`flush`]: Store::flush
    pub fn decisions_for(
        &self,
        customer_id: &str,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StoreError> {
        self.readers.decisions_for(customer_id, limit)
    }

    /// The outcomes recorded against a decision, in the order they happened.
    pub fn outcomes_for(&self, decision_id: &str) -> Result<Vec<OutcomeRecord>, StoreError> {
        self.readers.outcomes_for(decision_id)
    }

    /// The ids of every committed decision, oldest first: the decision log read whole (with
    /// [`Store::decision`] and [`Store::outcomes_for`]) for off-policy evaluation.
    pub fn decision_ids(&self) -> Result<Vec<String>, StoreError> {
        self.readers.decision_ids()
    }

    /// The customer's kept journey events, oldest first (equal times in arrival order); empty
    /// for an unknown customer. Served from memory when the profile is cached (no SQL and no
    /// copy: the profile is shared), loaded and cached otherwise.
    pub fn history(&self, customer_id: &str) -> Result<Profile, StoreError> {
        let counters = &self.shared.counters;
        let epoch = match self.shared.cache.get(customer_id) {
            Ok(profile) => {
                counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(profile);
            }
            Err(epoch) => epoch,
        };
        counters.cache_misses.fetch_add(1, Ordering::Relaxed);
        let mut epoch = epoch;
        // A commit of this customer's events that ends during the load may or may not be in
        // what was read: load again (rarely more than once).
        let mut attempt = 1;
        loop {
            let profile = Arc::new(self.readers.history(customer_id)?);
            match self
                .shared
                .cache
                .admit(customer_id, profile, epoch, attempt >= HISTORY_LOADS)
            {
                Ok(profile) => return Ok(profile),
                Err(now) => {
                    epoch = now;
                    attempt += 1;
                }
            }
        }
    }

    /// The customer's profile if it is in memory, without touching SQLite (`None` otherwise:
    /// call [`Store::history`], which may read the database, off any async worker).
    pub fn cached_history(&self, customer_id: &str) -> Option<Profile> {
        let profile = self.shared.cache.get(customer_id).ok()?;
        self.shared
            .counters
            .cache_hits
            .fetch_add(1, Ordering::Relaxed);
        Some(profile)
    }

    /// Row counts of the database (full counts: for tests and administration).
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.readers.counts()
    }

    /// The decision pipeline's counters since the store was opened.
    pub fn stats(&self) -> StoreStats {
        let c = &self.shared.counters;
        let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        let accepted = load(&c.accepted);
        let written = load(&c.written);
        let duplicate = load(&c.duplicate);
        let lost = load(&c.lost);
        let failed = load(&c.failed);
        StoreStats {
            decisions_accepted: accepted,
            decisions_written: written,
            decisions_duplicate: duplicate,
            decisions_lost: lost,
            decisions_rejected_overloaded: load(&c.rejected),
            batches_committed: load(&c.batches),
            decisions_failed: failed,
            queue_depth: accepted.saturating_sub(written + duplicate + lost + failed),
            queue_capacity: self.capacity as u64,
            profile_cache_hits: load(&c.cache_hits),
            profile_cache_misses: load(&c.cache_misses),
            profiles_cached: self.shared.cache.len() as u64,
        }
    }

    /// Drains the queue, stops the writer and reports whether everything was written: the
    /// graceful shutdown. (Dropping the store drains and stops too, without the report.)
    pub fn close(mut self) -> Result<(), StoreError> {
        let flushed = self.flush();
        self.shutdown();
        flushed
    }

    fn shutdown(&mut self) {
        // The spool thread forwards what it holds, and holds a sender of the writer's queue.
        self.spool_sender = None;
        if let Some(spool) = self.spool.take() {
            let _ = spool.join();
        }
        // Closing the queue ends the writer once it has written what is queued.
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            // A writer that panicked has nothing left to report; its counters say what was lost.
            let _ = writer.join();
        }
    }
}

/// Commits the decisions a crashed run left in spool files (those already in the log are
/// skipped by id), deletes the files, and returns the number the next spool file takes.
fn replay_spool(
    path: &Path,
    sender: &SyncSender<Message>,
    shared: &Shared,
) -> Result<u64, StoreError> {
    let mut found = spool::leftovers(path)?;
    if found.torn_bytes > 0 {
        tracing::warn!(
            torn_bytes = found.torn_bytes,
            "a spool file ends in a record cut short (a write the crash interrupted, never answered)"
        );
    }
    // A record the log would refuse would fail the replay, and so every start: it is skipped.
    found.decisions.retain(|(decision, events)| {
        let valid = decision.validate().and_then(|()| {
            events
                .iter()
                .enumerate()
                .try_for_each(|(i, e)| types::validate_event(i, e))
        });
        if let Err(e) = &valid {
            tracing::warn!(decision = %decision.decision_id, error = %e,
                "a spooled decision is not valid and is not replayed");
        }
        valid.is_ok()
    });
    if !found.decisions.is_empty() {
        let count = found.decisions.len();
        shared
            .counters
            .accepted
            .fetch_add(count as u64, Ordering::Relaxed);
        for (decision, events) in found.decisions {
            sender
                .send(Message::Decision(Box::new(decision), events, None, false))
                .map_err(|_| StoreError::writer_stopped())?;
        }
        let (reply, answer) = mpsc::sync_channel(1);
        sender
            .send(Message::Flush(writer::Reply::Blocking(reply)))
            .map_err(|_| StoreError::writer_stopped())?;
        answer.recv().map_err(|_| StoreError::writer_stopped())??;
        tracing::info!(
            decisions = count,
            "decisions spooled before a crash were committed to the log"
        );
    }
    for file in &found.files {
        std::fs::remove_file(file)
            .map_err(|e| StoreError::io(format!("deleting the spool {}", file.display()), e))?;
    }
    Ok(found.next_number)
}

/// Who waits for a logged decision's commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiter {
    /// Nobody: the decision is done once queued (a crash loses what is still queued).
    Nobody,
    /// A thread that may block (a blocking pool, a CLI).
    Thread,
    /// An async task, which must not block its worker.
    Task,
}

/// A decision queued for the log, and the way to learn that it was committed.
#[must_use = "a decision is durable only once its commit is awaited"]
pub struct PendingCommit(Pending);

enum Pending {
    Queued,
    Thread(mpsc::Receiver<writer::Verdict>),
    Task(tokio::sync::oneshot::Receiver<writer::Verdict>),
}

impl PendingCommit {
    /// Nothing to wait for (the decision was not logged, or counts as done once queued).
    pub fn none() -> Self {
        PendingCommit(Pending::Queued)
    }

    /// Blocks until the writer has committed the decision (at once with `Waiter::Nobody`).
    /// For `Waiter::Thread`; never call it on an async worker.
    pub fn wait(self) -> Result<(), StoreError> {
        match self.0 {
            Pending::Queued => Ok(()),
            Pending::Thread(answer) => answer.recv().map_err(|_| StoreError::writer_stopped())?,
            Pending::Task(answer) => answer
                .blocking_recv()
                .map_err(|_| StoreError::writer_stopped())?,
        }
    }

    /// Resolves once the writer has committed the decision, without blocking the task's
    /// thread. For `Waiter::Task`.
    pub async fn committed(self) -> Result<(), StoreError> {
        match self.0 {
            Pending::Queued => Ok(()),
            Pending::Task(answer) => answer.await.map_err(|_| StoreError::writer_stopped())?,
            Pending::Thread(answer) => answer.recv().map_err(|_| StoreError::writer_stopped())?,
        }
    }
}

impl std::fmt::Debug for PendingCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0 {
            Pending::Queued => "queued",
            Pending::Thread(_) => "awaited by a thread",
            Pending::Task(_) => "awaited by a task",
        };
        f.debug_tuple("PendingCommit").field(&state).finish()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<Arc<Store>>();
    }
}
