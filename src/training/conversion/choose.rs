//! `uplift.learner = "auto"`: the learner with the best cross-validated Qini on the training
//! customers. The customers are dealt into folds by a salted hash of the id; each candidate is
//! fitted on every fold's complement and predicts the uplift of the fold's rows; per treatment,
//! the normalised Qini (scikit-uplift's `qini_auc_score`) of the pooled out-of-fold predictions
//! on that treatment's and the controls' rows; a candidate's score is the mean over treatments
//! weighted by their treated rows. The holdout is never looked at.

use serde::{Deserialize, Serialize};

use super::learners::{Learners, UpliftData};
use crate::fnv::Fnv1a;
use crate::models::ModelError;
use crate::stats::qini_auc_score;
use crate::training::config::UpliftLearner;

/// One candidate's cross-validated result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnerTrial {
    /// The learner (`s`, `t`, `x`, `dr`).
    pub learner: UpliftLearner,
    /// Mean normalised Qini over the treatments (none when it failed or no treatment had a
    /// Qini).
    pub qini: Option<f64>,
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
    /// Every candidate, in the order tried.
    pub trials: Vec<LearnerTrial>,
}

/// Picks among `candidates` (ties go to the earlier one). An error only when no candidate
/// could be scored.
pub fn choose(
    learners: &Learners<'_>,
    data: &UpliftData,
    candidates: &[UpliftLearner],
    folds: usize,
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
                error: None,
            },
            Err(e) => LearnerTrial {
                learner,
                qini: None,
                error: Some(e.to_string()),
            },
        };
        trials.push(trial);
    }
    let best = trials
        .iter()
        .filter_map(|t| t.qini.map(|q| (t.learner, q)))
        .fold(None::<(UpliftLearner, f64)>, |best, (l, q)| match best {
            Some((_, b)) if b >= q => best,
            _ => Some((l, q)),
        });
    match best {
        Some((chosen, _)) => Ok(LearnerChoice {
            chosen,
            folds,
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
