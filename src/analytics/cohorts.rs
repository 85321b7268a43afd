//! Cohorts and lifecycle.
//!
//! Time is cut into buckets from an origin (the period's start, or midnight of the first event):
//! `N` days each, or calendar months. A customer's cohort is the bucket of their signup (a
//! customer table date column), first purchase or first activity; the retention cell
//! (cohort, age k) counts the cohort's customers active in bucket cohort + k. Lifecycle labels
//! each bucket's active customers as new (first activity ever), returning (active in the bucket
//! before too) or resurrecting (active before, but not in the bucket before), and counts as
//! dormant those active in the bucket before but not in this one (PostHog's lifecycle).

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::EventLog;
use super::table::Table;
use crate::journey::{AttrValue, CustomerTable, Timestamp};

/// How long a bucket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// A fixed number of days.
    Days(u32),
    /// Calendar months (UTC).
    Month,
}

impl FromStr for Bucket {
    type Err = AnalyticsError;
    /// `month`, `week` (7 days), `day`, or `Nd` (`30d`).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            AnalyticsError::invalid(
                "period",
                format!("'{s}' is not month, week, day or a number of days like 30d"),
            )
        };
        match s {
            "month" => Ok(Bucket::Month),
            "week" => Ok(Bucket::Days(7)),
            "day" => Ok(Bucket::Days(1)),
            other => {
                let n: u32 = other
                    .strip_suffix('d')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(bad)?;
                if n == 0 || n > 3660 {
                    return Err(bad());
                }
                Ok(Bucket::Days(n))
            }
        }
    }
}

fn month_index(t: i64) -> i64 {
    let dt = DateTime::from_timestamp_micros(t).unwrap_or_default();
    i64::from(dt.year()) * 12 + i64::from(dt.month0())
}

impl Bucket {
    /// The bucket of instant `t` counted from `origin` (negative before it).
    pub fn index(&self, origin: i64, t: i64) -> i64 {
        match self {
            Bucket::Days(n) => (t - origin).div_euclid(i64::from(*n) * Timestamp::MICROS_PER_DAY),
            Bucket::Month => month_index(t) - month_index(origin),
        }
    }

    /// The first instant of bucket `i`.
    pub fn start(&self, origin: i64, i: i64) -> i64 {
        match self {
            Bucket::Days(n) => origin + i * i64::from(*n) * Timestamp::MICROS_PER_DAY,
            Bucket::Month => {
                let m = month_index(origin) + i;
                let date = NaiveDate::from_ymd_opt(
                    m.div_euclid(12) as i32,
                    m.rem_euclid(12) as u32 + 1,
                    1,
                )
                .unwrap_or_default();
                Timestamp::from_date(date).0
            }
        }
    }

    /// The label of bucket `i`: `YYYY-MM` for months, the first day otherwise.
    pub fn label(&self, origin: i64, i: i64) -> String {
        let text = Timestamp(self.start(origin, i)).to_rfc3339();
        match self {
            Bucket::Month => text[..7].to_string(),
            Bucket::Days(_) => text[..10].to_string(),
        }
    }
}

/// What puts a customer in a cohort.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CohortBasis {
    /// A date column of the customer table (e.g. `signup_date`).
    Signup(String),
    /// The first order.
    FirstPurchase,
    /// The first activity.
    FirstActivity,
}

/// What counts as being retained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retained {
    /// Any activity.
    #[default]
    Activity,
    /// An order.
    Purchase,
}

/// A cohort query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortSpec {
    /// What puts a customer in a cohort.
    pub basis: CohortBasis,
    /// The bucket length.
    pub bucket: Bucket,
    /// What counts as retained.
    pub retained: Retained,
}

/// One cohort's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortRow {
    /// The cohort's bucket label.
    pub cohort: String,
    /// Its customers.
    pub customers: u64,
    /// Customers retained at age 0, 1, … (as far as the data reaches).
    pub retained: Vec<u64>,
    /// `retained / customers`.
    pub rates: Vec<f64>,
}

