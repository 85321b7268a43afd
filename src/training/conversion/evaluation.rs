//! Judging a conversion model: per-action AUC and uplift ranking (Qini, uplift by decile) on
//! the holdout, and, when the simulator's truth is at hand, predicted against true uplift.

use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::points::{ConversionData, PointSet};
use super::treatment_row;
use crate::features::matrix::Attributes;
use crate::features::{FeatureAccumulator, FeatureSpec, TextScorer};
use crate::journey::customers::CUSTOMER_ID;
use crate::journey::{AttrValue, Timestamp, TypedTable};
use crate::models::params::InvalidSetting;
use crate::models::{ModelError, Role, Scorer};
use crate::stats::{auc, correlation, uplift_deciles, uplift_scores, UpliftBin, UpliftScores};
use crate::training::config::{ConversionWindows, Period};
use crate::training::TrainError;

/// Ground-truth points scored at most (spread evenly over the holdout period).
const MAX_TRUTH_POINTS: usize = 50_000;

/// The config key of the ground truth file, which its errors name.
const KEY: &str = "evaluation.ground_truth";

/// Holdout quality of one action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionMetrics {
    /// The action.
    pub action_id: String,
    /// Holdout rows that got it.
    pub rows: usize,
    /// Their conversion rate.
    pub conversion_rate: f64,
    /// Conversion rate of the holdout control rows.
    pub control_rate: f64,
    /// AUC of P(convert | x, action) on the rows that got it.
    pub auc: Option<f64>,
    /// Mean predicted uplift over its rows and the control rows.
    pub mean_predicted_uplift: f64,
    /// Uplift ranking quality of the predicted uplift on its rows and the control rows, on
    /// scikit-uplift's scales: normalised Qini and uplift-curve areas (1 perfect, 0 random,
    /// < 0 worse than random) and the observed uplift in the top 30%.
    #[serde(flatten)]
    pub uplift: UpliftScores,
    /// Observed uplift by decile of predicted uplift, highest first.
    pub uplift_deciles: Vec<UpliftBin>,
}

/// Predicted against true uplift of one action, from the simulator's ground truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthActionMetrics {
    /// The action.
    pub action_id: String,
    /// Pearson correlation of predicted and true uplift over the holdout decision points.
    pub uplift_correlation: Option<f64>,
    /// Mean true uplift.
    pub mean_true_uplift: f64,
    /// Mean predicted uplift.
    pub mean_predicted_uplift: f64,
    /// Correlation of predicted and true P(convert | x, action).
    pub p_convert_correlation: Option<f64>,
}

/// Quality against the simulator's exact truth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TruthMetrics {
    /// Holdout decision points scored.
    pub points: usize,
    /// Per action.
    pub actions: Vec<TruthActionMetrics>,
    /// Mean true uplift (extra conversions per decision; for a retention model, churn
    /// prevented) of acting on the model: the action of highest predicted uplift, or nothing
    /// when none is predicted positive.
    pub model_policy_uplift: f64,
    /// The same for a uniformly random action.
    pub random_policy_uplift: f64,
    /// The same for the oracle that knows the true uplift.
    pub oracle_policy_uplift: f64,
}

/// Scores every treatment and no action for each row: `(p_none, [p_treatment])` per row.
pub(super) fn score_all_treatments(
    model: &dyn Scorer,
    rows: &[f32],
    width: usize,
    treatments: usize,
) -> Result<Vec<(f64, Vec<f64>)>, ModelError> {
    let n_features = width - treatments;
    let mut expanded = Vec::with_capacity(rows.len() * (treatments + 1));
    for row in rows.chunks_exact(width) {
        let features = &row[..n_features];
        for t in std::iter::once(None).chain((0..treatments).map(Some)) {
            expanded.extend(treatment_row(features, t, treatments));
        }
    }
    let p = model.predict_proba(&expanded, width)?;
    Ok(p.chunks_exact(treatments + 1)
        .map(|c| (c[0], c[1..].to_vec()))
        .collect())
}

