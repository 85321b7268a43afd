//! An experiment's results as the service and the command line show them: the arms' traffic,
//! every metric per arm, each treatment's lift over control with its interval (always-valid
//! sequential by default, so looking every day is safe), Holm-adjusted p-values over the primary
//! metric's comparisons, chance to win, CUPED when the experiment has a pre-period, the health
//! checks, cumulative conversion per day, and a one-sentence verdict. The statistics are
//! [`crate::stats::experiment::analyze_experiment`]'s; this maps the store's [`ArmTotals`] into
//! its sufficient statistics and its report into what people read.

use serde::{Deserialize, Serialize};

use super::definition::{Experiment, Metric};
use super::totals::{ArmTotals, DailyArm};
use crate::stats::experiment::analysis::{
    analyze_experiment, AnalysisSettings as StatsSettings, ExperimentInput, ExperimentReport,
    MetricData, MetricInput,
};
use crate::stats::experiment::{
    AdjustedSample, HealthSettings, HealthWarning, RatioSample, Sample,
};

/// How results are computed; every field has a default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisSettings {
    /// Intervals cover 1 − alpha. Default 0.05.
    pub alpha: f64,
    /// Always-valid sequential intervals, so looking every day is safe (default true); false
    /// for fixed-horizon Welch t intervals, valid only when read once, at the planned end.
    pub sequential: bool,
    /// The sequential intervals' tuning: the total units where they are tightest (5000).
    pub tuning: f64,
    /// Regression-adjust (CUPED) with the pre-period revenue when the experiment has one.
    pub cuped: bool,
    /// Fewer units per arm than this is a health warning and no verdict (100).
    pub min_units_per_arm: u64,
}

impl Default for AnalysisSettings {
    fn default() -> Self {
        AnalysisSettings {
            alpha: 0.05,
            sequential: true,
            tuning: 5_000.0,
            cuped: true,
            min_units_per_arm: 100,
        }
    }
}

/// The role of a metric in the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    /// The verdict's metric.
    Primary,
    /// Reported beside it.
    Secondary,
    /// Must not get worse.
    Guardrail,
}

/// One arm's value of one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArmMetric {
    /// The arm.
    pub arm: String,
    /// Units in it.
    pub units: u64,
    /// The metric as measured (a share for rates, money for revenue).
    pub mean: f64,
    /// Its confidence interval, when defined.
    pub interval: Option<[f64; 2]>,
}

/// A treatment against control on one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Comparison {
    /// The treatment arm.
    pub arm: String,
    /// The control arm.
    pub control: String,
    /// Treatment minus control, as measured.
    pub absolute_lift: Option<f64>,
    /// (treatment − control) / control (CUPED-adjusted when `cuped`).
    pub relative_lift: Option<f64>,
    /// The relative lift's interval (sequential or fixed-horizon, as the settings say).
    pub interval: Option<[f64; 2]>,
    /// Two-sided p-value of the relative lift.
    pub p_value: Option<f64>,
    /// Holm-adjusted over the primary metric's comparisons (primary metric only).
    pub p_value_adjusted: Option<f64>,
    /// Posterior probability that the treatment is better (for a lower-is-better metric, that
    /// it is lower).
    pub chance_to_win: Option<f64>,
    /// Expected relative loss of choosing the treatment.
    pub risk: Option<f64>,
    /// Whether CUPED adjusted the estimates.
    pub cuped: bool,
    /// `better`, `worse` or `inconclusive`.
    pub verdict: String,
}

/// One metric's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MetricResult {
    /// The metric.
    pub metric: Metric,
    /// Primary, secondary or guardrail.
    pub role: MetricRole,
    /// Whether more is better.
    pub higher_is_better: bool,
    /// Per arm, control first.
    pub arms: Vec<ArmMetric>,
    /// Each treatment against control.
    pub comparisons: Vec<Comparison>,
}

/// One arm's traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArmTraffic {
    /// The arm.
    pub arm: String,
    /// Its policy (`None`: a holdout).
    pub policy: Option<String>,
    /// Configured share of the experiment's units.
    pub weight: f64,
    /// Units exposed (each once, in the arm of its first exposure).
    pub units: u64,
    /// Decisions logged.
    pub exposures: u64,
}

/// A point of the cumulative conversion curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CumulativePoint {
    /// The day (UTC).
    pub day: String,
    /// The arm.
    pub arm: String,
    /// Units first exposed up to that day.
    pub units: u64,
    /// Of them, converted.
    pub converted: u64,
    /// converted / units.
    pub rate: f64,
}

