//! The windowed counters of the feature function: one per kind of event, bucketed by the
//! smallest window that holds the event.

use super::spec::FeatureType;

/// Windowed counters, one per kind, bucketed by the smallest window that holds the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(super) enum Counter {
    Visits,
    PageViews,
    Carts,
    Purchases,
    Revenue,
    Opens,
    Clicks,
    SupportContacts,
    Complaints,
    Actions,
    Conversions,
}

impl Counter {
    pub(super) const ALL: [Counter; 11] = [
        Counter::Visits,
        Counter::PageViews,
        Counter::Carts,
        Counter::Purchases,
        Counter::Revenue,
        Counter::Opens,
        Counter::Clicks,
        Counter::SupportContacts,
        Counter::Complaints,
        Counter::Actions,
        Counter::Conversions,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Counter::Visits => "visits",
            Counter::PageViews => "page_views",
            Counter::Carts => "carts",
            Counter::Purchases => "purchases",
            Counter::Revenue => "revenue",
            Counter::Opens => "opens",
            Counter::Clicks => "clicks",
            Counter::SupportContacts => "support_contacts",
            Counter::Complaints => "complaints",
            Counter::Actions => "actions_received",
            Counter::Conversions => "conversions",
        }
    }

    pub(super) fn kind(self) -> FeatureType {
        if self == Counter::Revenue {
            FeatureType::Amount
        } else {
            FeatureType::Count
        }
    }
}
