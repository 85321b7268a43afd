//! Pure statistics over predictions and outcomes: ranking and probability quality
//! ([`classification`]), calibration tables ([`calibration`]), uplift ranking quality
//! ([`uplift`]) and association ([`mod@correlation`]).
//!
//! Nothing here knows about customers, features or models: every function takes plain slices
//! of scores and labels, so the trainer, the model reports and (next) the experiment analysis
//! share one implementation. The experiment statistics — t-tests, sequential intervals, sample
//! ratio checks, CUPED, off-policy estimators — will live beside these. This module imports
//! nothing of the crate.

pub mod calibration;
pub mod classification;
pub mod correlation;
pub mod quantile;
pub mod uplift;

pub use calibration::{calibration_deciles, expected_calibration_error, CalibrationBin};
pub use classification::{auc, brier, log_loss};
pub use correlation::correlation;
pub use quantile::quantile_bins;
pub use uplift::{qini_coefficient, uplift_deciles, UpliftBin};
