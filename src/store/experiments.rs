//! Experiments in the store: their definitions and state changes (applied by the writer, in
//! its transactions, so that two replicas cannot start overlapping experiments of one layer),
//! and the sufficient statistics of their arms, computed in SQL from the decision log, the
//! outcomes and the journey events. The rules and the SQL text are shared by the backends;
//! each runs them through [`WriteTx`] and its own read connections.

use super::backend::{DbError, WriteTx};
use super::StoreError;
use crate::experiment::assignment::{can_grow, first_fit};
use crate::experiment::{ArmTotals, DailyArm, Experiment, ExperimentError, Status};
use crate::journey::Timestamp;

/// A change to the stored experiments, checked against their state when applied.
#[derive(Clone, Debug)]
pub enum ExperimentChange {
    /// Store a new draft; refused if the id is taken.
    Create(Box<Experiment>),
    /// Replace a draft's definition; refused once it has started.
    Replace(Box<Experiment>),
    /// Draft → running: take a free range of the layer's buckets.
    Start(String),
    /// Running → stopped; the data stays.
    Stop(String),
    /// Raise a running (or draft) experiment's traffic; never lower it (that would take units
    /// out), never into another running experiment's buckets.
    Ramp(String, f64),
}

fn conflict(id: &str, problem: impl Into<String>) -> StoreError {
    StoreError::Experiment(ExperimentError::Conflict {
        id: id.to_string(),
        problem: problem.into(),
    })
}

fn unknown(id: &str) -> StoreError {
    StoreError::Experiment(ExperimentError::Unknown { id: id.to_string() })
}

/// The (start, count) bucket ranges the other running experiments hold in `layer`, read
/// after the layer is locked against other writers.
fn taken_in_layer<T: WriteTx + ?Sized>(
    tx: &mut T,
    layer: &str,
    except: &str,
) -> Result<Vec<(u32, u32)>, DbError> {
    tx.lock_layer(layer)?;
    Ok(tx
        .running_in_layer(layer, except)?
        .iter()
        .map(|e| (e.bucket_start, e.bucket_count()))
        .collect())
}

/// Applies a change in the writer's transaction. The outer error is the database's; the
/// inner one is the change's verdict. The experiment's row is locked while it is checked and
/// changed, and a layer's running experiments while a start or a ramp claims its buckets, so
/// that concurrent writers (replicas on one PostgreSQL database) see each other's changes.
pub(crate) fn apply<T: WriteTx + ?Sized>(
    tx: &mut T,
    change: &ExperimentChange,
) -> Result<Result<(), StoreError>, DbError> {
    let now = Timestamp::now();
    match change {
        ExperimentChange::Create(e) => {
            if !tx.insert_experiment(e, now)? {
                return Ok(Err(conflict(&e.id, "an experiment with this id exists")));
            }
        }
        ExperimentChange::Replace(new) => {
            let Some(old) = tx.experiment_for_update(&new.id)? else {
                return Ok(Err(unknown(&new.id)));
            };
            if old.status != Status::Draft {
                return Ok(Err(conflict(
                    &new.id,
                    format!(
                        "it is {}: its definition is fixed (create a new experiment)",
                        old.status.name()
                    ),
                )));
            }
            let replaced = Experiment {
                created_at: old.created_at,
                ..new.as_ref().clone()
            };
            tx.update_experiment(&replaced, now)?;
        }
        ExperimentChange::Start(id) => {
            let Some(mut e) = tx.experiment_for_update(id)? else {
                return Ok(Err(unknown(id)));
            };
            if e.status != Status::Draft {
                return Ok(Err(conflict(
                    id,
                    format!("it is {}; only a draft can start", e.status.name()),
                )));
            }
            let taken = taken_in_layer(tx, &e.layer, id)?;
            let Some(start) = first_fit(&taken, e.bucket_count()) else {
                return Ok(Err(conflict(
                    id,
                    format!(
                        "layer '{}' has no room for {:.2}% of traffic beside its running experiments",
                        e.layer,
                        e.traffic * 100.0
                    ),
                )));
            };
            e.bucket_start = start;
            e.status = Status::Running;
            e.started_at = Some(now.to_rfc3339());
            tx.update_experiment(&e, now)?;
        }
        ExperimentChange::Stop(id) => {
            let Some(mut e) = tx.experiment_for_update(id)? else {
                return Ok(Err(unknown(id)));
            };
            if e.status != Status::Running {
                return Ok(Err(conflict(
                    id,
                    format!(
                        "it is {}; only a running experiment can stop",
                        e.status.name()
                    ),
                )));
            }
            e.status = Status::Stopped;
            e.stopped_at = Some(now.to_rfc3339());
            tx.update_experiment(&e, now)?;
        }
        ExperimentChange::Ramp(id, traffic) => {
            let Some(mut e) = tx.experiment_for_update(id)? else {
                return Ok(Err(unknown(id)));
            };
            if e.status == Status::Stopped {
                return Ok(Err(conflict(id, "it is stopped")));
            }
            if !(traffic.is_finite() && *traffic > 0.0 && *traffic <= 1.0) {
                return Ok(Err(StoreError::Experiment(ExperimentError::Invalid {
                    field: "traffic".into(),
                    problem: "must be above 0 and at most 1".into(),
                })));
            }
            if *traffic < e.traffic && e.status == Status::Running {
                return Ok(Err(conflict(
                    id,
                    format!(
                        "traffic can only grow while it runs ({} now): lowering it would take assigned units out",
                        e.traffic
                    ),
                )));
            }
            if e.status == Status::Running {
                let taken = taken_in_layer(tx, &e.layer, id)?;
                if !can_grow(&taken, e.bucket_start, *traffic) {
                    return Ok(Err(conflict(
                        id,
                        format!(
                            "layer '{}' has no room to grow to {:.2}% of traffic",
                            e.layer,
                            traffic * 100.0
                        ),
                    )));
                }
            }
            e.traffic = *traffic;
            tx.update_experiment(&e, now)?;
        }
    }
    Ok(Ok(()))
}

