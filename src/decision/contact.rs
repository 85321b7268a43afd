//! Contact policy: caps and cool-downs counted from the customer's past exposures.
//!
//! - A cap of `max` per `w` days is reached when at least `max` exposures fall in the window
//!   `[now − w days, now]` (both ends included); sending again would exceed it.
//! - A cool-down of `d` days holds while the action's last exposure is less than `d` days ago
//!   (exactly `d` days later the action is allowed again).
//! - Exposures dated after `now` count as made at `now`.
//!
//! Checked per action in this order, the first failure being the reported reason: the action's
//! `cooldown_days` (`cooldown`), `per_7_days` (`cap_7d`), `per_30_days` (`cap_30d`) from the
//! catalog; then the policy's `[[contact.channel_caps]]` on the action's channel
//! (`channel_cap`) and `[[contact.global_caps]]` across channels (`global_cap`). Doing nothing
//! is never capped.

use rustc_hash::FxHashMap;

use crate::catalog::{Action, ActionKind};
use crate::decision::eligibility::{days_before, Rejection};
use crate::decision::outcome::{num, ReasonCode};
use crate::decision::policy::ContactSpec;
use crate::decision::state::{CustomerState, Exposure};
use crate::journey::Timestamp;

/// The first instant inside a window of `days` ending at `now` (saturating, never overflowing).
fn window_start(now: Timestamp, days: f64) -> i64 {
    let micros = (days * Timestamp::MICROS_PER_DAY as f64).round();
    // `as` saturates for out-of-range floats; windows are validated to ≤ 3650 days anyway.
    now.0.saturating_sub(micros as i64)
}

/// Whether an exposure falls in the window starting at `start` (and ending at `now`, with later
/// exposures counted at `now`).
fn in_window(exposure: &Exposure, start: i64) -> bool {
    exposure.at.0 >= start
}

/// One action's exposures: counts in the catalog's fixed windows and the latest send.
#[derive(Clone, Copy, Debug)]
struct ActionHistory {
    in_7_days: u32,
    in_30_days: u32,
    last: Timestamp,
}

/// Contact counts of one customer, computed once per decision (one pass over the exposures per
/// window) so that checking each candidate is a lookup.
#[derive(Clone, Debug)]
pub struct ContactLedger<'a> {
    spec: &'a ContactSpec,
    state: &'a CustomerState,
    /// Per action id: its exposures in the last 7 and 30 days and its latest send.
    per_action: FxHashMap<&'a str, ActionHistory>,
    /// Per policy channel cap: exposures on its channel inside its window.
    channel_counts: Vec<u32>,
    /// The first global cap that is reached: (index, count).
    global_reached: Option<(usize, u32)>,
    /// Whether rejections carry their message (see [`ContactLedger::without_messages`]).
    messages: bool,
}

impl<'a> ContactLedger<'a> {
    /// Counts the customer's exposures for the policy's channel and global caps.
    pub fn new(spec: &'a ContactSpec, state: &'a CustomerState) -> Self {
        let channel_counts = spec
            .channel_caps
            .iter()
            .map(|cap| {
                let start = window_start(state.now, cap.window_days);
                count(
                    state
                        .exposures
                        .iter()
                        .filter(|e| e.channel == cap.channel && in_window(e, start)),
                )
            })
            .collect();
        let global_reached = spec.global_caps.iter().enumerate().find_map(|(i, cap)| {
            let start = window_start(state.now, cap.window_days);
            let n = count(state.exposures.iter().filter(|e| in_window(e, start)));
            (n >= cap.max).then_some((i, n))
        });
        let start_7 = window_start(state.now, 7.0);
        let start_30 = window_start(state.now, 30.0);
        let mut per_action: FxHashMap<&'a str, ActionHistory> =
            FxHashMap::with_capacity_and_hasher(state.exposures.len(), Default::default());
        for exposure in &state.exposures {
            let history = per_action
                .entry(exposure.action_id.as_str())
                .or_insert(ActionHistory {
                    in_7_days: 0,
                    in_30_days: 0,
                    last: exposure.at,
                });
            history.in_7_days += u32::from(in_window(exposure, start_7));
            history.in_30_days += u32::from(in_window(exposure, start_30));
            history.last = history.last.max(exposure.at);
        }
        ContactLedger {
            spec,
            state,
            per_action,
            channel_counts,
            global_reached,
            messages: true,
        }
    }

    /// The same ledger with rejection messages left empty (only the codes are wanted).
    pub(crate) fn without_messages(mut self) -> Self {
        self.messages = false;
        self
    }

