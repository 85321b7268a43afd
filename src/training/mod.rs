//! Training: configs, point-in-time labels, fitting, and honest metrics on a time-based holdout.

pub mod bgnbd;
pub mod churn;
pub mod config;
pub mod conversion;
pub mod metrics;
pub mod sentiment;

use crate::catalog::Catalog;
use crate::error::ErrorCode;
use crate::features::{FeatureSpec, TextScorer};
use crate::journey::{CustomerTable, JourneyError};
use crate::models::gbdt::{GbdtFitReport, GbdtModel};
use crate::models::logistic::LogisticModel;
use crate::models::sentiment::NamedSentimentModel;
use crate::models::tree::TreeModel;
use crate::models::{Estimator, ModelError};
use config::{Algorithm, DataConfig, ModelConfig};

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
    pub fn code(&self) -> ErrorCode {
        match self {
            TrainError::Config(_) | TrainError::ConfigFile(_) => ErrorCode::InvalidConfig,
            TrainError::Data(e) => e.code(),
            TrainError::Model(e) => e.code(),
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
            .map_err(|e| TrainError::Config(format!("data: {e}")))?
            .with_sentiment_model(sentiment.as_ref().map(|s| s.name()));
        if let Some(column) = &data.signup_column {
            spec = spec
                .with_signup_attribute(column)
                .map_err(|e| TrainError::Config(format!("data.signup_column: {e}")))?;
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
}

/// Fits the configured algorithm on a row-major matrix. `groups` (a customer id per row) keeps
/// each customer's rows on one side of the GBDT's early-stopping validation split or folds;
/// `names` (one per column) resolve the GBDT's monotone constraints.
pub fn fit_estimator(
    model: &ModelConfig,
    rows: &[f32],
    n_features: usize,
    labels: &[bool],
    groups: Option<&[String]>,
    names: &[String],
    seed: u64,
) -> Result<(Estimator, Option<GbdtFitReport>), ModelError> {
    Ok(match model.algorithm {
        Algorithm::Gbdt => {
            let (fitted, report) = GbdtModel::fit_grouped(
                rows,
                n_features,
                labels,
                groups,
                Some(names),
                &model.gbdt,
                seed,
            )?;
            (Estimator::Gbdt(fitted), Some(report))
        }
        Algorithm::Logistic => (
            Estimator::Logistic(LogisticModel::fit(
                rows,
                n_features,
                labels,
                &model.logistic,
            )?),
            None,
        ),
        Algorithm::Tree => (
            Estimator::Tree(TreeModel::fit(rows, n_features, labels, &model.tree)?),
            None,
        ),
    })
}

/// Features with a non-zero importance, highest first (ties by name), for `metrics.json`.
pub(crate) fn ranked_importance(
    names: impl IntoIterator<Item = String>,
    importance: Vec<f64>,
) -> Vec<(String, f64)> {
    let mut ranked: Vec<(String, f64)> = names
        .into_iter()
        .zip(importance)
        .filter(|(_, v)| *v > 0.0)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}
