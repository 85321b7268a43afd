//! The experiment statistics against reference values from GrowthBook's gbstats 0.8.0, scipy
//! and statsmodels (`tests/fixtures/experiment_stats/fixtures.json`, made by `make_fixtures.py`
//! beside it; never from this crate's own code).
//!
//! Every value must match to 1e-6, absolute **or** relative: |ours − theirs| ≤ 1e-6, or
//! |ours − theirs| ≤ 1e-6·|theirs|. The relative leg is for large absolute values (revenue lifts);
//! the absolute leg for p-values near 0, where gbstats computes 1 − cdf and keeps no digits
//! below 1e-16 while we compute the upper tail directly.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nextbest::stats::experiment::{
    adjusted_estimates, bayesian_test, benjamini_hochberg, holm_bonferroni, pooled_theta,
    sample_interval, sample_ratio_mismatch, sequential_t_test, summarize_ratio, summarize_sample,
    two_sided_t_test, AdjustedSample, ArmEstimate, BayesianSettings, DifferenceType,
    FrequentistSettings, GaussianPrior, RatioSample, Sample, SequentialSettings, SRM_ALERT_P_VALUE,
};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixtures {
    lift: Vec<LiftCase>,
    arm_intervals: Vec<IntervalCase>,
    srm: Vec<SrmCase>,
    multiple: Vec<MultipleCase>,
}

/// One arm's sufficient statistics as the fixture writes them.
#[derive(Deserialize, Clone, Copy)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Stats {
    Mean {
        n: u64,
        sum: f64,
        sum_squares: f64,
    },
    Proportion {
        n: u64,
        sum: f64,
    },
    Ratio {
        numerator: Plain,
        denominator: Plain,
        sum_products: f64,
    },
    Cuped {
        metric: Plain,
        covariate: Plain,
        sum_products: f64,
    },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Plain {
    Mean { n: u64, sum: f64, sum_squares: f64 },
    Proportion { n: u64, sum: f64 },
}

impl Plain {
    fn sample(self) -> Sample {
        match self {
            Plain::Mean {
                n,
                sum,
                sum_squares,
            } => Sample::mean_of(n, sum, sum_squares),
            Plain::Proportion { n, sum } => Sample::proportion(n, sum),
        }
    }
}

impl Stats {
    fn sample(self) -> Option<Sample> {
        match self {
            Stats::Mean {
                n,
                sum,
                sum_squares,
            } => Some(
                Plain::Mean {
                    n,
                    sum,
                    sum_squares,
                }
                .sample(),
            ),
            Stats::Proportion { n, sum } => Some(Sample::proportion(n, sum)),
            _ => None,
        }
    }

    fn ratio(self) -> Option<RatioSample> {
        match self {
            Stats::Ratio {
                numerator,
                denominator,
                sum_products,
            } => Some(RatioSample {
                numerator: numerator.sample(),
                denominator: denominator.sample(),
                sum_products,
            }),
            _ => None,
        }
    }

    fn adjusted(self) -> Option<AdjustedSample> {
        match self {
            Stats::Cuped {
                metric,
                covariate,
                sum_products,
            } => Some(AdjustedSample {
                metric: metric.sample(),
                covariate: covariate.sample(),
                sum_products,
            }),
            _ => None,
        }
    }
}

/// The two arms as the tests see them (CUPED adjusted with their pooled θ).
fn estimates(control: Stats, treatment: Stats) -> (ArmEstimate, ArmEstimate) {
    if let (Some(c), Some(t)) = (control.adjusted(), treatment.adjusted()) {
        return adjusted_estimates(&c, &t);
    }
    if let (Some(c), Some(t)) = (control.ratio(), treatment.ratio()) {
        return (c.estimate(), t.estimate());
    }
    (
        control.sample().unwrap().estimate(),
        treatment.sample().unwrap().estimate(),
    )
}

