//! The decision spool: where a decision logged on SQLite becomes durable before its row is
//! committed.
//!
//! A commit of the SQLite log writes every B-tree page the decision touched (a dozen 4 KiB
//! frames) to the WAL, and every thousand frames the writer stops to checkpoint, syncing files
//! for tens of milliseconds. Answering each decision only after such a commit made the
//! committed answer's tail several times the queued one's at 5,000 decisions/s. The spool
//! thread instead appends the decisions that callers wait on to a plain file — one `write`
//! of a few hundred bytes each, into the page cache like a WAL commit, so a process crash
//! (`kill -9`, out of memory) keeps it — hands them to the writer, and only then answers.
//! The writer commits them in large batches as for queued decisions. When the store opens,
//! whatever a crash left in spool files is committed before anything else (decisions already
//! in the log are recognised by id and skipped), and a spool file is deleted once everything
//! in it is committed.
//!
//! The record format is in [`record`]. A decision with a repeated id (the service makes fresh
//! ids; a library caller might not) is spooled and answered like any other: the writer skips
//! its row, and drops the customer's cached profile, into which the spool merged the repeat's
//! exposures, so that the next read loads it from the log.

mod record;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

use self::record::{decode, encode, Spooled};
use super::writer::{Message, Reply, Shared, Verdict};
use super::StoreError;
use crate::journey::Event;

/// A spool file is retired (and deleted once committed) after this many bytes.
const ROTATE_BYTES: u64 = 8 * 1024 * 1024;

/// At most this many messages are spooled by one `write`.
const BATCH_MAX: usize = 1_024;

/// The spool files of the database at `database`, oldest first: `<database>-spool.<n>`.
fn spool_files(database: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let Some(name) = database.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{name}-spool.");
    let dir = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| StoreError::io(format!("listing {}", dir.display()), e))?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(number) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        files.push((number, entry.path()));
    }
    files.sort_unstable();
    Ok(files)
}

/// What the spool files of a database held when it was opened.
pub(crate) struct Leftovers {
    /// The files, to delete once their decisions are committed.
    pub files: Vec<PathBuf>,
    /// Their decisions with their exposure events, in the order they were spooled.
    pub decisions: Vec<Spooled>,
    /// Bytes after a file's last whole record (a write cut short by a crash).
    pub torn_bytes: usize,
    /// The next file number to use.
    pub next_number: u64,
}

/// Reads the spool files a previous run of the service left beside `database`.
pub(crate) fn leftovers(database: &Path) -> Result<Leftovers, StoreError> {
    let mut found = Leftovers {
        files: Vec::new(),
        decisions: Vec::new(),
        torn_bytes: 0,
        next_number: 0,
    };
    for (number, path) in spool_files(database)? {
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| StoreError::io(format!("reading the spool {}", path.display()), e))?;
        let (records, used) = decode(&bytes);
        found.torn_bytes += bytes.len() - used;
        found.decisions.extend(records);
        found.files.push(path);
        found.next_number = found.next_number.max(number + 1);
    }
    Ok(found)
}

/// The spool thread's state: the file being appended to, and retired files waiting for the
/// writer to commit what they hold.
struct Spooler {
    database: PathBuf,
    number: u64,
    file: File,
    path: PathBuf,
    bytes: u64,
    /// Spooled decisions whose commit had failed when the current file was started.
    failures_at_start: u64,
    /// Files no longer appended to, the verdict of a flush queued behind their last decision,
    /// and `failures_at_start` of each.
    retired: Vec<(PathBuf, Receiver<Verdict>, u64)>,
    writer: SyncSender<Message>,
    /// Where answered decisions' exposures go before their commit, so that the next decision
    /// for the customer (contact caps, recency) sees them as it would after the commit.
    shared: Arc<Shared>,
}

