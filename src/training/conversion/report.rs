//! The conversion model's report, written as `metrics.json`.

use serde::{Deserialize, Serialize};

use super::choose::LearnerChoice;
use super::evaluation::{ActionMetrics, TruthMetrics};
use super::points::PointCounts;
use crate::models::{Manifest, Role};
use crate::stats::CalibrationBin;
use crate::training::pipeline::SetSummary;

/// Metrics of a conversion model, written as `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionMetrics {
    /// Always `conversion`.
    pub role: Role,
    /// Algorithm.
    pub algorithm: String,
    /// Calibration fitted.
    pub calibration: String,
    /// The uplift learner (`s`, `t`, `x`, `dr`).
    #[serde(default = "s_learner")]
    pub uplift_learner: String,
    /// How `uplift.learner = "auto"` chose it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learner_choice: Option<LearnerChoice>,
    /// Whether the training rows were weighted by inverse logged propensity.
    #[serde(default)]
    pub propensity_weighted: bool,
    /// The treatments, in indicator order.
    pub treatments: Vec<String>,
    /// The holdout period's points (cutoffs: first and last decision instant).
    pub holdout: SetSummary,
    /// Control rows in the holdout.
    pub holdout_control_rows: usize,
    /// The training points.
    pub train: SetSummary,
    /// The calibration points.
    pub calibration_set: Option<SetSummary>,
    /// How candidate points were used or why not.
    pub points: PointCounts,
    /// What looks wrong with the labels (also logged when training).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// AUC of P(convert | x, the action taken) on the holdout.
    pub auc: Option<f64>,
    /// Log loss on the holdout.
    pub log_loss: f64,
    /// Brier score on the holdout.
    pub brier: f64,
    /// Expected calibration error over deciles.
    pub expected_calibration_error: f64,
    /// Calibration table in deciles.
    pub calibration_deciles: Vec<CalibrationBin>,
    /// AUC on the training rows.
    pub train_auc: Option<f64>,
    /// Per action: AUC and uplift quality.
    pub per_action: Vec<ActionMetrics>,
    /// Mean normalised Qini (scikit-uplift's `qini_auc_score`) over the actions that have one.
    pub mean_qini_auc: Option<f64>,
    /// Against the simulator's truth, when configured.
    pub ground_truth: Option<TruthMetrics>,
    /// Features by importance, highest first (treatment indicators are `treatment__<id>`).
    pub feature_importance: Vec<(String, f64)>,
    /// FNV-1a hash of the holdout rows and labels.
    pub holdout_fingerprint: String,
}

fn s_learner() -> String {
    "s".into()
}

/// What a conversion training run produced.
#[derive(Clone, Debug)]
pub struct ConversionOutcome {
    /// The artifact's manifest.
    pub manifest: Manifest,
    /// Holdout metrics.
    pub metrics: ConversionMetrics,
}
