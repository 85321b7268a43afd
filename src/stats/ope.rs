//! Off-policy evaluation: what a target policy π would have earned, estimated from a log of
//! another (logging) policy's decisions — each with the logged action's propensity
//! `p_i = π₀(a_i | x_i)`, its reward `r_i`, and the target's probability `π(a_i | x_i)` of the
//! same action. With the importance weight `w_i = π(a_i | x_i) / p_i`:
//!
//! - **IPS**: `(1/n) Σ w_i r_i` — unbiased when every action π takes had `p > 0`; high variance
//!   when weights are large.
//! - **Self-normalised IPS**: `Σ w_i r_i / Σ w_i` — a little biased, far less variable.
//! - **Direct method** (DM): `(1/n) Σ q̂(x_i, π)`, where `q̂(x, a)` is a model's expected reward
//!   and `q̂(x, π) = Σ_a π(a | x) q̂(x, a)` — low variance, as biased as the model.
//! - **Doubly robust** (Dudík et al. 2011): `(1/n) Σ [q̂(x_i, π) + w_i (r_i − q̂(x_i, a_i))]` —
//!   unbiased if either the propensities or the model are right.
//! - **Switch-DR** (Wang et al. 2017): DR's correction only where `w_i ≤ τ`; the model alone
//!   where the weight is larger.
//! - **DR with optimistic shrinkage** (Su et al. 2020): the weight replaced by
//!   `λ w / (w² + λ)`.
//!
//! These are the formulas of the Open Bandit Pipeline's estimators (`obp.ope`: IPW, SNIPW, DM,
//! DR, SwitchDR, DRos); tests/fixtures/ope/ holds reference values made with its code.
//!
//! Intervals are percentile bootstrap intervals: rows are resampled with replacement, the same
//! resample for every estimator, from a seeded generator (the same seed, the same interval).
//! Pure: numbers in, numbers out; no I/O.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The direct method's predictions for each logged row.
#[derive(Clone, Copy, Debug)]
pub struct DirectMethod<'a> {
    /// `q̂(x_i, a_i)`: the expected reward of the logged action.
    pub logged: &'a [f64],
    /// `q̂(x_i, π) = Σ_a π(a | x_i) q̂(x_i, a)`: the expected reward of the target policy.
    pub target: &'a [f64],
}

/// A log to evaluate a target policy on: parallel slices, one entry per logged decision.
#[derive(Clone, Copy, Debug)]
pub struct LoggedRewards<'a> {
    /// The reward that followed each decision.
    pub reward: &'a [f64],
    /// `π₀(a_i | x_i)`: the probability the logging policy gave the action it took, in (0, 1].
    pub logging_propensity: &'a [f64],
    /// `π(a_i | x_i)`: the probability the target policy gives the same action, in [0, 1].
    pub target_propensity: &'a [f64],
    /// A reward model, for the direct method and the doubly robust estimators.
    pub model: Option<DirectMethod<'a>>,
}

/// A row of the log that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("row {row}, {field}: {problem}")]
pub struct InvalidLogRow {
    /// 0-based position in the slices.
    pub row: usize,
    /// Which input (`reward`, `logging_propensity`, …).
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl LoggedRewards<'_> {
    /// Rows.
    pub fn len(&self) -> usize {
        self.reward.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.reward.is_empty()
    }

