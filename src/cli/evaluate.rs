//! `nextbest evaluate`: what a policy would have earned, estimated from a log of decisions with
//! propensities (off-policy evaluation; docs/evaluation.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use nextbest::catalog::Catalog;
use nextbest::decision::PolicySet;
use nextbest::engine::{Acknowledge, Engine, EngineParts, Limits};
use nextbest::evaluation::{
    self, read_decision_log, read_table, Histories, LogCounts, RewardRule, TableColumns, Target,
};
use nextbest::journey::CustomerTable;
use nextbest::models::registry::{ModelPaths, ModelSet};
use nextbest::server::ServeConfig;
use nextbest::stats::ope::{Estimate, OpeSettings};
use nextbest::store::{Store, StoreLocation};

/// Arguments of `nextbest evaluate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy to evaluate: a loaded policy's name (`default`, `pega`, …) or
    /// `action:<id>` (always that action).
    #[arg(long)]
    policy: String,
    /// The log: nextbest's decision log (a `.db`/`.sqlite` file or a `postgres://` URL) or a
    /// logged-bandit table (Parquet, CSV or JSONL) with customer_id, action, propensity and
    /// reward columns; every other column is a context attribute.
    #[arg(long, value_name = "PATH|URL")]
    log: String,
    /// Service configuration to take models, catalog and policies from (as `serve`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder of model artifacts (those of churn/, conversion/, retention/, sentiment/ present).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Action catalog.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Folder of policy files.
    #[arg(long)]
    policies: Option<PathBuf>,
    /// Journey events to featurise each customer's history from (default: none for a table,
    /// the profile store for a decision log).
    #[arg(long)]
    events: Option<PathBuf>,
    /// Customer table whose attributes each decision sees (a table's own context columns win).
    #[arg(long)]
    customers: Option<PathBuf>,
    /// Table: the logged action's column.
    #[arg(long, default_value = "action_id")]
    action_column: String,
    /// Table: the logging propensity's column.
    #[arg(long, default_value = "propensity")]
    propensity_column: String,
    /// Table: the reward's column (a number or a boolean).
    #[arg(long, default_value = "reward")]
    reward_column: String,
    /// Table: the decision instant's column (optional in the file).
    #[arg(long, default_value = "timestamp")]
    timestamp_column: String,
    /// Decision log: the outcome type that is the reward.
    #[arg(long, default_value = "conversion")]
    outcome: String,
    /// Decision log: only outcomes within this many days of the decision count (0: any time).
    #[arg(long, default_value_t = 7.0)]
    window_days: f64,
    /// Decision log: the reward is the sum of the outcomes' values rather than 1 when any.
    #[arg(long)]
    reward_value: bool,
    /// Switch-DR's threshold on the importance weight.
    #[arg(long, default_value_t = 20.0)]
    switch_tau: f64,
    /// DR-with-shrinkage's λ.
    #[arg(long, default_value_t = 100.0)]
    shrinkage_lambda: f64,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Coverage of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A scratch database for replaying a table (the engine needs one; nothing is written to it).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Scratch(std::env::temp_dir().join(format!(
            "nextbest-evaluate-{}-{nanos}.db",
            std::process::id()
        )))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

