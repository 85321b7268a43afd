//! Churn training: snapshots of point-in-time features, labels from the horizon after each
//! snapshot, a model fitted on earlier snapshots and judged on a later one.

use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::bgnbd::{expected_purchases, p_alive, BgNbdParams, Recency};
use super::config::{ChurnDefinition, ValidChurnConfig};
use super::pipeline::{
    evaluate, fingerprint, fit_and_calibrate, training_data, write_artifact, ArtifactSpec,
    LabelledRows, SetSummary,
};
use super::{TabularInputs, TrainError};
use crate::features::{CustomerMatrixBuilder, FeatureSpec, MatrixRow};
use crate::fnv::Fnv1a;
use crate::journey::{EventReader, EventType, ReadOptions, Timestamp};
use crate::models::artifact::{LoadedModel, TrainingData};
use crate::models::gbdt::{CrossValidation, EarlyStopping};
use crate::models::learner::TrainingRows;
use crate::models::params::InvalidSetting;
use crate::models::sentiment::NamedSentimentModel;
use crate::models::{Artifact, Manifest, NativeModel, Role, TabularModel};
use crate::stats::{auc, CalibrationBin};

/// A labelled snapshot: features as of `cutoff`, churn within the horizon after it.
#[derive(Clone, Debug)]
pub struct LabelledSnapshot {
    /// Feature cutoff.
    pub cutoff: Timestamp,
    /// Customer ids, in row order.
    pub customers: Vec<String>,
    /// Row-major feature values.
    pub rows: Vec<f32>,
    /// Churned within the horizon.
    pub labels: Vec<bool>,
}

impl LabelledSnapshot {
    fn positives(&self) -> usize {
        self.labels.iter().filter(|&&y| y).count()
    }
}

/// Metrics of a tabular model on its holdout, written as `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularMetrics {
    /// What the model predicts.
    pub role: Role,
    /// Algorithm.
    pub algorithm: String,
    /// Calibration fitted.
    pub calibration: String,
    /// The holdout set.
    pub holdout: SetSummary,
    /// The training set (model fit).
    pub train: SetSummary,
    /// The calibration set, when calibrating.
    pub calibration_set: Option<SetSummary>,
    /// ROC AUC on the holdout.
    pub auc: Option<f64>,
    /// Log loss on the holdout.
    pub log_loss: f64,
    /// Brier score on the holdout.
    pub brier: f64,
    /// Expected calibration error over deciles.
    pub expected_calibration_error: f64,
    /// Calibration table in deciles of the prediction.
    pub calibration_deciles: Vec<CalibrationBin>,
    /// AUC of recency alone (days since the last event) on the holdout: the naive baseline.
    pub recency_baseline_auc: Option<f64>,
    /// AUC of the BG/NBD baseline on the holdout, scoring churn as −(expected purchases over the
    /// horizon), when configured.
    pub bgnbd_baseline_auc: Option<f64>,
    /// AUC of 1 − BG/NBD P(alive) alone. Below 0.5 on CDNOW, and rightly so: a customer with
    /// no repeat purchase is alive with probability 1 by construction (the model cannot tell
    /// yet), so the one-time buyers, who churn most, get the lowest churn score.
    pub bgnbd_p_alive_auc: Option<f64>,
    /// AUC of 1 − BG/NBD P(alive) among the holdout's repeat buyers only, where P(alive) is
    /// informative.
    #[serde(default)]
    pub bgnbd_p_alive_repeat_buyers_auc: Option<f64>,
    /// ROC AUC on the training rows (a large gap to the holdout means overfitting).
    pub train_auc: Option<f64>,
    /// Trees in the fitted booster (gbdt only): `iterations`, or the count early stopping chose.
    #[serde(default)]
    pub gbdt_iterations_used: Option<usize>,
    /// Maximum tree depth of the fitted booster (gbdt only).
    #[serde(default)]
    pub gbdt_max_depth_used: Option<usize>,
    /// Minimum leaf weight of the fitted booster (gbdt only).
    #[serde(default)]
    pub gbdt_min_leaf_weight_used: Option<f64>,
    /// How early stopping on one validation split chose the booster, when configured (gbdt
    /// only).
    #[serde(default)]
    pub gbdt_early_stopping: Option<EarlyStopping>,
    /// How cross-validated early stopping chose the booster, when configured (gbdt only).
    #[serde(default)]
    pub gbdt_cross_validation: Option<CrossValidation>,
    /// Features by importance, highest first.
    pub feature_importance: Vec<(String, f64)>,
    /// FNV-1a hash of the holdout matrix and labels: equal hashes mean the same holdout.
    pub holdout_fingerprint: String,
}

