//! Who gets which arm: stateless hashing, so any number of replicas agree without talking.
//!
//! A unit (customer) is hashed twice with xxHash (XXH3, 64 bits) into 10,000 buckets:
//!
//! - by its **layer**: the experiment holds the buckets `[bucket_start, bucket_start + traffic ×
//!   10,000)` of its layer, and experiments of one layer hold disjoint ranges, so they never
//!   share a unit (mutually exclusive experiments). Raising the traffic only adds buckets at the
//!   end of the range: nobody already in leaves.
//! - by the **experiment's id**: the arm, by the arms' cumulative weights. This hash does not
//!   involve the traffic, so ramping up never moves a unit from one arm to another.

use xxhash_rust::xxh3::Xxh3;

use super::definition::{buckets_for, Arm, Experiment};

/// Buckets a unit is hashed into.
pub const BUCKETS: u32 = 10_000;

/// The bucket of `unit` under `salt`, in `0..BUCKETS`: XXH3-64 of the salt, a separator and the
/// unit, modulo 10,000 (the modulo's bias, 2⁶⁴ mod 10⁴ over 2⁶⁴, is nil in practice).
pub fn bucket(salt: &str, unit: &str) -> u32 {
    let mut hasher = Xxh3::new();
    hasher.update(salt.as_bytes());
    // A byte no name contains, so ("ab", "c") and ("a", "bc") hash apart.
    hasher.update(&[0x1f]);
    hasher.update(unit.as_bytes());
    (hasher.digest() % u64::from(BUCKETS)) as u32
}

/// The bucket of `unit` in `layer`.
pub fn layer_bucket(layer: &str, unit: &str) -> u32 {
    bucket(&format!("layer:{layer}"), unit)
}

/// The bucket that picks `unit`'s arm in experiment `experiment_id`.
pub fn arm_bucket(experiment_id: &str, unit: &str) -> u32 {
    bucket(&format!("arm:{experiment_id}"), unit)
}

/// Whether `unit` is in the experiment's share of its layer (whatever its status).
pub fn enrolled(experiment: &Experiment, unit: &str) -> bool {
    let b = layer_bucket(&experiment.layer, unit);
    b >= experiment.bucket_start && b < experiment.bucket_start + experiment.bucket_count()
}

/// The arm `unit` gets if enrolled: the arm whose cumulative-weight range holds its arm bucket.
pub fn arm_of<'e>(experiment: &'e Experiment, unit: &str) -> &'e Arm {
    pick_arm(&experiment.arms, arm_bucket(&experiment.id, unit))
}

fn pick_arm(arms: &[Arm], b: u32) -> &Arm {
    let mut cumulative = 0.0;
    for arm in arms {
        cumulative += arm.weight;
        let upper = (cumulative * f64::from(BUCKETS)).round() as u32;
        if b < upper {
            return arm;
        }
    }
    // Rounding can leave the last bucket uncovered; it belongs to the last arm.
    &arms[arms.len() - 1]
}

/// The assignment of `unit`: `None` when it is outside the experiment's traffic.
pub fn assign<'e>(experiment: &'e Experiment, unit: &str) -> Option<&'e Arm> {
    enrolled(experiment, unit).then(|| arm_of(experiment, unit))
}

/// Where an experiment needing `count` buckets fits in a layer whose other running experiments
/// hold `taken` (start, count) ranges: the first gap, or `None` when the layer is full.
pub fn first_fit(taken: &[(u32, u32)], count: u32) -> Option<u32> {
    let mut ranges = taken.to_vec();
    ranges.sort_unstable();
    let mut start = 0;
    for (s, c) in ranges {
        if s >= start + count {
            break;
        }
        start = start.max(s + c);
    }
    (start + count <= BUCKETS).then_some(start)
}

