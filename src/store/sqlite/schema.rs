//! Opening SQLite connections: pragmas, and the schema created or migrated under
//! `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::store::{StoreConfig, StoreError, SCHEMA_VERSION};

/// `MIGRATIONS[v]` takes a database from version `v` to `v + 1`; version 0 is an empty file.
/// Past entries are never edited: a new schema is a new entry.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the decision log, outcomes and customer profiles.
    "
    CREATE TABLE decisions (
        decision_id    TEXT    NOT NULL PRIMARY KEY,
        customer_id    TEXT    NOT NULL,
        policy         TEXT    NOT NULL,
        experiment_id  TEXT,
        arm            TEXT,
        model_versions TEXT    NOT NULL,  -- JSON object: role -> version
        context        TEXT    NOT NULL,  -- JSON as sent
        created_us     INTEGER NOT NULL,  -- µs since the Unix epoch
        latency_us     INTEGER NOT NULL,
        dry_run        INTEGER NOT NULL
    );
    CREATE INDEX decisions_by_customer ON decisions (customer_id, created_us);
    CREATE INDEX decisions_by_experiment ON decisions (experiment_id, arm, created_us)
        WHERE experiment_id IS NOT NULL;

    -- One row per chosen action; (decision_id, rank) keys it, so no rowid is needed.
    CREATE TABLE decision_actions (
        decision_id TEXT    NOT NULL,
        rank        INTEGER NOT NULL,
        action_id   TEXT    NOT NULL,
        score       REAL    NOT NULL,
        propensity  REAL    NOT NULL,
        PRIMARY KEY (decision_id, rank)
    ) WITHOUT ROWID;

    CREATE TABLE outcomes (
        outcome_id   INTEGER PRIMARY KEY,
        decision_id  TEXT    NOT NULL,
        outcome_type TEXT    NOT NULL,
        value        REAL,
        action_id    TEXT,
        at_us        INTEGER NOT NULL,
        recorded_us  INTEGER NOT NULL
    );
    CREATE INDEX outcomes_by_decision ON outcomes (decision_id, at_us);

    -- seq orders events that share a timestamp by arrival, in SQL and in the cache alike.
    CREATE TABLE events (
        seq         INTEGER PRIMARY KEY,
        customer_id TEXT    NOT NULL,
        ts_us       INTEGER NOT NULL,
        event_type  TEXT    NOT NULL,
        channel     TEXT,
        action_id   TEXT,
        value       REAL,
        text        TEXT
    );
    CREATE INDEX events_by_customer ON events (customer_id, ts_us, seq);
    ",
    // 1 → 2: experiments (the decision log already has their columns).
    "
    CREATE TABLE experiments (
        experiment_id TEXT    NOT NULL PRIMARY KEY,
        definition    TEXT    NOT NULL,  -- JSON: the checked experiment with its state
        status        TEXT    NOT NULL,  -- draft | running | stopped
        layer         TEXT    NOT NULL,
        created_us    INTEGER NOT NULL,
        updated_us    INTEGER NOT NULL
    );
    CREATE INDEX experiments_by_layer ON experiments (layer, status);
    ",
];

fn sqlite_error(path: &Path, context: &str, error: rusqlite::Error) -> StoreError {
    // A file that is not a database is a schema problem (wrong file), not a transient one.
    if error.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
        return StoreError::Schema {
            path: path.to_path_buf(),
            problem: "not a SQLite database".into(),
        };
    }
    StoreError::io(format!("{context} ({})", path.display()), error)
}

fn apply_common_pragmas(
    conn: &Connection,
    path: &Path,
    config: &StoreConfig,
) -> Result<(), StoreError> {
    conn.busy_timeout(config.busy_timeout)
        .map_err(|e| sqlite_error(path, "setting the busy timeout", e))?;
    // NORMAL in WAL mode: a commit appends to the WAL without fsync (durable against a process
    // crash, not against power loss until the next checkpoint); this keeps commits cheap.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| sqlite_error(path, "setting synchronous=NORMAL", e))?;
    Ok(())
}

/// Opens (creating if needed) the read-write connection the writer thread owns: WAL mode,
/// and the schema brought to [`SCHEMA_VERSION`].
pub(crate) fn open_writer(path: &Path, config: &StoreConfig) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(|e| sqlite_error(path, "opening", e))?;
    apply_common_pragmas(&conn, path, config)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| sqlite_error(path, "switching to WAL mode", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::io(
            format!("switching {} to WAL mode", path.display()),
            format!("SQLite kept journal mode '{mode}' (is the file on a network file system?)"),
        ));
    }
    // The writer touches the right edge of the decision indexes and a spread of customers'
    // profiles; a 32 MiB page cache keeps those pages in memory instead of re-reading them from
    // the OS on each commit (SQLite's default is 2 MiB).
    conn.pragma_update(None, "cache_size", -32 * 1024)
        .map_err(|e| sqlite_error(path, "setting cache_size", e))?;
    // Keeps the WAL file from staying large after a burst once it has been checkpointed.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(|e| sqlite_error(path, "setting journal_size_limit", e))?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens a read-only-by-pragma connection for queries; WAL lets it read while the writer writes.
pub(crate) fn open_reader(path: &Path, config: &StoreConfig) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| sqlite_error(path, "opening a read connection", e))?;
    apply_common_pragmas(&conn, path, config)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(|e| sqlite_error(path, "setting query_only", e))?;
    Ok(conn)
}

fn user_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| sqlite_error(path, "reading the schema version", e))
}

fn too_new(path: &Path, version: i64) -> StoreError {
    StoreError::Schema {
        path: path.to_path_buf(),
        problem: format!(
            "schema version {version} is newer than this build of nextbest understands \
             (up to {SCHEMA_VERSION}); use a newer nextbest or another database file"
        ),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one immediate transaction, so that two processes
/// opening a new file at once cannot both create it; refuses versions from the future.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version = user_version(conn, path)?;
    if version > SCHEMA_VERSION {
        return Err(too_new(path, version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sqlite_error(path, "starting the schema migration", e))?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let version = user_version(&tx, path)?;
    if version > SCHEMA_VERSION {
        return Err(too_new(path, version));
    }
    if version < 0 {
        return Err(StoreError::Schema {
            path: path.to_path_buf(),
            problem: format!("schema version {version} is not one nextbest writes"),
        });
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(|e| {
            sqlite_error(
                path,
                &format!("migrating the schema from version {from}"),
                e,
            )
        })?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(|e| sqlite_error(path, "writing the schema version", e))?;
    tx.commit()
        .map_err(|e| sqlite_error(path, "committing the schema migration", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_reach_the_current_version() {
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = open_writer(&path, &StoreConfig::default()).unwrap();
        assert_eq!(user_version(&conn, &path).unwrap(), SCHEMA_VERSION);
        drop(conn);
        // Reopening a current file is a no-op.
        let conn = open_writer(&path, &StoreConfig::default()).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_schema_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = open_writer(&path, &StoreConfig::default()).unwrap_err();
        assert_eq!(err.code(), "store_schema", "{err}");
    }
}
