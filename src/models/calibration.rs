//! Probability calibration: Platt scaling (a logistic map of the log-odds) or isotonic
//! regression (a monotone step function fitted by pool-adjacent-violators).

use serde::{Deserialize, Serialize};

/// A map from raw to calibrated probabilities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibration {
    /// Probabilities are used as they are.
    #[default]
    None,
    /// `p' = σ(a · logit(p) + b)`.
    Platt {
        /// Slope on the log-odds.
        a: f64,
        /// Offset.
        b: f64,
    },
    /// Piecewise-linear interpolation through monotone (raw, calibrated) knots.
    Isotonic {
        /// Raw probabilities, ascending.
        x: Vec<f64>,
        /// Calibrated probabilities, non-decreasing.
        y: Vec<f64>,
    },
}

/// Which calibration a config asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// None.
    None,
    /// Platt scaling.
    Platt,
    /// Isotonic regression.
    Isotonic,
}

impl CalibrationMethod {
    /// The name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CalibrationMethod::None => "none",
            CalibrationMethod::Platt => "platt",
            CalibrationMethod::Isotonic => "isotonic",
        }
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

impl Calibration {
    /// Fits the chosen method on held-out raw probabilities and outcomes.
    pub fn fit(method: CalibrationMethod, raw: &[f64], labels: &[bool]) -> Self {
        match method {
            CalibrationMethod::None => Calibration::None,
            CalibrationMethod::Platt => fit_platt(raw, labels),
            CalibrationMethod::Isotonic => fit_isotonic(raw, labels),
        }
    }

    /// The calibrated probability.
    pub fn apply(&self, p: f64) -> f64 {
        match self {
            Calibration::None => p,
            Calibration::Platt { a, b } => 1.0 / (1.0 + (-(a * logit(p) + b)).exp()),
            Calibration::Isotonic { x, y } => {
                if x.is_empty() {
                    return p;
                }
                let i = x.partition_point(|&k| k < p);
                if i == 0 {
                    y[0]
                } else if i == x.len() {
                    y[x.len() - 1]
                } else {
                    let (x0, x1, y0, y1) = (x[i - 1], x[i], y[i - 1], y[i]);
                    if x1 > x0 {
                        y0 + (y1 - y0) * (p - x0) / (x1 - x0)
                    } else {
                        y1
                    }
                }
            }
        }
    }
}

/// Newton's method on the two-parameter log-likelihood, with Platt's smoothed targets.
fn fit_platt(raw: &[f64], labels: &[bool]) -> Calibration {
    let positives = labels.iter().filter(|&&y| y).count() as f64;
    let negatives = labels.len() as f64 - positives;
    let hi = (positives + 1.0) / (positives + 2.0);
    let lo = 1.0 / (negatives + 2.0);
    let z: Vec<f64> = raw.iter().map(|&p| logit(p)).collect();
    let t: Vec<f64> = labels.iter().map(|&y| if y { hi } else { lo }).collect();
    let (mut a, mut b) = (1.0, 0.0);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-12, 0.0, 1e-12);
        for (zi, ti) in z.iter().zip(&t) {
            let p = 1.0 / (1.0 + (-(a * zi + b)).exp());
            let d = p - ti;
            let w = p * (1.0 - p);
            ga += d * zi;
            gb += d;
            haa += w * zi * zi;
            hab += w * zi;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-18 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    Calibration::Platt { a, b }
}

/// Pool-adjacent-violators over the raw scores, then one knot per pooled block.
fn fit_isotonic(raw: &[f64], labels: &[bool]) -> Calibration {
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.sort_by(|&i, &j| raw[i].total_cmp(&raw[j]));
    // Blocks of (sum of x, sum of y, weight).
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for &i in &order {
        blocks.push((raw[i], f64::from(u8::from(labels[i])), 1.0));
        while blocks.len() > 1 {
            let (x1, y1, w1) = blocks[blocks.len() - 1];
            let (x0, y0, w0) = blocks[blocks.len() - 2];
            if y0 / w0 <= y1 / w1 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (x0 + x1, y0 + y1, w0 + w1);
        }
    }
    let (x, y) = blocks.iter().map(|&(sx, sy, w)| (sx / w, sy / w)).unzip();
    Calibration::Isotonic { x, y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_is_monotone_and_matches_pooled_rates() {
        let raw = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let labels = [false, true, false, false, true, true];
        let Calibration::Isotonic { x, y } = fit_isotonic(&raw, &labels) else {
            panic!()
        };
        assert!(y.windows(2).all(|w| w[0] <= w[1]));
        // 0.2..0.4 pool to one third (knot at their mean, 0.3); the ends stay 0 and 1.
        assert_eq!(y, vec![0.0, 1.0 / 3.0, 1.0, 1.0]);
        assert!((x[1] - 0.3).abs() < 1e-12);
        let c = Calibration::Isotonic { x, y };
        assert_eq!(c.apply(0.05), 0.0);
        assert_eq!(c.apply(0.99), 1.0);
    }

    #[test]
    fn platt_recovers_a_known_distortion() {
        // Outcomes drawn as if the true probability were σ(2·logit(p) − 1).
        let mut raw = Vec::new();
        let mut labels = Vec::new();
        for i in 1..200 {
            let p = f64::from(i) / 200.0;
            let truth = 1.0 / (1.0 + (-(2.0 * logit(p) - 1.0)).exp());
            for k in 0..50 {
                raw.push(p);
                labels.push(f64::from(k) + 0.5 < truth * 50.0);
            }
        }
        let Calibration::Platt { a, b } = fit_platt(&raw, &labels) else {
            panic!()
        };
        assert!(
            (a - 2.0).abs() < 0.1 && (b + 1.0).abs() < 0.1,
            "a {a}, b {b}"
        );
    }
}