#[derive(Deserialize)]
struct LiftCase {
    name: String,
    control: Stats,
    treatment: Stats,
    test: TestSettings,
    theta: Option<f64>,
    expected: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct TestSettings {
    engine: String,
    difference: DifferenceType,
    alpha: f64,
    #[serde(default)]
    test_value: f64,
    tuning: Option<f64>,
    #[serde(default)]
    inverse: bool,
    prior: Option<GaussianPrior>,
    prior_scale: Option<DifferenceType>,
}

#[derive(Deserialize)]
struct IntervalCase {
    name: String,
    stats: Stats,
    alpha: f64,
    mean: f64,
    lower: f64,
    upper: f64,
}

#[derive(Deserialize)]
struct SrmCase {
    name: String,
    observed: Vec<u64>,
    weights: Vec<f64>,
    p_value: f64,
}

#[derive(Deserialize)]
struct MultipleCase {
    p_values: Vec<f64>,
    holm: Vec<f64>,
    benjamini_hochberg: Vec<f64>,
}

fn fixtures() -> Fixtures {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/experiment_stats/fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Within 1e-6, absolute or relative (see the top of this file).
fn close(ours: f64, theirs: f64) -> bool {
    let gap = (ours - theirs).abs();
    gap <= TOLERANCE || gap <= TOLERANCE * theirs.abs()
}

/// Collects every mismatch so that one run shows them all.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn check(&mut self, case: &str, what: &str, ours: f64, theirs: f64) {
        if !close(ours, theirs) {
            self.0
                .push(format!("{case}: {what} is {ours}, reference {theirs}"));
        }
    }

    fn assert_none(self) {
        assert!(self.0.is_empty(), "{:#?}", self.0);
    }
}

