//! Experiments: split a population between decision policies and prove which earns more.
//!
//! Today this part holds the offline analysis's input: a table of units ([`units`]: one row
//! per unit with its arm and metric values) reduced to the per-arm sufficient statistics that
//! [`crate::stats::experiment`] analyses. Definitions, assignment and attribution come next.

pub mod units;

pub use units::{read_units, UnitColumns, UnitTable};
