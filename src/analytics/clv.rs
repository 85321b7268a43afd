//! Customer lifetime value: BG/NBD for how many purchases a customer will make and Gamma-Gamma
//! (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves") for how much each will be
//! worth, discounted month by month over a horizon — the method of the `lifetimes` package,
//! fitted here by maximum likelihood (Nelder–Mead on log parameters).

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::EventLog;
use crate::journey::Timestamp;
use crate::stats::optimize::nelder_mead;
use crate::training::bgnbd::{expected_purchases, ln_gamma, log_likelihood, BgNbdParams, Recency};

/// Gamma-Gamma parameters: spend per transaction ~ Gamma(p, ν), ν ~ Gamma(q, v).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of the transaction-value distribution.
    pub p: f64,
    /// Shape of the scale's distribution.
    pub q: f64,
    /// Scale of the scale's distribution.
    pub v: f64,
}

/// One repeat buyer's spend: `x` repeat transactions with mean value `zbar`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spend {
    /// Repeat transactions (> 0).
    pub x: f64,
    /// Their mean value (> 0).
    pub zbar: f64,
}

/// Log-likelihood of one customer's mean spend under Gamma-Gamma (FHL 2005b, equation 1).
pub fn gamma_gamma_log_likelihood(g: &GammaGammaParams, s: &Spend) -> f64 {
    let GammaGammaParams { p, q, v } = *g;
    let Spend { x, zbar } = *s;
    ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
        + q * v.ln()
        + (p * x - 1.0) * zbar.ln()
        + p * x * x.ln()
        - (p * x + q) * (x * zbar + v).ln()
}

/// E[mean spend | x, zbar]: the customer's expected value per future transaction.
pub fn expected_spend(g: &GammaGammaParams, s: &Spend) -> f64 {
    (g.p * (g.v + s.x * s.zbar)) / (g.p * s.x + g.q - 1.0)
}

fn fit_positive(
    dimensions: usize,
    negative_log_likelihood: impl Fn(&[f64]) -> f64,
    what: &str,
) -> Result<Vec<f64>> {
    // Log parameters keep every trial point positive; start at 1 like lifetimes.
    let objective = |logs: &[f64]| {
        let params: Vec<f64> = logs.iter().map(|l| l.exp()).collect();
        negative_log_likelihood(&params)
    };
    let m = nelder_mead(objective, &vec![0.0; dimensions], 0.5, 1e-10, 20_000);
    let params: Vec<f64> = m.x.iter().map(|l| l.exp()).collect();
    if !m.value.is_finite() || params.iter().any(|p| !p.is_finite()) {
        return Err(AnalyticsError::invalid(
            "clv",
            format!("the {what} fit did not find finite parameters"),
        ));
    }
    Ok(params)
}

/// Fits Gamma-Gamma to repeat buyers (customers with x = 0 must be left out).
pub fn fit_gamma_gamma(buyers: &[Spend]) -> Result<GammaGammaParams> {
    if buyers.len() < 3 {
        return Err(AnalyticsError::invalid(
            "clv",
            format!("Gamma-Gamma needs repeat buyers, got {}", buyers.len()),
        ));
    }
    if let Some(bad) = buyers
        .iter()
        .find(|s| !(s.x > 0.0 && s.zbar > 0.0 && s.zbar.is_finite()))
    {
        return Err(AnalyticsError::invalid(
            "clv",
            format!("Gamma-Gamma needs x > 0 and mean value > 0, got {bad:?}"),
        ));
    }
    let p = fit_positive(
        3,
        |p| {
            let g = GammaGammaParams {
                p: p[0],
                q: p[1],
                v: p[2],
            };
            -buyers
                .iter()
                .map(|s| gamma_gamma_log_likelihood(&g, s))
                .sum::<f64>()
        },
        "Gamma-Gamma",
    )?;
    Ok(GammaGammaParams {
        p: p[0],
        q: p[1],
        v: p[2],
    })
}

