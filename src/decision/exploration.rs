//! Exploration: picking one candidate for a slot from the eligible candidates still available,
//! with the probability of that pick.
//!
//! The candidates arrive ranked (best first); the greedy pick is the first.
//! - `none`: the first, with probability 1.
//! - `epsilon_greedy { ε }`: with probability ε a candidate drawn uniformly from all `n` (the
//!   first included), otherwise the first. P(first) = 1 − ε + ε/n, P(any other) = ε/n.
//! - `softmax { T }`: P(i) = exp(sᵢ / T) / Σⱼ exp(sⱼ / T), computed as exp((sᵢ − s_max) / T) so
//!   it never overflows. T is in score units: under `expected_value`, money.
//! - `thompson { σ }`: each candidate's score is drawn from its posterior N(sᵢ, dᵢ²), where
//!   dᵢ = σ × the money one unit of probability is worth for it ([`score_spread`]: the action's
//!   value, the customer's value for retention, 0 for doing nothing), and the best draw wins.
//!   P(i) = P(draw i is the largest) has no closed form beyond two candidates; it is the
//!   one-dimensional integral ∫ φ(z) Πⱼ≠ᵢ P(Xⱼ < sᵢ + dᵢ z) dz, computed by Simpson's rule on a
//!   grid fine enough for the narrowest posterior (accurate to about 1e-9; a test checks it
//!   against Monte Carlo frequencies).
//!
//! For a decision with several slots the probability of each pick is conditional on the picks
//! of the earlier slots (the candidates still available), so the probability of the whole list
//! is the product of the per-slot probabilities. A single candidate is picked with probability 1
//! without drawing from the RNG; so is every pick of a greedy policy.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::catalog::ActionKind;
use crate::decision::outcome::Components;
use crate::decision::policy::Exploration;

/// One pick: which candidate (index into the ranked scores) and with what probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pick {
    /// Index into the scores passed to [`pick`].
    pub index: usize,
    /// The probability that this index was picked.
    pub probability: f64,
}

/// The standard deviation of a candidate's score under Thompson sampling (0 for every other
/// strategy): the uplift's posterior sd times the money a unit of probability is worth — the
/// action's value for sales and service, the customer's value for retention (a unit of churn
/// probability saved), nothing for doing nothing.
pub fn score_spread(exploration: Exploration, kind: ActionKind, components: &Components) -> f64 {
    let Exploration::Thompson { uplift_sd } = exploration else {
        return 0.0;
    };
    let worth = match kind {
        ActionKind::None => 0.0,
        ActionKind::Retention => components.customer_value.unwrap_or(0.0),
        _ => components.value,
    };
    (uplift_sd * worth.abs()).max(0.0)
}

/// Fills `out` with the probability of picking each candidate (same order as `scores`, which
/// must be sorted best first and finite; `spreads` are their [`score_spread`]s, used by
/// Thompson sampling only). The probabilities sum to 1 (up to rounding) unless `scores` is empty.
pub fn probabilities(
    exploration: Exploration,
    scores: &[f64],
    spreads: &[f64],
    out: &mut Vec<f64>,
) {
    out.clear();
    let n = scores.len();
    if n == 0 {
        return;
    }
    match exploration {
        Exploration::None => {
            out.resize(n, 0.0);
            out[0] = 1.0;
        }
        Exploration::EpsilonGreedy { epsilon } => {
            let share = epsilon / n as f64;
            out.resize(n, share);
            out[0] = 1.0 - epsilon + share;
        }
        Exploration::Softmax { temperature } => {
            let total = softmax_weights(scores, temperature, out);
            for w in out.iter_mut() {
                *w /= total;
            }
        }
        Exploration::Thompson { .. } => {
            out.extend((0..n).map(|i| thompson_probability(scores, spreads, i)));
        }
    }
}

/// One Thompson draw: each score plus its spread times a standard normal; the index of the
/// largest (a tie keeps the better-ranked, as [`thompson_probability`] counts it).
pub fn thompson_draw<R: Rng + ?Sized>(scores: &[f64], spreads: &[f64], rng: &mut R) -> usize {
    let mut index = 0;
    let mut best = f64::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        let d = spreads.get(i).copied().unwrap_or(0.0);
        let z: f64 = if d > 0.0 {
            rng.sample(StandardNormal)
        } else {
            0.0
        };
        let draw = s + d * z;
        if draw > best {
            best = draw;
            index = i;
        }
    }
    index
}

