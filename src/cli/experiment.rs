//! `nextbest experiment`: experiments from the command line: `analyze`, the offline analysis of
//! a table of units (docs/experiments.md), and the service's experiments
//! (`create`, `list`, `show`, `start`, `stop`, `traffic`, `results`: [`super::experiment_manage`]).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use nextbest::experiment::{read_units, UnitColumns};
use nextbest::journey::Format;
use nextbest::stats::experiment::{
    analyze_experiment, format_p, AnalysisSettings, ArmResult, ExperimentReport, HealthSettings,
    MetricKind, MetricReport, DEFAULT_TUNING,
};

/// Arguments of `nextbest experiment`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ExperimentCommand,
}

/// The subcommands of `nextbest experiment`, one variant each.
#[derive(Debug, clap::Subcommand)]
pub enum ExperimentCommand {
    /// Analyse an experiment offline from a table of units (one row per unit: id, arm, metrics):
    /// lift against control with intervals and p-values, chance to win, health warnings.
    Analyze(AnalyzeArgs),
    /// Define, list, start, stop, ramp an experiment of the service, or read its results.
    #[command(flatten)]
    Manage(super::experiment_manage::Manage),
}

/// Arguments of `nextbest experiment analyze`.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The table of units (.csv, .parquet or .jsonl): one row per unit.
    #[arg(long, value_name = "FILE")]
    units: PathBuf,
    /// Force the table's format instead of telling it from the extension.
    #[arg(long)]
    format: Option<Format>,
    /// The column of unit ids.
    #[arg(long, default_value = "unit", value_name = "COL")]
    unit_column: String,
    /// The column of arm names.
    #[arg(long, default_value = "arm", value_name = "COL")]
    arm_column: String,
    /// The control arm [default: the arm named `control`, else the first in sorted order].
    #[arg(long, value_name = "ARM")]
    control: Option<String>,
    /// A metric column (repeatable): numbers, or 0/1 and true/false for a rate.
    #[arg(long = "metric", value_name = "COL")]
    metrics: Vec<String>,
    /// A ratio metric NUM/DEN of two columns, e.g. revenue/orders (repeatable).
    #[arg(long = "ratio", value_name = "NUM/DEN", value_parser = parse_ratio)]
    ratios: Vec<(String, String)>,
    /// A pre-period covariate column: CUPED for every --metric, and the imbalance check.
    #[arg(long, value_name = "COL")]
    covariate: Option<String>,
    /// Always-valid (sequential) intervals and p-values, for results watched while they run.
    #[arg(long)]
    sequential: bool,
    /// The sequential tuning parameter: total units where the intervals are tightest.
    #[arg(long, value_name = "N", requires = "sequential", default_value_t = DEFAULT_TUNING)]
    tuning: f64,
    /// Configured weights per arm for the sample ratio check, e.g. a=0.5,b=0.5 [default: equal].
    #[arg(long, value_name = "ARM=W,…")]
    weights: Option<String>,
    /// Significance level of every interval and test.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Fewer units than this in an arm is a health warning.
    #[arg(long, default_value_t = 100, value_name = "N")]
    min_units: u64,
    /// Print the analysis as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_ratio(text: &str) -> Result<(String, String), std::io::Error> {
    match text.split_once('/') {
        Some((numerator, denominator))
            if !numerator.trim().is_empty() && !denominator.trim().is_empty() =>
        {
            Ok((numerator.trim().into(), denominator.trim().into()))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("'{text}' is not NUM/DEN (two column names, e.g. revenue/orders)"),
        )),
    }
}

