//! The one sentence a marketer acts on, from the primary metric, the guardrails and the health
//! checks: trust problems first, then "too early", then who wins and at what cost.

use super::analysis::{AnalysisSettings, Comparison, MetricResult, MetricRole};
use super::definition::{Experiment, Metric};
use crate::stats::experiment::{HealthCode, HealthWarning};

fn label(metric: Metric) -> &'static str {
    match metric {
        Metric::ConversionRate => "conversion rate",
        Metric::RevenuePerCustomer => "revenue per customer",
        Metric::RevenuePerOrder => "revenue per order",
        Metric::ClickRate => "click rate",
        Metric::UnsubscribeRate => "unsubscribe rate",
        Metric::ComplaintRate => "complaint rate",
    }
}

/// A value as people read it: rates in percent, money with two decimals.
pub(crate) fn show(metric: Metric, value: f64) -> String {
    if metric.is_rate() {
        format!("{:.2}%", value * 100.0)
    } else {
        format!("{value:.2}")
    }
}

fn percent(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

/// The verdict.
pub(crate) fn sentence(
    experiment: &Experiment,
    metrics: &[MetricResult],
    health: &[HealthWarning],
    units: &[u64],
    settings: &AnalysisSettings,
) -> String {
    let total: u64 = units.iter().sum();
    if let Some(srm) = health
        .iter()
        .find(|h| h.code == HealthCode::SampleRatioMismatch)
    {
        return format!(
            "Do not act on these numbers yet: customers are not split across the arms as configured ({}). Fix the assignment first.",
            srm.message.trim_end_matches('.')
        );
    }
    let smallest = units.iter().copied().min().unwrap_or(0);
    if smallest < settings.min_units_per_arm {
        return format!(
            "Too early to tell: {total} customers so far, and every arm needs at least {} (the smallest has {smallest}). Keep it running.",
            settings.min_units_per_arm
        );
    }
    let Some(primary) = metrics.iter().find(|m| m.role == MetricRole::Primary) else {
        return "No primary metric to judge by.".to_string();
    };
    let name = label(primary.metric);
    let control = &primary.arms[0];
    let winners: Vec<&Comparison> = primary
        .comparisons
        .iter()
        .filter(|c| c.verdict == "better")
        .collect();
    let best = winners.iter().max_by(|a, b| {
        a.relative_lift
            .unwrap_or(0.0)
            .total_cmp(&b.relative_lift.unwrap_or(0.0))
    });
    let harmed: Vec<String> = metrics
        .iter()
        .filter(|m| m.role == MetricRole::Guardrail)
        .flat_map(|m| {
            m.comparisons
                .iter()
                .filter(|c| c.verdict == "worse")
                .map(move |c| format!("{} raises the {}", c.arm, label(m.metric)))
        })
        .collect();
    let interval_word = if settings.sequential {
        "always-valid interval"
    } else {
        "interval"
    };
    if let Some(best) = best {
        let treated = primary.arms.iter().find(|a| a.arm == best.arm);
        let interval = best.interval;
        let mut text = format!(
            "{} beats {}: {} {} against {} ({} relative, {:.0}% {} {} to {}",
            best.arm,
            control.arm,
            name,
            treated.map_or_else(String::new, |a| show(primary.metric, a.mean)),
            show(primary.metric, control.mean),
            best.relative_lift.map_or_else(|| "?".into(), percent),
            (1.0 - settings.alpha) * 100.0,
            interval_word,
            interval.map_or_else(|| "?".into(), |i| percent(i[0])),
            interval.map_or_else(|| "?".into(), |i| percent(i[1])),
        );
        match best.chance_to_win {
            Some(p) => text.push_str(&format!(", {:.0}% chance to be better)", p * 100.0)),
            None => text.push(')'),
        }
        if harmed.is_empty() {
            text.push_str(&format!(" over {total} customers. Roll it out."));
        } else {
            text.push_str(&format!(
                ", but {}: weigh that before rolling it out.",
                harmed.join(" and ")
            ));
        }
        return text;
    }
    if let Some(worse) = primary.comparisons.iter().find(|c| c.verdict == "worse") {
        return format!(
            "{} does worse than {} on {} ({} relative) over {total} customers: keep {}.",
            worse.arm,
            control.arm,
            name,
            worse.relative_lift.map_or_else(|| "?".into(), percent),
            control.arm
        );
    }
    let widest = primary
        .comparisons
        .iter()
        .filter_map(|c| c.interval)
        .map(|i| (i[1] - i[0]) / 2.0)
        .fold(0.0_f64, f64::max);
    let mut text = format!(
        "No arm differs from {} on {} yet ({total} customers{}): keep it running, or accept that any difference is smaller than about {}.",
        control.arm,
        name,
        if experiment.status == super::Status::Stopped {
            ", stopped"
        } else {
            ""
        },
        percent(widest).trim_start_matches('+')
    );
    if !harmed.is_empty() {
        text.push_str(&format!(" Meanwhile {}.", harmed.join(" and ")));
    }
    text
}