fn expected(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> f64 {
    map[key].as_f64().unwrap()
}

#[test]
fn lifts_match_gbstats() {
    let fixtures = fixtures();
    assert!(fixtures.lift.len() >= 40);
    let mut mismatches = Mismatches::default();
    let mut engines = std::collections::BTreeSet::new();
    for case in &fixtures.lift {
        let name = case.name.as_str();
        engines.insert(case.test.engine.clone());
        if let (Some(theta), Some(c), Some(t)) = (
            case.theta,
            case.control.adjusted(),
            case.treatment.adjusted(),
        ) {
            mismatches.check(name, "theta", pooled_theta(&c, &t), theta);
        }
        let (control, treatment) = estimates(case.control, case.treatment);
        let test = &case.test;
        match test.engine.as_str() {
            "t_test" | "sequential" => {
                let ours = if test.engine == "t_test" {
                    let settings = FrequentistSettings {
                        alpha: test.alpha,
                        difference: test.difference,
                        test_value: test.test_value,
                    };
                    two_sided_t_test(&control, &treatment, &settings)
                } else {
                    let settings = SequentialSettings {
                        alpha: test.alpha,
                        difference: test.difference,
                        test_value: test.test_value,
                        tuning: test.tuning.unwrap(),
                    };
                    sequential_t_test(&control, &treatment, &settings)
                };
                let Some(theirs) = &case.expected else {
                    assert!(ours.is_none(), "{name}: gbstats has no answer, we do");
                    continue;
                };
                let ours = ours.unwrap_or_else(|| panic!("{name}: no answer"));
                mismatches.check(
                    name,
                    "estimate",
                    ours.estimate,
                    expected(theirs, "estimate"),
                );
                mismatches.check(
                    name,
                    "std error",
                    ours.std_error,
                    expected(theirs, "std_error"),
                );
                let (lower, upper) = (expected(theirs, "ci_lower"), expected(theirs, "ci_upper"));
                mismatches.check(name, "ci lower", ours.interval.lower, lower);
                mismatches.check(name, "ci upper", ours.interval.upper, upper);
                mismatches.check(name, "p-value", ours.p_value, expected(theirs, "p_value"));
                if let Some(dof) = theirs.get("degrees_of_freedom") {
                    let dof = dof.as_f64().unwrap();
                    mismatches.check(name, "dof", ours.degrees_of_freedom.unwrap(), dof);
                }
            }
            "bayesian" => {
                let settings = BayesianSettings {
                    alpha: test.alpha,
                    difference: test.difference,
                    inverse: test.inverse,
                    prior: test.prior.unwrap(),
                    prior_scale: test.prior_scale.unwrap(),
                };
                let ours = bayesian_test(&control, &treatment, &settings);
                let Some(theirs) = &case.expected else {
                    assert!(ours.is_none(), "{name}: gbstats has no answer, we do");
                    continue;
                };
                let ours = ours.unwrap_or_else(|| panic!("{name}: no answer"));
                mismatches.check(
                    name,
                    "expected",
                    ours.expected,
                    expected(theirs, "expected"),
                );
                mismatches.check(name, "std dev", ours.std_dev, expected(theirs, "std_dev"));
                let (lower, upper) = (expected(theirs, "ci_lower"), expected(theirs, "ci_upper"));
                mismatches.check(name, "ci lower", ours.interval.lower, lower);
                mismatches.check(name, "ci upper", ours.interval.upper, upper);
                let ctw = expected(theirs, "chance_to_win");
                mismatches.check(name, "chance to win", ours.chance_to_win, ctw);
                let risk = expected(theirs, "risk_control");
                mismatches.check(name, "risk of control", ours.risk_control, risk);
                let risk = expected(theirs, "risk_treatment");
                mismatches.check(name, "risk of treatment", ours.risk_treatment, risk);
            }
            other => panic!("unknown engine {other}"),
        }
    }
    assert_eq!(engines.len(), 3, "{engines:?}");
    mismatches.assert_none();
}

#[test]
fn arm_intervals_match_scipy_and_statsmodels() {
    let mut mismatches = Mismatches::default();
    for case in fixtures().arm_intervals {
        let name = case.name.as_str();
        let summary = match case.stats.ratio() {
            Some(ratio) => summarize_ratio(&ratio, case.alpha),
            None => summarize_sample(&case.stats.sample().unwrap(), case.alpha),
        };
        let interval = summary
            .interval
            .unwrap_or_else(|| panic!("{name}: no interval"));
        mismatches.check(name, "mean", summary.mean, case.mean);
        mismatches.check(name, "lower", interval.lower, case.lower);
        mismatches.check(name, "upper", interval.upper, case.upper);
        if let Some(sample) = case.stats.sample() {
            assert_eq!(sample_interval(&sample, case.alpha), Some(interval));
        }
    }
    mismatches.assert_none();
}

#[test]
fn srm_matches_gbstats() {
    let mut mismatches = Mismatches::default();
    for case in fixtures().srm {
        let check = sample_ratio_mismatch(&case.observed, &case.weights).unwrap();
        mismatches.check(&case.name, "p-value", check.p_value, case.p_value);
        let expect_alert = case.p_value < SRM_ALERT_P_VALUE;
        assert_eq!(
            check.is_mismatch(SRM_ALERT_P_VALUE),
            expect_alert,
            "{}",
            case.name
        );
    }
    mismatches.assert_none();
}

#[test]
fn the_51_49_split_fires_and_50_1_49_9_does_not() {
    let fixtures = fixtures();
    let case = |name: &str| fixtures.srm.iter().find(|c| c.name == name).unwrap();
    let broken = case("51/49 of 100,000");
    assert_eq!(broken.observed, [51_000, 49_000]);
    assert!(sample_ratio_mismatch(&broken.observed, &broken.weights)
        .unwrap()
        .is_mismatch(SRM_ALERT_P_VALUE));
    let fine = case("50.1/49.9 of 100,000");
    assert_eq!(fine.observed, [50_100, 49_900]);
    assert!(!sample_ratio_mismatch(&fine.observed, &fine.weights)
        .unwrap()
        .is_mismatch(SRM_ALERT_P_VALUE));
}

#[test]
fn adjusted_p_values_match_statsmodels() {
    let mut mismatches = Mismatches::default();
    for (index, case) in fixtures().multiple.iter().enumerate() {
        let name = format!("p-values #{index}");
        let holm = holm_bonferroni(&case.p_values);
        let bh = benjamini_hochberg(&case.p_values);
        assert_eq!(holm.len(), case.holm.len());
        for (i, (ours, theirs)) in holm.iter().zip(&case.holm).enumerate() {
            mismatches.check(&name, &format!("holm[{i}]"), *ours, *theirs);
        }
        for (i, (ours, theirs)) in bh.iter().zip(&case.benjamini_hochberg).enumerate() {
            mismatches.check(&name, &format!("bh[{i}]"), *ours, *theirs);
        }
    }
    mismatches.assert_none();
}
