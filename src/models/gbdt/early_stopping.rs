//! Early stopping: choosing the number of trees and the setting (depth × minimum leaf weight)
//! on one validation split or by cross-validation, like LightGBM's `cv`.

use super::fit::{salt, Grower, Training};
use super::params::{Setting, DEFAULT_VALIDATION_FRACTION};
use super::report::{CrossValidation, CvTrial, DepthTrial, EarlyStopping};
use crate::fnv::Fnv1a;
use crate::models::ModelError;

/// Scans a validation loss curve the way forust's early stopping does: the index of the
/// lowest loss so far, and the index at which `patience` rounds have passed without a strict
/// improvement (none if the curve ends first).
pub(super) fn early_stop(curve: &[f64], patience: usize) -> (usize, Option<usize>) {
    let mut best = 0;
    for (i, &loss) in curve.iter().enumerate() {
        if loss < curve[best] {
            best = i;
        } else if i - best >= patience {
            return (best, Some(i));
        }
    }
    (best, None)
}

/// Index of the first item with the lowest loss (ties keep the earlier item).
fn first_lowest<T>(items: &[T], loss: impl Fn(&T) -> f64) -> Result<usize, ModelError> {
    items
        .iter()
        .enumerate()
        .fold(None::<usize>, |best, (i, t)| match best {
            Some(b) if loss(&items[b]) <= loss(t) => Some(b),
            _ => Some(i),
        })
        .ok_or_else(|| ModelError::Training("gbdt: no setting to try".into()))
}

impl Grower<'_> {
    /// Early stopping on one validation split: each setting grows trees on the rest until the
    /// validation loss stops improving.
    pub(super) fn validation_split(
        &self,
        data: &Training<'_>,
        patience: usize,
    ) -> Result<(Setting, usize, EarlyStopping), ModelError> {
        let params = self.params;
        let salt = salt(b"nextbest/gbdt-validation/", self.seed);
        let fraction = params
            .validation_fraction
            .unwrap_or(DEFAULT_VALIDATION_FRACTION);
        let (fit, val) = data.partition(|i| Fnv1a::in_salted_share(&salt, &data.key(i), fraction));
        if fit.n == 0 || val.n == 0 {
            return Err(ModelError::Training(format!(
                "gbdt.validation_fraction: {fraction} of {} rows leaves {} to fit and {} to validate; early stopping needs both",
                data.y.len(),
                fit.n,
                val.n
            )));
        }
        let mut trials = Vec::new();
        for setting in params.settings() {
            let search = self.boost(
                &fit,
                setting,
                params.iterations,
                Some((&val, Some(patience))),
            )?;
            let best = search.best_iteration.unwrap_or(0);
            let loss = Self::history(&search)
                .get(best)
                .copied()
                .unwrap_or(f64::INFINITY);
            trials.push(DepthTrial {
                max_depth: setting.max_depth,
                min_leaf_weight: setting.min_leaf_weight,
                best_iterations: best + 1,
                hit_limit: search.trees.len() == params.iterations
                    && best + patience >= params.iterations,
                validation_log_loss: loss,
            });
        }
        // Lowest validation loss; on a tie the first (see `GbdtParams::settings`).
        let chosen = &trials[first_lowest(&trials, |t| t.validation_log_loss)?];
        let setting = Setting {
            max_depth: chosen.max_depth,
            min_leaf_weight: chosen.min_leaf_weight,
        };
        let iterations = chosen.best_iterations;
        Ok((
            setting,
            iterations,
            EarlyStopping {
                fit_rows: fit.n,
                validation_rows: val.n,
                validation_positives: val.positives(),
                trials,
            },
        ))
    }

    /// Cross-validated early stopping, as LightGBM's `cv`: the groups are dealt into `folds`;
    /// for each setting, every fold's complement grows trees while the fold records its
    /// validation loss after each one, and the search stops once the loss pooled over all
    /// folds has not improved for `patience` rounds. Fold models are grown to a budget that
    /// doubles until the pooled loss has stopped (forust cannot add trees to a fitted model;
    /// the first trees of a longer fit are the same trees, so this equals growing the folds in
    /// lockstep).
    pub(super) fn cross_validate(
        &self,
        data: &Training<'_>,
        folds: usize,
        patience: usize,
    ) -> Result<(Setting, usize, CrossValidation), ModelError> {
        let params = self.params;
        let fold_of = data.folds(folds, self.seed);
        let mut sets = Vec::with_capacity(folds);
        for fold in 0..folds {
            let (fit, val) = data.partition(|i| fold_of[i] == fold);
            if fit.n == 0 || val.n == 0 {
                return Err(ModelError::Training(format!(
                    "gbdt.cv_folds: {folds} folds of {} rows leave fold {} with {} rows to validate and {} to fit; every fold needs both (fewer folds, or more customers)",
                    data.y.len(),
                    fold + 1,
                    val.n,
                    fit.n
                )));
            }
            sets.push((fit, val));
        }
        let validated = sets.iter().map(|(_, val)| val.n).sum::<usize>() as f64;
        // A first budget that usually suffices: the best iteration plus the patience.
        let first_budget = params.iterations.min(patience.saturating_mul(4).max(100));
        let mut trials = Vec::new();
        let mut curves = Vec::new();
        for setting in params.settings() {
            let mut budget = first_budget;
            let (pooled, fold_curves, best, stopped) = loop {
                let fold_curves = sets
                    .iter()
                    .map(|(fit, val)| {
                        self.boost(fit, setting, budget, Some((val, None)))
                            .map(|b| Self::history(&b))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let length = fold_curves.iter().map(Vec::len).min().unwrap_or(0);
                // Row-weighted, so it is the log loss over all out-of-fold predictions.
                let pooled: Vec<f64> = (0..length)
                    .map(|t| {
                        sets.iter()
                            .zip(&fold_curves)
                            .map(|((_, val), curve)| curve[t] * val.n as f64)
                            .sum::<f64>()
                            / validated
                    })
                    .collect();
                let (best, stop) = early_stop(&pooled, patience);
                if let Some(stop) = stop {
                    break (pooled[..=stop].to_vec(), fold_curves, best, true);
                }
                if budget >= params.iterations {
                    break (pooled, fold_curves, best, false);
                }
                budget = budget.saturating_mul(2).min(params.iterations);
            };
            trials.push(CvTrial {
                max_depth: setting.max_depth,
                min_leaf_weight: setting.min_leaf_weight,
                best_iterations: best + 1,
                hit_limit: !stopped,
                log_loss: pooled.get(best).copied().unwrap_or(f64::INFINITY),
                fold_log_loss: fold_curves
                    .iter()
                    .map(|c| c.get(best).copied().unwrap_or(f64::INFINITY))
                    .collect(),
            });
            curves.push(pooled);
        }
        let index = first_lowest(&trials, |t| t.log_loss)?;
        // About 25 points from the first tree to where the search stopped.
        let curve = curves.swap_remove(index);
        let curve_step = curve.len().div_ceil(25).max(1);
        let report = CrossValidation {
            folds,
            fold_rows: sets.iter().map(|(_, val)| val.n).collect(),
            fold_positives: sets.iter().map(|(_, val)| val.positives()).collect(),
            chosen_curve: curve.iter().step_by(curve_step).copied().collect(),
            curve_step,
            trials: trials.clone(),
        };
        let chosen = &trials[index];
        Ok((
            Setting {
                max_depth: chosen.max_depth,
                min_leaf_weight: chosen.min_leaf_weight,
            },
            chosen.best_iterations,
            report,
        ))
    }
}
