//! `nextbest score`: decisions (or predictions) for a whole segment, to Parquet.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use indicatif::ProgressBar;
use nextbest::batch::events::{score_events, EventsInput};
use nextbest::batch::features::score_features;
use nextbest::batch::input::input_files;
use nextbest::batch::{Mode, Progress, ScoreOptions, Segment, Shard, Summary};
use nextbest::catalog::Catalog;
use nextbest::decision::PolicySet;
use nextbest::engine::offline::OfflineDecider;
use nextbest::journey::{CustomerTable, Format, Timestamp};
use nextbest::models::registry::{ModelPaths, ModelSet};

/// Arguments of `nextbest score`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Journey events: a file (.parquet, .csv, .jsonl) or a folder of them (a partitioned
    /// dataset). Features are computed as of --as-of, exactly as the service computes them.
    #[arg(
        long,
        required_unless_present = "features",
        conflicts_with = "features"
    )]
    events: Option<PathBuf>,
    /// A precomputed feature matrix instead of events (a Parquet file or folder, e.g. from
    /// `nextbest features`), checked against the models' feature spec.
    #[arg(long)]
    features: Option<PathBuf>,
    /// Customer table (attributes and `<channel>_consent` columns), with --events.
    #[arg(long, requires = "events")]
    customers: Option<PathBuf>,
    /// Only these customers: a text file of one id per line, or a table with `customer_id`.
    #[arg(long)]
    segment: Option<PathBuf>,
    /// The decision instant (YYYY-MM-DD or RFC 3339): only events strictly before it count.
    /// With --features it overrides the matrix's `as_of` column.
    #[arg(long, required_unless_present = "features")]
    as_of: Option<String>,
    /// Policy name (a file stem of the --policies folder).
    #[arg(long, default_value = "default")]
    policy: String,
    /// Folder of policy files.
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// Action catalog: every action is a candidate.
    #[arg(long, default_value = "datasets/sample/catalog.toml")]
    catalog: PathBuf,
    /// Models folder (its `churn`, `conversion` and `sentiment` artifacts).
    #[arg(long, default_value = "models")]
    models: PathBuf,
    /// Most actions per customer.
    #[arg(long, default_value_t = 1)]
    top_k: usize,
    /// Output Parquet file: one row per (customer, rank), or per (customer, candidate) with
    /// --predictions. Written under a temporary name and renamed when complete.
    #[arg(long)]
    out: PathBuf,
    /// Write every candidate's P(convert), uplift and P(churn) instead of decisions.
    #[arg(long)]
    predictions: bool,
    /// Explore as the policy says (off by default: greedy answers, propensity 1).
    #[arg(long, requires = "seed")]
    explore: bool,
    /// Seed of exploration (each customer's draw depends only on it and the customer id).
    #[arg(long)]
    seed: Option<u64>,
    /// Skip bad input rows, counting them, instead of stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
    /// Score only shard i of n (by a hash of the customer id): run n jobs, one per shard.
    #[arg(long, value_name = "i/n")]
    shard: Option<String>,
    /// Memory for per-customer state, in MiB: more customers than fit take more passes over
    /// the events instead of more memory.
    #[arg(long, default_value_t = 2048, value_name = "MIB")]
    max_memory_mb: usize,
    /// Rows per record batch read and written.
    #[arg(long, default_value_t = 8192)]
    batch_rows: usize,
    /// Worker threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Force the events' format instead of telling it from the extensions.
    #[arg(long)]
    format: Option<Format>,
}

