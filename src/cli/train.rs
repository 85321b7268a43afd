//! `nextbest train`: fit a model from a training config and write its artifact.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use nextbest::evaluation::{read_decision_log as read_decision_log_of, RewardRule};
use nextbest::models::calibration::CalibrationMethod;
use nextbest::models::params::InvalidSetting;
use nextbest::models::Role;
use nextbest::store::{Store, StoreLocation};
use nextbest::training::config::{
    Algorithm, ChurnConfig, ConfigError, ConversionConfig, ModelConfig, SentimentConfig,
    ValidConversionConfig,
};
use nextbest::training::conversion::{DecisionLog, LoggedPoint};
use nextbest::training::{churn, conversion, sentiment};

/// Arguments of `nextbest train`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training configuration (training/churn.toml, conversion.toml, sentiment.toml).
    #[arg(long)]
    config: PathBuf,
    /// Override `output`: the artifact folder to write.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Override `model.algorithm` (gbdt, logistic, tree) of tabular models.
    #[arg(long)]
    algorithm: Option<Algorithm>,
    /// Override `model.calibration` (none, platt, isotonic) of tabular models.
    #[arg(long, value_parser = parse_calibration)]
    calibration: Option<CalibrationMethod>,
    /// Also write the labelled training and holdout matrices (train.parquet, holdout.parquet)
    /// into this folder, e.g. to judge LightGBM on the same rows (training/lightgbm_baseline.py).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Conversion and retention: learn from nextbest's own decision log (a SQLite file or a
    /// `postgres://` URL) instead of the `action` events of `data.events`: each logged
    /// decision is a point (its pick the treatment, the no-action entry a control), labelled
    /// by its outcomes within `label.window_days`, featurised from the profile store.
    #[arg(long, value_name = "PATH|URL")]
    decision_log: Option<String>,
    /// With --decision-log: the outcome type that is a positive label (default: `conversion`
    /// for a conversion model, `churn` for a retention model).
    #[arg(long, requires = "decision_log")]
    outcome: Option<String>,
}

impl Args {
    /// Applies `--out` and `--seed` over the file's values.
    fn override_run(&self, output: &mut PathBuf, seed: &mut u64) {
        if let Some(out) = &self.out {
            *output = out.clone();
        }
        if let Some(value) = self.seed {
            *seed = value;
        }
    }

    /// Applies `--algorithm` and `--calibration` over a tabular model's settings.
    fn override_model(&self, model: &mut ModelConfig) {
        if let Some(algorithm) = self.algorithm {
            model.algorithm = algorithm;
        }
        if let Some(calibration) = self.calibration {
            model.calibration = calibration;
        }
    }

    /// The config after the flags, checked once; an error names the file, and says when flags
    /// changed the model settings it was checked with.
    fn checked<V>(&self, checked: Result<V, InvalidSetting>) -> Result<V, ConfigError> {
        let flagged = self.algorithm.is_some() || self.calibration.is_some();
        checked.map_err(|e| {
            let file = if flagged {
                PathBuf::from(format!("{} (with flags)", self.config.display()))
            } else {
                self.config.clone()
            };
            ConfigError::invalid(&file, e)
        })
    }
}

fn parse_calibration(text: &str) -> Result<CalibrationMethod, String> {
    match text {
        "none" => Ok(CalibrationMethod::None),
        "platt" => Ok(CalibrationMethod::Platt),
        "isotonic" => Ok(CalibrationMethod::Isotonic),
        other => Err(format!(
            "unknown calibration '{other}' (expected none, platt or isotonic)"
        )),
    }
}

/// The `role` a config declares, read before the full parse picks the config type.
fn role_of(path: &PathBuf) -> anyhow::Result<Role> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim()))?;
    match table.get("role").and_then(|r| r.as_str()) {
        Some("churn") => Ok(Role::Churn),
        Some("conversion") => Ok(Role::Conversion),
        Some("retention") => Ok(Role::Retention),
        Some("sentiment") => Ok(Role::Sentiment),
        Some(other) => anyhow::bail!(
            "{}: role: '{other}' cannot be trained by this build (churn, conversion, retention, sentiment)",
            path.display()
        ),
        None => anyhow::bail!(
            "{}: role: missing (churn, conversion, retention or sentiment)",
            path.display()
        ),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let began = Instant::now();
    match role_of(&args.config)? {
        Role::Churn => train_churn(&args, began),
        Role::Conversion | Role::Retention => train_conversion(&args, began),
        Role::Sentiment => train_sentiment(&args, began),
    }
}

/// A spinner counting the events read.
struct EventsProgress {
    spinner: indicatif::ProgressBar,
    read: AtomicU64,
}

impl EventsProgress {
    fn start() -> Self {
        EventsProgress {
            spinner: super::progress::spinner("reading events"),
            read: AtomicU64::new(0),
        }
    }

    /// Counts `n` more events read.
    fn add(&self, n: u64) {
        let total = self.read.fetch_add(n, Ordering::Relaxed) + n;
        self.spinner.set_message(format!("{total} events read"));
    }

