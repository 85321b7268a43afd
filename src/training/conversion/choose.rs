//! `uplift.learner = "auto"`: the learner with the best cross-validated Qini on the training
//! customers. The customers are dealt into folds by a salted hash of the id; each candidate is
//! fitted on every fold's complement and predicts the uplift of the fold's rows; per treatment,
//! the normalised Qini (scikit-uplift's `qini_auc_score`) of the pooled out-of-fold predictions
//! on that treatment's and the controls' rows; a candidate's score is the mean over treatments
//! weighted by their treated rows. Or (`choose_by = "policy_value"`) the inverse-propensity
//! estimate of what acting on the out-of-fold uplift earns over doing nothing. The holdout is
//! never looked at.

use serde::{Deserialize, Serialize};

use super::learners::{Learners, UpliftData};
use crate::fnv::Fnv1a;
use crate::models::ModelError;
use crate::stats::qini_auc_score;
use crate::training::config::{ChooseBy, UpliftLearner};

/// One candidate's cross-validated result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnerTrial {
    /// The learner (`s`, `t`, `x`, `dr`).
    pub learner: UpliftLearner,
    /// Mean normalised Qini over the treatments (none when it failed or no treatment had a
    /// Qini).
    pub qini: Option<f64>,
    /// Estimated value per decision of acting on the uplift, over doing nothing (with
    /// `choose_by = "policy_value"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_value: Option<f64>,
    /// Why it could not be fitted on some fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `auto` chose and from what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnerChoice {
    /// The winner.
    pub chosen: UpliftLearner,
    /// Folds of the training customers.
    pub folds: usize,
    /// What was maximised.
    #[serde(default = "by_qini")]
    pub by: ChooseBy,
    /// Every candidate, in the order tried.
    pub trials: Vec<LearnerTrial>,
}

fn by_qini() -> ChooseBy {
    ChooseBy::Qini
}

/// What acting on an uplift is worth: each treatment's value per conversion and cost.
#[derive(Clone, Debug)]
pub struct Pricing {
    /// Value of a conversion, per treatment.
    pub values: Vec<f64>,
    /// Cost of sending, per treatment.
    pub costs: Vec<f64>,
}

