//! Batch scoring: whole segments decided at memory speed, with the service's features, models
//! and policies ([`crate::engine::offline`]), so a batch answer equals the online answer for
//! the same customer, history, policy and instant.
//!
//! - [`input`]: what to read (a file or a folder of files), which customers (a segment, a
//!   shard of a partitioned job), and the summary of a run;
//! - [`output`]: the Parquet outputs — top-K decisions, one row per (customer, rank), or every
//!   candidate's predictions — written under a temporary name and renamed when complete;
//! - [`events`]: from journey events: one pass (or a few, under a memory budget) that
//!   accumulates each customer's features, then scoring across cores;
//! - [`features`]: from a precomputed feature matrix, checked against the models' spec,
//!   streamed record batch by record batch.
//!
//! It may import `engine`, `features`, `models`, `decision`, `catalog` and `journey`; only the
//! surfaces (`cli`, the Python package) import it.

pub mod events;
pub mod features;
pub mod input;
pub mod output;

pub use input::{Mode, Progress, ScoreOptions, Segment, Shard, Summary};

use std::path::PathBuf;

use crate::engine::EngineError;
use crate::error::ErrorCode;
use crate::journey::JourneyError;

/// What can stop a batch run.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// An input file is unreadable or has a bad row (the error names file, row and column).
    #[error(transparent)]
    Journey(#[from] JourneyError),
    /// Scoring failed, or the models, catalog and policy do not fit together.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An option or input makes no sense (named in the message).
    #[error("{what}: {problem}")]
    Invalid {
        /// The option or file.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// A feature matrix does not match the models' feature spec.
    #[error("{file}: {problem}")]
    FeatureMismatch {
        /// The matrix file.
        file: PathBuf,
        /// What differs.
        problem: String,
    },
}

impl BatchError {
    /// Its code in the catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            BatchError::Journey(e) => e.code(),
            BatchError::Engine(e) => e.code(),
            BatchError::Invalid { .. } => ErrorCode::InvalidField,
            BatchError::FeatureMismatch { .. } => ErrorCode::ModelFeatureMismatch,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> Self {
        BatchError::Invalid {
            what: what.into(),
            problem: problem.into(),
        }
    }
}
