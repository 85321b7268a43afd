//! A customer's past contacts and opt-outs, gathered in the same pass over the history as the
//! features (see [`FeatureAccumulator::recording_contacts`]). Decision policies need them in
//! full — every send with its action and channel, every unsubscribe on any channel — where the
//! features keep only counts of the tracked channels.
//!
//! [`FeatureAccumulator::recording_contacts`]: super::FeatureAccumulator::recording_contacts

use crate::journey::{Channel, Event, EventType, Timestamp};

/// One action sent to the customer (an `action` event with an action id and a channel).
#[derive(Clone, Debug, PartialEq)]
pub struct PastSend {
    /// When it was sent.
    pub at: Timestamp,
    /// Which action.
    pub action_id: String,
    /// On which channel.
    pub channel: Channel,
}

/// Contacts and opt-outs before the cutoff.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContactHistory {
    /// An `unsubscribe` without a channel: the customer left all marketing.
    pub unsubscribed_all: bool,
    /// Channels unsubscribed one by one, in first-seen order, each once.
    pub unsubscribed_channels: Vec<Channel>,
    /// Every send, in history order.
    pub sends: Vec<PastSend>,
}

/// Heap bytes counted for each send's action id (short ids, with the allocator's overhead).
const ACTION_ID_BYTES: usize = 32;

impl ContactHistory {
    /// Bytes held, approximately: the struct, and per send its entry and its action id.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        size_of::<Self>()
            + self.unsubscribed_channels.capacity() * size_of::<Channel>()
            + self.sends.capacity() * (size_of::<PastSend>() + ACTION_ID_BYTES)
    }

    /// Takes note of one event before the cutoff.
    pub(crate) fn observe(&mut self, event: &Event) {
        match event.event_type {
            EventType::Unsubscribe => match &event.channel {
                Some(channel) => {
                    if !self.unsubscribed_channels.contains(channel) {
                        self.unsubscribed_channels.push(channel.clone());
                    }
                }
                None => self.unsubscribed_all = true,
            },
            // A send without an action id or a channel cannot count against any cap.
            // A logged "do nothing" reached nobody: it counts against no cap.
            EventType::Action
                if crate::catalog::is_no_action(
                    event.action_id.as_deref(),
                    event.channel.as_ref(),
                ) => {}
            EventType::Action => {
                if let (Some(action_id), Some(channel)) = (&event.action_id, &event.channel) {
                    self.sends.push(PastSend {
                        at: event.timestamp,
                        action_id: action_id.clone(),
                        channel: channel.clone(),
                    });
                }
            }
            _ => {}
        }
    }
}
