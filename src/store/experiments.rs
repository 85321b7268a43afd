//! Experiments in the store: their definitions and state changes (applied by the writer, in
//! its transactions, so that two replicas cannot start overlapping experiments of one layer),
//! and the sufficient statistics of their arms, computed in SQL from the decision log, the
//! outcomes and the journey events.

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension};

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

fn json_error(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e))
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

/// Reads one experiment.
pub(crate) fn load(conn: &Connection, id: &str) -> rusqlite::Result<Option<Experiment>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT definition FROM experiments WHERE experiment_id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(json_error))
        .transpose()
}

/// Reads every experiment, oldest first.
pub(crate) fn load_all(conn: &Connection) -> rusqlite::Result<Vec<Experiment>> {
    let mut statement = conn
        .prepare_cached("SELECT definition FROM experiments ORDER BY created_us, experiment_id")?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.map(|text| serde_json::from_str(&text?).map_err(json_error))
        .collect()
}

fn save(conn: &Connection, e: &Experiment, now: Timestamp) -> rusqlite::Result<()> {
    let definition = serde_json::to_string(e).map_err(json_error)?;
    conn.prepare_cached(
        "INSERT INTO experiments (experiment_id, definition, status, layer, created_us, updated_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
         ON CONFLICT (experiment_id) DO UPDATE SET definition = excluded.definition,
             status = excluded.status, layer = excluded.layer, updated_us = excluded.updated_us",
    )?
    .execute(params![e.id, definition, e.status.name(), e.layer, now.0])?;
    Ok(())
}

/// The (start, count) bucket ranges the other running experiments hold in `layer`.
fn taken_in_layer(
    conn: &Connection,
    layer: &str,
    except: &str,
) -> rusqlite::Result<Vec<(u32, u32)>> {
    let mut statement = conn.prepare_cached(
        "SELECT definition FROM experiments
         WHERE layer = ?1 AND status = 'running' AND experiment_id <> ?2",
    )?;
    let rows = statement.query_map(params![layer, except], |row| row.get::<_, String>(0))?;
    let mut taken = Vec::new();
    for text in rows {
        let e: Experiment = serde_json::from_str(&text?).map_err(json_error)?;
        taken.push((e.bucket_start, e.bucket_count()));
    }
    Ok(taken)
}

/// Applies a change in the writer's transaction. The outer error is SQLite's; the inner one
/// is the change's verdict.
pub(crate) fn apply(
    conn: &Connection,
    change: &ExperimentChange,
) -> rusqlite::Result<Result<(), StoreError>> {
    let now = Timestamp::now();
    match change {
        ExperimentChange::Create(e) => {
            if load(conn, &e.id)?.is_some() {
                return Ok(Err(conflict(&e.id, "an experiment with this id exists")));
            }
            save(conn, e, now)?;
        }
        ExperimentChange::Replace(new) => {
            let Some(old) = load(conn, &new.id)? else {
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
            save(conn, &replaced, now)?;
        }
        ExperimentChange::Start(id) => {
            let Some(mut e) = load(conn, id)? else {
                return Ok(Err(unknown(id)));
            };
            if e.status != Status::Draft {
                return Ok(Err(conflict(
                    id,
                    format!("it is {}; only a draft can start", e.status.name()),
                )));
            }
            let taken = taken_in_layer(conn, &e.layer, id)?;
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
            save(conn, &e, now)?;
        }
        ExperimentChange::Stop(id) => {
            let Some(mut e) = load(conn, id)? else {
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
            save(conn, &e, now)?;
        }
        ExperimentChange::Ramp(id, traffic) => {
            let Some(mut e) = load(conn, id)? else {
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
                let taken = taken_in_layer(conn, &e.layer, id)?;
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
            save(conn, &e, now)?;
        }
    }
    Ok(Ok(()))
}

/// The per-unit table every experiment query starts from: first exposure, its arm, and the
/// sums of what followed within the window (`?1` experiment, `?2` window µs, `?3` pre-period µs).
const PER_UNIT: &str = "
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

fn window_params(e: &Experiment) -> (i64, i64) {
    (
        i64::from(e.attribution_window_days) * Timestamp::MICROS_PER_DAY,
        i64::from(e.pre_period_days) * Timestamp::MICROS_PER_DAY,
    )
}

/// The experiment's arm totals, in the experiment's arm order (arms with no unit yet included,
/// at zero; arms in the log that the definition lacks are left out).
pub(crate) fn arm_totals(conn: &Connection, e: &Experiment) -> rusqlite::Result<Vec<ArmTotals>> {
    let (window, pre) = window_params(e);
    let sql = format!(
        "{PER_UNIT}
        SELECT arm, COUNT(*), SUM(exposures), SUM(CASE WHEN arms > 1 THEN 1 ELSE 0 END),
            SUM(converted), SUM(revenue), SUM(revenue * revenue), SUM(orders), SUM(orders * orders),
            SUM(revenue * orders), SUM(clicked), SUM(unsubscribed), SUM(complained),
            SUM(pre), SUM(pre * pre), SUM(converted * pre), SUM(revenue * pre), SUM(clicked * pre),
            SUM(unsubscribed * pre), SUM(complained * pre)
        FROM per_unit GROUP BY arm"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![e.id, window, pre], |row| {
        let count = |i: usize| row.get::<_, i64>(i).map(|v| v.max(0) as u64);
        let real = |i: usize| row.get::<_, Option<f64>>(i).map(|v| v.unwrap_or(0.0));
        Ok(ArmTotals {
            arm: row.get(0)?,
            units: count(1)?,
            exposures: count(2)?,
            units_in_several_arms: count(3)?,
            converted: real(4)?,
            revenue: real(5)?,
            revenue_sq: real(6)?,
            orders: real(7)?,
            orders_sq: real(8)?,
            revenue_orders: real(9)?,
            clicked: real(10)?,
            unsubscribed: real(11)?,
            complained: real(12)?,
            pre: real(13)?,
            pre_sq: real(14)?,
            converted_pre: real(15)?,
            revenue_pre: real(16)?,
            clicked_pre: real(17)?,
            unsubscribed_pre: real(18)?,
            complained_pre: real(19)?,
        })
    })?;
    let found: Vec<ArmTotals> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(e.arms
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
        .collect())
}

/// Units first exposed per day and arm, with their conversions: the cumulative curves.
pub(crate) fn daily(conn: &Connection, e: &Experiment) -> rusqlite::Result<Vec<DailyArm>> {
    let (window, pre) = window_params(e);
    let sql = format!(
        "{PER_UNIT}
        SELECT arm, t0 / {day} AS day, COUNT(*), SUM(converted)
        FROM per_unit GROUP BY arm, day ORDER BY day, arm",
        day = Timestamp::MICROS_PER_DAY
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![e.id, window, pre], |row| {
        let day: i64 = row.get(1)?;
        Ok(DailyArm {
            arm: row.get(0)?,
            day: Timestamp(day * Timestamp::MICROS_PER_DAY)
                .to_rfc3339()
                .chars()
                .take(10)
                .collect(),
            units: row.get::<_, i64>(2)?.max(0) as u64,
            converted: row.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
        })
    })?;
    rows.collect()
}
