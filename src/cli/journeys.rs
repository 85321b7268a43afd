//! `nextbest journeys …`: journey analytics in the terminal (tables), as JSON, or as Parquet.

use std::path::{Path, PathBuf};

use anyhow::Context;
use nextbest::analytics::attribution::attribution;
use nextbest::analytics::clv::{clv, Horizon};
use nextbest::analytics::cohorts::{cohorts, midnight, Bucket, CohortBasis, CohortSpec, Retained};
use nextbest::analytics::compare::compare_paths;
use nextbest::analytics::funnel::{funnel, Breakdown, FunnelSpec, OrderMode, StepSpec};
use nextbest::analytics::incremental::incremental;
use nextbest::analytics::kpis::kpis;
use nextbest::analytics::pain::pain_points;
use nextbest::analytics::paths::{paths, Direction, NodeLabel, PathSpec};
use nextbest::analytics::query::{AnalyticsQuery, JourneyData};
use nextbest::analytics::table::output_paths;
use nextbest::analytics::text::{aspect_trends, text_sentiment, TextTags};
use nextbest::analytics::{AttributeCondition, EventLog, LogOptions, Period, SegmentSpec, Table};
use nextbest::features::aspects::Taxonomy;
use nextbest::journey::{CustomerTable, Timestamp};
use nextbest::models::registry::{ModelPaths, ModelSet};
use serde::Serialize;
use std::sync::Arc;

/// Arguments of `nextbest journeys`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Customers, activity, conversion, revenue, order value, retention and churn of a period.
    Kpis(KpiArgs),
    /// Customers through ordered steps within a conversion window, with drop-off and times.
    Funnel(FunnelArgs),
    /// Sessions, the transition graph, top paths and the steps after (or before) an anchor.
    Paths(PathArgs),
    /// Retention by cohort × period, and lifecycle (new, returning, resurrecting, dormant).
    Cohorts(CohortArgs),
    /// Event types after which customers cancel (or go quiet) more than others: lift with a 95% interval.
    PainPoints(PainArgs),
    /// Orders credited to our contacts (action events) by first and last touch within a window.
    Attribution(AttributionArgs),
    /// One self-contained HTML page of every analysis (open it without a server).
    Report(ReportArgs),
    /// Customer lifetime value: BG/NBD + Gamma-Gamma fitted on the orders before --to, discounted.
    Clv(ClvArgs),
}

#[derive(Debug, clap::Args)]
struct PainArgs {
    #[command(flatten)]
    common: Common,
    /// The bad outcome: `cancel` or `quiet` (no activity).
    #[arg(long, default_value = "cancel")]
    outcome: String,
    /// Days after the event in which the outcome counts.
    #[arg(long, default_value_t = 30.0)]
    window: f64,
    /// Fewest exposed customers for an event type to be listed.
    #[arg(long, default_value_t = 30)]
    min_support: u64,
}