    fn finish(self) {
        self.spinner.finish_and_clear();
    }
}

/// The first line of a tabular model's summary.
fn print_trained(role: &str, algorithm: &str, calibration: &str, began: Instant, output: &Path) {
    println!(
        "trained {role}/{algorithm} ({calibration}) in {:.1} s → {}",
        began.elapsed().as_secs_f64(),
        output.display()
    );
}

fn train_churn(args: &Args, began: Instant) -> anyhow::Result<()> {
    let mut config = ChurnConfig::read(&args.config)?;
    args.override_run(&mut config.output, &mut config.seed);
    args.override_model(&mut config.model);
    let config = args.checked(config.check())?;
    let progress = EventsProgress::start();
    let outcome = churn::train(&config, args.export.as_deref(), &|n| progress.add(n))?;
    progress.finish();
    let m = &outcome.metrics;
    print_trained(
        "churn",
        &m.algorithm,
        &m.calibration,
        began,
        &config.config().output,
    );
    println!(
        "  train {} rows ({} churned) from {}; holdout {} rows ({} churned) at {}",
        m.train.rows,
        m.train.positives,
        m.train.cutoffs.join(", "),
        m.holdout.rows,
        m.holdout.positives,
        m.holdout.cutoffs.join(", ")
    );
    println!(
        "  holdout AUC {} (recency alone {}{}), log loss {:.4}, Brier {:.4}, calibration error {:.4}",
        fmt_opt(m.auc),
        fmt_opt(m.recency_baseline_auc),
        m.bgnbd_baseline_auc.map_or_else(String::new, |a| format!(", BG/NBD {a:.4}")),
        m.log_loss,
        m.brier,
        m.expected_calibration_error
    );
    if let (Some(trees), Some(depth)) = (m.gbdt_iterations_used, m.gbdt_max_depth_used) {
        let weight = m
            .gbdt_min_leaf_weight_used
            .map_or_else(String::new, |w| format!(", min leaf weight {w}"));
        let stopping = match (&m.gbdt_early_stopping, &m.gbdt_cross_validation) {
            (Some(e), _) => format!(
                ", chosen by early stopping on {} validation rows",
                e.validation_rows
            ),
            (_, Some(cv)) => {
                let loss = cv
                    .trials
                    .iter()
                    .map(|t| t.log_loss)
                    .fold(f64::INFINITY, f64::min);
                format!(
                    ", chosen from {} settings by {}-fold cross-validation (log loss {loss:.4})",
                    cv.trials.len(),
                    cv.folds
                )
            }
            _ => String::new(),
        };
        println!("  {trees} trees of depth ≤ {depth}{weight}{stopping}");
    }
    Ok(())
}

fn train_conversion(args: &Args, began: Instant) -> anyhow::Result<()> {
    let mut config = ConversionConfig::read(&args.config)?;
    args.override_run(&mut config.output, &mut config.seed);
    args.override_model(&mut config.model);
    if args.export.is_some() {
        anyhow::bail!("--export: only churn configs export their matrices so far");
    }
    let config = args.checked(config.check())?;
    let log = args
        .decision_log
        .as_deref()
        .map(|log| read_decision_log(log, &config, args.outcome.as_deref()))
        .transpose()?;
    let progress = EventsProgress::start();
    let outcome = conversion::train_from(&config, log, &|n| progress.add(n))?;
    progress.finish();
    let m = &outcome.metrics;
    print_trained(
        config.config().role.as_str(),
        &m.algorithm,
        &m.calibration,
        began,
        &config.config().output,
    );
    for warning in &m.warnings {
        println!("  warning: {warning}");
    }
    if args.decision_log.is_some() {
        let p = &m.points;
        println!(
            "  decision log: {} treated and {} no-action decisions ({} of unknown actions, {} dry runs and {} without an action not used); {} used, {} censored, {} overlapping, {} contaminated controls, {} after a cancellation, {} outside the periods",
            p.contacts,
            p.explicit_controls,
            p.unknown_action_events,
            p.dry_run_decisions,
            p.decisions_without_action,
            p.used,
            p.censored,
            p.overlapping_contacts,
            p.contaminated_controls,
            p.after_cancel,
            p.outside_periods
        );
    }
    println!(
        "  decision points: {} train ({} converted), {} holdout ({} converted, {} control)",
        m.train.rows,
        m.train.positives,
        m.holdout.rows,
        m.holdout.positives,
        m.holdout_control_rows
    );
    println!(
        "  holdout AUC {}, log loss {:.4}, Brier {:.4}, calibration error {:.4}, mean normalised Qini {}",
        fmt_opt(m.auc),
        m.log_loss,
        m.brier,
        m.expected_calibration_error,
        fmt_opt(m.mean_qini_auc)
    );
    println!(
        "  {:<24} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "action", "rows", "rate", "AUC", "Qini", "AUUC", "up@30%", "truth r"
    );
    for a in &m.per_action {
        let truth = m
            .ground_truth
            .as_ref()
            .and_then(|t| t.actions.iter().find(|t| t.action_id == a.action_id))
            .and_then(|t| t.uplift_correlation);
        println!(
            "  {:<24} {:>6} {:>8.4} {:>8} {:>8} {:>8} {:>8} {:>9}",
            a.action_id,
            a.rows,
            a.conversion_rate,
            fmt_opt(a.auc),
            fmt_opt(a.uplift.qini_auc),
            fmt_opt(a.uplift.uplift_auc),
            fmt_opt(a.uplift.uplift_at_30),
            fmt_opt(truth)
        );
    }
    println!("  (Qini, AUUC: normalised areas as scikit-uplift's qini_auc_score / uplift_auc_score, 1 perfect, 0 random; up@30%: treated − control rate in the top 30%)");
    if let Some(t) = &m.ground_truth {
        println!(
            "  true uplift per decision on {} holdout points: model policy {:.4}, random {:.4}, oracle {:.4}",
            t.points, t.model_policy_uplift, t.random_policy_uplift, t.oracle_policy_uplift
        );
    }
    Ok(())
}

