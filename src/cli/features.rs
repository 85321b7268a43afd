//! `nextbest features`: write the point-in-time feature matrix.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nextbest::catalog::Catalog;
use nextbest::features::matrix::{Attributes, MatrixWriter};
use nextbest::features::TextScorer;
use nextbest::features::{
    CustomerMatrixBuilder, DecisionMatrixBuilder, DecisionPoints, FeatureSpec, MatrixStats,
};
use nextbest::journey::{CustomerTable, EventReader, Format, ReadOptions, Timestamp};
use nextbest::training::churn::load_sentiment;

/// Arguments of `nextbest features`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Event file (.parquet, .csv, .jsonl).
    #[arg(long)]
    events: PathBuf,
    /// Customer table (typed columns become features).
    #[arg(long)]
    customers: Option<PathBuf>,
    /// Action catalog (TOML or JSON): adds per-action exposure features.
    #[arg(long, conflicts_with = "spec")]
    catalog: Option<PathBuf>,
    /// Reuse a saved feature spec (actions, vocabularies, signup column) instead of building one
    /// from the data, so that new data is encoded exactly like the training data.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Date column of the customer table that marks signup: it defines tenure, and customers
    /// whose date is at or after the cutoff get no row (default: `signup_date` if present).
    #[arg(long, conflicts_with = "spec")]
    signup_column: Option<String>,
    /// Features as of this instant (YYYY-MM-DD or RFC 3339): one row per customer, from events
    /// strictly before it. Required unless --decisions is given.
    #[arg(long, required_unless_present = "decisions")]
    cutoff: Option<String>,
    /// Decision points (customer_id, timestamp, any other columns passed through): one row per
    /// point, each from the events strictly before its own timestamp.
    #[arg(long, conflicts_with = "cutoff")]
    decisions: Option<PathBuf>,
    /// Output Parquet file; the spec is written beside it as <name>.spec.json.
    #[arg(long)]
    out: PathBuf,
    /// Force the format of the events file instead of telling it from its extension.
    #[arg(long)]
    format: Option<Format>,
    /// Sentiment artifact (e.g. models/sentiment) that fills the sentiment slots from event text.
    #[arg(long)]
    sentiment_model: Option<PathBuf>,
}

fn spec_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "features".into());
    out.with_file_name(format!("{stem}.spec.json"))
}

