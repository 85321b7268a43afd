//! Training: configs, point-in-time labels, one pipeline (fit → calibrate → evaluate → write the
//! artifact), and honest metrics on a time-based holdout.
//!
//! - [`config`]: the `training/*.toml` files, read unchecked and checked once;
//! - [`churn`], [`conversion`], [`sentiment`]: how each role builds its rows and what it reports;
//! - [`pipeline`]: the steps every role shares;
//! - [`bgnbd`]: the classic "is this customer still alive?" baseline.
//!
//! The statistics the reports use live in [`crate::stats`].

pub mod bgnbd;
pub mod churn;
pub mod config;
pub mod conversion;
pub mod pipeline;
pub mod sentiment;
pub mod text_weights;

use crate::catalog::Catalog;
use crate::error::ErrorCode;
use crate::features::spec::AttributeMapping;
use crate::features::{FeatureSpec, TextScorer};
use crate::journey::{CustomerTable, JourneyError};
use crate::models::params::InvalidSetting;
use crate::models::sentiment::NamedSentimentModel;
use crate::models::ModelError;
use config::DataConfig;

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid, or does not fit the data (names the key).
    #[error(transparent)]
    Config(#[from] InvalidSetting),
    /// A config file is invalid.
    #[error(transparent)]
    ConfigFile(#[from] config::ConfigError),
    /// Reading journey data failed.
    #[error(transparent)]
    Data(#[from] JourneyError),
    /// Fitting or saving the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A part of the manifest has no JSON form (e.g. a path that is not UTF-8).
    #[error("manifest.{field}: cannot be written as JSON: {source}")]
    Manifest {
        /// The manifest field.
        field: &'static str,
        /// The serialiser's complaint.
        source: serde_json::Error,
    },
}

impl TrainError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            TrainError::Config(_) | TrainError::ConfigFile(_) => ErrorCode::InvalidConfig,
            TrainError::Data(e) => e.code(),
            TrainError::Model(e) => e.code(),
            TrainError::Manifest { .. } => ErrorCode::TrainingFailed,
        }
    }
}

/// What every tabular trainer loads first: the customer table, the catalog, the sentiment
/// scorer, and the feature spec they imply.
pub struct TabularInputs {
    /// Customer attributes.
    pub customers: Option<CustomerTable>,
    /// Action catalog.
    pub catalog: Option<Catalog>,
    /// Fills the sentiment feature slots.
    pub sentiment: Option<NamedSentimentModel>,
    /// The feature spec.
    pub spec: FeatureSpec,
}

impl TabularInputs {
    /// Reads the files a `[data]` section names and builds the spec.
    pub fn load(data: &DataConfig) -> Result<Self, TrainError> {
        let customers = data
            .customers
            .as_ref()
            .map(|p| CustomerTable::read(p, None))
            .transpose()?;
        let catalog = data.catalog.as_ref().map(Catalog::load).transpose()?;
        let sentiment = data
            .sentiment_model
            .as_deref()
            .map(churn::load_sentiment)
            .transpose()?;
        let mut spec = FeatureSpec::new(catalog.as_ref(), customers.as_ref())
            .map_err(|e| InvalidSetting::new("data", e.to_string()))?
            .with_sentiment_model(sentiment.as_ref().map(|s| s.name()));
        if let Some(column) = &data.signup_column {
            spec = spec
                .with_signup_attribute(column)
                .map_err(|e| InvalidSetting::new("data.signup_column", e.to_string()))?;
        }
        Ok(TabularInputs {
            customers,
            catalog,
            sentiment,
            spec,
        })
    }

    /// The sentiment model as a text scorer.
    pub fn scorer(&self) -> Option<&dyn TextScorer> {
        self.sentiment.as_ref().map(|s| s as &dyn TextScorer)
    }

    /// Where the spec's attributes sit in the customer table (none without a table); build
    /// the rows' [`crate::features::matrix::Attributes`] from it.
    pub fn attribute_mapping(&self) -> Result<Option<AttributeMapping>, TrainError> {
        self.customers
            .as_ref()
            .map(|table| self.spec.attribute_mapping(table))
            .transpose()
            .map_err(|e| InvalidSetting::new("data.customers", e.to_string()).into())
    }

    /// The customer table paired with its `mapping` (from [`TabularInputs::attribute_mapping`]),
    /// when both exist.
    pub fn attributes<'a>(
        &'a self,
        mapping: Option<&'a AttributeMapping>,
    ) -> Option<crate::features::matrix::Attributes<'a>> {
        self.customers
            .as_ref()
            .zip(mapping)
            .map(|(table, mapping)| crate::features::matrix::Attributes::new(table, mapping))
    }
}