/// What a training run produced.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// The artifact's manifest.
    pub manifest: Manifest,
    /// Holdout metrics.
    pub metrics: TabularMetrics,
}

/// Loads a sentiment artifact as a text scorer.
pub fn load_sentiment(dir: &Path) -> Result<NamedSentimentModel, TrainError> {
    let artifact = Artifact::load(dir)?;
    match artifact.model {
        LoadedModel::Sentiment(model) => Ok(NamedSentimentModel {
            model,
            name: format!("sentiment/{}", artifact.manifest.version),
        }),
        LoadedModel::Tabular(_) => Err(InvalidSetting::new(
            "data.sentiment_model",
            format!(
                "{} is a {} model, not a sentiment model",
                dir.display(),
                artifact.manifest.role.as_str()
            ),
        )
        .into()),
    }
}

/// Builds the labelled snapshots of a churn config in one pass over the events.
pub fn build_snapshots(
    valid: &ValidChurnConfig,
    inputs: &TabularInputs,
    progress: &dyn Fn(u64),
) -> Result<(Vec<LabelledSnapshot>, FxHashMap<String, Recency>), TrainError> {
    let (config, snapshots, spec) = (valid.config(), valid.snapshots(), &inputs.spec);
    let customer_split = snapshots.holdout_customers.is_some();
    let cutoffs: Vec<Timestamp> = snapshots
        .train
        .iter()
        .copied()
        .chain((!customer_split).then_some(snapshots.holdout))
        .collect();
    let horizon = i64::from(config.label.horizon_days) * Timestamp::MICROS_PER_DAY;
    let activity: Vec<EventType> = config
        .label
        .activity_events
        .iter()
        .map(|e| EventType::parse(e))
        .collect();
    let mapping = inputs.attribute_mapping()?;
    let attributes = inputs.attributes(mapping.as_ref());
    let mut builders: Vec<CustomerMatrixBuilder> = cutoffs
        .iter()
        .map(|&c| CustomerMatrixBuilder::new(spec, c, inputs.scorer()))
        .collect();
    // Per customer and snapshot: bit 0 = cancelled in the window, bit 1 = active in the window.
    let mut windows: FxHashMap<String, Vec<u8>> = FxHashMap::default();
    let mut last_event = Timestamp(i64::MIN);
    // BG/NBD statistics at the holdout cutoff: distinct purchase days before it.
    let want_recency = config.baseline.bgnbd.is_some();
    let mut purchase_days: FxHashMap<String, rustc_hash::FxHashSet<i64>> = FxHashMap::default();
    let reader = EventReader::open(&config.data.events, ReadOptions::default())?;
    for chunk in reader.prefetch(4) {
        let events = chunk?.events;
        for builder in &mut builders {
            builder.add(&events);
        }
        for event in &events {
            last_event = last_event.max(event.timestamp);
            if want_recency
                && event.event_type == EventType::Purchase
                && event.timestamp < snapshots.holdout
            {
                let day = event.timestamp.0.div_euclid(Timestamp::MICROS_PER_DAY);
                match purchase_days.get_mut(event.customer_id.as_str()) {
                    Some(days) => {
                        days.insert(day);
                    }
                    None => {
                        purchase_days
                            .insert(event.customer_id.clone(), [day].into_iter().collect());
                    }
                }
            }
            let cancel = event.event_type == EventType::Cancel;
            let active = activity.contains(&event.event_type);
            if !cancel && !active {
                continue;
            }
            for (s, cutoff) in cutoffs.iter().enumerate() {
                if event.timestamp >= *cutoff && event.timestamp.0 < cutoff.0 + horizon {
                    let flags = match windows.get_mut(event.customer_id.as_str()) {
                        Some(flags) => flags,
                        None => windows
                            .entry(event.customer_id.clone())
                            .or_insert_with(|| vec![0; cutoffs.len()]),
                    };
                    flags[s] |= u8::from(cancel) | (u8::from(active) << 1);
                }
            }
        }
        progress(events.len() as u64);
    }
    // Labels need the whole horizon after the last snapshot; a week of slack allows for data
    // that ends at the start of its last day.
    let needed = Timestamp(snapshots.holdout.0 + horizon - 7 * Timestamp::MICROS_PER_DAY);
    if last_event < needed {
        return Err(InvalidSetting::new(
            "split.holdout_cutoff",
            format!(
                "its {}-day horizon ends {} but the events end {}; churn labels would be censored",
                config.label.horizon_days,
                Timestamp(snapshots.holdout.0 + horizon),
                last_event
            ),
        )
        .into());
    }
    let cancelled = spec.index_of("cancelled");
    let mut out = Vec::with_capacity(cutoffs.len() + 1);
    for (s, builder) in builders.into_iter().enumerate() {
        let (rows, _) = builder.finish(attributes);
        out.push(label_snapshot(
            cutoffs[s],
            rows,
            s,
            &windows,
            config.label.definition,
            cancelled,
            spec.len(),
        ));
    }
    if let Some(fraction) = snapshots.holdout_customers {
        if let Some(single) = out.pop() {
            let (train, holdout) = split_customers(single, fraction, spec.len());
            out.push(train);
            out.push(holdout);
        }
    }
    let week = 7.0;
    let recency = purchase_days
        .into_iter()
        .filter_map(|(id, days)| {
            let first = *days.iter().min()?;
            let last = *days.iter().max()?;
            let cutoff_day = snapshots.holdout.0 as f64 / Timestamp::MICROS_PER_DAY as f64;
            Some((
                id,
                Recency {
                    x: (days.len() - 1) as f64,
                    t_x: (last - first) as f64 / week,
                    t: (cutoff_day - first as f64) / week,
                },
            ))
        })
        .collect();
    Ok((out, recency))
}

