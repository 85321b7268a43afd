//! Uplift ranking quality: does targeting by predicted uplift find the customers an action
//! actually moves? Uplift by decile, the normalised Qini and uplift curve areas, and uplift@k —
//! on the scale scikit-uplift (`sklift.metrics`) uses, so numbers can be compared with the
//! literature and other tools (tests/fixtures/uplift/ holds reference values made with it).
//!
//! Every function takes the predicted uplift, whether each row was treated, and its binary
//! outcome. Rows are ranked by predicted uplift, highest first; rows of equal prediction form one
//! step of a curve (so their order does not matter), except in [`uplift_at_k`], which cuts the
//! ranking at a row and, as scikit-uplift, puts the later row first among equal predictions.
//!
//! - **Qini curve** (Radcliffe 2007): after the top `k` rows, `Q(k) = Y_t − Y_c · N_t / N_c`
//!   (responders among the treated minus the control's responders scaled to the treated count:
//!   incremental responders).
//! - **Uplift curve** (Devriendt et al. 2020): `U(k) = (Y_t / N_t − Y_c / N_c) · k`.
//! - **Normalised areas** ([`qini_auc_score`], [`uplift_auc_score`]): the area between the curve
//!   and the straight line from (0, 0) to the curve's end (random targeting), divided by the same
//!   area for the perfect ranking. 1 is the perfect ranking, 0 random, negative worse than random.
//!   This is scikit-uplift's `qini_auc_score` / `uplift_auc_score` exactly, including its choice
//!   of the perfect ranking.

use serde::{Deserialize, Serialize};

use super::quantile::quantile_bins;

/// Uplift per decile of predicted uplift (highest first): treated and control response rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpliftBin {
    /// Mean predicted uplift in the bin.
    pub mean_predicted_uplift: f64,
    /// Treated rows and their response rate.
    pub treated: usize,
    /// Response rate of the treated.
    pub treated_rate: f64,
    /// Control rows.
    pub control: usize,
    /// Response rate of the control.
    pub control_rate: f64,
    /// Observed uplift: treated rate − control rate.
    pub observed_uplift: f64,
}

/// Observed uplift by decile of predicted uplift, highest predicted uplift first. When every
/// prediction is the same there is no ranking to cut: one bin holds every row (deciles of tied
/// rows would split treated from control by row order and show uplift that is not there).
pub fn uplift_deciles(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
) -> Vec<UpliftBin> {
    let constant = predicted_uplift
        .windows(2)
        .all(|w| w[0].total_cmp(&w[1]).is_eq());
    let mut bins = if constant && !predicted_uplift.is_empty() {
        vec![(0..predicted_uplift.len()).collect()]
    } else {
        quantile_bins(predicted_uplift, 10)
    };
    bins.reverse();
    bins.into_iter()
        .map(|rows| {
            let rate = |want: bool| {
                let group: Vec<usize> = rows
                    .iter()
                    .copied()
                    .filter(|&i| treated[i] == want)
                    .collect();
                let hits = group.iter().filter(|&&i| outcome[i]).count();
                (
                    group.len(),
                    if group.is_empty() {
                        0.0
                    } else {
                        hits as f64 / group.len() as f64
                    },
                )
            };
            let (t, tr) = rate(true);
            let (c, cr) = rate(false);
            UpliftBin {
                mean_predicted_uplift: rows.iter().map(|&i| predicted_uplift[i]).sum::<f64>()
                    / rows.len() as f64,
                treated: t,
                treated_rate: tr,
                control: c,
                control_rate: cr,
                observed_uplift: tr - cr,
            }
        })
        .collect()
}

/// A point set of a curve: `x` rows targeted (0 first), `y` the curve's value there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    /// Rows targeted, increasing from 0 to n.
    pub x: Vec<f64>,
    /// The curve's value after targeting `x` rows.
    pub y: Vec<f64>,
}

impl Curve {
    /// Area under the curve by the trapezoid rule.
    pub fn area(&self) -> f64 {
        self.x
            .windows(2)
            .zip(self.y.windows(2))
            .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
            .sum()
    }
}

