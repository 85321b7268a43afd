//! Queries as text parameters (an HTTP query string, a report's settings) turned into the
//! analyses' checked specs, with errors that name the parameter; and the dashboard, every
//! analysis of the journey pages at once.

use serde::{Deserialize, Serialize};

use super::attribution::{attribution, Attribution};
use super::clv::{clv, ClvReport, Horizon};
use super::cohorts::{cohorts, midnight, Bucket, CohortBasis, CohortSpec, Cohorts, Retained};
use super::compare::compare_paths;
use super::error::{AnalyticsError, Result};
use super::funnel::{funnel, Breakdown, Funnel, FunnelSpec, OrderMode, StepSpec};
use super::incremental::incremental;
use super::kpis::{kpis, Kpis};
use super::log::EventLog;
use super::pain::{pain_points, PainOutcome, PainPoints, PainSpec};
use super::paths::{paths, Direction, NodeLabel, PathSpec, Paths};
use super::scope::{AttributeCondition, Period, SegmentSpec};
use super::text::{aspect_trends, text_sentiment, TextTags};
use crate::features::aspects::Taxonomy;
use crate::journey::{CustomerTable, Timestamp};
use crate::models::registry::ModelSet;
use std::sync::{Arc, OnceLock};

/// Every parameter of every analysis; each analysis reads the ones it knows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// Period start (`YYYY-MM-DD` or RFC 3339).
    pub from: Option<String>,
    /// Period end (excluded).
    pub to: Option<String>,
    /// Segment conditions, comma-separated `column=value` / `column!=value`.
    #[serde(rename = "where")]
    pub conditions: Option<String>,
    /// Segment ids, comma-separated.
    pub ids: Option<String>,
    /// Funnel steps, comma-separated (`visit,add_to_cart,purchase`).
    pub steps: Option<String>,
    /// Funnel window in days.
    pub window: Option<f64>,
    /// Funnel order: `ordered`, `strict`, `any`.
    pub order: Option<String>,
    /// Funnel breakdown: `channel` or a customer column.
    pub breakdown: Option<String>,
    /// Session gap in minutes.
    pub gap: Option<f64>,
    /// Paths: event types left out, comma-separated.
    pub exclude: Option<String>,
    /// Paths: name nodes by type and channel.
    pub by_channel: Option<bool>,
    /// Paths: keep repeated events.
    pub keep_repeats: Option<bool>,
    /// Paths: the Sankey's anchor.
    pub anchor: Option<String>,
    /// Paths: `after` or `before`.
    pub direction: Option<String>,
    /// Paths: steps from the anchor.
    #[param(maximum = 1_000_000)]
    pub depth: Option<usize>,
    /// Paths: a second segment shown beside the first (conditions like `where`).
    pub compare: Option<String>,
    /// How many top paths (or CLV customers).
    #[param(maximum = 1_000_000)]
    pub top: Option<usize>,
    /// Cohorts: `first-purchase`, `first-activity`, `signup`.
    pub cohort: Option<String>,
    /// Cohorts: `month`, `week`, `day`, `Nd`.
    pub period: Option<String>,
    /// Cohorts: `activity` or `purchase`.
    pub retained: Option<String>,
    /// CLV: months ahead.
    #[param(minimum = 1, maximum = 600)]
    pub months: Option<u32>,
    /// CLV: monthly discount rate.
    pub discount: Option<f64>,
    /// Pain points: `cancel` or `quiet`.
    pub outcome: Option<String>,
    /// Pain points: days after the event in which the outcome counts.
    pub pain_window: Option<f64>,
    /// Pain points: fewest exposed customers listed.
    #[param(maximum = 1_000_000_000_000u64)]
    pub min_support: Option<u64>,
    /// Attribution: days before an order in which a contact counts.
    pub touch_window: Option<f64>,
}

