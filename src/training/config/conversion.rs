//! `training/conversion.toml`: the conversion label, control points, the time split, the model.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{parse_time, read_toml, ConfigError, DataConfig, ModelConfig, ValidModelConfig};
use crate::journey::Timestamp;
use crate::models::params::{InvalidSetting, ParamGuard};
use crate::models::Role;

/// The label: whether the outcome happened within the window after a decision point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionLabel {
    /// Days after a decision in which the outcome counts (1..=365).
    pub window_days: u32,
    /// Event types that count as a conversion (the label of a `conversion` model).
    #[serde(default = "default_conversion_events")]
    pub conversion_events: Vec<String>,
    /// Event types that count as churn (the label of a `retention` model).
    #[serde(default = "default_churn_events")]
    pub churn_events: Vec<String>,
}

impl ConversionLabel {
    /// The event types that make a positive label for a model of `role`.
    pub fn outcome_events(&self, role: Role) -> &[String] {
        match role {
            Role::Retention => &self.churn_events,
            _ => &self.conversion_events,
        }
    }
}

fn default_churn_events() -> Vec<String> {
    vec!["cancel".into()]
}

fn default_conversion_events() -> Vec<String> {
    vec!["purchase".into(), "conversion".into()]
}

/// Where control rows (no action) come from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// Synthetic control instants every this many days, at midnight UTC (1..=365), for logs
    /// that record only the contacts made. Off unless set: explicit `action` events of the
    /// catalog's no-action entry (a randomised control group) are the control points then.
    pub every_days: Option<u32>,
    /// A synthetic control instant needs no contact this many days before it, because the
    /// effect of a recent contact would leak into its label (0..=365; default: the label
    /// window). Explicit controls, like treated points, need only a window free of other
    /// contacts: they are decisions that were made, whatever came before.
    pub lookback_days: Option<u32>,
}

/// How decision points are split into training, calibration and holdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// By date: `train_from`, `calibration_from`, `holdout_from`.
    #[default]
    Time,
    /// By customer: each customer (hashed with the seed) falls in one set with all their
    /// points — `holdout_share` and `calibration_share` of the customers.
    Customer,
}

/// The split of decision points, and the end of the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionSplit {
    /// `time` (default) or `customer`.
    #[serde(default)]
    pub by: SplitBy,
    /// Decision points before this date are ignored (optional).
    #[serde(default)]
    pub train_from: Option<String>,
    /// Time split: decision points from this date calibrate the model (required when
    /// calibrating); the model learns on earlier ones whose window ends before it.
    #[serde(default)]
    pub calibration_from: Option<String>,
    /// Time split: decision points from this date on are the holdout; training labels end
    /// before it.
    #[serde(default)]
    pub holdout_from: Option<String>,
    /// Customer split: share of customers in the holdout (0 < share < 1).
    #[serde(default)]
    pub holdout_share: Option<f64>,
    /// Customer split: share of customers whose points calibrate the model (when calibrating).
    #[serde(default)]
    pub calibration_share: Option<f64>,
    /// When the data end: later events are ignored, and a point whose label window runs past
    /// it is censored. Default: the last event in the file, which is only right when the log
    /// was exported at the moment it ends.
    #[serde(default)]
    pub data_end: Option<String>,
}

/// Optional evaluation against known truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionEvaluation {
    /// The simulator's `ground_truth.parquet`: the true P(convert) under every action at every
    /// decision point, to judge predicted uplift against the true uplift.
    #[serde(default)]
    pub ground_truth: Option<PathBuf>,
}

/// How the uplift is learned: which meta-learner, and how propensities weigh the rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpliftConfig {
    /// `s` (one model with an indicator per treatment, the default), `t`, `x`, `dr`, or
    /// `auto`: the candidate with the best cross-validated Qini on the training customers.
    pub learner: UpliftChoice,
    /// What `auto` chooses among (default: all four).
    pub candidates: Vec<UpliftLearner>,
    /// Folds of the training customers for `auto` (2..=10).
    pub cv_folds: usize,
    /// What `auto` maximises: `qini` (the mean normalised Qini over treatments) or
    /// `policy_value` (the inverse-propensity estimate of what acting on the uplift earns over
    /// doing nothing: the best action by uplift × value − cost, or nothing; conversion models
    /// only, as it needs the catalog's values).
    pub choose_by: ChooseBy,
    /// Inverse-propensity weighting of the training rows: `auto` weighs each row by
    /// 1 / its logged propensity (scaled to mean 1) when the log records propensities and they
    /// differ; `off` never does.
    pub propensity_weighting: PropensityWeighting,
}

