//! The booster's hyper-parameters: unchecked as read from a config, checked once into
//! [`GbdtValidParams`], and the settings early stopping searches over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::models::params::{require, InvalidSetting, ParamGuard};

/// Share of the training rows early stopping sets aside when `validation_fraction` is absent.
pub const DEFAULT_VALIDATION_FRACTION: f64 = 0.2;

/// How P(positive) must move as a feature grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monotone {
    /// Never falls as the feature grows.
    Increasing,
    /// Never rises as the feature grows.
    Decreasing,
}

/// Hyper-parameters as a config states them (unchecked); [`ParamGuard::check`] makes them
/// [`GbdtValidParams`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GbdtParams {
    /// Boosting rounds (1..=5000).
    pub iterations: usize,
    /// Shrinkage per round (0 < η ≤ 1).
    pub learning_rate: f64,
    /// Maximum tree depth (1..=16).
    pub max_depth: usize,
    /// L2 regularisation of leaf weights (≥ 0).
    pub l2: f64,
    /// Minimum hessian sum per leaf (≥ 0).
    pub min_leaf_weight: f64,
    /// Row subsample per round (0 < s ≤ 1).
    pub subsample: f64,
    /// Column subsample per tree (0 < c ≤ 1).
    pub colsample_bytree: f64,
    /// Histogram bins per feature (2..=255).
    pub nbins: u16,
    /// Early stopping (off when absent): set aside validation rows (`validation_fraction`, or
    /// each of `cv_folds` in turn), add trees until their log loss has not improved for this
    /// many rounds (1..=5000), then refit on every training row with the best number of trees.
    pub early_stopping_rounds: Option<usize>,
    /// Share of the training rows set aside for early stopping (0 < f ≤ 0.5; 0.2 when absent);
    /// whole customers when the caller passes customer ids, so no customer is on both sides.
    /// Not with `cv_folds`, where every fold is validated in turn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// Cross-validated early stopping (2..=20 folds; needs `early_stopping_rounds`): the
    /// customers are dealt into this many folds by a salted hash of the id, every candidate
    /// setting is grown on each fold's complement, and the setting and number of trees with
    /// the lowest log loss over all held-out folds win. Slower than one validation split by
    /// about the number of folds, and much less noisy on small data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv_folds: Option<usize>,
    /// Further depths to try besides `max_depth` (at most 8, each 1..=16) when early stopping;
    /// the setting with the lowest validation log loss wins, ties going to the shallower tree.
    pub max_depth_candidates: Vec<usize>,
    /// Further minimum leaf weights to try besides `min_leaf_weight` (at most 8, each finite
    /// and ≥ 0) when early stopping, crossed with the depths; ties go to the larger weight.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub min_leaf_weight_candidates: Vec<f64>,
    /// Monotone constraints by feature name: the model's P(positive) may only rise
    /// (`increasing`) or only fall (`decreasing`) as that feature grows, all else equal. For
    /// relations known before seeing the data (more days since the last purchase, more churn);
    /// they keep small-data trees from fitting noise against them. Names are checked against
    /// the model's features when training starts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub monotone: BTreeMap<String, Monotone>,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            iterations: 300,
            learning_rate: 0.05,
            max_depth: 3,
            l2: 1.0,
            min_leaf_weight: 20.0,
            subsample: 0.8,
            colsample_bytree: 0.8,
            nbins: 255,
            early_stopping_rounds: None,
            validation_fraction: None,
            cv_folds: None,
            max_depth_candidates: Vec::new(),
            min_leaf_weight_candidates: Vec::new(),
            monotone: BTreeMap::new(),
        }
    }
}

/// Checked [`GbdtParams`]: what [`super::GbdtModel::fit_grouped`] takes. Only
/// [`ParamGuard::check`] builds one, so fitting never meets an out-of-range value.
#[derive(Clone, Debug, PartialEq)]
pub struct GbdtValidParams(GbdtParams);

impl std::ops::Deref for GbdtValidParams {
    type Target = GbdtParams;

    fn deref(&self) -> &GbdtParams {
        &self.0
    }
}

impl ParamGuard for GbdtParams {
    type Checked = GbdtValidParams;

