//! What an experiment is: its definition as a client writes it ([`ExperimentSpec`], unchecked)
//! and as the service keeps it ([`Experiment`], checked), its arms, metrics and status.

use serde::{Deserialize, Serialize};

use super::assignment::BUCKETS;
use super::ExperimentError;
use crate::journey::Timestamp;

/// Longest experiment id, arm name or layer name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Most arms an experiment may have.
pub const MAX_ARMS: usize = 10;
/// Longest attribution window, in days.
pub const MAX_WINDOW_DAYS: u32 = 365;

/// What is measured per unit (customer) after its first exposure, within the attribution
/// window. Each is a mean over units, except the ratio `revenue_per_order`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of units that converted (a `conversion` outcome, or a `purchase` or `conversion`
    /// event).
    ConversionRate,
    /// Money per unit: outcome values plus `purchase`/`conversion` event values.
    RevenuePerCustomer,
    /// Money per order: revenue over the number of orders (a ratio metric, delta method).
    RevenuePerOrder,
    /// Share of units that clicked (a `click` outcome).
    ClickRate,
    /// Share of units that unsubscribed (an `unsubscribe` outcome or event).
    UnsubscribeRate,
    /// Share of units that complained (a `complaint` outcome or event).
    ComplaintRate,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 6] = [
        Metric::ConversionRate,
        Metric::RevenuePerCustomer,
        Metric::RevenuePerOrder,
        Metric::ClickRate,
        Metric::UnsubscribeRate,
        Metric::ComplaintRate,
    ];

    /// The stable name (`conversion_rate`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::ConversionRate => "conversion_rate",
            Metric::RevenuePerCustomer => "revenue_per_customer",
            Metric::RevenuePerOrder => "revenue_per_order",
            Metric::ClickRate => "click_rate",
            Metric::UnsubscribeRate => "unsubscribe_rate",
            Metric::ComplaintRate => "complaint_rate",
        }
    }

    /// Whether more is better (false for guardrails such as unsubscribes).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::UnsubscribeRate | Metric::ComplaintRate)
    }

    /// Whether the metric is a share of units (a mean of 0/1).
    pub fn is_rate(self) -> bool {
        !matches!(self, Metric::RevenuePerCustomer | Metric::RevenuePerOrder)
    }
}

/// Where an experiment is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Defined; assigns nobody. Its definition may still change.
    Draft,
    /// Assigning units and logging exposures. Arms and weights are fixed; traffic may only grow.
    Running,
    /// No longer assigning; its data is kept and analysed.
    Stopped,
}

impl Status {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }

    /// Reads a stored name.
    pub fn parse(name: &str) -> Option<Status> {
        match name {
            "draft" => Some(Status::Draft),
            "running" => Some(Status::Running),
            "stopped" => Some(Status::Stopped),
            _ => None,
        }
    }
}

/// One arm as a client writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct ArmSpec {
    /// The arm's name (`model`, `rules`, `holdout`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub name: String,
    /// The policy that decides for this arm's units; leave it out for a holdout.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub policy: Option<String>,
    /// A no-action holdout: its units get "no action", and are logged like any other.
    #[serde(default)]
    pub holdout: bool,
    /// Relative share of the experiment's units (weights need not sum to 1).
    #[schema(exclusive_minimum = 0.0, maximum = 1000000.0)]
    pub weight: f64,
}
crate::wire::objects_only!(ArmSpec, serialize);

/// An experiment as a client writes it (`POST /v1/experiments`, `nextbest experiment create`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct ExperimentSpec {
    /// Stable id: letters, digits, `-` and `_` (it salts the assignment hash).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub id: String,
    /// A name for people (not blank).
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    /// What the experiment should show.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub hypothesis: String,
    /// The arms; the first is the control unless `control` names another.
    #[schema(min_items = 2, max_items = 10)]
    pub arms: Vec<ArmSpec>,
    /// The arm the others are compared with (default: the first).
    #[serde(default)]
    pub control: Option<String>,
    /// Share of units (of the layer) in the experiment, in (0, 1]; may grow while running.
    #[serde(default = "full_traffic")]
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub traffic: f64,
    /// Experiments of one layer never share a unit (default: a layer of its own).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub layer: Option<String>,
    /// Only decisions with this `context.placement` are enrolled (default: every decision
    /// that names no policy).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub placement: Option<String>,
    /// The metric the verdict is about.
    #[serde(default = "default_primary")]
    pub primary_metric: Metric,
    /// Also reported.
    #[serde(default)]
    #[schema(max_items = 6)]
    pub secondary_metrics: Vec<Metric>,
    /// Must not get worse (unsubscribes, complaints).
    #[serde(default)]
    #[schema(max_items = 6)]
    pub guardrails: Vec<Metric>,
    /// Days after a unit's first exposure in which its outcomes count (default 14).
    #[serde(default, deserialize_with = "crate::wire::optional_integer")]
    #[schema(minimum = 1, maximum = 365)]
    pub attribution_window_days: Option<u32>,
    /// Days before the first exposure whose revenue is the CUPED covariate (0: no CUPED;
    /// default 30).
    #[serde(default, deserialize_with = "crate::wire::optional_integer")]
    #[schema(minimum = 0, maximum = 365)]
    pub pre_period_days: Option<u32>,
    /// When assignment ends by itself (RFC 3339; default: when stopped).
    #[serde(default)]
    #[schema(format = DateTime)]
    pub ends_at: Option<String>,
}
crate::wire::objects_only!(ExperimentSpec, serialize);