fn is_decision_log(log: &str) -> bool {
    log.starts_with("postgres://")
        || log.starts_with("postgresql://")
        || [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|ext| log.ends_with(ext))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = ServeConfig::load(args.config.as_deref())?;
    if let Some(dir) = &args.models {
        config.models = ModelPaths::defaults_in(dir);
        config.models_dir = dir.clone();
    }
    if let Some(catalog) = &args.catalog {
        config.catalog = catalog.clone();
    }
    if let Some(policies) = &args.policies {
        config.policies = policies.clone();
    }
    let settings = OpeSettings {
        switch_tau: args.switch_tau,
        shrinkage_lambda: args.shrinkage_lambda,
        bootstrap: args.bootstrap,
        seed: args.seed,
        confidence: args.confidence,
    };
    settings
        .check()
        .map_err(|(key, problem)| anyhow::anyhow!("--{}: {problem}", key.replace('_', "-")))?;
    if !(args.window_days >= 0.0 && args.window_days.is_finite()) {
        anyhow::bail!("--window-days: must be ≥ 0, got {}", args.window_days);
    }
    let decision_log = is_decision_log(&args.log);
    let scratch = Scratch::new();
    let location = if decision_log {
        StoreLocation::parse(&args.log)?
    } else {
        StoreLocation::Sqlite(scratch.0.clone())
    };
    if let StoreLocation::Sqlite(path) = &location {
        if decision_log && !path.exists() {
            anyhow::bail!("{}: no such decision log", path.display());
        }
    }
    let store = Arc::new(Store::open(location).with_context(|| format!("opening {}", args.log))?);
    let models = ModelSet::load(&config.models).context("loading the models")?;
    let catalog = Catalog::load(&config.catalog)
        .with_context(|| format!("loading the catalog {}", config.catalog.display()))?;
    let policies = PolicySet::load_dir(&config.policies)
        .with_context(|| format!("loading the policies in {}", config.policies.display()))?;
    let engine = Engine::new(EngineParts {
        models,
        catalog,
        policies,
        default_policy: config.default_policy.clone(),
        store: Arc::clone(&store),
        limits: Limits {
            max_history: usize::MAX,
            ..config.limits.clone()
        },
        record_exposures: false,
        acknowledge: Acknowledge::Committed,
        models_dir: config.models_dir.clone(),
        sources: None,
    })?;

    let spinner = super::progress::spinner("reading the log");
    let (log, counts, context_columns) = if decision_log {
        let rule = RewardRule {
            outcome_type: args.outcome.clone(),
            window: (args.window_days > 0.0).then_some((args.window_days * 86_400e6) as i64),
            value: args.reward_value,
        };
        let (log, counts) = read_decision_log(&store, &rule, &|_| {})?;
        (log, counts, Vec::new())
    } else {
        let columns = TableColumns {
            action: args.action_column.clone(),
            propensity: args.propensity_column.clone(),
            reward: args.reward_column.clone(),
            timestamp: args.timestamp_column.clone(),
        };
        let (log, names) = read_table(Path::new(&args.log), &columns)?;
        let counts = LogCounts {
            read: log.len(),
            used: log.len(),
            ..LogCounts::default()
        };
        (log, counts, names)
    };
    let counts = LogCounts {
        used: log.len(),
        ..counts
    };
    let histories = match &args.events {
        Some(path) => Histories::read(path)?,
        None if decision_log => Histories::Store(&store),
        None => Histories::None,
    };
    let customers = args
        .customers
        .as_deref()
        .map(|path| CustomerTable::read(path, None))
        .transpose()?;
    spinner.finish_and_clear();

    let target = Target::parse(&args.policy);
    let bar = super::progress::bar(log.len() as u64, "decisions");
    let result = evaluation::evaluate(
        &engine,
        &target,
        &log,
        &histories,
        customers.as_ref(),
        &settings,
        &|n| bar.inc(n),
    )?;
    bar.finish_and_clear();
    let unused = evaluation::unused_columns(&engine, &context_columns);

    if args.json {
        let out = serde_json::json!({
            "log": args.log,
            "counts": counts,
            "evaluation": result,
            "unused_context_columns": unused,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let r = &result.report;
    println!(
        "off-policy value of {} on {} ({} decisions read, {} used{})",
        result.target,
        args.log,
        counts.read,
        counts.used,
        if counts.dry_run + counts.no_action_logged > 0 {
            format!(
                "; left out: {} dry runs, {} without a logged action",
                counts.dry_run, counts.no_action_logged
            )
        } else {
            String::new()
        }
    );
    let pct = 100.0 * settings.confidence;
    println!(
        "\n  {:<28} {:>10} {:>22}",
        "estimator",
        "value",
        format!("{pct:.0}% interval")
    );
    let line = |name: &str, e: Option<&Estimate>| match e {
        Some(e) => println!(
            "  {name:<28} {:>10.5} {:>22}",
            e.value,
            match (e.low, e.high) {
                (Some(l), Some(h)) => format!("[{l:.5}, {h:.5}]"),
                _ => "n/a".into(),
            }
        ),
        None => println!("  {name:<28} {:>10}", "n/a"),
    };
    line("logging policy (mean reward)", Some(&r.logged));
    line("IPS", Some(&r.ips));
    line("self-normalised IPS", r.snips.as_ref());
    line("direct method", r.direct_method.as_ref());
    line("doubly robust", r.doubly_robust.as_ref());
    line(
        &format!("Switch-DR (τ = {})", settings.switch_tau),
        r.switch_dr.as_ref(),
    );
    line(
        &format!("DR-shrinkage (λ = {})", settings.shrinkage_lambda),
        r.dr_shrinkage.as_ref(),
    );
    if let Some(why) = &result.no_direct_method {
        println!("  (no model-based estimates: {why})");
    }
    let d = &r.diagnostics;
    println!(
        "\n  diagnostics: effective sample size {:.1} of {} ({:.1}%), largest weight {:.2}, mean weight {:.3} (≈ 1 when propensities and support are right)",
        d.effective_sample_size,
        d.rows,
        100.0 * d.effective_sample_size / d.rows.max(1) as f64,
        d.max_weight,
        d.mean_weight
    );
    println!(
        "  {:.1}% of logged decisions took an action the target would never take; {:.1}% have weights above τ (valued by the model alone in Switch-DR)",
        100.0 * d.zero_weight_share,
        100.0 * d.switched_share
    );
    println!(
        "  bootstrap: {} resamples, seed {}",
        settings.bootstrap, settings.seed
    );
    if !unused.is_empty() {
        println!(
            "  warning: no loaded model reads these context columns, so they changed nothing: {}",
            unused.join(", ")
        );
    }
    Ok(())
}
