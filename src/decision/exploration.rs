//! Exploration: picking one candidate for a slot from the eligible candidates still available,
//! with the probability of that pick.
//!
//! The candidates arrive ranked (best first); the greedy pick is the first.
//! - `none`: the first, with probability 1.
//! - `epsilon_greedy { ε }`: with probability ε a candidate drawn uniformly from all `n` (the
//!   first included), otherwise the first. P(first) = 1 − ε + ε/n, P(any other) = ε/n.
//! - `softmax { T }`: P(i) = exp(sᵢ / T) / Σⱼ exp(sⱼ / T), computed as exp((sᵢ − s_max) / T) so
//!   it never overflows. T is in score units: under `expected_value`, money.
//!
//! For a decision with several slots the probability of each pick is conditional on the picks
//! of the earlier slots (the candidates still available), so the probability of the whole list
//! is the product of the per-slot probabilities. A single candidate is picked with probability 1
//! without drawing from the RNG; so is every pick of a greedy policy.

use rand::Rng;

use crate::decision::policy::Exploration;

/// One pick: which candidate (index into the ranked scores) and with what probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pick {
    /// Index into the scores passed to [`pick`].
    pub index: usize,
    /// The probability that this index was picked.
    pub probability: f64,
}

/// Fills `out` with the probability of picking each candidate (same order as `scores`, which
/// must be sorted best first and finite). The probabilities sum to 1 (up to rounding) unless
/// `scores` is empty.
pub fn probabilities(exploration: Exploration, scores: &[f64], out: &mut Vec<f64>) {
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
    }
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

/// Picks one candidate. `scores` are sorted best first and finite, and not empty; `buffer` is
/// scratch space reused across calls to avoid allocating.
pub fn pick<R: Rng + ?Sized>(
    exploration: Exploration,
    scores: &[f64],
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
        ] {
            probabilities(exploration, &scores, &mut out);
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
        ] {
            probabilities(exploration, &scores, &mut expected);
            for _ in 0..200 {
                let p = pick(exploration, &scores, &mut rng, &mut buffer);
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
            &mut rng,
            &mut buffer,
        );
        assert_eq!(p.index, 0);
        assert_eq!(p.probability, 1.0);
    }
}
