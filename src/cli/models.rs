//! `nextbest models show|compare`: read artifacts.

use std::path::{Path, PathBuf};

use nextbest::models::Artifact;

/// Arguments of `nextbest models`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print an artifact's manifest and metrics readably.
    Show {
        /// Artifact folder (e.g. models/churn).
        dir: PathBuf,
        /// Print the raw manifest and metrics JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Write a native churn or conversion artifact as a standard ONNX model (ai.onnx.ml trees
    /// or core ops, calibration included) that any ONNX Runtime scores alike.
    ExportOnnx {
        /// Artifact folder (e.g. models/churn).
        artifact: PathBuf,
        /// The .onnx file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Wrap an ONNX model trained elsewhere into an artifact folder, checking its input and
    /// output against the feature pipeline.
    Import {
        /// The .onnx file.
        model: PathBuf,
        /// What it predicts: churn or conversion.
        #[arg(long)]
        role: String,
        /// The feature spec it was trained on: a spec file (`nextbest features` writes
        /// <name>.spec.json) or an artifact folder (its features, and treatments for conversion).
        #[arg(long)]
        features_from: PathBuf,
        /// The artifact folder to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Compare two artifacts' holdout metrics side by side.
    Compare {
        /// First artifact folder.
        a: PathBuf,
        /// Second artifact folder.
        b: PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Show { dir, json } => show(&dir, json),
        Command::Compare { a, b } => compare(&a, &b),
        Command::ExportOnnx { artifact, out } => {
            let columns = nextbest::models::onnx_export::export_artifact(&artifact, &out)?;
            println!(
                "wrote {} ({columns} input columns, output `probability`)",
                out.display()
            );
            Ok(())
        }
        Command::Import {
            model,
            role,
            features_from,
            out,
        } => import(&model, &role, &features_from, &out),
    }
}

fn import(model: &Path, role: &str, features_from: &Path, out: &Path) -> anyhow::Result<()> {
    use nextbest::features::FeatureSpec;
    use nextbest::models::Role;
    let role = match role {
        "churn" => Role::Churn,
        "conversion" => Role::Conversion,
        "retention" => Role::Retention,
        other => anyhow::bail!("--role: '{other}' (expected churn, conversion or retention)"),
    };
    let (spec, treatments) = if features_from.is_dir() {
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            features_from.join("manifest.json"),
        )?)?;
        let spec: FeatureSpec =
            serde_json::from_value(manifest["features"].clone()).map_err(|e| {
                anyhow::anyhow!("--features-from {}: features: {e}", features_from.display())
            })?;
        let treatments: Option<Vec<String>> =
            serde_json::from_value(manifest["treatments"].clone()).unwrap_or(None);
        (spec, treatments)
    } else {
        (FeatureSpec::load(features_from)?, None)
    };
    let artifact = nextbest::models::onnx_export::import(model, role, spec, treatments, out)?;
    println!(
        "wrote {} ({} model, version {}, {} features)",
        out.display(),
        artifact.manifest.role.as_str(),
        artifact.manifest.version,
        artifact
            .manifest
            .features
            .as_ref()
            .map_or(0, FeatureSpec::len)
    );
    Ok(())
}

fn number(metrics: &serde_json::Value, pointer: &str) -> Option<f64> {
    metrics.pointer(pointer).and_then(|v| v.as_f64())
}

/// (label, JSON pointer) of the headline metrics of each role.
fn headline(metrics: &serde_json::Value) -> Vec<(&'static str, &'static str)> {
    if metrics.get("model").is_some() {
        vec![
            ("accuracy", "/model/accuracy"),
            ("AUC", "/model/auc"),
            ("log loss", "/model/log_loss"),
            ("VADER accuracy", "/vader/accuracy"),
            ("AFINN accuracy", "/afinn/accuracy"),
        ]
    } else {
        vec![
            ("AUC", "/auc"),
            ("log loss", "/log_loss"),
            ("Brier", "/brier"),
            ("calibration error", "/expected_calibration_error"),
            ("train AUC", "/train_auc"),
            ("recency-only AUC", "/recency_baseline_auc"),
            ("BG/NBD AUC", "/bgnbd_baseline_auc"),
            ("BG/NBD P(alive) AUC", "/bgnbd_p_alive_auc"),
            ("  repeat buyers only", "/bgnbd_p_alive_repeat_buyers_auc"),
            ("mean normalised Qini", "/mean_qini_auc"),
            ("true uplift: model", "/ground_truth/model_policy_uplift"),
            ("true uplift: random", "/ground_truth/random_policy_uplift"),
            ("true uplift: oracle", "/ground_truth/oracle_policy_uplift"),
        ]
    }
}