    /// Checks lengths and ranges, naming the first bad row.
    pub fn check(&self) -> Result<(), InvalidLogRow> {
        let n = self.len();
        let mut columns: Vec<(&'static str, &[f64])> = vec![
            ("logging_propensity", self.logging_propensity),
            ("target_propensity", self.target_propensity),
        ];
        if let Some(m) = self.model {
            columns.push(("model.logged", m.logged));
            columns.push(("model.target", m.target));
        }
        for (field, column) in &columns {
            if column.len() != n {
                return Err(InvalidLogRow {
                    row: n.min(column.len()),
                    field,
                    problem: format!("{} values for {n} rewards", column.len()),
                });
            }
        }
        for i in 0..n {
            let bad = |field, problem: String| InvalidLogRow {
                row: i,
                field,
                problem,
            };
            if !self.reward[i].is_finite() {
                return Err(bad("reward", format!("{} is not a number", self.reward[i])));
            }
            let p = self.logging_propensity[i];
            if !(p > 0.0 && p <= 1.0) {
                return Err(bad(
                    "logging_propensity",
                    format!("{p} is not a probability in (0, 1]"),
                ));
            }
            let t = self.target_propensity[i];
            if !(0.0..=1.0).contains(&t) {
                return Err(bad(
                    "target_propensity",
                    format!("{t} is not a probability in [0, 1]"),
                ));
            }
            if let Some(m) = self.model {
                for (field, v) in [("model.logged", m.logged[i]), ("model.target", m.target[i])] {
                    if !v.is_finite() {
                        return Err(bad(field, format!("{v} is not a number")));
                    }
                }
            }
        }
        Ok(())
    }

    fn weight(&self, i: usize) -> f64 {
        self.target_propensity[i] / self.logging_propensity[i]
    }
}

/// The estimators' settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeSettings {
    /// Switch-DR's threshold τ on the importance weight (≥ 0).
    pub switch_tau: f64,
    /// DR-with-shrinkage's λ (≥ 0; 0 is the direct method, ∞ plain DR).
    pub shrinkage_lambda: f64,
    /// Bootstrap resamples for the intervals (0: no intervals).
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    pub seed: u64,
    /// Coverage of the intervals, in (0, 1).
    pub confidence: f64,
}

impl Default for OpeSettings {
    fn default() -> Self {
        OpeSettings {
            switch_tau: 20.0,
            shrinkage_lambda: 100.0,
            bootstrap: 1000,
            seed: 1,
            confidence: 0.95,
        }
    }
}

impl OpeSettings {
    /// Checks the ranges, naming the setting.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.switch_tau.is_nan() || self.switch_tau < 0.0 {
            return Err((
                "switch_tau",
                format!("must be ≥ 0, got {}", self.switch_tau),
            ));
        }
        if self.shrinkage_lambda.is_nan() || self.shrinkage_lambda < 0.0 {
            return Err((
                "shrinkage_lambda",
                format!("must be ≥ 0, got {}", self.shrinkage_lambda),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err((
                "confidence",
                format!("must be in (0, 1), got {}", self.confidence),
            ));
        }
        Ok(())
    }
}

/// A point estimate with its bootstrap interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate on the whole log.
    pub value: f64,
    /// Lower end of the interval (`None` without bootstrap resamples).
    pub low: Option<f64>,
    /// Upper end of the interval.
    pub high: Option<f64>,
}

impl Estimate {
    /// Whether `truth` lies in the interval.
    pub fn covers(&self, truth: f64) -> bool {
        self.low.is_some_and(|l| l <= truth) && self.high.is_some_and(|h| truth <= h)
    }
}

/// How much the log can say about the target policy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Rows.
    pub rows: usize,
    /// Kish's effective sample size of the weights, `(Σ w)² / Σ w²`: how many rows of an
    /// on-policy sample the log is worth (0 when no weight is positive).
    pub effective_sample_size: f64,
    /// The largest importance weight.
    pub max_weight: f64,
    /// The mean weight: near 1 when the propensities are right and the log supports π.
    pub mean_weight: f64,
    /// Share of rows whose logged action the target policy would never take (`π(a_i|x_i) = 0`).
    pub zero_weight_share: f64,
    /// Share of rows whose weight exceeds Switch-DR's τ (the model alone values them).
    pub switched_share: f64,
}

