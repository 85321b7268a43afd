//! Journey analytics on the event log: KPIs, funnels, paths, cohorts and lifecycle, for
//! marketers and for data scientists exploring a log before modelling it (docs/analytics.md).
//!
//! One concept per file:
//! - `log`: the events in memory, interned and grouped by customer ([`EventLog`]);
//! - `scope`: the period and the segment a query covers;
//! - `kpis`, `funnel`, `paths`, `cohorts`: the analyses, each a pure function of the log;
//! - `pain`: pain points (events after which customers cancel or go quiet, with lift);
//! - `query`: text parameters into checked specs, and the dashboard of the journey pages;
//! - `attribution`: first- and last-touch credit of orders to our contacts;
//! - `clv`: customer lifetime value (BG/NBD + Gamma-Gamma, discounted);
//! - `table`: results as tables for the terminal and Parquet.

pub mod attribution;
pub mod clv;
pub mod cohorts;
pub mod compare;
pub mod error;
pub mod funnel;
pub mod incremental;
pub mod kpis;
pub mod log;
pub mod pain;
pub mod paths;
pub mod query;
mod read;
pub mod scope;
pub mod table;
pub mod text;

pub use error::{AnalyticsError, Result};
pub use log::{EventLog, LogOptions, VisitorCounts};
pub use scope::{AttributeCondition, Period, SegmentSpec};
pub use table::{Cell, Table};
