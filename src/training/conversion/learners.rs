//! The uplift learners, fitted on a conversion trainer's points.
//!
//! - **S**: one model of P(y | x, a) with an indicator per treatment (the configured learner
//!   on every row).
//! - **T**: one model per arm, each on its own rows.
//! - **X**: the T-learner's responses impute each row's effect — a treated row's
//!   y − μ₀(x), a control row's μₐ(x) − y — and two squared-error boosters per arm regress
//!   them, blended by the share of treated rows: τₐ = g·τₐ⁰ + (1 − g)·τₐ¹.
//! - **DR**: responses cross-fitted on two halves of the customers give each row the doubly
//!   robust pseudo-outcome of every arm, μₐ − μ₀ + 1[T=a](y − μₐ)/p − 1[T=0](y − μ₀)/p, with
//!   p the logged propensity of the row's own action (or, when the log has none, that
//!   action's share of the rows); one booster per arm regresses it.
//!
//! Every learner's result is an [`Estimator`] that scores the S-learner's rows (see
//! [`crate::models::meta`]). Inverse-propensity weights, when given, weigh the classification
//! fits and the X-learner's regressions; the DR-learner's pseudo-outcomes carry the
//! propensities themselves.

use crate::fnv::Fnv1a;
use crate::models::gbdt::{GbdtModel, GbdtParams, GbdtValidParams, WeightedRows};
use crate::models::learner::{Learner, TrainingRows};
use crate::models::meta::{Arm, EffectPart, MetaLearner, MetaModel};
use crate::models::params::ParamGuard;
use crate::models::{Estimator, ModelError};
use crate::training::config::UpliftLearner;

/// The smallest propensity the DR-learner divides by (larger weights are capped there).
const MIN_PROPENSITY: f64 = 0.01;

/// Training points as the learners see them (owned, so folds can be cut from them).
#[derive(Clone, Debug, Default)]
pub struct UpliftData {
    /// Row-major: `n_base` customer features, then `n_treatments` indicators.
    pub rows: Vec<f32>,
    /// Customer features per row.
    pub n_base: usize,
    /// Treatments (indicator columns).
    pub n_treatments: usize,
    /// Each row's treatment (`None`: control).
    pub treatments: Vec<Option<usize>>,
    /// Each row's outcome.
    pub labels: Vec<bool>,
    /// Each row's customer (keeps a customer's rows together in splits).
    pub customers: Vec<String>,
    /// The logged propensity of each row's action, when known.
    pub propensities: Vec<Option<f64>>,
    /// Inverse-propensity weights (none: every row weighs 1).
    pub weights: Option<Vec<f64>>,
}

impl UpliftData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn width(&self) -> usize {
        self.n_base + self.n_treatments
    }

    /// The rows `keep` selects.
    pub fn subset(&self, keep: impl Fn(usize) -> bool) -> UpliftData {
        let width = self.width();
        let mut out = UpliftData {
            n_base: self.n_base,
            n_treatments: self.n_treatments,
            weights: self.weights.as_ref().map(|_| Vec::new()),
            ..UpliftData::default()
        };
        for i in (0..self.len()).filter(|&i| keep(i)) {
            out.rows
                .extend_from_slice(&self.rows[i * width..(i + 1) * width]);
            out.treatments.push(self.treatments[i]);
            out.labels.push(self.labels[i]);
            out.customers.push(self.customers[i].clone());
            out.propensities.push(self.propensities[i]);
            if let (Some(w), Some(all)) = (out.weights.as_mut(), &self.weights) {
                w.push(all[i]);
            }
        }
        out
    }

    /// Each action's share of the rows (index 0 the controls, `a + 1` treatment `a`): the
    /// propensity of rows the log gives none.
    pub(super) fn action_shares(&self) -> Vec<f64> {
        let mut share = vec![0.0; self.n_treatments + 1];
        for t in &self.treatments {
            share[t.map_or(0, |a| a + 1)] += 1.0 / self.len() as f64;
        }
        share
    }

    /// The propensity of row `i`'s own action: logged, or its share of the rows
    /// ([`UpliftData::action_shares`]); floored at 0.01 so no row weighs more than 100.
    pub(super) fn propensity(&self, i: usize, shares: &[f64]) -> f64 {
        let own = self.treatments[i].map_or(0, |a| a + 1);
        self.propensities[i]
            .unwrap_or(shares[own])
            .max(MIN_PROPENSITY)
    }

    /// The customer features of row `i`.
    fn base(&self, i: usize) -> &[f32] {
        let start = i * self.width();
        &self.rows[start..start + self.n_base]
    }

    /// The customer features, labels, customers and weights of the rows of one arm.
    fn arm(&self, arm: Option<usize>) -> ArmRows {
        let mut out = ArmRows::default();
        for i in (0..self.len()).filter(|&i| self.treatments[i] == arm) {
            out.rows.extend_from_slice(self.base(i));
            out.labels.push(self.labels[i]);
            out.customers.push(self.customers[i].clone());
            out.index.push(i);
            if let Some(w) = &self.weights {
                out.weights.push(w[i]);
            }
        }
        out
    }
}