/// Every estimate of one target policy from one log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeReport {
    /// The logging policy's own value: the mean reward in the log.
    pub logged: Estimate,
    /// Inverse propensity scoring.
    pub ips: Estimate,
    /// Self-normalised IPS (`None` when every weight is 0).
    pub snips: Option<Estimate>,
    /// The direct method (with a model).
    pub direct_method: Option<Estimate>,
    /// Doubly robust (with a model).
    pub doubly_robust: Option<Estimate>,
    /// Switch-DR (with a model).
    pub switch_dr: Option<Estimate>,
    /// DR with optimistic shrinkage (with a model).
    pub dr_shrinkage: Option<Estimate>,
    /// Weight diagnostics.
    pub diagnostics: Diagnostics,
    /// The settings used.
    pub settings: OpeSettings,
}

/// The number of estimators [`sums`] feeds.
const ESTIMATORS: usize = 7;

/// Sums over the rows `rows` yields, from which every estimator is a ratio:
/// `[n, Σ r, Σ w r, Σ w, Σ q̂(π), Σ DR term, Σ Switch-DR term, Σ shrinkage term]`.
fn sums(
    log: &LoggedRewards<'_>,
    settings: &OpeSettings,
    rows: impl Iterator<Item = usize>,
) -> [f64; ESTIMATORS + 1] {
    let mut s = [0.0; ESTIMATORS + 1];
    for i in rows {
        let (r, w) = (log.reward[i], log.weight(i));
        s[0] += 1.0;
        s[1] += r;
        s[2] += w * r;
        s[3] += w;
        if let Some(m) = log.model {
            let residual = r - m.logged[i];
            let lambda = settings.shrinkage_lambda;
            let shrunk = if lambda.is_infinite() {
                w
            } else if w == 0.0 {
                0.0
            } else {
                lambda * w / (w * w + lambda)
            };
            s[4] += m.target[i];
            s[5] += m.target[i] + w * residual;
            s[6] += m.target[i]
                + if w <= settings.switch_tau {
                    w * residual
                } else {
                    0.0
                };
            s[7] += m.target[i] + shrunk * residual;
        }
    }
    s
}

/// The estimates `[logged, IPS, SNIPS, DM, DR, Switch-DR, shrinkage]` from [`sums`].
fn estimates(s: &[f64; ESTIMATORS + 1]) -> [f64; ESTIMATORS] {
    let n = s[0];
    [
        s[1] / n,
        s[2] / n,
        if s[3] > 0.0 { s[2] / s[3] } else { f64::NAN },
        s[4] / n,
        s[5] / n,
        s[6] / n,
        s[7] / n,
    ]
}

/// The `q`-quantile of sorted values, interpolating linearly (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let at = q * last as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    Some(sorted[lo] + (sorted[hi.min(last)] - sorted[lo]) * (at - lo as f64))
}

/// Estimates the target policy's value by every estimator, with bootstrap intervals and the
/// weight diagnostics. `None` for an empty log or unusable settings; check the rows first with
/// [`LoggedRewards::check`] (a bad row is an error there, here it would poison the numbers).
pub fn evaluate_policy(log: &LoggedRewards<'_>, settings: &OpeSettings) -> Option<OpeReport> {
    let n = log.len();
    if n == 0 || log.check().is_err() || settings.check().is_err() {
        return None;
    }
    let point = estimates(&sums(log, settings, 0..n));
    let replicates: Vec<[f64; ESTIMATORS]> = (0..settings.bootstrap)
        .into_par_iter()
        .map(|b| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(settings.seed.wrapping_add(b as u64));
            let draws: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            estimates(&sums(log, settings, draws.into_iter()))
        })
        .collect();
    let alpha = (1.0 - settings.confidence) / 2.0;
    let estimate = |k: usize| -> Option<Estimate> {
        if !point[k].is_finite() {
            return None;
        }
        // A resample without a positive weight has no SNIPS; the interval is over the others.
        let mut values: Vec<f64> = replicates
            .iter()
            .map(|r| r[k])
            .filter(|v| v.is_finite())
            .collect();
        values.sort_by(f64::total_cmp);
        Some(Estimate {
            value: point[k],
            low: quantile(&values, alpha),
            high: quantile(&values, 1.0 - alpha),
        })
    };
    let with_model = |k: usize| log.model.and_then(|_| estimate(k));
    let weights: Vec<f64> = (0..n).map(|i| log.weight(i)).collect();
    let share =
        |f: &dyn Fn(f64) -> bool| weights.iter().filter(|&&w| f(w)).count() as f64 / n as f64;
    let diagnostics = Diagnostics {
        rows: n,
        effective_sample_size: effective_sample_size(&weights),
        max_weight: weights.iter().copied().fold(0.0, f64::max),
        mean_weight: weights.iter().sum::<f64>() / n as f64,
        zero_weight_share: share(&|w| w == 0.0),
        switched_share: share(&|w| w > settings.switch_tau),
    };
    Some(OpeReport {
        logged: estimate(0)?,
        ips: estimate(1)?,
        snips: estimate(2),
        direct_method: with_model(3),
        doubly_robust: with_model(4),
        switch_dr: with_model(5),
        dr_shrinkage: with_model(6),
        diagnostics,
        settings: *settings,
    })
}

