//! Pain points: the events after which customers cancel (or go quiet) more often than others.
//!
//! For each event type E, a segment customer active in the period is *exposed* if E happens in
//! the period; the outcome is counted within the window after their first E. Unexposed active
//! customers are counted from their first activity in the period. A customer whose window runs
//! past the end of the data is left out (the outcome could not be seen). The lift is the
//! relative risk exposed / unexposed with Katz's log interval (95%); event types with fewer
//! exposed customers than the minimum support are not listed.
//!
//! With scored texts ([`TextTags`]), each aspect is a trigger too (`aspect:delivery`): a customer
//! is exposed from their first negative mention of it in the period.

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::EventLog;
use super::table::Table;
use super::text::TextTags;
use crate::journey::Timestamp;

/// What counts as a bad outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PainOutcome {
    /// A `cancel` event within the window.
    Cancel,
    /// No activity at all within the window.
    Quiet,
}

/// A pain-point query.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PainSpec {
    /// The outcome.
    pub outcome: PainOutcome,
    /// Days after the event in which the outcome counts.
    pub window_days: f64,
    /// Fewest exposed customers for an event type to be listed.
    pub min_support: u64,
}

/// One event type's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PainPoint {
    /// The event type, or `aspect:NAME` for a negative mention of an aspect.
    pub event_type: String,
    /// Exposed customers (whose window fits in the data).
    pub exposed: u64,
    /// Of those, with the outcome.
    pub exposed_outcomes: u64,
    /// Unexposed customers.
    pub unexposed: u64,
    /// Of those, with the outcome.
    pub unexposed_outcomes: u64,
    /// Outcome rate of the exposed.
    pub rate: f64,
    /// Outcome rate of the unexposed.
    pub base_rate: Option<f64>,
    /// rate / base rate.
    pub lift: Option<f64>,
    /// 95% interval of the lift.
    pub lift_interval: Option<(f64, f64)>,
}

/// Pain points, highest lift first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PainPoints {
    /// The query.
    pub spec: PainSpec,
    /// One row per event type with enough support.
    pub points: Vec<PainPoint>,
    /// The most frequent negative aspects of customer text over time (when texts were scored).
    #[serde(default)]
    pub negative_aspects: Option<super::text::AspectTrends>,
}

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Computes pain points over `[from, to)`; with `tags`, negative aspect mentions are triggers too.
pub fn pain_points(
    log: &EventLog,
    members: &[bool],
    spec: &PainSpec,
    tags: Option<&TextTags>,
    from: i64,
    to: i64,
) -> Result<PainPoints> {
    if !(spec.window_days > 0.0 && spec.window_days <= 3660.0) {
        return Err(AnalyticsError::invalid(
            "window",
            format!("must be > 0 and ≤ 3660 days, got {}", spec.window_days),
        ));
    }
    let window = Timestamp(0).plus_days(spec.window_days).0;
    let data_end = log.span().map_or(0, |(_, last)| last.0 + 1);
    let cancel = log.kind_of("cancel");
    let event_kinds = log.types.len();
    let aspects = tags.map_or(0, |t| t.aspects.len());
    let kinds = event_kinds + aspects;
    let negative: &[(u32, u32)] = tags.map_or(&[], |t| &t.negative);
    // Per trigger (event types, then aspects): exposed, exposed outcomes, unexposed, unexposed
    // outcomes.
    let mut counts = vec![[0u64; 4]; kinds];
    let mut first_of: Vec<Option<i64>> = vec![None; kinds];
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let events = log.events_of(c);
        first_of.iter_mut().for_each(|f| *f = None);
        let mut first_activity = None;
        for i in events.clone() {
            let t = log.time[i];
            if t >= to {
                break;
            }
            if t < from {
                continue;
            }
            if first_activity.is_none() && log.is_activity(i) {
                first_activity = Some(t);
            }
            let k = log.kind[i] as usize;
            if first_of[k].is_none() {
                first_of[k] = Some(t);
            }
        }
        // Negative mentions are in log order: this customer's are one run.
        let at = negative.partition_point(|&(i, _)| (i as usize) < events.start);
        for &(i, a) in negative[at..]
            .iter()
            .take_while(|&&(i, _)| (i as usize) < events.end)
        {
            let t = log.time[i as usize];
            let slot = &mut first_of[event_kinds + a as usize];
            if t >= from && t < to && slot.is_none() {
                *slot = Some(t);
            }
        }
        let Some(start) = first_activity else {
            continue;
        };
        let outcome_after = |t0: i64| -> bool {
            let end = t0 + window;
            let mut active = false;
            for i in events.clone() {
                let t = log.time[i];
                if t <= t0 {
                    continue;
                }
                if t > end {
                    break;
                }
                match spec.outcome {
                    PainOutcome::Cancel if Some(log.kind[i]) == cancel => return true,
                    PainOutcome::Quiet => active |= log.is_activity(i),
                    _ => {}
                }
            }
            spec.outcome == PainOutcome::Quiet && !active
        };
        let base = (start + window < data_end).then(|| outcome_after(start));
        for k in 0..kinds {
            if Some(k as u32) == cancel {
                continue;
            }
            match first_of[k] {
                Some(t) => {
                    if t + window < data_end {
                        counts[k][0] += 1;
                        counts[k][1] += u64::from(outcome_after(t));
                    }
                }
                None => {
                    if let Some(b) = base {
                        counts[k][2] += 1;
                        counts[k][3] += u64::from(b);
                    }
                }
            }
        }
    }
    let mut points: Vec<PainPoint> = (0..kinds)
        .filter(|&k| Some(k as u32) != cancel && counts[k][0] >= spec.min_support.max(1))
        .map(|k| {
            let [n1, a, n2, b] = counts[k];
            let rate = a as f64 / n1 as f64;
            let base_rate = (n2 > 0).then(|| b as f64 / n2 as f64);
            let lift = base_rate.filter(|&r| r > 0.0).map(|r| rate / r);
            let lift_interval = lift.filter(|_| a > 0 && b > 0).map(|l| {
                let se =
                    (1.0 / a as f64 - 1.0 / n1 as f64 + 1.0 / b as f64 - 1.0 / n2 as f64).sqrt();
                ((l.ln() - Z95 * se).exp(), (l.ln() + Z95 * se).exp())
            });
            PainPoint {
                event_type: match k.checked_sub(event_kinds) {
                    None => log.types.name(k as u32).to_string(),
                    Some(a) => tags.map_or(String::new(), |t| format!("aspect:{}", t.aspects[a])),
                },
                exposed: n1,
                exposed_outcomes: a,
                unexposed: n2,
                unexposed_outcomes: b,
                rate,
                base_rate,
                lift,
                lift_interval,
            }
        })
        .collect();
    points.sort_by(|x, y| {
        y.lift
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&x.lift.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| x.event_type.cmp(&y.event_type))
    });
    Ok(PainPoints {
        spec: *spec,
        points,
        negative_aspects: None,
    })
}

