//! Which contacts get the credit for conversions: first and last touch.
//!
//! Each order (purchase or conversion) in the period is credited to one of our `action` events of
//! the same customer in the window before it: the earliest (first touch) or the latest (last
//! touch); an order without one is credited to `(none)`. Beside them, when a conversion model is
//! loaded, each action's contacts and the conversions the model estimates they caused
//! ([`super::incremental`]): which contacts only got credit and which made a difference.

use serde::{Deserialize, Serialize};

use super::error::{AnalyticsError, Result};
use super::log::{EventLog, ACTION};
use super::table::Table;
use crate::journey::Timestamp;

/// One action's credit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// The action id (`(none)` for orders without a contact in the window).
    pub action_id: String,
    /// Orders credited by first touch.
    pub first_touch_conversions: u64,
    /// Their money.
    pub first_touch_revenue: f64,
    /// Orders credited by last touch.
    pub last_touch_conversions: u64,
    /// Their money.
    pub last_touch_revenue: f64,
    /// Contacts with this action in the period that the conversion model scored.
    #[serde(default)]
    pub contacts: Option<u64>,
    /// The conversion model's estimate of the conversions those contacts caused.
    #[serde(default)]
    pub incremental_conversions: Option<f64>,
}

/// Attribution of the period's orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Days before an order in which a contact counts.
    pub window_days: f64,
    /// Orders in the period.
    pub orders: u64,
    /// Per action, most last-touch conversions first; `(none)` last.
    pub credits: Vec<Credit>,
    /// The conversion model behind `incremental_conversions`, when one was loaded.
    #[serde(default)]
    pub uplift_model: Option<String>,
}

/// The label of orders without a contact in the window.
pub const NONE: &str = "(none)";

/// First- and last-touch attribution of the orders in `[from, to)`.
pub fn attribution(
    log: &EventLog,
    members: &[bool],
    window_days: f64,
    from: i64,
    to: i64,
) -> Result<Attribution> {
    if !(window_days > 0.0 && window_days <= 3660.0) {
        return Err(AnalyticsError::invalid(
            "window",
            format!("must be > 0 and ≤ 3660 days, got {window_days}"),
        ));
    }
    let window = Timestamp(0).plus_days(window_days).0;
    let action = log.kind_of(ACTION);
    // Index 0 of the action vocabulary is "no action id": orders without a touch go there too.
    let mut credit = vec![(0u64, 0.0f64, 0u64, 0.0f64); log.actions.len().max(1)];
    let mut none = (0u64, 0.0f64);
    let mut orders = 0u64;
    for c in (0..log.customer_count()).filter(|&c| members[c]) {
        let range = log.events_of(c);
        for i in range.clone() {
            let t = log.time[i];
            if t >= to {
                break;
            }
            if t < from || !log.is_order(i) {
                continue;
            }
            orders += 1;
            let value = if log.value[i].is_nan() {
                0.0
            } else {
                log.value[i]
            };
            let touches: Vec<usize> = (range.start..i)
                .filter(|&j| Some(log.kind[j]) == action && t - log.time[j] <= window)
                .collect();
            match (touches.first(), touches.last()) {
                (Some(&first), Some(&last)) => {
                    let f = &mut credit[log.action[first] as usize];
                    f.0 += 1;
                    f.1 += value;
                    let l = &mut credit[log.action[last] as usize];
                    l.2 += 1;
                    l.3 += value;
                }
                _ => {
                    none.0 += 1;
                    none.1 += value;
                }
            }
        }
    }
    let mut credits: Vec<Credit> = credit
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 > 0 || c.2 > 0)
        .map(|(a, c)| Credit {
            action_id: if a == 0 {
                "(no action id)".to_string()
            } else {
                log.actions.name(a as u32).to_string()
            },
            first_touch_conversions: c.0,
            first_touch_revenue: c.1,
            last_touch_conversions: c.2,
            last_touch_revenue: c.3,
            contacts: None,
            incremental_conversions: None,
        })
        .collect();
    credits.sort_by(|x, y| {
        y.last_touch_conversions
            .cmp(&x.last_touch_conversions)
            .then_with(|| x.action_id.cmp(&y.action_id))
    });
    credits.push(Credit {
        action_id: NONE.to_string(),
        first_touch_conversions: none.0,
        first_touch_revenue: none.1,
        last_touch_conversions: none.0,
        last_touch_revenue: none.1,
        contacts: None,
        incremental_conversions: None,
    });
    Ok(Attribution {
        window_days,
        orders,
        credits,
        uplift_model: None,
    })
}

impl Attribution {
    /// Puts the model's estimate beside the touches: every scored action gets its contacts and
    /// incremental conversions (an action that never got a touch credit gets a row of its own,
    /// before `(none)`).
    pub fn add_incremental(&mut self, estimate: super::incremental::IncrementalEstimate) {
        for effect in estimate.effects {
            let at = self
                .credits
                .iter()
                .position(|c| c.action_id == effect.action_id);
            let at = match at {
                Some(at) => at,
                None => {
                    let before_none = self.credits.len().saturating_sub(1);
                    self.credits.insert(
                        before_none,
                        Credit {
                            action_id: effect.action_id.clone(),
                            first_touch_conversions: 0,
                            first_touch_revenue: 0.0,
                            last_touch_conversions: 0,
                            last_touch_revenue: 0.0,
                            contacts: None,
                            incremental_conversions: None,
                        },
                    );
                    before_none
                }
            };
            self.credits[at].contacts = Some(effect.contacts);
            self.credits[at].incremental_conversions = Some(effect.incremental_conversions);
        }
        self.uplift_model = Some(estimate.model);
    }

    /// One row per action.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            "attribution",
            &[
                "action_id",
                "first_touch_conversions",
                "first_touch_revenue",
                "last_touch_conversions",
                "last_touch_revenue",
                "contacts",
                "incremental_conversions",
            ],
        );
        for c in &self.credits {
            t.push(vec![
                c.action_id.as_str().into(),
                c.first_touch_conversions.into(),
                c.first_touch_revenue.into(),
                c.last_touch_conversions.into(),
                c.last_touch_revenue.into(),
                c.contacts.into(),
                c.incremental_conversions.into(),
            ]);
        }
        t
    }
}