/// One bucket's lifecycle counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LifecycleRow {
    /// The bucket's label.
    pub period: String,
    /// Active for the first time ever.
    pub new: u64,
    /// Active in the bucket before too.
    pub returning: u64,
    /// Active before, but not in the bucket before.
    pub resurrecting: u64,
    /// Active in the bucket before, not in this one.
    pub dormant: u64,
}

/// Cohorts and lifecycle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cohorts {
    /// The query.
    pub spec: CohortSpec,
    /// One row per cohort, oldest first.
    pub cohorts: Vec<CohortRow>,
    /// One row per bucket of the period.
    pub lifecycle: Vec<LifecycleRow>,
}

/// Midnight UTC of the day of `t`.
pub fn midnight(t: i64) -> i64 {
    t.div_euclid(Timestamp::MICROS_PER_DAY) * Timestamp::MICROS_PER_DAY
}

/// Cohort retention and lifecycle over `[from, to)`; buckets count from `from`.
pub fn cohorts(
    log: &EventLog,
    members: &[bool],
    table: Option<&CustomerTable>,
    spec: &CohortSpec,
    from: i64,
    to: i64,
) -> Result<Cohorts> {
    let signup_column = match &spec.basis {
        CohortBasis::Signup(name) => {
            let table = table.ok_or_else(|| {
                AnalyticsError::invalid("cohort", "signup cohorts need a customer table")
            })?;
            let column = table
                .attributes
                .iter()
                .position(|a| &a.name == name)
                .ok_or_else(|| {
                    AnalyticsError::invalid(
                        "cohort",
                        format!("the customer table has no column '{name}'"),
                    )
                })?;
            Some((table, column))
        }
        _ => None,
    };
    let bucket = spec.bucket;
    let last = bucket.index(from, to - 1);
    let width = (last + 1).max(0) as usize;
    let mut sizes = vec![0u64; width];
    let mut retained = vec![vec![0u64; width]; width];
    let mut lifecycle = vec![[0u64; 4]; width];
    let mut active: Vec<i64> = Vec::new();
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let events = log.events_of(c);
        // Buckets with activity (or orders), in order, from the whole log (the bucket before the
        // period decides returning and dormant in its first bucket).
        active.clear();
        let mut first_activity: Option<i64> = None;
        let mut first_order: Option<i64> = None;
        let mut retained_buckets: Vec<i64> = Vec::new();
        for i in events {
            let t = log.time[i];
            if t >= to {
                break;
            }
            let is_activity = log.is_activity(i);
            let is_order = log.is_order(i);
            if is_activity {
                first_activity.get_or_insert(t);
                let b = bucket.index(from, t);
                if active.last() != Some(&b) {
                    active.push(b);
                }
            }
            if is_order {
                first_order.get_or_insert(t);
            }
            let counts = match spec.retained {
                Retained::Activity => is_activity,
                Retained::Purchase => is_order,
            };
            if counts && t >= from {
                let b = bucket.index(from, t);
                if retained_buckets.last() != Some(&b) {
                    retained_buckets.push(b);
                }
            }
        }
        // Lifecycle.
        let first_bucket = first_activity.map(|t| bucket.index(from, t));
        for (j, &b) in active.iter().enumerate() {
            let previous = j.checked_sub(1).map(|p| active[p]);
            if (0..=last).contains(&b) {
                let state = if Some(b) == first_bucket {
                    0
                } else if previous == Some(b - 1) {
                    1
                } else {
                    2
                };
                lifecycle[b as usize][state] += 1;
            }
            let next = active.get(j + 1).copied();
            if next != Some(b + 1) && (0..=last).contains(&(b + 1)) {
                lifecycle[(b + 1) as usize][3] += 1;
            }
        }
        // Cohort.
        let start = match &spec.basis {
            CohortBasis::Signup(_) => signup_column.and_then(|(table, column)| {
                match table.get(&log.customers[c]).map(|row| &row[column]) {
                    Some(AttrValue::Date(t)) => Some(t.0),
                    _ => None,
                }
            }),
            CohortBasis::FirstPurchase => first_order,
            CohortBasis::FirstActivity => first_activity,
        };
        let Some(start) = start.filter(|&t| t >= from && t < to) else {
            continue;
        };
        let cohort = bucket.index(from, start);
        sizes[cohort as usize] += 1;
        for &b in &retained_buckets {
            if b >= cohort && b <= last {
                retained[cohort as usize][(b - cohort) as usize] += 1;
            }
        }
    }
    let cohort_rows = (0..width)
        .filter(|&i| sizes[i] > 0)
        .map(|i| {
            let ages = width - i;
            let kept: Vec<u64> = retained[i][..ages].to_vec();
            CohortRow {
                cohort: bucket.label(from, i as i64),
                customers: sizes[i],
                rates: kept.iter().map(|&k| k as f64 / sizes[i] as f64).collect(),
                retained: kept,
            }
        })
        .collect();
    let lifecycle = lifecycle
        .iter()
        .enumerate()
        .map(|(i, l)| LifecycleRow {
            period: bucket.label(from, i as i64),
            new: l[0],
            returning: l[1],
            resurrecting: l[2],
            dormant: l[3],
        })
        .collect();
    Ok(Cohorts {
        spec: spec.clone(),
        cohorts: cohort_rows,
        lifecycle,
    })
}