/// One arm's rows (customer features only).
#[derive(Default)]
struct ArmRows {
    rows: Vec<f32>,
    labels: Vec<bool>,
    customers: Vec<String>,
    weights: Vec<f64>,
    /// Row numbers in the whole set.
    index: Vec<usize>,
}

/// Inverse-propensity weights, scaled to mean 1: each row's 1 / max(p, 0.01). `None` unless
/// every row has a logged propensity and they are not all equal (a uniform logging policy
/// needs no weights).
pub fn propensity_weights(propensities: &[Option<f64>]) -> Option<Vec<f64>> {
    let p: Vec<f64> = propensities.iter().copied().collect::<Option<_>>()?;
    let first = *p.first()?;
    if p.iter().all(|&q| (q - first).abs() < 1e-12) {
        return None;
    }
    let raw: Vec<f64> = p.iter().map(|&q| 1.0 / q.max(MIN_PROPENSITY)).collect();
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    Some(raw.into_iter().map(|w| w / mean).collect())
}

/// What the learners share: the configured classifier, the column names and the seed.
pub struct Learners<'a> {
    /// The configured algorithm and its parameters (every response model uses it).
    pub learner: &'a Learner,
    /// Names of every input column (customer features, then the indicators).
    pub names: &'a [String],
    /// Treatment ids, in indicator order (for messages).
    pub treatments: &'a [String],
    /// Seed of every fit.
    pub seed: u64,
}

