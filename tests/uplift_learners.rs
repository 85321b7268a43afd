//! The uplift learners (S, T, X, DR) and `auto`: each recovers a known heterogeneous effect
//! from a randomised log, their models score the S-learner's rows and survive a save and load,
//! inverse-propensity weights follow the logged propensities, and a conversion config with
//! `[uplift] learner = "auto"` trains, reports its choice and serves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rand::{Rng, SeedableRng};

use nextbest::models::calibration::Calibration;
use nextbest::models::gbdt::GbdtParams;
use nextbest::models::learner::Learner;
use nextbest::models::params::ParamGuard;
use nextbest::models::{Estimator, NativeModel, Scorer};
use nextbest::training::config::UpliftLearner;
use nextbest::training::conversion::learners::{propensity_weights, Learners, UpliftData};

/// A randomised log: x0, x1 uniform; treatment 0 adds 0.3 to P(y) when x0 > 0.5 and nothing
/// otherwise; treatment 1 takes 0.08 away from everyone; P(y | control) = 0.1 + 0.2·x1.
/// Each row's action is drawn with probabilities `assign` (control, t0, t1).
fn log(n: usize, assign: [f64; 3], seed: u64) -> UpliftData {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut data = UpliftData {
        n_base: 2,
        n_treatments: 2,
        ..UpliftData::default()
    };
    for i in 0..n {
        let (x0, x1) = (rng.random::<f32>(), rng.random::<f32>());
        let u = rng.random::<f64>();
        let (treatment, propensity) = if u < assign[0] {
            (None, assign[0])
        } else if u < assign[0] + assign[1] {
            (Some(0), assign[1])
        } else {
            (Some(1), assign[2])
        };
        let base = 0.1 + 0.2 * f64::from(x1);
        let p = match treatment {
            None => base,
            Some(0) => base + if x0 > 0.5 { 0.3 } else { 0.0 },
            _ => base - 0.08,
        };
        data.rows.extend([x0, x1]);
        data.rows
            .extend((0..2).map(|t| f32::from(u8::from(treatment == Some(t)))));
        data.treatments.push(treatment);
        data.labels.push(rng.random::<f64>() < p);
        data.customers.push(format!("c{i}"));
        data.propensities.push(Some(propensity));
    }
    data
}

fn gbdt() -> Learner {
    let params = GbdtParams {
        iterations: 150,
        max_depth: 3,
        min_leaf_weight: 5.0,
        ..GbdtParams::default()
    };
    Learner::Gbdt(params.check().unwrap())
}

/// The column names, treatment ids and GBDT every test fits with.
struct Fixture {
    names: Vec<String>,
    treatments: Vec<String>,
    learner: Learner,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            names: ["x0", "x1", "treatment__t0", "treatment__t1"]
                .map(String::from)
                .to_vec(),
            treatments: vec!["t0".into(), "t1".into()],
            learner: gbdt(),
        }
    }

    fn learners(&self, seed: u64) -> Learners<'_> {
        Learners {
            learner: &self.learner,
            names: &self.names,
            treatments: &self.treatments,
            seed,
        }
    }
}

