//! Identity: which customer an anonymous visitor turned out to be, and since when.
//!
//! An event may carry an `anonymous_id` (a device or cookie) instead of a `customer_id`; an
//! `identify` event carries both and links them from its timestamp on. Analytics look back, so
//! they give a linked visitor's events (before and after the link) to the customer; features are
//! point-in-time, so features at `t` use a visitor's events only when the link was known before
//! `t` ([`IdentityLinks::customer_at`]).
//!
//! A visitor linked to two customers (a shared device) keeps the earliest link: later
//! `identify` events naming another customer are counted as conflicts and otherwise ignored, so
//! the answer does not depend on file order.

use rustc_hash::FxHashMap;

use super::event::{Event, EventType, Timestamp};

/// The links from anonymous ids to customers that `identify` events make.
#[derive(Clone, Debug, Default)]
pub struct IdentityLinks {
    links: FxHashMap<Box<str>, (Box<str>, Timestamp)>,
    conflicts: u64,
}

impl IdentityLinks {
    /// No links yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the link an `identify` event makes (other events change nothing).
    pub fn observe(&mut self, event: &Event) {
        if event.event_type != EventType::Identify || event.customer_id.is_empty() {
            return;
        }
        if let Some(anonymous) = event.anonymous_id.as_deref() {
            self.link(anonymous, &event.customer_id, event.timestamp);
        }
    }

    /// Links `anonymous_id` to `customer_id` from `at` on; the earliest link of a visitor wins
    /// (ties: the customer id that sorts first), whatever the order links arrive in.
    pub fn link(&mut self, anonymous_id: &str, customer_id: &str, at: Timestamp) {
        match self.links.get_mut(anonymous_id) {
            None => {
                self.links
                    .insert(anonymous_id.into(), (customer_id.into(), at));
            }
            Some((customer, since)) => {
                if &**customer == customer_id {
                    *since = (*since).min(at);
                    return;
                }
                self.conflicts += 1;
                if (at, customer_id) < (*since, &**customer) {
                    *customer = customer_id.into();
                    *since = at;
                }
            }
        }
    }

    /// The customer a visitor was linked to, and since when (looking back over all the data).
    pub fn resolve(&self, anonymous_id: &str) -> Option<(&str, Timestamp)> {
        self.links
            .get(anonymous_id)
            .map(|(customer, since)| (&**customer, *since))
    }

    /// The customer a visitor was known to be strictly before `t` (point-in-time), if any.
    pub fn customer_at(&self, anonymous_id: &str, t: Timestamp) -> Option<&str> {
        self.resolve(anonymous_id)
            .filter(|&(_, since)| since < t)
            .map(|(customer, _)| customer)
    }

    /// How many visitors are linked.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no visitor is linked.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// `identify` events that named a second customer for a visitor (ignored).
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_link_wins_in_any_order_and_counts_only_before_t() {
        let t = |d: f64| Timestamp(0).plus_days(d);
        let events = [
            Event::identify("bob", "device-1", t(5.0)),
            Event::identify("ann", "device-1", t(2.0)),
            Event::identify("ann", "device-1", t(3.0)),
            Event::new("ann", t(1.0), EventType::Visit),
        ];
        for order in [[0, 1, 2, 3], [3, 2, 1, 0]] {
            let mut links = IdentityLinks::new();
            for i in order {
                links.observe(&events[i]);
            }
            assert_eq!(links.resolve("device-1"), Some(("ann", t(2.0))));
            assert_eq!(links.conflicts(), 1);
            assert_eq!(links.customer_at("device-1", t(2.0)), None);
            assert_eq!(links.customer_at("device-1", t(2.5)), Some("ann"));
            assert_eq!(links.resolve("device-2"), None);
        }
    }
}
