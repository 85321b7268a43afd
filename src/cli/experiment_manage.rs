//! `nextbest experiment create|list|show|start|stop|traffic|results`: experiments in the
//! service's database, without the service (it picks changes up within seconds).

use std::path::{Path, PathBuf};

use anyhow::Context;
use nextbest::decision::PolicySet;
use nextbest::engine::experiments as manage;
use nextbest::experiment::analysis::{AnalysisSettings, ExperimentResults};
use nextbest::experiment::{Experiment, ExperimentSpec};
use nextbest::stats::experiment::format_p;
use nextbest::store::{ExperimentChange, Store};

/// Where the experiments live.
#[derive(Debug, clap::Args)]
pub struct Location {
    /// The service's database (SQLite file, or a postgres:// URL).
    #[arg(long, default_value = "nextbest.db")]
    database: PathBuf,
}

/// What the experiment commands can do besides `analyze`.
#[derive(Debug, clap::Subcommand)]
pub enum Manage {
    /// Define an experiment from a TOML or JSON file (a draft until started).
    Create {
        /// The definition (the body of POST /v1/experiments).
        file: PathBuf,
        /// Folder of policy files the arms name.
        #[arg(long, default_value = "policies")]
        policies: PathBuf,
        #[command(flatten)]
        at: Location,
    },
    /// List the experiments.
    List {
        #[command(flatten)]
        at: Location,
    },
    /// Print one experiment's definition and state (JSON).
    Show {
        /// Its id.
        id: String,
        #[command(flatten)]
        at: Location,
    },
    /// Start a draft: from now on the service assigns units to its arms.
    Start {
        /// Its id.
        id: String,
        /// Folder of policy files the arms name.
        #[arg(long, default_value = "policies")]
        policies: PathBuf,
        #[command(flatten)]
        at: Location,
    },
    /// Stop a running experiment (its data stays).
    Stop {
        /// Its id.
        id: String,
        #[command(flatten)]
        at: Location,
    },
    /// Raise a running experiment's share of traffic (units already in stay in their arms).
    Traffic {
        /// Its id.
        id: String,
        /// The new share, in (0, 1].
        #[arg(long)]
        to: f64,
        #[command(flatten)]
        at: Location,
    },
    /// The results: per arm and metric, lifts with intervals, health checks and the verdict.
    Results {
        /// Its id.
        id: String,
        /// Judge by fixed-horizon intervals instead of always-valid sequential ones.
        #[arg(long)]
        fixed_horizon: bool,
        /// Intervals cover 1 − alpha.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// Print JSON (as GET /v1/experiments/{id}/results).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Location,
    },
}

fn open(at: &Location) -> anyhow::Result<Store> {
    Store::open(&at.database).with_context(|| format!("opening {}", at.database.display()))
}

fn read_spec(file: &Path) -> anyhow::Result<ExperimentSpec> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|e| anyhow::anyhow!("{}: {}: {}", file.display(), e.path(), e.inner()))
    } else {
        nextbest::config_file::from_toml_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
    }
}

fn print_one(e: &Experiment) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(e)?);
    Ok(())
}

/// Runs one of the management commands.
pub fn run(command: Manage) -> anyhow::Result<()> {
    match command {
        Manage::Create { file, policies, at } => {
            let spec = read_spec(&file)?;
            let policies = PolicySet::load_dir(&policies)?;
            let experiment = manage::check(&spec, &policies)?;
            let store = open(&at)?;
            let created = manage::apply(
                &store,
                &spec.id,
                ExperimentChange::Create(Box::new(experiment)),
            )?;
            eprintln!(
                "created '{}' as a draft; start it with `nextbest experiment start {}`",
                created.id, created.id
            );
            print_one(&created)
        }
        Manage::List { at } => {
            let store = open(&at)?;
            let experiments = store.experiments()?;
            if experiments.is_empty() {
                println!("no experiment in {}", at.database.display());
            }
            for e in experiments {
                let arms: Vec<String> = e
                    .arms
                    .iter()
                    .map(|a| format!("{} {:.0}%", a.name, a.weight * 100.0))
                    .collect();
                println!(
                    "{:<24} {:<8} traffic {:>5.1}%  arms: {}  started {}",
                    e.id,
                    e.status.name(),
                    e.traffic * 100.0,
                    arms.join(", "),
                    e.started_at.as_deref().unwrap_or("–")
                );
            }
            Ok(())
        }
        Manage::Show { id, at } => print_one(&open(&at)?.experiment(&id)?),
        Manage::Start { id, policies, at } => {
            let policies = PolicySet::load_dir(&policies)?;
            let store = open(&at)?;
            manage::check_startable(&store, &policies, &id)?;
            print_one(&manage::apply(
                &store,
                &id,
                ExperimentChange::Start(id.clone()),
            )?)
        }
        Manage::Stop { id, at } => {
            let store = open(&at)?;
            print_one(&manage::apply(
                &store,
                &id,
                ExperimentChange::Stop(id.clone()),
            )?)
        }
        Manage::Traffic { id, to, at } => {
            let store = open(&at)?;
            print_one(&manage::apply(
                &store,
                &id,
                ExperimentChange::Ramp(id.clone(), to),
            )?)
        }
        Manage::Results {
            id,
            fixed_horizon,
            alpha,
            json,
            at,
        } => {
            let store = open(&at)?;
            let settings = AnalysisSettings {
                alpha,
                sequential: !fixed_horizon,
                ..AnalysisSettings::default()
            };
            let results = manage::results(&store, &id, &settings)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print_results(&results);
            }
            Ok(())
        }
    }
}

fn print_results(r: &ExperimentResults) {
    let e = &r.experiment;
    println!("{} ({}, {})", e.name, e.id, e.status.name());
    println!("\n{}\n", r.verdict);
    for warning in &r.health {
        println!("warning: {}", warning.message);
    }
    println!(
        "{:<16} {:>10} {:>10} {:>8}",
        "arm", "customers", "decisions", "weight"
    );
    for a in &r.arms {
        println!(
            "{:<16} {:>10} {:>10} {:>7.0}%",
            a.arm,
            a.units,
            a.exposures,
            a.weight * 100.0
        );
    }
    let interval = |i: Option<[f64; 2]>| {
        i.map_or_else(
            || "–".to_string(),
            |[lo, hi]| format!("[{:+.1}%, {:+.1}%]", lo * 100.0, hi * 100.0),
        )
    };
    for m in &r.metrics {
        println!("\n{} ({:?})", m.metric.name(), m.role);
        for a in &m.arms {
            let comparison = m.comparisons.iter().find(|c| c.arm == a.arm);
            let value = if m.metric.is_rate() {
                format!("{:.3}%", a.mean * 100.0)
            } else {
                format!("{:.2}", a.mean)
            };
            match comparison {
                None => println!("  {:<16} {:>10}  (control)", a.arm, value),
                Some(c) => println!(
                    "  {:<16} {:>10}  lift {:>7}  {} {}  p {}  P(better) {}  {}",
                    a.arm,
                    value,
                    c.relative_lift
                        .map_or_else(|| "–".into(), |l| format!("{:+.1}%", l * 100.0)),
                    if r.settings.sequential {
                        "always-valid"
                    } else {
                        "interval"
                    },
                    interval(c.interval),
                    c.p_value_adjusted
                        .or(c.p_value)
                        .map_or_else(|| "–".into(), format_p),
                    c.chance_to_win
                        .map_or_else(|| "–".into(), |p| format!("{:.1}%", p * 100.0)),
                    c.verdict
                ),
            }
        }
    }
}
