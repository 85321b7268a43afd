//! The embedded backend: one SQLite file in WAL mode. The writer thread owns the only write
//! connection; reads use a pool of read-only connections that WAL lets read while it writes.

mod read;
mod schema;
mod write;

use std::path::Path;

use super::{StoreConfig, StoreError};
pub(crate) use read::ReadPool;
pub(crate) use write::SqliteWriter;

/// Opens (or creates) the database: the writer's connection with the schema current, and the
/// read pool.
pub(crate) fn open(
    path: &Path,
    config: &StoreConfig,
) -> Result<(SqliteWriter, ReadPool), StoreError> {
    let conn = schema::open_writer(path, config)?;
    Ok((
        SqliteWriter { conn },
        ReadPool::new(path.to_path_buf(), config.clone()),
    ))
}