/// Days of attribution when a definition says nothing.
pub const DEFAULT_WINDOW_DAYS: u32 = 14;
/// Days of pre-period revenue (the CUPED covariate) when a definition says nothing.
pub const DEFAULT_PRE_PERIOD_DAYS: u32 = 30;

fn full_traffic() -> f64 {
    1.0
}
fn default_primary() -> Metric {
    Metric::ConversionRate
}

/// One arm, checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Arm {
    /// Its name.
    pub name: String,
    /// The deciding policy; `None` for a holdout.
    pub policy: Option<String>,
    /// Share of the experiment's units, normalised so the arms sum to 1.
    pub weight: f64,
}

impl Arm {
    /// Whether the arm answers "no action".
    pub fn is_holdout(&self) -> bool {
        self.policy.is_none()
    }
}

/// An experiment as the service keeps it: checked, with its status and where its units lie in
/// its layer's buckets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Experiment {
    /// Stable id.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// What it should show.
    pub hypothesis: String,
    /// The arms, control first.
    pub arms: Vec<Arm>,
    /// Share of the layer's units in the experiment.
    pub traffic: f64,
    /// The layer (its own id when it has none of its own).
    pub layer: String,
    /// First bucket of the layer the experiment may use; it holds
    /// `[bucket_start, bucket_start + traffic × 10,000)`.
    pub bucket_start: u32,
    /// Only decisions with this placement.
    pub placement: Option<String>,
    /// The verdict's metric.
    pub primary_metric: Metric,
    /// Also reported.
    pub secondary_metrics: Vec<Metric>,
    /// Must not get worse.
    pub guardrails: Vec<Metric>,
    /// Days of attribution after the first exposure.
    pub attribution_window_days: u32,
    /// Days of pre-period revenue for CUPED (0: none).
    pub pre_period_days: u32,
    /// When assignment ends by itself (RFC 3339).
    pub ends_at: Option<String>,
    /// Draft, running or stopped.
    pub status: Status,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it started.
    pub started_at: Option<String>,
    /// When it stopped.
    pub stopped_at: Option<String>,
}

impl Experiment {
    /// Buckets of its layer the experiment holds now.
    pub fn bucket_count(&self) -> u32 {
        buckets_for(self.traffic)
    }

    /// The control arm (the first).
    pub fn control(&self) -> &Arm {
        &self.arms[0]
    }

    /// The arm named `name`.
    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.name == name)
    }

    /// Every metric it reports: primary, secondary, guardrails, each once.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut all = vec![self.primary_metric];
        for m in self.secondary_metrics.iter().chain(&self.guardrails) {
            if !all.contains(m) {
                all.push(*m);
            }
        }
        all
    }

    /// Whether it assigns units at `now` (running and not past `ends_at`).
    pub fn assigns_at(&self, now: Timestamp) -> bool {
        self.status == Status::Running
            && self
                .ends_at
                .as_deref()
                .and_then(|t| Timestamp::parse_rfc3339(t).ok())
                .is_none_or(|end| now < end)
    }
}