impl Default for UpliftConfig {
    fn default() -> Self {
        UpliftConfig {
            learner: UpliftChoice::S,
            candidates: UpliftLearner::ALL.to_vec(),
            cv_folds: 3,
            choose_by: ChooseBy::Qini,
            propensity_weighting: PropensityWeighting::Auto,
        }
    }
}

/// The uplift learners.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpliftLearner {
    /// One model, the treatment as indicator features.
    S,
    /// One model per arm.
    T,
    /// Imputed effects regressed per arm, blended.
    X,
    /// Doubly robust pseudo-outcomes regressed per arm.
    Dr,
}

impl UpliftLearner {
    /// Every learner, simplest first (ties in `auto` go to the earlier).
    pub const ALL: [UpliftLearner; 4] = [
        UpliftLearner::S,
        UpliftLearner::T,
        UpliftLearner::X,
        UpliftLearner::Dr,
    ];

    /// The name in configs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            UpliftLearner::S => "s",
            UpliftLearner::T => "t",
            UpliftLearner::X => "x",
            UpliftLearner::Dr => "dr",
        }
    }
}

/// A learner, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpliftChoice {
    /// S-learner.
    S,
    /// T-learner.
    T,
    /// X-learner.
    X,
    /// DR-learner.
    Dr,
    /// Chosen by cross-validated Qini.
    Auto,
}

impl UpliftChoice {
    /// The learner named, or `None` for `auto`.
    pub fn fixed(self) -> Option<UpliftLearner> {
        match self {
            UpliftChoice::S => Some(UpliftLearner::S),
            UpliftChoice::T => Some(UpliftLearner::T),
            UpliftChoice::X => Some(UpliftLearner::X),
            UpliftChoice::Dr => Some(UpliftLearner::Dr),
            UpliftChoice::Auto => None,
        }
    }
}

/// What `uplift.learner = "auto"` maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChooseBy {
    /// Mean normalised Qini over the treatments.
    Qini,
    /// Estimated incremental value of acting on the uplift.
    PolicyValue,
}

/// When rows are weighted by inverse propensity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropensityWeighting {
    /// When the log records propensities and they are not all equal.
    Auto,
    /// Never.
    Off,
}

/// `training/conversion.toml` as written (unchecked); [`ConversionConfig::check`] makes it a
/// [`ValidConversionConfig`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionConfig {
    /// Must be `conversion`.
    pub role: Role,
    /// Artifact folder to write.
    pub output: PathBuf,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
    /// Input files (the catalog is required: its actions are the treatments).
    pub data: DataConfig,
    /// Label definition.
    pub label: ConversionLabel,
    /// Control points.
    #[serde(default)]
    pub control: ControlConfig,
    /// Time split.
    pub split: ConversionSplit,
    /// Estimator.
    pub model: ModelConfig,
    /// The uplift learner.
    #[serde(default)]
    pub uplift: UpliftConfig,
    /// Evaluation against ground truth.
    #[serde(default)]
    pub evaluation: ConversionEvaluation,
}

/// Which set a decision point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// The model learns on it.
    Train,
    /// The calibration is fitted on it.
    Calibration,
    /// The model is judged on it.
    Holdout,
}

/// The checked split: by date, or by customer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SplitPlan {
    /// By date (µs timestamps).
    Time {
        /// Start of the calibration period (when calibrating).
        calibration_from: Option<Timestamp>,
        /// Start of the holdout period.
        holdout_from: Timestamp,
    },
    /// By customer.
    Customer {
        /// Share of customers in the holdout.
        holdout_share: f64,
        /// Share of customers in the calibration set (0 when not calibrating).
        calibration_share: f64,
        /// Hash seed (the config's seed), so the split is reproducible.
        seed: u64,
    },
}

/// Parsed and checked dates and durations of a conversion config (durations in µs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConversionWindows {
    /// Earliest decision point used.
    pub train_from: Option<Timestamp>,
    /// The split.
    pub split: SplitPlan,
    /// Label window.
    pub window: i64,
    /// Contact-free time needed before a control point.
    pub lookback: i64,
    /// Spacing of synthetic control instants, in days (`None`: only explicit controls).
    pub every_days: Option<i64>,
    /// The configured end of the data.
    pub data_end: Option<Timestamp>,
}

