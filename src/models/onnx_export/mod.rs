//! Native models written as standard ONNX, so that any ONNX Runtime (a JVM service, a Spark
//! job) computes what nextbest computes.
//!
//! The graph takes one float tensor `features` `[N, d]` and gives `probability`, a double
//! tensor `[N, 1]` (the shape [`super::onnx::OnnxModel`] reads back):
//! - gradient-boosted trees: `ai.onnx.ml` `TreeEnsembleRegressor` (opset 3) on the features
//!   cast to double, with thresholds, leaf weights and base score as double tensors (ONNX
//!   Runtime takes the attributes' type from the input's), so splits compare exactly as
//!   forust's `f64::from(x) < split` and leaves add up in double; then `Sigmoid`;
//! - a decision tree: the same operator with `BRANCH_LEQ` and the smoothed leaf probabilities;
//! - logistic regression: the standardisation folded into the weights, `MatMul` + `Add` +
//!   `Sigmoid` in double;
//! - calibration, in core ops and double: Platt as `σ(a · logit(p) + b)`; isotonic as the sum
//!   of each knot segment's clamped linear piece (`Max`/`Min`/`MatMul`), plus a step for
//!   every repeated knot — the same piecewise-linear map, without a lookup operator.

mod proto;

use proto::{double_tensor, node, tensor_info, Attr, ElemType, Message};

use super::calibration::Calibration;
use super::{Estimator, ModelError, NativeModel};

/// One node of an exportable tree.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ExportNode {
    /// Go to `true_child` when the rule holds (the ensemble's mode: `<` or `<=`), else to
    /// `false_child`; NaN goes to the true child when `missing_true`.
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Index (within the tree) of the child when the rule holds.
        true_child: usize,
        /// Index of the other child.
        false_child: usize,
        /// Where NaN goes.
        missing_true: bool,
    },
    /// A leaf and its value.
    Leaf(f64),
}

