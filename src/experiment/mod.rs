//! Experiments: A/B tests of decision policies. Defined ([`definition`]), units assigned to arms
//! by stateless hashing ([`assignment`]), and — through the engine and the store — every
//! decision made under one logged as an exposure with its arm, so outcomes can be attributed
//! and the arms compared ([`analysis`], with [`crate::stats`]) into results and a verdict.
//! [`units`] reads a table of units for the offline analysis of experiments run anywhere.
//!
//! It may import `journey` and `stats`; the store persists its types and the engine asks it
//! which arm decides. Its only I/O is reading a unit table.

pub mod analysis;
pub mod assignment;
pub mod definition;
pub mod running;
pub mod totals;
pub mod units;
mod verdict;

pub use definition::{Arm, ArmSpec, Experiment, ExperimentSpec, Metric, Status};
pub use running::{Assignment, RunningExperiments};
pub use totals::{ArmTotals, DailyArm};
pub use units::{read_units, UnitColumns, UnitTable};

use crate::error::ErrorCode;

/// Why an experiment cannot be created, changed or read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ExperimentError {
    /// A field of the definition is invalid.
    #[error("{field}: {problem}")]
    Invalid {
        /// The field (`arms[1].weight`).
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// No experiment has this id.
    #[error("no experiment '{id}'")]
    Unknown {
        /// The id asked for.
        id: String,
    },
    /// The experiment's state does not allow the change.
    #[error("experiment '{id}': {problem}")]
    Conflict {
        /// The experiment.
        id: String,
        /// Why not.
        problem: String,
    },
}

impl ExperimentError {
    /// Its code in the catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExperimentError::Invalid { .. } => ErrorCode::InvalidField,
            ExperimentError::Unknown { .. } => ErrorCode::UnknownExperiment,
            ExperimentError::Conflict { .. } => ErrorCode::ExperimentConflict,
        }
    }

    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ExperimentError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}
