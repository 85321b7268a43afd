//! The headline numbers of a period for a segment.
//!
//! Definitions (docs/analytics.md has them with the SQL that checks them):
//! - *activity* is any event but our own `action` contacts; *orders* are `purchase` and
//!   `conversion` events, *revenue* the sum of their values;
//! - the previous period has the same length and ends where this one starts; *retention* is the
//!   share of the customers active then who are active again now, *churn* its complement.

use serde::{Deserialize, Serialize};

use super::log::EventLog;
use super::table::{Cell, Table};

/// The KPIs of one period and segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// First instant of the period (µs since the epoch, as RFC 3339 in JSON).
    pub from: crate::journey::Timestamp,
    /// First instant after the period.
    pub to: crate::journey::Timestamp,
    /// Segment customers with any event before the period ends.
    pub customers: u64,
    /// Segment customers with activity in the period.
    pub active_customers: u64,
    /// Active customers whose first activity ever falls in the period.
    pub new_customers: u64,
    /// Customers with at least one order in the period.
    pub purchasers: u64,
    /// Orders in the period.
    pub orders: u64,
    /// Money of the period's orders.
    pub revenue: f64,
    /// Revenue per order.
    pub average_order_value: Option<f64>,
    /// Purchasers per active customer.
    pub conversion_rate: Option<f64>,
    /// Revenue per active customer.
    pub revenue_per_active_customer: Option<f64>,
    /// Customers active in the previous period (of the same length).
    pub previous_active_customers: u64,
    /// Of those, the ones active again in this period.
    pub retained_customers: u64,
    /// Retained per previously active customer.
    pub retention_rate: Option<f64>,
    /// 1 − retention rate.
    pub churn_rate: Option<f64>,
    /// Customers with a `cancel` event in the period.
    pub cancelled_customers: u64,
    /// Support contacts (`support_ticket`, `chat`, `complaint`) in the period.
    pub support_contacts: u64,
    /// Of those, followed by a `resolved` event of the same customer.
    pub resolved_contacts: u64,
    /// Median hours from a contact to the next `resolved` event.
    pub median_hours_to_resolution: Option<f64>,
    /// Mean hours from a contact to the next `resolved` event.
    pub mean_hours_to_resolution: Option<f64>,
    /// `survey` events in the period with a score (`value`).
    pub survey_responses: u64,
    /// Mean survey score.
    pub mean_survey_score: Option<f64>,
    /// CSAT: share of 4s and 5s among `survey#csat` scores (1–5).
    pub csat: Option<f64>,
    /// NPS: % promoters (9–10) − % detractors (0–6) among `survey#nps` scores (0–10).
    pub nps: Option<f64>,
    /// The sentiment of the texts customers wrote in the period (when a sentiment model is
    /// loaded and the log's text was read).
    #[serde(default)]
    pub text_sentiment: Option<super::text::TextSentiment>,
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// Computes the KPIs over `[from, to)` for the customers where `members` is true.
pub fn kpis(log: &EventLog, members: &[bool], from: i64, to: i64) -> Kpis {
    let previous_from = from.saturating_sub(to - from);
    let cancel = log.kind_of("cancel");
    let mut k = Kpis {
        from: crate::journey::Timestamp(from),
        to: crate::journey::Timestamp(to),
        customers: 0,
        active_customers: 0,
        new_customers: 0,
        purchasers: 0,
        orders: 0,
        revenue: 0.0,
        average_order_value: None,
        conversion_rate: None,
        revenue_per_active_customer: None,
        previous_active_customers: 0,
        retained_customers: 0,
        retention_rate: None,
        churn_rate: None,
        cancelled_customers: 0,
        support_contacts: 0,
        resolved_contacts: 0,
        median_hours_to_resolution: None,
        mean_hours_to_resolution: None,
        survey_responses: 0,
        mean_survey_score: None,
        csat: None,
        nps: None,
        text_sentiment: None,
    };
    let contact: Vec<bool> = (0..log.types.len() as u32)
        .map(|k| matches!(log.types.name(k), "support_ticket" | "chat" | "complaint"))
        .collect();
    let resolved = log.kind_of("resolved");
    let survey = log.kind_of("survey");
    let (csat_id, nps_id) = (log.actions.get("csat"), log.actions.get("nps"));
    let mut resolution_hours: Vec<f64> = Vec::new();
    let (mut score_sum, mut csat_n, mut csat_top, mut nps_n, mut nps_net) =
        (0.0, 0u64, 0u64, 0u64, 0i64);
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let events = log.events_of(c);
        if events.is_empty() || log.time[events.start] >= to {
            continue;
        }
        k.customers += 1;
        let (mut active, mut before, mut previous, mut bought, mut cancelled) =
            (false, false, false, false, false);
        for i in events {
            let t = log.time[i];
            if t >= to {
                break;
            }
            let activity = log.is_activity(i);
            if t < from {
                before |= activity;
                previous |= activity && t >= previous_from;
                continue;
            }
            active |= activity;
            if log.is_order(i) {
                bought = true;
                k.orders += 1;
                if !log.value[i].is_nan() {
                    k.revenue += log.value[i];
                }
            }
            cancelled |= Some(log.kind[i]) == cancel;
            if contact[log.kind[i] as usize] {
                k.support_contacts += 1;
                // The first `resolved` after the contact, whenever it comes.
                let end = log.starts[c + 1];
                if let Some(j) = (i + 1..end).find(|&j| Some(log.kind[j]) == resolved) {
                    k.resolved_contacts += 1;
                    resolution_hours.push((log.time[j] - t) as f64 / 3.6e9);
                }
            }
            if Some(log.kind[i]) == survey && !log.value[i].is_nan() {
                let score = log.value[i];
                k.survey_responses += 1;
                score_sum += score;
                if csat_id.is_some() && Some(log.action[i]) == csat_id {
                    csat_n += 1;
                    csat_top += u64::from(score >= 4.0);
                }
                if nps_id.is_some() && Some(log.action[i]) == nps_id {
                    nps_n += 1;
                    nps_net += i64::from(score >= 9.0) - i64::from(score <= 6.0);
                }
            }
        }
        k.active_customers += u64::from(active);
        k.new_customers += u64::from(active && !before);
        k.purchasers += u64::from(bought);
        k.previous_active_customers += u64::from(previous);
        k.retained_customers += u64::from(previous && active);
        k.cancelled_customers += u64::from(cancelled);
    }
    k.average_order_value = ratio(k.revenue, k.orders as f64);
    k.conversion_rate = ratio(k.purchasers as f64, k.active_customers as f64);
    k.revenue_per_active_customer = ratio(k.revenue, k.active_customers as f64);
    k.retention_rate = ratio(
        k.retained_customers as f64,
        k.previous_active_customers as f64,
    );
    k.churn_rate = k.retention_rate.map(|r| 1.0 - r);
    k.mean_hours_to_resolution = (!resolution_hours.is_empty())
        .then(|| resolution_hours.iter().sum::<f64>() / resolution_hours.len() as f64);
    k.median_hours_to_resolution = super::funnel::median(&mut resolution_hours);
    k.mean_survey_score = ratio(score_sum, k.survey_responses as f64);
    k.csat = ratio(csat_top as f64, csat_n as f64);
    k.nps = ratio(100.0 * nps_net as f64, nps_n as f64);
    k
}