/// Splits one snapshot by a hash of the customer id: the same customer always lands on the same
/// side, whatever the file order.
fn split_customers(
    single: LabelledSnapshot,
    fraction: f64,
    n_features: usize,
) -> (LabelledSnapshot, LabelledSnapshot) {
    let empty = || LabelledSnapshot {
        cutoff: single.cutoff,
        customers: Vec::new(),
        rows: Vec::new(),
        labels: Vec::new(),
    };
    let (mut train, mut holdout) = (empty(), empty());
    for (i, id) in single.customers.iter().enumerate() {
        let side = if Fnv1a::in_share(id.as_bytes(), fraction) {
            &mut holdout
        } else {
            &mut train
        };
        side.customers.push(id.clone());
        side.rows
            .extend_from_slice(&single.rows[i * n_features..(i + 1) * n_features]);
        side.labels.push(single.labels[i]);
    }
    (train, holdout)
}

fn label_snapshot(
    cutoff: Timestamp,
    rows: Vec<MatrixRow>,
    snapshot: usize,
    windows: &FxHashMap<String, Vec<u8>>,
    definition: ChurnDefinition,
    cancelled: Option<usize>,
    n_features: usize,
) -> LabelledSnapshot {
    let mut labelled = LabelledSnapshot {
        cutoff,
        customers: Vec::with_capacity(rows.len()),
        rows: Vec::with_capacity(rows.len() * n_features),
        labels: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        // Customers who already cancelled cannot churn again.
        if cancelled.is_some_and(|i| row.features[i] > 0.0) {
            continue;
        }
        let flags = windows.get(&row.customer_id).map_or(0, |f| f[snapshot]);
        let churned = match definition {
            ChurnDefinition::Cancel => flags & 1 == 1,
            ChurnDefinition::Inactivity => flags & 2 == 0,
        };
        labelled.customers.push(row.customer_id);
        labelled.rows.extend_from_slice(&row.features);
        labelled.labels.push(churned);
    }
    labelled
}

fn summary(sets: &[&LabelledSnapshot]) -> SetSummary {
    SetSummary {
        cutoffs: sets.iter().map(|s| s.cutoff.to_rfc3339()).collect(),
        rows: sets.iter().map(|s| s.labels.len()).sum(),
        positives: sets.iter().map(|s| s.positives()).sum(),
    }
}

fn concat(sets: &[&LabelledSnapshot]) -> (Vec<f32>, Vec<bool>) {
    (
        sets.iter().flat_map(|s| s.rows.iter().copied()).collect(),
        sets.iter().flat_map(|s| s.labels.iter().copied()).collect(),
    )
}

/// AUC of the churn score 1 − P(alive) on a snapshot (customers without a purchase before the
/// cutoff score 0, as if alive); with `repeat_buyers_only`, among customers with x > 0 only.
fn p_alive_auc(
    params: &BgNbdParams,
    recency: &FxHashMap<String, Recency>,
    set: &LabelledSnapshot,
    repeat_buyers_only: bool,
) -> Option<f64> {
    let (scores, labels): (Vec<f64>, Vec<bool>) = set
        .customers
        .iter()
        .zip(&set.labels)
        .filter_map(|(id, &churned)| match recency.get(id) {
            Some(r) if !repeat_buyers_only || r.x > 0.0 => {
                Some((1.0 - p_alive(params, r), churned))
            }
            Some(_) => None,
            None => (!repeat_buyers_only).then_some((0.0, churned)),
        })
        .unzip();
    auc(&scores, &labels)
}

