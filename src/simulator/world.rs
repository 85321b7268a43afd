//! The simulated world: customers with latent traits, weekly randomised actions, daily behaviour.
//!
//! Time runs in weeks aligned to each customer's decision time. At the start of a week the
//! logging policy picks an action at random (with a known propensity, or none as control);
//! during the week the customer's daily visit, purchase and cancel probabilities are fixed
//! functions of traits, state and that action. That makes the ground truth exact: P(convert
//! within 7 days) and P(cancel within 7 days) under *every* action are closed-form from the same
//! rates the simulation draws from.

use rand::Rng;
use rand_distr::{Beta, BetaError, Distribution, LogNormal, Poisson};

use super::text::{compose, Tone};
use crate::catalog::{Action, ActionKind, Catalog, ContactCaps, Eligibility};
use crate::journey::{Channel, Event, EventType, Timestamp};

/// Days in a decision week (also the conversion window).
pub const WEEK_DAYS: u32 = 7;
/// Horizon of the churn ground truth, in days.
pub const CHURN_HORIZON_DAYS: u32 = 30;
/// Share of decision points left without action (the control group).
pub const CONTROL_SHARE: f64 = 0.4;
/// Action id of the explicit "do nothing" entry.
pub const NO_ACTION: &str = "no_action";

/// The simulator's action catalog: ids, channels and economics.
pub fn catalog() -> Catalog {
    let action =
        |id: &str, channel: Channel, kind: ActionKind, value: f64, cost: f64, description: &str| {
            Action {
                id: id.into(),
                channel,
                kind,
                value,
                cost,
                requires_consent: None,
                caps: ContactCaps::default(),
                eligibility: Eligibility::default(),
                description: Some(description.into()),
                model_as: None,
            }
        };
    let mut actions = vec![
        action("email_discount", Channel::Email, ActionKind::Sales, 55.0, 6.0,
            "15% discount by email; strong for price-sensitive customers, irritates the contact-averse"),
        action("email_newsletter", Channel::Email, ActionKind::Sales, 40.0, 0.1,
            "content newsletter; small lift for engaged email readers"),
        action("sms_flash_sale", Channel::Sms, ActionKind::Sales, 45.0, 0.5,
            "48-hour flash sale by SMS; big lift for bargain hunters, raises churn of the contact-averse"),
        action("push_new_arrivals", Channel::Push, ActionKind::Sales, 50.0, 0.05,
            "new-arrivals push to app users; lifts engaged, full-price shoppers"),
        action("call_retention_offer", Channel::CallCenter, ActionKind::Retention, 300.0, 12.0,
            "outbound retention call with an offer; saves unhappy customers, annoys happy contact-averse ones"),
        action("email_service_followup", Channel::Email, ActionKind::Service, 40.0, 0.3,
            "follow-up after a support contact; repairs satisfaction after an issue, useless otherwise"),
        action(NO_ACTION, Channel::parse("none"), ActionKind::None, 0.0, 0.0, "do nothing"),
    ];
    actions[0].caps.cooldown_days = Some(14.0);
    actions[2].caps.per_30_days = Some(2);
    actions[4].eligibility.min_churn_risk = Some(0.05);
    actions[4].caps.cooldown_days = Some(60.0);
    actions[5].eligibility.requires_support_contact_within_days = Some(30.0);
    Catalog { actions }
}

/// Latent traits of a customer: never observed directly, they drive everything observed.
#[derive(Clone, Debug)]
pub struct Traits {
    /// How much they use the product (0..1).
    pub engagement: f64,
    /// How much discounts move them (0..1).
    pub price_sensitivity: f64,
    /// How much marketing contact annoys them (0..1).
    pub contact_aversion: f64,
    /// Long-run satisfaction they revert to (0..1).
    pub base_satisfaction: f64,
    /// Affinity to email, SMS and push (sum to 1).
    pub channel_affinity: [f64; 3],
    /// Uses the mobile app.
    pub app_user: bool,
    /// Mean order value.
    pub order_value: f64,
}

/// Observable static attributes (the customer table).
#[derive(Clone, Debug)]
pub struct Profile {
    /// Plan tier.
    pub plan: &'static str,
    /// Region.
    pub region: &'static str,
    /// Age band.
    pub age_band: &'static str,
    /// Acquisition channel.
    pub acquisition: &'static str,
    /// Signup instant.
    pub signup: Timestamp,
    /// Initial consents: email, sms, push.
    pub consent: [bool; 3],
}