/// Everything a results page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExperimentResults {
    /// The experiment.
    pub experiment: Experiment,
    /// How the numbers were computed.
    pub settings: AnalysisSettings,
    /// Per arm, control first.
    pub arms: Vec<ArmTraffic>,
    /// Primary, then secondary, then guardrails.
    pub metrics: Vec<MetricResult>,
    /// Health warnings (empty when all is well): `{code, message}`.
    #[schema(value_type = Vec<Object>)]
    pub health: Vec<HealthWarning>,
    /// Cumulative units and conversions per day and arm.
    pub cumulative: Vec<CumulativePoint>,
    /// One sentence a marketer can act on.
    pub verdict: String,
}

fn sample_of(metric: Metric, t: &ArmTotals) -> Sample {
    match metric {
        Metric::ConversionRate => Sample::proportion(t.units, t.converted),
        Metric::ClickRate => Sample::proportion(t.units, t.clicked),
        Metric::UnsubscribeRate => Sample::proportion(t.units, t.unsubscribed),
        Metric::ComplaintRate => Sample::proportion(t.units, t.complained),
        Metric::RevenuePerCustomer | Metric::RevenuePerOrder => {
            Sample::mean_of(t.units, t.revenue, t.revenue_sq)
        }
    }
}

fn cross_with_pre(metric: Metric, t: &ArmTotals) -> f64 {
    match metric {
        Metric::ConversionRate => t.converted_pre,
        Metric::ClickRate => t.clicked_pre,
        Metric::UnsubscribeRate => t.unsubscribed_pre,
        Metric::ComplaintRate => t.complained_pre,
        Metric::RevenuePerCustomer | Metric::RevenuePerOrder => t.revenue_pre,
    }
}

fn covariate_of(t: &ArmTotals) -> Sample {
    Sample::mean_of(t.units, t.pre, t.pre_sq)
}

/// A metric's sufficient statistics per arm: a ratio for revenue per order, CUPED pairs when
/// asked for, plain samples otherwise.
fn metric_data(metric: Metric, totals: &[ArmTotals], cuped: bool) -> MetricData {
    if metric == Metric::RevenuePerOrder {
        return MetricData::Ratios(
            totals
                .iter()
                .map(|t| RatioSample {
                    numerator: Sample::mean_of(t.units, t.revenue, t.revenue_sq),
                    denominator: Sample::mean_of(t.units, t.orders, t.orders_sq),
                    sum_products: t.revenue_orders,
                })
                .collect(),
        );
    }
    if cuped {
        return MetricData::Adjusted(
            totals
                .iter()
                .map(|t| AdjustedSample {
                    metric: sample_of(metric, t),
                    covariate: covariate_of(t),
                    sum_products: cross_with_pre(metric, t),
                })
                .collect(),
        );
    }
    MetricData::Samples(totals.iter().map(|t| sample_of(metric, t)).collect())
}

fn report(
    experiment: &Experiment,
    totals: &[ArmTotals],
    metrics: &[Metric],
    settings: &AnalysisSettings,
) -> ExperimentReport {
    // CUPED only when the covariate varies at all: with no pre-period revenue anywhere it can
    // explain nothing, and the comparison must not claim an adjustment it did not make.
    let cuped =
        settings.cuped && experiment.pre_period_days > 0 && totals.iter().any(|t| t.pre_sq > 0.0);
    let input = ExperimentInput {
        arms: totals.iter().map(|t| t.arm.clone()).collect(),
        control: 0,
        units: totals.iter().map(|t| t.units).collect(),
        weights: experiment.arms.iter().map(|a| a.weight).collect(),
        units_in_several_arms: totals.iter().map(|t| t.units_in_several_arms).sum(),
        covariate: cuped.then(|| totals.iter().map(covariate_of).collect()),
        metrics: metrics
            .iter()
            .map(|m| MetricInput {
                name: m.name().to_string(),
                data: metric_data(*m, totals, cuped),
            })
            .collect(),
    };
    analyze_experiment(
        &input,
        &StatsSettings {
            alpha: settings.alpha,
            sequential_tuning: settings.sequential.then_some(settings.tuning),
            health: HealthSettings {
                min_units_per_arm: settings.min_units_per_arm,
                ..HealthSettings::default()
            },
            ..StatsSettings::default()
        },
    )
}

fn judge(
    interval: Option<[f64; 2]>,
    p: Option<f64>,
    alpha: f64,
    higher_is_better: bool,
) -> &'static str {
    let significant = p.is_some_and(|p| p < alpha);
    match interval {
        Some([lo, _]) if significant && lo > 0.0 => {
            if higher_is_better {
                "better"
            } else {
                "worse"
            }
        }
        Some([_, hi]) if significant && hi < 0.0 => {
            if higher_is_better {
                "worse"
            } else {
                "better"
            }
        }
        _ => "inconclusive",
    }
}