/// Buckets of 10,000 a traffic share holds (at least one).
pub fn buckets_for(traffic: f64) -> u32 {
    ((traffic * f64::from(BUCKETS)).round() as u32).clamp(1, BUCKETS)
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ExperimentError {
    ExperimentError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Checks a name: non-empty, at most [`MAX_NAME_CHARS`], letters, digits, `-`, `_`, `.`.
fn check_name(field: &str, name: &str) -> Result<(), ExperimentError> {
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(invalid(
            field,
            "only letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

impl ExperimentSpec {
    /// Checks the definition; `policy_exists` says whether a policy name is loaded. The result
    /// is a draft; its place in the layer (`bucket_start`) is the store's to choose.
    pub fn check(
        &self,
        policy_exists: impl Fn(&str) -> bool,
        now: Timestamp,
    ) -> Result<Experiment, ExperimentError> {
        check_name("id", &self.id)?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        if self.hypothesis.chars().count() > 2_000 {
            return Err(invalid("hypothesis", "at most 2000 characters"));
        }
        if self.arms.len() < 2 || self.arms.len() > MAX_ARMS {
            return Err(invalid(
                "arms",
                format!("an experiment has 2 to {MAX_ARMS} arms"),
            ));
        }
        let mut arms = Vec::with_capacity(self.arms.len());
        for (i, arm) in self.arms.iter().enumerate() {
            check_name(&format!("arms[{i}].name"), &arm.name)?;
            if self.arms[..i].iter().any(|a| a.name == arm.name) {
                return Err(invalid(
                    format!("arms[{i}].name"),
                    "two arms have this name",
                ));
            }
            if !(arm.weight.is_finite() && arm.weight > 0.0 && arm.weight <= 1e6) {
                return Err(invalid(
                    format!("arms[{i}].weight"),
                    "must be a number above 0 (at most 1000000)",
                ));
            }
            let policy = match (&arm.policy, arm.holdout) {
                (Some(_), true) => {
                    return Err(invalid(
                        format!("arms[{i}].policy"),
                        "a holdout arm has no policy",
                    ))
                }
                (None, false) => {
                    return Err(invalid(
                        format!("arms[{i}].policy"),
                        "name the arm's policy, or make it a holdout (\"holdout\": true)",
                    ))
                }
                (None, true) => None,
                (Some(p), false) => {
                    if !policy_exists(p) {
                        return Err(invalid(
                            format!("arms[{i}].policy"),
                            format!("no policy named '{p}' is loaded"),
                        ));
                    }
                    Some(p.clone())
                }
            };
            arms.push(Arm {
                name: arm.name.clone(),
                policy,
                weight: arm.weight,
            });
        }
        let total: f64 = arms.iter().map(|a| a.weight).sum();
        for arm in &mut arms {
            arm.weight /= total;
        }
        if let Some(control) = &self.control {
            let Some(index) = arms.iter().position(|a| &a.name == control) else {
                return Err(invalid("control", format!("no arm named '{control}'")));
            };
            let chosen = arms.remove(index);
            arms.insert(0, chosen);
        }
        if !(self.traffic.is_finite() && self.traffic > 0.0 && self.traffic <= 1.0) {
            return Err(invalid("traffic", "must be above 0 and at most 1"));
        }
        let layer = match &self.layer {
            Some(layer) => {
                check_name("layer", layer)?;
                layer.clone()
            }
            None => self.id.clone(),
        };
        if let Some(placement) = &self.placement {
            if placement.is_empty() || placement.chars().count() > 256 {
                return Err(invalid("placement", "must be 1 to 256 characters"));
            }
        }
        let window = self.attribution_window_days.unwrap_or(DEFAULT_WINDOW_DAYS);
        let pre_period = self.pre_period_days.unwrap_or(DEFAULT_PRE_PERIOD_DAYS);
        if window == 0 || window > MAX_WINDOW_DAYS {
            return Err(invalid(
                "attribution_window_days",
                format!("must be 1 to {MAX_WINDOW_DAYS}"),
            ));
        }
        if pre_period > MAX_WINDOW_DAYS {
            return Err(invalid(
                "pre_period_days",
                format!("must be 0 to {MAX_WINDOW_DAYS}"),
            ));
        }
        for (field, list) in [
            ("secondary_metrics", &self.secondary_metrics),
            ("guardrails", &self.guardrails),
        ] {
            if list.len() > Metric::ALL.len() {
                return Err(invalid(field, "at most 6 metrics"));
            }
        }
        let ends_at = match &self.ends_at {
            Some(text) => {
                let end = Timestamp::parse_rfc3339(text)
                    .map_err(|e| invalid("ends_at", e.to_string()))?;
                Some(end.to_rfc3339())
            }
            None => None,
        };
        Ok(Experiment {
            id: self.id.clone(),
            name: name.to_string(),
            hypothesis: self.hypothesis.clone(),
            arms,
            traffic: self.traffic,
            layer,
            bucket_start: 0,
            placement: self.placement.clone(),
            primary_metric: self.primary_metric,
            secondary_metrics: self.secondary_metrics.clone(),
            guardrails: self.guardrails.clone(),
            attribution_window_days: window,
            pre_period_days: pre_period,
            ends_at,
            status: Status::Draft,
            created_at: now.to_rfc3339(),
            started_at: None,
            stopped_at: None,
        })
    }
}