/// Fits BG/NBD to every customer's (x, t_x, T).
pub fn fit_bgnbd(customers: &[Recency]) -> Result<BgNbdParams> {
    if customers.len() < 4 {
        return Err(AnalyticsError::invalid(
            "clv",
            format!("BG/NBD needs customers, got {}", customers.len()),
        ));
    }
    let p = fit_positive(
        4,
        |p| {
            let params = BgNbdParams {
                r: p[0],
                alpha: p[1],
                a: p[2],
                b: p[3],
            };
            -customers
                .iter()
                .map(|c| log_likelihood(&params, c))
                .sum::<f64>()
        },
        "BG/NBD",
    )?;
    Ok(BgNbdParams {
        r: p[0],
        alpha: p[1],
        a: p[2],
        b: p[3],
    })
}

/// How value is counted over the horizon.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Horizon {
    /// Months ahead.
    pub months: u32,
    /// Discount rate per month.
    pub monthly_discount_rate: f64,
    /// Time units (of the BG/NBD fit) per month: 4.345 for weeks, 30 for days.
    pub units_per_month: f64,
}

/// Discounted expected value over the horizon: month by month, the purchases BG/NBD expects in
/// that month times the expected spend, discounted by `(1 + d)^month` (as lifetimes computes it).
pub fn lifetime_value(
    bgnbd: &BgNbdParams,
    recency: &Recency,
    spend_per_transaction: f64,
    horizon: &Horizon,
) -> f64 {
    let mut total = 0.0;
    let mut before = 0.0;
    for month in 1..=horizon.months {
        let upto = expected_purchases(bgnbd, recency, f64::from(month) * horizon.units_per_month);
        total += spend_per_transaction * (upto - before)
            / (1.0 + horizon.monthly_discount_rate).powf(f64::from(month));
        before = upto;
    }
    total
}

/// One customer's recency, frequency and spend from the log, in weeks from the first order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerValue {
    /// The customer.
    pub customer_id: String,
    /// Repeat order days.
    pub x: f64,
    /// Weeks from the first to the last order day.
    pub t_x: f64,
    /// Weeks from the first order day to the end of calibration.
    pub t: f64,
    /// Mean value of the repeat order days (0 without repeats).
    pub zbar: f64,
    /// P(still a customer) under BG/NBD.
    pub p_alive: f64,
    /// Expected value per future transaction.
    pub expected_spend: f64,
    /// Discounted value over the horizon.
    pub clv: f64,
}

/// CLV for every segment customer with an order before `end`: orders on one day count as one
/// transaction (their values summed), time in weeks, both models fitted on these customers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClvReport {
    /// The BG/NBD fit.
    pub bgnbd: BgNbdParams,
    /// The Gamma-Gamma fit.
    pub gamma_gamma: GammaGammaParams,
    /// The horizon.
    pub horizon: Horizon,
    /// Customers valued.
    pub customers: u64,
    /// Mean CLV.
    pub mean_clv: f64,
    /// Sum of CLV.
    pub total_clv: f64,
    /// Per customer, highest CLV first.
    pub values: Vec<CustomerValue>,
}

