//! The off-policy estimators against the Open Bandit Pipeline 0.4.1's own estimator classes
//! (`tests/fixtures/ope/fixtures.json`, made by `make_fixtures.py` beside it on synthetic logs;
//! never from this crate's code and never from the Open Bandit Dataset). Every estimate must
//! match to 1e-6.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use nextbest::stats::ope::{evaluate_policy, DirectMethod, LoggedRewards, OpeSettings};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    switch_tau: f64,
    shrinkage_lambda: f64,
    reward: Vec<f64>,
    logging_propensity: Vec<f64>,
    target_propensity: Vec<f64>,
    q_logged: Vec<f64>,
    q_target: Vec<f64>,
    expected: BTreeMap<String, f64>,
}

#[test]
fn estimators_match_the_open_bandit_pipeline() {
    let text = std::fs::read_to_string("tests/fixtures/ope/fixtures.json").unwrap();
    let fixtures: Fixtures = serde_json::from_str(&text).unwrap();
    assert_eq!(fixtures.cases.len(), 5);
    for c in &fixtures.cases {
        let log = LoggedRewards {
            reward: &c.reward,
            logging_propensity: &c.logging_propensity,
            target_propensity: &c.target_propensity,
            model: Some(DirectMethod {
                logged: &c.q_logged,
                target: &c.q_target,
            }),
        };
        log.check().unwrap();
        let settings = OpeSettings {
            switch_tau: c.switch_tau,
            shrinkage_lambda: c.shrinkage_lambda,
            bootstrap: 200,
            ..OpeSettings::default()
        };
        let r = evaluate_policy(&log, &settings).unwrap();
        let ours = [
            ("ips", r.ips.value),
            ("snips", r.snips.unwrap().value),
            ("direct_method", r.direct_method.unwrap().value),
            ("doubly_robust", r.doubly_robust.unwrap().value),
            ("switch_dr", r.switch_dr.unwrap().value),
            ("dr_shrinkage", r.dr_shrinkage.unwrap().value),
            ("effective_sample_size", r.diagnostics.effective_sample_size),
            ("max_weight", r.diagnostics.max_weight),
            ("logged", r.logged.value),
        ];
        for (name, value) in ours {
            let expected = c.expected[name];
            assert!(
                (value - expected).abs() <= TOLERANCE * expected.abs().max(1.0),
                "{} {name}: ours {value}, obp {expected}",
                c.name
            );
        }
        // Every point estimate lies inside its own percentile interval on these logs.
        for e in [r.ips, r.doubly_robust.unwrap(), r.switch_dr.unwrap()] {
            assert!(
                e.low.unwrap() <= e.value && e.value <= e.high.unwrap(),
                "{} {e:?}",
                c.name
            );
        }
    }
}
