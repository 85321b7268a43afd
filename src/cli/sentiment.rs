//! `nextbest sentiment`: score one text per line.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use nextbest::models::artifact::LoadedModel;
use nextbest::models::Artifact;

/// Arguments of `nextbest sentiment`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File with one text per line (standard input when absent).
    file: Option<PathBuf>,
    /// Sentiment artifact folder.
    #[arg(long, default_value = "models/sentiment")]
    model: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let artifact = Artifact::load(&args.model)?;
    let LoadedModel::Sentiment(model) = artifact.model else {
        anyhow::bail!("{} is not a sentiment model", args.model.display());
    };
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (i, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("line {}: not readable as UTF-8 text", i + 1))?;
        writeln!(out, "{:.6}", model.probability(&line))?;
    }
    out.flush()?;
    Ok(())
}