/// Starts the spool thread. Decisions with a waiter (and flushes) are sent to the returned
/// queue's receiver; the thread forwards everything to `writer` in order.
pub(crate) fn spawn(
    database: &Path,
    first_number: u64,
    queue: Receiver<Message>,
    writer: SyncSender<Message>,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>, StoreError> {
    let (path, file) = create(database, first_number)?;
    let mut spooler = Spooler {
        database: database.to_path_buf(),
        number: first_number,
        file,
        path,
        bytes: 0,
        failures_at_start: shared.counters.spooled_failed.load(Ordering::Relaxed),
        retired: Vec::new(),
        writer,
        shared,
    };
    std::thread::Builder::new()
        .name("nextbest-store-spool".into())
        .spawn(move || {
            spooler.run(&queue);
            spooler.finish();
        })
        .map_err(|e| StoreError::io("starting the spool thread", e))
}

fn create(database: &Path, number: u64) -> Result<(PathBuf, File), StoreError> {
    let mut path = database.as_os_str().to_owned();
    path.push(format!("-spool.{number}"));
    let path = PathBuf::from(path);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| StoreError::io(format!("creating the spool {}", path.display()), e))?;
    Ok((path, file))
}

impl Spooler {
    fn run(&mut self, queue: &Receiver<Message>) {
        let mut batch = Vec::with_capacity(BATCH_MAX);
        let mut buffer = Vec::new();
        while let Ok(first) = queue.recv() {
            batch.push(first);
            while batch.len() < BATCH_MAX {
                match queue.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            if !self.spool(&mut batch, &mut buffer) {
                return;
            }
            self.collect_retired();
        }
    }

    /// Appends the batch's decisions in one write, forwards the batch to the writer, then
    /// answers the spooled decisions. `false` once the writer has stopped.
    fn spool(&mut self, batch: &mut Vec<Message>, buffer: &mut Vec<u8>) -> bool {
        buffer.clear();
        let mut encoded = true;
        for message in batch.iter() {
            if let Message::Decision(record, events, Some(_), _) = message {
                if let Err(e) = encode(buffer, record, events) {
                    tracing::warn!(error = %e, "a decision could not be spooled");
                    encoded = false;
                }
            }
        }
        // If the spool cannot be written, the decisions keep their waiters and are answered
        // by the writer after their commit, as without a spool.
        let spooled = encoded && !buffer.is_empty() && self.write(buffer);
        let mut answers = Vec::new();
        for message in batch.drain(..) {
            let message = match message {
                Message::Decision(record, events, Some(reply), _) if spooled => {
                    answers.push(reply);
                    self.cache(&events);
                    Message::Decision(record, events, None, true)
                }
                other => other,
            };
            if self.writer.send(message).is_err() {
                for reply in answers {
                    reply.send(Err(StoreError::writer_stopped()));
                }
                return false;
            }
        }
        for reply in answers {
            reply.send(Ok(()));
        }
        // Only now: the flush that retires the file must queue behind its last decisions.
        if self.bytes >= ROTATE_BYTES {
            self.rotate();
        }
        true
    }

    /// Hands a spooled decision's exposures to the profile cache as pending, per customer, so
    /// that the next decision for the customer sees them before their commit.
    fn cache(&self, events: &[Event]) {
        for run in events.chunk_by(|a, b| a.customer_id == b.customer_id) {
            self.shared.cache.add_spooled(&run[0].customer_id, run);
        }
    }

    fn write(&mut self, buffer: &[u8]) -> bool {
        if let Err(e) = self.file.write_all(buffer) {
            tracing::warn!(spool = %self.path.display(), error = %e,
                "writing the decision spool failed; answering after the commit instead");
            // A partial record would end the file's replay there and hide every record after
            // it: cut it off, or if that fails too, go on in a new file.
            if self.file.set_len(self.bytes).is_err() {
                self.rotate();
            }
            return false;
        }
        self.bytes += buffer.len() as u64;
        true
    }

    /// Whether spooled decisions failed to commit since `failures_at_start`: a file whose
    /// decisions may be among them is kept for the replay at the next start.
    fn failed_since(&self, failures_at_start: u64) -> bool {
        self.shared.counters.spooled_failed.load(Ordering::Relaxed) != failures_at_start
    }

    /// Starts a new file; the old one is deleted once a flush queued behind its last decision
    /// says they are all committed.
    fn rotate(&mut self) {
        let (done, verdict) = mpsc::sync_channel(1);
        if self
            .writer
            .send(Message::Flush(Reply::Blocking(done)))
            .is_err()
        {
            return;
        }
        match create(&self.database, self.number + 1) {
            Ok((path, file)) => {
                let old = std::mem::replace(&mut self.path, path);
                self.file = file;
                self.number += 1;
                self.bytes = 0;
                let started = std::mem::replace(
                    &mut self.failures_at_start,
                    self.shared.counters.spooled_failed.load(Ordering::Relaxed),
                );
                self.retired.push((old, verdict, started));
            }
            Err(e) => tracing::warn!(error = %e, "starting a new spool file failed"),
        }
    }

    /// Deletes retired files whose decisions are committed. A file some of whose decisions
    /// may not be is kept, to be replayed when the store next opens.
    fn collect_retired(&mut self) {
        let mut retired = std::mem::take(&mut self.retired);
        retired.retain(|(path, verdict, started)| match verdict.try_recv() {
            Ok(Ok(())) if !self.failed_since(*started) => {
                remove(path);
                false
            }
            Ok(_) | Err(TryRecvError::Disconnected) => {
                keep(path);
                false
            }
            Err(TryRecvError::Empty) => true,
        });
        self.retired = retired;
    }

    /// At shutdown: once everything is committed, no spool file is needed.
    fn finish(mut self) {
        let (done, verdict) = mpsc::sync_channel(1);
        let committed = self
            .writer
            .send(Message::Flush(Reply::Blocking(done)))
            .is_ok()
            && matches!(verdict.recv(), Ok(Ok(())));
        self.collect_retired();
        for (path, _, started) in std::mem::take(&mut self.retired) {
            if committed && !self.failed_since(started) {
                remove(&path);
            } else {
                keep(&path);
            }
        }
        if committed && !self.failed_since(self.failures_at_start) {
            remove(&self.path);
        } else {
            keep(&self.path);
        }
    }
}

fn keep(path: &Path) {
    tracing::warn!(spool = %path.display(),
        "decisions of a spool file were not all committed; it is kept for the next start");
}

fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(spool = %path.display(), error = %e, "deleting a spool file failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::record::HEADER_BYTES;
    use super::*;
    use crate::journey::Timestamp;
    use crate::store::types::DecisionRecord;
    use crate::store::StoreConfig;

    fn decision(id: &str) -> DecisionRecord {
        DecisionRecord {
            decision_id: id.into(),
            customer_id: "C1".into(),
            policy: "default".into(),
            experiment: None,
            actions: Vec::new(),
            model_versions: Default::default(),
            context: serde_json::json!({"channel": "web"}),
            created: Timestamp(1_700_000_000_000_000),
            latency_us: 120,
            dry_run: false,
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_ends_the_replay() {
        let mut bytes = Vec::new();
        encode(&mut bytes, &decision("d1"), &[]).unwrap();
        encode(&mut bytes, &decision("d2"), &[]).unwrap();
        let whole = bytes.len();
        encode(&mut bytes, &decision("d3"), &[]).unwrap();
        bytes.truncate(bytes.len() - 5);
        let (records, used) = decode(&bytes);
        let ids: Vec<_> = records
            .iter()
            .map(|(decision, _)| decision.decision_id.as_str())
            .collect();
        assert_eq!(ids, ["d1", "d2"]);
        assert_eq!(used, whole);
    }

    #[test]
    fn a_damaged_record_is_not_replayed() {
        let mut bytes = Vec::new();
        encode(&mut bytes, &decision("d1"), &[]).unwrap();
        let first = bytes.len();
        encode(&mut bytes, &decision("d2"), &[]).unwrap();
        bytes[first + HEADER_BYTES + 3] ^= 0x20;
        let (records, used) = decode(&bytes);
        assert_eq!(records.len(), 1);
        assert_eq!(used, first);
    }

    /// The flush that retires a full file queues behind the decisions that filled it, so the
    /// file is deleted only once they are committed.
    #[test]
    fn a_full_file_is_retired_behind_its_last_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("log.db");
        let (writer, writer_queue) = mpsc::sync_channel(16);
        let (spool, spool_queue) = mpsc::sync_channel(16);
        let shared = Shared::new(&StoreConfig::default(), None);
        let _thread = spawn(&db, 0, spool_queue, writer, shared).unwrap();
        let mut big = decision("big");
        big.context = serde_json::json!({"pad": "x".repeat(ROTATE_BYTES as usize + 1)});
        let (reply, answer) = mpsc::sync_channel(1);
        spool
            .send(Message::Decision(
                Box::new(big),
                Vec::new(),
                Some(Reply::Blocking(reply)),
                false,
            ))
            .unwrap();
        assert!(matches!(
            writer_queue.recv().unwrap(),
            Message::Decision(_, _, None, true)
        ));
        answer.recv().unwrap().unwrap();
        assert!(matches!(writer_queue.recv().unwrap(), Message::Flush(_)));
    }

    #[test]
    fn leftover_files_are_found_in_order_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("log.db");
        for (number, id) in [(3, "d3"), (1, "d1")] {
            let mut bytes = Vec::new();
            encode(&mut bytes, &decision(id), &[]).unwrap();
            std::fs::write(dir.path().join(format!("log.db-spool.{number}")), bytes).unwrap();
        }
        std::fs::write(dir.path().join("other.db-spool.2"), b"not ours").unwrap();
        let found = leftovers(&db).unwrap();
        let ids: Vec<_> = found
            .decisions
            .iter()
            .map(|(d, _)| d.decision_id.as_str())
            .collect();
        assert_eq!(ids, ["d1", "d3"]);
        assert_eq!(found.next_number, 4);
        assert_eq!(found.files.len(), 2);
    }

    #[test]
    fn a_crashed_runs_spool_is_committed_when_the_store_opens_and_then_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("log.db");
        // A decision already committed before the crash, and one only spooled.
        let store = crate::store::Store::open(db.as_path()).unwrap();
        store.record_decision(decision("committed")).unwrap();
        store.close().unwrap();
        let mut bytes = Vec::new();
        encode(&mut bytes, &decision("committed"), &[]).unwrap();
        encode(&mut bytes, &decision("spooled"), &[]).unwrap();
        bytes.extend_from_slice(&[7, 0, 0]); // a write cut short
        let leftover = dir.path().join("log.db-spool.4");
        std::fs::write(&leftover, bytes).unwrap();

        let spooling = StoreConfig {
            spool_decisions: true,
            ..StoreConfig::default()
        };
        let store = crate::store::Store::open_with(db.as_path(), &spooling).unwrap();
        assert!(store.decision("spooled").unwrap().is_some());
        let stats = store.stats();
        assert_eq!(stats.decisions_written, 1, "{stats:?}");
        assert_eq!(stats.decisions_duplicate, 1, "{stats:?}");
        assert!(!leftover.exists());
        // Decisions answered from now on go to a new file, numbered after the leftover.
        let pending = store
            .log_decision(decision("waited"), Vec::new(), crate::store::Waiter::Thread)
            .unwrap();
        pending.wait().unwrap();
        assert!(dir.path().join("log.db-spool.5").exists());
        store.close().unwrap();
        assert!(
            !dir.path().join("log.db-spool.5").exists(),
            "a clean close leaves no spool"
        );
        let store = crate::store::Store::open(db.as_path()).unwrap();
        assert!(store.decision("waited").unwrap().is_some());
    }
}