/// Whether the experiment at `start` can grow to `traffic` without reaching another running
/// experiment's range in its layer.
pub fn can_grow(taken: &[(u32, u32)], start: u32, traffic: f64) -> bool {
    let end = start + buckets_for(traffic);
    end <= BUCKETS && taken.iter().all(|&(s, c)| s + c <= start || s >= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::definition::{ArmSpec, ExperimentSpec};
    use crate::journey::Timestamp;

    fn experiment(weights: &[f64], traffic: f64) -> Experiment {
        let spec = ExperimentSpec {
            id: "exp-1".into(),
            name: "test".into(),
            hypothesis: String::new(),
            arms: weights
                .iter()
                .enumerate()
                .map(|(i, &weight)| ArmSpec {
                    name: format!("arm{i}"),
                    policy: Some("p".into()),
                    holdout: false,
                    weight,
                })
                .collect(),
            control: None,
            traffic,
            layer: None,
            placement: None,
            primary_metric: crate::experiment::Metric::ConversionRate,
            secondary_metrics: Vec::new(),
            guardrails: Vec::new(),
            attribution_window_days: Some(14),
            pre_period_days: Some(0),
            ends_at: None,
        };
        spec.check(|_| true, Timestamp(0)).unwrap()
    }

    #[test]
    fn the_split_matches_the_weights_within_sampling_error() {
        let e = experiment(&[0.2, 0.3, 0.5], 1.0);
        let n = 100_000;
        let mut counts = [0usize; 3];
        for i in 0..n {
            let arm = assign(&e, &format!("customer-{i}")).unwrap();
            counts[e.arms.iter().position(|a| a.name == arm.name).unwrap()] += 1;
        }
        for (count, weight) in counts.iter().zip([0.2, 0.3, 0.5]) {
            let expected = weight * n as f64;
            let sd = (n as f64 * weight * (1.0 - weight)).sqrt();
            // Four standard deviations: fails by chance about once in 16,000 runs of a
            // deterministic hash, i.e. never for this fixed set of ids.
            assert!(
                (*count as f64 - expected).abs() < 4.0 * sd,
                "{counts:?} against weights 0.2/0.3/0.5"
            );
        }
    }

    #[test]
    fn the_same_unit_always_gets_the_same_arm() {
        let e = experiment(&[1.0, 1.0], 1.0);
        for i in 0..1_000 {
            let unit = format!("c{i}");
            let first = assign(&e, &unit).map(|a| a.name.clone());
            for _ in 0..3 {
                assert_eq!(assign(&e, &unit).map(|a| a.name.clone()), first);
            }
        }
        // Fixed by the hash: these values are what every replica and every release computes.
        assert_eq!(
            bucket("salt", "unit"),
            3190,
            "XXH3-64 of \"salt\\x1funit\" mod 10,000 changed"
        );
        assert_ne!(bucket("ab", "c"), bucket("a", "bc"));
    }

    #[test]
    fn ramping_up_only_adds_units() {
        let small = experiment(&[1.0, 1.0], 0.1);
        let large = experiment(&[1.0, 1.0], 0.5);
        let mut in_small = 0;
        let mut in_large = 0;
        for i in 0..50_000 {
            let unit = format!("u{i}");
            let before = assign(&small, &unit);
            let after = assign(&large, &unit);
            if let Some(arm) = before {
                in_small += 1;
                assert_eq!(after.map(|a| &a.name), Some(&arm.name), "{unit} moved");
            }
            in_large += usize::from(after.is_some());
        }
        assert!((4_500..5_500).contains(&in_small), "{in_small}");
        assert!((24_000..26_000).contains(&in_large), "{in_large}");
    }

    #[test]
    fn experiments_of_one_layer_never_share_a_unit() {
        let mut a = experiment(&[1.0, 1.0], 0.3);
        let mut b = experiment(&[1.0, 1.0], 0.5);
        b.id = "exp-2".into();
        a.layer = "homepage".into();
        b.layer = "homepage".into();
        a.bucket_start = first_fit(&[], a.bucket_count()).unwrap();
        b.bucket_start =
            first_fit(&[(a.bucket_start, a.bucket_count())], b.bucket_count()).unwrap();
        assert_eq!((a.bucket_start, b.bucket_start), (0, 3_000));
        for i in 0..20_000 {
            let unit = format!("u{i}");
            assert!(
                !(enrolled(&a, &unit) && enrolled(&b, &unit)),
                "{unit} in both"
            );
        }
        // The layer has 2,000 buckets left: a third at 30% does not fit, at 20% it does.
        let taken = [(0, 3_000), (3_000, 5_000)];
        assert_eq!(first_fit(&taken, 3_000), None);
        assert_eq!(first_fit(&taken, 2_000), Some(8_000));
        // Growing into a neighbour is refused.
        assert!(!can_grow(&[(3_000, 5_000)], 0, 0.4));
        assert!(can_grow(&[(3_000, 5_000)], 0, 0.3));
    }
}
