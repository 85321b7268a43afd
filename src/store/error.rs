//! Errors of the embedded store, each with a stable machine-readable code for the HTTP layer.

use std::path::PathBuf;

use crate::error::ErrorCode;

/// A problem with the embedded store or with what was handed to it.
///
/// Every variant maps to a stable [`code`](StoreError::code) that the service puts in its JSON
/// error bodies and metrics; the messages are for people and may change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk full, I/O error, locked for longer than the busy timeout,
    /// PostgreSQL unreachable), or the background writer has stopped.
    // Causes are kept as text: the writer thread reports one failure to several waiters, and
    // `rusqlite::Error` cannot be cloned.
    #[error("store I/O error while {context}: {cause}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The underlying error.
        cause: String,
    },
    /// The decision-log queue is full: the writer is behind. Nothing was recorded; the caller
    /// decides whether to retry, shed the request or answer without logging.
    #[error("the decision log queue is full ({capacity} records waiting to be written); try again shortly")]
    Overloaded {
        /// The queue's capacity.
        capacity: usize,
    },
    /// An outcome (or a lookup) named a decision that was never logged.
    #[error("unknown decision '{decision_id}'")]
    UnknownDecision {
        /// The decision id as given.
        decision_id: String,
    },
    /// An outcome failed validation; nothing was written.
    #[error("invalid outcome: {field}: {problem}")]
    InvalidOutcome {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A decision record failed validation; nothing was queued.
    #[error("invalid decision record: {field}: {problem}")]
    InvalidDecision {
        /// The offending field (e.g. `actions[2].propensity`).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A journey event failed validation; none of the batch was written.
    #[error("invalid event at index {index}: {field}: {problem}")]
    InvalidEvent {
        /// Position of the event in the batch (0-based).
        index: usize,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// An experiment change the experiment's state refuses (or an unknown experiment).
    #[error(transparent)]
    Experiment(#[from] crate::experiment::ExperimentError),
    /// The database is not one this build can use: a newer schema version, or a file that is
    /// not a SQLite database at all.
    #[error("{}: {problem}", path.display())]
    Schema {
        /// The database file (for PostgreSQL, its URL without password).
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

impl StoreError {
    /// Its code in the catalogue: `store_io`, `store_overloaded`, `unknown_decision`,
    /// `invalid_outcome`, `invalid_decision`, `invalid_event` or `store_schema`. Whether the
    /// caller caused it (4xx) follows from the code ([`ErrorCode::is_client_error`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Io { .. } => ErrorCode::StoreIo,
            StoreError::Overloaded { .. } => ErrorCode::StoreOverloaded,
            StoreError::UnknownDecision { .. } => ErrorCode::UnknownDecision,
            StoreError::InvalidOutcome { .. } => ErrorCode::InvalidOutcome,
            StoreError::InvalidDecision { .. } => ErrorCode::InvalidDecision,
            StoreError::InvalidEvent { .. } => ErrorCode::InvalidEvent,
            StoreError::Schema { .. } => ErrorCode::StoreSchema,
            StoreError::Experiment(e) => e.code(),
        }
    }

    /// An I/O error with its context.
    pub(crate) fn io(context: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        StoreError::Io {
            context: context.into(),
            cause: cause.to_string(),
        }
    }

    /// The error a caller sees once the writer thread is gone.
    pub(crate) fn writer_stopped() -> Self {
        StoreError::io(
            "handing work to the background writer",
            "the writer has stopped (the store is shutting down or the writer failed)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(StoreError::io("x", "y").code().name(), "store_io");
        assert_eq!(
            StoreError::Overloaded { capacity: 1 }.code().name(),
            "store_overloaded"
        );
        let unknown = StoreError::UnknownDecision {
            decision_id: "d".into(),
        };
        assert_eq!(unknown.code().name(), "unknown_decision");
        assert!(unknown.code().is_client_error());
        assert_eq!(unknown.to_string(), "unknown decision 'd'");
        let schema = StoreError::Schema {
            path: "a.db".into(),
            problem: "newer".into(),
        };
        assert_eq!(schema.code().name(), "store_schema");
        assert!(!schema.code().is_client_error());
    }
}