/// Fits the configured estimator on the training snapshots (all but the last when calibrating),
/// calibrates on the last one, and evaluates on the holdout.
pub fn fit_and_evaluate(
    valid: &ValidChurnConfig,
    spec: &FeatureSpec,
    snapshots: &[LabelledSnapshot],
    recency: &FxHashMap<String, Recency>,
) -> Result<(NativeModel, TabularMetrics, TrainingData), TrainError> {
    let (config, model_config) = (valid.config(), valid.model());
    let Some((holdout, train_all)) = snapshots.split_last() else {
        return Err(InvalidSetting::new("split", "no snapshots").into());
    };
    let calibrating = model_config.calibrating();
    let (fit_sets, calibration_sets): (Vec<&LabelledSnapshot>, Vec<&LabelledSnapshot>) =
        if calibrating {
            let (last, rest) = train_all
                .split_last()
                .ok_or_else(|| InvalidSetting::new("split.train_cutoffs", "empty"))?;
            (rest.iter().collect(), vec![last])
        } else {
            (train_all.iter().collect(), Vec::new())
        };
    let n = spec.len();
    let (rows, labels) = concat(&fit_sets);
    // Customer ids keep each customer's snapshot rows on one side of early stopping.
    let customers: Vec<String> = fit_sets
        .iter()
        .flat_map(|s| s.customers.iter().cloned())
        .collect();
    let names: Vec<String> = spec.names().map(str::to_string).collect();
    let (cal_rows, cal_labels) = concat(&calibration_sets);
    let fitted = fit_and_calibrate(
        model_config,
        &TrainingRows {
            rows: &rows,
            n_features: n,
            labels: &labels,
            groups: Some(&customers),
            names: &names,
            weights: None,
        },
        calibrating.then_some(LabelledRows {
            rows: &cal_rows,
            labels: &cal_labels,
        }),
        config.seed,
    )?;
    if holdout.labels.is_empty() {
        return Err(InvalidSetting::new(
            "split.holdout_cutoff",
            "the holdout snapshot has no customers",
        )
        .into());
    }
    let model = fitted.model;
    let gbdt_report = fitted.gbdt_report;
    let evaluation = evaluate(
        &model,
        &names,
        n,
        LabelledRows {
            rows: &rows,
            labels: &labels,
        },
        LabelledRows {
            rows: &holdout.rows,
            labels: &holdout.labels,
        },
    )?;
    let recency_days = spec.index_of("days_since_last_event").map(|i| {
        holdout
            .rows
            .chunks_exact(n)
            .map(|r| f64::from(r[i]))
            .collect::<Vec<f64>>()
    });
    let metrics = TabularMetrics {
        role: Role::Churn,
        algorithm: model.estimator.algorithm().into(),
        calibration: model_config.calibration.as_str().into(),
        holdout: summary(&[holdout]),
        train: summary(&fit_sets),
        calibration_set: calibrating.then(|| summary(&calibration_sets)),
        auc: evaluation.auc,
        log_loss: evaluation.log_loss,
        brier: evaluation.brier,
        expected_calibration_error: evaluation.expected_calibration_error,
        calibration_deciles: evaluation.calibration_deciles,
        recency_baseline_auc: recency_days.and_then(|r| auc(&r, &holdout.labels)),
        bgnbd_baseline_auc: config.baseline.bgnbd.and_then(|params| {
            // Churn score = −(expected purchases over the horizon); no purchase history = 0.
            let weeks = f64::from(config.label.horizon_days) / 7.0;
            let scores: Vec<f64> = holdout
                .customers
                .iter()
                .map(|id| {
                    recency
                        .get(id)
                        .map_or(0.0, |r| -expected_purchases(&params, r, weeks))
                })
                .collect();
            auc(&scores, &holdout.labels)
        }),
        bgnbd_p_alive_auc: config
            .baseline
            .bgnbd
            .and_then(|params| p_alive_auc(&params, recency, holdout, false)),
        bgnbd_p_alive_repeat_buyers_auc: config
            .baseline
            .bgnbd
            .and_then(|params| p_alive_auc(&params, recency, holdout, true)),
        train_auc: evaluation.train_auc,
        gbdt_iterations_used: gbdt_report.as_ref().map(|r| r.iterations_used),
        gbdt_max_depth_used: gbdt_report.as_ref().map(|r| r.max_depth_used),
        gbdt_min_leaf_weight_used: gbdt_report.as_ref().map(|r| r.min_leaf_weight_used),
        gbdt_early_stopping: gbdt_report.as_ref().and_then(|r| r.early_stopping.clone()),
        gbdt_cross_validation: gbdt_report.and_then(|r| r.cross_validation),
        feature_importance: evaluation.feature_importance,
        holdout_fingerprint: evaluation.holdout_fingerprint,
    };
    let data = training_data(
        config.data.files(),
        fingerprint(
            snapshots
                .iter()
                .map(|s| (s.rows.as_slice(), s.labels.as_slice())),
        ),
        &labels,
        holdout.labels.len(),
    );
    Ok((model, metrics, data))
}