impl Cohorts {
    /// The tables: `cohorts` (long form: cohort, age, customers, retained, rate) and `lifecycle`.
    pub fn tables(&self) -> Vec<Table> {
        let mut c = Table::new(
            "cohorts",
            &["cohort", "age", "customers", "retained", "rate"],
        );
        for row in &self.cohorts {
            for (age, (&k, &r)) in row.retained.iter().zip(&row.rates).enumerate() {
                c.push(vec![
                    row.cohort.as_str().into(),
                    age.into(),
                    row.customers.into(),
                    k.into(),
                    r.into(),
                ]);
            }
        }
        let mut l = Table::new(
            "lifecycle",
            &["period", "new", "returning", "resurrecting", "dormant"],
        );
        for row in &self.lifecycle {
            l.push(vec![
                row.period.as_str().into(),
                row.new.into(),
                row.returning.into(),
                row.resurrecting.into(),
                row.dormant.into(),
            ]);
        }
        vec![c, l]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Event, EventType};

    #[test]
    fn buckets_count_days_and_calendar_months() {
        let origin = Timestamp::parse_date_or_datetime("2025-01-01").unwrap().0;
        let t = |s: &str| Timestamp::parse_date_or_datetime(s).unwrap().0;
        assert_eq!(Bucket::Days(30).index(origin, t("2025-01-31")), 1);
        assert_eq!(Bucket::Month.index(origin, t("2025-02-28")), 1);
        assert_eq!(Bucket::Month.index(origin, t("2024-12-31")), -1);
        assert_eq!(Bucket::Month.label(origin, 13), "2026-02");
        assert_eq!("30d".parse::<Bucket>().unwrap(), Bucket::Days(30));
        assert!("0d".parse::<Bucket>().is_err());
    }

    #[test]
    fn retention_and_lifecycle_follow_the_definitions() {
        let d = |x: f64| Timestamp(0).plus_days(x);
        let events = vec![
            // a: active in buckets 0, 1, 3 (10-day buckets).
            Event::new("a", d(1.0), EventType::Visit),
            Event::new("a", d(12.0), EventType::Visit),
            Event::new("a", d(35.0), EventType::Visit),
            // b: starts in bucket 1, stays.
            Event::new("b", d(15.0), EventType::Visit),
            Event::new("b", d(25.0), EventType::Visit),
        ];
        let log = EventLog::from_events(&events);
        let spec = CohortSpec {
            basis: CohortBasis::FirstActivity,
            bucket: Bucket::Days(10),
            retained: Retained::Activity,
        };
        let c = cohorts(&log, &[true, true], None, &spec, 0, d(40.0).0).unwrap();
        assert_eq!(c.cohorts[0].retained, [1, 1, 0, 1]);
        assert_eq!(c.cohorts[1].retained, [1, 1, 0]);
        let l: Vec<[u64; 4]> = c
            .lifecycle
            .iter()
            .map(|r| [r.new, r.returning, r.resurrecting, r.dormant])
            .collect();
        assert_eq!(l, [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1]]);
    }
}
