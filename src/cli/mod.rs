//! Argument parsing and dispatch for the `nextbest` binary.

mod evaluate;
mod experiment;
mod experiment_manage;
mod features;
mod generate;
mod inspect;
mod journeys;
mod models;
mod progress;
mod score;
mod sentiment;
mod serve;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// nextbest — a next-best-action engine: journeys in, features, models, decisions and experiments out.
#[derive(Debug, Parser)]
#[command(name = "nextbest", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulate customer journeys with ground truth (events, customers, catalog, true effects).
    Generate(generate::Args),
    /// Summarise an event file (and optionally its customer table); report problem rows.
    Inspect(inspect::Args),
    /// Compute the point-in-time feature matrix (one row per customer, or per decision point).
    Features(features::Args),
    /// Train a model from a config in training/ (churn, conversion, sentiment) and write its artifact.
    Train(train::Args),
    /// Decide (or predict) for a whole segment from events or a feature matrix, to Parquet.
    Score(score::Args),
    /// Show or compare trained model artifacts.
    Models(models::Args),
    /// Score one text per line (file or standard input): P(positive), one per line.
    Sentiment(sentiment::Args),
    /// Serve decisions over HTTP (models, policies, decision log, profile store).
    Serve(serve::Args),
    /// Journey analytics: KPIs, funnels, paths, cohorts (tables, --json, --out file.parquet).
    Journeys(journeys::Args),
    /// Experiments: define, start, stop and read the service's, or analyse one offline.
    Experiment(experiment::Args),
    /// Estimate what a policy would have earned from a log of decisions with propensities.
    Evaluate(evaluate::Args),
}

/// Runs one subcommand; `Ok` carries the exit code (inspect exits 1 when rows have problems).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate(args) => generate::run(args).map(|_| ExitCode::SUCCESS),
        Command::Inspect(args) => inspect::run(args),
        Command::Features(args) => features::run(args).map(|_| ExitCode::SUCCESS),
        Command::Train(args) => train::run(args).map(|_| ExitCode::SUCCESS),
        Command::Score(args) => score::run(args).map(|_| ExitCode::SUCCESS),
        Command::Models(args) => models::run(args).map(|_| ExitCode::SUCCESS),
        Command::Sentiment(args) => sentiment::run(args).map(|_| ExitCode::SUCCESS),
        Command::Serve(args) => serve::run(args).map(|_| ExitCode::SUCCESS),
        Command::Journeys(args) => journeys::run(args).map(|_| ExitCode::SUCCESS),
        Command::Experiment(args) => experiment::run(args),
        Command::Evaluate(args) => evaluate::run(args).map(|_| ExitCode::SUCCESS),
    }
}
