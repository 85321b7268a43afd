//! `nextbest generate`: simulate journeys with ground truth.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use nextbest::journey::Timestamp;
use nextbest::simulator::{generate_with, LogOptions, SimulatorConfig};

/// Arguments of `nextbest generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of customers to simulate.
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Days of history (7..3650).
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// First day of the simulation (YYYY-MM-DD).
    #[arg(long, default_value = "2025-01-01")]
    start: String,
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Also log the randomised logging policy's "do nothing" decisions as `action` events of
    /// `no_action`: an explicit control group for `nextbest train` (configs without
    /// `control.every_days`).
    #[arg(long)]
    log_controls: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let start = Timestamp::parse_date_or_datetime(&args.start)
        .map_err(|e| anyhow::anyhow!("--start: {e}"))?;
    let config = SimulatorConfig {
        customers: args.customers,
        days: args.days,
        seed: args.seed,
        start,
    };
    config.validate().map_err(|e| anyhow::anyhow!("--{e}"))?;
    let bar = super::progress::bar(args.customers, "customers");
    let began = Instant::now();
    let log = LogOptions {
        controls: args.log_controls,
    };
    let summary = generate_with(&config, log, &args.out, &|done| bar.set_position(done))
        .with_context(|| format!("generating into {}", args.out.display()))?;
    bar.finish_and_clear();
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "simulated {} customers over {} days in {seconds:.1} s: {} events ({:.0} events/s), {} decision points ({} with an action), {} cancelled, {} signed up during the period",
        summary.customers,
        config.days,
        summary.events,
        summary.events as f64 / seconds.max(1e-9),
        summary.decision_points,
        summary.actions_taken,
        summary.cancelled,
        summary.signed_up_during,
    );
    for file in &summary.files {
        println!("  wrote {}", file.display());
    }
    Ok(())
}
