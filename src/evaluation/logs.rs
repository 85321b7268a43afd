//! Reading logs of decisions for off-policy evaluation: a generic logged-bandit table (one row
//! per decision: customer, instant, action, propensity, reward, context columns) or nextbest's
//! own decision log (decisions, their first pick's propensity, and their outcomes). Every row
//! read is used or counted under the reason it was left out.

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::journey::customers::CUSTOMER_ID;
use crate::journey::{AttrValue, Event, EventReader, ReadOptions, Timestamp, TypedTable};
use crate::store::Store;

use super::EvaluationError;

/// One logged decision, ready to be replayed.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedDecision {
    /// Where it came from, for messages: `file row 12` or `decision d-…`.
    pub source: String,
    /// The customer.
    pub customer_id: String,
    /// The decision instant (`None`: unknown, the customer's whole history is used).
    pub at: Option<Timestamp>,
    /// The channel the customer was on, when logged.
    pub channel: Option<String>,
    /// The placement, when logged.
    pub placement: Option<String>,
    /// The action the logging policy took (its first pick).
    pub action_id: String,
    /// The probability the logging policy gave that pick.
    pub propensity: f64,
    /// What followed.
    pub reward: f64,
    /// Customer attributes known at the decision (the table's context columns).
    pub attributes: Map<String, Value>,
}

/// How many logged decisions were read and why any were left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogCounts {
    /// Decisions (or rows) read.
    pub read: usize,
    /// Decisions evaluated.
    pub used: usize,
    /// Dry runs (never shown to the customer).
    pub dry_run: usize,
    /// Decisions that logged no action (an experiment's holdout): there is no propensity.
    pub no_action_logged: usize,
}

/// The column names of a generic logged-bandit table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableColumns {
    /// The logged action (default `action_id`).
    pub action: String,
    /// The logging propensity of that action (default `propensity`).
    pub propensity: String,
    /// The reward: a number or a boolean (default `reward`).
    pub reward: String,
    /// The decision instant, optional in the file (default `timestamp`).
    pub timestamp: String,
}

impl Default for TableColumns {
    fn default() -> Self {
        TableColumns {
            action: "action_id".into(),
            propensity: "propensity".into(),
            reward: "reward".into(),
            timestamp: "timestamp".into(),
        }
    }
}

/// A cell as a message shows it.
fn shown(value: &AttrValue) -> String {
    match value {
        AttrValue::Missing => "an empty cell".into(),
        AttrValue::Number(v) => format!("{v}"),
        AttrValue::Bool(b) => format!("{b}"),
        AttrValue::Date(t) => t.to_rfc3339(),
        AttrValue::Category(c) => format!("'{c}'"),
    }
}

fn json_of(value: &AttrValue) -> Option<Value> {
    match value {
        AttrValue::Missing => None,
        AttrValue::Number(v) => serde_json::Number::from_f64(*v).map(Value::Number),
        AttrValue::Bool(b) => Some(Value::Bool(*b)),
        AttrValue::Date(t) => Some(Value::String(t.to_rfc3339())),
        AttrValue::Category(c) => Some(Value::String(c.clone())),
    }
}

/// Reads a generic logged-bandit table (Parquet, CSV or JSONL) with a `customer_id` column:
/// every column other than the four of `columns` is a context column, passed to the policy as a
/// customer attribute of that name. A bad cell is an error naming the file, row and column.
pub fn read_table(
    path: &Path,
    columns: &TableColumns,
) -> Result<(Vec<LoggedDecision>, Vec<String>), EvaluationError> {
    let table = TypedTable::read(path, None, CUSTOMER_ID)?;
    let find = |name: &str| table.columns.iter().position(|c| c.name == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| EvaluationError::MissingColumn {
            file: path.to_path_buf(),
            column: name.to_string(),
        })
    };
    let (action, propensity, reward) = (
        need(&columns.action)?,
        need(&columns.propensity)?,
        need(&columns.reward)?,
    );
    let timestamp = find(&columns.timestamp);
    let context: Vec<usize> = (0..table.columns.len())
        .filter(|&c| ![Some(action), Some(propensity), Some(reward), timestamp].contains(&Some(c)))
        .collect();
    let bad = |row: u64, column: &str, problem: String| EvaluationError::InvalidRow {
        file: path.to_path_buf(),
        row,
        column: column.to_string(),
        problem,
    };
    let mut out = Vec::with_capacity(table.keys.len());
    for i in 0..table.keys.len() {
        let row = table.rows[i];
        let action_id = match &table.values[action][i] {
            AttrValue::Category(c) if !c.trim().is_empty() => c.trim().to_string(),
            AttrValue::Number(v) if v.fract() == 0.0 => format!("{v}"),
            other => {
                return Err(bad(
                    row,
                    &columns.action,
                    format!("{} is not an action id", shown(other)),
                ))
            }
        };
        let propensity = match table.values[propensity][i] {
            AttrValue::Number(p) if p > 0.0 && p <= 1.0 => p,
            ref other => {
                return Err(bad(
                    row,
                    &columns.propensity,
                    format!("{} is not a probability in (0, 1]", shown(other)),
                ))
            }
        };
        let reward = match table.values[reward][i] {
            AttrValue::Number(r) if r.is_finite() => r,
            AttrValue::Bool(b) => f64::from(u8::from(b)),
            ref other => {
                return Err(bad(
                    row,
                    &columns.reward,
                    format!("{} is not a number", shown(other)),
                ))
            }
        };
        let at = match timestamp.map(|c| &table.values[c][i]) {
            None | Some(AttrValue::Missing) => None,
            Some(AttrValue::Date(t)) => Some(*t),
            Some(other) => {
                return Err(bad(
                    row,
                    &columns.timestamp,
                    format!("{} is not an instant", shown(other)),
                ))
            }
        };
        let attributes = context
            .iter()
            .filter_map(|&c| Some((table.columns[c].name.clone(), json_of(&table.values[c][i])?)))
            .collect();
        out.push(LoggedDecision {
            source: format!("{} row {row}", path.display()),
            customer_id: table.keys[i].clone(),
            at,
            channel: None,
            placement: None,
            action_id,
            propensity,
            reward,
            attributes,
        });
    }
    let names = context
        .iter()
        .map(|&c| table.columns[c].name.clone())
        .collect();
    Ok((out, names))
}