/// Writes the training and holdout matrices with their labels (`train.parquet`,
/// `holdout.parquet`) so other tools can be judged on exactly the same rows.
pub fn export_snapshots(
    dir: &Path,
    spec: &FeatureSpec,
    labelled: &[LabelledSnapshot],
) -> Result<(), TrainError> {
    use crate::features::matrix::MatrixWriter;
    use crate::journey::{AttrValue, AttributeColumn, AttributeKind};
    let Some((holdout, train)) = labelled.split_last() else {
        return Ok(());
    };
    let label = [AttributeColumn {
        name: "label".into(),
        kind: AttributeKind::Boolean,
    }];
    let n = spec.len();
    for (name, sets) in [
        ("train.parquet", train.iter().collect::<Vec<_>>()),
        ("holdout.parquet", vec![holdout]),
    ] {
        let mut writer = MatrixWriter::create(&dir.join(name), spec, &label)?;
        for set in sets {
            let rows: Vec<MatrixRow> = set
                .customers
                .iter()
                .enumerate()
                .map(|(i, id)| MatrixRow {
                    customer_id: id.clone(),
                    as_of: set.cutoff,
                    extra: vec![AttrValue::Bool(set.labels[i])],
                    features: set.rows[i * n..(i + 1) * n].to_vec(),
                })
                .collect();
            writer.write(&rows)?;
        }
        writer.finish()?.commit()?;
    }
    Ok(())
}

/// Trains a churn model from a checked config and writes its artifact (and, with `export`, the
/// labelled matrices).
pub fn train(
    valid: &ValidChurnConfig,
    export: Option<&Path>,
    progress: &dyn Fn(u64),
) -> Result<TrainOutcome, TrainError> {
    let config = valid.config();
    let inputs = TabularInputs::load(&config.data)?;
    // Unknown monotone feature names fail here, before the events are read.
    let names: Vec<String> = inputs.spec.names().map(str::to_string).collect();
    config.model.check_feature_names(&names)?;
    let (labelled, recency) = build_snapshots(valid, &inputs, progress)?;
    let spec = inputs.spec;
    if let Some(dir) = export {
        export_snapshots(dir, &spec, &labelled)?;
    }
    let (model, metrics, training_data) = fit_and_evaluate(valid, &spec, &labelled, &recency)?;
    let manifest = write_artifact(
        &config.output,
        ArtifactSpec {
            role: Role::Churn,
            algorithm: model.estimator.algorithm(),
            model_file: "model.json",
            features: Some(spec),
            treatments: None,
            actions: None,
            training_data,
            seed: config.seed,
        },
        &config.label,
        config,
        &LoadedModel::Tabular(TabularModel::Native(Box::new(model))),
        &metrics,
    )?;
    Ok(TrainOutcome { manifest, metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_alive_scores_churn_as_one_minus_p_alive() {
        let params = BgNbdParams::CDNOW_2005;
        let weeks = |x: f64, t_x: f64| Recency { x, t_x, t: 38.0 };
        let recency: FxHashMap<String, Recency> = [
            ("recent", weeks(4.0, 37.0)),
            ("lapsed", weeks(4.0, 5.0)),
            ("once", weeks(0.0, 0.0)),
        ]
        .into_iter()
        .map(|(id, r)| (id.to_string(), r))
        .collect();
        let set = LabelledSnapshot {
            cutoff: Timestamp(0),
            customers: ["recent", "lapsed", "once"].map(String::from).to_vec(),
            rows: Vec::new(),
            labels: vec![false, true, true],
        };
        // Among repeat buyers the lapsed one, who churned, has the higher churn score.
        assert_eq!(p_alive_auc(&params, &recency, &set, true), Some(1.0));
        // A one-time buyer is alive by construction (score 0), so when they churn, the AUC
        // over everyone drops: this is the model, not an inverted score.
        assert_eq!(p_alive_auc(&params, &recency, &set, false), Some(0.5));
    }
}
