//! Funnels: how many customers go through ordered steps within a conversion window.
//!
//! A customer enters with a first-step event inside the period; from each such start the steps
//! are matched greedily (the earliest matching event after the previous step, within the window
//! from the start), and the start that gets furthest counts (the earliest among equals), as in
//! PostHog. Order modes:
//! - `ordered`: other events may come between steps;
//! - `strict`: each step must be the customer's very next event;
//! - `any`: the steps may happen in any order within the window from the first of them; step k
//!   counts the customers who did at least k of the steps.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::EventLog;
use super::scope::attribute_label;
use super::table::Table;
use crate::journey::{CustomerTable, Timestamp};

/// One step: an event type, optionally narrowed to a channel and an action.
///
/// Written `type`, `type@channel`, `type#action` or `type@channel#action`
/// (`action#email_discount`, `click@push`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    /// The event type.
    pub event_type: String,
    /// The channel, if the step needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The action id, if the step needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl StepSpec {
    /// Whether the step names a channel or an action (the log must have read them).
    pub fn uses_details(&self) -> bool {
        self.channel.is_some() || self.action.is_some()
    }

    /// The step as written.
    pub fn label(&self) -> String {
        let mut s = self.event_type.clone();
        if let Some(c) = &self.channel {
            s.push('@');
            s.push_str(c);
        }
        if let Some(a) = &self.action {
            s.push('#');
            s.push_str(a);
        }
        s
    }
}

impl FromStr for StepSpec {
    type Err = AnalyticsError;
    fn from_str(text: &str) -> Result<Self> {
        let (rest, action) = match text.split_once('#') {
            Some((r, a)) => (r, Some(a.trim().to_string())),
            None => (text, None),
        };
        let (event_type, channel) = match rest.split_once('@') {
            Some((e, c)) => (e.trim(), Some(c.trim().to_string())),
            None => (rest.trim(), None),
        };
        if event_type.is_empty() || channel.as_deref() == Some("") || action.as_deref() == Some("")
        {
            return Err(AnalyticsError::invalid(
                "steps",
                format!("'{text}' is not type, type@channel, type#action or type@channel#action"),
            ));
        }
        Ok(StepSpec {
            event_type: event_type.to_string(),
            channel,
            action,
        })
    }
}

/// How steps must follow each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderMode {
    /// In order, other events allowed between.
    #[default]
    Ordered,
    /// In order, nothing between.
    Strict,
    /// In any order.
    Any,
}

impl FromStr for OrderMode {
    type Err = AnalyticsError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ordered" => Ok(OrderMode::Ordered),
            "strict" => Ok(OrderMode::Strict),
            "any" => Ok(OrderMode::Any),
            other => Err(AnalyticsError::invalid(
                "order",
                format!("'{other}' is not ordered, strict or any"),
            )),
        }
    }
}

/// What to split a funnel by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Breakdown {
    /// No split.
    #[default]
    None,
    /// The channel of the first step's event.
    Channel,
    /// A customer table column.
    Attribute(String),
}

impl FromStr for Breakdown {
    type Err = AnalyticsError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "" | "none" => Breakdown::None,
            "channel" => Breakdown::Channel,
            column => Breakdown::Attribute(column.to_string()),
        })
    }
}

/// A funnel query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelSpec {
    /// The steps, at least two.
    pub steps: Vec<StepSpec>,
    /// The conversion window from the first step, in days.
    pub window_days: f64,
    /// How the steps must follow each other.
    #[serde(default)]
    pub order: OrderMode,
    /// What to split by.
    #[serde(default)]
    pub breakdown: Breakdown,
}

impl FunnelSpec {
    /// Whether the funnel looks at channels or actions (a step naming one, a channel
    /// breakdown); if not, the log can be read without them ([`super::LogOptions::details`]).
    pub fn uses_details(&self) -> bool {
        self.steps.iter().any(StepSpec::uses_details) || self.breakdown == Breakdown::Channel
    }