    /// Checks the action's caps and cool-down, then the policy's channel and global caps.
    pub fn check(&self, action: &Action) -> Result<(), Rejection> {
        if action.kind == ActionKind::None {
            return Ok(());
        }
        self.check_action_caps(action)?;
        for (cap, &n) in self.spec.channel_caps.iter().zip(&self.channel_counts) {
            if cap.channel == action.channel && n >= cap.max {
                return Err(Rejection::lazy(
                    ReasonCode::ChannelCap,
                    self.messages,
                    || {
                        format!(
                            "{n} contacts on {} in the last {} days; the policy allows {}",
                            cap.channel,
                            num(cap.window_days),
                            cap.max
                        )
                    },
                ));
            }
        }
        if let Some((i, n)) = self.global_reached {
            let cap = &self.spec.global_caps[i];
            return Err(Rejection::lazy(
                ReasonCode::GlobalCap,
                self.messages,
                || {
                    format!(
                        "{n} contacts on all channels in the last {} days; the policy allows {}",
                        num(cap.window_days),
                        cap.max
                    )
                },
            ));
        }
        Ok(())
    }

    fn check_action_caps(&self, action: &Action) -> Result<(), Rejection> {
        let caps = &action.caps;
        if caps.cooldown_days.is_none() && caps.per_7_days.is_none() && caps.per_30_days.is_none() {
            return Ok(());
        }
        let history = self.per_action.get(action.id.as_str());
        let in_7 = history.map_or(0, |h| h.in_7_days);
        let in_30 = history.map_or(0, |h| h.in_30_days);
        let now = self.state.now;
        if let (Some(cooldown), Some(history)) = (caps.cooldown_days, history) {
            let last = history.last;
            let elapsed = days_before(now, last);
            if elapsed < cooldown {
                return Err(Rejection::lazy(ReasonCode::Cooldown, self.messages, || {
                    format!(
                        "last sent {} days ago; the cool-down is {} days",
                        num(elapsed),
                        num(cooldown)
                    )
                }));
            }
        }
        if let Some(max) = caps.per_7_days {
            if in_7 >= max {
                return Err(Rejection::lazy(ReasonCode::Cap7d, self.messages, || {
                    format!("sent {in_7} times in the last 7 days; the action allows {max}")
                }));
            }
        }
        if let Some(max) = caps.per_30_days {
            if in_30 >= max {
                return Err(Rejection::lazy(ReasonCode::Cap30d, self.messages, || {
                    format!("sent {in_30} times in the last 30 days; the action allows {max}")
                }));
            }
        }
        Ok(())
    }
}