/// Mean predicted uplift of treatment `t` over customers whose x0 is above / below 0.5.
fn uplift_by_half(model: &Estimator, t: usize) -> (f64, f64) {
    let (mut high, mut low) = (Vec::new(), Vec::new());
    for i in 0..200 {
        let x0 = (i as f32 + 0.5) / 200.0;
        for x1 in [0.2_f32, 0.5, 0.8] {
            let mut rows = vec![x0, x1, 0.0, 0.0, x0, x1, 0.0, 0.0];
            rows[6 + t] = 1.0;
            let p = model.raw_proba(&rows, 4).unwrap();
            let u = p[1] - p[0];
            if x0 > 0.5 {
                high.push(u)
            } else {
                low.push(u)
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    (mean(&high), mean(&low))
}

#[test]
fn every_learner_recovers_a_heterogeneous_effect() {
    let data = log(12_000, [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], 5);
    let fixture = Fixture::new();
    let learners = fixture.learners(1);
    for which in UpliftLearner::ALL {
        let model = learners.fit(which, &data).unwrap();
        assert_eq!(
            model.meta_learner().is_some(),
            which != UpliftLearner::S,
            "{which:?}"
        );
        let (high, low) = uplift_by_half(&model, 0);
        assert!(
            high - low > 0.15 && (0.15..0.45).contains(&high) && low.abs() < 0.1,
            "{which:?}: t0 uplift {high:.3} above, {low:.3} below"
        );
        let (high, low) = uplift_by_half(&model, 1);
        assert!(
            (-0.16..0.0).contains(&high) && (-0.16..0.0).contains(&low),
            "{which:?}: t1 uplift {high:.3} / {low:.3} (true −0.08)"
        );
        // Saved and loaded as the trainer writes it, the model predicts the same.
        let native = NativeModel {
            estimator: model,
            calibration: Calibration::None,
        };
        let json = serde_json::to_string(&native).unwrap();
        let loaded: NativeModel = serde_json::from_str(&json).unwrap();
        let rows = [
            0.7_f32, 0.3, 1.0, 0.0, 0.2, 0.9, 0.0, 0.0, 0.4, 0.4, 0.0, 1.0,
        ];
        assert_eq!(
            loaded.predict_proba(&rows, 4).unwrap(),
            native.predict_proba(&rows, 4).unwrap(),
            "{which:?}"
        );
        // One-hot scoring (the service's path) agrees with the rows written out.
        let onehot = native
            .predict_proba_onehot(&[0.7, 0.3, 0.0, 0.0], 4, &[2, 3])
            .unwrap();
        let written = native
            .predict_proba(
                &[0.7, 0.3, 0.0, 0.0, 0.7, 0.3, 1.0, 0.0, 0.7, 0.3, 0.0, 1.0],
                4,
            )
            .unwrap();
        assert_eq!(onehot, written, "{which:?}");
        // Rows of the wrong width are an error, not a guess; several models are no ONNX graph.
        if which != UpliftLearner::S {
            assert!(native.predict_proba(&[0.1, 0.2, 0.0], 3).is_err());
            let error = nextbest::models::onnx_export::export(&native, 4, &[])
                .unwrap_err()
                .to_string();
            assert!(error.contains("cannot be exported to ONNX"), "{error}");
        }
    }
}

#[test]
fn propensity_weights_follow_the_logged_propensities() {
    // A uniform logging policy needs no weights; unknown propensities give none either.
    assert_eq!(propensity_weights(&[Some(0.25); 4]), None);
    assert_eq!(propensity_weights(&[Some(0.5), None]), None);
    // Otherwise 1 / p scaled to mean 1, with p floored at 0.01.
    let w = propensity_weights(&[Some(0.5), Some(0.25), Some(0.001)]).unwrap();
    let raw = [2.0, 4.0, 100.0];
    let mean = raw.iter().sum::<f64>() / 3.0;
    for (w, r) in w.iter().zip(raw) {
        assert!((w - r / mean).abs() < 1e-12, "{w} vs {}", r / mean);
    }
}

#[test]
fn the_dr_learner_uses_logged_propensities_of_a_skewed_logging_policy() {
    // Controls are rare (10%): the DR-learner's pseudo-outcomes divide by the logged 0.1 and
    // still find the effect; the T- and X-learners are weighted by inverse propensity.
    let mut data = log(12_000, [0.1, 0.6, 0.3], 9);
    data.weights = propensity_weights(&data.propensities);
    assert!(data.weights.is_some());
    let fixture = Fixture::new();
    let learners = fixture.learners(2);
    for which in [UpliftLearner::T, UpliftLearner::X, UpliftLearner::Dr] {
        let model = learners.fit(which, &data).unwrap();
        let (high, low) = uplift_by_half(&model, 0);
        assert!(
            high - low > 0.12,
            "{which:?}: t0 uplift {high:.3} above, {low:.3} below"
        );
    }
    // Weights are only for the GBDT.
    let logistic = Learner::Logistic(
        nextbest::models::logistic::LogisticParams::default()
            .check()
            .unwrap(),
    );
    let weighted = Learners {
        learner: &logistic,
        ..learners
    };
    let error = weighted
        .fit(UpliftLearner::S, &data)
        .unwrap_err()
        .to_string();
    assert!(error.contains("need the gbdt algorithm"), "{error}");
}

#[test]
fn a_per_arm_learner_names_the_arm_it_cannot_fit() {
    let mut data = log(3000, [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], 3);
    // Nobody treated with t1 ever converts.
    for (t, y) in data.treatments.iter().zip(data.labels.iter_mut()) {
        if *t == Some(1) {
            *y = false;
        }
    }
    let fixture = Fixture::new();
    let learners = fixture.learners(2);
    let error = learners
        .fit(UpliftLearner::T, &data)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("t1") && error.contains("S-learner"),
        "{error}"
    );
    // The S-learner still fits.
    learners.fit(UpliftLearner::S, &data).unwrap();
}

#[test]
fn auto_chooses_by_qini_or_by_the_estimated_value_of_acting() {
    use nextbest::training::config::ChooseBy;
    use nextbest::training::conversion::choose::{choose, Pricing};
    let data = log(9_000, [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0], 7);
    let fixture = Fixture::new();
    let learners = fixture.learners(4);
    // A conversion is worth 10; t0 costs 1, t1 0.1. Acting well sends t0 to the customers
    // with x0 > 0.5 (0.3 × 10 − 1 = 2 each, half of them: 1.0 per decision) and t1 to nobody.
    let pricing = Pricing {
        values: vec![10.0, 10.0],
        costs: vec![1.0, 0.1],
    };
    let candidates = [UpliftLearner::S, UpliftLearner::T];
    let by_value = choose(
        &learners,
        &data,
        &candidates,
        3,
        ChooseBy::PolicyValue,
        Some(&pricing),
    )
    .unwrap();
    assert_eq!(by_value.trials.len(), 2);
    for trial in &by_value.trials {
        let value = trial.policy_value.unwrap();
        assert!((0.6..1.4).contains(&value), "{trial:?}");
        assert!(trial.qini.unwrap() > 0.03, "{trial:?}");
    }
    let best = by_value
        .trials
        .iter()
        .max_by(|a, b| a.policy_value.unwrap().total_cmp(&b.policy_value.unwrap()))
        .unwrap();
    assert_eq!(by_value.chosen, best.learner);
    // By Qini, without prices: no values are estimated, and the best Qini wins.
    let by_qini = choose(&learners, &data, &candidates, 3, ChooseBy::Qini, None).unwrap();
    assert!(by_qini.trials.iter().all(|t| t.policy_value.is_none()));
    let best = by_qini
        .trials
        .iter()
        .max_by(|a, b| a.qini.unwrap().total_cmp(&b.qini.unwrap()))
        .unwrap();
    assert_eq!(by_qini.chosen, best.learner);
}
