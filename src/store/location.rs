//! Where the store lives: a SQLite file (the embedded default) or a PostgreSQL database named
//! by a `postgres://` URL.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where the store lives. Text that starts with `postgres://` or `postgresql://` is a
/// PostgreSQL connection URL; anything else is the path of a SQLite file.
///
/// Shown (`Display`, `Debug`) with any password in the URL hidden.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StoreLocation {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database (which must exist; the store creates its tables), as a URL such as
    /// `postgres://nextbest@db.internal/nextbest` or, over a Unix socket,
    /// `postgres://nextbest@%2Fvar%2Frun%2Fpostgresql/nextbest`.
    Postgres(String),
}

/// A database location that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{shown}' is not a usable PostgreSQL URL: {problem}")]
pub struct LocationError {
    /// The URL with any password hidden.
    shown: String,
    /// What is wrong with it.
    problem: String,
}

impl LocationError {
    /// Its code in the catalogue: a location comes from the configuration.
    pub fn code(&self) -> crate::error::ErrorCode {
        crate::error::ErrorCode::InvalidConfig
    }
}

impl StoreLocation {
    /// Reads a location: a `postgres://`/`postgresql://` URL (checked here, so a mistake is
    /// reported with the configuration rather than at the first write), or a file path.
    pub fn parse(text: &str) -> Result<StoreLocation, LocationError> {
        if !is_postgres_url(text) {
            return Ok(StoreLocation::Sqlite(PathBuf::from(text)));
        }
        match ::postgres::Config::from_str(text) {
            Ok(config) if config.get_hosts().is_empty() => Err(LocationError {
                shown: redact(text),
                problem: "it names no host (a host name, an address, or a socket folder \
                          written as %2Fpath or ?host=/path)"
                    .into(),
            }),
            Ok(_) => Ok(StoreLocation::Postgres(text.to_string())),
            Err(e) => Err(LocationError {
                shown: redact(text),
                problem: e.to_string(),
            }),
        }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// The location as shown in messages and errors: the file, or the URL without password.
    pub(crate) fn shown_path(&self) -> PathBuf {
        match self {
            StoreLocation::Sqlite(path) => path.clone(),
            StoreLocation::Postgres(url) => PathBuf::from(redact(url)),
        }
    }
}

fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The URL with the password of its user part (`user:password@`) replaced by `***`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreLocation::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

impl FromStr for StoreLocation {
    type Err = LocationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        StoreLocation::parse(text)
    }
}

impl TryFrom<String> for StoreLocation {
    type Error = LocationError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        StoreLocation::parse(&text)
    }
}

impl From<StoreLocation> for String {
    fn from(location: StoreLocation) -> String {
        match location {
            StoreLocation::Sqlite(path) => path.to_string_lossy().into_owned(),
            StoreLocation::Postgres(url) => url,
        }
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> Self {
        StoreLocation::Sqlite(path)
    }
}

impl From<&PathBuf> for StoreLocation {
    fn from(path: &PathBuf) -> Self {
        StoreLocation::Sqlite(path.clone())
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> Self {
        StoreLocation::Sqlite(path.to_path_buf())
    }
}

impl From<&StoreLocation> for StoreLocation {
    fn from(location: &StoreLocation) -> Self {
        location.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_switch_to_postgres_and_anything_else_is_a_file() {
        assert_eq!(
            StoreLocation::parse("nextbest.db").unwrap(),
            StoreLocation::Sqlite("nextbest.db".into())
        );
        let pg = StoreLocation::parse("postgres://nb:secret@db.internal:5433/nextbest").unwrap();
        assert!(pg.is_postgres());
        assert_eq!(
            pg.to_string(),
            "postgres://nb:***@db.internal:5433/nextbest"
        );
        assert!(!format!("{pg:?}").contains("secret"));
        let socket = StoreLocation::parse("postgresql://nb@%2Ftmp%2Fpg/nb").unwrap();
        assert!(socket.is_postgres());
        assert_eq!(socket.to_string(), "postgresql://nb@%2Ftmp%2Fpg/nb");
        let err = StoreLocation::parse("postgres://nb:pw@host:notaport/db").unwrap_err();
        assert!(!err.to_string().contains("pw"), "{err}");
        assert!(StoreLocation::parse("postgres:///db").is_err());
    }
}