/// Refuses output paths that cannot be right before any work is done.
fn check_output(args: &Args) -> anyhow::Result<()> {
    let out = &args.out;
    if out.as_os_str().to_string_lossy().ends_with('/') || out.is_dir() {
        anyhow::bail!("--out {}: must be a file path, not a folder", out.display());
    }
    if !out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    {
        anyhow::bail!(
            "--out {}: the matrix is written as Parquet; give the file a .parquet name",
            out.display()
        );
    }
    let inputs = [
        Some(&args.events),
        args.customers.as_ref(),
        args.decisions.as_ref(),
        args.spec.as_ref(),
    ];
    for input in inputs.into_iter().flatten() {
        let same = match (std::fs::canonicalize(input), std::fs::canonicalize(out)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            anyhow::bail!(
                "--out {}: would overwrite the input {}",
                out.display(),
                input.display()
            );
        }
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    check_output(&args)?;
    let began = Instant::now();
    let customers = args
        .customers
        .as_ref()
        .map(|p| CustomerTable::read(p, None))
        .transpose()?;
    let spec = match &args.spec {
        Some(path) => {
            let spec = FeatureSpec::load(path)?;
            if !spec.attributes.is_empty() && customers.is_none() {
                anyhow::bail!(
                    "--spec {}: the spec encodes {} customer attributes; pass the customer table with --customers",
                    path.display(),
                    spec.attributes.len()
                );
            }
            spec
        }
        None => {
            let catalog = args.catalog.as_ref().map(Catalog::load).transpose()?;
            let spec = FeatureSpec::new(catalog.as_ref(), customers.as_ref())
                .map_err(|e| anyhow::anyhow!("features: {e}"))?;
            match &args.signup_column {
                Some(column) => spec
                    .with_signup_attribute(column)
                    .map_err(|e| anyhow::anyhow!("--signup-column: {e}"))?,
                None => spec,
            }
        }
    };
    let sentiment = args
        .sentiment_model
        .as_deref()
        .map(load_sentiment)
        .transpose()?;
    let spec = match (&args.spec, &spec.sentiment_model, &sentiment) {
        (Some(_), Some(wanted), Some(given)) if *wanted != given.name() => anyhow::bail!(
            "--sentiment-model: the spec was made with {wanted}, not {}; features would differ",
            given.name()
        ),
        (Some(_), Some(wanted), None) => {
            anyhow::bail!("--sentiment-model: the spec was made with {wanted}; pass that model")
        }
        (_, _, given) => {
            let name = given.as_ref().map(|g| g.name());
            spec.with_sentiment_model(name)
        }
    };
    let scorer = sentiment.as_ref().map(|s| s as &dyn TextScorer);
    let mapping = customers
        .as_ref()
        .map(|table| spec.attribute_mapping(table))
        .transpose()
        .map_err(|e| {
            anyhow::anyhow!(
                "--customers {}: {e}",
                args.customers.as_deref().unwrap_or(Path::new("")).display()
            )
        })?;
    let attributes = customers
        .as_ref()
        .zip(mapping.as_ref())
        .map(|(t, m)| Attributes::new(t, m));

    let mut reader = EventReader::open(
        &args.events,
        ReadOptions {
            format: args.format,
            ..ReadOptions::default()
        },
    )?
    .prefetch(4);
    let bar = super::progress::reader_bar(reader.progress(), "featurising");
    let (matrix, stats) = if let Some(decisions_path) = &args.decisions {
        let points = DecisionPoints::read(decisions_path, None)?;
        let mut writer = MatrixWriter::create(&args.out, &spec, &points.extra_columns())?;
        let mut builder = DecisionMatrixBuilder::new(&spec, &points, scorer);
        while let Some(chunk) = reader.next() {
            builder.add(chunk?.events);
            bar.set_position(reader.progress().done);
        }
        bar.finish_and_clear();
        let points_bar = super::progress::bar(points.len() as u64, "points");
        let mut done = 0u64;
        let stats = builder.finish(attributes, &mut |rows| {
            done += rows.len() as u64;
            points_bar.set_position(done);
            writer.write(rows)
        })?;
        points_bar.finish_and_clear();
        (writer.finish()?, stats)
    } else {
        let cutoff_text = args.cutoff.as_deref().unwrap_or_default();
        let cutoff = Timestamp::parse_date_or_datetime(cutoff_text)
            .map_err(|e| anyhow::anyhow!("--cutoff: {e}"))?;
        let mut builder = CustomerMatrixBuilder::new(&spec, cutoff, scorer);
        while let Some(chunk) = reader.next() {
            builder.add(&chunk?.events);
            bar.set_position(reader.progress().done);
        }
        bar.finish_and_clear();
        let (rows, stats) = builder.finish(attributes);
        let mut writer = MatrixWriter::create(&args.out, &spec, &[])?;
        writer.write(&rows)?;
        (writer.finish()?, stats)
    };
    // The matrix and its spec appear together or not at all.
    let spec_file = spec_path(&args.out);
    let spec_pending = spec.save_uncommitted(&spec_file)?;
    matrix
        .commit()
        .with_context(|| format!("writing {}", args.out.display()))?;
    spec_pending.commit()?;
    report(
        &args,
        &spec,
        &stats,
        began.elapsed().as_secs_f64(),
        &spec_file,
    );
    Ok(())
}

fn report(args: &Args, spec: &FeatureSpec, stats: &MatrixStats, seconds: f64, spec_file: &Path) {
    println!(
        "wrote {} rows × {} features to {} in {seconds:.2} s ({:.0} events/s)",
        stats.rows,
        spec.len(),
        args.out.display(),
        stats.events_read as f64 / seconds.max(1e-9)
    );
    println!("  feature spec (v{}) {}", spec.version, spec_file.display());
    println!("  events read {}", stats.events_read);
    if args.decisions.is_some() {
        println!(
            "  (event, decision point) pairs skipped because the event is at/after the point {}",
            stats.events_ignored_after_cutoff
        );
        println!(
            "  decision points without any events {}",
            stats.decisions_without_events
        );
    } else {
        println!(
            "  events at/after the cutoff, ignored {}",
            stats.events_ignored_after_cutoff
        );
        println!(
            "  customers with no history before the cutoff (no row) {}",
            stats.customers_without_history
        );
        println!(
            "  customers signing up at/after the cutoff (no row) {}",
            stats.customers_not_yet_signed_up
        );
    }
    if stats.visitor_events_linked + stats.visitor_events_not_linked > 0 {
        println!(
            "  visitor events linked to a customer before the instant {}, not (yet) linked {}",
            stats.visitor_events_linked, stats.visitor_events_not_linked
        );
    }
    match &spec.sentiment_model {
        Some(name) => println!("  sentiment slots filled by {name}"),
        None => println!("  sentiment slots: neutral (0.5): no sentiment model is used"),
    }
}