/// Runs a subcommand of `nextbest experiment`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        ExperimentCommand::Analyze(args) => analyze(args),
        ExperimentCommand::Manage(command) => {
            super::experiment_manage::run(command).map(|()| ExitCode::SUCCESS)
        }
    }
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    if args.metrics.is_empty() && args.ratios.is_empty() {
        bail!("nothing to analyse: name at least one --metric COL or --ratio NUM/DEN");
    }
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha {} must lie strictly between 0 and 1", args.alpha);
    }
    if !(args.tuning.is_finite() && args.tuning > 0.0) {
        bail!(
            "--tuning {} must be a positive number of units",
            args.tuning
        );
    }
    let columns = UnitColumns {
        unit: args.unit_column.clone(),
        arm: args.arm_column.clone(),
        metrics: args.metrics.clone(),
        ratios: args.ratios.clone(),
        covariate: args.covariate.clone(),
    };
    let table = read_units(&args.units, args.format, &columns)?;
    let control = control_index(&table.arms, args.control.as_deref())
        .with_context(|| format!("{}: --control", args.units.display()))?;
    let weights = weights(&table.arms, args.weights.as_deref())
        .with_context(|| format!("{}: --weights", args.units.display()))?;
    let settings = AnalysisSettings {
        alpha: args.alpha,
        sequential_tuning: args.sequential.then_some(args.tuning),
        health: HealthSettings {
            min_units_per_arm: args.min_units,
            ..HealthSettings::default()
        },
        ..AnalysisSettings::default()
    };
    let report = analyze_experiment(&table.into_input(control, weights), &settings);
    if args.json {
        let answer = JsonAnswer {
            file: args.units.display().to_string(),
            covariate: args.covariate.as_deref(),
            report: &report,
        };
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print!("{}", render(&args, &report));
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(serde::Serialize)]
struct JsonAnswer<'a> {
    file: String,
    covariate: Option<&'a str>,
    #[serde(flatten)]
    report: &'a ExperimentReport,
}

/// The control arm: as asked, else the arm named `control`, else the first in sorted order.
fn control_index(arms: &[String], asked: Option<&str>) -> anyhow::Result<usize> {
    match asked {
        Some(name) => arms
            .iter()
            .position(|a| a == name)
            .with_context(|| format!("no arm named '{name}' (arms: {})", arms.join(", "))),
        None => Ok(arms.iter().position(|a| a == "control").unwrap_or(0)),
    }
}

/// Weights per arm from `a=0.5,b=0.5`: every arm exactly once, each positive; equal if absent.
fn weights(arms: &[String], spec: Option<&str>) -> anyhow::Result<Vec<f64>> {
    let Some(spec) = spec else {
        return Ok(vec![1.0; arms.len()]);
    };
    let mut weights = vec![None; arms.len()];
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (arm, weight) = item
            .split_once('=')
            .with_context(|| format!("'{item}' is not ARM=WEIGHT"))?;
        let weight: f64 = weight
            .trim()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w > 0.0)
            .with_context(|| format!("'{item}': the weight must be a positive number"))?;
        let index = arms
            .iter()
            .position(|a| a == arm.trim())
            .with_context(|| format!("no arm named '{arm}' (arms: {})", arms.join(", ")))?;
        if weights[index].replace(weight).is_some() {
            bail!("arm '{arm}' is given twice");
        }
    }
    let missing: Vec<&str> = arms
        .iter()
        .zip(&weights)
        .filter(|(_, w)| w.is_none())
        .map(|(a, _)| a.as_str())
        .collect();
    if !missing.is_empty() {
        bail!("no weight for arm(s) {}", missing.join(", "));
    }
    Ok(weights.into_iter().flatten().collect())
}

/// The analysis as text: one table per metric, then the split and the health warnings.
fn render(args: &AnalyzeArgs, report: &ExperimentReport) -> String {
    let mut out = String::new();
    let confidence = (1.0 - report.alpha) * 100.0;
    let method = match report.sequential_tuning {
        Some(tuning) => format!("sequential (always-valid) intervals, tuning {tuning}"),
        None => "fixed-horizon Welch t-test".to_string(),
    };
    let total: u64 = report.units.iter().sum();
    let _ = writeln!(
        out,
        "{}: {} arms, {total} units; control {}; {method}; {confidence:.0} % intervals",
        args.units.display(),
        report.arms.len(),
        report.control
    );
    for metric in &report.metrics {
        render_metric(&mut out, args, metric, confidence);
    }
    if let Some(srm) = &report.srm {
        let split: Vec<String> = report
            .arms
            .iter()
            .zip(&report.units)
            .zip(&srm.expected)
            .map(|((arm, units), expected)| format!("{arm} {units} (expected {expected:.0})"))
            .collect();
        let _ = writeln!(
            out,
            "\nsplit: {}; chi-square p = {}",
            split.join(", "),
            format_p(srm.p_value)
        );
    }
    if report.warnings.is_empty() {
        let _ = writeln!(out, "health: no warnings");
    }
    for warning in &report.warnings {
        let _ = writeln!(
            out,
            "warning [{}]: {}",
            warning.code.as_str(),
            warning.message
        );
    }
    out
}