impl PainPoints {
    /// One row per event type.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            "pain_points",
            &[
                "event_type",
                "exposed",
                "outcomes",
                "rate",
                "base_rate",
                "lift",
                "lift_low",
                "lift_high",
            ],
        );
        for p in &self.points {
            t.push(vec![
                p.event_type.as_str().into(),
                p.exposed.into(),
                p.exposed_outcomes.into(),
                p.rate.into(),
                p.base_rate.into(),
                p.lift.into(),
                p.lift_interval.map(|i| i.0).into(),
                p.lift_interval.map(|i| i.1).into(),
            ]);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Event, EventType};

    #[test]
    fn complaints_that_precede_cancels_have_lift() {
        let d = |x: f64| Timestamp(0).plus_days(x);
        let mut events = Vec::new();
        for i in 0..10 {
            let id = format!("c{i}");
            events.push(Event::new(&id, d(1.0), EventType::Visit));
            if i < 4 {
                events.push(Event::new(&id, d(2.0), EventType::Complaint));
                if i < 3 {
                    events.push(Event::new(&id, d(5.0), EventType::Cancel));
                }
            } else if i == 9 {
                events.push(Event::new(&id, d(6.0), EventType::Cancel));
            }
        }
        events.push(Event::new("z", d(100.0), EventType::Visit));
        let log = EventLog::from_events(&events);
        let spec = PainSpec {
            outcome: PainOutcome::Cancel,
            window_days: 30.0,
            min_support: 2,
        };
        let members = vec![true; log.customer_count()];
        let p = pain_points(&log, &members, &spec, None, 0, d(50.0).0).unwrap();
        let complaint = p
            .points
            .iter()
            .find(|p| p.event_type == "complaint")
            .unwrap();
        assert_eq!((complaint.exposed, complaint.exposed_outcomes), (4, 3));
        assert_eq!((complaint.unexposed, complaint.unexposed_outcomes), (6, 1));
        assert!((complaint.lift.unwrap() - 0.75 / (1.0 / 6.0)).abs() < 1e-12);
        let (low, high) = complaint.lift_interval.unwrap();
        assert!(low < 4.5 && high > 4.5);
        assert_eq!(p.points[0].event_type, "complaint");
    }
}
