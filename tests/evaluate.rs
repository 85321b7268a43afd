//! Off-policy evaluation in the simulator, where the truth is known: a world whose logging
//! policy picks actions uniformly at random (with logged propensities) is evaluated for two
//! target policies — the default policy and "always email_discount" — from its logged-bandit
//! table and from the same log written as nextbest's decision log. The true value of a target
//! is the mean over decision points of Σₐ π(a | x) · P_true(convert | x, a), from the
//! simulator's ground truth; IPS's and DR's 95% intervals must contain it.
//!
//! A third target, "always email_discount", shows the support diagnostic: the logging policy
//! never e-mails a customer without consent, so the log cannot support that target there and
//! the mean importance weight falls well below 1.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use nextbest::catalog::Catalog;
use nextbest::decision::{Policy, PolicySet};
use nextbest::engine::{Acknowledge, Engine, EngineParts, Limits};
use nextbest::evaluation::{
    evaluate, read_decision_log, read_table, Evaluation, Histories, RewardRule, TableColumns,
    Target,
};
use nextbest::journey::customers::CUSTOMER_ID;
use nextbest::journey::{
    AttrValue, CustomerTable, EventReader, ReadOptions, Timestamp, TypedTable,
};
use nextbest::models::registry::{ModelPaths, ModelSet};
use nextbest::simulator::{files, generate, SimulatorConfig};
use nextbest::stats::ope::OpeSettings;
use nextbest::store::{DecisionRecord, LoggedAction, OutcomeRecord, Store};

fn engine(world: &Path, store: Arc<Store>) -> Engine {
    Engine::new(EngineParts {
        models: ModelSet::load(&ModelPaths::defaults_in(Path::new("models"))).unwrap(),
        catalog: Catalog::load(world.join(files::CATALOG)).unwrap(),
        policies: policies(),
        default_policy: "default".into(),
        store,
        limits: Limits {
            max_history: usize::MAX,
            ..Limits::default()
        },
        record_exposures: false,
        acknowledge: Acknowledge::Committed,
        models_dir: "models".into(),
        sources: None,
    })
    .unwrap()
}

/// The shipped policies, and the default one with Thompson sampling instead of ε-greedy.
fn policies() -> PolicySet {
    let text = std::fs::read_to_string("policies/default.toml")
        .unwrap()
        .replace(
            "exploration = \"epsilon_greedy\"",
            "exploration = \"thompson\"",
        )
        .replace("epsilon = 0.05", "uplift_sd = 0.02");
    let thompson = Policy::from_toml_str("thompson", &text).unwrap();
    let shipped = PolicySet::load_dir("policies").unwrap();
    PolicySet::from_policies(shipped.iter().cloned().chain([thompson]).collect()).unwrap()
}

/// The true conversion probability of every action at every decision point, in table order.
fn truth(world: &Path) -> Vec<BTreeMap<String, f64>> {
    let table = TypedTable::read(world.join(files::GROUND_TRUTH), None, CUSTOMER_ID).unwrap();
    (0..table.keys.len())
        .map(|i| {
            table
                .columns
                .iter()
                .zip(&table.values)
                .filter_map(|(c, v)| {
                    let id = c.name.strip_prefix("p_convert__")?;
                    match v[i] {
                        AttrValue::Number(p) => Some((id.to_string(), p)),
                        _ => None,
                    }
                })
                .collect()
        })
        .collect()
}

fn true_value(evaluation: &Evaluation, truth: &[BTreeMap<String, f64>]) -> f64 {
    assert_eq!(evaluation.rows.len(), truth.len());
    let total: f64 = evaluation
        .rows
        .iter()
        .zip(truth)
        .map(|(row, p)| {
            row.distribution
                .iter()
                .map(|(a, pi)| pi * p[a])
                .sum::<f64>()
        })
        .sum();
    total / truth.len() as f64
}