impl ConversionWindows {
    /// The set a decision point of `customer` at `at` belongs to; `None` when it is before
    /// `train_from` or its label window straddles two periods.
    pub fn period(&self, customer: &str, at: Timestamp) -> Option<Period> {
        if self.train_from.is_some_and(|from| at < from) {
            return None;
        }
        match self.split {
            SplitPlan::Time {
                calibration_from,
                holdout_from,
            } => {
                if at >= holdout_from {
                    return Some(Period::Holdout);
                }
                if let Some(calibration) = calibration_from {
                    if at >= calibration {
                        return (at.0 + self.window <= holdout_from.0)
                            .then_some(Period::Calibration);
                    }
                }
                let fit_end = calibration_from.unwrap_or(holdout_from);
                (at.0 + self.window <= fit_end.0).then_some(Period::Train)
            }
            SplitPlan::Customer {
                holdout_share,
                calibration_share,
                seed,
            } => {
                let u = customer_unit(customer, seed);
                Some(if u < holdout_share {
                    Period::Holdout
                } else if u < holdout_share + calibration_share {
                    Period::Calibration
                } else {
                    Period::Train
                })
            }
        }
    }
}

/// A customer's place in [0, 1), from a seeded XXH3 hash of the id: the same customer always
/// falls in the same set for one seed.
fn customer_unit(customer: &str, seed: u64) -> f64 {
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(customer.as_bytes(), seed);
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// A checked conversion config: the file as written plus its parsed windows and checked model.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidConversionConfig {
    config: ConversionConfig,
    windows: ConversionWindows,
    model: ValidModelConfig,
}

impl ValidConversionConfig {
    /// The config as written (for the manifest, and the settings that need no checking).
    pub fn config(&self) -> &ConversionConfig {
        &self.config
    }

    /// The periods and durations.
    pub fn windows(&self) -> &ConversionWindows {
        &self.windows
    }

    /// The learner and the calibration.
    pub fn model(&self) -> &ValidModelConfig {
        &self.model
    }
}

impl ConversionConfig {
    /// Reads a config file without checking it (to apply flags before
    /// [`ConversionConfig::check`]).
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<ValidConversionConfig, ConfigError> {
        Self::read(path)?
            .check()
            .map_err(|e| ConfigError::invalid(path, e))
    }

    /// Checks roles, ranges, hyper-parameters (of every algorithm) and dates once; the error
    /// names the key.
    pub fn check(self) -> Result<ValidConversionConfig, InvalidSetting> {
        if !matches!(self.role, Role::Conversion | Role::Retention) {
            return Err(InvalidSetting::new(
                "role",
                format!(
                    "expected \"conversion\" or \"retention\", got \"{}\"",
                    self.role.as_str()
                ),
            ));
        }
        if self.data.catalog.is_none() {
            return Err(InvalidSetting::new(
                "data.catalog",
                "required: the catalog's actions are the treatments the model learns",
            ));
        }
        if !(1..=365).contains(&self.label.window_days) {
            return Err(InvalidSetting::out_of_range(
                "label.window_days",
                "within 1..=365",
                self.label.window_days,
            ));
        }
        if self.label.outcome_events(self.role).is_empty() {
            return Err(InvalidSetting::new(
                if self.role == Role::Retention {
                    "label.churn_events"
                } else {
                    "label.conversion_events"
                },
                "must name at least one event type",
            ));
        }
        if let Some(every) = self.control.every_days {
            if !(1..=365).contains(&every) {
                return Err(InvalidSetting::out_of_range(
                    "control.every_days",
                    "within 1..=365",
                    every,
                ));
            }
        }
        let lookback_days = self.control.lookback_days.unwrap_or(self.label.window_days);
        if lookback_days > 365 {
            return Err(InvalidSetting::out_of_range(
                "control.lookback_days",
                "within 0..=365",
                lookback_days,
            ));
        }
        let model = self.model.check()?;
        let uplift = &self.uplift;
        if !(2..=10).contains(&uplift.cv_folds) {
            return Err(InvalidSetting::out_of_range(
                "uplift.cv_folds",
                "within 2..=10",
                uplift.cv_folds,
            ));
        }
        if uplift.learner == UpliftChoice::Auto && uplift.candidates.is_empty() {
            return Err(InvalidSetting::new(
                "uplift.candidates",
                "empty: `auto` needs at least one learner to choose",
            ));
        }
        if uplift.choose_by == ChooseBy::PolicyValue && self.role != Role::Conversion {
            return Err(InvalidSetting::new(
                "uplift.choose_by",
                "policy_value needs a conversion model (the catalog's values price its \
                 conversions); a retention model chooses by qini",
            ));
        }
        let windows = self.windows(&model, lookback_days)?;
        Ok(ValidConversionConfig {
            config: self,
            windows,
            model,
        })
    }

