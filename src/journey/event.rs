//! The journey event: one row of the data contract in docs/architecture.md.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Why a time is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A stored instant too large to be one (an integer timestamp that overflows microseconds).
    #[error("is out of range")]
    Overflow,
    /// An instant outside years 1000–9999.
    #[error("{micros} µs since 1970 is outside years 1000–9999")]
    OutOfRange {
        /// Microseconds since the epoch.
        micros: i64,
    },
    /// Text that is not an RFC 3339 date-time.
    #[error("'{text}' is not an RFC 3339 timestamp ({cause}{})", zone_hint(text))]
    NotRfc3339 {
        /// The text as given.
        text: String,
        /// The parser's complaint.
        cause: chrono::ParseError,
    },
    /// An RFC 3339 date-time outside years 1000–9999.
    #[error("'{text}' is outside years 1000–9999")]
    TextOutOfRange {
        /// The text as given.
        text: String,
    },
    /// Text that is neither a `YYYY-MM-DD` date nor an RFC 3339 date-time.
    #[error("'{text}' is neither a YYYY-MM-DD date nor an RFC 3339 timestamp ({cause})")]
    NotDateOrTime {
        /// The text as given.
        text: String,
        /// Why it is not a date-time.
        cause: Box<TimeError>,
    },
}

/// A date-time without a zone is the usual mistake: say how to add one.
fn zone_hint(text: &str) -> &'static str {
    if text.contains('T') || text.contains(' ') {
        "; add a zone such as Z or +01:00"
    } else {
        ""
    }
}

/// An instant, as microseconds since the Unix epoch (UTC).
///
/// Microseconds match Parquet's `TIMESTAMP(MICROS)` and keep every comparison an integer
/// comparison, which is what makes point-in-time filtering exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds in one day.
    pub const MICROS_PER_DAY: i64 = 86_400_000_000;
    /// Microseconds in one second.
    pub const MICROS_PER_SECOND: i64 = 1_000_000;

    /// The earliest instant accepted: 1000-01-01T00:00:00Z.
    pub const MIN_VALID: Timestamp = Timestamp(-30_610_224_000_000_000);
    /// The latest instant accepted: 9999-12-31T23:59:59.999999Z.
    pub const MAX_VALID: Timestamp = Timestamp(253_402_300_799_999_999);

    /// This instant if it lies within years 1000–9999 (the RFC 3339 range), so that time
    /// arithmetic can never overflow; an error otherwise.
    pub fn validated(self) -> Result<Self, TimeError> {
        if (Self::MIN_VALID..=Self::MAX_VALID).contains(&self) {
            Ok(self)
        } else {
            Err(TimeError::OutOfRange { micros: self.0 })
        }
    }

    /// Parses an RFC 3339 date-time (`2024-03-01T12:00:00Z`, any offset).
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        let parsed =
            DateTime::parse_from_rfc3339(text.trim()).map_err(|cause| TimeError::NotRfc3339 {
                text: text.to_string(),
                cause,
            })?;
        Timestamp(parsed.timestamp_micros())
            .validated()
            .map_err(|_| TimeError::TextOutOfRange {
                text: text.to_string(),
            })
    }

    /// Parses either an RFC 3339 date-time or a plain `YYYY-MM-DD` date (midnight UTC).
    pub fn parse_date_or_datetime(text: &str) -> Result<Self, TimeError> {
        let trimmed = text.trim();
        if trimmed.len() == 10 {
            if let Ok(date) = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
                return Self::from_date(date).validated();
            }
        }
        Self::parse_rfc3339(trimmed).map_err(|cause| TimeError::NotDateOrTime {
            text: text.to_string(),
            cause: Box::new(cause),
        })
    }

    /// Midnight UTC of a calendar date.
    pub fn from_date(date: NaiveDate) -> Self {
        let days = date
            .signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default())
            .num_days();
        Timestamp(days * Self::MICROS_PER_DAY)
    }

    /// The instant `days` (possibly fractional) after this one.
    pub fn plus_days(self, days: f64) -> Self {
        Timestamp(self.0 + (days * Self::MICROS_PER_DAY as f64).round() as i64)
    }

    /// Days elapsed from `earlier` to `self` (negative if `earlier` is later).
    pub fn days_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / Self::MICROS_PER_DAY as f64
    }

    /// RFC 3339 in UTC with a `Z` suffix, seconds precision unless sub-second parts exist.
    pub fn to_rfc3339(self) -> String {
        match DateTime::<Utc>::from_timestamp_micros(self.0) {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            None => format!("@{}us", self.0),
        }
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        Timestamp(micros)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_date_or_datetime(&text).map_err(serde::de::Error::custom)
    }
}

/// Declares a string-backed enum whose unknown values are kept verbatim in `Other`.
macro_rules! open_vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value outside the known vocabulary, kept as it was written.
            Other(Box<str>),
        }

        impl $name {
            /// Every known value, in declaration order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// Maps text to a known value, or keeps it in `Other`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.into()),
                }
            }

            /// The value as written in data files.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }

            /// Whether the value is outside the known vocabulary.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok($name::parse(&text))
            }
        }
    };
}