/// Reads a decision log for training with the reader `nextbest evaluate` uses: each decision's
/// first pick and propensity, its label from the outcomes within the label window, and the
/// histories of its customers from the profile store.
fn read_decision_log(
    log: &str,
    config: &ValidConversionConfig,
    outcome: Option<&str>,
) -> anyhow::Result<DecisionLog> {
    let location = StoreLocation::parse(log)?;
    if let StoreLocation::Sqlite(path) = &location {
        if !path.is_file() {
            anyhow::bail!("--decision-log {}: no such decision log", path.display());
        }
    }
    let store =
        Store::open(location).with_context(|| format!("--decision-log {log}: opening it"))?;
    let role = config.config().role;
    let rule = RewardRule {
        outcome_type: outcome
            .unwrap_or(if role == Role::Retention {
                "churn"
            } else {
                "conversion"
            })
            .to_string(),
        window: Some(config.windows().window),
        value: false,
    };
    let spinner = super::progress::spinner("reading the decision log");
    let (decisions, counts) = read_decision_log_of(&store, &rule, &|_| {})
        .with_context(|| format!("--decision-log {log}"))?;
    let mut histories = rustc_hash::FxHashMap::default();
    for decision in &decisions {
        if !histories.contains_key(&decision.customer_id) {
            let history = store
                .history(&decision.customer_id)
                .with_context(|| format!("--decision-log {log}: reading profiles"))?;
            histories.insert(decision.customer_id.clone(), history.to_vec());
        }
    }
    spinner.finish_and_clear();
    let decisions = decisions
        .into_iter()
        .map(|d| LoggedPoint {
            decision_id: d.source,
            customer_id: d.customer_id,
            // The decision log always knows the instant (the reader falls back to the
            // record's creation time).
            at: d.at.unwrap_or(nextbest::journey::Timestamp(i64::MIN)),
            action_id: d.action_id,
            propensity: d.propensity,
            converted: d.reward > 0.0,
        })
        .collect();
    Ok(DecisionLog {
        decisions,
        dry_runs: counts.dry_run as u64,
        without_action: counts.no_action_logged as u64,
        histories,
    })
}

fn train_sentiment(args: &Args, began: Instant) -> anyhow::Result<()> {
    let mut config = SentimentConfig::read(&args.config)?;
    args.override_run(&mut config.output, &mut config.seed);
    let config = args.checked(config.check())?;
    let spinner = super::progress::spinner("training sentiment");
    let outcome = sentiment::train(&config)?;
    spinner.finish_and_clear();
    let m = &outcome.metrics;
    println!(
        "trained sentiment in {:.1} s → {}",
        began.elapsed().as_secs_f64(),
        config.config().output.display()
    );
    println!(
        "  holdout {} texts: accuracy {:.4}, AUC {}",
        m.model.texts,
        m.model.accuracy,
        fmt_opt(m.model.auc)
    );
    for (name, baseline) in [("VADER", &m.vader), ("AFINN", &m.afinn)] {
        if let Some(b) = baseline {
            println!(
                "  {name} lexicon baseline: accuracy {:.4}, AUC {}",
                b.accuracy,
                fmt_opt(b.auc)
            );
        }
    }
    for d in &m.domains {
        let vader = d.vader.as_ref().map_or(String::new(), |v| {
            format!(" (VADER lexicon {:.4}, AUC {})", v.accuracy, fmt_opt(v.auc))
        });
        let neutral = d.neutral.as_ref().map_or(String::new(), |n| {
            format!(
                "; {} neutral: mean P {:.3}, {:.0}% within 0.35–0.65",
                n.texts,
                n.mean,
                n.share_near_half * 100.0
            )
        });
        println!(
            "  {:<16} {:>5} texts: accuracy {:.4}, AUC {}{vader}{neutral}",
            d.domain,
            d.model.texts,
            d.model.accuracy,
            fmt_opt(d.model.auc)
        );
    }
    Ok(())
}

pub fn fmt_opt(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"))
}