/// Standard normal cumulative distribution.
fn normal_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

/// P(Xⱼ < x) for Xⱼ ~ N(score, spread²); a spread of 0 is a certain score.
fn below(score: f64, spread: f64, x: f64) -> f64 {
    if spread > 0.0 {
        normal_cdf((x - score) / spread)
    } else {
        f64::from(u8::from(score < x))
    }
}

/// P(candidate `i`'s draw is the largest), the draws independent N(scoreⱼ, spreadⱼ²). Certain
/// scores that tie go to the better-ranked candidate (the one with the lower index).
pub fn thompson_probability(scores: &[f64], spreads: &[f64], i: usize) -> f64 {
    let spread = |j: usize| spreads.get(j).copied().unwrap_or(0.0);
    let (s, d) = (scores[i], spread(i));
    if d <= 0.0 {
        return (0..scores.len())
            .filter(|&j| j != i)
            .map(|j| {
                if spread(j) > 0.0 {
                    below(scores[j], spread(j), s)
                } else {
                    // A certain tie: the better-ranked wins.
                    f64::from(u8::from(scores[j] < s || (scores[j] == s && j > i)))
                }
            })
            .product();
    }
    // Integrate over z, i's draw being s + d·z. Certain scores above it make the integrand 0
    // below their threshold, so the integral starts there and stays smooth.
    const REACH: f64 = 9.0;
    let mut lower = -REACH;
    for j in (0..scores.len()).filter(|&j| j != i && spread(j) <= 0.0) {
        lower = lower.max((scores[j] - s) / d);
    }
    if lower >= REACH {
        return 0.0;
    }
    // The steepest factor changes over spreadⱼ / d in z: a grid a few times finer than that.
    let narrowest = (0..scores.len())
        .filter(|&j| j != i && spread(j) > 0.0)
        .map(|j| spread(j) / d)
        .fold(1.0, f64::min);
    let intervals = (((REACH - lower) / (narrowest / 16.0)).ceil() as usize).clamp(512, 1 << 16);
    let intervals = intervals + intervals % 2;
    let h = (REACH - lower) / intervals as f64;
    let integrand = |z: f64| {
        let x = s + d * z;
        let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        (0..scores.len())
            .filter(|&j| j != i && spread(j) > 0.0)
            .map(|j| below(scores[j], spread(j), x))
            .product::<f64>()
            * density
    };
    let mut sum = integrand(lower) + integrand(REACH);
    for k in 1..intervals {
        let weight = if k % 2 == 1 { 4.0 } else { 2.0 };
        sum += weight * integrand(lower + h * k as f64);
    }
    (sum * h / 3.0).clamp(0.0, 1.0)
}

/// Unnormalised softmax weights into `out`; returns their sum (≥ 1: the best weighs 1).
fn softmax_weights(scores: &[f64], temperature: f64, out: &mut Vec<f64>) -> f64 {
    out.clear();
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for &s in scores {
        let w = ((s - best) / temperature).exp();
        // A NaN (impossible for finite scores) would poison the sum; weigh it 0.
        let w = if w.is_finite() { w } else { 0.0 };
        out.push(w);
        total += w;
    }
    total
}