    /// Checks the step count and window.
    pub fn validate(&self) -> Result<()> {
        if self.steps.len() < 2 || self.steps.len() > 20 {
            return Err(AnalyticsError::invalid(
                "steps",
                format!("a funnel needs 2 to 20 steps, got {}", self.steps.len()),
            ));
        }
        if !(self.window_days > 0.0 && self.window_days <= 3660.0) {
            return Err(AnalyticsError::invalid(
                "window",
                format!("must be > 0 and ≤ 3660 days, got {}", self.window_days),
            ));
        }
        Ok(())
    }
}

/// One step's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelStep {
    /// The step as written.
    pub step: String,
    /// Customers who reached it.
    pub customers: u64,
    /// Share of the previous step's customers (1 for the first step).
    pub conversion_from_previous: Option<f64>,
    /// Share of the first step's customers.
    pub conversion_from_start: Option<f64>,
    /// Customers of the previous step who did not reach this one.
    pub drop_off: u64,
    /// Median time from the previous step, in seconds.
    pub median_seconds: Option<f64>,
    /// Mean time from the previous step, in seconds.
    pub mean_seconds: Option<f64>,
}

/// A funnel for one breakdown group (`all` without a breakdown).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunnelGroup {
    /// The group's label.
    pub group: String,
    /// The steps in order.
    pub steps: Vec<FunnelStep>,
}

/// A funnel's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    /// The query.
    pub spec: FunnelSpec,
    /// `all` first, then each breakdown group by descending size.
    pub groups: Vec<FunnelGroup>,
}

/// Compiled step: indices to compare against.
struct Matcher {
    kind: Option<u32>,
    channel: Option<Option<u32>>,
    action: Option<Option<u32>>,
}

impl Matcher {
    fn new(log: &EventLog, step: &StepSpec) -> Self {
        Matcher {
            kind: log.kind_of(&step.event_type),
            channel: step.channel.as_deref().map(|c| log.channels.get(c)),
            action: step.action.as_deref().map(|a| log.actions.get(a)),
        }
    }

    fn matches(&self, log: &EventLog, i: usize) -> bool {
        // A name the log lacks (None) matches nothing.
        self.kind == Some(log.kind[i])
            && self.channel.is_none_or(|c| c == Some(log.channel[i]))
            && self.action.is_none_or(|a| a == Some(log.action[i]))
    }
}

/// One customer's best attempt: steps reached, each step's time, the start event.
struct Attempt {
    reached: usize,
    times: Vec<i64>,
    start: usize,
}

fn ordered_from(
    log: &EventLog,
    steps: &[Matcher],
    start: usize,
    end: usize,
    window: i64,
    strict: bool,
) -> Attempt {
    let t0 = log.time[start];
    let mut times = vec![t0];
    let mut cur = start;
    for step in &steps[1..] {
        let mut found = None;
        let mut j = cur + 1;
        while j < end && log.time[j] - t0 <= window {
            if step.matches(log, j) {
                found = Some(j);
                break;
            }
            if strict {
                break;
            }
            j += 1;
        }
        match found {
            Some(j) => {
                times.push(log.time[j]);
                cur = j;
            }
            None => break,
        }
    }
    Attempt {
        reached: times.len(),
        times,
        start,
    }
}

fn any_from(log: &EventLog, steps: &[Matcher], start: usize, end: usize, window: i64) -> Attempt {
    let t0 = log.time[start];
    let mut done = vec![false; steps.len()];
    let mut times = Vec::new();
    let mut j = start;
    while j < end && log.time[j] - t0 <= window && times.len() < steps.len() {
        // An event counts for the first step it matches that is not done yet.
        if let Some(k) = (0..steps.len()).find(|&k| !done[k] && steps[k].matches(log, j)) {
            done[k] = true;
            times.push(log.time[j]);
        }
        j += 1;
    }
    Attempt {
        reached: times.len(),
        times,
        start,
    }
}

