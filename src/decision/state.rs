//! What a decision is made from: the customer's state at the decision instant and the model
//! scores of every candidate action. The service fills these per request; the policy code never
//! loads a model or reads a store.

use serde::{Deserialize, Serialize};

use crate::catalog::Action;
use crate::journey::{Channel, Timestamp};

/// One past contact of the customer, from the profile store (an `action` event).
///
/// Only real contacts belong here: a "no action" decision is not a contact and must not be passed
/// as an exposure, or it would count against caps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// When the action was sent.
    pub at: Timestamp,
    /// Which action was sent.
    pub action_id: String,
    /// The channel it went out on.
    pub channel: Channel,
}

/// Per-channel consent, as known from the customer's attributes (e.g. `email_consent`).
///
/// A channel that was never set is *unknown*; the policy's `eligibility.unknown_consent` says
/// whether unknown counts as consent.
///
/// Serialised as a map, e.g. `{"email": true, "sms": false}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConsentMap {
    entries: Vec<(Channel, bool)>,
}

impl ConsentMap {
    /// An empty map: consent unknown on every channel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records consent (`true`) or refusal (`false`) for a channel, replacing an earlier value.
    pub fn set(&mut self, channel: Channel, granted: bool) {
        match self.entries.iter_mut().find(|(c, _)| *c == channel) {
            Some(entry) => entry.1 = granted,
            None => self.entries.push((channel, granted)),
        }
    }

    /// Builder form of [`ConsentMap::set`].
    pub fn with(mut self, channel: Channel, granted: bool) -> Self {
        self.set(channel, granted);
        self
    }

    /// Consent on a channel: `Some(true)` granted, `Some(false)` refused, `None` unknown.
    pub fn get(&self, channel: &Channel) -> Option<bool> {
        self.entries
            .iter()
            .find(|(c, _)| c == channel)
            .map(|&(_, granted)| granted)
    }
}

impl Serialize for ConsentMap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(c, g)| (c, g)))
    }
}

impl<'de> Deserialize<'de> for ConsentMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<Channel, bool>::deserialize(deserializer)?;
        Ok(ConsentMap {
            entries: map.into_iter().collect(),
        })
    }
}

/// The channels a customer unsubscribed from (from `unsubscribe` events).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Unsubscribes {
    /// An `unsubscribe` event without a channel: the customer left all marketing. Every action
    /// that needs consent ([`Action::needs_consent`]) becomes ineligible.
    #[serde(default)]
    pub all: bool,
    /// Channels unsubscribed one by one. Every action on such a channel (except doing nothing)
    /// becomes ineligible, whether or not it normally needs consent.
    #[serde(default)]
    pub channels: Vec<Channel>,
}

impl Unsubscribes {
    /// Whether the customer unsubscribed from exactly this channel.
    pub fn channel(&self, channel: &Channel) -> bool {
        self.channels.iter().any(|c| c == channel)
    }
}

/// The customer at the decision instant, as the service knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerState {
    /// The decision instant; caps, cool-downs and support recency are measured back from it.
    pub now: Timestamp,
    /// The channel the customer is on now (inbound context: `web`, `app`, `call_center`, …).
    #[serde(default)]
    pub context_channel: Option<Channel>,
    /// Where on that channel the answer will be shown (e.g. `homepage`, `checkout`).
    #[serde(default)]
    pub placement: Option<String>,
    /// P(churn within the churn model's horizon); `None` when no churn model ran.
    #[serde(default)]
    pub p_churn: Option<f64>,
    /// Recent sentiment as P(positive) of the customer's recent texts; `None` when the customer
    /// wrote nothing recently (or no sentiment model ran).
    #[serde(default)]
    pub sentiment: Option<f64>,
    /// Money the business keeps if the customer stays (e.g. expected revenue over the churn
    /// horizon); values retention actions under `expected_value`. Must be finite and ≥ 0.
    #[serde(default)]
    pub customer_value: f64,
    /// Consent per channel.
    #[serde(default)]
    pub consent: ConsentMap,
    /// Unsubscribes.
    #[serde(default)]
    pub unsubscribed: Unsubscribes,
    /// The customer's last support contact (ticket, chat, complaint), if any.
    #[serde(default)]
    pub last_support_contact: Option<Timestamp>,
    /// Past contacts, in any order. Exposures dated after `now` (clock skew between replicas)
    /// count as made at `now`: a contact that happened is never forgotten.
    #[serde(default)]
    pub exposures: Vec<Exposure>,
}

impl CustomerState {
    /// A customer about whom nothing is known yet, at `now`.
    pub fn new(now: Timestamp) -> Self {
        CustomerState {
            now,
            context_channel: None,
            placement: None,
            p_churn: None,
            sentiment: None,
            customer_value: 0.0,
            consent: ConsentMap::new(),
            unsubscribed: Unsubscribes::default(),
            last_support_contact: None,
            exposures: Vec::new(),
        }
    }
}

/// One candidate action with its conversion scores for this customer.
///
/// `uplift = p_convert − p_convert_no_action`. Both are `None` when no conversion model ran.
/// Scores that are not finite probabilities in [0, 1] are treated as missing and reported in
/// [`Decision::warnings`](crate::decision::Decision::warnings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CandidateScores<'a> {
    /// The action (from the catalog, or an ad-hoc candidate of the request).
    pub action: &'a Action,
    /// P(convert | this action).
    pub p_convert: Option<f64>,
    /// P(convert | no action) for the same customer at the same instant.
    pub p_convert_no_action: Option<f64>,
    /// P(churn within the horizon | this action), from a retention (uplift on churn) model.
    pub p_churn_action: Option<f64>,
    /// P(churn within the horizon | no action), from the same model.
    pub p_churn_no_action: Option<f64>,
}

impl<'a> CandidateScores<'a> {
    /// A candidate without model scores (rules-only policies need none).
    pub fn unscored(action: &'a Action) -> Self {
        CandidateScores {
            action,
            p_convert: None,
            p_convert_no_action: None,
            p_churn_action: None,
            p_churn_no_action: None,
        }
    }

    /// A candidate with both conversion scores.
    pub fn scored(action: &'a Action, p_convert: f64, p_convert_no_action: f64) -> Self {
        CandidateScores {
            action,
            p_convert: Some(p_convert),
            p_convert_no_action: Some(p_convert_no_action),
            p_churn_action: None,
            p_churn_no_action: None,
        }
    }

    /// With the retention model's P(churn | this action) and P(churn | no action).
    pub fn with_churn(mut self, p_churn_action: f64, p_churn_no_action: f64) -> Self {
        self.p_churn_action = Some(p_churn_action);
        self.p_churn_no_action = Some(p_churn_no_action);
        self
    }
}
