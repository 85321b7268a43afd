//! A whole experiment read at once: every metric of every arm against control, with the
//! frequentist lift (fixed-horizon or sequential), the Bayesian chance to win, adjusted p-values
//! over the family of comparisons, and the health warnings. This is what the CLI prints and what
//! the results page will show; it only assembles the functions of the sibling modules.

use serde::{Deserialize, Serialize};

use super::bayesian::{bayesian_test, BayesianResult, BayesianSettings};
use super::cuped::adjusted_estimates;
use super::frequentist::{two_sided_t_test, DifferenceType, FrequentistSettings, LiftEstimate};
use super::health::{health_checks, HealthInput, HealthSettings, HealthWarning};
use super::multiple::{benjamini_hochberg, holm_bonferroni};
use super::sequential::{sequential_t_test, SequentialSettings};
use super::srm::{sample_ratio_mismatch, SrmCheck};
use super::sufficient::{AdjustedSample, ArmEstimate, RatioSample, Sample, SampleKind};
use super::summary::{summarize_ratio, summarize_sample, ArmSummary};

/// One metric's sufficient statistics, one entry per arm in the experiment's arm order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "arms", rename_all = "snake_case")]
pub enum MetricData {
    /// A mean or a proportion.
    Samples(Vec<Sample>),
    /// A ratio of two per-unit values.
    Ratios(Vec<RatioSample>),
    /// A mean or proportion with a pre-period covariate (CUPED).
    Adjusted(Vec<AdjustedSample>),
}

/// One metric to analyse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricInput {
    /// Its name, as the reader will see it.
    pub name: String,
    /// Its statistics per arm.
    pub data: MetricData,
}

/// Everything known about an experiment, arms in one order throughout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentInput {
    /// Arm names.
    pub arms: Vec<String>,
    /// Index of the control arm.
    pub control: usize,
    /// Units per arm (for the sample ratio check).
    pub units: Vec<u64>,
    /// Configured weights per arm.
    pub weights: Vec<f64>,
    /// Units seen in more than one arm.
    pub units_in_several_arms: u64,
    /// The pre-period covariate per arm, for the imbalance check.
    pub covariate: Option<Vec<Sample>>,
    /// The metrics; all are primary: their p-values form one family for the adjustment.
    pub metrics: Vec<MetricInput>,
}

/// How to analyse.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSettings {
    /// Significance level of every interval and test. Default 0.05.
    pub alpha: f64,
    /// `Some(tuning)` for always-valid (sequential) inference, `None` for the fixed-horizon
    /// t-test. Default `None`.
    pub sequential_tuning: Option<f64>,
    /// The Bayesian prior (its alpha and difference type are taken from here per test).
    pub bayesian: BayesianSettings,
    /// Health-check thresholds.
    pub health: HealthSettings,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            alpha: 0.05,
            sequential_tuning: None,
            bayesian: BayesianSettings::default(),
            health: HealthSettings::default(),
        }
    }
}

/// One arm of one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmResult {
    /// The arm.
    pub arm: String,
    /// Units, mean and interval of the metric as measured (before any CUPED adjustment).
    pub summary: ArmSummary,
    /// The CUPED-adjusted mean used for the lift (`None` without a covariate).
    pub adjusted_mean: Option<f64>,
    /// Relative lift against control (`None` for control itself, or when undefined).
    pub relative: Option<LiftEstimate>,
    /// Absolute lift against control.
    pub absolute: Option<LiftEstimate>,
    /// The Bayesian reading of the relative lift.
    pub bayesian: Option<BayesianResult>,
    /// The relative lift's p-value adjusted by Holm–Bonferroni over all comparisons.
    pub p_value_holm: Option<f64>,
    /// The relative lift's p-value adjusted by Benjamini–Hochberg over all comparisons.
    pub p_value_bh: Option<f64>,
}

/// What a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A mean of any numbers.
    Mean,
    /// A rate of 0/1 outcomes.
    Proportion,
    /// A ratio of sums.
    Ratio,
}

/// One metric across the arms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    /// The metric's name.
    pub metric: String,
    /// What it is.
    pub kind: MetricKind,
    /// Whether CUPED adjusted it.
    pub cuped: bool,
    /// Every arm, control included, in the experiment's order.
    pub arms: Vec<ArmResult>,
}