fn list(text: &Option<String>) -> Vec<String> {
    text.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn time(field: &str, text: &Option<String>) -> Result<Option<Timestamp>> {
    text.as_deref()
        .map(|t| {
            Timestamp::parse_date_or_datetime(t)
                .map_err(|e| AnalyticsError::invalid(field, e.to_string()))
        })
        .transpose()
}

/// A log with its customer table (and the models, when loaded): what the analyses run on.
pub struct JourneyData {
    /// The events.
    pub log: EventLog,
    /// The customer table, if one was given.
    pub table: Option<CustomerTable>,
    /// The models: sentiment scores customer text, the conversion model estimates what each
    /// contact added.
    pub models: Option<Arc<ModelSet>>,
    tags: OnceLock<Option<TextTags>>,
}

impl JourneyData {
    /// A log and its customer table, without models.
    pub fn new(log: EventLog, table: Option<CustomerTable>) -> Self {
        JourneyData {
            log,
            table,
            models: None,
            tags: OnceLock::new(),
        }
    }

    /// The same data with models.
    pub fn with_models(mut self, models: Arc<ModelSet>) -> Self {
        self.models = Some(models);
        self.tags = OnceLock::new();
        self
    }

    /// The log's texts scored by the sentiment model with the default aspect taxonomy, once
    /// (`None` without a sentiment model or without text in the log).
    pub fn text_tags(&self) -> Option<&TextTags> {
        self.tags
            .get_or_init(|| {
                let scorer = self.models.as_ref()?.sentiment.as_ref()?;
                let taxonomy = Taxonomy::shared_default()?;
                (!self.log.text.is_empty()).then(|| TextTags::new(&self.log, taxonomy, scorer))
            })
            .as_ref()
    }
}

/// The resolved scope of a query.
pub struct Scope {
    /// Per customer: in the segment.
    pub members: Vec<bool>,
    /// Period start.
    pub from: i64,
    /// Period end.
    pub to: i64,
    /// Whether the start was given (else it is the first event).
    pub from_given: bool,
}

impl AnalyticsQuery {
    /// The segment and period.
    pub fn scope(&self, data: &JourneyData) -> Result<Scope> {
        let period = Period::checked(time("from", &self.from)?, time("to", &self.to)?)?;
        let conditions = list(&self.conditions)
            .iter()
            .map(|c| AttributeCondition::parse(c))
            .collect::<Result<Vec<_>>>()?;
        let ids = self.ids.as_ref().map(|_| list(&self.ids));
        let segment = SegmentSpec { conditions, ids };
        let members = segment.members(&data.log, data.table.as_ref())?;
        let (from, to) = period.resolve(&data.log);
        Ok(Scope {
            members,
            from,
            to,
            from_given: self.from.is_some(),
        })
    }

    /// The funnel spec (default steps: visit, add_to_cart, purchase within 7 days).
    pub fn funnel_spec(&self) -> Result<FunnelSpec> {
        let mut steps = list(&self.steps);
        if steps.is_empty() {
            steps = ["visit", "add_to_cart", "purchase"]
                .map(String::from)
                .to_vec();
        }
        Ok(FunnelSpec {
            steps: steps
                .iter()
                .map(|s| s.parse::<StepSpec>())
                .collect::<Result<_>>()?,
            window_days: self.window.unwrap_or(7.0),
            order: self
                .order
                .as_deref()
                .unwrap_or("ordered")
                .parse::<OrderMode>()?,
            breakdown: self
                .breakdown
                .as_deref()
                .unwrap_or("none")
                .parse::<Breakdown>()?,
        })
    }

    /// Refuses counts beyond the bounds the API document declares (`top`, `depth` up to
    /// 1,000,000; `min_support` up to 10^12), whatever the query asks of them.
    pub fn check_bounds(&self) -> Result<()> {
        for (name, value) in [("top", self.top), ("depth", self.depth)] {
            if let Some(value) = value.filter(|v| *v > 1_000_000) {
                return Err(AnalyticsError::invalid(
                    name,
                    format!("must be at most 1000000, got {value}"),
                ));
            }
        }
        if let Some(value) = self.min_support.filter(|v| *v > 1_000_000_000_000) {
            return Err(AnalyticsError::invalid(
                "min_support",
                format!("must be at most 1000000000000, got {value}"),
            ));
        }
        Ok(())
    }

    /// The paths spec.
    pub fn path_spec(&self) -> Result<PathSpec> {
        let defaults = PathSpec::default();
        Ok(PathSpec {
            gap_minutes: self.gap.unwrap_or(defaults.gap_minutes),
            collapse_repeats: !self.keep_repeats.unwrap_or(false),
            label: if self.by_channel.unwrap_or(false) {
                NodeLabel::EventTypeAndChannel
            } else {
                NodeLabel::EventType
            },
            exclude: list(&self.exclude),
            top: self.top.unwrap_or(defaults.top),
            max_path_steps: defaults.max_path_steps,
            anchor: self
                .anchor
                .as_deref()
                .filter(|a| !a.is_empty())
                .map(|a| {
                    a.parse::<StepSpec>().map_err(|e| match e {
                        AnalyticsError::InvalidQuery { problem, .. } => {
                            AnalyticsError::invalid("anchor", problem)
                        }
                        other => other,
                    })
                })
                .transpose()?,
            direction: self
                .direction
                .as_deref()
                .unwrap_or("after")
                .parse::<Direction>()?,
            steps: self.depth.unwrap_or(defaults.steps),
        })
    }

    /// The cohort spec (default: first purchase, months, any activity).
    pub fn cohort_spec(&self) -> Result<CohortSpec> {
        let basis = match self.cohort.as_deref().unwrap_or("first-purchase") {
            "first-purchase" => CohortBasis::FirstPurchase,
            "first-activity" => CohortBasis::FirstActivity,
            "signup" => CohortBasis::Signup("signup_date".into()),
            other => {
                return Err(AnalyticsError::invalid(
                    "cohort",
                    format!("'{other}' is not first-purchase, first-activity or signup"),
                ))
            }
        };
        let retained = match self.retained.as_deref().unwrap_or("activity") {
            "activity" => Retained::Activity,
            "purchase" => Retained::Purchase,
            other => {
                return Err(AnalyticsError::invalid(
                    "retained",
                    format!("'{other}' is not activity or purchase"),
                ))
            }
        };
        Ok(CohortSpec {
            basis,
            bucket: self
                .period
                .as_deref()
                .unwrap_or("month")
                .parse::<Bucket>()?,
            retained,
        })
    }

    /// The CLV horizon (default 12 months at 1% a month).
    pub fn horizon(&self) -> Result<Horizon> {
        let months = self.months.unwrap_or(12);
        if months == 0 || months > 600 {
            return Err(AnalyticsError::invalid(
                "months",
                format!("must be 1 to 600, got {months}"),
            ));
        }
        let discount = self.discount.unwrap_or(0.01);
        if !(0.0..1.0).contains(&discount) {
            return Err(AnalyticsError::invalid(
                "discount",
                format!("must be in [0, 1), got {discount}"),
            ));
        }
        Ok(Horizon {
            months,
            monthly_discount_rate: discount,
            units_per_month: 365.25 / 12.0 / 7.0,
        })
    }

    /// KPIs (with the mean sentiment of customer text when a sentiment model is loaded).
    pub fn kpis(&self, data: &JourneyData) -> Result<Kpis> {
        let s = self.scope(data)?;
        let mut k = kpis(&data.log, &s.members, s.from, s.to);
        k.text_sentiment = data
            .text_tags()
            .map(|tags| text_sentiment(&data.log, tags, &s.members, s.from, s.to));
        Ok(k)
    }

    /// Funnel.
    pub fn funnel(&self, data: &JourneyData) -> Result<Funnel> {
        let spec = self.funnel_spec()?;
        let s = self.scope(data)?;
        funnel(
            &data.log,
            &s.members,
            data.table.as_ref(),
            &spec,
            s.from,
            s.to,
        )
    }

    /// Paths, with a second segment beside them when `compare` is given.
    pub fn paths(&self, data: &JourneyData) -> Result<Paths> {
        let spec = self.path_spec()?;
        let s = self.scope(data)?;
        let mut first = paths(&data.log, &s.members, &spec, s.from, s.to)?;
        if let Some(compare) = self.compare.as_deref().filter(|c| !c.trim().is_empty()) {
            let conditions = list(&self.compare)
                .iter()
                .map(|c| {
                    AttributeCondition::parse(c).map_err(|e| match e {
                        AnalyticsError::InvalidQuery { problem, .. } => {
                            AnalyticsError::invalid("compare", problem)
                        }
                        other => other,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let segment = SegmentSpec {
                conditions,
                ids: None,
            };
            let members = segment
                .members(&data.log, data.table.as_ref())
                .map_err(|e| match e {
                    AnalyticsError::InvalidQuery { problem, .. } => {
                        AnalyticsError::invalid("compare", problem)
                    }
                    other => other,
                })?;
            let second = paths(&data.log, &members, &spec, s.from, s.to)?;
            first.compared = Some(Box::new(compare_paths(&first, second, compare)));
        }
        Ok(first)
    }

    /// Cohorts (buckets from midnight of the first event unless `from` is given).
    pub fn cohorts(&self, data: &JourneyData) -> Result<Cohorts> {
        let spec = self.cohort_spec()?;
        let s = self.scope(data)?;
        let from = if s.from_given {
            s.from
        } else {
            midnight(s.from)
        };
        cohorts(
            &data.log,
            &s.members,
            data.table.as_ref(),
            &spec,
            from,
            s.to,
        )
    }

    /// The pain-point spec (default: cancel within 30 days, support 30).
    pub fn pain_spec(&self) -> Result<PainSpec> {
        let outcome = match self.outcome.as_deref().unwrap_or("cancel") {
            "cancel" => PainOutcome::Cancel,
            "quiet" => PainOutcome::Quiet,
            other => {
                return Err(AnalyticsError::invalid(
                    "outcome",
                    format!("'{other}' is not cancel or quiet"),
                ))
            }
        };
        Ok(PainSpec {
            outcome,
            window_days: self.pain_window.unwrap_or(30.0),
            min_support: self.min_support.unwrap_or(30),
        })
    }

    /// Pain points.
    pub fn pain_points(&self, data: &JourneyData) -> Result<PainPoints> {
        let spec = self.pain_spec()?;
        let s = self.scope(data)?;
        let tags = data.text_tags();
        let mut p = pain_points(&data.log, &s.members, &spec, tags, s.from, s.to)?;
        // Negative aspects over time, in the cohorts' buckets (months by default).
        let bucket = self.cohort_spec()?.bucket;
        let from = if s.from_given {
            s.from
        } else {
            midnight(s.from)
        };
        p.negative_aspects =
            tags.map(|t| aspect_trends(&data.log, t, &s.members, bucket, from, s.to));
        Ok(p)
    }

    /// First- and last-touch attribution (default window 7 days).
    pub fn attribution(&self, data: &JourneyData) -> Result<Attribution> {
        let s = self.scope(data)?;
        let mut a = attribution(
            &data.log,
            &s.members,
            self.touch_window.unwrap_or(7.0),
            s.from,
            s.to,
        )?;
        if let Some(models) = data.models.as_deref().filter(|m| m.conversion.is_some()) {
            let estimate = incremental(
                &data.log,
                &s.members,
                data.table.as_ref(),
                models,
                s.from,
                s.to,
            )?;
            a.add_incremental(estimate);
        }
        Ok(a)
    }

    /// Customer lifetime value, fitted on the orders before `to`; the top customers only.
    pub fn clv(&self, data: &JourneyData) -> Result<ClvReport> {
        let horizon = self.horizon()?;
        let s = self.scope(data)?;
        let mut report = clv(&data.log, &s.members, s.to, &horizon)?;
        report.values.truncate(self.top.unwrap_or(20).min(1000));
        Ok(report)
    }

    /// Every analysis of the journey pages; CLV is left out (null) where it cannot be fitted
    /// (too few repeat buyers). Without an anchor, the Sankey starts at the funnel's first step.
    pub fn dashboard(&self, data: &JourneyData) -> Result<Dashboard> {
        let funnel = self.funnel(data)?;
        let mut with_anchor = self.clone();
        if with_anchor.anchor.as_deref().is_none_or(str::is_empty) {
            with_anchor.anchor = funnel.spec.steps.first().map(StepSpec::label);
        }
        Ok(Dashboard {
            kpis: self.kpis(data)?,
            paths: with_anchor.paths(data)?,
            funnel,
            cohorts: self.cohorts(data)?,
            pain_points: self.pain_points(data)?,
            attribution: self.attribution(data)?,
            clv: self.clv(data).ok(),
        })
    }
}

/// Everything the journey page and the report show.
#[derive(Clone, Debug, Serialize)]
pub struct Dashboard {
    /// KPIs.
    pub kpis: Kpis,
    /// The funnel.
    pub funnel: Funnel,
    /// Paths.
    pub paths: Paths,
    /// Cohorts and lifecycle.
    pub cohorts: Cohorts,
    /// Pain points.
    pub pain_points: PainPoints,
    /// First- and last-touch attribution.
    pub attribution: Attribution,
    /// Customer lifetime value, when it could be fitted.
    pub clv: Option<ClvReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_parameters_are_named() {
        let q = AnalyticsQuery {
            order: Some("sideways".into()),
            ..AnalyticsQuery::default()
        };
        assert_eq!(q.funnel_spec().unwrap_err().field(), Some("order"));
        let q = AnalyticsQuery {
            anchor: Some("@x".into()),
            ..AnalyticsQuery::default()
        };
        assert_eq!(q.path_spec().unwrap_err().field(), Some("anchor"));
        let q = AnalyticsQuery {
            top: Some(1_000_001),
            ..AnalyticsQuery::default()
        };
        assert_eq!(q.check_bounds().unwrap_err().field(), Some("top"));
        let q = AnalyticsQuery {
            top: Some(1_000_000),
            depth: Some(3),
            ..AnalyticsQuery::default()
        };
        assert!(q.check_bounds().is_ok());
        let q = AnalyticsQuery {
            discount: Some(2.0),
            ..AnalyticsQuery::default()
        };
        assert_eq!(q.horizon().unwrap_err().field(), Some("discount"));
    }
}
