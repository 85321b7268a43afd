//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: copying the
//! WAL's pages into the database file and syncing both happens before that commit returns, so
//! every decision waiting for that commit (and every one queued behind it) waits for the copy
//! too. A checkpointer thread with its own connection does the copying instead, concurrently
//! with the writer (a `PASSIVE` checkpoint never blocks it), and now and then a short `RESTART`
//! checkpoint — only the few frames written since the last pass remain — lets the next commit
//! start the WAL from its beginning again, so the file stops growing.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::{StoreConfig, StoreError};

/// How often the checkpointer copies what the writer has committed.
const PASS_INTERVAL: Duration = Duration::from_millis(50);

/// WAL frames (pages) after which the checkpointer restarts the WAL. A restart blocks the
/// writer for the last pass's remainder (and at least one busy-handler sleep of 1 ms), so it
/// should be rare: at 5,000 logged decisions/s this is a few times a minute. 16,384 frames of
/// 4 KiB are 64 MiB, the journal size limit the writer sets.
const RESTART_FRAMES: i64 = 16_384;

/// How long a `RESTART` checkpoint waits for the writer's lock and for readers to leave the
/// WAL before it gives up until the next pass.
pub(super) const RESTART_PATIENCE: Duration = Duration::from_millis(5);

/// The writer's own automatic checkpoint, as a safety net in case the checkpointer cannot keep
/// up or has stopped: well above [`RESTART_FRAMES`], so it never runs while all is well.
pub(super) const WRITER_AUTOCHECKPOINT_FRAMES: i64 = 4 * RESTART_FRAMES;

/// The checkpointer thread; stopping it (on drop) waits for its current pass.
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens the checkpointer's connection and starts its thread.
    pub(super) fn start(path: &Path, config: &StoreConfig) -> Result<Checkpointer, StoreError> {
        let conn = super::schema::open_checkpointer(path, config)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop_seen = Arc::clone(&stop);
        let path = path.to_path_buf();
        let handle = std::thread::Builder::new()
            .name("nextbest-store-checkpoint".into())
            .spawn(move || run(&conn, &path, &stop_seen))
            .map_err(|e| StoreError::io("starting the checkpoint thread", e))?;
        Ok(Checkpointer {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        if let Ok(mut stopped) = stopped.lock() {
            *stopped = true;
        }
        wake.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Passes until told to stop. A failed pass is logged and retried on the next one: the
/// writer's safety-net checkpoint bounds the WAL meanwhile.
fn run(conn: &Connection, path: &Path, stop: &(Mutex<bool>, Condvar)) {
    crate::store::writer::yield_to_request_threads();
    let (stopped, wake) = stop;
    loop {
        {
            let Ok(guard) = stopped.lock() else { return };
            let Ok((guard, _)) = wake.wait_timeout_while(guard, PASS_INTERVAL, |s| !*s) else {
                return;
            };
            if *guard {
                return;
            }
        }
        if let Err(e) = pass(conn) {
            tracing::warn!(database = %path.display(), error = %e, "WAL checkpoint failed");
        }
    }
}

/// One pass: copy what is committed, and restart the WAL once it is long.
fn pass(conn: &Connection) -> rusqlite::Result<()> {
    let (_, wal_frames) = checkpoint(conn, "PASSIVE")?;
    if wal_frames >= RESTART_FRAMES {
        checkpoint(conn, "RESTART")?;
    }
    Ok(())
}

/// Runs one checkpoint; (busy, frames in the WAL) as SQLite reports them.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(bool, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get::<_, i64>(0)? != 0, row.get::<_, i64>(1)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkpointer_copies_commits_into_the_database_file_and_restarts_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let config = StoreConfig::default();
        let writer = super::super::schema::open_writer(&path, &config).unwrap();
        let autocheckpoint: i64 = writer
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap();
        assert_eq!(autocheckpoint, WRITER_AUTOCHECKPOINT_FRAMES);
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        let checkpointer = super::super::schema::open_checkpointer(&path, &config).unwrap();
        pass(&checkpointer).unwrap();
        // Everything committed is now in the database file: a checkpoint finds nothing to copy.
        let (busy, frames) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(!busy);
        let backfilled: i64 = checkpointer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(2))
            .unwrap();
        assert_eq!(backfilled, frames);
        // A long WAL is restarted: the next commit writes from the start of the file.
        for _ in 0..(RESTART_FRAMES / 24) {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(100000))", [])
                .unwrap();
        }
        let (_, long) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(long >= RESTART_FRAMES, "{long} frames");
        pass(&checkpointer).unwrap();
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let (_, short) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(short < 10, "{short} frames after a restart");
    }

    #[test]
    fn a_reader_in_the_wal_postpones_the_restart_without_holding_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let config = StoreConfig::default();
        let writer = super::super::schema::open_writer(&path, &config).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        for _ in 0..(RESTART_FRAMES / 24) {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(100000))", [])
                .unwrap();
        }
        // A report query in progress: its snapshot is in the WAL.
        let reader = super::super::schema::open_reader(&path, &config).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let checkpointer = super::super::schema::open_checkpointer(&path, &config).unwrap();
        pass(&checkpointer).unwrap();
        // The writer is not held back (it would fail at once rather than wait)…
        writer.busy_timeout(Duration::ZERO).unwrap();
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        // …and the WAL was not restarted under the reader.
        let (_, frames) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(frames >= RESTART_FRAMES, "{frames} frames");
        // Once the reader is done, the next pass restarts it.
        reader.execute_batch("COMMIT").unwrap();
        pass(&checkpointer).unwrap();
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let (_, frames) = checkpoint(&checkpointer, "PASSIVE").unwrap();
        assert!(frames < 10, "{frames} frames after the reader left");
    }
}
