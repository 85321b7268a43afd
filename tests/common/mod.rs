//! What several test binaries share: a store location on either backend (`TestDb`), the
//! throwaway PostgreSQL server behind it (`postgres`), and a minimal HTTP client (`http`).
//! Each binary uses part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod http;
pub mod postgres;

use std::time::Duration;

use nextbest::store::{Store, StoreConfig, StoreLocation};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on the throwaway PostgreSQL server.
    Postgres,
}

/// A store location of its own for one test, on one backend, removed when the test ends.
pub struct TestDb {
    /// The backend.
    pub backend: Backend,
    location: StoreLocation,
    dir: tempfile::TempDir,
    pg: Option<postgres::TestDatabase>,
}

impl TestDb {
    /// A new, empty location on `backend`.
    pub fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let (location, pg) = match backend {
            Backend::Sqlite => (StoreLocation::Sqlite(dir.path().join("nb.db")), None),
            Backend::Postgres => {
                let db = postgres::TestDatabase::create();
                (StoreLocation::parse(&db.url).unwrap(), Some(db))
            }
        };
        TestDb {
            backend,
            location,
            dir,
            pg,
        }
    }

    /// A SQLite file.
    pub fn sqlite() -> TestDb {
        TestDb::new(Backend::Sqlite)
    }

    /// A PostgreSQL database.
    pub fn postgres() -> TestDb {
        TestDb::new(Backend::Postgres)
    }

    /// Where the store lives.
    pub fn location(&self) -> StoreLocation {
        self.location.clone()
    }

    /// A temporary folder for the test's other files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The PostgreSQL database, if the test runs on one.
    pub fn pg(&self) -> Option<&postgres::TestDatabase> {
        self.pg.as_ref()
    }

    /// Opens the store with the default configuration.
    pub fn open(&self) -> Store {
        Store::open(&self.location).expect("open store")
    }

    /// Opens the store with `config`.
    pub fn open_with(&self, config: &StoreConfig) -> Store {
        Store::open_with(&self.location, config).expect("open store")
    }

    /// The default configuration with the profile cache on for good on either backend (on
    /// PostgreSQL it is off by default), for tests of the cache itself.
    pub fn cached(&self) -> StoreConfig {
        StoreConfig {
            profile_cache_ttl: Some(Duration::from_secs(3_600)),
            ..StoreConfig::default()
        }
    }

    /// Holds every table's write lock from another connection, as a backup tool or another
    /// process might, until dropped: the store's writer stalls meanwhile.
    pub fn lock_writes(&self) -> WriteLock {
        match &self.pg {
            None => {
                let StoreLocation::Sqlite(path) = &self.location else {
                    unreachable!()
                };
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                WriteLock::Sqlite(conn)
            }
            Some(db) => {
                let url = db.url.clone();
                let (locked, wait) = std::sync::mpsc::channel();
                let (release, released) = std::sync::mpsc::channel::<()>();
                // The connection lives on a thread of its own (never on an async runtime).
                let holder = std::thread::spawn(move || {
                    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
                    client
                        .batch_execute(
                            "BEGIN; LOCK TABLE decisions, decision_actions, outcomes, events, \
                             experiments IN EXCLUSIVE MODE",
                        )
                        .unwrap();
                    locked.send(()).unwrap();
                    let _ = released.recv();
                    let _ = client.batch_execute("ROLLBACK");
                });
                wait.recv().unwrap();
                WriteLock::Postgres(Some(release), Some(holder))
            }
        }
    }

    /// Writes another schema version into the database, as a newer nextbest would.
    pub fn set_schema_version(&self, version: i64) {
        match &self.pg {
            None => {
                let StoreLocation::Sqlite(path) = &self.location else {
                    unreachable!()
                };
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.pragma_update(None, "user_version", version).unwrap();
            }
            Some(db) => db.execute(&format!("UPDATE schema_version SET version = {version}")),
        }
    }
}

/// A write lock held from another connection (see [`TestDb::lock_writes`]).
pub enum WriteLock {
    /// SQLite's, in an open immediate transaction.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL's, held by a thread until told to let go.
    Postgres(
        Option<std::sync::mpsc::Sender<()>>,
        Option<std::thread::JoinHandle<()>>,
    ),
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        if let WriteLock::Postgres(release, holder) = self {
            drop(release.take());
            if let Some(holder) = holder.take() {
                holder.join().unwrap();
            }
        }
    }
}

/// Runs each named test body (a `fn(&TestDb)`) on both backends: `on_sqlite::name` and
/// `on_postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name(&$crate::common::TestDb::sqlite())
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                super::$name(&$crate::common::TestDb::postgres())
            })*
        }
    };
}

/// Runs each named async test body (an `async fn(&TestDb)`) on both backends, each as an
/// `#[actix_web::test]`: `on_sqlite::name` and `on_postgres::name`.
#[macro_export]
macro_rules! on_both_backends_async {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[actix_web::test]
            async fn $name() {
                super::$name(&$crate::common::TestDb::sqlite()).await
            })*
        }
        mod on_postgres {
            $(#[actix_web::test]
            async fn $name() {
                super::$name(&$crate::common::TestDb::postgres()).await
            })*
        }
    };
}
