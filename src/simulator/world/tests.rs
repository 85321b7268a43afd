//! The simulated world's ground truth against simulation.

use super::*;

#[test]
fn conversion_probability_matches_monte_carlo() {
    use rand::SeedableRng;
    let rates = WeekRates {
        visit: 0.3,
        buy_given_visit: 0.2,
        cancel: 0.05,
        value_factor: 1.0,
    };
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
    let trials = 200_000;
    let mut converted = 0;
    for _ in 0..trials {
        for _ in 0..WEEK_DAYS {
            if rng.random_bool(rates.visit * rates.buy_given_visit) {
                converted += 1;
                break;
            }
            if rng.random_bool(rates.cancel) {
                break;
            }
        }
    }
    let observed = f64::from(converted) / f64::from(trials);
    assert!(
        (observed - rates.p_convert()).abs() < 0.005,
        "{observed} vs {}",
        rates.p_convert()
    );
}

#[test]
fn effects_are_heterogeneous() {
    let catalog = catalog();
    let state = State {
        satisfaction: 0.8,
        fatigue: 1.0,
        consent: [true; 3],
        last_issue_day: None,
        alive: true,
    };
    let mut bargain = Traits {
        engagement: 0.5,
        price_sensitivity: 0.95,
        contact_aversion: 0.05,
        base_satisfaction: 0.8,
        channel_affinity: [0.2, 0.6, 0.2],
        app_user: true,
        order_value: 40.0,
    };
    let sms = catalog
        .actions
        .iter()
        .find(|a| a.id == "sms_flash_sale")
        .unwrap();
    let base = base_rates(&bargain, &state, "north");
    let helped = rates_under(sms, base, &bargain, &state, 0);
    assert!(helped.p_convert() > base.p_convert() * 1.5);
    bargain.contact_aversion = 0.9;
    let base = base_rates(&bargain, &state, "north");
    let annoyed = rates_under(sms, base, &bargain, &state, 0);
    assert!(
        annoyed.p_churn(7) > base.p_churn(7) * 2.0,
        "sms must raise churn of the contact-averse"
    );
}