    fn windows(
        &self,
        model: &ValidModelConfig,
        lookback_days: u32,
    ) -> Result<ConversionWindows, InvalidSetting> {
        let day = Timestamp::MICROS_PER_DAY;
        let window = i64::from(self.label.window_days) * day;
        let time = |key: &'static str, value: &Option<String>| {
            value.as_deref().map(|t| parse_time(key, t)).transpose()
        };
        let train_from = time("split.train_from", &self.split.train_from)?;
        let data_end = time("split.data_end", &self.split.data_end)?;
        let calibrating = model.calibrating();
        let split = match self.split.by {
            SplitBy::Time => self.time_split(calibrating, window, train_from)?,
            SplitBy::Customer => self.customer_split(calibrating)?,
        };
        if let (Some(end), Some(from)) = (data_end, train_from) {
            if from.0 + window > end.0 {
                return Err(InvalidSetting::new(
                    "split.data_end",
                    "must be at least label.window_days after split.train_from",
                ));
            }
        }
        Ok(ConversionWindows {
            train_from,
            split,
            window,
            lookback: i64::from(lookback_days) * day,
            every_days: self.control.every_days.map(i64::from),
            data_end,
        })
    }

    fn time_split(
        &self,
        calibrating: bool,
        window: i64,
        train_from: Option<Timestamp>,
    ) -> Result<SplitPlan, InvalidSetting> {
        for (key, value) in [
            ("split.holdout_share", self.split.holdout_share),
            ("split.calibration_share", self.split.calibration_share),
        ] {
            if value.is_some() {
                return Err(InvalidSetting::new(
                    key,
                    "only for split.by = \"customer\" (this split is by time)",
                ));
            }
        }
        let holdout_from = self.split.holdout_from.as_deref().ok_or_else(|| {
            InvalidSetting::new(
                "split.holdout_from",
                "required when splitting by time (or set split.by = \"customer\")",
            )
        })?;
        let holdout_from = parse_time("split.holdout_from", holdout_from)?;
        // Without a calibration to fit, the calibration period is simply more training data
        // (so `--calibration none` works with any config).
        let calibration_from = match &self.split.calibration_from {
            Some(t) if calibrating => Some(parse_time("split.calibration_from", t)?),
            Some(t) => {
                parse_time("split.calibration_from", t)?;
                None
            }
            None if calibrating => {
                return Err(InvalidSetting::new(
                    "split.calibration_from",
                    "required when model.calibration is not \"none\" (the period the calibration is fitted on)",
                ))
            }
            None => None,
        };
        if let Some(calibration) = calibration_from {
            if calibration.0 + window > holdout_from.0 {
                return Err(InvalidSetting::new(
                    "split.calibration_from",
                    format!(
                        "must be at least label.window_days ({}) before split.holdout_from",
                        self.label.window_days
                    ),
                ));
            }
        }
        let first_fit_end = calibration_from.unwrap_or(holdout_from);
        if let Some(from) = train_from {
            if from.0 + window > first_fit_end.0 {
                return Err(InvalidSetting::new(
                    "split.train_from",
                    format!(
                        "must be at least label.window_days ({}) before {}",
                        self.label.window_days,
                        if calibrating {
                            "split.calibration_from"
                        } else {
                            "split.holdout_from"
                        }
                    ),
                ));
            }
        }
        Ok(SplitPlan::Time {
            calibration_from,
            holdout_from,
        })
    }

    fn customer_split(&self, calibrating: bool) -> Result<SplitPlan, InvalidSetting> {
        for (key, value) in [
            ("split.holdout_from", &self.split.holdout_from),
            ("split.calibration_from", &self.split.calibration_from),
        ] {
            if value.is_some() {
                return Err(InvalidSetting::new(
                    key,
                    "only for split.by = \"time\" (this split is by customer)",
                ));
            }
        }
        let share = |key: &'static str, value: Option<f64>, default: f64| match value {
            None => Ok(default),
            Some(v) if v > 0.0 && v < 1.0 => Ok(v),
            Some(v) => Err(InvalidSetting::out_of_range(key, "between 0 and 1", v)),
        };
        let holdout_share = share("split.holdout_share", self.split.holdout_share, 0.2)?;
        let calibration_share = if calibrating {
            share("split.calibration_share", self.split.calibration_share, 0.2)?
        } else {
            0.0
        };
        if holdout_share + calibration_share >= 0.9 {
            return Err(InvalidSetting::new(
                "split.calibration_share",
                "with split.holdout_share it leaves less than 10% of the customers to learn from",
            ));
        }
        Ok(SplitPlan::Customer {
            holdout_share,
            calibration_share,
            seed: self.seed,
        })
    }
}