/// The people's view of one metric of a report.
fn metric_result(
    metric: Metric,
    role: MetricRole,
    report: &ExperimentReport,
    settings: &AnalysisSettings,
) -> Option<MetricResult> {
    let m = report.metrics.iter().find(|r| r.metric == metric.name())?;
    let higher = metric.higher_is_better();
    let control = m.arms.first()?;
    let arms = m
        .arms
        .iter()
        .map(|a| ArmMetric {
            arm: a.arm.clone(),
            units: a.summary.units,
            mean: a.summary.mean,
            interval: a.summary.interval.map(|i| [i.lower, i.upper]),
        })
        .collect();
    let comparisons = m.arms[1..]
        .iter()
        .map(|a| {
            let interval = a.relative.map(|l| [l.interval.lower, l.interval.upper]);
            let p_value = a.relative.map(|l| l.p_value);
            let p_value_adjusted = (role == MetricRole::Primary)
                .then_some(a.p_value_holm)
                .flatten();
            let judged_p = p_value_adjusted.or(p_value);
            let chance = a.bayesian.map(|b| {
                if higher {
                    b.chance_to_win
                } else {
                    1.0 - b.chance_to_win
                }
            });
            let risk = a.bayesian.map(|b| {
                if higher {
                    b.risk_treatment
                } else {
                    b.risk_control
                }
            });
            Comparison {
                arm: a.arm.clone(),
                control: control.arm.clone(),
                absolute_lift: a.absolute.map(|l| l.estimate),
                relative_lift: a.relative.map(|l| l.estimate),
                interval,
                p_value,
                p_value_adjusted,
                chance_to_win: chance,
                risk,
                cuped: m.cuped,
                verdict: judge(interval, judged_p, settings.alpha, higher).to_string(),
            }
        })
        .collect();
    Some(MetricResult {
        metric,
        role,
        higher_is_better: higher,
        arms,
        comparisons,
    })
}

/// The results of an experiment from its arm totals (in its arm order, control first) and its
/// units per day and arm.
pub fn analyse(
    experiment: &Experiment,
    totals: &[ArmTotals],
    daily: &[DailyArm],
    settings: &AnalysisSettings,
) -> ExperimentResults {
    // The primary metric is one family for the p-value adjustment; the others are reported
    // beside it, unadjusted, and never decide the verdict on their own.
    let primary = report(experiment, totals, &[experiment.primary_metric], settings);
    let others: Vec<(Metric, MetricRole)> = experiment
        .secondary_metrics
        .iter()
        .map(|m| (*m, MetricRole::Secondary))
        .chain(
            experiment
                .guardrails
                .iter()
                .map(|m| (*m, MetricRole::Guardrail)),
        )
        .filter(|(m, _)| *m != experiment.primary_metric)
        .collect();
    let other_metrics: Vec<Metric> = others.iter().map(|(m, _)| *m).collect();
    let rest = report(experiment, totals, &other_metrics, settings);
    let mut metrics: Vec<MetricResult> = Vec::new();
    metrics.extend(metric_result(
        experiment.primary_metric,
        MetricRole::Primary,
        &primary,
        settings,
    ));
    for (metric, role) in others {
        if metrics.iter().any(|m| m.metric == metric) {
            continue;
        }
        metrics.extend(metric_result(metric, role, &rest, settings));
    }
    let arms: Vec<ArmTraffic> = experiment
        .arms
        .iter()
        .zip(totals)
        .map(|(a, t)| ArmTraffic {
            arm: a.name.clone(),
            policy: a.policy.clone(),
            weight: a.weight,
            units: t.units,
            exposures: t.exposures,
        })
        .collect();
    let units: Vec<u64> = totals.iter().map(|t| t.units).collect();
    let verdict =
        super::verdict::sentence(experiment, &metrics, &primary.warnings, &units, settings);
    ExperimentResults {
        experiment: experiment.clone(),
        settings: *settings,
        arms,
        metrics,
        health: primary.warnings,
        cumulative: cumulative(daily),
        verdict,
    }
}

/// Running totals per arm, day by day.
fn cumulative(daily: &[DailyArm]) -> Vec<CumulativePoint> {
    let mut running: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    daily
        .iter()
        .map(|d| {
            let entry = running.entry(d.arm.as_str()).or_default();
            entry.0 += d.units;
            entry.1 += d.converted;
            CumulativePoint {
                day: d.day.clone(),
                arm: d.arm.clone(),
                units: entry.0,
                converted: entry.1,
                rate: if entry.0 == 0 {
                    0.0
                } else {
                    entry.1 as f64 / entry.0 as f64
                },
            }
        })
        .collect()
}
