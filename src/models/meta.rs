//! Uplift meta-learners as one estimator: the T-, X- and DR-learners' fitted parts, scored
//! through the same rows as the S-learner (customer features, then one indicator per
//! treatment), so serving, batch scoring, explanation and off-policy evaluation read every
//! learner alike.
//!
//! A row with no indicator set is scored by the control model, P(y | x, no action). A row with
//! treatment `a`'s indicator set is scored by that arm:
//! - a **response** arm (T-learner) is its own model of P(y | x, a);
//! - an **effect** arm (X- and DR-learners) is a model of the uplift τₐ(x), added to the control
//!   model's probability and clamped into (0, 1).
//!
//! Fitting lives in `training::conversion::learners`; this module only predicts.

use serde::{Deserialize, Serialize};

use super::gbdt::GbdtModel;
use super::{check_rows, Estimator, ModelError};

/// The meta-learners besides the S-learner (which is a plain estimator with indicators).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaLearner {
    /// One response model per arm and one for the controls.
    T,
    /// T-learner responses, then the imputed effects regressed per arm and blended by the
    /// share of treated rows (Künzel et al., 2019).
    X,
    /// Doubly robust pseudo-outcomes (cross-fitted responses, logged or estimated
    /// propensities) regressed per arm (Kennedy, 2020).
    Dr,
}

/// The probability a clamped effect arm never goes beyond, so a log loss stays finite.
const EDGE: f64 = 1e-6;

/// One part of an effect arm: a squared-error model of the uplift and its blend weight.
#[derive(Debug, Serialize, Deserialize)]
pub struct EffectPart {
    /// Weight of this part in the arm's uplift (the parts' weights sum to 1).
    pub weight: f64,
    /// τ(x) on the customer features.
    pub model: GbdtModel,
}

/// How one treatment is scored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arm {
    /// P(y | x, a) directly.
    Response {
        /// The arm's own model on the customer features.
        model: Box<Estimator>,
    },
    /// P(y | x, none) + τₐ(x), with τₐ the weighted sum of the parts.
    Effect {
        /// The uplift models.
        parts: Vec<EffectPart>,
    },
}

/// A fitted T-, X- or DR-learner (see the module documentation).
#[derive(Debug, Serialize, Deserialize)]
pub struct MetaModel {
    /// Which learner fitted it.
    pub learner: MetaLearner,
    /// Number of customer features; rows carry one indicator per arm after them.
    pub n_base: usize,
    /// P(y | x, no action) on the customer features.
    pub control: Box<Estimator>,
    /// One per treatment, in indicator order.
    pub arms: Vec<Arm>,
}

impl MetaModel {
    /// Columns of the rows it scores: the customer features and one indicator per arm.
    pub fn n_features(&self) -> usize {
        self.n_base + self.arms.len()
    }

    /// The arm a row is for: the first indicator set (1-based), or 0 for a control row.
    fn arm_of(&self, row: &[f32]) -> usize {
        row[self.n_base..]
            .iter()
            .position(|&v| v > 0.5)
            .map_or(0, |a| a + 1)
    }

    /// Uncalibrated P(y) of each row, each scored by the model of the arm its indicator names.
    pub fn raw_proba(&self, rows: &[f32], n_features: usize) -> Result<Vec<f64>, ModelError> {
        let n = check_rows(rows, n_features, Some(self.n_features()))?;
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.arms.len() + 1];
        for (i, row) in rows.chunks_exact(n_features).enumerate() {
            members[self.arm_of(row)].push(i);
        }
        let mut out = vec![0.0; n];
        for (group, rows_of) in members.iter().enumerate() {
            if rows_of.is_empty() {
                continue;
            }
            let mut base = Vec::with_capacity(rows_of.len() * self.n_base);
            for &i in rows_of {
                base.extend_from_slice(&rows[i * n_features..i * n_features + self.n_base]);
            }
            let p = match group.checked_sub(1).map(|a| &self.arms[a]) {
                None => self.control.raw_proba(&base, self.n_base)?,
                Some(Arm::Response { model }) => model.raw_proba(&base, self.n_base)?,
                Some(Arm::Effect { parts }) => {
                    let mut p = self.control.raw_proba(&base, self.n_base)?;
                    for part in parts {
                        let tau = part.model.predict_value(&base, self.n_base)?;
                        for (p, tau) in p.iter_mut().zip(tau) {
                            *p += part.weight * tau;
                        }
                    }
                    p.into_iter().map(|p| p.clamp(EDGE, 1.0 - EDGE)).collect()
                }
            };
            for (&i, p) in rows_of.iter().zip(p) {
                out[i] = p;
            }
        }
        Ok(out)
    }

    /// Importance per input column: each part's importance over the customer features,
    /// averaged over the control model and the arms; the indicators get none (an arm is a
    /// model of its own, not a split on its indicator).
    pub fn feature_importance(&self) -> Vec<f64> {
        let mut total = vec![0.0; self.n_features()];
        let mut add = |importance: Vec<f64>| {
            for (t, v) in total.iter_mut().zip(importance) {
                *t += v;
            }
        };
        add(self.control.feature_importance(self.n_base));
        for arm in &self.arms {
            match arm {
                Arm::Response { model } => add(model.feature_importance(self.n_base)),
                Arm::Effect { parts } => {
                    for part in parts {
                        add(part
                            .model
                            .feature_importance(self.n_base)
                            .into_iter()
                            .map(|v| v * part.weight)
                            .collect());
                    }
                }
            }
        }
        let sum: f64 = total.iter().sum();
        if sum > 0.0 {
            total.iter_mut().for_each(|v| *v /= sum);
        }
        total
    }
}
