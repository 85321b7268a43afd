//! Training: configs, point-in-time labels, fitting, and honest metrics on a time-based holdout.

pub mod bgnbd;
pub mod churn;
pub mod config;
pub mod metrics;
pub mod sentiment;

use crate::journey::JourneyError;
use crate::models::ModelError;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid (the message starts with the key).
    #[error("{0}")]
    Config(String),
    /// A config file is invalid.
    #[error(transparent)]
    ConfigFile(#[from] config::ConfigError),
    /// Reading journey data failed.
    #[error(transparent)]
    Data(#[from] JourneyError),
    /// Fitting or saving the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl TrainError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TrainError::Config(_) | TrainError::ConfigFile(_) => "invalid_config",
            TrainError::Data(e) => e.code(),
            TrainError::Model(e) => e.code(),
        }
    }
}