/// The analysis of a whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// Arm names.
    pub arms: Vec<String>,
    /// The control arm.
    pub control: String,
    /// Units per arm.
    pub units: Vec<u64>,
    /// The weights the split was checked against.
    pub weights: Vec<f64>,
    /// `"t_test"` or `"sequential"`.
    pub method: String,
    /// The sequential tuning parameter, when sequential.
    pub sequential_tuning: Option<f64>,
    /// Significance level.
    pub alpha: f64,
    /// The sample ratio check (`None` when undefined, e.g. a single arm).
    pub srm: Option<SrmCheck>,
    /// One report per metric.
    pub metrics: Vec<MetricReport>,
    /// Health warnings; empty when all is well.
    pub warnings: Vec<HealthWarning>,
}

/// The per-arm estimates the tests take (CUPED pairs are adjusted with the pair's θ).
fn pair_estimates(data: &MetricData, control: usize, arm: usize) -> (ArmEstimate, ArmEstimate) {
    match data {
        MetricData::Samples(s) => (s[control].estimate(), s[arm].estimate()),
        MetricData::Ratios(r) => (r[control].estimate(), r[arm].estimate()),
        MetricData::Adjusted(a) => adjusted_estimates(&a[control], &a[arm]),
    }
}

fn arm_count(data: &MetricData) -> usize {
    match data {
        MetricData::Samples(s) => s.len(),
        MetricData::Ratios(r) => r.len(),
        MetricData::Adjusted(a) => a.len(),
    }
}

fn summary_of(data: &MetricData, arm: usize, alpha: f64) -> ArmSummary {
    match data {
        MetricData::Samples(s) => summarize_sample(&s[arm], alpha),
        MetricData::Ratios(r) => summarize_ratio(&r[arm], alpha),
        MetricData::Adjusted(a) => summarize_sample(&a[arm].metric, alpha),
    }
}

fn kind_of(data: &MetricData) -> MetricKind {
    let sample_kind = match data {
        MetricData::Ratios(_) => return MetricKind::Ratio,
        MetricData::Samples(s) => s.first().map(|s| s.kind),
        MetricData::Adjusted(a) => a.first().map(|a| a.metric.kind),
    };
    match sample_kind {
        Some(SampleKind::Proportion) => MetricKind::Proportion,
        _ => MetricKind::Mean,
    }
}

/// The lift of one arm by the configured method.
fn lift_of(
    control: &ArmEstimate,
    treatment: &ArmEstimate,
    difference: DifferenceType,
    settings: &AnalysisSettings,
) -> Option<LiftEstimate> {
    match settings.sequential_tuning {
        Some(tuning) => sequential_t_test(
            control,
            treatment,
            &SequentialSettings {
                alpha: settings.alpha,
                difference,
                test_value: 0.0,
                tuning,
            },
        ),
        None => two_sided_t_test(
            control,
            treatment,
            &FrequentistSettings {
                alpha: settings.alpha,
                difference,
                test_value: 0.0,
            },
        ),
    }
}

fn analyze_metric(
    metric: &MetricInput,
    arms: &[String],
    control: usize,
    settings: &AnalysisSettings,
) -> MetricReport {
    let count = arm_count(&metric.data).min(arms.len());
    let cuped = matches!(metric.data, MetricData::Adjusted(_));
    let results = (0..count)
        .map(|arm| {
            let summary = summary_of(&metric.data, arm, settings.alpha);
            let mut result = ArmResult {
                arm: arms[arm].clone(),
                summary,
                adjusted_mean: None,
                relative: None,
                absolute: None,
                bayesian: None,
                p_value_holm: None,
                p_value_bh: None,
            };
            if arm == control || control >= count {
                return result;
            }
            let (c, t) = pair_estimates(&metric.data, control, arm);
            if cuped {
                result.adjusted_mean = Some(t.mean);
            }
            result.relative = lift_of(&c, &t, DifferenceType::Relative, settings);
            result.absolute = lift_of(&c, &t, DifferenceType::Absolute, settings);
            let bayesian = BayesianSettings {
                alpha: settings.alpha,
                difference: DifferenceType::Relative,
                ..settings.bayesian
            };
            result.bayesian = bayesian_test(&c, &t, &bayesian);
            result
        })
        .collect();
    MetricReport {
        metric: metric.name.clone(),
        kind: kind_of(&metric.data),
        cuped,
        arms: results,
    }
}

