//! `nextbest serve`: the decision service.

use std::path::PathBuf;

use nextbest::engine::Acknowledge;
use nextbest::server::{self, ServeConfig};
use nextbest::store::StoreLocation;

/// Arguments of `nextbest serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML; every key optional). Environment variables `NEXTBEST_*`
    /// override it, flags override both.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long)]
    bind: Option<String>,
    /// Where decisions, outcomes, profiles and experiments are kept: a SQLite file, or a
    /// `postgres://user@host/db` URL of a PostgreSQL database that several replicas share.
    #[arg(long, value_name = "FILE|URL")]
    database: Option<String>,
    /// Folder of policy files.
    #[arg(long)]
    policies: Option<PathBuf>,
    /// Action catalog.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Worker threads.
    #[arg(long)]
    workers: Option<usize>,
    /// When a decision is answered: once it is appended to the decision spool beside a SQLite
    /// log (the default; durable across a crash of the process, committed in larger batches),
    /// once its log record is committed (durable across a crash; the spool's default on
    /// PostgreSQL), or once it is queued (a little faster; a crash loses the last few
    /// milliseconds').
    #[arg(long, value_name = "WHEN", value_parser = ["committed", "spooled", "queued"])]
    acknowledge: Option<String>,
    /// Event file for the journey analytics (`/journeys`, `/v1/analytics/…`).
    #[arg(long, value_name = "FILE")]
    journeys: Option<PathBuf>,
    /// Customer table for the journey analytics.
    #[arg(long, value_name = "FILE")]
    journey_customers: Option<PathBuf>,
    /// Serve a non-loopback address without any token (everything open to the network).
    #[arg(long)]
    insecure: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut config = ServeConfig::load(args.config.as_deref())?;
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    if let Some(database) = args.database {
        config.database = StoreLocation::parse(&database)?;
    }
    if let Some(policies) = args.policies {
        config.policies = policies;
    }
    if let Some(catalog) = args.catalog {
        config.catalog = catalog;
    }
    if args.workers.is_some() {
        config.workers = args.workers;
    }
    match args.acknowledge.as_deref() {
        Some("queued") => config.acknowledge_decisions = Acknowledge::Queued,
        Some("committed") => config.acknowledge_decisions = Acknowledge::Committed,
        Some(_) => config.acknowledge_decisions = Acknowledge::Spooled,
        None => {}
    }
    if args.journeys.is_some() {
        config.journeys.events = args.journeys;
    }
    if args.journey_customers.is_some() {
        config.journeys.customers = args.journey_customers;
    }
    config.insecure |= args.insecure;
    config.validate()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    actix_web::rt::System::new().block_on(server::run(config))?;
    Ok(())
}