/// The per-unit table every experiment query starts from: first exposure, its arm, and the
/// sums of what followed within the window (`?1` experiment, `?2` window µs, `?3` pre-period µs).
pub(crate) const PER_UNIT: &str = "
WITH exposures AS (
    SELECT customer_id, arm, created_us,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_us, decision_id) AS nth
    FROM decisions WHERE experiment_id = ?1 AND dry_run = 0
),
units AS (
    SELECT f.customer_id, f.arm, f.created_us AS t0, a.arms, a.exposures
    FROM exposures f
    JOIN (SELECT customer_id, COUNT(DISTINCT arm) AS arms, COUNT(*) AS exposures
          FROM exposures GROUP BY customer_id) a ON a.customer_id = f.customer_id
    WHERE f.nth = 1
),
outcome_sums AS (
    SELECT u.customer_id,
        SUM(CASE WHEN o.outcome_type IN ('conversion', 'purchase') THEN 1 ELSE 0 END) AS orders,
        SUM(CASE WHEN o.outcome_type IN ('conversion', 'purchase') THEN COALESCE(o.value, 0) ELSE 0 END) AS revenue,
        MAX(CASE WHEN o.outcome_type = 'click' THEN 1 ELSE 0 END) AS clicked,
        MAX(CASE WHEN o.outcome_type = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribed,
        MAX(CASE WHEN o.outcome_type = 'complaint' THEN 1 ELSE 0 END) AS complained
    FROM units u
    JOIN decisions d ON d.customer_id = u.customer_id AND d.experiment_id = ?1
    JOIN outcomes o ON o.decision_id = d.decision_id
    WHERE o.at_us >= u.t0 AND o.at_us <= u.t0 + ?2
    GROUP BY u.customer_id
),
event_sums AS (
    SELECT u.customer_id,
        SUM(CASE WHEN e.ts_us >= u.t0 AND e.event_type IN ('purchase', 'conversion') THEN 1 ELSE 0 END) AS orders,
        SUM(CASE WHEN e.ts_us >= u.t0 AND e.event_type IN ('purchase', 'conversion') THEN COALESCE(e.value, 0) ELSE 0 END) AS revenue,
        MAX(CASE WHEN e.ts_us >= u.t0 AND e.event_type = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribed,
        MAX(CASE WHEN e.ts_us >= u.t0 AND e.event_type = 'complaint' THEN 1 ELSE 0 END) AS complained,
        SUM(CASE WHEN e.ts_us < u.t0 AND e.event_type IN ('purchase', 'conversion') THEN COALESCE(e.value, 0) ELSE 0 END) AS pre
    FROM units u
    JOIN events e ON e.customer_id = u.customer_id
    WHERE e.ts_us >= u.t0 - ?3 AND e.ts_us <= u.t0 + ?2
    GROUP BY u.customer_id
),
per_unit AS (
    SELECT u.customer_id, u.arm, u.t0, u.arms, u.exposures,
        COALESCE(os.orders, 0) + COALESCE(es.orders, 0) AS orders,
        COALESCE(os.revenue, 0) + COALESCE(es.revenue, 0) AS revenue,
        CASE WHEN COALESCE(os.orders, 0) + COALESCE(es.orders, 0) > 0 THEN 1 ELSE 0 END AS converted,
        COALESCE(os.clicked, 0) AS clicked,
        CASE WHEN COALESCE(os.unsubscribed, 0) + COALESCE(es.unsubscribed, 0) > 0 THEN 1 ELSE 0 END AS unsubscribed,
        CASE WHEN COALESCE(os.complained, 0) + COALESCE(es.complained, 0) > 0 THEN 1 ELSE 0 END AS complained,
        COALESCE(es.pre, 0) AS pre
    FROM units u
    LEFT JOIN outcome_sums os ON os.customer_id = u.customer_id
    LEFT JOIN event_sums es ON es.customer_id = u.customer_id
)
";

/// The parameters of [`TOTALS_SQL`] and [`DAILY_SQL`] after the experiment id: the
/// attribution window and the pre-period, in µs.
pub(crate) fn window_params(e: &Experiment) -> (i64, i64) {
    (
        i64::from(e.attribution_window_days) * Timestamp::MICROS_PER_DAY,
        i64::from(e.pre_period_days) * Timestamp::MICROS_PER_DAY,
    )
}

/// Arm totals: the arm, 3 counts (BIGINT) and 16 sums (DOUBLE PRECISION, possibly NULL), in
/// the order [`ArmTotals::from_sums`] takes them. The casts make both backends answer the
/// same types (PostgreSQL's SUM of a BIGINT is a NUMERIC).
pub(crate) const TOTALS_SQL: &str = "
    SELECT arm, COUNT(*), CAST(SUM(exposures) AS BIGINT),
        CAST(SUM(CASE WHEN arms > 1 THEN 1 ELSE 0 END) AS BIGINT),
        CAST(SUM(converted) AS DOUBLE PRECISION), CAST(SUM(revenue) AS DOUBLE PRECISION),
        CAST(SUM(revenue * revenue) AS DOUBLE PRECISION), CAST(SUM(orders) AS DOUBLE PRECISION),
        CAST(SUM(orders * orders) AS DOUBLE PRECISION),
        CAST(SUM(revenue * orders) AS DOUBLE PRECISION), CAST(SUM(clicked) AS DOUBLE PRECISION),
        CAST(SUM(unsubscribed) AS DOUBLE PRECISION), CAST(SUM(complained) AS DOUBLE PRECISION),
        CAST(SUM(pre) AS DOUBLE PRECISION), CAST(SUM(pre * pre) AS DOUBLE PRECISION),
        CAST(SUM(converted * pre) AS DOUBLE PRECISION),
        CAST(SUM(revenue * pre) AS DOUBLE PRECISION), CAST(SUM(clicked * pre) AS DOUBLE PRECISION),
        CAST(SUM(unsubscribed * pre) AS DOUBLE PRECISION),
        CAST(SUM(complained * pre) AS DOUBLE PRECISION)
    FROM per_unit GROUP BY arm";

/// Units first exposed per day and arm: the arm, the day number since the epoch (BIGINT),
/// units (BIGINT) and converted units (BIGINT, possibly NULL).
pub(crate) const DAILY_SQL: &str = "
    SELECT arm, t0 / 86400000000 AS day, COUNT(*), CAST(SUM(converted) AS BIGINT)
    FROM per_unit GROUP BY arm, day ORDER BY day, arm";

/// The full text of a totals query (`tail` is [`TOTALS_SQL`] or [`DAILY_SQL`]), with `?N`
/// placeholders.
pub(crate) fn per_unit_query(tail: &str) -> String {
    format!("{PER_UNIT}{tail}")
}

impl ArmTotals {
    /// One row of [`TOTALS_SQL`]: its counts and sums (a NULL sum counts as 0).
    pub(crate) fn from_sums(arm: String, counts: [i64; 3], sums: [Option<f64>; 16]) -> Self {
        let count = |i: usize| counts[i].max(0) as u64;
        let real = |i: usize| sums[i].unwrap_or(0.0);
        ArmTotals {
            arm,
            units: count(0),
            exposures: count(1),
            units_in_several_arms: count(2),
            converted: real(0),
            revenue: real(1),
            revenue_sq: real(2),
            orders: real(3),
            orders_sq: real(4),
            revenue_orders: real(5),
            clicked: real(6),
            unsubscribed: real(7),
            complained: real(8),
            pre: real(9),
            pre_sq: real(10),
            converted_pre: real(11),
            revenue_pre: real(12),
            clicked_pre: real(13),
            unsubscribed_pre: real(14),
            complained_pre: real(15),
        }
    }
}

impl DailyArm {
    /// One row of [`DAILY_SQL`].
    pub(crate) fn from_row(arm: String, day: i64, units: i64, converted: Option<i64>) -> Self {
        DailyArm {
            arm,
            day: Timestamp(day * Timestamp::MICROS_PER_DAY)
                .to_rfc3339()
                .chars()
                .take(10)
                .collect(),
            units: units.max(0) as u64,
            converted: converted.unwrap_or(0).max(0) as u64,
        }
    }
}

/// The totals found, in the experiment's arm order (arms with no unit yet included, at zero;
/// arms in the log that the definition lacks are left out).
pub(crate) fn in_arm_order(e: &Experiment, found: Vec<ArmTotals>) -> Vec<ArmTotals> {
    e.arms
        .iter()
        .map(|arm| {
            found
                .iter()
                .find(|t| t.arm == arm.name)
                .cloned()
                .unwrap_or_else(|| ArmTotals {
                    arm: arm.name.clone(),
                    ..ArmTotals::default()
                })
        })
        .collect()
}
