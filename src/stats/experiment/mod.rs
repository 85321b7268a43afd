//! The statistics of an A/B test, as pure functions over **sufficient statistics** (n, Σx, Σx²
//! and sums of cross-products per arm), so that a database can compute every input with SQL
//! and no unit-level row needs to reach this code.
//!
//! The formulas are those of GrowthBook's stats engine, gbstats 0.8.0 (each function names the
//! gbstats function it mirrors), reimplemented here; `tests/experiment_stats.rs` checks them
//! against reference values computed by gbstats, scipy and statsmodels
//! (`tests/fixtures/experiment_stats/`). The manual is `docs/experiments.md`.
//!
//! - [`sufficient`]: the inputs: [`Sample`] (means and proportions), [`RatioSample`] (ratio
//!   metrics), [`AdjustedSample`] (a metric with a pre-period covariate), and what the tests
//!   take of an arm, [`ArmEstimate`];
//! - [`summary`]: one arm's mean with its confidence interval;
//! - [`frequentist`]: Welch's t-test of the absolute or relative lift (delta method);
//! - [`sequential`]: always-valid confidence sequences for looking early and often;
//! - [`bayesian`]: chance to beat control and expected loss under a Gaussian posterior;
//! - [`cuped`]: regression adjustment on a pre-period covariate;
//! - [`srm`]: the sample ratio mismatch check;
//! - [`multiple`]: Holm–Bonferroni and Benjamini–Hochberg adjusted p-values;
//! - [`health`]: plain-language warnings with machine codes;
//! - [`analysis`]: a whole experiment at once (every metric of every arm, adjusted p-values,
//!   health), as the CLI prints it.
//!
//! Undefined results (an empty arm, zero variance, a relative lift over a control mean of 0)
//! are `None`, never NaN.

pub mod analysis;
pub mod bayesian;
pub mod cuped;
mod distributions;
pub mod frequentist;
pub mod health;
pub mod multiple;
pub mod sequential;
pub mod srm;
pub mod sufficient;
pub mod summary;

pub use analysis::{
    analyze_experiment, AnalysisSettings, ArmResult, ExperimentInput, ExperimentReport, MetricData,
    MetricInput, MetricKind, MetricReport,
};
pub use bayesian::{
    bayesian_test, expected_losses, BayesianResult, BayesianSettings, GaussianPrior,
};
pub use cuped::{adjusted_estimate, adjusted_estimates, pooled_theta};
pub use frequentist::{
    lift, lift_variance, two_sided_t_test, welch_degrees_of_freedom, DifferenceType,
    FrequentistSettings, Interval, LiftEstimate,
};
pub use health::{format_p, health_checks, HealthCode, HealthInput, HealthSettings, HealthWarning};
pub use multiple::{benjamini_hochberg, holm_bonferroni};
pub use sequential::{sequential_rho, sequential_t_test, SequentialSettings, DEFAULT_TUNING};
pub use srm::{sample_ratio_mismatch, SrmCheck, SRM_ALERT_P_VALUE};
pub use sufficient::{AdjustedSample, ArmEstimate, RatioSample, Sample, SampleKind};
pub use summary::{ratio_interval, sample_interval, summarize_ratio, summarize_sample, ArmSummary};