fn check_output(out: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    if out.as_os_str().to_string_lossy().ends_with('/') || out.is_dir() {
        anyhow::bail!("--out {}: must be a file path, not a folder", out.display());
    }
    if !out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        anyhow::bail!(
            "--out {}: the output is Parquet; give it a .parquet name",
            out.display()
        );
    }
    for input in inputs {
        if let (Ok(a), Ok(b)) = (std::fs::canonicalize(input), std::fs::canonicalize(out)) {
            if a == b {
                anyhow::bail!(
                    "--out {}: would overwrite the input {}",
                    out.display(),
                    input.display()
                );
            }
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let inputs: Vec<&Path> = [args.events.as_deref(), args.features.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    check_output(&args.out, &inputs)?;
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .context("--threads")?;
    }
    let as_of = args
        .as_of
        .as_deref()
        .map(Timestamp::parse_date_or_datetime)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--as-of: {e}"))?;
    let catalog = Catalog::load(&args.catalog)?;
    let policies = PolicySet::load_dir(&args.policies)?;
    let policy = policies.get(&args.policy).ok_or_else(|| {
        anyhow::anyhow!(
            "--policy: no policy named '{}' in {} (have: {})",
            args.policy,
            args.policies.display(),
            policies.names().collect::<Vec<_>>().join(", ")
        )
    })?;
    let models = ModelSet::load(&ModelPaths::defaults_in(&args.models))
        .with_context(|| format!("loading models from {}", args.models.display()))?;
    // The output and the summary keep reason codes only: no messages are built.
    let decider = OfflineDecider::new(&models, &catalog, policy, args.top_k, args.explore)?
        .without_messages();
    let options = ScoreOptions {
        mode: if args.predictions {
            Mode::Predictions
        } else {
            Mode::Decisions
        },
        top_k: args.top_k,
        as_of,
        explore_seed: args.seed.filter(|_| args.explore),
        segment: args.segment.as_deref().map(Segment::read).transpose()?,
        shard: args
            .shard
            .as_deref()
            .map(Shard::parse)
            .transpose()?
            .unwrap_or(Shard::ALL),
        skip_invalid: args.skip_invalid,
        memory_budget: args.max_memory_mb.max(1).saturating_mul(1 << 20),
        batch_rows: args.batch_rows.max(1),
    };
    let bar = Bar::default();
    let report = |p: Progress| bar.show(p);
    let summary = match (&args.events, &args.features) {
        (Some(events), _) => {
            let customers = args
                .customers
                .as_ref()
                .map(|p| CustomerTable::read(p, None))
                .transpose()?;
            let input = EventsInput {
                files: input_files(events, "--events")?,
                format: args.format,
                customers: customers.as_ref(),
            };
            score_events(&decider, &input, &options, &args.out, &report)?
        }
        (None, Some(features)) => {
            let files = input_files(features, "--features")?;
            score_features(&decider, &files, &options, &args.out, &report)?
        }
        (None, None) => anyhow::bail!("give --events or --features"),
    };
    bar.clear();
    let models = usize::from(models.churn.is_some()) + usize::from(models.conversion.is_some());
    print_summary(
        &args,
        &options,
        &summary,
        decider.candidates().len() * models,
    );
    Ok(())
}

/// The bar shown now: its unit and pass, and the bar.
type Shown = (&'static str, (u32, u32), ProgressBar);

/// The progress bar, recreated when the unit or pass changes (reading, then scoring).
#[derive(Default)]
struct Bar {
    current: Mutex<Option<Shown>>,
}

impl Bar {
    fn show(&self, p: Progress) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        let fresh =
            !matches!(&*current, Some((unit, pass, _)) if *unit == p.unit && *pass == p.pass);
        if fresh {
            if let Some((_, _, old)) = current.take() {
                old.finish_and_clear();
            }
            let label = if p.pass.1 > 1 {
                format!("{} {}/{}", p.unit, p.pass.0, p.pass.1)
            } else {
                p.unit.to_string()
            };
            let bar = match p.total {
                Some(total) => super::progress::bar(total, &label),
                None => super::progress::spinner(&label),
            };
            *current = Some((p.unit, p.pass, bar));
        }
        if let Some((_, _, bar)) = &*current {
            bar.set_position(p.done);
        }
    }

    fn clear(&self) {
        if let Ok(mut current) = self.current.lock() {
            if let Some((_, _, bar)) = current.take() {
                bar.finish_and_clear();
            }
        }
    }
}

fn print_summary(args: &Args, options: &ScoreOptions, s: &Summary, scores_per_customer: usize) {
    let what = match options.mode {
        Mode::Decisions => "decisions",
        Mode::Predictions => "predictions",
    };
    let seconds = s.seconds.max(1e-9);
    println!(
        "scored {} customers in {:.2} s ({:.0} customers/s, {:.0} action-scores/s): {} rows of {what} to {}",
        s.customers,
        s.seconds,
        s.customers as f64 / seconds,
        (s.customers as f64) * scores_per_customer as f64 / seconds,
        s.rows,
        args.out.display()
    );
    println!(
        "  input rows read {}{}",
        s.input_rows,
        if s.passes > 1 {
            format!(
                " ({} passes under --max-memory-mb {})",
                s.passes, args.max_memory_mb
            )
        } else {
            String::new()
        }
    );
    if options.mode == Mode::Decisions {
        let kinds: Vec<String> = s
            .actions_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "  actions chosen by kind: {}",
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            }
        );
        println!(
            "  customers with no eligible action {}",
            s.customers_without_action
        );
        let reasons: Vec<String> = s
            .ineligible_by_reason
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "  ineligible candidates by reason: {}",
            if reasons.is_empty() {
                "none".into()
            } else {
                reasons.join(", ")
            }
        );
        println!(
            "  exploration: {}",
            match options.explore_seed {
                Some(seed) => format!("as the policy says, seed {seed}"),
                None => "off (greedy)".into(),
            }
        );
    }
    if s.invalid_rows_skipped > 0 {
        println!("  invalid rows skipped {}", s.invalid_rows_skipped);
        for example in &s.invalid_examples {
            println!("    {example}");
        }
    }
}