fn count<'e>(exposures: impl Iterator<Item = &'e Exposure>) -> u32 {
    u32::try_from(exposures.count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ContactCaps;
    use crate::decision::policy::{ChannelCap, GlobalCap};
    use crate::journey::Channel;

    const DAY: i64 = Timestamp::MICROS_PER_DAY;
    const NOW: Timestamp = Timestamp(1_750_000_000_000_000);

    fn ago(days: f64) -> Timestamp {
        Timestamp(NOW.0 - (days * DAY as f64) as i64)
    }

    fn exposure(id: &str, channel: Channel, days_ago: f64) -> Exposure {
        Exposure {
            at: ago(days_ago),
            action_id: id.into(),
            channel,
        }
    }

    fn action(id: &str, channel: Channel, caps: ContactCaps) -> Action {
        Action {
            id: id.into(),
            channel,
            kind: ActionKind::Sales,
            value: 10.0,
            cost: 1.0,
            requires_consent: None,
            caps,
            eligibility: Default::default(),
            description: None,
            model_as: None,
        }
    }

    fn state(exposures: Vec<Exposure>) -> CustomerState {
        CustomerState {
            exposures,
            ..CustomerState::new(NOW)
        }
    }

    fn code(ledger: &ContactLedger<'_>, action: &Action) -> Option<ReasonCode> {
        ledger.check(action).err().map(|r| r.code)
    }

    #[test]
    fn action_caps_count_only_exposures_inside_their_window() {
        let spec = ContactSpec::default();
        let caps = ContactCaps {
            per_7_days: Some(2),
            per_30_days: Some(3),
            cooldown_days: None,
        };
        let offer = action("offer", Channel::Email, caps);
        // Two sends, but one 7.5 days ago: outside the 7-day window.
        let s = state(vec![
            exposure("offer", Channel::Email, 1.0),
            exposure("offer", Channel::Email, 7.5),
            exposure("other", Channel::Email, 0.5),
        ]);
        assert_eq!(code(&ContactLedger::new(&spec, &s), &offer), None);
        // Exactly 7 days ago is inside (the window includes its start).
        let s = state(vec![
            exposure("offer", Channel::Email, 1.0),
            exposure("offer", Channel::Email, 7.0),
        ]);
        assert_eq!(
            code(&ContactLedger::new(&spec, &s), &offer),
            Some(ReasonCode::Cap7d)
        );
        // Three in 30 days, one in 7: the 30-day cap.
        let s = state(vec![
            exposure("offer", Channel::Email, 1.0),
            exposure("offer", Channel::Email, 10.0),
            exposure("offer", Channel::Email, 29.9),
            exposure("offer", Channel::Email, 30.1),
        ]);
        assert_eq!(
            code(&ContactLedger::new(&spec, &s), &offer),
            Some(ReasonCode::Cap30d)
        );
        let s = state(vec![
            exposure("offer", Channel::Email, 1.0),
            exposure("offer", Channel::Email, 10.0),
            exposure("offer", Channel::Email, 30.1),
            exposure("offer", Channel::Email, 300.0),
        ]);
        assert_eq!(code(&ContactLedger::new(&spec, &s), &offer), None);
    }

    #[test]
    fn cooldown_holds_until_exactly_its_length_has_passed() {
        let spec = ContactSpec::default();
        let caps = ContactCaps {
            cooldown_days: Some(14.0),
            ..Default::default()
        };
        let offer = action("offer", Channel::Email, caps);
        for (days_ago, blocked) in [(13.9, true), (14.0, false), (40.0, false)] {
            // The oldest exposure must not hide the latest one.
            let s = state(vec![
                exposure("offer", Channel::Email, 100.0),
                exposure("offer", Channel::Email, days_ago),
            ]);
            let got = code(&ContactLedger::new(&spec, &s), &offer);
            assert_eq!(got == Some(ReasonCode::Cooldown), blocked, "{days_ago}");
        }
        // An exposure dated in the future (clock skew) counts as now.
        let s = state(vec![exposure("offer", Channel::Email, -1.0)]);
        assert_eq!(
            code(&ContactLedger::new(&spec, &s), &offer),
            Some(ReasonCode::Cooldown)
        );
    }

    #[test]
    fn channel_and_global_caps_count_their_window_and_channel() {
        let spec = ContactSpec {
            channel_caps: vec![ChannelCap {
                channel: Channel::Email,
                max: 2,
                window_days: 7.0,
            }],
            global_caps: vec![GlobalCap {
                max: 3,
                window_days: 3.0,
            }],
        };
        let email = action("mail", Channel::Email, ContactCaps::default());
        let sms = action("text", Channel::Sms, ContactCaps::default());
        let s = state(vec![
            exposure("a", Channel::Email, 1.0),
            exposure("b", Channel::Email, 8.0),
            exposure("c", Channel::Sms, 1.0),
            exposure("d", Channel::Push, 4.0),
        ]);
        let ledger = ContactLedger::new(&spec, &s);
        assert_eq!(code(&ledger, &email), None);
        assert_eq!(code(&ledger, &sms), None);

        let s = state(vec![
            exposure("a", Channel::Email, 1.0),
            exposure("b", Channel::Email, 6.0),
            exposure("c", Channel::Sms, 1.0),
        ]);
        let ledger = ContactLedger::new(&spec, &s);
        assert_eq!(code(&ledger, &email), Some(ReasonCode::ChannelCap));
        assert_eq!(code(&ledger, &sms), None);

        let s = state(vec![
            exposure("a", Channel::Email, 0.5),
            exposure("c", Channel::Sms, 1.0),
            exposure("d", Channel::Push, 2.9),
        ]);
        let ledger = ContactLedger::new(&spec, &s);
        assert_eq!(code(&ledger, &sms), Some(ReasonCode::GlobalCap));
        let nothing = Action {
            kind: ActionKind::None,
            ..action("none", Channel::parse("none"), ContactCaps::default())
        };
        assert_eq!(code(&ledger, &nothing), None);
    }

    #[test]
    fn extreme_timestamps_do_not_overflow() {
        let spec = ContactSpec {
            channel_caps: vec![],
            global_caps: vec![GlobalCap {
                max: 1,
                window_days: 3650.0,
            }],
        };
        // One action per rule, so each window and the cool-down are checked on their own.
        let cooled = action(
            "offer",
            Channel::Email,
            ContactCaps {
                cooldown_days: Some(1.0),
                ..Default::default()
            },
        );
        let capped = action(
            "offer",
            Channel::Email,
            ContactCaps {
                per_7_days: Some(1),
                per_30_days: Some(1),
                cooldown_days: None,
            },
        );
        let uncapped = action("offer", Channel::Email, ContactCaps::default());
        for now in [Timestamp(i64::MIN), Timestamp(i64::MAX)] {
            for at in [Timestamp(i64::MIN), Timestamp(i64::MAX)] {
                let s = CustomerState {
                    exposures: vec![Exposure {
                        at,
                        action_id: "offer".into(),
                        channel: Channel::Email,
                    }],
                    ..CustomerState::new(now)
                };
                let ledger = ContactLedger::new(&spec, &s);
                // An exposure at or after `now` counts as made now, so every rule holds; one
                // dated at the far end of time before `now` is outside every window and
                // cool-down. A wrapped subtraction would get either case wrong (or panic).
                let (want_cooled, want_capped, want_uncapped) = if at >= now {
                    (
                        Some(ReasonCode::Cooldown),
                        Some(ReasonCode::Cap7d),
                        Some(ReasonCode::GlobalCap),
                    )
                } else {
                    (None, None, None)
                };
                let case = format!("now {}, exposure at {}", now.0, at.0);
                assert_eq!(code(&ledger, &cooled), want_cooled, "{case}");
                assert_eq!(code(&ledger, &capped), want_capped, "{case}");
                assert_eq!(code(&ledger, &uncapped), want_uncapped, "{case}");
            }
        }
    }
}
