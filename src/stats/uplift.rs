//! Uplift ranking quality: does targeting by predicted uplift find the customers an action
//! actually moves? Uplift by decile and the Qini coefficient.

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

/// Observed uplift by decile of predicted uplift, highest predicted uplift first.
pub fn uplift_deciles(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
) -> Vec<UpliftBin> {
    let mut bins = quantile_bins(predicted_uplift, 10);
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

/// The Qini coefficient: area between the Qini curve of the ranking and the random-targeting
/// line, normalised by the number of rows (Radcliffe 2007). Targeting the top k rows by predicted
/// uplift, the curve is `Q(k) = R_t(k) − R_c(k) · N_t(k) / N_c(k)` (incremental responders);
/// positive means the ranking beats random targeting.
pub fn qini_coefficient(
    predicted_uplift: &[f64],
    treated: &[bool],
    outcome: &[bool],
) -> Option<f64> {
    let n = predicted_uplift.len();
    let total_t = treated.iter().filter(|&&t| t).count();
    let total_c = n - total_t;
    if n == 0 || total_t == 0 || total_c == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        predicted_uplift[b]
            .total_cmp(&predicted_uplift[a])
            .then(a.cmp(&b))
    });
    let (mut nt, mut nc, mut rt, mut rc) = (0.0, 0.0, 0.0, 0.0);
    let final_gain = {
        let rt_all = (0..n).filter(|&i| treated[i] && outcome[i]).count() as f64;
        let rc_all = (0..n).filter(|&i| !treated[i] && outcome[i]).count() as f64;
        rt_all - rc_all * total_t as f64 / total_c as f64
    };
    let mut area = 0.0;
    for (k, &i) in order.iter().enumerate() {
        if treated[i] {
            nt += 1.0;
            rt += f64::from(u8::from(outcome[i]));
        } else {
            nc += 1.0;
            rc += f64::from(u8::from(outcome[i]));
        }
        let gain = if nc > 0.0 { rt - rc * nt / nc } else { rt };
        let random = final_gain * (k + 1) as f64 / n as f64;
        area += gain - random;
    }
    Some(area / (n as f64 * n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qini_rewards_a_ranking_that_finds_the_persuadables() {
        // Rows 0..50 respond only when treated; rows 50..100 never respond.
        let treated: Vec<bool> = (0..100).map(|i| i % 2 == 0).collect();
        let outcome: Vec<bool> = (0..100).map(|i| i < 50 && i % 2 == 0).collect();
        let good: Vec<f64> = (0..100).map(|i| if i < 50 { 1.0 } else { 0.0 }).collect();
        let bad: Vec<f64> = good.iter().map(|u| 1.0 - u).collect();
        let q_good = qini_coefficient(&good, &treated, &outcome).unwrap();
        let q_bad = qini_coefficient(&bad, &treated, &outcome).unwrap();
        assert!(q_good > 0.05 && q_bad < -0.05, "{q_good} {q_bad}");
        let deciles = uplift_deciles(&good, &treated, &outcome);
        assert!(deciles[0].observed_uplift > 0.9 && deciles[9].observed_uplift.abs() < 1e-12);
    }
}
