//! `nextbest features`: write the point-in-time feature matrix.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nextbest::decision::Catalog;
use nextbest::features::matrix::{write_matrix, Attributes};
use nextbest::features::{
    CustomerMatrixBuilder, DecisionMatrixBuilder, DecisionPoints, FeatureSpec, MatrixStats,
};
use nextbest::journey::{CustomerTable, EventReader, Format, ReadOptions, Timestamp};

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
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Reuse a saved feature spec (vocabularies, actions) instead of building one from the data,
    /// so that new data is encoded exactly like the training data.
    #[arg(long)]
    spec: Option<PathBuf>,
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
    /// Force the format of the input files instead of telling it from their extensions.
    #[arg(long)]
    format: Option<Format>,
}

fn spec_path(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "features".into());
    out.with_file_name(format!("{stem}.spec.json"))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let began = Instant::now();
    let customers = args
        .customers
        .as_ref()
        .map(|p| CustomerTable::read(p, args.format))
        .transpose()?;
    let catalog = args.catalog.as_ref().map(Catalog::load).transpose()?;
    let spec = match &args.spec {
        Some(path) => FeatureSpec::load(path)?,
        None => FeatureSpec::new(catalog.as_ref(), customers.as_ref()),
    };
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
    )?;
    let bar = super::progress::reader_bar(reader.progress(), "featurising");
    let (rows, stats, extra_columns) = if let Some(decisions_path) = &args.decisions {
        let points = DecisionPoints::read(decisions_path, args.format)?;
        let mut builder = DecisionMatrixBuilder::new(&spec, &points, None);
        while let Some(chunk) = reader.next() {
            builder.add(chunk?.events);
            bar.set_position(reader.progress().done);
        }
        bar.finish_and_clear();
        let spinner = super::progress::spinner("computing decision points");
        let (rows, stats) = builder.finish(attributes);
        spinner.finish_and_clear();
        (rows, stats, points.extra_columns())
    } else {
        let cutoff_text = args.cutoff.as_deref().unwrap_or_default();
        let cutoff = Timestamp::parse_date_or_datetime(cutoff_text)
            .map_err(|e| anyhow::anyhow!("--cutoff: {e}"))?;
        let mut builder = CustomerMatrixBuilder::new(&spec, cutoff, None);
        while let Some(chunk) = reader.next() {
            builder.add(&chunk?.events);
            bar.set_position(reader.progress().done);
        }
        bar.finish_and_clear();
        let (rows, stats) = builder.finish(attributes);
        (rows, stats, Vec::new())
    };
    write_matrix(&args.out, &spec, &extra_columns, &rows)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let spec_file = spec_path(&args.out);
    spec.save(&spec_file)?;
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
    println!(
        "  events at/after the cutoff, ignored {}",
        stats.events_ignored_after_cutoff
    );
    if args.decisions.is_some() {
        println!(
            "  decision points without any events {}",
            stats.decisions_without_events
        );
    } else {
        println!(
            "  customers with no history before the cutoff (no row) {}",
            stats.customers_without_history
        );
        println!(
            "  customers signing up after the cutoff (no row) {}",
            stats.customers_not_yet_signed_up
        );
    }
    println!("  sentiment slots: neutral (0.5): no sentiment model is used yet");
}
