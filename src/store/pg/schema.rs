//! The PostgreSQL schema: the same tables and columns as SQLite's (BIGINT for µs and counts,
//! DOUBLE PRECISION for reals, SMALLINT 0/1 for `dry_run`, identity columns where SQLite has
//! an integer primary key or an implicit rowid), created or migrated under a `schema_version`
//! table in one transaction that holds an advisory lock, so that replicas starting together
//! cannot both migrate.

use std::path::Path;

use ::postgres::Client;

use super::describe;
use crate::store::{StoreError, SCHEMA_VERSION};

/// `MIGRATIONS[v]` takes a database from version `v` to `v + 1`, like SQLite's. Past entries
/// are never edited: a new schema is a new entry, on both backends.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the decision log, outcomes and customer profiles.
    "
    CREATE TABLE decisions (
        decision_id    TEXT     NOT NULL PRIMARY KEY,
        customer_id    TEXT     NOT NULL,
        policy         TEXT     NOT NULL,
        experiment_id  TEXT,
        arm            TEXT,
        model_versions TEXT     NOT NULL,  -- JSON object: role -> version
        context        TEXT     NOT NULL,  -- JSON as sent
        created_us     BIGINT   NOT NULL,  -- µs since the Unix epoch
        latency_us     BIGINT   NOT NULL,
        dry_run        SMALLINT NOT NULL,
        -- Arrival order, as SQLite's implicit rowid: ties of created_us, newest first.
        seq            BIGINT   GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX decisions_by_customer ON decisions (customer_id, created_us);
    CREATE INDEX decisions_by_experiment ON decisions (experiment_id, arm, created_us)
        WHERE experiment_id IS NOT NULL;

    CREATE TABLE decision_actions (
        decision_id TEXT             NOT NULL,
        rank        BIGINT           NOT NULL,
        action_id   TEXT             NOT NULL,
        score       DOUBLE PRECISION NOT NULL,
        propensity  DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (decision_id, rank)
    );

    CREATE TABLE outcomes (
        outcome_id   BIGINT           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        decision_id  TEXT             NOT NULL,
        outcome_type TEXT             NOT NULL,
        value        DOUBLE PRECISION,
        action_id    TEXT,
        at_us        BIGINT           NOT NULL,
        recorded_us  BIGINT           NOT NULL
    );
    CREATE INDEX outcomes_by_decision ON outcomes (decision_id, at_us);
    -- Counted once per (decision, type, action) even when two replicas store it at once (an
    -- action id is never empty, so '' stands for none).
    CREATE UNIQUE INDEX outcomes_once ON outcomes (decision_id, outcome_type, (COALESCE(action_id, '')));

    -- seq orders events that share a timestamp by arrival, in SQL and in the cache alike.
    CREATE TABLE events (
        seq         BIGINT           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        customer_id TEXT             NOT NULL,
        ts_us       BIGINT           NOT NULL,
        event_type  TEXT             NOT NULL,
        channel     TEXT,
        action_id   TEXT,
        value       DOUBLE PRECISION,
        text        TEXT
    );
    CREATE INDEX events_by_customer ON events (customer_id, ts_us, seq);
    ",
    // 1 → 2: experiments (the decision log already has their columns).
    "
    CREATE TABLE experiments (
        experiment_id TEXT   NOT NULL PRIMARY KEY,
        definition    TEXT   NOT NULL,  -- JSON: the checked experiment with its state
        status        TEXT   NOT NULL,  -- draft | running | stopped
        layer         TEXT   NOT NULL,
        created_us    BIGINT NOT NULL,
        updated_us    BIGINT NOT NULL
    );
    CREATE INDEX experiments_by_layer ON experiments (layer, status);
    ",
];

/// The advisory lock that serialises migrations (any constant: "nextbest" in ASCII).
const MIGRATION_LOCK: i64 = 0x6e65_7874_6265_7374;

fn io(shown: &Path, context: &str, e: &::postgres::Error) -> StoreError {
    StoreError::io(format!("{context} ({})", shown.display()), describe(e))
}

fn too_new(shown: &Path, version: i64) -> StoreError {
    StoreError::Schema {
        path: shown.to_path_buf(),
        problem: format!(
            "schema version {version} is newer than this build of nextbest understands \
             (up to {SCHEMA_VERSION}); use a newer nextbest or another database"
        ),
    }
}

/// Brings the schema to [`SCHEMA_VERSION`]: in one transaction, under an advisory lock that a
/// second replica waits for (and then finds the schema current); refuses versions from the
/// future.
pub(super) fn migrate(client: &mut Client, shown: &Path) -> Result<(), StoreError> {
    let mut tx = client
        .transaction()
        .map_err(|e| io(shown, "starting the schema migration", &e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| io(shown, "locking the schema for migration", &e))?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .and_then(|row| row.try_get(0))
        .map_err(|e| io(shown, "reading the schema version", &e))?;
    let version: i64 = if exists {
        tx.query_opt("SELECT version FROM schema_version", &[])
            .and_then(|row| row.map(|r| r.try_get(0)).transpose())
            .map_err(|e| io(shown, "reading the schema version", &e))?
            .unwrap_or(0)
    } else {
        tx.batch_execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
            .map_err(|e| io(shown, "creating the schema_version table", &e))?;
        0
    };
    if version > SCHEMA_VERSION {
        return Err(too_new(shown, version));
    }
    if version < 0 {
        return Err(StoreError::Schema {
            path: shown.to_path_buf(),
            problem: format!("schema version {version} is not one nextbest writes"),
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql).map_err(|e| {
            io(
                shown,
                &format!("migrating the schema from version {from}"),
                &e,
            )
        })?;
    }
    tx.batch_execute("DELETE FROM schema_version")
        .and_then(|()| {
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
        })
        .map_err(|e| io(shown, "writing the schema version", &e))?;
    tx.commit()
        .map_err(|e| io(shown, "committing the schema migration", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_migration_per_version_as_on_sqlite() {
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
    }
}
