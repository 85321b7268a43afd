//! Features out: one point-in-time-correct function from (customer attributes, history before t,
//! t) to a named, typed, versioned feature vector, used by training, batch and online scoring.

pub mod aspects;
mod attributes;
pub mod compute;
pub mod contacts;
mod counters;
pub mod matrix;
mod responses;
pub mod spec;
mod text;

pub use compute::{featurize, FeatureAccumulator, TextScorer};
pub use contacts::{ContactHistory, PastSend};
pub use matrix::{
    CustomerMatrixBuilder, DecisionMatrixBuilder, DecisionPoints, MatrixRow, MatrixStats,
};
pub use spec::{FeatureDef, FeatureSpec, FeatureType, SpecError, FEATURE_SET_VERSION};