/// Rows checked for the curves: same lengths, finite predictions, both groups present.
fn usable(predicted_uplift: &[f64], treated: &[bool], outcome: &[bool]) -> bool {
    let n = predicted_uplift.len();
    n > 0
        && treated.len() == n
        && outcome.len() == n
        && predicted_uplift.iter().all(|u| u.is_finite())
        && treated.iter().any(|&t| t)
        && treated.iter().any(|&t| !t)
}

/// Row indices by predicted uplift, highest first; among equal predictions the later row first
/// (scikit-uplift's order: a stable ascending sort, reversed). `+ 0.0` makes −0 equal to 0.
fn ranking(predicted_uplift: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..predicted_uplift.len()).collect();
    order.sort_by(|&a, &b| {
        (predicted_uplift[b] + 0.0)
            .total_cmp(&(predicted_uplift[a] + 0.0))
            .then(b.cmp(&a))
    });
    order
}

/// Cumulative counts at the end of each group of equal predictions, in ranking order:
/// `(rows, treated, treated responders, control responders)`.
fn steps(predicted_uplift: &[f64], treated: &[bool], outcome: &[bool]) -> Vec<[f64; 4]> {
    let order = ranking(predicted_uplift);
    let mut out = Vec::new();
    let (mut nt, mut yt, mut yc) = (0.0, 0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if treated[i] {
            nt += 1.0;
            yt += f64::from(u8::from(outcome[i]));
        } else {
            yc += f64::from(u8::from(outcome[i]));
        }
        let last_of_group = order
            .get(k + 1)
            .is_none_or(|&j| predicted_uplift[j] + 0.0 != predicted_uplift[i] + 0.0);
        if last_of_group {
            out.push([(k + 1) as f64, nt, yt, yc]);
        }
    }
    out
}

/// A curve from the steps, starting at (0, 0).
fn curve(steps: &[[f64; 4]], value: impl Fn(f64, f64, f64, f64) -> f64) -> Curve {
    let mut c = Curve {
        x: vec![0.0],
        y: vec![0.0],
    };
    for &[n, nt, yt, yc] in steps {
        c.x.push(n);
        c.y.push(value(n, nt, yt, yc));
    }
    c
}

fn qini_value(n: f64, nt: f64, yt: f64, yc: f64) -> f64 {
    let nc = n - nt;
    yt - yc * if nc != 0.0 { nt / nc } else { 0.0 }
}

fn uplift_value(n: f64, nt: f64, yt: f64, yc: f64) -> f64 {
    let nc = n - nt;
    let rate_t = if nt != 0.0 { yt / nt } else { 0.0 };
    let rate_c = if nc != 0.0 { yc / nc } else { 0.0 };
    (rate_t - rate_c) * n
}

/// The Qini curve of a ranking (see the module's notes); `None` without rows, without either
/// group, or with a non-finite prediction.
pub fn qini_curve(predicted_uplift: &[f64], treated: &[bool], outcome: &[bool]) -> Option<Curve> {
    usable(predicted_uplift, treated, outcome)
        .then(|| curve(&steps(predicted_uplift, treated, outcome), qini_value))
}

/// The uplift curve of a ranking (see the module's notes); `None` as for [`qini_curve`].
pub fn uplift_curve(predicted_uplift: &[f64], treated: &[bool], outcome: &[bool]) -> Option<Curve> {
    usable(predicted_uplift, treated, outcome)
        .then(|| curve(&steps(predicted_uplift, treated, outcome), uplift_value))
}

/// (actual − random) / (perfect − random) areas; `None` when the perfect ranking is no better
/// than random (nothing to normalise by).
fn normalised(actual: &Curve, perfect: &Curve) -> Option<f64> {
    let (&x_end, &y_end) = (perfect.x.last()?, perfect.y.last()?);
    let random = x_end * y_end / 2.0;
    let best = perfect.area() - random;
    let score = (actual.area() - random) / best;
    (best != 0.0 && score.is_finite()).then_some(score)
}