/// Fits both models on the orders before `end` and values each customer over `horizon`.
pub fn clv(log: &EventLog, members: &[bool], end: i64, horizon: &Horizon) -> Result<ClvReport> {
    let week = 7.0 * Timestamp::MICROS_PER_DAY as f64;
    let mut rows: Vec<(usize, Recency, f64)> = Vec::new();
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let mut days: Vec<(i64, f64)> = Vec::new();
        for i in log.events_of(c) {
            if log.time[i] >= end {
                break;
            }
            if !log.is_order(i) {
                continue;
            }
            let day = super::cohorts::midnight(log.time[i]);
            let value = if log.value[i].is_nan() {
                0.0
            } else {
                log.value[i]
            };
            match days.last_mut() {
                Some((d, v)) if *d == day => *v += value,
                _ => days.push((day, value)),
            }
        }
        let Some(&(first, _)) = days.first() else {
            continue;
        };
        let last = days.last().map_or(first, |d| d.0);
        let x = (days.len() - 1) as f64;
        let zbar = if days.len() > 1 {
            days[1..].iter().map(|d| d.1).sum::<f64>() / x
        } else {
            0.0
        };
        let recency = Recency {
            x,
            t_x: (last - first) as f64 / week,
            t: (super::cohorts::midnight(end - 1) - first) as f64 / week,
        };
        rows.push((c, recency, zbar));
    }
    let recencies: Vec<Recency> = rows.iter().map(|r| r.1).collect();
    let bgnbd = fit_bgnbd(&recencies)?;
    let buyers: Vec<Spend> = rows
        .iter()
        .filter(|r| r.1.x > 0.0 && r.2 > 0.0)
        .map(|r| Spend {
            x: r.1.x,
            zbar: r.2,
        })
        .collect();
    let gamma_gamma = fit_gamma_gamma(&buyers)?;
    // Customers without a repeat purchase get the population mean spend, E[zbar] = p v / (q − 1).
    let population_spend = gamma_gamma.p * gamma_gamma.v / (gamma_gamma.q - 1.0);
    let mut values: Vec<CustomerValue> = rows
        .iter()
        .map(|&(c, recency, zbar)| {
            let spend = if recency.x > 0.0 && zbar > 0.0 {
                expected_spend(&gamma_gamma, &Spend { x: recency.x, zbar })
            } else {
                population_spend
            };
            CustomerValue {
                customer_id: log.customers[c].clone(),
                x: recency.x,
                t_x: recency.t_x,
                t: recency.t,
                zbar,
                p_alive: crate::training::bgnbd::p_alive(&bgnbd, &recency),
                expected_spend: spend,
                clv: lifetime_value(&bgnbd, &recency, spend, horizon),
            }
        })
        .collect();
    values.sort_by(|a, b| {
        b.clv
            .total_cmp(&a.clv)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    let total_clv: f64 = values.iter().map(|v| v.clv).sum();
    Ok(ClvReport {
        bgnbd,
        gamma_gamma,
        horizon: *horizon,
        customers: values.len() as u64,
        mean_clv: total_clv / values.len().max(1) as f64,
        total_clv,
        values,
    })
}

impl ClvReport {
    /// The tables: `clv_summary` (parameters and totals) and `clv` (per customer).
    pub fn tables(&self, top: usize) -> Vec<super::table::Table> {
        use super::table::Table;
        let mut s = Table::new("clv_summary", &["figure", "value"]);
        for (name, value) in [
            ("customers", self.customers as f64),
            ("mean_clv", self.mean_clv),
            ("total_clv", self.total_clv),
            ("bgnbd_r", self.bgnbd.r),
            ("bgnbd_alpha", self.bgnbd.alpha),
            ("bgnbd_a", self.bgnbd.a),
            ("bgnbd_b", self.bgnbd.b),
            ("gamma_gamma_p", self.gamma_gamma.p),
            ("gamma_gamma_q", self.gamma_gamma.q),
            ("gamma_gamma_v", self.gamma_gamma.v),
        ] {
            s.push(vec![name.into(), value.into()]);
        }
        let mut t = Table::new(
            "clv",
            &[
                "customer_id",
                "x",
                "t_x",
                "t",
                "zbar",
                "p_alive",
                "expected_spend",
                "clv",
            ],
        );
        for v in self.values.iter().take(top) {
            t.push(vec![
                v.customer_id.as_str().into(),
                v.x.into(),
                v.t_x.into(),
                v.t.into(),
                v.zbar.into(),
                v.p_alive.into(),
                v.expected_spend.into(),
                v.clv.into(),
            ]);
        }
        vec![s, t]
    }
}