/// Picks among `candidates` (ties go to the earlier one) by `by` (`policy_value` needs
/// `pricing`). An error only when no candidate could be scored.
pub fn choose(
    learners: &Learners<'_>,
    data: &UpliftData,
    candidates: &[UpliftLearner],
    folds: usize,
    by: ChooseBy,
    pricing: Option<&Pricing>,
) -> Result<LearnerChoice, ModelError> {
    let mut salt = b"nextbest/uplift-learner-cv/".to_vec();
    salt.extend_from_slice(&learners.seed.to_le_bytes());
    let fold: Vec<usize> = data
        .customers
        .iter()
        .map(|c| Fnv1a::salted_bucket(&salt, c.as_bytes(), folds))
        .collect();
    let mut trials = Vec::with_capacity(candidates.len());
    for &learner in candidates {
        let trial = match out_of_fold_uplift(learners, learner, data, &fold, folds) {
            Ok(uplift) => LearnerTrial {
                learner,
                qini: mean_qini(data, &uplift),
                policy_value: pricing.map(|p| policy_value(data, &uplift, p)),
                error: None,
            },
            Err(e) => LearnerTrial {
                learner,
                qini: None,
                policy_value: None,
                error: Some(e.to_string()),
            },
        };
        trials.push(trial);
    }
    let score = |t: &LearnerTrial| match by {
        ChooseBy::Qini => t.qini,
        ChooseBy::PolicyValue => t.policy_value,
    };
    let best = trials
        .iter()
        .filter_map(|t| score(t).map(|q| (t.learner, q)))
        .fold(None::<(UpliftLearner, f64)>, |best, (l, q)| match best {
            Some((_, b)) if b >= q => best,
            _ => Some((l, q)),
        });
    match best {
        Some((chosen, _)) => Ok(LearnerChoice {
            chosen,
            folds,
            by,
            trials,
        }),
        None => Err(ModelError::Training(format!(
            "uplift.learner = \"auto\": no candidate could be scored by cross-validation ({})",
            trials
                .iter()
                .map(|t| format!(
                    "{}: {}",
                    t.learner.as_str(),
                    t.error.as_deref().unwrap_or("no Qini")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

/// Each row's predicted uplift under every treatment (row-major, `n_treatments` per row),
/// from the model fitted without the row's fold.
fn out_of_fold_uplift(
    learners: &Learners<'_>,
    learner: UpliftLearner,
    data: &UpliftData,
    fold: &[usize],
    folds: usize,
) -> Result<Vec<f64>, ModelError> {
    let (n, k, base) = (data.len(), data.n_treatments, data.n_base);
    let width = base + k;
    let mut uplift = vec![0.0; n * k];
    for f in 0..folds {
        let fit = data.subset(|i| fold[i] != f);
        let model = learners
            .fit(learner, &fit)
            .map_err(|e| ModelError::Training(format!("fold {}: {e}", f + 1)))?;
        let index: Vec<usize> = (0..n).filter(|&i| fold[i] == f).collect();
        // Each row under no action, then under each treatment.
        let mut rows = Vec::with_capacity(index.len() * (k + 1) * width);
        for &i in &index {
            let features = &data.rows[i * width..i * width + base];
            for variant in 0..=k {
                rows.extend_from_slice(features);
                rows.extend((0..k).map(|t| f32::from(u8::from(variant == t + 1))));
            }
        }
        let p = model.raw_proba(&rows, width)?;
        for (j, &i) in index.iter().enumerate() {
            let scored = &p[j * (k + 1)..(j + 1) * (k + 1)];
            for t in 0..k {
                uplift[i * k + t] = scored[t + 1] - scored[0];
            }
        }
    }
    Ok(uplift)
}

/// The mean Qini over treatments, weighted by their treated rows.
fn mean_qini(data: &UpliftData, uplift: &[f64]) -> Option<f64> {
    let k = data.n_treatments;
    let (mut total, mut weight) = (0.0, 0.0);
    for t in 0..k {
        let rows: Vec<usize> = (0..data.len())
            .filter(|&i| data.treatments[i].is_none_or(|a| a == t))
            .collect();
        let predicted: Vec<f64> = rows.iter().map(|&i| uplift[i * k + t]).collect();
        let treated: Vec<bool> = rows.iter().map(|&i| data.treatments[i].is_some()).collect();
        let outcome: Vec<bool> = rows.iter().map(|&i| data.labels[i]).collect();
        let n_treated = treated.iter().filter(|&&t| t).count() as f64;
        if let Some(q) = qini_auc_score(&predicted, &treated, &outcome, true) {
            total += q * n_treated;
            weight += n_treated;
        }
    }
    (weight > 0.0).then(|| total / weight)
}

/// The inverse-propensity estimate of the incremental value per decision of the greedy policy
/// on `uplift`: at each row the treatment with the highest uplift × value − cost, or nothing
/// when none is positive. A row whose logged action is the policy's pick counts its conversion
/// value / p; a control row where the policy would act counts −(its conversion × that value) /
/// p (what would have come anyway); every pick costs its cost. p is the row's logged
/// propensity, or its action's share of the rows.
fn policy_value(data: &UpliftData, uplift: &[f64], pricing: &Pricing) -> f64 {
    let (n, k) = (data.len(), data.n_treatments);
    let share = data.action_shares();
    let mut total = 0.0;
    for i in 0..n {
        let pick = (0..k)
            .map(|t| (t, uplift[i * k + t] * pricing.values[t] - pricing.costs[t]))
            .filter(|(_, score)| *score > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t);
        let Some(pick) = pick else { continue };
        let p = data.propensity(i, &share);
        let y = f64::from(u8::from(data.labels[i]));
        total -= pricing.costs[pick];
        match data.treatments[i] {
            Some(t) if t == pick => total += y * pricing.values[pick] / p,
            None => total -= y * pricing.values[pick] / p,
            Some(_) => {}
        }
    }
    total / n as f64
}
