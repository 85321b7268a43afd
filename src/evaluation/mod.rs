//! Off-policy evaluation of a decision policy from a log of another policy's decisions
//! (`nextbest evaluate`): each logged decision is replayed through the target policy
//! ([`Engine::replay`]: same features, models and rules as serving, at the logged instant) to get
//! the probability the target gives the logged action and the models' expected reward of every
//! action; the estimators of [`crate::stats::ope`] turn those into the policy's value with
//! bootstrap intervals and weight diagnostics.
//!
//! The direct method (and so DR, Switch-DR and DR with shrinkage) uses the conversion model:
//! `q̂(x, a) = P(convert | x, a)`. It therefore applies only when the reward is a 0/1
//! conversion; with other rewards only IPS and self-normalised IPS are reported.
//!
//! It may import `engine`, `decision`, `models`, `features`, `store`, `catalog`, `journey` and
//! `stats`; only the command line imports it.

pub mod logs;

use std::path::PathBuf;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{CustomerPayload, DecisionContext, DecisionRequest, Engine, EngineError};
use crate::error::ErrorCode;
use crate::journey::{AttrValue, CustomerTable, JourneyError};
use crate::stats::ope::{evaluate_policy, DirectMethod, LoggedRewards, OpeReport, OpeSettings};
use crate::store::StoreError;

pub use logs::{
    read_decision_log, read_table, Histories, LogCounts, LoggedDecision, RewardRule, TableColumns,
};

/// Why an evaluation could not be made. [`EvaluationError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// Reading a file failed.
    #[error(transparent)]
    Journey(#[from] JourneyError),
    /// Reading the decision log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A column the table needs is absent.
    #[error("{file}: no column '{column}'")]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// The column.
        column: String,
    },
    /// A cell cannot be used.
    #[error("{file} row {row}, column '{column}': {problem}")]
    InvalidRow {
        /// The file.
        file: PathBuf,
        /// 1-based data row.
        row: u64,
        /// The column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// The engine refused to replay a logged decision.
    #[error("{source_row}: {error}")]
    Replay {
        /// Which logged decision.
        source_row: String,
        /// Why.
        error: EngineError,
    },
    /// A logged decision's numbers cannot be used (e.g. a propensity outside (0, 1] in the
    /// decision log).
    #[error("{source_row}: {problem}")]
    Unusable {
        /// Which logged decision.
        source_row: String,
        /// What is wrong.
        problem: String,
    },
    /// The target policy is not loaded, or names an action the catalog lacks.
    #[error("{0}")]
    Target(String),
    /// Nothing to evaluate.
    #[error("the log holds no decision to evaluate ({0})")]
    Empty(String),
}

impl EvaluationError {
    /// Its code in the catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            EvaluationError::Journey(e) => e.code(),
            EvaluationError::Store(e) => e.code(),
            EvaluationError::MissingColumn { .. } => ErrorCode::MissingColumn,
            EvaluationError::InvalidRow { .. } | EvaluationError::Unusable { .. } => {
                ErrorCode::InvalidValue
            }
            EvaluationError::Replay { error, .. } => error.code(),
            EvaluationError::Target(_) => ErrorCode::UnknownPolicy,
            EvaluationError::Empty(_) => ErrorCode::EmptyFile,
        }
    }
}

/// The policy to evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A loaded decision policy, by name: its eligibility rules, arbitration and exploration.
    Policy(String),
    /// Always the same action (`action:<id>`), eligible or not.
    Action(String),
}

impl Target {
    /// `action:<id>`, or a policy name.
    pub fn parse(text: &str) -> Self {
        match text.strip_prefix("action:") {
            Some(id) => Target::Action(id.trim().to_string()),
            None => Target::Policy(text.trim().to_string()),
        }
    }

    fn name(&self) -> String {
        match self {
            Target::Policy(name) => name.clone(),
            Target::Action(id) => format!("action:{id}"),
        }
    }
}

/// What the target policy would have earned on a log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The target (`default`, `action:email_discount`).
    pub target: String,
    /// The estimates and diagnostics.
    pub report: OpeReport,
    /// Why the model-based estimators are missing, when they are.
    pub no_direct_method: Option<String>,
    /// Per logged decision, the target's probability of the logged action and the models'
    /// expected reward of the target (`q̂(x, π)`), in log order: for checking against a truth.
    #[serde(skip)]
    pub rows: Vec<RowEstimate>,
}

/// One replayed decision's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct RowEstimate {
    /// π(a_logged | x).
    pub target_propensity: f64,
    /// The target's distribution over actions: (action id, probability).
    pub distribution: Vec<(String, f64)>,
}

/// Per row: (π(a|x), q̂(x, a_logged), q̂(x, π), the target's distribution), q̂ `None` when the
/// model cannot value an action the row needs.
type Replayed = (f64, Option<f64>, Option<f64>, Vec<(String, f64)>);