/// Kish's effective sample size `(Σ w)² / Σ w²` (0 when no weight is positive).
pub fn effective_sample_size(weights: &[f64]) -> f64 {
    let sum: f64 = weights.iter().sum();
    let squares: f64 = weights.iter().map(|w| w * w).sum();
    if squares > 0.0 {
        sum * sum / squares
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log<'a>(r: &'a [f64], p: &'a [f64], t: &'a [f64]) -> LoggedRewards<'a> {
        LoggedRewards {
            reward: r,
            logging_propensity: p,
            target_propensity: t,
            model: None,
        }
    }

    #[test]
    fn on_policy_logs_give_the_mean_reward() {
        // The target is the logging policy: every weight is 1, every estimator the mean reward.
        let r = [1.0, 0.0, 0.0, 1.0, 1.0];
        let p = [0.5, 0.25, 0.5, 0.25, 0.5];
        let q = [0.6, 0.1, 0.2, 0.3, 0.9];
        let mut l = log(&r, &p, &p);
        l.model = Some(DirectMethod {
            logged: &q,
            target: &q,
        });
        let report = evaluate_policy(&l, &OpeSettings::default()).unwrap();
        for e in [
            report.ips,
            report.snips.unwrap(),
            report.doubly_robust.unwrap(),
            report.switch_dr.unwrap(),
        ] {
            assert!((e.value - 0.6).abs() < 1e-12, "{report:?}");
            assert!(e.low.unwrap() <= e.value && e.value <= e.high.unwrap());
        }
        assert!((report.diagnostics.effective_sample_size - 5.0).abs() < 1e-12);
        assert_eq!(report.diagnostics.max_weight, 1.0);
        // The same seed gives the same interval.
        assert_eq!(
            evaluate_policy(&l, &OpeSettings::default()).unwrap(),
            report
        );
    }

    #[test]
    fn bad_rows_are_named() {
        let e = log(&[1.0, 0.0], &[0.5, 0.0], &[1.0, 0.0])
            .check()
            .unwrap_err();
        assert_eq!((e.row, e.field), (1, "logging_propensity"));
        let e = log(&[1.0], &[0.5, 0.5], &[1.0, 0.0]).check().unwrap_err();
        assert_eq!(e.field, "logging_propensity");
        let e = log(&[f64::NAN], &[0.5], &[1.0]).check().unwrap_err();
        assert_eq!(e.field, "reward");
        assert!(evaluate_policy(&log(&[], &[], &[]), &OpeSettings::default()).is_none());
    }

    #[test]
    fn a_target_the_log_never_supports_has_no_snips() {
        let report = evaluate_policy(
            &log(&[1.0, 0.0], &[0.5, 0.5], &[0.0, 0.0]),
            &OpeSettings::default(),
        )
        .unwrap();
        assert_eq!(report.ips.value, 0.0);
        assert!(report.snips.is_none());
        assert_eq!(report.diagnostics.zero_weight_share, 1.0);
        assert_eq!(report.diagnostics.effective_sample_size, 0.0);
    }
}