fn check_covers(evaluation: &Evaluation, truth: f64) {
    let r = &evaluation.report;
    let dr = r.doubly_robust.expect("a conversion model is loaded");
    eprintln!(
        "{}: true value {truth:.5}; IPS {:.5} [{:.5}, {:.5}]; DR {:.5} [{:.5}, {:.5}]; logged {:.5}",
        evaluation.target,
        r.ips.value,
        r.ips.low.unwrap(),
        r.ips.high.unwrap(),
        dr.value,
        dr.low.unwrap(),
        dr.high.unwrap(),
        r.logged.value
    );
    for (name, e) in [("IPS", r.ips), ("DR", dr)] {
        assert!(
            e.covers(truth),
            "{}: {name} {e:?} misses the true value {truth}",
            evaluation.target
        );
    }
    // A log that supports the target: weights near 1 on average.
    assert!((r.diagnostics.mean_weight - 1.0).abs() < 0.1, "{r:?}");
    assert!(r.diagnostics.effective_sample_size > 100.0, "{r:?}");
}

#[test]
fn ips_and_dr_contain_the_true_value_of_a_policy_in_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    let config = SimulatorConfig {
        customers: 600,
        days: 90,
        seed: 12,
        start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap(),
    };
    generate(&config, &world, &|_| {}).unwrap();
    let truth = truth(&world);
    let settings = OpeSettings {
        bootstrap: 300,
        ..OpeSettings::default()
    };
    let customers = CustomerTable::read(world.join(files::CUSTOMERS), None).unwrap();
    // The default policy (ε-greedy over what it may do) and "always call with a retention
    // offer" (no consent needed, so the uniform logger could always have done it).
    let targets = [
        Target::Policy("default".into()),
        Target::Action("call_retention_offer".into()),
        Target::Policy("thompson".into()),
    ];

    // 1. The logged-bandit table: the simulator's ground truth file, reward = converted_7d.
    let store = Arc::new(Store::open(dir.path().join("scratch.db")).unwrap());
    let engine = engine(&world, store);
    let columns = TableColumns {
        reward: "converted_7d".into(),
        ..TableColumns::default()
    };
    let (log, _) = read_table(&world.join(files::GROUND_TRUTH), &columns).unwrap();
    assert_eq!(log.len(), truth.len());
    let histories = Histories::read(&world.join(files::EVENTS)).unwrap();
    let mut from_table = Vec::new();
    for target in &targets {
        let e = evaluate(
            &engine,
            target,
            &log,
            &histories,
            Some(&customers),
            &settings,
            &|_| {},
        )
        .unwrap();
        check_covers(&e, true_value(&e, &truth));
        from_table.push(e);
    }
    // "Always call" takes the logged action exactly when the log took it.
    let matches = |id: &str| log.iter().filter(|d| d.action_id == id).count() as f64;
    let zero_share = from_table[1].report.diagnostics.zero_weight_share;
    // Thompson sampling spreads its picks: no logged action it could take has weight 0 unless
    // the policy finds it ineligible, and its weights stay moderate.
    assert!(from_table[2].report.diagnostics.max_weight < 50.0);
    assert!(
        (zero_share - (1.0 - matches("call_retention_offer") / log.len() as f64)).abs() < 1e-12
    );
    // "Always email_discount" is not supported where consent is missing: the mean weight says so.
    let unsupported = evaluate(
        &engine,
        &Target::Action("email_discount".into()),
        &log,
        &histories,
        Some(&customers),
        &settings,
        &|_| {},
    )
    .unwrap();
    assert!(
        unsupported.report.diagnostics.mean_weight < 0.95,
        "{unsupported:?}"
    );

    // 2. The same log as nextbest's decision log: decisions with their propensities, conversion
    // outcomes, and the journey events as the customers' profiles.
    let db = dir.path().join("decisions.db");
    let store = Arc::new(Store::open(&db).unwrap());
    let events = EventReader::read_all(world.join(files::EVENTS), ReadOptions::default()).unwrap();
    store.append_events(&events).unwrap();
    for (i, d) in log.iter().enumerate() {
        store
            .record_decision(DecisionRecord {
                decision_id: format!("d{i:06}"),
                customer_id: d.customer_id.clone(),
                policy: "uniform_random".into(),
                experiment: None,
                actions: vec![LoggedAction {
                    action_id: d.action_id.clone(),
                    rank: 1,
                    score: 0.0,
                    propensity: d.propensity,
                }],
                model_versions: BTreeMap::new(),
                context: serde_json::json!({}),
                created: d.at.unwrap(),
                latency_us: 0,
                dry_run: false,
            })
            .unwrap();
    }
    store.flush().unwrap();
    for (i, d) in log.iter().enumerate() {
        if d.reward > 0.0 {
            store
                .record_outcome(OutcomeRecord {
                    decision_id: format!("d{i:06}"),
                    outcome_type: "conversion".into(),
                    value: None,
                    action_id: None,
                    at: Timestamp(d.at.unwrap().0 + 86_400_000_000),
                })
                .unwrap();
        }
    }
    let engine = self::engine(&world, Arc::clone(&store));
    let (decisions, counts) = read_decision_log(&store, &RewardRule::default(), &|_| {}).unwrap();
    assert_eq!((counts.read, decisions.len()), (log.len(), log.len()));
    assert_eq!(
        decisions.iter().map(|d| d.reward).sum::<f64>(),
        log.iter().map(|d| d.reward).sum::<f64>()
    );
    // (Thompson's replay is the slowest; the table has checked it.)
    for (target, table) in targets[..2].iter().zip(&from_table) {
        let e = evaluate(
            &engine,
            target,
            &decisions,
            &Histories::Store(&store),
            Some(&customers),
            &settings,
            &|_| {},
        )
        .unwrap();
        // The decision log is in decision time order, the table in customer order: the
        // estimates agree (same rows, same replay) up to the bootstrap's resamples.
        assert!(
            (e.report.ips.value - table.report.ips.value).abs() < 1e-9,
            "{e:?} {table:?}"
        );
        let dr = |x: &Evaluation| x.report.doubly_robust.unwrap().value;
        assert!((dr(&e) - dr(table)).abs() < 1e-9);
    }
}