/// Picks one candidate. `scores` are sorted best first and finite, and not empty; `spreads`
/// are their [`score_spread`]s (Thompson sampling only); `buffer` is scratch space reused
/// across calls to avoid allocating.
pub fn pick<R: Rng + ?Sized>(
    exploration: Exploration,
    scores: &[f64],
    spreads: &[f64],
    rng: &mut R,
    buffer: &mut Vec<f64>,
) -> Pick {
    let n = scores.len();
    let greedy = Pick {
        index: 0,
        probability: 1.0,
    };
    if n <= 1 {
        return greedy;
    }
    match exploration {
        Exploration::None => greedy,
        Exploration::EpsilonGreedy { epsilon } => {
            if epsilon <= 0.0 {
                return greedy;
            }
            let share = epsilon / n as f64;
            let index = if rng.random::<f64>() < epsilon {
                rng.random_range(0..n)
            } else {
                0
            };
            let probability = if index == 0 {
                1.0 - epsilon + share
            } else {
                share
            };
            Pick { index, probability }
        }
        Exploration::Softmax { temperature } => {
            let total = softmax_weights(scores, temperature, buffer);
            let target = rng.random::<f64>() * total;
            let mut cumulative = 0.0;
            let mut index = n - 1;
            for (i, &w) in buffer.iter().enumerate() {
                cumulative += w;
                if target < cumulative {
                    index = i;
                    break;
                }
            }
            // Rounding can leave the target past the last cumulative sum; the last candidate
            // with a positive weight takes it.
            while index > 0 && buffer[index] == 0.0 {
                index -= 1;
            }
            Pick {
                index,
                probability: buffer[index] / total,
            }
        }
        Exploration::Thompson { .. } => {
            let index = thompson_draw(scores, spreads, rng);
            Pick {
                index,
                probability: thompson_probability(scores, spreads, index),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn distributions_sum_to_one() {
        let scores = [3.0, 1.0, 0.5, -2.0];
        let mut out = Vec::new();
        for exploration in [
            Exploration::None,
            Exploration::EpsilonGreedy { epsilon: 0.1 },
            Exploration::EpsilonGreedy { epsilon: 1.0 },
            Exploration::Softmax { temperature: 0.7 },
            Exploration::Softmax { temperature: 1e-9 },
            Exploration::Thompson { uplift_sd: 0.1 },
        ] {
            probabilities(exploration, &scores, &[1.5, 0.5, 2.0, 0.0], &mut out);
            let sum: f64 = out.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12, "{exploration:?}: {sum}");
        }
    }

    #[test]
    fn a_pick_reports_the_probability_of_what_it_picked() {
        let scores = [2.0, 1.0, 0.0];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let (mut buffer, mut expected) = (Vec::new(), Vec::new());
        for exploration in [
            Exploration::EpsilonGreedy { epsilon: 0.5 },
            Exploration::Softmax { temperature: 1.0 },
            Exploration::Thompson { uplift_sd: 0.1 },
        ] {
            let spreads = [1.0, 2.0, 0.0];
            probabilities(exploration, &scores, &spreads, &mut expected);
            for _ in 0..200 {
                let p = pick(exploration, &scores, &spreads, &mut rng, &mut buffer);
                assert!((p.probability - expected[p.index]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn extreme_scores_do_not_break_softmax() {
        let scores = [f64::MAX, -f64::MAX];
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut buffer = Vec::new();
        let p = pick(
            Exploration::Softmax {
                temperature: 1e-300,
            },
            &scores,
            &[],
            &mut rng,
            &mut buffer,
        );
        assert_eq!(p.index, 0);
        assert_eq!(p.probability, 1.0);
    }

    #[test]
    fn thompson_probabilities_match_monte_carlo_and_closed_forms() {
        // Two normals: P(X₀ > X₁) = Φ((s₀ − s₁) / √(d₀² + d₁²)).
        let p = thompson_probability(&[1.0, 0.5], &[0.3, 0.4], 0);
        assert!((p - normal_cdf(0.5 / 0.5)).abs() < 1e-9, "{p}");
        // A certain score against a normal: P(X₁ < 0.2).
        let p = thompson_probability(&[0.2, 0.5], &[0.0, 0.4], 0);
        assert!((p - normal_cdf(-0.3 / 0.4)).abs() < 1e-12, "{p}");
        // All certain: greedy, ties to the better-ranked.
        assert_eq!(thompson_probability(&[1.0, 1.0], &[0.0, 0.0], 0), 1.0);
        assert_eq!(thompson_probability(&[1.0, 1.0], &[0.0, 0.0], 1), 0.0);
        // Four candidates, one certain, one very narrow: against 200,000 draws.
        let scores = [3.0, 2.6, 2.5, 0.0];
        let spreads = [1.0, 0.05, 0.8, 0.0];
        let exploration = Exploration::Thompson { uplift_sd: 0.1 };
        let mut expected = Vec::new();
        probabilities(exploration, &scores, &spreads, &mut expected);
        assert!(
            (expected.iter().sum::<f64>() - 1.0).abs() < 1e-7,
            "{expected:?}"
        );
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let mut counts = [0u32; 4];
        let n = 200_000;
        for _ in 0..n {
            counts[thompson_draw(&scores, &spreads, &mut rng)] += 1;
        }
        for (c, p) in counts.iter().zip(&expected) {
            let f = f64::from(*c) / f64::from(n);
            let se = (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!(
                (f - p).abs() <= 4.0 * se + 1e-9,
                "{counts:?} vs {expected:?}"
            );
        }
    }
}