/// Runs a funnel over the customers where `members` is true, entering in `[from, to)`.
pub fn funnel(
    log: &EventLog,
    members: &[bool],
    table: Option<&CustomerTable>,
    spec: &FunnelSpec,
    from: i64,
    to: i64,
) -> Result<Funnel> {
    spec.validate()?;
    let steps: Vec<Matcher> = spec.steps.iter().map(|s| Matcher::new(log, s)).collect();
    let window = Timestamp(0).plus_days(spec.window_days).0;
    let column = match &spec.breakdown {
        Breakdown::Attribute(name) => {
            let table = table.ok_or_else(|| {
                AnalyticsError::invalid(
                    "breakdown",
                    "a breakdown by attribute needs a customer table",
                )
            })?;
            Some(
                table
                    .attributes
                    .iter()
                    .position(|a| &a.name == name)
                    .ok_or_else(|| {
                        AnalyticsError::invalid(
                            "breakdown",
                            format!("the customer table has no column '{name}'"),
                        )
                    })?,
            )
        }
        _ => None,
    };
    let mut groups: Vec<(String, Vec<Attempt>)> = vec![("all".to_string(), Vec::new())];
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let range = log.events_of(c);
        let mut best: Option<Attempt> = None;
        for s in range.clone() {
            let t = log.time[s];
            if t < from {
                continue;
            }
            if t >= to {
                break;
            }
            let attempt = match spec.order {
                OrderMode::Any => {
                    if !steps.iter().any(|m| m.matches(log, s)) {
                        continue;
                    }
                    any_from(log, &steps, s, range.end, window)
                }
                OrderMode::Ordered | OrderMode::Strict => {
                    if !steps[0].matches(log, s) {
                        continue;
                    }
                    ordered_from(
                        log,
                        &steps,
                        s,
                        range.end,
                        window,
                        spec.order == OrderMode::Strict,
                    )
                }
            };
            if best.as_ref().is_none_or(|b| attempt.reached > b.reached) {
                let complete = attempt.reached == steps.len();
                best = Some(attempt);
                if complete {
                    break;
                }
            }
        }
        let Some(best) = best else { continue };
        let label = match (&spec.breakdown, column) {
            (Breakdown::Channel, _) => {
                let ch = log.channel[best.start];
                if ch == 0 {
                    "(none)".to_string()
                } else {
                    log.channels.name(ch).to_string()
                }
            }
            (Breakdown::Attribute(_), Some(col)) => table
                .and_then(|t| t.get(&log.customers[c]))
                .map_or("(none)".to_string(), |row| attribute_label(&row[col])),
            _ => String::new(),
        };
        if spec.breakdown != Breakdown::None {
            match groups.iter_mut().skip(1).find(|(g, _)| *g == label) {
                Some((_, v)) => v.push(Attempt {
                    reached: best.reached,
                    times: best.times.clone(),
                    start: best.start,
                }),
                None => groups.push((
                    label,
                    vec![Attempt {
                        reached: best.reached,
                        times: best.times.clone(),
                        start: best.start,
                    }],
                )),
            }
        }
        groups[0].1.push(best);
    }
    let mut out: Vec<FunnelGroup> = groups
        .into_iter()
        .map(|(group, attempts)| FunnelGroup {
            group,
            steps: summarise(&spec.steps, &attempts),
        })
        .collect();
    out[1..].sort_by(|a, b| {
        b.steps[0]
            .customers
            .cmp(&a.steps[0].customers)
            .then_with(|| a.group.cmp(&b.group))
    });
    Ok(Funnel {
        spec: spec.clone(),
        groups: out,
    })
}

/// Median of a non-empty slice (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