/// Per action: AUC on the rows that got it, and how well predicted uplift ranks them against
/// the control rows.
pub(super) fn evaluate_actions(
    model: &dyn Scorer,
    holdout: &PointSet,
    width: usize,
    treatments: &[String],
) -> Result<Vec<ActionMetrics>, ModelError> {
    let k = treatments.len();
    let scored = score_all_treatments(model, &holdout.rows, width, k)?;
    let control: Vec<usize> = (0..holdout.len())
        .filter(|&i| holdout.treatments[i].is_none())
        .collect();
    let rate = |rows: &[usize]| {
        rows.iter().filter(|&&i| holdout.labels[i]).count() as f64 / rows.len().max(1) as f64
    };
    let control_rate = rate(&control);
    Ok(treatments
        .iter()
        .enumerate()
        .map(|(a, id)| {
            let got: Vec<usize> = (0..holdout.len())
                .filter(|&i| holdout.treatments[i] == Some(a))
                .collect();
            let p_got: Vec<f64> = got.iter().map(|&i| scored[i].1[a]).collect();
            let labels_got: Vec<bool> = got.iter().map(|&i| holdout.labels[i]).collect();
            let both: Vec<usize> = got.iter().chain(&control).copied().collect();
            let uplift: Vec<f64> = both.iter().map(|&i| scored[i].1[a] - scored[i].0).collect();
            let treated: Vec<bool> = both
                .iter()
                .map(|&i| holdout.treatments[i].is_some())
                .collect();
            let outcome: Vec<bool> = both.iter().map(|&i| holdout.labels[i]).collect();
            ActionMetrics {
                action_id: id.clone(),
                rows: got.len(),
                conversion_rate: rate(&got),
                control_rate,
                auc: auc(&p_got, &labels_got),
                mean_predicted_uplift: uplift.iter().sum::<f64>() / uplift.len().max(1) as f64,
                uplift: uplift_scores(&uplift, &treated, &outcome),
                uplift_deciles: if got.is_empty() || control.is_empty() {
                    Vec::new()
                } else {
                    uplift_deciles(&uplift, &treated, &outcome)
                },
            }
        })
        .collect())
}

