//! What can go wrong in an analytics query.

use crate::error::ErrorCode;
use crate::journey::JourneyError;

/// An analytics query that cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A query parameter is invalid; `field` names it.
    #[error("{field}: {problem}")]
    InvalidQuery {
        /// The parameter (CLI flag or JSON field).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Reading or writing data failed.
    #[error(transparent)]
    Journey(#[from] JourneyError),
}

impl AnalyticsError {
    /// A bad parameter.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        AnalyticsError::InvalidQuery {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The stable code of the catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            AnalyticsError::InvalidQuery { .. } => ErrorCode::InvalidField,
            AnalyticsError::Journey(e) => e.code(),
        }
    }

    /// The parameter at fault, when there is one (HTTP answers name it).
    pub fn field(&self) -> Option<&str> {
        match self {
            AnalyticsError::InvalidQuery { field, .. } => Some(field),
            AnalyticsError::Journey(_) => None,
        }
    }
}

/// Result alias for analytics.
pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;
