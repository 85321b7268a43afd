//! Conversion and uplift training: P(convert within the window | customer, action) for every
//! action in the catalog and for no action, learned from the journey log.
//!
//! Decision points come from what was done ([`points`]): every `action` event of a catalog
//! treatment is a treated point, and every `action` event of the catalog's no-action entry an
//! explicit control point; synthetic control instants (every `control.every_days`) only when the
//! config asks for them. A control point needs no contact in the lookback before it nor in the
//! label window after. The model scores the customer's point-in-time features plus one
//! indicator per treatment, so the uplift of action `a` for a customer is
//! `P(x, a) − P(x, none)`: by default one model on those rows (an "S-learner"), or the T-, X- or
//! DR-learner's parts, or whichever of them cross-validates best ([`learners`], [`choose`]).
//! Points are split by time: the model learns on early points whose
//! label windows end before the later periods, and is judged on the last period (or, with
//! `split.by = "customer"`, on a held-out share of the customers)
//! ([`evaluation`]); [`report`] is what `metrics.json` holds.

pub mod choose;
pub mod evaluation;
pub mod learners;
pub mod log_points;
pub mod points;
pub mod report;

pub use evaluation::{ActionMetrics, TruthActionMetrics, TruthMetrics};
pub use log_points::{DecisionLog, LoggedPoint};
pub use points::{build_points, ConversionData, PointCounts, PointSet};
pub use report::{ConversionMetrics, ConversionOutcome};

use super::config::PropensityWeighting;
use super::config::ValidConversionConfig;
use super::pipeline::{
    calibrate, evaluate, fingerprint, training_data, write_artifact, ArtifactSpec, LabelledRows,
};
use super::{TabularInputs, TrainError};
use crate::catalog::{ActionKind, Catalog};
use crate::features::FeatureSpec;
use crate::models::artifact::LoadedModel;
use crate::models::learner::Learner;
use crate::models::params::InvalidSetting;
use crate::models::TabularModel;
use learners::{propensity_weights, Learners, UpliftData};

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

/// What looks wrong with the labels: a treatment or the controls with no conversion at all, a
/// holdout AUC too good to be true, controls that all come after every treatment.
fn leakage_warnings(data: &ConversionData, treatments: &[String], auc: Option<f64>) -> Vec<String> {
    let mut warnings = Vec::new();
    let train = &data.train;
    let groups = std::iter::once(None).chain((0..treatments.len()).map(Some));
    for group in groups {
        let (rows, positives) = train
            .treatments
            .iter()
            .zip(&train.labels)
            .filter(|(t, _)| **t == group)
            .fold((0usize, 0usize), |(n, p), (_, &y)| {
                (n + 1, p + usize::from(y))
            });
        let name = group.map_or("control (no action)", |t| treatments[t].as_str());
        if rows > 0 && positives == 0 {
            warnings.push(format!(
                "{name}: none of its {rows} training points converted; its uplift is not learnable \
                 (are conversions after its contacts in the data, and is the window long enough?)"
            ));
        }
    }
    if let Some(auc) = auc.filter(|&a| a > 0.98) {
        warnings.push(format!(
            "holdout AUC {auc:.3} is near perfect: a label may be leaking into the features \
             (or control points may differ from treated ones by construction)"
        ));
    }
    let all = [&data.train, &data.calibration, &data.holdout];
    let times = |control: bool| {
        all.iter().flat_map(move |set| {
            set.at
                .iter()
                .zip(&set.treatments)
                .filter(move |(_, t)| t.is_none() == control)
                .map(|(at, _)| *at)
        })
    };
    if let (Some(first_control), Some(last_treated)) = (times(true).min(), times(false).max()) {
        if first_control > last_treated {
            warnings.push(format!(
                "every control point ({} on) is later than every treated point (up to {}): \
                 controls and treatments come from different times, so the uplift mixes in \
                 what changed between them; log the control group's decisions as `action` \
                 events of the no-action entry",
                first_control.to_rfc3339(),
                last_treated.to_rfc3339()
            ));
        }
    }
    warnings
}