impl Learners<'_> {
    /// Fits `which` on `data`.
    pub fn fit(&self, which: UpliftLearner, data: &UpliftData) -> Result<Estimator, ModelError> {
        if data.is_empty() {
            return Err(ModelError::Training("no training points".into()));
        }
        match which {
            UpliftLearner::S => Ok(self
                .learner
                .fit(
                    &TrainingRows {
                        rows: &data.rows,
                        n_features: data.width(),
                        labels: &data.labels,
                        groups: Some(&data.customers),
                        names: self.names,
                        weights: data.weights.as_deref(),
                    },
                    self.seed,
                )?
                .estimator),
            UpliftLearner::T => {
                let (control, arms) = self.responses(data)?;
                Ok(meta(
                    MetaLearner::T,
                    data,
                    control,
                    arms.into_iter()
                        .map(|m| Arm::Response { model: Box::new(m) })
                        .collect(),
                ))
            }
            UpliftLearner::X => self.x_learner(data),
            UpliftLearner::Dr => self.dr_learner(data),
        }
    }

    /// The arm's name for messages.
    fn arm_name(&self, arm: Option<usize>) -> &str {
        arm.and_then(|a| self.treatments.get(a))
            .map_or("the controls (no action)", String::as_str)
    }

    /// The configured classifier on one arm's rows: P(y | x) for that arm.
    fn response(&self, data: &UpliftData, arm: Option<usize>) -> Result<Estimator, ModelError> {
        let rows = data.arm(arm);
        let weights = data.weights.as_ref().map(|_| rows.weights.as_slice());
        self.learner
            .fit(
                &TrainingRows {
                    rows: &rows.rows,
                    n_features: data.n_base,
                    labels: &rows.labels,
                    groups: Some(&rows.customers),
                    names: &self.names[..data.n_base],
                    weights,
                },
                self.seed,
            )
            .map(|f| f.estimator)
            .map_err(|e| {
                ModelError::Training(format!(
                    "{}: {e} ({} training points; a per-arm learner needs both outcomes in every arm — the S-learner does not)",
                    self.arm_name(arm),
                    rows.labels.len()
                ))
            })
    }

    /// The control model and one response model per arm.
    fn responses(&self, data: &UpliftData) -> Result<(Estimator, Vec<Estimator>), ModelError> {
        let control = self.response(data, None)?;
        let arms = (0..data.n_treatments)
            .map(|a| self.response(data, Some(a)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((control, arms))
    }

    /// A squared-error booster of `targets` on the customer features of rows `index`.
    fn regress(
        &self,
        data: &UpliftData,
        index: &[usize],
        targets: &[f64],
        weighted: bool,
    ) -> Result<GbdtModel, ModelError> {
        let rows: Vec<f32> = index
            .iter()
            .flat_map(|&i| data.base(i).iter().copied())
            .collect();
        let customers: Vec<String> = index.iter().map(|&i| data.customers[i].clone()).collect();
        let weights: Option<Vec<f64>> = data
            .weights
            .as_ref()
            .filter(|_| weighted)
            .map(|w| index.iter().map(|&i| w[i]).collect());
        let params = regression_params(self.learner)?;
        GbdtModel::fit_regression(
            &WeightedRows {
                rows: &rows,
                n_features: data.n_base,
                weights: weights.as_deref(),
                groups: Some(&customers),
                names: None,
            },
            targets,
            &params,
            self.seed,
        )
        .map(|(model, _)| model)
    }

    fn x_learner(&self, data: &UpliftData) -> Result<Estimator, ModelError> {
        let (control, arms) = self.responses(data)?;
        let controls = data.arm(None);
        let weight_sum = |rows: &ArmRows| match &data.weights {
            Some(_) => rows.weights.iter().sum::<f64>(),
            None => rows.labels.len() as f64,
        };
        let mut effect_arms = Vec::with_capacity(arms.len());
        for (a, mu_a) in arms.iter().enumerate() {
            let treated = data.arm(Some(a));
            let mu0 = control.raw_proba(&treated.rows, data.n_base)?;
            let imputed_treated: Vec<f64> = treated
                .labels
                .iter()
                .zip(&mu0)
                .map(|(&y, m)| f64::from(u8::from(y)) - m)
                .collect();
            let mu_a_controls = mu_a.raw_proba(&controls.rows, data.n_base)?;
            let imputed_controls: Vec<f64> = controls
                .labels
                .iter()
                .zip(&mu_a_controls)
                .map(|(&y, m)| m - f64::from(u8::from(y)))
                .collect();
            let tau_treated = self.regress(data, &treated.index, &imputed_treated, true)?;
            let tau_control = self.regress(data, &controls.index, &imputed_controls, true)?;
            // g = the treated share: where treated rows are few, trust the effect imputed on
            // the many controls (Künzel et al.'s choice of g as the propensity).
            let (n_t, n_c) = (weight_sum(&treated), weight_sum(&controls));
            let g = n_t / (n_t + n_c);
            effect_arms.push(Arm::Effect {
                parts: vec![
                    EffectPart {
                        weight: g,
                        model: tau_control,
                    },
                    EffectPart {
                        weight: 1.0 - g,
                        model: tau_treated,
                    },
                ],
            });
        }
        Ok(meta(MetaLearner::X, data, control, effect_arms))
    }

    fn dr_learner(&self, data: &UpliftData) -> Result<Estimator, ModelError> {
        let (n, k) = (data.len(), data.n_treatments);
        // Out-of-fold responses: column 0 the control's, column a + 1 arm a's.
        let mut mu = vec![0.0; n * (k + 1)];
        let mut salt = b"nextbest/dr-cross-fit/".to_vec();
        salt.extend_from_slice(&self.seed.to_le_bytes());
        let fold: Vec<usize> = data
            .customers
            .iter()
            .map(|c| Fnv1a::salted_bucket(&salt, c.as_bytes(), 2))
            .collect();
        for f in 0..2 {
            let fit = data.subset(|i| fold[i] != f);
            let (control, arms) = self.responses(&fit).map_err(|e| {
                ModelError::Training(format!("DR-learner, cross-fitting half {}: {e}", f + 1))
            })?;
            let index: Vec<usize> = (0..n).filter(|&i| fold[i] == f).collect();
            let base: Vec<f32> = index
                .iter()
                .flat_map(|&i| data.base(i).iter().copied())
                .collect();
            for (column, model) in std::iter::once(&control).chain(&arms).enumerate() {
                for (&i, p) in index.iter().zip(model.raw_proba(&base, data.n_base)?) {
                    mu[i * (k + 1) + column] = p;
                }
            }
        }
        let share = data.action_shares();
        let all: Vec<usize> = (0..n).collect();
        let mut effect_arms = Vec::with_capacity(k);
        for a in 0..k {
            let pseudo: Vec<f64> = (0..n)
                .map(|i| {
                    let (m0, ma) = (mu[i * (k + 1)], mu[i * (k + 1) + a + 1]);
                    let y = f64::from(u8::from(data.labels[i]));
                    let p = data.propensity(i, &share);
                    let correction = match data.treatments[i] {
                        Some(t) if t == a => (y - ma) / p,
                        None => -(y - m0) / p,
                        Some(_) => 0.0,
                    };
                    ma - m0 + correction
                })
                .collect();
            effect_arms.push(Arm::Effect {
                parts: vec![EffectPart {
                    weight: 1.0,
                    model: self.regress(data, &all, &pseudo, false)?,
                }],
            });
        }
        let control = self.response(data, None)?;
        Ok(meta(MetaLearner::Dr, data, control, effect_arms))
    }
}

fn meta(learner: MetaLearner, data: &UpliftData, control: Estimator, arms: Vec<Arm>) -> Estimator {
    Estimator::Meta(MetaModel {
        learner,
        n_base: data.n_base,
        control: Box::new(control),
        arms,
    })
}

/// The effect regressions' booster: the configured GBDT's settings (defaults for other
/// algorithms) without monotone constraints (those are about P(y), not uplift), and with early
/// stopping on a fifth of the customers when the config sets none — imputed effects are noisy,
/// and a fixed number of trees would fit the noise.
fn regression_params(learner: &Learner) -> Result<GbdtValidParams, ModelError> {
    let mut params: GbdtParams = match learner {
        Learner::Gbdt(p) => (**p).clone(),
        _ => GbdtParams::default(),
    };
    params.monotone.clear();
    if params.early_stopping_rounds.is_none() {
        params.early_stopping_rounds = Some(20);
        params.cv_folds = None;
        params.validation_fraction = Some(0.2);
    }
    params
        .check()
        .map_err(|e| ModelError::Training(format!("uplift regression: {e}")))
}