/// Normalised area under the Qini curve — scikit-uplift's `qini_auc_score`: 1 for the perfect
/// ranking, 0 for random targeting, negative for worse.
///
/// With `negative_effect` (scikit-uplift's default) the perfect ranking puts treated responders
/// first and control responders last (the action can hurt); without it, the perfect curve
/// rises straight to the total incremental responders and stays there (`None` when those are
/// negative, where scikit-uplift raises). `None` also as for [`qini_curve`].
pub fn qini_auc_score(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
    negative_effect: bool,
) -> Option<f64> {
    let actual = qini_curve(predicted_uplift, treated, outcome)?;
    let perfect = if negative_effect {
        let ideal: Vec<f64> = treated
            .iter()
            .zip(outcome)
            .map(|(&t, &y)| match (y, t) {
                (false, _) => 0.0,
                (true, true) => 1.0,
                (true, false) => -1.0,
            })
            .collect();
        qini_curve(&ideal, treated, outcome)?
    } else {
        let count = |t: bool, y: bool| {
            treated
                .iter()
                .zip(outcome)
                .filter(|&(&ti, &yi)| ti == t && (yi || !y))
                .count() as f64
        };
        let (nt, nc) = (count(true, false), count(false, false));
        let incremental = count(true, true) - nt * count(false, true) / nc;
        if incremental < 0.0 {
            return None;
        }
        let n = predicted_uplift.len() as f64;
        Curve {
            x: vec![0.0, incremental, n],
            y: vec![0.0, incremental, incremental],
        }
    };
    normalised(&actual, &perfect)
}

/// Normalised area under the uplift curve — scikit-uplift's `uplift_auc_score` (AUUC): 1 for
/// the perfect ranking, 0 for random targeting. The perfect ranking is scikit-uplift's: treated
/// responders and control non-responders first, and among the rest whichever of control
/// responders / treated non-responders is the larger group later. `None` as for [`qini_curve`].
pub fn uplift_auc_score(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
) -> Option<f64> {
    let actual = uplift_curve(predicted_uplift, treated, outcome)?;
    let pairs = || treated.iter().zip(outcome);
    let control_responders = pairs().filter(|&(&t, &y)| !t && y).count();
    let treated_non_responders = pairs().filter(|&(&t, &y)| t && !y).count();
    let by_outcome = control_responders > treated_non_responders;
    let ideal: Vec<f64> = pairs()
        .map(|(&t, &y)| {
            let summand = if by_outcome { y } else { t };
            2.0 * f64::from(u8::from(y == t)) + f64::from(u8::from(summand))
        })
        .collect();
    let perfect = uplift_curve(&ideal, treated, outcome)?;
    normalised(&actual, &perfect)
}

/// How many top rows [`uplift_at_k`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopK {
    /// A share of the rows, in (0, 1): `floor(share · rows)` rows.
    Share(f64),
    /// A number of rows, in (0, rows).
    Rows(usize),
}

/// How [`uplift_at_k`] cuts the ranking (scikit-uplift's `strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtKStrategy {
    /// The top k rows of the whole ranking; the treated and control rows among them.
    Overall,
    /// The top k of the treated and, separately, the top k of the control rows (a share
    /// applies to each group's size).
    ByGroup,
}

/// Uplift among the top-ranked rows — scikit-uplift's `uplift_at_k`: the response rate of the
/// treated minus that of the control among the rows `strategy` selects. `None` when `k` is out
/// of range (a share outside (0, 1), a count outside (0, rows)), when a group has no row in the
/// selection (scikit-uplift gives NaN), or as for [`qini_curve`].
pub fn uplift_at_k(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
    k: TopK,
    strategy: AtKStrategy,
) -> Option<f64> {
    if !usable(predicted_uplift, treated, outcome) {
        return None;
    }
    let n = predicted_uplift.len();
    let valid = match k {
        TopK::Share(s) => s > 0.0 && s < 1.0,
        TopK::Rows(r) => r > 0 && r < n,
    };
    if !valid {
        return None;
    }
    // Python's int(): truncation, the same in f64 here.
    let take = |size: usize| match k {
        TopK::Share(s) => (size as f64 * s) as usize,
        TopK::Rows(r) => r,
    };
    let order = ranking(predicted_uplift);
    let rate = |rows: &mut dyn Iterator<Item = usize>| {
        let (count, hits) = rows.fold((0usize, 0usize), |(c, h), i| {
            (c + 1, h + usize::from(outcome[i]))
        });
        (count > 0).then(|| hits as f64 / count as f64)
    };
    let (rate_t, rate_c) = match strategy {
        AtKStrategy::Overall => {
            let top = &order[..take(n).min(n)];
            (
                rate(&mut top.iter().copied().filter(|&i| treated[i])),
                rate(&mut top.iter().copied().filter(|&i| !treated[i])),
            )
        }
        AtKStrategy::ByGroup => {
            let group_rate = |want: bool| {
                let size = treated.iter().filter(|&&t| t == want).count();
                let top = take(size);
                if top > size {
                    return None;
                }
                rate(
                    &mut order
                        .iter()
                        .copied()
                        .filter(|&i| treated[i] == want)
                        .take(top),
                )
            };
            (group_rate(true), group_rate(false))
        }
    };
    Some(rate_t? - rate_c?)
}