open_vocabulary! {
    /// What happened. The known types are the ones features understand; others are kept and counted.
    EventType {
        /// A session on the web site or app.
        Visit => "visit",
        /// One page or screen viewed.
        PageView => "page_view",
        /// An email was opened.
        EmailOpen => "email_open",
        /// A link in an email was clicked.
        EmailClick => "email_click",
        /// A message on `channel` (push, sms, app) was opened.
        Open => "open",
        /// A message on `channel` was clicked.
        Click => "click",
        /// A product was put in the cart.
        AddToCart => "add_to_cart",
        /// A purchase; `value` is the money.
        Purchase => "purchase",
        /// A support ticket; `text` is its content.
        SupportTicket => "support_ticket",
        /// A chat with support; `text` is its content.
        Chat => "chat",
        /// A product or service review; `text` is its content.
        Review => "review",
        /// A complaint; `text` is its content.
        Complaint => "complaint",
        /// The customer withdrew consent for `channel` (or all marketing when no channel).
        Unsubscribe => "unsubscribe",
        /// The customer cancelled (churned).
        Cancel => "cancel",
        /// We took a marketing or service action (`action_id`).
        Action => "action",
        /// A conversion, optionally answering `action_id`; `value` is the money.
        Conversion => "conversion",
        /// The customer `customer_id` was recognised as the visitor `anonymous_id` (a login or a
        /// sign-up): from then on that visitor's events are the customer's.
        Identify => "identify",
    }
}

open_vocabulary! {
    /// Where it happened. Unknown channels are kept and counted.
    Channel {
        /// The web site.
        Web => "web",
        /// The mobile app.
        App => "app",
        /// Email.
        Email => "email",
        /// Text message.
        Sms => "sms",
        /// Push notification.
        Push => "push",
        /// A phone call with the call centre.
        CallCenter => "call_center",
        /// A physical store.
        Store => "store",
        /// Live chat.
        Chat => "chat",
    }
}

impl EventType {
    /// Event types that carry customer-written text worth scoring for sentiment.
    pub fn carries_text(&self) -> bool {
        matches!(
            self,
            EventType::SupportTicket | EventType::Chat | EventType::Review | EventType::Complaint
        )
    }
}

/// One journey event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The customer; empty on an anonymous event (one with only an `anonymous_id`).
    pub customer_id: String,
    /// When it happened.
    pub timestamp: Timestamp,
    /// What happened.
    pub event_type: EventType,
    /// Where it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Which action (on `action` events, and on `conversion` events that answer one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<String>,
    /// Money, for purchases and conversions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Free text of tickets, chats, reviews and complaints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The visitor (device, cookie) before the customer is known; an `identify` event links it
    /// to `customer_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
}

impl Event {
    /// A bare event with no optional fields.
    pub fn new(
        customer_id: impl Into<String>,
        timestamp: Timestamp,
        event_type: EventType,
    ) -> Self {
        Event {
            customer_id: customer_id.into(),
            timestamp,
            event_type,
            channel: None,
            action_id: None,
            value: None,
            text: None,
            anonymous_id: None,
        }
    }

    /// An event of a visitor not (yet) known as a customer: no `customer_id`, only an
    /// `anonymous_id`.
    pub fn anonymous(
        anonymous_id: impl Into<String>,
        timestamp: Timestamp,
        event_type: EventType,
    ) -> Self {
        Event {
            anonymous_id: Some(anonymous_id.into()),
            ..Event::new(String::new(), timestamp, event_type)
        }
    }

    /// An `identify` event: from `timestamp` on, visitor `anonymous_id` is `customer_id`.
    pub fn identify(
        customer_id: impl Into<String>,
        anonymous_id: impl Into<String>,
        timestamp: Timestamp,
    ) -> Self {
        Event {
            anonymous_id: Some(anonymous_id.into()),
            ..Event::new(customer_id, timestamp, EventType::Identify)
        }
    }

    /// Whether the event belongs to a visitor rather than a customer (no `customer_id`).
    pub fn is_anonymous(&self) -> bool {
        self.customer_id.is_empty()
    }

    /// Builder-style setter for the channel.
    pub fn with_channel(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Builder-style setter for the action id.
    pub fn with_action(mut self, action_id: impl Into<String>) -> Self {
        self.action_id = Some(action_id.into());
        self
    }

    /// Builder-style setter for the value.
    pub fn with_value(mut self, value: f64) -> Self {
        self.value = Some(value);
        self
    }

    /// Builder-style setter for the text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_dates_and_offsets() {
        let a = Timestamp::parse_date_or_datetime("2024-03-01").unwrap();
        let b = Timestamp::parse_rfc3339("2024-03-01T01:00:00+01:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2024-03-01T00:00:00Z");
        assert!((a.plus_days(1.5).days_since(a) - 1.5).abs() < 1e-12);
        assert!(Timestamp::parse_rfc3339("2024-13-01T00:00:00Z").is_err());
        assert!(Timestamp::parse_date_or_datetime("yesterday").is_err());
    }

    #[test]
    fn time_errors_say_what_was_expected() {
        let error = Timestamp::parse_date_or_datetime(" 2024-03-01 10:00").unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("' 2024-03-01 10:00' is neither a YYYY-MM-DD date nor an RFC 3339 timestamp ('2024-03-01 10:00' is not an RFC 3339 timestamp (")
                && text.ends_with("; add a zone such as Z or +01:00))"),
            "{text}"
        );
        assert_eq!(
            Timestamp::parse_rfc3339("0999-12-31T00:00:00Z")
                .unwrap_err()
                .to_string(),
            "'0999-12-31T00:00:00Z' is outside years 1000–9999"
        );
        assert_eq!(
            Timestamp(i64::MAX).validated().unwrap_err().to_string(),
            format!("{} µs since 1970 is outside years 1000–9999", i64::MAX)
        );
    }

    #[test]
    fn unknown_vocabulary_is_kept_verbatim() {
        assert_eq!(EventType::parse("purchase"), EventType::Purchase);
        let odd = EventType::parse("loyalty_points");
        assert!(!odd.is_known());
        assert_eq!(odd.as_str(), "loyalty_points");
        assert_eq!(Channel::parse("kiosk").as_str(), "kiosk");
    }
}