fn replay_one(
    engine: &Engine,
    target: &Target,
    decision: &LoggedDecision,
    histories: &Histories<'_>,
    customers: Option<&CustomerTable>,
) -> Result<Replayed, EvaluationError> {
    let mut attributes = Map::new();
    if let Some(table) = customers {
        if let Some(row) = table.get(&decision.customer_id) {
            for (column, value) in table.attributes.iter().zip(row) {
                let json = match value {
                    AttrValue::Missing => continue,
                    AttrValue::Number(v) => serde_json::Number::from_f64(*v).map(Value::Number),
                    AttrValue::Bool(b) => Some(Value::Bool(*b)),
                    AttrValue::Date(t) => Some(Value::String(t.to_rfc3339())),
                    AttrValue::Category(c) => Some(Value::String(c.clone())),
                };
                if let Some(json) = json {
                    attributes.insert(column.name.clone(), json);
                }
            }
        }
    }
    attributes.extend(decision.attributes.clone());
    let request = DecisionRequest {
        customer_id: decision.customer_id.clone(),
        context: DecisionContext {
            channel: decision.channel.clone(),
            placement: decision.placement.clone(),
            timestamp: decision.at.map(|t| t.to_rfc3339()),
            extra: Map::new(),
        },
        customer: Some(CustomerPayload { attributes }),
        history: None,
        candidates: None,
        max_actions: None,
        policy: match target {
            Target::Policy(name) => Some(name.clone()),
            Target::Action(_) => None,
        },
        explain: false,
        dry_run: true,
    };
    let history = histories.of(&decision.customer_id)?;
    let replay = engine
        .replay(&request, &history)
        .map_err(|error| EvaluationError::Replay {
            source_row: decision.source.clone(),
            error,
        })?;
    let q = |id: &str| replay.get(id).and_then(|c| c.p_convert);
    let distribution: Vec<(String, f64)> = match target {
        Target::Policy(_) => replay
            .candidates
            .iter()
            .filter(|c| c.probability > 0.0)
            .map(|c| (c.action_id.clone(), c.probability))
            .collect(),
        Target::Action(id) => vec![(id.clone(), 1.0)],
    };
    let propensity = distribution
        .iter()
        .find(|(id, _)| *id == decision.action_id)
        .map_or(0.0, |(_, p)| *p);
    let q_target = distribution
        .iter()
        .map(|(id, p)| q(id).map(|v| p * v))
        .sum::<Option<f64>>();
    Ok((propensity, q(&decision.action_id), q_target, distribution))
}

/// Evaluates `target` on `log`: replays every decision (in parallel), then estimates.
/// `progress` is called once per replayed decision.
pub fn evaluate(
    engine: &Engine,
    target: &Target,
    log: &[LoggedDecision],
    histories: &Histories<'_>,
    customers: Option<&CustomerTable>,
    settings: &OpeSettings,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Evaluation, EvaluationError> {
    match target {
        Target::Policy(name) if engine.policies().get(name).is_none() => {
            return Err(EvaluationError::Target(format!(
                "no policy named '{name}' (have: {})",
                engine.policies().names().collect::<Vec<_>>().join(", ")
            )))
        }
        Target::Action(id) if engine.catalog().get(id).is_none() => {
            return Err(EvaluationError::Target(format!(
                "action:{id}: the catalog has no action '{id}'"
            )))
        }
        _ => {}
    }
    if log.is_empty() {
        return Err(EvaluationError::Empty("no rows".into()));
    }
    let replayed: Vec<Replayed> = log
        .par_iter()
        .map(|decision| {
            let r = replay_one(engine, target, decision, histories, customers);
            progress(1);
            r
        })
        .collect::<Result<_, _>>()?;
    let reward: Vec<f64> = log.iter().map(|d| d.reward).collect();
    let logging: Vec<f64> = log.iter().map(|d| d.propensity).collect();
    let target_p: Vec<f64> = replayed.iter().map(|r| r.0).collect();
    let binary = reward.iter().all(|&r| r == 0.0 || r == 1.0);
    let q_logged: Option<Vec<f64>> = replayed.iter().map(|r| r.1).collect();
    let q_target: Option<Vec<f64>> = replayed.iter().map(|r| r.2).collect();
    let no_direct_method = if !binary {
        Some("the rewards are not 0/1 conversions, and the models predict P(convert)".to_string())
    } else if q_logged.is_none() || q_target.is_none() {
        let row = replayed
            .iter()
            .position(|r| r.1.is_none() || r.2.is_none())
            .map_or_else(String::new, |i| format!(" (first at {})", log[i].source));
        Some(format!(
            "no conversion model can value every action the log or the target takes{row}"
        ))
    } else {
        None
    };
    let model = match (&q_logged, &q_target, &no_direct_method) {
        (Some(logged), Some(target), None) => Some(DirectMethod { logged, target }),
        _ => None,
    };
    let rewards = LoggedRewards {
        reward: &reward,
        logging_propensity: &logging,
        target_propensity: &target_p,
        model,
    };
    rewards.check().map_err(|e| EvaluationError::Unusable {
        source_row: log
            .get(e.row)
            .map_or_else(|| format!("row {}", e.row + 1), |d| d.source.clone()),
        problem: format!("{}: {}", e.field, e.problem),
    })?;
    let report = evaluate_policy(&rewards, settings)
        .ok_or_else(|| EvaluationError::Empty("no usable rows or settings".into()))?;
    Ok(Evaluation {
        target: target.name(),
        report,
        no_direct_method,
        rows: replayed
            .into_iter()
            .map(|(p, _, _, distribution)| RowEstimate {
                target_propensity: p,
                distribution,
            })
            .collect(),
    })
}

/// The context columns no loaded model reads as a customer attribute (they change nothing; a
/// misspelt attribute shows up here).
pub fn unused_columns(engine: &Engine, columns: &[String]) -> Vec<String> {
    let models = engine.models();
    columns
        .iter()
        .filter(|c| {
            models
                .spec
                .as_ref()
                .is_none_or(|spec| !spec.attributes.iter().any(|a| a.name == **c))
        })
        .cloned()
        .collect()
}
