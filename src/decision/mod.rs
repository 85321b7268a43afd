//! Decisions: the action catalog now; eligibility, arbitration and exploration with the service.

pub mod catalog;

pub use catalog::{Action, ActionKind, Catalog};