/// Dynamic state.
#[derive(Clone, Debug)]
pub(super) struct State {
    satisfaction: f64,
    fatigue: f64,
    consent: [bool; 3],
    last_issue_day: Option<i64>,
    alive: bool,
}

/// Daily probabilities for one week under one action.
#[derive(Clone, Copy, Debug)]
pub(super) struct WeekRates {
    visit: f64,
    buy_given_visit: f64,
    cancel: f64,
    value_factor: f64,
}

impl WeekRates {
    /// P(at least one purchase within the week), purchases happening before the day's cancel draw.
    pub(super) fn p_convert(&self) -> f64 {
        let q = (self.visit * self.buy_given_visit).clamp(0.0, 1.0);
        let h = self.cancel.clamp(0.0, 1.0);
        let mut no_purchase = 0.0;
        let mut alive = 1.0;
        for _ in 0..WEEK_DAYS {
            alive *= 1.0 - q; // survived today without buying
            no_purchase += alive * h; // ...and cancelled tonight
            alive *= 1.0 - h;
        }
        1.0 - (no_purchase + alive)
    }

    pub(super) fn p_churn(&self, days: u32) -> f64 {
        1.0 - (1.0 - self.cancel.clamp(0.0, 1.0)).powi(days as i32)
    }
}

/// One decision point with its ground truth.
#[derive(Clone, Debug)]
pub struct DecisionTruth {
    /// When the decision was made.
    pub timestamp: Timestamp,
    /// Action taken (`no_action` for control).
    pub action: usize,
    /// Probability the logging policy gave the action taken.
    pub propensity: f64,
    /// P(purchase within 7 days) under each catalog action (index-aligned with the catalog).
    pub p_convert: Vec<f64>,
    /// P(cancel within 7 days) under each catalog action.
    pub p_churn_7d: Vec<f64>,
    /// P(cancel within 30 days) if nothing is done and the state stays as it is.
    pub p_churn_30d: f64,
    /// A purchase happened within 7 days (realised).
    pub converted_7d: bool,
    /// A cancel happened within 30 days (realised); `None` when the 30 days run past the end.
    pub churned_30d: Option<bool>,
    /// Satisfaction at the decision time (latent).
    pub satisfaction: f64,
    /// The hidden state behind the truths, to recompute them under other assumptions
    /// ([`super::knowledge::expected_truth`]).
    pub context: DecisionContext,
}

/// The latent state at a decision point (opaque outside the simulator).
#[derive(Clone, Debug)]
pub struct DecisionContext {
    pub(super) state: State,
    pub(super) region: &'static str,
    pub(super) today: i64,
    pub(super) horizon_days: u32,
}

/// Everything simulated for one customer.
#[derive(Clone, Debug)]
pub struct CustomerRun {
    /// Latent traits.
    pub traits: Traits,
    /// Observable profile.
    pub profile: Profile,
    /// Events in time order.
    pub events: Vec<Event>,
    /// Decision points in time order.
    pub decisions: Vec<DecisionTruth>,
    /// When they cancelled, if they did.
    pub cancelled_at: Option<Timestamp>,
    /// Satisfaction at the end.
    pub final_satisfaction: f64,
}

/// Distributions built once.
pub struct Distributions {
    engagement: Beta<f64>,
    price: Beta<f64>,
    aversion: Beta<f64>,
    satisfaction: Beta<f64>,
}

impl Distributions {
    /// Builds the trait distributions (constant, valid parameters).
    pub fn new() -> Result<Self, BetaError> {
        let beta = Beta::new;
        Ok(Distributions {
            engagement: beta(2.0, 3.0)?,
            price: beta(2.0, 2.0)?,
            aversion: beta(1.5, 4.0)?,
            satisfaction: beta(4.0, 2.0)?,
        })
    }
}

const PLANS: [&str; 3] = ["basic", "plus", "premium"];
const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const AGE_BANDS: [&str; 5] = ["18-24", "25-34", "35-44", "45-54", "55+"];
const ACQUISITION: [&str; 4] = ["search", "social", "referral", "store"];
const CHANNELS: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Push];

