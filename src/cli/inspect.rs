//! `nextbest inspect`: describe an event file and report problem rows.

use std::path::PathBuf;
use std::process::ExitCode;

use nextbest::journey::inspect::JourneySummary;
use nextbest::journey::{CustomerTable, EventReader, Format, ReadOptions};

/// Arguments of `nextbest inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Event file (.parquet, .csv, .jsonl).
    events: PathBuf,
    /// Customer table to relate to the events.
    #[arg(long)]
    customers: Option<PathBuf>,
    /// Force the format of the events file instead of telling it from its extension.
    #[arg(long)]
    format: Option<Format>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = ReadOptions {
        format: args.format,
        strict: false,
        ..ReadOptions::default()
    };
    let mut reader = EventReader::open(&args.events, options)?;
    let bar = super::progress::reader_bar(reader.progress(), "reading");
    let mut summary = JourneySummary::default();
    while let Some(chunk) = reader.next() {
        let chunk = chunk?;
        summary.add(&chunk.events, &chunk.problems);
        bar.set_position(reader.progress().done);
    }
    bar.finish_and_clear();
    if let Some(path) = &args.customers {
        let table = CustomerTable::read(path, None)?;
        summary.add_customer_table(&table);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.render(&args.events.display().to_string()));
    }
    if summary.problem_rows > 0 {
        eprintln!(
            "{}: {} row(s) have problems; `nextbest features` would stop at the first",
            args.events.display(),
            summary.problem_rows
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