fn show(dir: &PathBuf, json: bool) -> anyhow::Result<()> {
    let artifact = Artifact::load(dir)?;
    let metrics = artifact.metrics()?;
    let m = &artifact.manifest;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"manifest": m, "metrics": metrics}))?
        );
        return Ok(());
    }
    println!("{}", dir.display());
    println!("  role        {}", m.role.as_str());
    println!(
        "  algorithm   {} ({} backend)",
        m.algorithm,
        m.backend.as_str()
    );
    println!("  version     {}", m.version);
    println!(
        "  trained by  nextbest {} with seed {}",
        m.crate_version, m.seed
    );
    println!(
        "  data        {} (fingerprint {})",
        m.training_data.files.join(", "),
        m.training_data.fingerprint
    );
    println!(
        "  rows        {} train ({:.1}% positive), {} holdout",
        m.training_data.train_rows,
        100.0 * m.training_data.train_positive_rate,
        m.training_data.holdout_rows
    );
    if let Some(spec) = &m.features {
        println!(
            "  features    {} (feature set v{})",
            spec.len(),
            spec.version
        );
    }
    if let Some(treatments) = &m.treatments {
        println!(
            "  treatments  {} indicator columns after the features: {}",
            treatments.len(),
            treatments.join(", ")
        );
    }
    if let Some(learner) = metrics.get("uplift_learner").and_then(|l| l.as_str()) {
        let weighted = metrics["propensity_weighted"].as_bool() == Some(true);
        println!(
            "  uplift      {learner}-learner{}",
            if weighted {
                ", rows weighted by inverse logged propensity"
            } else {
                ""
            }
        );
        if let Some(choice) = metrics.get("learner_choice").filter(|c| !c.is_null()) {
            let trials: Vec<String> = choice["trials"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let name = t["learner"].as_str().unwrap_or("?");
                    match (t["qini"].as_f64(), t["policy_value"].as_f64()) {
                        (Some(q), Some(v)) => format!("{name} Qini {q:.4} value {v:.3}"),
                        (Some(q), None) => format!("{name} Qini {q:.4}"),
                        _ => format!("{name} failed"),
                    }
                })
                .collect();
            let by = match choice["by"].as_str() {
                Some("policy_value") => "policy value",
                _ => "Qini",
            };
            println!(
                "              chosen by {}-fold cross-validated {by} on the training customers: {}",
                choice["folds"],
                trials.join(", ")
            );
        }
    }
    println!("  label       {}", m.label);
    println!("\n  holdout metrics");
    for (label, pointer) in headline(&metrics) {
        if let Some(v) = number(&metrics, pointer) {
            println!("    {label:<20} {v:.4}");
        }
    }
    if let Some(bins) = metrics
        .get("calibration_deciles")
        .and_then(|b| b.as_array())
    {
        println!(
            "\n  calibration (deciles of the prediction)\n    {:>8} {:>10} {:>10}",
            "rows", "predicted", "observed"
        );
        for bin in bins {
            println!(
                "    {:>8} {:>10.4} {:>10.4}",
                bin["count"].as_u64().unwrap_or(0),
                bin["mean_predicted"].as_f64().unwrap_or(f64::NAN),
                bin["observed_rate"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    if let Some(actions) = metrics.get("per_action").and_then(|a| a.as_array()) {
        print_uplift(actions);
    }
    if let Some(importance) = metrics.get("feature_importance").and_then(|b| b.as_array()) {
        println!("\n  top features");
        for pair in importance.iter().take(15) {
            println!(
                "    {:<36} {:.4}",
                pair[0].as_str().unwrap_or("?"),
                pair[1].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// The conversion model's per-action uplift quality, then each action's uplift deciles.
fn print_uplift(actions: &[serde_json::Value]) {
    let cell = |v: &serde_json::Value, key: &str, width: usize| {
        v[key].as_f64().map_or_else(
            || format!("{:>width$}", "n/a"),
            |x| format!("{x:>width$.4}"),
        )
    };
    println!(
        "\n  per action (holdout)\n    {:<26} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "action", "rows", "rate", "AUC", "Qini", "AUUC", "up@30%", "uplift"
    );
    for a in actions {
        println!(
            "    {:<26} {:>7} {} {} {} {} {} {}",
            a["action_id"].as_str().unwrap_or("?"),
            a["rows"].as_u64().unwrap_or(0),
            cell(a, "conversion_rate", 8),
            cell(a, "auc", 8),
            cell(a, "qini_auc", 8),
            cell(a, "uplift_auc", 8),
            cell(a, "uplift_at_30", 8),
            cell(a, "mean_predicted_uplift", 9)
        );
    }
    println!(
        "    Qini, AUUC: normalised areas under the Qini and uplift curves, as scikit-uplift's\n    \
         qini_auc_score / uplift_auc_score (1 = perfect ranking, 0 = random, < 0 worse);\n    \
         up@30%: treated − control response rate among the top 30% by predicted uplift;\n    \
         uplift: mean predicted uplift. See docs/evaluation.md."
    );
    for a in actions {
        let Some(bins) = a.get("uplift_deciles").and_then(|b| b.as_array()) else {
            continue;
        };
        if bins.is_empty() {
            continue;
        }
        println!(
            "\n  uplift deciles of {} (highest predicted uplift first)\n    {:>10} {:>8} {:>9} {:>8} {:>9} {:>9}",
            a["action_id"].as_str().unwrap_or("?"),
            "predicted",
            "treated",
            "rate",
            "control",
            "rate",
            "observed"
        );
        for bin in bins {
            println!(
                "    {} {:>8} {} {:>8} {} {}",
                cell(bin, "mean_predicted_uplift", 10),
                bin["treated"].as_u64().unwrap_or(0),
                cell(bin, "treated_rate", 9),
                bin["control"].as_u64().unwrap_or(0),
                cell(bin, "control_rate", 9),
                cell(bin, "observed_uplift", 9)
            );
        }
    }
}

fn compare(a: &PathBuf, b: &PathBuf) -> anyhow::Result<()> {
    let (x, y) = (Artifact::load(a)?, Artifact::load(b)?);
    if x.manifest.role != y.manifest.role {
        anyhow::bail!(
            "{} is a {} model and {} a {} model: compare models of one role",
            a.display(),
            x.manifest.role.as_str(),
            b.display(),
            y.manifest.role.as_str()
        );
    }
    let (mx, my) = (x.metrics()?, y.metrics()?);
    let same = mx.get("holdout_fingerprint").is_some()
        && mx.get("holdout_fingerprint") == my.get("holdout_fingerprint");
    println!(
        "{:<22} {:>16} {:>16} {:>10}",
        "", x.manifest.algorithm, y.manifest.algorithm, "B − A"
    );
    for (label, pointer) in headline(&mx) {
        let (va, vb) = (number(&mx, pointer), number(&my, pointer));
        if va.is_none() && vb.is_none() {
            continue;
        }
        let diff = va
            .zip(vb)
            .map_or_else(|| "".into(), |(p, q)| format!("{:+.4}", q - p));
        let show = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.4}"));
        println!("{label:<22} {:>16} {:>16} {:>10}", show(va), show(vb), diff);
    }
    if same {
        println!("\nboth were evaluated on the same holdout (identical features and labels)");
    } else {
        println!("\nwarning: the holdouts differ (other data, cutoff or features): the numbers are not directly comparable");
    }
    Ok(())
}