/// Judges predicted uplift against the simulator's truth on the holdout period's decision points.
pub(super) fn evaluate_truth(
    path: &Path,
    model: &dyn Scorer,
    data: &ConversionData,
    context: (
        &FeatureSpec,
        Option<&dyn TextScorer>,
        Option<Attributes<'_>>,
    ),
    windows: &ConversionWindows,
    (treatments, controls): (&[String], &[String]),
    role: Role,
) -> Result<TruthMetrics, TrainError> {
    // A retention model is judged on the simulator's 7-day churn, and its policy values are
    // churn prevented (the lower P(churn | action), the better).
    let (prefix, sign) = match role {
        Role::Retention => ("p_churn_7d__", -1.0),
        _ => ("p_convert__", 1.0),
    };
    let (spec, scorer, attributes) = context;
    let table = TypedTable::read(path, None, CUSTOMER_ID)?;
    let invalid = |problem: String| TrainError::from(InvalidSetting::new(KEY, problem));
    let column = |name: &str| {
        table
            .column(name)
            .ok_or_else(|| invalid(format!("{} has no column '{name}'", path.display())))
    };
    let time = column("timestamp")?;
    let control_id = controls
        .first()
        .ok_or_else(|| InvalidSetting::new("data.catalog", "no no-action entry to compare with"))?;
    let p_none = column(&format!("{prefix}{control_id}"))?;
    let p_treated: Vec<usize> = treatments
        .iter()
        .map(|t| column(&format!("{prefix}{t}")))
        .collect::<Result<_, _>>()?;
    let number = |col: usize, row: usize| match table.values[col][row] {
        AttrValue::Number(v) => Some(v),
        _ => None,
    };
    let mut selected: Vec<(usize, Timestamp)> = (0..table.keys.len())
        .filter_map(|i| match table.values[time][i] {
            AttrValue::Date(t)
                if windows.period(&table.keys[i], t) == Some(Period::Holdout)
                    && t.0 + windows.window <= data.data_end.0
                    && data.histories.contains_key(&table.keys[i]) =>
            {
                Some((i, t))
            }
            _ => None,
        })
        .collect();
    if selected.len() > MAX_TRUTH_POINTS {
        let step = selected.len().div_ceil(MAX_TRUTH_POINTS);
        selected = selected.into_iter().step_by(step).collect();
    }
    if selected.is_empty() {
        return Err(invalid(format!(
            "{} has no decision points in the holdout period",
            path.display()
        )));
    }
    let k = treatments.len();
    let width = spec.len() + k;
    let rows: Vec<f32> = selected
        .par_iter()
        .flat_map_iter(|&(i, at)| {
            let id = &table.keys[i];
            let history = data.histories.get(id).map(Vec::as_slice).unwrap_or(&[]);
            let before = history.partition_point(|e| e.timestamp < at);
            let attrs = attributes.and_then(|a| a.get(id));
            let mut accumulator = FeatureAccumulator::new(spec, at, scorer);
            for event in &history[..before] {
                accumulator.observe(event);
            }
            let mut row = accumulator.finish(attrs.as_deref());
            row.extend(std::iter::repeat_n(0.0, k));
            row
        })
        .collect();
    let scored = score_all_treatments(model, &rows, width, k)?;
    let mut truth_none = Vec::with_capacity(selected.len());
    let mut truth: Vec<Vec<f64>> = vec![Vec::with_capacity(selected.len()); k];
    for &(i, _) in &selected {
        let missing = || {
            invalid(format!(
                "{} row {} lacks a true probability",
                path.display(),
                table.rows[i]
            ))
        };
        truth_none.push(number(p_none, i).ok_or_else(missing)?);
        for (a, &col) in p_treated.iter().enumerate() {
            truth[a].push(number(col, i).ok_or_else(missing)?);
        }
    }
    let n = selected.len();
    let actions = treatments
        .iter()
        .enumerate()
        .map(|(a, id)| {
            let predicted_uplift: Vec<f64> = scored.iter().map(|s| s.1[a] - s.0).collect();
            let true_uplift: Vec<f64> = (0..n).map(|r| truth[a][r] - truth_none[r]).collect();
            let predicted_p: Vec<f64> = scored.iter().map(|s| s.1[a]).collect();
            TruthActionMetrics {
                action_id: id.clone(),
                uplift_correlation: correlation(&predicted_uplift, &true_uplift),
                mean_true_uplift: true_uplift.iter().sum::<f64>() / n as f64,
                mean_predicted_uplift: predicted_uplift.iter().sum::<f64>() / n as f64,
                p_convert_correlation: correlation(&predicted_p, &truth[a]),
            }
        })
        .collect();
    let (mut model_value, mut random_value, mut oracle_value) = (0.0, 0.0, 0.0);
    for r in 0..n {
        let true_uplift = |a: usize| sign * (truth[a][r] - truth_none[r]);
        let best = (0..k)
            .map(|a| (a, sign * (scored[r].1[a] - scored[r].0)))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        if let Some((a, predicted)) = best {
            if predicted > 0.0 {
                model_value += true_uplift(a);
            }
        }
        random_value += (0..k).map(true_uplift).sum::<f64>() / k.max(1) as f64;
        oracle_value += (0..k).map(true_uplift).fold(0.0, f64::max);
    }
    Ok(TruthMetrics {
        points: n,
        actions,
        model_policy_uplift: model_value / n as f64,
        random_policy_uplift: random_value / n as f64,
        oracle_policy_uplift: oracle_value / n as f64,
    })
}