/// Fills in the Holm and Benjamini–Hochberg p-values over every defined relative lift of every
/// metric: the family is (treatment arms × primary metrics).
fn adjust_p_values(metrics: &mut [MetricReport]) {
    let mut places = Vec::new();
    let mut p_values = Vec::new();
    for (m, metric) in metrics.iter().enumerate() {
        for (a, arm) in metric.arms.iter().enumerate() {
            if let Some(lift) = &arm.relative {
                places.push((m, a));
                p_values.push(lift.p_value);
            }
        }
    }
    let holm = holm_bonferroni(&p_values);
    let bh = benjamini_hochberg(&p_values);
    for (i, &(m, a)) in places.iter().enumerate() {
        metrics[m].arms[a].p_value_holm = holm.get(i).copied();
        metrics[m].arms[a].p_value_bh = bh.get(i).copied();
    }
}

/// Analyses every metric of an experiment against its control and runs the health checks.
/// Arms without a defined test (too few units, zero variance) keep their summary and have no
/// lift; the warnings say why the numbers may not be trusted.
pub fn analyze_experiment(
    input: &ExperimentInput,
    settings: &AnalysisSettings,
) -> ExperimentReport {
    let mut metrics: Vec<MetricReport> = input
        .metrics
        .iter()
        .map(|metric| analyze_metric(metric, &input.arms, input.control, settings))
        .collect();
    adjust_p_values(&mut metrics);
    let health = HealthInput {
        arms: &input.arms,
        units: &input.units,
        weights: &input.weights,
        control: input.control,
        units_in_several_arms: input.units_in_several_arms,
        covariate: input.covariate.as_deref(),
    };
    ExperimentReport {
        arms: input.arms.clone(),
        control: input.arms.get(input.control).cloned().unwrap_or_default(),
        units: input.units.clone(),
        weights: input.weights.clone(),
        method: match settings.sequential_tuning {
            Some(_) => "sequential".into(),
            None => "t_test".into(),
        },
        sequential_tuning: settings.sequential_tuning,
        alpha: settings.alpha,
        srm: sample_ratio_mismatch(&input.units, &input.weights),
        metrics,
        warnings: health_checks(&health, &settings.health),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ExperimentInput {
        ExperimentInput {
            arms: vec!["control".into(), "b".into(), "c".into()],
            control: 0,
            units: vec![1000, 1000, 1000],
            weights: vec![1.0, 1.0, 1.0],
            units_in_several_arms: 0,
            covariate: None,
            metrics: vec![
                MetricInput {
                    name: "converted".into(),
                    data: MetricData::Samples(vec![
                        Sample::proportion(1000, 100.0),
                        Sample::proportion(1000, 130.0),
                        Sample::proportion(1000, 101.0),
                    ]),
                },
                MetricInput {
                    name: "revenue".into(),
                    data: MetricData::Samples(vec![
                        Sample::mean_of(1000, 5000.0, 60_000.0),
                        Sample::mean_of(1000, 5200.0, 64_000.0),
                        Sample::mean_of(1000, 4000.0, 50_000.0),
                    ]),
                },
            ],
        }
    }

    #[test]
    fn every_treatment_arm_gets_a_lift_and_adjusted_p_values() {
        let report = analyze_experiment(&input(), &AnalysisSettings::default());
        assert_eq!(report.metrics.len(), 2);
        for metric in &report.metrics {
            assert!(metric.arms[0].relative.is_none());
            for arm in &metric.arms[1..] {
                let lift = arm.relative.unwrap();
                assert!(arm.p_value_holm.unwrap() >= lift.p_value);
                assert!(arm.p_value_bh.unwrap() >= lift.p_value);
                assert!(arm.p_value_holm.unwrap() >= arm.p_value_bh.unwrap());
            }
        }
        assert_eq!(report.metrics[0].kind, MetricKind::Proportion);
        assert!(report.warnings.is_empty());
        assert_eq!(report.method, "t_test");
    }

    #[test]
    fn sequential_settings_switch_the_method() {
        let settings = AnalysisSettings {
            sequential_tuning: Some(2000.0),
            ..AnalysisSettings::default()
        };
        let report = analyze_experiment(&input(), &settings);
        assert_eq!(report.method, "sequential");
        let lift = report.metrics[0].arms[1].relative.unwrap();
        assert!(lift.degrees_of_freedom.is_none());
    }
}