fn summarise(steps: &[StepSpec], attempts: &[Attempt]) -> Vec<FunnelStep> {
    let mut out: Vec<FunnelStep> = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let customers = attempts.iter().filter(|a| a.reached > k).count() as u64;
        let mut durations: Vec<f64> = if k == 0 {
            Vec::new()
        } else {
            attempts
                .iter()
                .filter(|a| a.reached > k)
                .map(|a| (a.times[k] - a.times[k - 1]) as f64 / 1e6)
                .collect()
        };
        let mean =
            (!durations.is_empty()).then(|| durations.iter().sum::<f64>() / durations.len() as f64);
        let previous = out.last().map_or(customers, |p| p.customers);
        let first = out.first().map_or(customers, |p| p.customers);
        out.push(FunnelStep {
            step: step.label(),
            customers,
            conversion_from_previous: (previous > 0).then(|| customers as f64 / previous as f64),
            conversion_from_start: (first > 0).then(|| customers as f64 / first as f64),
            drop_off: previous - customers,
            median_seconds: median(&mut durations),
            mean_seconds: mean,
        });
    }
    out
}

impl Funnel {
    /// One row per group and step.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            "funnel",
            &[
                "group",
                "step",
                "customers",
                "conversion_from_previous",
                "conversion_from_start",
                "drop_off",
                "median_hours",
                "mean_hours",
            ],
        );
        for g in &self.groups {
            for s in &g.steps {
                t.push(vec![
                    g.group.as_str().into(),
                    s.step.as_str().into(),
                    s.customers.into(),
                    s.conversion_from_previous.into(),
                    s.conversion_from_start.into(),
                    s.drop_off.into(),
                    s.median_seconds.map(|x| x / 3600.0).into(),
                    s.mean_seconds.map(|x| x / 3600.0).into(),
                ]);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Event, EventType};

    fn spec(steps: &[&str], window_days: f64, order: OrderMode) -> FunnelSpec {
        FunnelSpec {
            steps: steps.iter().map(|s| s.parse().unwrap()).collect(),
            window_days,
            order,
            breakdown: Breakdown::None,
        }
    }

    #[test]
    fn order_modes_and_windows_decide_who_converts() {
        let d = |x: f64| Timestamp(0).plus_days(x);
        let events = vec![
            // a: visit, page_view, cart, purchase in two days: converts in every mode.
            Event::new("a", d(1.0), EventType::Visit),
            Event::new("a", d(1.5), EventType::PageView),
            Event::new("a", d(2.0), EventType::AddToCart),
            Event::new("a", d(3.0), EventType::Purchase),
            // b: purchase before cart: ordered stops at the cart, any-order counts both.
            Event::new("b", d(1.0), EventType::Visit),
            Event::new("b", d(2.0), EventType::Purchase),
            Event::new("b", d(3.0), EventType::AddToCart),
            // c: a late first visit fails the window, a second one converts.
            Event::new("c", d(1.0), EventType::Visit),
            Event::new("c", d(20.0), EventType::Visit),
            Event::new("c", d(20.5), EventType::AddToCart),
            Event::new("c", d(21.0), EventType::Purchase),
        ];
        let log = EventLog::from_events(&events);
        let all = [true; 3];
        let run = |s: &FunnelSpec| {
            funnel(&log, &all, None, s, 0, d(100.0).0).unwrap().groups[0]
                .steps
                .iter()
                .map(|s| s.customers)
                .collect::<Vec<_>>()
        };
        let steps = ["visit", "add_to_cart", "purchase"];
        assert_eq!(run(&spec(&steps, 7.0, OrderMode::Ordered)), [3, 3, 2]);
        // Strict: a's page view breaks the chain.
        assert_eq!(run(&spec(&steps, 7.0, OrderMode::Strict)), [3, 1, 1]);
        assert_eq!(run(&spec(&steps, 7.0, OrderMode::Any)), [3, 3, 3]);
        let f = funnel(
            &log,
            &all,
            None,
            &spec(&steps, 7.0, OrderMode::Ordered),
            0,
            d(100.0).0,
        )
        .unwrap();
        let purchase = &f.groups[0].steps[2];
        // a: cart → purchase 1 day; c: half a day.
        assert_eq!(purchase.median_seconds, Some(0.75 * 86400.0));
        assert_eq!(purchase.drop_off, 1);
        assert!("visit@".parse::<StepSpec>().is_err());
        let s: StepSpec = "click@push#offer".parse().unwrap();
        assert_eq!(s.label(), "click@push#offer");
    }
}
