//! The shared backend: one PostgreSQL database that several `nextbest serve` replicas use at
//! once.
//!
//! # Threads
//! The `postgres` client is synchronous on the outside and runs a small tokio runtime of its
//! own inside, which panics when it is entered from a thread that is already running an async
//! runtime (an actix worker, an `#[actix_web::test]`). So the store never calls it from the
//! caller's thread: the writer thread owns the write connection (it connects and migrates
//! there), and reads are handed to a few reader threads, each with its own connection, and
//! answered over a channel. Callers block exactly as they do on SQLite, on a channel instead of
//! a file lock, and may do so from anywhere.
//!
//! # Connections
//! `1 + READERS` per store (per replica). Each is opened on first use and opened again after
//! the server closed it; statements are prepared once per connection. No TLS: connect over a
//! Unix socket, loopback or a private network.

mod read;
mod schema;
mod write;

use std::collections::HashMap;
use std::error::Error as _;
use std::path::PathBuf;
use std::time::Duration;

use ::postgres::{Client, Config, GenericClient, NoTls, Statement};

use super::backend::DbError;
use super::{StoreConfig, StoreError};
pub(crate) use read::Readers;
pub(crate) use write::open_writer;

/// Reader threads (and read connections) per store.
const READERS: usize = 4;

/// How long opening a connection may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A database to connect to, and how.
#[derive(Clone)]
pub(crate) struct Target {
    config: Config,
    /// The URL without password, for messages.
    shown: PathBuf,
    /// The writer's `lock_timeout`.
    lock_timeout: Duration,
}

impl Target {
    /// The connection settings of a `postgres://` URL.
    pub(crate) fn new(url: &str, store: &StoreConfig) -> Result<Target, StoreError> {
        let shown = super::StoreLocation::Postgres(url.to_string()).shown_path();
        let mut config: Config = url.parse().map_err(|e| {
            StoreError::io(format!("reading the URL {}", shown.display()), describe(&e))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("nextbest");
        }
        Ok(Target {
            config,
            shown,
            lock_timeout: store.busy_timeout,
        })
    }

    fn connect(&self) -> Result<Client, StoreError> {
        self.config.connect(NoTls).map_err(|e| {
            StoreError::io(
                format!("connecting to {}", self.shown.display()),
                describe(&e),
            )
        })
    }
}

/// The error with its cause: `postgres::Error` shows only its kind ("db error") by itself.
fn describe(e: &::postgres::Error) -> String {
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

impl From<::postgres::Error> for DbError {
    fn from(e: ::postgres::Error) -> Self {
        // Data exceptions (22…), integrity violations (23…) and limits (54…) are the record's
        // own: retrying the same batch cannot help.
        let record_specific = e.code().is_some_and(|state| {
            let code = state.code();
            code.starts_with("22") || code.starts_with("23") || code.starts_with("54")
        });
        DbError {
            message: describe(&e),
            record_specific,
        }
    }
}

/// One connection, opened on first use and again after it was closed, with the statements
/// prepared on it.
struct Session {
    target: Target,
    /// Run on each new connection (session settings).
    setup: Option<String>,
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
}

impl Session {
    fn new(target: Target, setup: Option<String>) -> Self {
        Session {
            target,
            setup,
            client: None,
            statements: HashMap::new(),
        }
    }

    /// The open connection, after (re)connecting if there is none or the server closed it.
    fn client(&mut self) -> Result<(&mut Client, &mut Statements), StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.statements.clear();
            let mut client = self.target.connect()?;
            if let Some(setup) = &self.setup {
                client.batch_execute(setup).map_err(|e| {
                    StoreError::io(
                        format!("setting up a session on {}", self.target.shown.display()),
                        describe(&e),
                    )
                })?;
            }
            self.client = Some(client);
        }
        match self.client.as_mut() {
            Some(client) => Ok((client, &mut self.statements)),
            None => Err(StoreError::io("connecting", "no connection")),
        }
    }

    /// Forgets the connection: the next use opens a new one.
    fn reset(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }
}

type Statements = HashMap<&'static str, Statement>;

/// The statement prepared for `sql` on this connection (prepared now if it is the first use).
fn prepared(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    sql: &'static str,
) -> Result<Statement, ::postgres::Error> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements.insert(sql, statement.clone());
    Ok(statement)
}

/// SQL written for SQLite's `?N` placeholders with PostgreSQL's `$N` instead (the shared
/// experiment queries hold no `?` otherwise).
fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_for_postgres() {
        assert_eq!(
            numbered_placeholders("a = ?1 AND b <= ?12 + ?2"),
            "a = $1 AND b <= $12 + $2"
        );
    }
}