fn render_metric(out: &mut String, args: &AnalyzeArgs, metric: &MetricReport, confidence: f64) {
    let kind = match metric.kind {
        MetricKind::Mean => "mean",
        MetricKind::Proportion => "rate",
        MetricKind::Ratio => "ratio",
    };
    let cuped = match (&args.covariate, metric.cuped) {
        (Some(covariate), true) => format!(", CUPED on {covariate}"),
        _ => String::new(),
    };
    let _ = writeln!(out, "\n{} ({kind}{cuped})", metric.metric);
    let _ = writeln!(
        out,
        "  {:<14} {:>8} {:>12}  {:<24} {:<30} {:>9} {:>9} {:>8}",
        "arm",
        "units",
        kind,
        format!("{confidence:.0} % interval"),
        "lift vs control",
        "p-value",
        "Holm p",
        "P(win)"
    );
    for arm in &metric.arms {
        let _ = writeln!(out, "  {}", arm_line(arm).trim_end());
    }
}

fn arm_line(arm: &ArmResult) -> String {
    let interval = arm.summary.interval.map_or("–".to_string(), |i| {
        format!("[{}, {}]", number(i.lower), number(i.upper))
    });
    let lift = arm.relative.map_or(String::new(), |l| {
        format!(
            "{} [{}, {}]",
            percent(l.estimate),
            percent(l.interval.lower),
            percent(l.interval.upper)
        )
    });
    let p = arm.relative.map_or(String::new(), |l| format_p(l.p_value));
    let holm = arm.p_value_holm.map_or(String::new(), format_p);
    let win = arm.bayesian.map_or(String::new(), |b| {
        format!("{:.1} %", b.chance_to_win * 100.0)
    });
    format!(
        "{:<14} {:>8} {:>12}  {:<24} {:<30} {:>9} {:>9} {:>8}",
        arm.arm,
        arm.summary.units,
        number(arm.summary.mean),
        interval,
        lift,
        p,
        holm,
        win
    )
}

/// Four significant digits, without scientific notation for everyday magnitudes.
fn number(x: f64) -> String {
    if x != 0.0 && (x.abs() >= 1e6 || x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        let decimals = (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.decimals$}")
    }
}

fn percent(x: f64) -> String {
    format!("{:+.1} %", x * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arms() -> Vec<String> {
        vec!["a".into(), "control".into(), "z".into()]
    }

    #[test]
    fn control_defaults_to_the_arm_named_control() {
        assert_eq!(control_index(&arms(), None).unwrap(), 1);
        assert_eq!(control_index(&arms()[..1], None).unwrap(), 0);
        assert_eq!(control_index(&arms(), Some("z")).unwrap(), 2);
        assert!(control_index(&arms(), Some("y")).is_err());
    }

    #[test]
    fn weights_name_every_arm_once() {
        assert_eq!(weights(&arms(), None).unwrap(), [1.0, 1.0, 1.0]);
        let given = weights(&arms(), Some("a=0.2, control=0.4,z=0.4")).unwrap();
        assert_eq!(given, [0.2, 0.4, 0.4]);
        assert!(weights(&arms(), Some("a=0.5,control=0.5")).is_err());
        assert!(weights(&arms(), Some("a=0.5,control=0.5,z=0,")).is_err());
        assert!(weights(&arms(), Some("a=1,a=1,control=1,z=1")).is_err());
        assert!(weights(&arms(), Some("b=1")).is_err());
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(0.10204), "0.1020");
        assert_eq!(number(21.30412), "21.30");
        assert_eq!(number(1234.5), "1234");
        assert_eq!(percent(0.0847), "+8.5 %");
        assert_eq!(format_p(0.00002), "2.0e-5");
    }
}
