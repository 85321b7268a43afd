//! The learning algorithms behind one enum. A config names an [`Algorithm`]; checking the
//! config turns it into a [`Learner`] that holds that algorithm's checked hyper-parameters;
//! every role (churn, conversion) fits through [`Learner::fit`], so the choice is made once.

use serde::{Deserialize, Serialize};

use super::gbdt::{GbdtFitReport, GbdtModel, GbdtValidParams, WeightedRows};
use super::logistic::{LogisticModel, LogisticValidParams};
use super::tree::{TreeModel, TreeValidParams};
use super::{Estimator, ModelError};

/// Tabular algorithms, as a config or the `--algorithm` flag names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Gradient-boosted trees (the strong default).
    Gbdt,
    /// Logistic regression (simple, explainable).
    Logistic,
    /// One decision tree (simple, explainable: a few readable rules).
    Tree,
}

impl Algorithm {
    /// The name in configs and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Gbdt => "gbdt",
            Algorithm::Logistic => "logistic",
            Algorithm::Tree => "tree",
        }
    }
}

/// A name that is not an algorithm.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("unknown algorithm '{0}' (expected gbdt, logistic or tree)")]
pub struct UnknownAlgorithm(pub String);

impl std::str::FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gbdt" => Ok(Algorithm::Gbdt),
            "logistic" => Ok(Algorithm::Logistic),
            "tree" => Ok(Algorithm::Tree),
            other => Err(UnknownAlgorithm(other.to_string())),
        }
    }
}

/// An algorithm with its checked hyper-parameters, ready to fit.
#[derive(Clone, Debug, PartialEq)]
pub enum Learner {
    /// Gradient-boosted trees.
    Gbdt(GbdtValidParams),
    /// Logistic regression.
    Logistic(LogisticValidParams),
    /// One decision tree.
    Tree(TreeValidParams),
}

/// A labelled training matrix.
#[derive(Clone, Copy, Debug)]
pub struct TrainingRows<'a> {
    /// Row-major values, `n_features` per row.
    pub rows: &'a [f32],
    /// Columns per row.
    pub n_features: usize,
    /// One label per row.
    pub labels: &'a [bool],
    /// A key per row (the customer id): keeps each customer's rows on one side of the GBDT's
    /// early-stopping split or folds.
    pub groups: Option<&'a [String]>,
    /// One name per column: resolves the GBDT's monotone constraints.
    pub names: &'a [String],
    /// One weight per row (inverse-propensity weights); all rows weigh 1 when absent. Only
    /// the GBDT takes weights.
    pub weights: Option<&'a [f64]>,
}

/// A fitted estimator and, for the GBDT, how its size was chosen.
#[derive(Debug)]
pub struct Fitted {
    /// The fitted model, uncalibrated.
    pub estimator: Estimator,
    /// The GBDT's fit report (none for other algorithms).
    pub gbdt_report: Option<GbdtFitReport>,
}

impl Learner {
    /// Which algorithm this is.
    pub fn kind(&self) -> Algorithm {
        match self {
            Learner::Gbdt(_) => Algorithm::Gbdt,
            Learner::Logistic(_) => Algorithm::Logistic,
            Learner::Tree(_) => Algorithm::Tree,
        }
    }

    /// Fits on `data`; deterministic for a seed.
    pub fn fit(&self, data: &TrainingRows<'_>, seed: u64) -> Result<Fitted, ModelError> {
        let TrainingRows {
            rows,
            n_features,
            labels,
            groups,
            names,
            weights,
        } = *data;
        if weights.is_some() && !matches!(self, Learner::Gbdt(_)) {
            return Err(ModelError::Training(format!(
                "row weights (inverse-propensity weighting) need the gbdt algorithm, not {}",
                self.kind().as_str()
            )));
        }
        Ok(match self {
            Learner::Gbdt(params) => {
                let (model, report) = GbdtModel::fit_weighted(
                    &WeightedRows {
                        rows,
                        n_features,
                        weights,
                        groups,
                        names: Some(names),
                    },
                    labels,
                    params,
                    seed,
                )?;
                Fitted {
                    estimator: Estimator::Gbdt(model),
                    gbdt_report: Some(report),
                }
            }
            Learner::Logistic(params) => Fitted {
                estimator: Estimator::Logistic(LogisticModel::fit(
                    rows, n_features, labels, params,
                )?),
                gbdt_report: None,
            },
            Learner::Tree(params) => Fitted {
                estimator: Estimator::Tree(TreeModel::fit(rows, n_features, labels, params)?),
                gbdt_report: None,
            },
        })
    }
}