#[derive(Debug, clap::Args)]
struct AttributionArgs {
    #[command(flatten)]
    common: Common,
    /// Days before an order in which a contact counts.
    #[arg(long, default_value_t = 7.0)]
    window: f64,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Event file (.parquet, .csv, .jsonl).
    events: PathBuf,
    /// Customer table.
    #[arg(long)]
    customers: Option<PathBuf>,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// First instant of the period.
    #[arg(long)]
    from: Option<String>,
    /// First instant after the period.
    #[arg(long)]
    to: Option<String>,
    /// Segment conditions, comma-separated `column=value`.
    #[arg(long = "where", value_name = "CONDS")]
    conditions: Option<String>,
    /// Funnel steps, comma-separated.
    #[arg(long)]
    steps: Option<String>,
    /// Funnel window in days.
    #[arg(long)]
    window: Option<f64>,
    /// The Sankey's anchor (default: the funnel's first step).
    #[arg(long)]
    anchor: Option<String>,
    /// Cohort bucket: month, week, day or Nd.
    #[arg(long)]
    period: Option<String>,
    /// Event types left out of the paths, comma-separated.
    #[arg(long)]
    exclude: Option<String>,
    /// Model folder (e.g. `models`): sentiment of texts, negative aspects, incremental conversions.
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Paths of a second segment beside the first, comma-separated conditions like --where.
    #[arg(long, value_name = "CONDS")]
    compare: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ClvArgs {
    #[command(flatten)]
    common: Common,
    /// Months ahead.
    #[arg(long, default_value_t = 12)]
    months: u32,
    /// Discount rate per month.
    #[arg(long, default_value_t = 0.01)]
    discount: f64,
    /// Customers listed (highest value first).
    #[arg(long, default_value_t = 20)]
    top: usize,
}

/// What every analysis reads and where it writes.
#[derive(Debug, clap::Args)]
struct Common {
    /// Event file (.parquet, .csv, .jsonl).
    events: PathBuf,
    /// Customer table (needed by --where, attribute breakdowns and signup cohorts).
    #[arg(long)]
    customers: Option<PathBuf>,
    /// First instant of the period (YYYY-MM-DD or RFC 3339); default: the first event.
    #[arg(long)]
    from: Option<String>,
    /// First instant after the period; default: just after the last event.
    #[arg(long)]
    to: Option<String>,
    /// Segment: a condition on a customer attribute, `column=value` or `column!=value` (repeatable, all must hold).
    #[arg(long = "where", value_name = "COND")]
    conditions: Vec<String>,
    /// Segment: a file of customer ids, one per line.
    #[arg(long, value_name = "FILE")]
    ids: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the result as Parquet (several tables: FILE-<table>.parquet beside it).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Model folder (e.g. `models`): its sentiment model scores customer text (kpis,
    /// pain-points), its conversion model estimates incremental conversions (attribution).
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct KpiArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
struct FunnelArgs {
    #[command(flatten)]
    common: Common,
    /// The steps, comma-separated: `type`, `type@channel`, `type#action` (e.g. visit,add_to_cart,purchase).
    #[arg(long, value_delimiter = ',', required = true)]
    steps: Vec<String>,
    /// Conversion window from the first step, in days.
    #[arg(long, default_value_t = 7.0)]
    window: f64,
    /// ordered (other events may come between), strict (nothing between) or any.
    #[arg(long, default_value = "ordered")]
    order: String,
    /// Split by `channel` (of the first step) or a customer table column.
    #[arg(long)]
    breakdown: Option<String>,
}

#[derive(Debug, clap::Args)]
struct PathArgs {
    #[command(flatten)]
    common: Common,
    /// Inactivity gap that ends a session, in minutes.
    #[arg(long, default_value_t = 30.0)]
    gap: f64,
    /// Keep repeated consecutive events instead of collapsing them.
    #[arg(long)]
    keep_repeats: bool,
    /// Name nodes by event type and channel (`visit@web`).
    #[arg(long)]
    by_channel: bool,
    /// Event types to leave out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<String>,
    /// How many top paths.
    #[arg(long, default_value_t = 20)]
    top: usize,
    /// Paths are cut after this many steps.
    #[arg(long, default_value_t = 8)]
    max_steps: usize,
    /// Anchor event of the Sankey (`type`, `type@channel`, `type#action`).
    #[arg(long)]
    anchor: Option<String>,
    /// `after` or `before` the anchor.
    #[arg(long, default_value = "after")]
    direction: String,
    /// Steps from the anchor.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// A second segment shown beside the first: a condition like --where (repeatable, all must hold).
    #[arg(long = "compare", value_name = "COND")]
    compare: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct CohortArgs {
    #[command(flatten)]
    common: Common,
    /// What makes the cohort: `first-purchase`, `first-activity`, or `signup` (a customer table date column).
    #[arg(long, default_value = "first-purchase")]
    cohort: String,
    /// The customer table's date column for signup cohorts.
    #[arg(long, default_value = "signup_date")]
    signup_column: String,
    /// Bucket length: `month`, `week`, `day` or `Nd` (e.g. 30d).
    #[arg(long, default_value = "month")]
    period: String,
    /// What counts as retained: `activity` or `purchase`.
    #[arg(long, default_value = "activity")]
    retained: String,
}

/// The loaded inputs of an analysis.
struct Inputs {
    log: EventLog,
    table: Option<CustomerTable>,
    members: Vec<bool>,
    from: i64,
    to: i64,
}

fn parse_time(flag: &str, text: &Option<String>) -> anyhow::Result<Option<Timestamp>> {
    text.as_deref()
        .map(|t| Timestamp::parse_date_or_datetime(t).with_context(|| format!("--{flag}")))
        .transpose()
}

/// Loads the inputs, reading what `options` asks for of the events.
fn load(common: &Common, options: LogOptions) -> anyhow::Result<Inputs> {
    let period = Period::checked(
        parse_time("from", &common.from)?,
        parse_time("to", &common.to)?,
    )?;
    let conditions = common
        .conditions
        .iter()
        .map(|c| AttributeCondition::parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let ids = common.ids.as_ref().map(|path| read_ids(path)).transpose()?;
    let segment = SegmentSpec { conditions, ids };
    let table = common
        .customers
        .as_ref()
        .map(|p| CustomerTable::read(p, None))
        .transpose()?;
    let mut bar: Option<indicatif::ProgressBar> = None;
    let log = EventLog::read_with(&common.events, options, |p| {
        let b = bar.get_or_insert_with(|| super::progress::reader_bar(p, "reading"));
        b.set_position(p.done);
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let members = segment.members(&log, table.as_ref())?;
    let (from, to) = period.resolve(&log);
    Ok(Inputs {
        log,
        table,
        members,
        from,
        to,
    })
}

/// Everything of the events, customer text only when `text`.
fn with_text(text: bool) -> LogOptions {
    LogOptions {
        text,
        details: true,
    }
}

/// The sentiment and conversion models of a model folder (the others are not needed here).
fn load_models(dir: &Option<PathBuf>) -> anyhow::Result<Option<Arc<ModelSet>>> {
    let Some(dir) = dir else { return Ok(None) };
    anyhow::ensure!(dir.is_dir(), "--models: {} is not a folder", dir.display());
    let found = ModelPaths::defaults_in(dir);
    let paths = ModelPaths {
        conversion: found.conversion,
        sentiment: found.sentiment,
        ..ModelPaths::default()
    };
    let models = ModelSet::load(&paths).with_context(|| format!("--models {}", dir.display()))?;
    Ok(Some(Arc::new(models)))
}

/// The log's texts scored by the sentiment model, if the folder has one.
fn text_tags(log: &EventLog, models: &Option<Arc<ModelSet>>) -> anyhow::Result<Option<TextTags>> {
    let Some(scorer) = models.as_ref().and_then(|m| m.sentiment.as_ref()) else {
        return Ok(None);
    };
    let taxonomy = Taxonomy::default_taxonomy()?;
    Ok(Some(TextTags::new(log, &taxonomy, scorer)))
}

fn read_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the id list", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn emit<T: Serialize>(common: &Common, result: &T, tables: Vec<Table>) -> anyhow::Result<()> {
    if let Some(out) = &common.out {
        for (table, path) in tables.iter().zip(output_paths(out, &tables)) {
            table.write_parquet(&path)?;
            eprintln!("wrote {} ({} rows)", path.display(), table.rows.len());
        }
    }
    if common.json {
        println!("{}", serde_json::to_string_pretty(result)?);
    } else {
        for (i, table) in tables.iter().enumerate() {
            if i > 0 {
                println!();
            }
            if tables.len() > 1 {
                println!("{}", table.name);
            }
            print!("{}", table.render());
        }
    }
    Ok(())
}

/// Runs `nextbest journeys …`.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Kpis(a) => {
            let models = load_models(&a.common.models)?;
            let i = load(&a.common, with_text(models.is_some()))?;
            let mut k = kpis(&i.log, &i.members, i.from, i.to);
            k.text_sentiment = text_tags(&i.log, &models)?
                .map(|tags| text_sentiment(&i.log, &tags, &i.members, i.from, i.to));
            emit(&a.common, &k, vec![k.table()])
        }
        Command::Funnel(a) => {
            let spec = FunnelSpec {
                steps: a
                    .steps
                    .iter()
                    .map(|s| s.parse::<StepSpec>())
                    .collect::<Result<_, _>>()?,
                window_days: a.window,
                order: a.order.parse::<OrderMode>()?,
                breakdown: a
                    .breakdown
                    .as_deref()
                    .unwrap_or("none")
                    .parse::<Breakdown>()?,
            };
            let i = load(&a.common, LogOptions::counting(spec.uses_details()))?;
            let f = funnel(&i.log, &i.members, i.table.as_ref(), &spec, i.from, i.to)?;
            emit(&a.common, &f, vec![f.table()])
        }
        Command::Paths(a) => {
            let spec = PathSpec {
                gap_minutes: a.gap,
                collapse_repeats: !a.keep_repeats,
                label: if a.by_channel {
                    NodeLabel::EventTypeAndChannel
                } else {
                    NodeLabel::EventType
                },
                exclude: a.exclude.clone(),
                top: a.top,
                max_path_steps: a.max_steps,
                anchor: a.anchor.as_deref().map(str::parse).transpose()?,
                direction: a.direction.parse::<Direction>()?,
                steps: a.steps,
            };
            let i = load(&a.common, LogOptions::counting(spec.uses_details()))?;
            let mut p = paths(&i.log, &i.members, &spec, i.from, i.to)?;
            if !a.compare.is_empty() {
                let conditions = a
                    .compare
                    .iter()
                    .map(|c| AttributeCondition::parse(c).context("--compare"))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let segment = SegmentSpec {
                    conditions,
                    ids: None,
                };
                let members = segment
                    .members(&i.log, i.table.as_ref())
                    .context("--compare")?;
                let second = paths(&i.log, &members, &spec, i.from, i.to)?;
                let label = a.compare.join(",");
                p.compared = Some(Box::new(compare_paths(&p, second, &label)));
            }
            emit(&a.common, &p, p.tables())
        }
        Command::PainPoints(a) => {
            let query = AnalyticsQuery {
                outcome: Some(a.outcome.clone()),
                pain_window: Some(a.window),
                min_support: Some(a.min_support),
                ..AnalyticsQuery::default()
            };
            let spec = query.pain_spec()?;
            let models = load_models(&a.common.models)?;
            let i = load(&a.common, with_text(models.is_some()))?;
            let tags = text_tags(&i.log, &models)?;
            let mut p = pain_points(&i.log, &i.members, &spec, tags.as_ref(), i.from, i.to)?;
            p.negative_aspects = tags.as_ref().map(|t| {
                let from = if a.common.from.is_some() {
                    i.from
                } else {
                    midnight(i.from)
                };
                aspect_trends(&i.log, t, &i.members, Bucket::Month, from, i.to)
            });
            let mut tables = vec![p.table()];
            tables.extend(p.negative_aspects.as_ref().map(|t| t.table()));
            emit(&a.common, &p, tables)
        }
        Command::Attribution(a) => {
            let models = load_models(&a.common.models)?;
            let i = load(&a.common, with_text(false))?;
            let mut r = attribution(&i.log, &i.members, a.window, i.from, i.to)?;
            if let Some(models) = models.as_deref().filter(|m| m.conversion.is_some()) {
                let spinner = super::progress::spinner("scoring contacts");
                let estimate =
                    incremental(&i.log, &i.members, i.table.as_ref(), models, i.from, i.to)?;
                spinner.finish_and_clear();
                r.add_incremental(estimate);
            }
            emit(&a.common, &r, vec![r.table()])
        }
        Command::Report(a) => {
            let query = AnalyticsQuery {
                from: a.from,
                to: a.to,
                conditions: a.conditions,
                steps: a.steps,
                window: a.window,
                anchor: a.anchor,
                period: a.period,
                exclude: a.exclude,
                compare: a.compare,
                ..AnalyticsQuery::default()
            };
            let table = a
                .customers
                .as_ref()
                .map(|p| CustomerTable::read(p, None))
                .transpose()?;
            let spinner = super::progress::spinner("reading");
            let log = EventLog::read(&a.events, |_| {})?;
            spinner.set_message("analysing");
            let mut data = JourneyData::new(log, table);
            if let Some(models) = load_models(&a.models)? {
                data = data.with_models(models);
            }
            let dashboard = query.dashboard(&data)?;
            spinner.finish_and_clear();
            let html = nextbest::server::routes::pages::journeys_report(&serde_json::to_value(
                &dashboard,
            )?);
            let file =
                nextbest::journey::writer::AtomicFile::with_contents(&a.out, html.as_bytes())?;
            file.commit()?;
            eprintln!("wrote {} ({} KB)", a.out.display(), html.len() / 1024);
            Ok(())
        }
        Command::Clv(a) => {
            anyhow::ensure!(
                a.months > 0 && a.months <= 600,
                "--months: must be 1 to 600, got {}",
                a.months
            );
            anyhow::ensure!(
                (0.0..1.0).contains(&a.discount),
                "--discount: must be in [0, 1), got {}",
                a.discount
            );
            let i = load(&a.common, with_text(false))?;
            let horizon = Horizon {
                months: a.months,
                monthly_discount_rate: a.discount,
                units_per_month: 365.25 / 12.0 / 7.0,
            };
            let report = clv(&i.log, &i.members, i.to, &horizon)?;
            emit(&a.common, &report, report.tables(a.top))
        }
        Command::Cohorts(a) => {
            // Cohorts count event types: no text, channels, actions or values to read.
            let counting = LogOptions::counting(false);
            let basis = match a.cohort.as_str() {
                "first-purchase" => CohortBasis::FirstPurchase,
                "first-activity" => CohortBasis::FirstActivity,
                "signup" => CohortBasis::Signup(a.signup_column.clone()),
                other => anyhow::bail!(
                    "--cohort: '{other}' is not first-purchase, first-activity or signup"
                ),
            };
            let retained = match a.retained.as_str() {
                "activity" => Retained::Activity,
                "purchase" => Retained::Purchase,
                other => anyhow::bail!("--retained: '{other}' is not activity or purchase"),
            };
            let spec = CohortSpec {
                basis,
                bucket: a.period.parse::<Bucket>()?,
                retained,
            };
            let i = load(&a.common, counting)?;
            // Buckets count from midnight of the first event unless a start is given.
            let from = if a.common.from.is_some() {
                i.from
            } else {
                midnight(i.from)
            };
            let c = cohorts(&i.log, &i.members, i.table.as_ref(), &spec, from, i.to)?;
            emit(&a.common, &c, c.tables())
        }
    }
}
