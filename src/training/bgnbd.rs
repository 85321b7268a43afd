//! The BG/NBD model of Fader, Hardie & Lee (2005), "Counting your customers the easy way":
//! the classic "is this customer still alive?" baseline that a churn model must beat.
//!
//! Pure functions over each customer's sufficient statistics: `x` repeat purchases, `t_x` the
//! time of the last purchase and `T` the time observed, both measured from the first purchase.

use serde::{Deserialize, Serialize};

use crate::models::params::{require, InvalidSetting};

/// BG/NBD parameters: purchase rates ~ Gamma(r, α), dropout probabilities ~ Beta(a, b).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgNbdParams {
    /// Gamma shape of the purchase rate.
    pub r: f64,
    /// Gamma scale of the purchase rate.
    pub alpha: f64,
    /// Beta shape of the dropout probability.
    pub a: f64,
    /// Beta shape of the dropout probability.
    pub b: f64,
}

impl BgNbdParams {
    /// The fit published by Fader, Hardie & Lee (2005) on the 2,357-customer CDNOW sample
    /// (weeks as the time unit).
    pub const CDNOW_2005: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    /// Checks that every parameter is a finite positive number, naming the key.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (key, value) in [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ] {
            require(
                value > 0.0 && value.is_finite(),
                key,
                "a finite number > 0",
                value,
            )?;
        }
        Ok(())
    }
}

/// One customer's sufficient statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recency {
    /// Repeat purchases (purchase occasions after the first).
    pub x: f64,
    /// Time of the last purchase, from the first.
    pub t_x: f64,
    /// Time observed, from the first purchase to the end of calibration.
    pub t: f64,
}

/// ln Γ(z) for z > 0, by the Lanczos approximation (g = 7, 9 terms; ~15 significant digits).
pub fn ln_gamma(z: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if z < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * z).sin()).ln() - ln_gamma(1.0 - z);
    }
    let z = z - 1.0;
    let mut sum = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        sum += c / (z + i as f64);
    }
    let t = z + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

/// Log-likelihood of one customer's history (FHL 2005, equation 6).
pub fn log_likelihood(p: &BgNbdParams, c: &Recency) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let Recency { x, t_x, t } = *c;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
    let a3 = -(r + x) * (alpha + t).ln();
    if x > 0.0 {
        let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
        // ln(e^a3 + e^a4) without overflow.
        let m = a3.max(a4);
        a1 + a2 + m + ((a3 - m).exp() + (a4 - m).exp()).ln()
    } else {
        a1 + a2 + a3
    }
}

/// P(the customer is still alive at the end of calibration) (FHL 2005, equation 12).
pub fn p_alive(p: &BgNbdParams, c: &Recency) -> f64 {
    if c.x <= 0.0 {
        return 1.0;
    }
    let odds_dead = p.a / (p.b + c.x - 1.0) * ((p.alpha + c.t) / (p.alpha + c.t_x)).powf(p.r + c.x);
    1.0 / (1.0 + odds_dead)
}

/// The Gaussian hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1, by its power series.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 0..100_000 {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if term.abs() <= 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

/// Expected purchases in the next `t` time units (FHL 2005, equation 10): the model's own
/// forecast, and the better churn score (a customer with no repeat purchase is "alive" with
/// probability 1, yet rarely buys again).
pub fn expected_purchases(p: &BgNbdParams, c: &Recency, t: f64) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *p;
    let Recency { x, t_x, t: big_t } = *c;
    let lead = (a + b + x - 1.0) / (a - 1.0);
    let z = t / (alpha + big_t + t);
    let bracket = 1.0
        - ((alpha + big_t) / (alpha + big_t + t)).powf(r + x)
            * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
    let dead_odds = if x > 0.0 {
        a / (b + x - 1.0) * ((alpha + big_t) / (alpha + t_x)).powf(r + x)
    } else {
        0.0
    };
    lead * bracket / (1.0 + dead_odds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_name_the_key() {
        assert_eq!(BgNbdParams::CDNOW_2005.validate(), Ok(()));
        let bad = BgNbdParams {
            alpha: 0.0,
            ..BgNbdParams::CDNOW_2005
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "alpha: must be a finite number > 0, got 0"
        );
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        assert!((ln_gamma(1.0)).abs() < 1e-12);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        assert!((ln_gamma(0.243) - 1.318_043_584_699_67).abs() < 1e-10);
    }

    #[test]
    fn expected_purchases_match_an_independent_computation() {
        // Reference values from scipy.special.hyp2f1 with FHL's equation 10.
        let p = BgNbdParams::CDNOW_2005;
        let cases = [
            (
                Recency {
                    x: 2.0,
                    t_x: 30.43,
                    t: 38.86,
                },
                1.226_028_174_767_135,
            ),
            (
                Recency {
                    x: 0.0,
                    t_x: 0.0,
                    t: 38.86,
                },
                0.195_098_052_011_253_96,
            ),
            (
                Recency {
                    x: 7.0,
                    t_x: 35.0,
                    t: 38.86,
                },
                4.387_487_854_487_876,
            ),
        ];
        for (c, expected) in cases {
            let got = expected_purchases(&p, &c, 39.0);
            assert!((got - expected).abs() < 1e-9, "{c:?}: {got} vs {expected}");
        }
    }

    #[test]
    fn p_alive_behaves_as_the_model_says() {
        let p = BgNbdParams::CDNOW_2005;
        // No repeat purchase: the model cannot tell, P(alive) = 1.
        assert_eq!(
            p_alive(
                &p,
                &Recency {
                    x: 0.0,
                    t_x: 0.0,
                    t: 38.86
                }
            ),
            1.0
        );
        // A recent repeat buyer is more alive than one who stopped long ago.
        let recent = p_alive(
            &p,
            &Recency {
                x: 4.0,
                t_x: 37.0,
                t: 38.86,
            },
        );
        let lapsed = p_alive(
            &p,
            &Recency {
                x: 4.0,
                t_x: 5.0,
                t: 38.86,
            },
        );
        assert!(
            (recent - 0.8503).abs() < 1e-3 && lapsed < 0.02,
            "{recent} {lapsed}"
        );
    }
}