/// The uplift metrics of one ranking on a holdout, as reported in `metrics.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpliftScores {
    /// [`qini_auc_score`] with `negative_effect` (scikit-uplift's default).
    pub qini_auc: Option<f64>,
    /// [`uplift_auc_score`].
    pub uplift_auc: Option<f64>,
    /// [`uplift_at_k`] of the top 30% of all rows ([`AtKStrategy::Overall`]).
    pub uplift_at_30: Option<f64>,
    /// [`uplift_at_k`] of the top 30% of each group ([`AtKStrategy::ByGroup`]).
    pub uplift_at_30_by_group: Option<f64>,
}

/// All of [`UpliftScores`] at once.
pub fn uplift_scores(predicted_uplift: &[f64], treated: &[bool], outcome: &[bool]) -> UpliftScores {
    let at = |strategy| {
        uplift_at_k(
            predicted_uplift,
            treated,
            outcome,
            TopK::Share(0.3),
            strategy,
        )
    };
    UpliftScores {
        qini_auc: qini_auc_score(predicted_uplift, treated, outcome, true),
        uplift_auc: uplift_auc_score(predicted_uplift, treated, outcome),
        uplift_at_30: at(AtKStrategy::Overall),
        uplift_at_30_by_group: at(AtKStrategy::ByGroup),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qini_rewards_a_ranking_that_finds_the_persuadables() {
        // Rows 0..50 respond only when treated; rows 50..100 never respond.
        let treated: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let outcome: Vec<bool> = (0..100).map(|i| i < 50 && i % 2 == 0).collect();
        let good: Vec<f64> = (0..100).map(|i| if i < 50 { 1.0 } else { 0.0 }).collect();
        let bad: Vec<f64> = good.iter().map(|u| 1.0 - u).collect();
        let q_good = qini_auc_score(&good, &treated, &outcome, true).unwrap();
        let q_bad = qini_auc_score(&bad, &treated, &outcome, true).unwrap();
        assert!(q_good > 0.5 && q_bad < -0.5, "{q_good} {q_bad}");
        let flat = vec![0.0; 100];
        assert_eq!(qini_auc_score(&flat, &treated, &outcome, true), Some(0.0));
        let one_bin = uplift_deciles(&flat, &treated, &outcome);
        assert_eq!(
            (one_bin.len(), one_bin[0].treated, one_bin[0].control),
            (1, 50, 50)
        );
        let deciles = uplift_deciles(&good, &treated, &outcome);
        assert!(deciles[0].observed_uplift > 0.9 && deciles[9].observed_uplift.abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_have_no_score() {
        let u = [0.3, 0.1, 0.2];
        assert_eq!(
            qini_auc_score(&u, &[true; 3], &[true, false, true], true),
            None
        );
        assert_eq!(uplift_auc_score(&[], &[], &[]), None);
        assert_eq!(
            qini_curve(&[f64::NAN, 0.0], &[true, false], &[true, false]),
            None
        );
        let t = [true, false, true];
        let y = [true, false, false];
        for k in [
            TopK::Share(0.0),
            TopK::Share(1.0),
            TopK::Rows(0),
            TopK::Rows(3),
        ] {
            assert_eq!(uplift_at_k(&u, &t, &y, k, AtKStrategy::Overall), None);
        }
        // The top row alone has no control row to compare with.
        assert_eq!(
            uplift_at_k(&u, &t, &y, TopK::Rows(1), AtKStrategy::Overall),
            None
        );
        assert_eq!(
            uplift_at_k(&u, &t, &y, TopK::Rows(1), AtKStrategy::ByGroup),
            Some(1.0)
        );
    }
}