/// Trains a conversion model from a checked config and writes its artifact.
pub fn train(
    valid: &ValidConversionConfig,
    progress: &dyn Fn(u64),
) -> Result<ConversionOutcome, TrainError> {
    train_from(valid, None, progress)
}

/// As [`train`], with the decision points taken from nextbest's decision log when one is
/// given ([`log_points`]) instead of the `action` events of `data.events`.
pub fn train_from(
    valid: &ValidConversionConfig,
    log: Option<DecisionLog>,
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
    let data = match log {
        Some(log) => log_points::log_points(valid, &inputs, &treatments, &controls, log)?,
        None => build_points(valid, &inputs, &treatments, &controls, progress)?,
    };
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
    if data.train.treatments.iter().all(Option::is_some) {
        return Err(InvalidSetting::new(
            "control",
            format!(
                "no control points to learn from (points: {:?}): log the catalog's no-action \
                 entry as `action` events (a randomised control group), or set \
                 control.every_days for synthetic control instants",
                data.counts
            ),
        )
        .into());
    }
    let calibrating = model_config.calibrating();
    if calibrating && data.calibration.len() == 0 {
        return Err(InvalidSetting::new(
            "split.calibration_from",
            "the calibration period has no decision points",
        )
        .into());
    }
    let uplift = &config.uplift;
    let train = &data.train;
    let mut uplift_data = UpliftData {
        rows: train.rows.clone(),
        n_base: spec.len(),
        n_treatments: treatments.len(),
        treatments: train.treatments.clone(),
        labels: train.labels.clone(),
        customers: train.customers.clone(),
        propensities: train.propensities.clone(),
        weights: None,
    };
    let mut weighting_warning = None;
    if uplift.propensity_weighting == PropensityWeighting::Auto {
        uplift_data.weights = propensity_weights(&uplift_data.propensities);
        if uplift_data.weights.is_some() && !matches!(model_config.learner, Learner::Gbdt(_)) {
            uplift_data.weights = None;
            weighting_warning = Some(format!(
                "the logged propensities differ, but the {} algorithm takes no row weights: the \
                 model is not weighted by inverse propensity, so what the logging policy favoured \
                 is over-represented (use algorithm = \"gbdt\", or the dr learner)",
                model_config.learner.kind().as_str()
            ));
        }
    }
    let learners = Learners {
        learner: &model_config.learner,
        names: &names,
        treatments: &treatments,
        seed: config.seed,
    };
    let (learner, learner_choice) = match uplift.learner.fixed() {
        Some(learner) => (learner, None),
        None => {
            let pricing = choose::Pricing {
                values: treatments
                    .iter()
                    .map(|t| catalog.get(t).map_or(0.0, |a| a.value))
                    .collect(),
                costs: treatments
                    .iter()
                    .map(|t| catalog.get(t).map_or(0.0, |a| a.cost))
                    .collect(),
            };
            let choice = choose::choose(
                &learners,
                &uplift_data,
                &uplift.candidates,
                uplift.cv_folds,
                uplift.choose_by,
                (config.role == crate::models::Role::Conversion).then_some(&pricing),
            )?;
            (choice.chosen, Some(choice))
        }
    };
    let estimator = learners.fit(learner, &uplift_data)?;
    let model = calibrate(
        model_config,
        estimator,
        calibrating.then_some(LabelledRows {
            rows: &data.calibration.rows,
            labels: &data.calibration.labels,
        }),
        width,
    )?;
    let train_rows = LabelledRows {
        rows: &data.train.rows,
        labels: &data.train.labels,
    };
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
                (&treatments, &controls),
                config.role,
            )
        })
        .transpose()?;
    let mut warnings = leakage_warnings(&data, &treatments, evaluation.auc);
    warnings.extend(weighting_warning);
    let metrics = ConversionMetrics {
        warnings,
        role: config.role,
        algorithm: model.estimator.algorithm().into(),
        calibration: model_config.calibration.as_str().into(),
        uplift_learner: learner.as_str().into(),
        learner_choice,
        propensity_weighted: uplift_data.weights.is_some(),
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
            role: config.role,
            algorithm: model.estimator.algorithm(),
            model_file: "model.json",
            features: Some(inputs.spec.clone()),
            treatments: Some(treatments),
            actions: Some(catalog.trained_actions()),
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
