//! Offer response history: how often a customer bought within a week of each action sent to
//! them. What a customer did after past offers is the most direct evidence of what the next one
//! will do to them (a price-sensitive customer buys after discounts, a full-price shopper after
//! new-arrival pushes), and it is what response models in marketing systems key on.
//!
//! Order-independent like the rest of the feature function: sends and purchases are collected,
//! and matched only when the features are emitted.

use super::compute::Sink;
use super::spec::FeatureType;
use crate::journey::Timestamp;

/// A send counts as answered when a purchase follows within this many days.
pub const RESPONSE_WINDOW_DAYS: i64 = 7;
/// Sends older than this many days (before the cutoff) are forgotten.
pub const RESPONSE_LOOKBACK_DAYS: i64 = 365;

const DAY: i64 = Timestamp::MICROS_PER_DAY;

/// The sends of tracked actions and the purchases of the look-back, as microseconds.
#[derive(Clone, Debug, Default)]
pub(super) struct ResponseHistory {
    /// (index of the tracked action, time of the send).
    sends: Vec<(u32, i64)>,
    purchases: Vec<i64>,
}

/// For one action: sends whose response window closed before the cutoff, and how many of
/// them were followed by a purchase within it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Responses {
    /// Sends whose response window closed before the cutoff.
    pub sends: u32,
    /// Of those, the ones followed by a purchase within the window.
    pub answered: u32,
}

impl Responses {
    /// Share of the sends answered; 0 without sends (the send count tells the two apart).
    pub fn rate(self) -> f32 {
        if self.sends == 0 {
            0.0
        } else {
            self.answered as f32 / self.sends as f32
        }
    }
}

impl ResponseHistory {
    /// Records a send of tracked action `action`, `age` microseconds before the cutoff.
    pub fn send(&mut self, action: usize, ts: Timestamp, age: i64) {
        // A send younger than the window cannot be judged yet, so it is never counted.
        if (RESPONSE_WINDOW_DAYS * DAY..=RESPONSE_LOOKBACK_DAYS * DAY).contains(&age) {
            if let Ok(action) = u32::try_from(action) {
                self.sends.push((action, ts.0));
            }
        }
    }

    /// Records a purchase `age` microseconds before the cutoff.
    pub fn purchase(&mut self, ts: Timestamp, age: i64) {
        if age <= RESPONSE_LOOKBACK_DAYS * DAY {
            self.purchases.push(ts.0);
        }
    }

    /// Bytes held on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.sends.capacity() * std::mem::size_of::<(u32, i64)>()
            + self.purchases.capacity() * std::mem::size_of::<i64>()
    }

    /// Per tracked action (`actions` of them), its judged sends and answered ones; the last
    /// entry is every tracked action together.
    pub fn tally(&self, actions: usize) -> Vec<Responses> {
        let mut out = vec![Responses::default(); actions + 1];
        if self.sends.is_empty() {
            return out;
        }
        let mut purchases = self.purchases.clone();
        purchases.sort_unstable();
        for &(action, at) in &self.sends {
            // Strictly after the send: a purchase logged at the same instant came first.
            let first = purchases.partition_point(|&p| p <= at);
            let answered = purchases
                .get(first)
                .is_some_and(|&p| p < at + RESPONSE_WINDOW_DAYS * DAY);
            for slot in [action as usize, actions] {
                if let Some(r) = out.get_mut(slot) {
                    r.sends += 1;
                    r.answered += u32::from(answered);
                }
            }
        }
        out
    }
}

impl ResponseHistory {
    /// Emits, per tracked action (`ids`, in the spec's order), `action_<id>_judged_sends_365d`
    /// and `action_<id>_response_rate_365d`, then the same for all of them together as
    /// `actions_all_…` — a prefix no action's can be, since theirs all start `action_<id>`.
    pub(super) fn emit<'a>(
        &self,
        ids: impl ExactSizeIterator<Item = &'a str>,
        sink: &mut dyn Sink,
    ) {
        let tally = self.tally(ids.len());
        let prefix =
            |id: Option<&str>| id.map_or("actions_all".to_string(), |id| format!("action_{id}"));
        for (id, r) in ids.map(Some).chain([None]).zip(tally) {
            let judged = || format!("{}_judged_sends_365d", prefix(id));
            sink.put(&judged, FeatureType::Count, r.sends as f32);
            let rate = || format!("{}_response_rate_365d", prefix(id));
            sink.put(&rate, FeatureType::Rate, r.rate());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: f64) -> Timestamp {
        Timestamp((days * DAY as f64) as i64)
    }

    #[test]
    fn a_send_is_answered_by_a_purchase_within_the_window_in_any_order() {
        let cutoff = at(400.0);
        let mut h = ResponseHistory::default();
        let age = |t: Timestamp| cutoff.0 - t.0;
        // Purchases first: order must not matter.
        for p in [at(103.0), at(250.0)] {
            h.purchase(p, age(p));
        }
        for (action, t) in [
            (0, at(100.0)),
            (0, at(200.0)),
            (1, at(245.0)),
            (1, at(395.0)),
        ] {
            h.send(action, t, age(t));
        }
        let tally = h.tally(2);
        // Action 0: day 100 answered (103), day 200 not (next purchase 250).
        assert_eq!(
            tally[0],
            Responses {
                sends: 2,
                answered: 1
            }
        );
        // Action 1: day 245 answered (250); day 395 too recent to judge.
        assert_eq!(
            tally[1],
            Responses {
                sends: 1,
                answered: 1
            }
        );
        assert_eq!(
            tally[2],
            Responses {
                sends: 3,
                answered: 2
            }
        );
        assert!((tally[0].rate() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn old_sends_are_forgotten_and_no_send_rates_zero() {
        let cutoff = at(800.0);
        let mut h = ResponseHistory::default();
        let t = at(100.0);
        h.send(0, t, cutoff.0 - t.0);
        assert_eq!(h.tally(1)[0], Responses::default());
        assert_eq!(Responses::default().rate(), 0.0);
    }
}