impl Kpis {
    /// One row per KPI: `kpi`, `value`.
    pub fn table(&self) -> Table {
        let mut t = Table::new("kpis", &["kpi", "value"]);
        let rows: [(&str, Cell); 24] = [
            ("from", self.from.to_rfc3339().into()),
            ("to", self.to.to_rfc3339().into()),
            ("customers", self.customers.into()),
            ("active_customers", self.active_customers.into()),
            ("new_customers", self.new_customers.into()),
            ("purchasers", self.purchasers.into()),
            ("orders", self.orders.into()),
            ("revenue", self.revenue.into()),
            ("average_order_value", self.average_order_value.into()),
            ("conversion_rate", self.conversion_rate.into()),
            (
                "revenue_per_active_customer",
                self.revenue_per_active_customer.into(),
            ),
            (
                "previous_active_customers",
                self.previous_active_customers.into(),
            ),
            ("retained_customers", self.retained_customers.into()),
            ("retention_rate", self.retention_rate.into()),
            ("churn_rate", self.churn_rate.into()),
            ("cancelled_customers", self.cancelled_customers.into()),
            ("support_contacts", self.support_contacts.into()),
            ("resolved_contacts", self.resolved_contacts.into()),
            (
                "median_hours_to_resolution",
                self.median_hours_to_resolution.into(),
            ),
            (
                "mean_hours_to_resolution",
                self.mean_hours_to_resolution.into(),
            ),
            ("survey_responses", self.survey_responses.into()),
            ("mean_survey_score", self.mean_survey_score.into()),
            ("csat", self.csat.into()),
            ("nps", self.nps.into()),
        ];
        for (name, value) in rows {
            // Parquet columns hold one type: every value is written as text there.
            t.push(vec![name.into(), value]);
        }
        if let Some(s) = &self.text_sentiment {
            t.push(vec!["texts".into(), s.texts.into()]);
            t.push(vec!["mean_sentiment".into(), s.mean_sentiment.into()]);
            t.push(vec!["negative_texts".into(), s.negative_texts.into()]);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::{Event, EventType, Timestamp};

    #[test]
    fn kpis_count_what_the_definitions_say() {
        let d = |x: f64| Timestamp(0).plus_days(x);
        let events = vec![
            Event::new("a", d(1.0), EventType::Visit),
            Event::new("a", d(11.0), EventType::Purchase).with_value(10.0),
            Event::new("a", d(12.0), EventType::Purchase).with_value(30.0),
            Event::new("b", d(2.0), EventType::Visit),
            Event::new("b", d(15.0), EventType::Action),
            Event::new("c", d(13.0), EventType::Visit),
            Event::new("c", d(14.0), EventType::Cancel),
            Event::new("d", d(25.0), EventType::Visit),
        ];
        let log = EventLog::from_events(&events);
        let k = kpis(&log, &[true; 4], d(10.0).0, d(20.0).0);
        assert_eq!(k.customers, 3);
        assert_eq!(k.active_customers, 2);
        assert_eq!(k.new_customers, 1);
        assert_eq!((k.purchasers, k.orders, k.revenue), (1, 2, 40.0));
        assert_eq!(k.average_order_value, Some(20.0));
        assert_eq!(k.conversion_rate, Some(0.5));
        assert_eq!((k.previous_active_customers, k.retained_customers), (2, 1));
        assert_eq!(k.churn_rate, Some(0.5));
        assert_eq!(k.cancelled_customers, 1);
    }

    #[test]
    fn resolution_times_csat_and_nps_follow_the_contract_extension() {
        let d = |x: f64| Timestamp(0).plus_days(x);
        let events = vec![
            Event::new("a", d(1.0), EventType::Complaint),
            Event::new("a", d(1.5), EventType::parse("resolved")),
            Event::new("a", d(2.0), EventType::SupportTicket),
            Event::new("a", d(3.0), EventType::parse("survey"))
                .with_action("csat")
                .with_value(5.0),
            Event::new("b", d(1.0), EventType::Chat),
            Event::new("b", d(2.0), EventType::parse("survey"))
                .with_action("nps")
                .with_value(10.0),
            Event::new("c", d(2.0), EventType::parse("survey"))
                .with_action("nps")
                .with_value(3.0),
            Event::new("c", d(2.5), EventType::parse("survey"))
                .with_action("csat")
                .with_value(2.0),
        ];
        let log = EventLog::from_events(&events);
        let k = kpis(&log, &[true; 3], 0, d(10.0).0);
        assert_eq!((k.support_contacts, k.resolved_contacts), (3, 1));
        assert_eq!(k.median_hours_to_resolution, Some(12.0));
        assert_eq!(k.survey_responses, 4);
        assert_eq!(k.csat, Some(0.5));
        assert_eq!(k.nps, Some(0.0));
        assert_eq!(k.mean_survey_score, Some(5.0));
    }
}
