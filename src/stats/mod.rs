//! Pure statistics over predictions and outcomes: ranking and probability quality
//! ([`classification`]), calibration tables ([`calibration`]), uplift ranking quality
//! ([`uplift`]) and association ([`mod@correlation`]); the statistics of A/B tests over
//! sufficient statistics ([`experiment`]: t-tests, sequential intervals, Bayesian chance to
//! win, sample ratio checks, CUPED, multiple comparisons, health checks); derivative-free minimisation for small likelihood fits ([`optimize`]).
//!
//! Nothing here knows about customers, features or models: every function takes plain numbers
//! (slices of scores and labels, or per-arm sums), so the trainer, the model reports and the
//! experiment analysis share one implementation. Off-policy estimators ([`ope`]: IPS,
//! self-normalised IPS, direct method, doubly robust, Switch-DR, DR with shrinkage, bootstrap
//! intervals) live beside them.
//! This module imports nothing of the crate.

pub mod calibration;
pub mod classification;
pub mod correlation;
pub mod experiment;
pub mod ope;
pub mod optimize;
pub mod quantile;
pub mod uplift;

pub use calibration::{calibration_deciles, expected_calibration_error, CalibrationBin};
pub use classification::{auc, brier, log_loss};
pub use correlation::correlation;
pub use quantile::quantile_bins;
pub use uplift::{
    qini_auc_score, uplift_at_k, uplift_auc_score, uplift_deciles, uplift_scores, AtKStrategy,
    TopK, UpliftBin, UpliftScores,
};