pub(super) fn draw_traits<R: Rng>(rng: &mut R, d: &Distributions) -> Traits {
    let raw: [f64; 3] = [
        -rng.random::<f64>().max(1e-12).ln() * 1.4,
        -rng.random::<f64>().max(1e-12).ln() * 0.8,
        -rng.random::<f64>().max(1e-12).ln(),
    ];
    let total: f64 = raw.iter().sum();
    let engagement = d.engagement.sample(rng);
    let order_value = LogNormal::new(45f64.ln(), 0.45)
        .map(|l| l.sample(rng))
        .unwrap_or(45.0);
    Traits {
        engagement,
        price_sensitivity: d.price.sample(rng),
        contact_aversion: d.aversion.sample(rng),
        base_satisfaction: d.satisfaction.sample(rng),
        channel_affinity: [raw[0] / total, raw[1] / total, raw[2] / total],
        app_user: rng.random_bool((0.25 + 0.5 * engagement).min(1.0)),
        order_value,
    }
}

fn draw_profile<R: Rng>(rng: &mut R, traits: &Traits, start: Timestamp, days: u32) -> Profile {
    let plan = if traits.order_value > 70.0 {
        PLANS[if rng.random_bool(0.7) { 2 } else { 1 }]
    } else if traits.order_value > 40.0 {
        PLANS[rng.random_range(0..2) + 1]
    } else {
        PLANS[if rng.random_bool(0.8) { 0 } else { 1 }]
    };
    // 85% were customers before the simulation; the rest sign up during it.
    let signup = if rng.random_bool(0.85) {
        start.plus_days(-rng.random_range(1.0..1100.0))
    } else {
        start.plus_days(rng.random_range(0.0..(f64::from(days) * 0.8).max(1.0)))
    };
    Profile {
        plan,
        region: REGIONS[rng.random_range(0..REGIONS.len())],
        age_band: AGE_BANDS[rng.random_range(0..AGE_BANDS.len())],
        acquisition: ACQUISITION[rng.random_range(0..ACQUISITION.len())],
        signup,
        consent: [
            rng.random_bool(0.85),
            rng.random_bool(0.45),
            traits.app_user && rng.random_bool(0.7),
        ],
    }
}

pub(super) fn base_rates(traits: &Traits, state: &State, region: &str) -> WeekRates {
    let s = state.satisfaction;
    let e = traits.engagement;
    let region_drag = if region == "south" { 0.0006 } else { 0.0 };
    WeekRates {
        visit: 0.02 + 0.22 * e * (0.3 + 1.0 * s),
        buy_given_visit: 0.05 + 0.10 * s * (1.0 - 0.5 * traits.price_sensitivity),
        // Unhappy, disengaged customers leave; happy engaged ones almost never do.
        cancel: 0.00003
            + 0.02 * (1.0 - s).powi(3) * (1.4 - e)
            + 0.0006 * state.fatigue * traits.contact_aversion
            + region_drag * (1.0 - s),
        value_factor: 1.0,
    }
}

/// The true effect of each action: heterogeneous by design, harmful for some customers.
pub(super) fn rates_under(
    action: &Action,
    base: WeekRates,
    traits: &Traits,
    state: &State,
    today: i64,
) -> WeekRates {
    let mut r = base;
    let p = traits.price_sensitivity;
    let a = traits.contact_aversion;
    let e = traits.engagement;
    let s = state.satisfaction;
    let [email, sms, push] = traits.channel_affinity;
    let recent_issue = state.last_issue_day.is_some_and(|d| today - d <= 30);
    match action.id.as_str() {
        "email_discount" => {
            r.buy_given_visit *= 1.0 + 2.2 * p * p - 0.25 * (1.0 - p);
            r.visit *= 1.0 + 0.6 * email * e;
            r.cancel *= 1.0 + 0.8 * a;
            r.value_factor = 0.85;
        }
        "email_newsletter" => {
            r.visit *= 1.0 + 0.5 * email * e;
            r.cancel *= 1.0 + 0.3 * a;
        }
        "sms_flash_sale" => {
            r.buy_given_visit *= 1.0 + 1.8 * p * (0.5 + sms);
            r.visit *= 1.0 + 0.4 * sms;
            r.cancel *= 1.0 + 2.5 * a * a + 0.3 * a;
            r.value_factor = 0.9;
        }
        "push_new_arrivals" => {
            r.visit *= 1.0 + 1.2 * e * (0.3 + push);
            r.buy_given_visit *= 1.0 + 0.5 * (1.0 - p) - 0.2 * p;
            r.cancel *= 1.0 + 0.6 * a;
        }
        "call_retention_offer" => {
            r.cancel *= (1.0 - 0.75 * (1.0 - s)) * (1.0 + 1.5 * a * s);
            r.buy_given_visit *= 1.0 + 0.4 * (1.0 - s);
        }
        "email_service_followup" => {
            if recent_issue {
                r.cancel *= 0.45;
                r.visit *= 1.1;
            } else {
                r.cancel *= 1.0 + 0.2 * a;
            }
        }
        _ => {}
    }
    r.visit = r.visit.clamp(0.0, 0.95);
    r.buy_given_visit = r.buy_given_visit.clamp(0.0, 0.95);
    r.cancel = r.cancel.clamp(0.0, 0.5);
    r
}

