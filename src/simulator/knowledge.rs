//! What a decision-maker who does not know some of a customer's traits can expect: the ground
//! truth averaged over those traits' prior, everything else as it is. The best action by such
//! an expectation, valued by the real truth, is what deciding by the prior earns — evidence of
//! what knowing those traits is worth (`examples/policy_benchmark.rs`, docs/evaluation.md).

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::world::{base_rates, draw_traits, rates_under, DecisionContext, Distributions, Traits};
use crate::catalog::Catalog;

/// A latent trait a decision-maker may not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hidden {
    /// How much discounts move them.
    PriceSensitivity,
    /// How much contact annoys them.
    ContactAversion,
    /// Their affinities to e-mail, SMS and push.
    ChannelAffinity,
    /// How much they use the product (and so visit).
    Engagement,
}

/// P(purchase within 7 days) and P(cancel within 7 days) under each catalog action, averaged
/// over `draws` draws of the `hidden` traits from the simulator's own prior (a fixed seed, so
/// every decision point sees the same draws), the other traits and the state as they are.
pub fn expected_truth(
    catalog: &Catalog,
    distributions: &Distributions,
    traits: &Traits,
    context: &DecisionContext,
    hidden: &[Hidden],
    draws: usize,
) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0x6b6e_6f77);
    let (mut p_convert, mut p_churn) = (
        vec![0.0; catalog.actions.len()],
        vec![0.0; catalog.actions.len()],
    );
    let draws = draws.max(1);
    for _ in 0..draws {
        let drawn = draw_traits(&mut rng, distributions);
        let mut assumed = traits.clone();
        for trait_ in hidden {
            match trait_ {
                Hidden::PriceSensitivity => assumed.price_sensitivity = drawn.price_sensitivity,
                Hidden::ContactAversion => assumed.contact_aversion = drawn.contact_aversion,
                Hidden::ChannelAffinity => assumed.channel_affinity = drawn.channel_affinity,
                Hidden::Engagement => assumed.engagement = drawn.engagement,
            }
        }
        let base = base_rates(&assumed, &context.state, context.region);
        for (k, action) in catalog.actions.iter().enumerate() {
            let rates = rates_under(action, base, &assumed, &context.state, context.today);
            p_convert[k] += rates.p_convert();
            p_churn[k] += rates.p_churn(context.horizon_days);
        }
    }
    for v in p_convert.iter_mut().chain(p_churn.iter_mut()) {
        *v /= draws as f64;
    }
    (p_convert, p_churn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journey::Timestamp;
    use crate::simulator::world::{catalog, simulate_customer};

    #[test]
    fn hiding_nothing_gives_the_truth_and_hiding_price_sensitivity_flattens_the_discount() {
        let catalog = catalog();
        let no_action = catalog.actions.len() - 1;
        let d = Distributions::new().unwrap();
        let start = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let (mut sensitive, mut indifferent) = (Vec::new(), Vec::new());
        for i in 0..200 {
            let run = simulate_customer(
                &mut rng,
                &d,
                &catalog,
                no_action,
                &format!("C{i}"),
                start,
                70,
            );
            let Some(point) = run.decisions.last() else {
                continue;
            };
            let (p, c) = expected_truth(&catalog, &d, &run.traits, &point.context, &[], 3);
            for k in 0..catalog.actions.len() {
                assert!((p[k] - point.p_convert[k]).abs() < 1e-12);
                assert!((c[k] - point.p_churn_7d[k]).abs() < 1e-12);
            }
            let hidden = [Hidden::PriceSensitivity];
            let (blind, _) =
                expected_truth(&catalog, &d, &run.traits, &point.context, &hidden, 100);
            let lift = |p: &[f64]| p[0] - p[no_action]; // email_discount's uplift
            let price = run.traits.price_sensitivity;
            if price > 0.8 {
                sensitive.push(lift(&point.p_convert) - lift(&blind));
            } else if price < 0.2 {
                indifferent.push(lift(&point.p_convert) - lift(&blind));
            }
        }
        // Not knowing the trait, the discount looks worse than it is to the price-sensitive
        // and better than it is to the rest.
        assert!(sensitive.len() > 5 && indifferent.len() > 5);
        assert!(sensitive.iter().all(|&d| d > 0.0), "{sensitive:?}");
        assert!(indifferent.iter().all(|&d| d < 0.0), "{indifferent:?}");
    }
}
