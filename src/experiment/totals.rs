//! What the store hands the analysis: per arm, the sufficient statistics of every metric
//! (n, sums, sums of squares, cross-products), computed in SQL, and units per day.

use serde::Serialize;

/// Sums over the units of one arm: everything the statistics need (n, sums, sums of squares,
/// cross-products), computed in SQL. Each unit counts once, in the arm of its first exposure,
/// with what happened within the attribution window after it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ArmTotals {
    /// The arm.
    pub arm: String,
    /// Units (customers) exposed.
    pub units: u64,
    /// Decisions logged under the experiment for these units.
    pub exposures: u64,
    /// Units exposed in more than one arm (should be none).
    pub units_in_several_arms: u64,
    /// Units that converted (0/1 per unit: the sum is also the sum of squares).
    pub converted: f64,
    /// Revenue per unit: sum.
    pub revenue: f64,
    /// Revenue per unit: sum of squares.
    pub revenue_sq: f64,
    /// Orders per unit: sum.
    pub orders: f64,
    /// Orders per unit: sum of squares.
    pub orders_sq: f64,
    /// Σ revenue × orders (for revenue per order, a ratio).
    pub revenue_orders: f64,
    /// Units that clicked.
    pub clicked: f64,
    /// Units that unsubscribed.
    pub unsubscribed: f64,
    /// Units that complained.
    pub complained: f64,
    /// Pre-period revenue per unit (the CUPED covariate): sum.
    pub pre: f64,
    /// Pre-period revenue: sum of squares.
    pub pre_sq: f64,
    /// Σ converted × pre.
    pub converted_pre: f64,
    /// Σ revenue × pre.
    pub revenue_pre: f64,
    /// Σ clicked × pre.
    pub clicked_pre: f64,
    /// Σ unsubscribed × pre.
    pub unsubscribed_pre: f64,
    /// Σ complained × pre.
    pub complained_pre: f64,
}

/// Units first exposed on one day in one arm, and how many of them converted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DailyArm {
    /// The arm.
    pub arm: String,
    /// The day (UTC, `YYYY-MM-DD`).
    pub day: String,
    /// Units first exposed that day.
    pub units: u64,
    /// Of them, those that converted within the window.
    pub converted: u64,
}
