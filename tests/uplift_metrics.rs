//! The uplift metrics against scikit-uplift 0.5.1 (`tests/fixtures/uplift/fixtures.json`, made
//! by `make_fixtures.py` beside it from scikit-uplift's own `qini_auc_score`,
//! `uplift_auc_score` and `uplift_at_k`; never from this crate's code). Every value must match
//! to 1e-6; where scikit-uplift raises or answers NaN, nextbest answers `None`.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nextbest::stats::{qini_auc_score, uplift_at_k, uplift_auc_score, AtKStrategy, TopK};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
struct Fixtures {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    outcome: Vec<u8>,
    treated: Vec<u8>,
    uplift: Vec<f64>,
    qini_auc: Option<f64>,
    qini_auc_no_negative_effect: Option<f64>,
    uplift_auc: Option<f64>,
    uplift_at_k: Vec<AtK>,
}

#[derive(Deserialize)]
struct AtK {
    k: f64,
    count: bool,
    strategy: String,
    value: Option<f64>,
}

fn check(what: &str, ours: Option<f64>, theirs: Option<f64>) {
    match (ours, theirs) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= TOLERANCE, "{what}: {a} vs {b}"),
        (None, None) => {}
        _ => panic!("{what}: ours {ours:?}, scikit-uplift {theirs:?}"),
    }
}

#[test]
fn uplift_metrics_match_scikit_uplift() {
    let text = std::fs::read_to_string("tests/fixtures/uplift/fixtures.json").unwrap();
    let fixtures: Fixtures = serde_json::from_str(&text).unwrap();
    assert!(fixtures.cases.len() >= 10);
    let mut checked = 0;
    for case in &fixtures.cases {
        let treated: Vec<bool> = case.treated.iter().map(|&t| t == 1).collect();
        let outcome: Vec<bool> = case.outcome.iter().map(|&y| y == 1).collect();
        let u = &case.uplift;
        let name = &case.name;
        check(
            &format!("{name} qini_auc_score"),
            qini_auc_score(u, &treated, &outcome, true),
            case.qini_auc,
        );
        check(
            &format!("{name} qini_auc_score(negative_effect=False)"),
            qini_auc_score(u, &treated, &outcome, false),
            case.qini_auc_no_negative_effect,
        );
        check(
            &format!("{name} uplift_auc_score"),
            uplift_auc_score(u, &treated, &outcome),
            case.uplift_auc,
        );
        checked += 3;
        for at in &case.uplift_at_k {
            let k = if at.count {
                TopK::Rows(at.k as usize)
            } else {
                TopK::Share(at.k)
            };
            let strategy = match at.strategy.as_str() {
                "overall" => AtKStrategy::Overall,
                "by_group" => AtKStrategy::ByGroup,
                other => panic!("unknown strategy {other}"),
            };
            check(
                &format!("{name} uplift_at_k(k={}, {})", at.k, at.strategy),
                uplift_at_k(u, &treated, &outcome, k, strategy),
                at.value,
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
}