fn nextbest(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(args)
        .output()
        .unwrap()
}

/// A hand-made logged-bandit table through the command line: the JSON answer, a misspelt
/// context column reported, and bad input named by file, row and column.
#[test]
fn evaluate_reads_a_table_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("log.csv");
    let mut text = String::from("customer_id,timestamp,action_id,propensity,reward,plan,regoin\n");
    for i in 0..60 {
        let action = ["email_discount", "no_action", "sms_flash_sale"][i % 3];
        let reward = u8::from(i % 7 == 0);
        text.push_str(&format!(
            "C{i},2025-06-0{}T10:00:00Z,{action},0.3333,{reward},basic,west\n",
            1 + i % 9
        ));
    }
    std::fs::write(&table, &text).unwrap();
    let path = table.to_str().unwrap();
    let out = nextbest(&[
        "evaluate",
        "--policy",
        "action:email_discount",
        "--log",
        path,
        "--bootstrap",
        "50",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &json["evaluation"]["report"];
    // IPS by hand: the 20 email_discount rows have weight 1/0.3333; rows 0, 21, 42 (i % 7 == 0
    // and i % 3 == 0) converted.
    let ips = 3.0 / 0.3333 / 60.0;
    assert!(
        (report["ips"]["value"].as_f64().unwrap() - ips).abs() < 1e-9,
        "{json}"
    );
    assert_eq!(report["diagnostics"]["rows"], 60);
    assert_eq!(
        json["unused_context_columns"],
        serde_json::json!(["regoin"])
    );

    // The table output names the estimators and warns about the column.
    let out = nextbest(&[
        "evaluate",
        "--policy",
        "default",
        "--log",
        path,
        "--bootstrap",
        "20",
    ]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "IPS",
        "self-normalised IPS",
        "doubly robust",
        "Switch-DR",
        "effective sample size",
        "regoin",
    ] {
        assert!(shown.contains(needle), "{needle}: {shown}");
    }

    // A propensity of 0 is named by file, row and column; so is a missing column.
    std::fs::write(&table, text.replacen("0.3333", "0", 1)).unwrap();
    let out = nextbest(&["evaluate", "--policy", "default", "--log", path]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        error.contains("log.csv row 1") && error.contains("'propensity'"),
        "{error}"
    );
    let out = nextbest(&[
        "evaluate",
        "--policy",
        "default",
        "--log",
        path,
        "--reward-column",
        "revenue",
    ]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && error.contains("no column 'revenue'"),
        "{error}"
    );
    std::fs::write(&table, &text).unwrap();
    let out = nextbest(&["evaluate", "--policy", "nope", "--log", path]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && error.contains("no policy named 'nope'"),
        "{error}"
    );
}
