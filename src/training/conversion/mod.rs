//! Conversion and uplift training: P(convert within the window | customer, action) for every
//! action in the catalog and for no action, learned from the journey log.
//!
//! Decision points come from the log itself ([`points`]): every `action` event is a treated
//! point; control points are instants (every `control.every_days`, plus explicit `action` events
//! of the catalog's no-action entry) where the customer got no contact in the lookback before
//! nor in the label window after. One model (an "S-learner") sees the customer's point-in-time
//! features plus one indicator per treatment, so the uplift of action `a` for a customer is
//! `P(x, a) − P(x, none)`. Points are split by time: the model learns on early points whose
//! label windows end before the later periods, and is judged on the last period
//! ([`evaluation`]); [`report`] is what `metrics.json` holds.

pub mod evaluation;
pub mod points;
pub mod report;

pub use evaluation::{ActionMetrics, TruthActionMetrics, TruthMetrics};
pub use points::{build_points, ConversionData, PointCounts, PointSet};
pub use report::{ConversionMetrics, ConversionOutcome};

use super::config::ValidConversionConfig;
use super::pipeline::{
    evaluate, fingerprint, fit_and_calibrate, training_data, write_artifact, ArtifactSpec,
    LabelledRows,
};
use super::{TabularInputs, TrainError};
use crate::catalog::{ActionKind, Catalog};
use crate::features::FeatureSpec;
use crate::models::artifact::LoadedModel;
use crate::models::learner::TrainingRows;
use crate::models::params::InvalidSetting;
use crate::models::{Role, TabularModel};

/// The treatments of a catalog (every action but the no-action entries) and the ids of its
/// no-action entries.
pub fn treatments(catalog: &Catalog) -> (Vec<String>, Vec<String>) {
    let (control, treated): (Vec<_>, Vec<_>) = catalog
        .actions
        .iter()
        .partition(|a| a.kind == ActionKind::None);
    (
        treated.into_iter().map(|a| a.id.clone()).collect(),
        control.into_iter().map(|a| a.id.clone()).collect(),
    )
}

/// The model's input row for `treatment` (`None` = no action): the customer features followed
/// by one indicator per treatment.
pub fn treatment_row(features: &[f32], treatment: Option<usize>, treatments: usize) -> Vec<f32> {
    let mut row = Vec::with_capacity(features.len() + treatments);
    row.extend_from_slice(features);
    row.extend((0..treatments).map(|t| if Some(t) == treatment { 1.0 } else { 0.0 }));
    row
}

/// Feature names of a conversion model's input: the spec's, then `treatment__<id>`.
pub fn input_names(spec: &FeatureSpec, treatments: &[String]) -> Vec<String> {
    spec.names()
        .map(str::to_string)
        .chain(treatments.iter().map(|t| format!("treatment__{t}")))
        .collect()
}

/// Trains a conversion model from a checked config and writes its artifact.
pub fn train(
    valid: &ValidConversionConfig,
    progress: &dyn Fn(u64),
) -> Result<ConversionOutcome, TrainError> {
    let (config, model_config) = (valid.config(), valid.model());
    let inputs = TabularInputs::load(&config.data)?;
    let catalog = inputs
        .catalog
        .as_ref()
        .ok_or_else(|| InvalidSetting::new("data.catalog", "required"))?;
    let (treatments, controls) = treatments(catalog);
    if treatments.is_empty() {
        return Err(InvalidSetting::new(
            "data.catalog",
            "has no actions besides no-action entries: nothing to learn",
        )
        .into());
    }
    // Unknown monotone feature names fail here, before the events are read.
    let names = input_names(&inputs.spec, &treatments);
    config.model.check_feature_names(&names)?;
    let data = build_points(valid, &inputs, &treatments, &controls, progress)?;
    let spec = &inputs.spec;
    let width = spec.len() + treatments.len();
    for (name, set) in [("training", &data.train), ("holdout", &data.holdout)] {
        if set.len() == 0 {
            return Err(InvalidSetting::new(
                "split",
                format!(
                    "the {name} period has no decision points (points: {:?})",
                    data.counts
                ),
            )
            .into());
        }
    }
    let calibrating = model_config.calibrating();
    if calibrating && data.calibration.len() == 0 {
        return Err(InvalidSetting::new(
            "split.calibration_from",
            "the calibration period has no decision points",
        )
        .into());
    }
    let train_rows = LabelledRows {
        rows: &data.train.rows,
        labels: &data.train.labels,
    };
    let model = fit_and_calibrate(
        model_config,
        &TrainingRows {
            rows: train_rows.rows,
            n_features: width,
            labels: train_rows.labels,
            groups: Some(&data.train.customers),
            names: &names,
        },
        calibrating.then_some(LabelledRows {
            rows: &data.calibration.rows,
            labels: &data.calibration.labels,
        }),
        config.seed,
    )?
    .model;
    let holdout = &data.holdout;
    let evaluation = evaluate(
        &model,
        &names,
        width,
        train_rows,
        LabelledRows {
            rows: &holdout.rows,
            labels: &holdout.labels,
        },
    )?;
    let per_action = evaluation::evaluate_actions(&model, holdout, width, &treatments)?;
    let qinis: Vec<f64> = per_action
        .iter()
        .filter_map(|a| a.uplift.qini_auc)
        .collect();
    let mapping = inputs.attribute_mapping()?;
    let attributes = inputs.attributes(mapping.as_ref());
    let ground_truth = config
        .evaluation
        .ground_truth
        .as_deref()
        .map(|path| {
            evaluation::evaluate_truth(
                path,
                &model,
                &data,
                (spec, inputs.scorer(), attributes),
                valid.windows(),
                &treatments,
                &controls,
            )
        })
        .transpose()?;
    let metrics = ConversionMetrics {
        role: Role::Conversion,
        algorithm: model.estimator.algorithm().into(),
        calibration: model_config.calibration.as_str().into(),
        treatments: treatments.clone(),
        holdout: holdout.summary(),
        holdout_control_rows: holdout.treatments.iter().filter(|t| t.is_none()).count(),
        train: data.train.summary(),
        calibration_set: calibrating.then(|| data.calibration.summary()),
        points: data.counts.clone(),
        auc: evaluation.auc,
        log_loss: evaluation.log_loss,
        brier: evaluation.brier,
        expected_calibration_error: evaluation.expected_calibration_error,
        calibration_deciles: evaluation.calibration_deciles,
        train_auc: evaluation.train_auc,
        mean_qini_auc: (!qinis.is_empty()).then(|| qinis.iter().sum::<f64>() / qinis.len() as f64),
        per_action,
        ground_truth,
        feature_importance: evaluation.feature_importance,
        holdout_fingerprint: evaluation.holdout_fingerprint,
    };
    let training_data = training_data(
        config.data.files(),
        fingerprint(
            [&data.train, &data.calibration, holdout]
                .into_iter()
                .map(|s| (s.rows.as_slice(), s.labels.as_slice())),
        ),
        &data.train.labels,
        holdout.len(),
    );
    let manifest = write_artifact(
        &config.output,
        ArtifactSpec {
            role: Role::Conversion,
            algorithm: model.estimator.algorithm(),
            model_file: "model.json",
            features: Some(inputs.spec.clone()),
            treatments: Some(treatments),
            training_data,
            seed: config.seed,
        },
        &config.label,
        config,
        &LoadedModel::Tabular(TabularModel::Native(Box::new(model))),
        &metrics,
    )?;
    Ok(ConversionOutcome { manifest, metrics })
}
