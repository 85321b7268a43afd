//! nextbest — a next-best-action engine: journey data in, point-in-time features, models,
//! decisions and experiments out. See docs/architecture.md for the shape; each module is one part of it.

pub mod analytics;
pub mod batch;
pub mod catalog;
pub mod config_file;
pub mod decision;
pub mod engine;
pub mod error;
pub mod evaluation;
pub mod experiment;
pub mod features;
pub mod fnv;
pub mod journey;
pub mod models;
pub mod server;
pub mod simulator;
pub mod stats;
pub mod store;
pub mod training;
pub mod wire;