fn consent_slot(channel: &Channel) -> Option<usize> {
    CHANNELS.iter().position(|c| c == channel)
}

/// Simulates one customer over `days` days from `start`; `no_action` is the catalog index of
/// the do-nothing action.
pub fn simulate_customer<R: Rng>(
    rng: &mut R,
    distributions: &Distributions,
    catalog: &Catalog,
    no_action: usize,
    customer_id: &str,
    start: Timestamp,
    days: u32,
) -> CustomerRun {
    let traits = draw_traits(rng, distributions);
    let profile = draw_profile(rng, &traits, start, days);
    let mut state = State {
        satisfaction: (traits.base_satisfaction + 0.1 * (rng.random::<f64>() - 0.5))
            .clamp(0.0, 1.0),
        fatigue: 0.0,
        consent: profile.consent,
        last_issue_day: None,
        alive: true,
    };
    let mut events = Vec::new();
    let mut decisions: Vec<DecisionTruth> = Vec::new();
    let offset_hours = rng.random_range(7.0..21.0);
    let anchor = start.plus_days(offset_hours / 24.0);
    let weeks = days.div_ceil(WEEK_DAYS);
    let new = |ts: Timestamp, kind: EventType| Event::new(customer_id, ts, kind);
    let mut signed_up = profile.signup < anchor;
    let end = start.plus_days(f64::from(days));

    for week in 0..weeks {
        let week_start = anchor.plus_days(f64::from(week * WEEK_DAYS));
        let week_days = WEEK_DAYS.min(days - week * WEEK_DAYS);
        if !signed_up {
            if profile.signup >= week_start.plus_days(f64::from(week_days)) {
                continue;
            }
            signed_up = true;
            events.push(new(profile.signup, EventType::parse("signup")).with_channel(Channel::Web));
            continue; // decisions start the week after signup
        }
        let today = i64::from(week * WEEK_DAYS);
        let base = base_rates(&traits, &state, profile.region);
        let all_rates: Vec<WeekRates> = catalog
            .actions
            .iter()
            .map(|a| rates_under(a, base, &traits, &state, today))
            .collect();

        // Logging policy: control with CONTROL_SHARE, otherwise uniform over consented actions.
        let eligible: Vec<usize> = catalog
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| a.kind != ActionKind::None)
            .filter(|(_, a)| {
                !a.needs_consent() || consent_slot(&a.channel).is_some_and(|s| state.consent[s])
            })
            .map(|(i, _)| i)
            .collect();
        // A week whose conversion window does not end within the simulation logs no decision:
        // behaviour goes on, so the log stays complete, but nothing would label the decision.
        let full_week = week_days == WEEK_DAYS && week_start.plus_days(f64::from(WEEK_DAYS)) <= end;
        let (chosen, propensity) = if eligible.is_empty() || !full_week {
            (no_action, 1.0)
        } else if rng.random_bool(CONTROL_SHARE) {
            (no_action, CONTROL_SHARE)
        } else {
            let share = (1.0 - CONTROL_SHARE) / eligible.len() as f64;
            (eligible[rng.random_range(0..eligible.len())], share)
        };
        let rates = all_rates[chosen];
        if full_week {
            decisions.push(DecisionTruth {
                timestamp: week_start,
                action: chosen,
                propensity,
                p_convert: all_rates.iter().map(WeekRates::p_convert).collect(),
                p_churn_7d: all_rates.iter().map(|r| r.p_churn(WEEK_DAYS)).collect(),
                p_churn_30d: all_rates[no_action].p_churn(CHURN_HORIZON_DAYS),
                converted_7d: false,
                churned_30d: None,
                satisfaction: state.satisfaction,
                context: DecisionContext {
                    state: state.clone(),
                    region: profile.region,
                    today,
                    horizon_days: WEEK_DAYS,
                },
            });
        }

        let action = &catalog.actions[chosen];
        let contacted = action.kind != ActionKind::None;
        if contacted {
            let at = week_start;
            events.push(
                new(at, EventType::Action)
                    .with_channel(action.channel.clone())
                    .with_action(action.id.clone()),
            );
            respond(
                rng,
                &traits,
                &mut state,
                action,
                at,
                customer_id,
                &mut events,
            );
        }

        // Daily behaviour for the week.
        for day in 0..week_days {
            let day_start = week_start.plus_days(f64::from(day));
            let at = |rng: &mut R, from: f64, to: f64| {
                day_start.plus_days(rng.random_range(from..to) / 24.0)
            };
            if rng.random_bool(rates.visit) {
                let channel = if traits.app_user && rng.random_bool(0.6) {
                    Channel::App
                } else {
                    Channel::Web
                };
                let visit_at = at(rng, 0.5, 20.0);
                events.push(new(visit_at, EventType::Visit).with_channel(channel.clone()));
                let views = Poisson::new(1.0 + 2.0 * traits.engagement)
                    .map(|p| p.sample(rng) as u32)
                    .unwrap_or(1);
                for v in 0..views {
                    events.push(
                        new(
                            visit_at.plus_days(f64::from(v + 1) * 40.0 / 86_400.0),
                            EventType::PageView,
                        )
                        .with_channel(channel.clone()),
                    );
                }
                let cart = (rates.buy_given_visit * 2.5 + 0.05).min(0.95);
                if rng.random_bool(cart) {
                    let cart_at = visit_at.plus_days(0.1 / 24.0);
                    events.push(new(cart_at, EventType::AddToCart).with_channel(channel.clone()));
                    if rng.random_bool((rates.buy_given_visit / cart).min(1.0)) {
                        let value =
                            LogNormal::new((traits.order_value * rates.value_factor).ln(), 0.5)
                                .map(|l| l.sample(rng))
                                .unwrap_or(traits.order_value);
                        let value = (value * 100.0).round() / 100.0;
                        events.push(
                            new(cart_at.plus_days(0.05 / 24.0), EventType::Purchase)
                                .with_channel(channel.clone())
                                .with_value(value),
                        );
                        if rng.random_bool(0.08) {
                            let tone = Tone::draw(rng, state.satisfaction);
                            events.push(
                                new(cart_at.plus_days(2.0), EventType::Review)
                                    .with_channel(channel)
                                    .with_text(compose(rng, tone)),
                            );
                        }
                    }
                }
            }
            // Service failures hit at random; how the customer reacts follows satisfaction.
            if rng.random_bool(0.006) {
                state.satisfaction = (state.satisfaction - 0.12).max(0.0);
                state.last_issue_day = Some(today + i64::from(day));
                if rng.random_bool(0.7) {
                    let tone = Tone::draw(rng, state.satisfaction);
                    let (kind, channel) = match (tone, rng.random_range(0..3)) {
                        (Tone::Negative, 0) => (EventType::Complaint, Channel::CallCenter),
                        (_, 1) => (EventType::Chat, Channel::Chat),
                        _ => (EventType::SupportTicket, Channel::Email),
                    };
                    events.push(
                        new(at(rng, 1.0, 22.0), kind)
                            .with_channel(channel)
                            .with_text(compose(rng, tone)),
                    );
                }
            } else if rng.random_bool(0.002 + 0.04 * (1.0 - state.satisfaction).powi(2)) {
                let tone = Tone::draw(rng, state.satisfaction);
                events.push(
                    new(at(rng, 1.0, 22.0), EventType::SupportTicket)
                        .with_channel(Channel::Web)
                        .with_text(compose(rng, tone)),
                );
            }
            if rng.random_bool(rates.cancel) {
                let when = at(rng, 22.0, 23.9);
                events.push(new(when, EventType::Cancel).with_channel(Channel::Web));
                state.alive = false;
                break;
            }
        }
        if !state.alive {
            break;
        }
        // End of week: satisfaction reverts to its base, actions leave their mark, fatigue decays.
        let s = state.satisfaction;
        let mut drift = 0.15 * (traits.base_satisfaction - s) + 0.04 * (rng.random::<f64>() - 0.5);
        match action.id.as_str() {
            "call_retention_offer" => {
                drift += 0.10 * (1.0 - s) - 0.05 * traits.contact_aversion * s
            }
            "email_service_followup" if state.last_issue_day.is_some_and(|d| today - d <= 30) => {
                drift += 0.12
            }
            _ => {}
        }
        state.satisfaction = (s + drift).clamp(0.0, 1.0);
        state.fatigue = 0.6 * state.fatigue
            + if contacted {
                0.5 + traits.contact_aversion
            } else {
                0.0
            };
    }
    // The log ends with the simulation; responses, reviews and cancels scheduled later never
    // happen. Realised outcomes are read back from the final log, so they always agree with it.
    events.retain(|e| e.timestamp < end);
    events.sort_by_key(|e| e.timestamp);
    let cancelled_at = events
        .iter()
        .find(|e| e.event_type == EventType::Cancel)
        .map(|e| e.timestamp);
    let purchases: Vec<Timestamp> = events
        .iter()
        .filter(|e| e.event_type == EventType::Purchase)
        .map(|e| e.timestamp)
        .collect();
    for decision in &mut decisions {
        let t = decision.timestamp;
        let week_end = t.plus_days(f64::from(WEEK_DAYS));
        let first = purchases.partition_point(|&p| p < t);
        decision.converted_7d = purchases.get(first).is_some_and(|&p| p < week_end);
        let horizon_end = t.plus_days(f64::from(CHURN_HORIZON_DAYS));
        decision.churned_30d =
            (horizon_end <= end).then(|| cancelled_at.is_some_and(|c| c >= t && c < horizon_end));
    }
    CustomerRun {
        traits,
        profile,
        events,
        decisions,
        cancelled_at,
        final_satisfaction: state.satisfaction,
    }
}