/// Writes `model` (taking `n_features` columns) as an ONNX model; `metadata` goes into the
/// model's metadata properties (role, version, feature names).
pub fn export(
    model: &NativeModel,
    n_features: usize,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>, ModelError> {
    let mut nodes = Vec::new();
    let mut init = Vec::new();
    match &model.estimator {
        Estimator::Gbdt(gbdt) => {
            let (trees, base) = gbdt.export_trees()?;
            nodes.push(cast("features", "x"));
            nodes.push(ensemble(&trees, "BRANCH_LT", base, "x", "margin_f32"));
            nodes.push(cast("margin_f32", "margin"));
            nodes.push(node("Sigmoid", "", &["margin"], &["raw"], &[]));
        }
        Estimator::Tree(tree) => {
            let trees = vec![tree.export_nodes()];
            nodes.push(cast("features", "x"));
            nodes.push(ensemble(&trees, "BRANCH_LEQ", 0.0, "x", "raw_f32"));
            nodes.push(cast("raw_f32", "raw"));
        }
        Estimator::Logistic(logistic) => {
            let (weights, bias) = logistic.folded();
            if weights.len() != n_features {
                return Err(ModelError::FeatureMismatch {
                    path: "model".into(),
                    problem: format!(
                        "the model takes {} features, the manifest lists {n_features}",
                        weights.len()
                    ),
                });
            }
            init.push(double_tensor("weights", &[n_features as i64, 1], &weights));
            init.push(double_tensor("bias", &[1], &[bias]));
            nodes.push(cast("features", "x"));
            nodes.push(node("MatMul", "", &["x", "weights"], &["xw"], &[]));
            nodes.push(node("Add", "", &["xw", "bias"], &["z"], &[]));
            nodes.push(node("Sigmoid", "", &["z"], &["raw"], &[]));
        }
        Estimator::Meta(meta) => {
            return Err(ModelError::Invalid {
                path: "model".into(),
                problem: format!(
                    "a {:?}-learner's arms cannot be exported to ONNX yet (export an S-learner: model.uplift.learner = \"s\")",
                    meta.learner
                ),
            });
        }
    }
    calibration(
        &model.calibration,
        "raw",
        "probability",
        &mut nodes,
        &mut init,
    );
    Ok(proto::model(
        "nextbest",
        nodes,
        init,
        tensor_info("features", ElemType::Float, n_features as i64),
        tensor_info("probability", ElemType::Double, 1),
        metadata,
    ))
}

fn cast(from: &str, to: &str) -> Message {
    node(
        "Cast",
        "",
        &[from],
        &[to],
        &[Attr::Int("to", ElemType::Double as i64)],
    )
}

/// A `TreeEnsembleRegressor` summing the trees' leaves plus `base`, one target.
fn ensemble(
    trees: &[Vec<ExportNode>],
    mode: &'static str,
    base: f64,
    input: &str,
    output: &str,
) -> Message {
    let mut tree_ids = Vec::new();
    let mut node_ids = Vec::new();
    let mut features = Vec::new();
    let mut modes = Vec::new();
    let mut values = Vec::new();
    let mut trues = Vec::new();
    let mut falses = Vec::new();
    let mut missing = Vec::new();
    let mut target_trees = Vec::new();
    let mut target_nodes = Vec::new();
    let mut weights = Vec::new();
    for (t, tree) in trees.iter().enumerate() {
        for (i, n) in tree.iter().enumerate() {
            tree_ids.push(t as i64);
            node_ids.push(i as i64);
            match *n {
                ExportNode::Split {
                    feature,
                    threshold,
                    true_child,
                    false_child,
                    missing_true,
                } => {
                    features.push(feature as i64);
                    modes.push(mode);
                    values.push(threshold);
                    trues.push(true_child as i64);
                    falses.push(false_child as i64);
                    missing.push(i64::from(missing_true));
                }
                ExportNode::Leaf(value) => {
                    features.push(0);
                    modes.push("LEAF");
                    values.push(0.0);
                    trues.push(0);
                    falses.push(0);
                    missing.push(0);
                    target_trees.push(t as i64);
                    target_nodes.push(i as i64);
                    weights.push(value);
                }
            }
        }
    }
    let n_nodes = values.len() as i64;
    let n_leaves = weights.len() as i64;
    let target_ids = vec![0i64; weights.len()];
    node(
        "TreeEnsembleRegressor",
        "ai.onnx.ml",
        &[input],
        &[output],
        &[
            Attr::Str("aggregate_function", "SUM"),
            Attr::Tensor("base_values_as_tensor", double_tensor("", &[1], &[base])),
            Attr::Int("n_targets", 1),
            Attr::Ints("nodes_falsenodeids", falses),
            Attr::Ints("nodes_featureids", features),
            Attr::Strs("nodes_modes", modes),
            Attr::Ints("nodes_missing_value_tracks_true", missing),
            Attr::Ints("nodes_nodeids", node_ids),
            Attr::Ints("nodes_treeids", tree_ids),
            Attr::Ints("nodes_truenodeids", trues),
            Attr::Tensor(
                "nodes_values_as_tensor",
                double_tensor("", &[n_nodes], &values),
            ),
            Attr::Str("post_transform", "NONE"),
            Attr::Ints("target_ids", target_ids),
            Attr::Ints("target_nodeids", target_nodes),
            Attr::Ints("target_treeids", target_trees),
            Attr::Tensor(
                "target_weights_as_tensor",
                double_tensor("", &[n_leaves], &weights),
            ),
        ],
    )
}

/// Appends the calibration map from `input` (double `[N, 1]`) to `output`.
fn calibration(
    calibration: &Calibration,
    input: &str,
    output: &str,
    nodes: &mut Vec<Message>,
    init: &mut Vec<Message>,
) {
    match calibration {
        Calibration::None => nodes.push(node("Identity", "", &[input], &[output], &[])),
        Calibration::Platt { a, b } => {
            init.push(double_tensor("platt_lo", &[], &[1e-12]));
            init.push(double_tensor("platt_hi", &[], &[1.0 - 1e-12]));
            init.push(double_tensor("platt_one", &[], &[1.0]));
            init.push(double_tensor("platt_a", &[], &[*a]));
            init.push(double_tensor("platt_b", &[], &[*b]));
            nodes.push(node("Max", "", &[input, "platt_lo"], &["platt_p0"], &[]));
            nodes.push(node(
                "Min",
                "",
                &["platt_p0", "platt_hi"],
                &["platt_p"],
                &[],
            ));
            nodes.push(node(
                "Sub",
                "",
                &["platt_one", "platt_p"],
                &["platt_q"],
                &[],
            ));
            nodes.push(node(
                "Div",
                "",
                &["platt_p", "platt_q"],
                &["platt_odds"],
                &[],
            ));
            nodes.push(node("Log", "", &["platt_odds"], &["platt_logit"], &[]));
            nodes.push(node(
                "Mul",
                "",
                &["platt_logit", "platt_a"],
                &["platt_az"],
                &[],
            ));
            nodes.push(node("Add", "", &["platt_az", "platt_b"], &["platt_z"], &[]));
            nodes.push(node("Sigmoid", "", &["platt_z"], &[output], &[]));
        }
        Calibration::Isotonic { x, y } if x.len() >= 2 && x.len() == y.len() => {
            let m = x.len() - 1;
            let lo: Vec<f64> = x[..m].to_vec();
            let hi: Vec<f64> = x[1..].to_vec();
            let mut slopes = vec![0.0; m];
            let mut steps = vec![0.0; m];
            for i in 0..m {
                let (dx, dy) = (x[i + 1] - x[i], y[i + 1] - y[i]);
                if dx > 0.0 {
                    slopes[i] = dy / dx;
                } else {
                    // A repeated knot: the map jumps just past it.
                    steps[i] = dy;
                }
            }
            let m = m as i64;
            init.push(double_tensor("iso_lo", &[1, m], &lo));
            init.push(double_tensor("iso_hi", &[1, m], &hi));
            init.push(double_tensor("iso_slopes", &[m, 1], &slopes));
            init.push(double_tensor("iso_steps", &[m, 1], &steps));
            init.push(double_tensor("iso_y0", &[], &[y[0]]));
            nodes.push(node("Max", "", &[input, "iso_lo"], &["iso_c0"], &[]));
            nodes.push(node("Min", "", &["iso_c0", "iso_hi"], &["iso_c"], &[]));
            nodes.push(node("Sub", "", &["iso_c", "iso_lo"], &["iso_run"], &[]));
            nodes.push(node(
                "MatMul",
                "",
                &["iso_run", "iso_slopes"],
                &["iso_linear"],
                &[],
            ));
            nodes.push(node("Greater", "", &[input, "iso_lo"], &["iso_past"], &[]));
            nodes.push(cast("iso_past", "iso_pastd"));
            nodes.push(node(
                "MatMul",
                "",
                &["iso_pastd", "iso_steps"],
                &["iso_jumps"],
                &[],
            ));
            nodes.push(node(
                "Add",
                "",
                &["iso_linear", "iso_jumps"],
                &["iso_sum"],
                &[],
            ));
            nodes.push(node("Add", "", &["iso_sum", "iso_y0"], &[output], &[]));
        }
        Calibration::Isotonic { y, .. } => match y.first() {
            // One knot: a constant (the map clamps to it on both sides).
            Some(&only) => {
                init.push(double_tensor("iso_zero", &[], &[0.0]));
                init.push(double_tensor("iso_y0", &[], &[only]));
                nodes.push(node("Mul", "", &[input, "iso_zero"], &["iso_z"], &[]));
                nodes.push(node("Add", "", &["iso_z", "iso_y0"], &[output], &[]));
            }
            None => nodes.push(node("Identity", "", &[input], &[output], &[])),
        },
    }
}

/// Exports the native artifact in `dir` to `out` (written under a temporary name, renamed when
/// complete); returns the number of input columns.
pub fn export_artifact(dir: &std::path::Path, out: &std::path::Path) -> Result<usize, ModelError> {
    let artifact = super::Artifact::load(dir)?;
    let m = &artifact.manifest;
    let native = match &artifact.model {
        super::artifact::LoadedModel::Tabular(super::TabularModel::Native(native)) => native,
        _ => {
            return Err(ModelError::Invalid {
                path: dir.to_path_buf(),
                problem: format!(
                    "a {} {} model; only native churn and conversion models are exported",
                    m.backend.as_str(),
                    m.role.as_str()
                ),
            })
        }
    };
    let spec = m.features.as_ref().ok_or_else(|| ModelError::Invalid {
        path: dir.to_path_buf(),
        problem: "the manifest lists no features".into(),
    })?;
    let treatments = m.treatments.clone().unwrap_or_default();
    let n_features = spec.len() + treatments.len();
    let mut columns: Vec<String> = spec.names().map(str::to_string).collect();
    columns.extend(treatments.iter().map(|t| format!("treatment={t}")));
    let metadata = [
        ("nextbest.role", m.role.as_str().to_string()),
        ("nextbest.version", m.version.clone()),
        ("nextbest.algorithm", m.algorithm.clone()),
        ("nextbest.columns", columns.join(",")),
    ];
    let bytes = export(native, n_features, &metadata)?;
    let written = |e: crate::journey::JourneyError| ModelError::Invalid {
        path: out.to_path_buf(),
        problem: e.to_string(),
    };
    crate::journey::writer::AtomicFile::with_contents(out, &bytes)
        .map_err(written)?
        .commit()
        .map_err(written)?;
    Ok(n_features)
}

/// Wraps an ONNX model trained elsewhere into an artifact folder `out`: the model file, and a
/// manifest with `role`, the feature spec and (conversion) treatments it was trained on. The
/// model is loaded before the folder appears, so its input must take exactly the spec's
/// columns (plus one per treatment) and its output must be a binary probability.
pub fn import(
    onnx: &std::path::Path,
    role: super::Role,
    spec: crate::features::FeatureSpec,
    treatments: Option<Vec<String>>,
    out: &std::path::Path,
) -> Result<super::Artifact, ModelError> {
    use super::artifact::{Manifest, TrainingData, MANIFEST_FILE, METRICS_FILE};
    if role == super::Role::Sentiment {
        return Err(ModelError::Invalid {
            path: onnx.to_path_buf(),
            problem: "--role: sentiment models run natively only".into(),
        });
    }
    let uplift = matches!(role, super::Role::Conversion | super::Role::Retention);
    if uplift && treatments.as_ref().is_none_or(Vec::is_empty) {
        return Err(ModelError::Invalid {
            path: onnx.to_path_buf(),
            problem: format!(
                "--role {}: the model's treatments are needed (take the features from a conversion or retention artifact)",
                role.as_str()
            ),
        });
    }
    let treatments = treatments.filter(|_| uplift);
    let now = crate::journey::Timestamp::now();
    let manifest = Manifest {
        role,
        version: now.to_rfc3339(),
        backend: super::Backend::Onnx,
        algorithm: "onnx".into(),
        model_file: "model.onnx".into(),
        features: Some(spec),
        treatments,
        actions: None,
        label: serde_json::json!({"imported": true}),
        training_data: TrainingData {
            files: vec![onnx.display().to_string()],
            fingerprint: String::new(),
            train_rows: 0,
            holdout_rows: 0,
            train_positive_rate: 0.0,
        },
        config: serde_json::json!({"imported_from": onnx.display().to_string()}),
        seed: 0,
        created: now,
        crate_version: env!("CARGO_PKG_VERSION").into(),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let temp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&temp);
    std::fs::create_dir_all(&temp).map_err(|e| ModelError::io(&temp, e))?;
    let staged = (|| {
        std::fs::copy(onnx, temp.join("model.onnx")).map_err(|e| ModelError::io(onnx, e))?;
        let manifest_text =
            serde_json::to_string_pretty(&manifest).map_err(|e| ModelError::Invalid {
                path: temp.join(MANIFEST_FILE),
                problem: e.to_string(),
            })?;
        std::fs::write(temp.join(MANIFEST_FILE), manifest_text + "\n")
            .map_err(|e| ModelError::io(&temp.join(MANIFEST_FILE), e))?;
        std::fs::write(
            temp.join(METRICS_FILE),
            "{\"imported\": true, \"note\": \"no holdout metrics: trained elsewhere\"}\n",
        )
        .map_err(|e| ModelError::io(&temp.join(METRICS_FILE), e))?;
        // Loading checks the input width against the spec and the output's shape.
        super::Artifact::load(&temp)
    })();
    if let Err(e) = staged {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    if out.exists() {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(ModelError::Invalid {
            path: out.to_path_buf(),
            problem: "already exists; choose a new folder".into(),
        });
    }
    std::fs::rename(&temp, out).map_err(|e| ModelError::io(out, e))?;
    super::Artifact::load(out)
}
