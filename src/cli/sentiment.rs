//! `nextbest sentiment`: score one text per line; with `--aspects`, also what each text is about.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use nextbest::features::aspects::Taxonomy;
use nextbest::models::artifact::LoadedModel;
use nextbest::models::sentiment::NamedSentimentModel;
use nextbest::models::Artifact;

/// Arguments of `nextbest sentiment`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// File with one text per line (standard input when absent).
    file: Option<PathBuf>,
    /// Sentiment artifact folder.
    #[arg(long, default_value = "models/sentiment")]
    model: PathBuf,
    /// Also tag aspects: one JSON object per line instead of a bare P(positive) —
    /// `{"p": …, "aspects": [{"aspect": …, "sentiment": …, "sentence": …}, …]}`.
    #[arg(long)]
    aspects: bool,
    /// Aspect taxonomy (TOML; the built-in retail/telecom one when absent). Needs `--aspects`.
    #[arg(long, requires = "aspects")]
    taxonomy: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let artifact = Artifact::load(&args.model)?;
    let LoadedModel::Sentiment(model) = artifact.model else {
        anyhow::bail!("{} is not a sentiment model", args.model.display());
    };
    let taxonomy = match (&args.aspects, &args.taxonomy) {
        (false, _) => None,
        (true, Some(path)) => Some(Taxonomy::load(path)?),
        (true, None) => Some(Taxonomy::default_taxonomy()?),
    };
    let scorer = NamedSentimentModel {
        model,
        name: format!("sentiment/{}", artifact.manifest.version),
    };
    let input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let source = args
        .file
        .as_ref()
        .map_or("standard input".to_string(), |p| p.display().to_string());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (i, line) in input.lines().enumerate() {
        let line =
            line.with_context(|| format!("{source}: line {}: not readable as UTF-8 text", i + 1))?;
        let p = scorer.model.probability(&line);
        match &taxonomy {
            None => writeln!(out, "{p:.6}")?,
            Some(taxonomy) => {
                let mentions = taxonomy.tag(&line, &scorer);
                let json = serde_json::json!({
                    "p": (f64::from(p) * 1e6).round() / 1e6,
                    "aspects": mentions.iter().map(|m| serde_json::json!({
                        "aspect": m.aspect,
                        "sentiment": (f64::from(m.sentiment) * 1e6).round() / 1e6,
                        "sentence": m.sentence,
                    })).collect::<Vec<_>>(),
                });
                writeln!(out, "{json}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