/// What counts as the reward of a logged decision.
#[derive(Clone, Debug, PartialEq)]
pub struct RewardRule {
    /// The outcome type that counts (default `conversion`).
    pub outcome_type: String,
    /// Only outcomes this long after the decision count (`None`: any time).
    pub window: Option<i64>,
    /// Sum the outcomes' values instead of 1 when there is at least one.
    pub value: bool,
}

impl Default for RewardRule {
    fn default() -> Self {
        RewardRule {
            outcome_type: "conversion".into(),
            window: Some(7 * 86_400 * 1_000_000),
            value: false,
        }
    }
}

/// Reads nextbest's decision log: each committed decision's first pick, its propensity, and its
/// reward under `rule`. Dry runs and decisions without a pick (holdouts) are counted, not used.
pub fn read_decision_log(
    store: &Store,
    rule: &RewardRule,
    progress: &dyn Fn(u64),
) -> Result<(Vec<LoggedDecision>, LogCounts), EvaluationError> {
    let mut counts = LogCounts::default();
    let mut out = Vec::new();
    for id in store.decision_ids()? {
        progress(1);
        let Some(record) = store.decision(&id)? else {
            continue;
        };
        counts.read += 1;
        if record.dry_run {
            counts.dry_run += 1;
            continue;
        }
        let Some(first) = record.actions.iter().min_by_key(|a| a.rank) else {
            counts.no_action_logged += 1;
            continue;
        };
        let context = |key: &str| {
            record
                .context
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let at = context("timestamp")
            .and_then(|t| Timestamp::parse_rfc3339(&t).ok())
            .unwrap_or(record.created);
        let mut reward = 0.0;
        let mut any = false;
        for outcome in store.outcomes_for(&id)? {
            let in_window = rule
                .window
                .is_none_or(|w| outcome.at.0 >= at.0 && outcome.at.0 - at.0 <= w);
            if outcome.outcome_type == rule.outcome_type && in_window {
                any = true;
                reward += outcome.value.unwrap_or(0.0);
            }
        }
        if !rule.value {
            reward = f64::from(u8::from(any));
        }
        out.push(LoggedDecision {
            source: format!("decision {id}"),
            customer_id: record.customer_id.clone(),
            at: Some(at),
            channel: context("channel"),
            placement: context("placement"),
            action_id: first.action_id.clone(),
            propensity: first.propensity,
            reward,
            attributes: Map::new(),
        });
    }
    Ok((out, counts))
}

/// Where a customer's history comes from.
pub enum Histories<'a> {
    /// A journey event file, read whole.
    File {
        /// The file (for messages).
        path: PathBuf,
        /// Events per customer, oldest first.
        events: FxHashMap<String, Vec<Event>>,
    },
    /// The decision log's own profile store.
    Store(&'a Store),
    /// None: every customer starts from nothing but the row's attributes.
    None,
}

impl Histories<'_> {
    /// Reads a journey event file into per-customer histories.
    pub fn read(path: &Path) -> Result<Self, EvaluationError> {
        let mut events: FxHashMap<String, Vec<Event>> = FxHashMap::default();
        for event in EventReader::read_all(path, ReadOptions::default())? {
            if event.is_anonymous() {
                continue;
            }
            events
                .entry(event.customer_id.clone())
                .or_default()
                .push(event);
        }
        for history in events.values_mut() {
            history.sort_by_key(|e| e.timestamp);
        }
        Ok(Histories::File {
            path: path.to_path_buf(),
            events,
        })
    }

    /// The customer's events, oldest first.
    pub fn of(&self, customer_id: &str) -> Result<Vec<Event>, EvaluationError> {
        Ok(match self {
            Histories::File { events, .. } => events.get(customer_id).cloned().unwrap_or_default(),
            Histories::Store(store) => store.history(customer_id)?.to_vec(),
            Histories::None => Vec::new(),
        })
    }
}