/// Opens, clicks and unsubscribes that answer a marketing action.
fn respond<R: Rng>(
    rng: &mut R,
    traits: &Traits,
    state: &mut State,
    action: &Action,
    at: Timestamp,
    customer_id: &str,
    events: &mut Vec<Event>,
) {
    let Some(slot) = consent_slot(&action.channel) else {
        return;
    };
    let affinity = traits.channel_affinity[slot];
    // Unhappy customers stop reading what we send.
    let open = ((0.1 + 0.6 * affinity + 0.2 * traits.engagement)
        * (0.4 + 0.8 * state.satisfaction))
        .min(0.95);
    let response_at = at.plus_days(rng.random_range(0.05..1.5));
    if rng.random_bool(open) {
        let open_type = if slot == 0 {
            EventType::EmailOpen
        } else {
            EventType::Open
        };
        events.push(
            Event::new(customer_id, response_at, open_type)
                .with_channel(action.channel.clone())
                .with_action(action.id.clone()),
        );
        let click = (0.15 + 0.3 * traits.engagement + 0.2 * traits.price_sensitivity).min(0.9);
        if rng.random_bool(click) {
            let click_type = if slot == 0 {
                EventType::EmailClick
            } else {
                EventType::Click
            };
            events.push(
                Event::new(customer_id, response_at.plus_days(0.002), click_type)
                    .with_channel(action.channel.clone())
                    .with_action(action.id.clone()),
            );
        }
    }
    let unsubscribe = (0.001 + 0.012 * traits.contact_aversion * (1.0 + state.fatigue)).min(0.5);
    if rng.random_bool(unsubscribe) {
        state.consent[slot] = false;
        events.push(
            Event::new(
                customer_id,
                response_at.plus_days(0.004),
                EventType::Unsubscribe,
            )
            .with_channel(action.channel.clone()),
        );
    }
}

#[cfg(test)]
mod tests;