    /// Checks every range, naming the offending key. Monotone feature names need the model's
    /// features: see [`GbdtParams::monotone_columns`].
    fn check(&self) -> Result<GbdtValidParams, InvalidSetting> {
        let within = |key: &str, ok: bool, expected: &str, got: String| {
            require(ok, &format!("gbdt.{key}"), expected, got)
        };
        within(
            "iterations",
            (1..=5000).contains(&self.iterations),
            "within 1..=5000",
            self.iterations.to_string(),
        )?;
        within(
            "learning_rate",
            self.learning_rate > 0.0 && self.learning_rate <= 1.0,
            "in (0, 1]",
            self.learning_rate.to_string(),
        )?;
        within(
            "max_depth",
            (1..=16).contains(&self.max_depth),
            "within 1..=16",
            self.max_depth.to_string(),
        )?;
        within(
            "l2",
            self.l2 >= 0.0 && self.l2.is_finite(),
            "a finite number ≥ 0",
            self.l2.to_string(),
        )?;
        within(
            "min_leaf_weight",
            self.min_leaf_weight >= 0.0 && self.min_leaf_weight.is_finite(),
            "a finite number ≥ 0",
            self.min_leaf_weight.to_string(),
        )?;
        within(
            "subsample",
            self.subsample > 0.0 && self.subsample <= 1.0,
            "in (0, 1]",
            self.subsample.to_string(),
        )?;
        within(
            "colsample_bytree",
            self.colsample_bytree > 0.0 && self.colsample_bytree <= 1.0,
            "in (0, 1]",
            self.colsample_bytree.to_string(),
        )?;
        within(
            "nbins",
            (2..=255).contains(&self.nbins),
            "within 2..=255",
            self.nbins.to_string(),
        )?;
        if let Some(rounds) = self.early_stopping_rounds {
            within(
                "early_stopping_rounds",
                (1..=5000).contains(&rounds),
                "within 1..=5000",
                rounds.to_string(),
            )?;
        }
        if let Some(fraction) = self.validation_fraction {
            within(
                "validation_fraction",
                fraction > 0.0 && fraction <= 0.5,
                "in (0, 0.5]",
                fraction.to_string(),
            )?;
        }
        if let Some(folds) = self.cv_folds {
            within(
                "cv_folds",
                (2..=20).contains(&folds),
                "within 2..=20",
                folds.to_string(),
            )?;
            within(
                "cv_folds",
                self.early_stopping_rounds.is_some(),
                "absent unless early_stopping_rounds is set (the folds choose the number of trees)",
                folds.to_string(),
            )?;
            if let Some(fraction) = self.validation_fraction {
                within(
                    "validation_fraction",
                    false,
                    "absent when cv_folds is set (each fold is validated in turn)",
                    fraction.to_string(),
                )?;
            }
        }
        let depths = &self.max_depth_candidates;
        within(
            "max_depth_candidates",
            depths.len() <= 8 && depths.iter().all(|d| (1..=16).contains(d)),
            "at most 8 depths, each within 1..=16",
            format!("{depths:?}"),
        )?;
        within(
            "max_depth_candidates",
            depths.is_empty() || self.early_stopping_rounds.is_some(),
            "empty unless early_stopping_rounds is set (depths are chosen on the validation rows)",
            format!("{depths:?}"),
        )?;
        let weights = &self.min_leaf_weight_candidates;
        within(
            "min_leaf_weight_candidates",
            weights.len() <= 8 && weights.iter().all(|w| *w >= 0.0 && w.is_finite()),
            "at most 8 weights, each a finite number ≥ 0",
            format!("{weights:?}"),
        )?;
        within(
            "min_leaf_weight_candidates",
            weights.is_empty() || self.early_stopping_rounds.is_some(),
            "empty unless early_stopping_rounds is set (weights are chosen on the validation rows)",
            format!("{weights:?}"),
        )?;
        Ok(GbdtValidParams(self.clone()))
    }
}

impl GbdtParams {
    /// The monotone constraints as (column, direction) in column order, given the names of the
    /// model's input columns; an unknown name is an error naming its key.
    pub fn monotone_columns(
        &self,
        names: &[String],
    ) -> Result<Vec<(usize, Monotone)>, InvalidSetting> {
        let mut columns = Vec::with_capacity(self.monotone.len());
        for (name, &direction) in &self.monotone {
            let Some(column) = names.iter().position(|n| n == name) else {
                return Err(InvalidSetting::new(
                    format!("gbdt.monotone.{name}"),
                    format!(
                        "not a feature of this model (its features: {})",
                        names.join(", ")
                    ),
                ));
            };
            columns.push((column, direction));
        }
        columns.sort_unstable_by_key(|&(column, _)| column);
        Ok(columns)
    }

    /// The settings early stopping compares: every depth with every minimum leaf weight,
    /// shallowest first and, within a depth, the largest weight first, so that ties (kept by
    /// the first) go to the more regularised model.
    pub(super) fn settings(&self) -> Vec<Setting> {
        let mut depths = self.max_depth_candidates.clone();
        depths.push(self.max_depth);
        depths.sort_unstable();
        depths.dedup();
        let mut weights = self.min_leaf_weight_candidates.clone();
        weights.push(self.min_leaf_weight);
        weights.sort_unstable_by(|a, b| b.total_cmp(a));
        weights.dedup();
        depths
            .iter()
            .flat_map(|&max_depth| {
                weights.iter().map(move |&min_leaf_weight| Setting {
                    max_depth,
                    min_leaf_weight,
                })
            })
            .collect()
    }
}

/// The hyper-parameters early stopping searches over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Setting {
    pub(super) max_depth: usize,
    pub(super) min_leaf_weight: f64,
}
