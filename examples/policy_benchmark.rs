//! Proof in the simulator: what each decision policy truly earns.
//!
//! The models are trained beforehand on a simulated world's log (`scripts/benchmark_policies.sh`
//! generates it under the simulator's randomised logging policy and trains churn, conversion and
//! retention on its first months). This program then simulates *other* customers of the same
//! world, picks for each a decision point in the last months (after every training label), and
//! asks the engine — in process, the same code as `/v1/decisions`, dry run, inline history — what
//! each policy would do there. The simulator knows every customer's true P(purchase within 7
//! days) and true P(cancel within 7 days) under every action at that instant, so each choice
//! has a true value:
//!
//!   (P(convert | a) − P(convert | nothing)) × value(a)
//!     − (P(churn | a) − P(churn | nothing)) × customer value − cost(a)
//!
//! with the catalog's value and cost, and the customer value the engine itself uses (revenue
//! over the past year). Doing nothing is worth 0. Reported per policy: the mean true value per
//! decision, and its share of the oracle's (the best action by true value at every point).
//!
//! Off-policy evaluation beside the truth: the same decision points were logged by the
//! simulator's randomised logging policy (its action, propensity and whether the customer then
//! converted within 7 days). With `--nextbest BIN`, that log is written out
//! (`<out>/log.jsonl`, `<out>/events.parquet`) and `nextbest evaluate` estimates each policy's
//! conversion rate from it (IPS, SNIPS, DR with bootstrap 95% intervals), printed beside the
//! policy's true conversion rate at the same points (Σₐ π(a | x) · P(convert | x, a), π from
//! the engine's own replay) — and how many DR intervals contain the truth.
//!
//!     cargo run --release --example policy_benchmark -- --models DIR [--customers N] [--seed S]
//!         [--nextbest target/release/nextbest --out DIR]

// A benchmark: it stops with a message on anything unexpected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nextbest::catalog::{ActionKind, Catalog};
use nextbest::decision::PolicySet;
use nextbest::engine::{Acknowledge, DecisionRequest, Engine, EngineParts, Limits};
use nextbest::journey::{Event, EventType, Timestamp};
use nextbest::models::registry::{ModelPaths, ModelSet};
use nextbest::simulator::knowledge::{expected_truth, Hidden};
use nextbest::simulator::world::{self, simulate_customer, Distributions, NO_ACTION};
use nextbest::store::Store;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde_json::json;

struct Options {
    models: PathBuf,
    customers: u64,
    seed: u64,
    nextbest: Option<PathBuf>,
    out: PathBuf,
    /// Send the simulator's hidden traits as customer attributes (a diagnostic: the models
    /// must then have been trained with them too).
    with_traits: bool,
}

fn options() -> Options {
    let mut o = Options {
        models: PathBuf::from("models"),
        customers: 4_000,
        seed: 99,
        nextbest: None,
        out: PathBuf::from("out/benchmark/ope"),
        with_traits: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--models" => o.models = PathBuf::from(value),
            "--customers" => o.customers = value.parse().expect("--customers N"),
            "--seed" => o.seed = value.parse().expect("--seed N"),
            "--nextbest" => o.nextbest = Some(PathBuf::from(value)),
            "--out" => o.out = PathBuf::from(value),
            "--with-traits" => o.with_traits = value == "yes",
            other => {
                panic!("unknown argument {other} (see the top of examples/policy_benchmark.rs)")
            }
        }
    }
    o
}

/// Draws of the hidden traits per decision point (`DRAWS=n` in the environment overrides).
static DRAWS: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("DRAWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
});

/// Oracles that know less: every trait and the state but these (averaged over their prior).
const HIDDEN: [(&str, &[Hidden]); 5] = [
    ("price sensitivity", &[Hidden::PriceSensitivity]),
    (
        "price sensitivity or contact aversion",
        &[Hidden::PriceSensitivity, Hidden::ContactAversion],
    ),
    (
        "price sensitivity, contact aversion or channel affinities",
        &[
            Hidden::PriceSensitivity,
            Hidden::ContactAversion,
            Hidden::ChannelAffinity,
        ],
    ),
    (
        "contact aversion, channel affinities or engagement (knows price sensitivity)",
        &[
            Hidden::ContactAversion,
            Hidden::ChannelAffinity,
            Hidden::Engagement,
        ],
    ),
    (
        "price sensitivity, contact aversion, channel affinities or engagement",
        &[
            Hidden::PriceSensitivity,
            Hidden::ContactAversion,
            Hidden::ChannelAffinity,
            Hidden::Engagement,
        ],
    ),
];

/// One simulated customer at a decision point, with the truth under every action.
struct Case {
    request: serde_json::Value,
    p_convert: Vec<f64>,
    p_churn: Vec<f64>,
    /// The same truths as expected without knowing some of the customer's traits, one pair
    /// per entry of [`HIDDEN`].
    expected: Vec<(Vec<f64>, Vec<f64>)>,
    customer_value: f64,
    /// Every event of the customer's year (the log's histories; a replay reads those before
    /// the decision).
    events: Vec<Event>,
    /// What the logging policy did here: its action (catalog index), that action's
    /// propensity, and whether the customer converted within 7 days.
    logged: (usize, f64, bool),
}

fn simulate(catalog: &Catalog, customers: u64, seed: u64, with_traits: bool) -> Vec<Case> {
    let no_action = catalog
        .actions
        .iter()
        .position(|a| a.id == NO_ACTION)
        .unwrap();
    let distributions = Distributions::new().unwrap();
    let start = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let days = 365;
    // Decision points after the training configs' last labels (holdout from 2025-10-15).
    let from = Timestamp::parse_rfc3339("2025-10-20T00:00:00Z").unwrap();
    let until = start.plus_days(f64::from(days) - 8.0);
    (0..customers)
        .into_par_iter()
        .filter_map(|i| {
            let id = format!("B{i:07}");
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let run = simulate_customer(
                &mut rng,
                &distributions,
                catalog,
                no_action,
                &id,
                start,
                days,
            );
            let points: Vec<_> = run
                .decisions
                .iter()
                .filter(|d| d.timestamp >= from && d.timestamp < until)
                .collect();
            if points.is_empty() {
                return None;
            }
            let point = points[rng.random_range(0..points.len())];
            let history: Vec<&Event> = run
                .events
                .iter()
                .filter(|e| e.timestamp < point.timestamp)
                .collect();
            // Cancelled customers have no decisions left to make.
            if history.iter().any(|e| e.event_type == EventType::Cancel) {
                return None;
            }
            let year_ago = point.timestamp.plus_days(-365.0);
            let customer_value: f64 = history
                .iter()
                .filter(|e| e.event_type == EventType::Purchase && e.timestamp >= year_ago)
                .filter_map(|e| e.value)
                .sum();
            let p = &run.profile;
            let from = history.len().saturating_sub(1_000);
            let mut attributes = json!({
                "signup_date": p.signup.to_rfc3339(), "plan": p.plan, "region": p.region,
                "age_band": p.age_band, "acquisition_channel": p.acquisition,
                "email_consent": p.consent[0], "sms_consent": p.consent[1],
                "push_consent": p.consent[2]
            });
            if with_traits {
                let t = &run.traits;
                let extra = json!({
                    "engagement": t.engagement, "price_sensitivity": t.price_sensitivity,
                    "contact_aversion": t.contact_aversion,
                    "base_satisfaction": t.base_satisfaction,
                    "email_affinity": t.channel_affinity[0], "sms_affinity": t.channel_affinity[1],
                    "push_affinity": t.channel_affinity[2], "app_user": t.app_user,
                    "order_value": t.order_value
                });
                for (k, v) in extra.as_object().unwrap() {
                    attributes[k] = v.clone();
                }
            }
            Some(Case {
                request: json!({
                    "customer_id": id,
                    "context": {"timestamp": point.timestamp.to_rfc3339()},
                    "customer": {"attributes": attributes},
                    "history": history[from..],
                    "dry_run": true,
                    "max_actions": 1
                }),
                p_convert: point.p_convert.clone(),
                p_churn: point.p_churn_7d.clone(),
                expected: HIDDEN
                    .iter()
                    .map(|(_, hidden)| {
                        expected_truth(
                            catalog,
                            &distributions,
                            &run.traits,
                            &point.context,
                            hidden,
                            *DRAWS,
                        )
                    })
                    .collect(),
                customer_value,
                events: run.events.clone(),
                logged: (point.action, point.propensity, point.converted_7d),
            })
        })
        .collect()
}

/// The true value of taking `action` (a catalog index) at a case, against doing nothing.
fn true_value(catalog: &Catalog, case: &Case, action: usize, no_action: usize) -> f64 {
    value_by(
        catalog,
        case,
        (&case.p_convert, &case.p_churn),
        action,
        no_action,
    )
}

/// The value of `action` by the given P(convert) and P(cancel within 7 days) per action.
fn value_by(
    catalog: &Catalog,
    case: &Case,
    (p_convert, p_churn): (&[f64], &[f64]),
    action: usize,
    no_action: usize,
) -> f64 {
    let a = &catalog.actions[action];
    if a.kind == ActionKind::None {
        return 0.0;
    }
    (p_convert[action] - p_convert[no_action]) * a.value
        - (p_churn[action] - p_churn[no_action]) * case.customer_value
        - a.cost
}

/// The policies compared: the shipped ones with exploration off, and uniform random choice.
fn policies(dir: &Path) -> PolicySet {
    let greedy = |name: &str| {
        let text = std::fs::read_to_string(format!("policies/{name}.toml")).unwrap();
        text.replace("exploration = \"epsilon_greedy\"", "exploration = \"none\"")
            .replace("epsilon = 0.05\n", "")
    };
    for name in ["default", "propensity", "pega", "rules"] {
        std::fs::write(dir.join(format!("{name}.toml")), greedy(name)).unwrap();
    }
    // The default without its suitability rules (no sales below a sentiment, retention only
    // above a churn risk): what it may choose from is every action the customer can be sent
    // (consent, unsubscribes, caps, cool-downs), which bounds the oracle too.
    let default = greedy("default");
    let start = default.find("[suitability]").unwrap();
    let end = default[start..].find("\n[[").unwrap() + start;
    let unconstrained = format!("{}{}", &default[..start], &default[end + 1..]);
    std::fs::write(dir.join("unconstrained.toml"), unconstrained).unwrap();
    // Random: every eligible action (doing nothing included) equally likely.
    let random = greedy("default").replace(
        "exploration = \"none\"",
        "exploration = \"epsilon_greedy\"\nepsilon = 1.0",
    );
    std::fs::write(dir.join("random.toml"), random).unwrap();
    PolicySet::load_dir(dir).unwrap()
}

fn main() {
    let o = options();
    let catalog = world::catalog();
    let no_action = catalog
        .actions
        .iter()
        .position(|a| a.id == NO_ACTION)
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let policy_dir = scratch.path().join("policies");
    std::fs::create_dir(&policy_dir).unwrap();
    let paths = ModelPaths::defaults_in(&o.models);
    eprintln!("== models: {paths:?}");
    let engine = Engine::new(EngineParts {
        models: ModelSet::load(&paths).unwrap(),
        catalog: catalog.clone(),
        policies: policies(&policy_dir),
        default_policy: "default".into(),
        store: Arc::new(Store::open(scratch.path().join("log.db")).unwrap()),
        limits: Limits::default(),
        record_exposures: false,
        acknowledge: Acknowledge::Queued,
        models_dir: o.models.clone(),
        sources: None,
    })
    .unwrap();

    eprintln!("== simulating {} customers (seed {})", o.customers, o.seed);
    let cases = simulate(&catalog, o.customers, o.seed, o.with_traits);
    let n = cases.len() as f64;
    eprintln!("   {} decision points", cases.len());

    let index_of = |id: &str| catalog.actions.iter().position(|a| a.id == id);
    let no_retention = Engine::new(EngineParts {
        models: ModelSet::load(&ModelPaths {
            retention: None,
            ..paths.clone()
        })
        .unwrap(),
        catalog: catalog.clone(),
        policies: PolicySet::load_dir(&policy_dir).unwrap(),
        default_policy: "default".into(),
        store: Arc::new(Store::open(scratch.path().join("log2.db")).unwrap()),
        limits: Limits::default(),
        record_exposures: false,
        acknowledge: Acknowledge::Queued,
        models_dir: o.models.clone(),
        sources: None,
    })
    .unwrap();
    // Each case's answer under a policy: the chosen action and every action it could send.
    let run = |engine: &Engine, policy: &str| -> Vec<(usize, Vec<usize>)> {
        cases
            .par_iter()
            .map(|case| {
                let mut body = case.request.clone();
                body["policy"] = json!(policy);
                // The passed-over candidates (what else it could send) come only with
                // `explain`; the bounds below need them.
                body["explain"] = json!(policy == "unconstrained" || policy == "random");
                let request: DecisionRequest = serde_json::from_value(body).unwrap();
                let answer = engine.decide(&request).unwrap();
                let d = &answer.decision;
                let chosen = d
                    .actions
                    .first()
                    .and_then(|a| index_of(&a.action_id))
                    .unwrap_or(no_action);
                let eligible = d
                    .actions
                    .iter()
                    .map(|a| a.action_id.as_str())
                    .chain(d.passed_over.iter().map(|p| p.action_id.as_str()))
                    .filter_map(index_of)
                    .collect();
                (chosen, eligible)
            })
            .collect()
    };
    let mean = |chosen: &[usize]| {
        cases
            .iter()
            .zip(chosen)
            .map(|(case, &a)| true_value(&catalog, case, a, no_action))
            .sum::<f64>()
            / n
    };
    // (label, true value per decision, share of decisions acted on, choices)
    let mut rows: Vec<(String, f64, f64, Vec<usize>)> = Vec::new();
    let mut eligible: Vec<Vec<usize>> = Vec::new();
    let runs: [(&str, &Engine, &str); 7] = [
        ("default", &engine, "default"),
        (
            "default, without its suitability rules",
            &engine,
            "unconstrained",
        ),
        (
            "default without a retention model (save rate 0.2)",
            &no_retention,
            "default",
        ),
        ("propensity", &engine, "propensity"),
        ("pega", &engine, "pega"),
        ("rules", &engine, "rules"),
        ("random (uniform over eligible actions)", &engine, "random"),
    ];
    let acting = |chosen: &[usize]| chosen.iter().filter(|&&a| a != no_action).count() as f64 / n;
    for (label, engine, policy) in runs {
        let answers = run(engine, policy);
        let chosen: Vec<usize> = answers.iter().map(|a| a.0).collect();
        if policy == "random" {
            // Its expectation over the uniform draw, not one draw: the same on every run.
            let (mut value, mut acts) = (0.0, 0.0);
            for (case, (_, options)) in cases.iter().zip(&answers) {
                let k = options.len().max(1) as f64;
                value += options
                    .iter()
                    .map(|&a| true_value(&catalog, case, a, no_action))
                    .sum::<f64>()
                    / k;
                acts += options.iter().filter(|&&a| a != no_action).count() as f64 / k;
            }
            rows.push((label.to_string(), value / n, acts / n, chosen));
            continue;
        }
        if policy == "unconstrained" {
            eligible = answers.into_iter().map(|a| a.1).collect();
        }
        rows.push((label.to_string(), mean(&chosen), acting(&chosen), chosen));
    }
    // Bounds, over the actions each customer can be sent: the best single action (sent to
    // everyone it can be sent to) and the oracle (the best action by true value, or nothing).
    let can_send = |case: usize, a: usize| eligible[case].contains(&a);
    let (best_single, best_single_value) = (0..catalog.actions.len())
        .filter(|&a| a != no_action)
        .map(|a| {
            let chosen: Vec<usize> = (0..cases.len())
                .map(|c| if can_send(c, a) { a } else { no_action })
                .collect();
            (a, mean(&chosen))
        })
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap();
    // The best action by a judgement of value (true, or as expected without some knowledge).
    let best_by = |judge: &dyn Fn(&Case, usize) -> f64| -> Vec<usize> {
        cases
            .iter()
            .enumerate()
            .map(|(c, case)| {
                eligible[c]
                    .iter()
                    .copied()
                    .map(|a| (a, judge(case, a)))
                    .fold(
                        (no_action, 0.0),
                        |best, x| if x.1 > best.1 { x } else { best },
                    )
                    .0
            })
            .collect()
    };
    let oracle_choice = best_by(&|case, a| true_value(&catalog, case, a, no_action));
    let oracle = mean(&oracle_choice);
    // What knowing less can earn: the best action by the truth averaged over the prior of the
    // traits not known, valued by the real truth.
    for (k, (label, _)) in HIDDEN.iter().enumerate() {
        let choice = best_by(&|case, a| {
            let (p_convert, p_churn) = &case.expected[k];
            value_by(&catalog, case, (p_convert, p_churn), a, no_action)
        });
        rows.push((
            format!("oracle not knowing {label}"),
            mean(&choice),
            acting(&choice),
            choice,
        ));
    }
    println!(
        "| policy | true value per decision | share of the oracle | acts on |\n| --- | ---: | ---: | ---: |"
    );
    for (name, value, acting, _) in &rows {
        println!(
            "| {name} | {value:.3} | {:.0}% | {:.0}% |",
            100.0 * value / oracle,
            100.0 * acting
        );
    }
    println!(
        "| always {} (the best single action, wherever it may be sent) | {best_single_value:.3} | {:.0}% | |",
        catalog.actions[best_single].id,
        100.0 * best_single_value / oracle
    );
    let acting = oracle_choice.iter().filter(|&&a| a != no_action).count() as f64 / n;
    println!(
        "| oracle (the best action it may be sent by true value, or nothing) | {oracle:.3} | 100% | {:.0}% |",
        100.0 * acting
    );
    where_the_default_loses(&catalog, &cases, &rows[0].3, &oracle_choice, no_action);
    if let Some(nextbest) = &o.nextbest {
        off_policy(&engine, &catalog, &cases, &policy_dir, nextbest, &o.out);
    }
}

/// Where the default's value falls short of the oracle's: the conversion, churn and cost parts
/// of the difference, and how often each picks each action (with its mean true value there).
fn where_the_default_loses(
    catalog: &Catalog,
    cases: &[Case],
    default: &[usize],
    oracle: &[usize],
    no_action: usize,
) {
    let parts = |case: &Case, action: usize| -> [f64; 3] {
        let a = &catalog.actions[action];
        if a.kind == ActionKind::None {
            return [0.0; 3];
        }
        [
            (case.p_convert[action] - case.p_convert[no_action]) * a.value,
            -(case.p_churn[action] - case.p_churn[no_action]) * case.customer_value,
            -a.cost,
        ]
    };
    let n = cases.len() as f64;
    let mut gap = [0.0; 3];
    for ((case, &d), &o) in cases.iter().zip(default).zip(oracle) {
        let (pd, po) = (parts(case, d), parts(case, o));
        for k in 0..3 {
            gap[k] += (po[k] - pd[k]) / n;
        }
    }
    println!(
        "\nThe oracle's lead over the default per decision: conversion {:.3}, churn {:.3}, cost {:.3}.\n",
        gap[0], gap[1], gap[2]
    );
    println!("| action | default picks | its mean true value | oracle picks | its mean true value |\n| --- | ---: | ---: | ---: | ---: |");
    for (a, action) in catalog.actions.iter().enumerate() {
        let stats = |chosen: &[usize]| {
            let values: Vec<f64> = cases
                .iter()
                .zip(chosen)
                .filter(|(_, &c)| c == a)
                .map(|(case, _)| true_value(catalog, case, a, no_action))
                .collect();
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            (values.len(), mean)
        };
        let ((dn, dv), (on, ov)) = (stats(default), stats(oracle));
        println!("| {} | {dn} | {dv:.3} | {on} | {ov:.3} |", action.id);
    }
}

/// Writes the logging policy's log of the judged decision points where `nextbest evaluate`
/// reads it: a logged-bandit table (customer, instant, logged action, propensity, reward = a
/// purchase within 7 days, and the customer attributes as context columns), the customers'
/// events, the catalog and the policies.
fn write_log(catalog: &Catalog, cases: &[Case], policies: &Path, out: &Path) {
    use std::io::Write;
    std::fs::create_dir_all(out.join("policies")).unwrap();
    for file in std::fs::read_dir(policies).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, out.join("policies").join(file.file_name().unwrap())).unwrap();
    }
    std::fs::write(out.join("catalog.toml"), catalog.to_toml().unwrap()).unwrap();
    let mut log = std::io::BufWriter::new(std::fs::File::create(out.join("log.jsonl")).unwrap());
    let mut events =
        nextbest::journey::writer::ParquetEventWriter::create(out.join("events.parquet")).unwrap();
    for case in cases {
        let (action, propensity, converted) = case.logged;
        let mut row = case.request["customer"]["attributes"].clone();
        row["customer_id"] = case.request["customer_id"].clone();
        row["timestamp"] = case.request["context"]["timestamp"].clone();
        row["action_id"] = json!(catalog.actions[action].id);
        row["propensity"] = json!(propensity);
        row["reward"] = json!(u8::from(converted));
        writeln!(log, "{row}").unwrap();
        events.write(case.events.iter().cloned()).unwrap();
    }
    log.flush().unwrap();
    events.finish().unwrap();
}

/// The off-policy column: `nextbest evaluate` on the logging policy's log against each
/// policy's true conversion rate at the same points.
fn off_policy(
    engine: &Engine,
    catalog: &Catalog,
    cases: &[Case],
    policies: &Path,
    nextbest: &Path,
    out: &Path,
) {
    write_log(catalog, cases, policies, out);
    let models = engine.models().paths.clone();
    let models_dir = models
        .conversion
        .as_ref()
        .and_then(|p| p.parent())
        .expect("a conversion model")
        .to_path_buf();
    let logged_rate = cases.iter().filter(|c| c.logged.2).count() as f64 / cases.len() as f64;
    println!(
        "\nOff-policy estimates from the logging policy's log ({} decisions, its conversion rate {logged_rate:.4}) against the truth, conversion within 7 days:\n",
        cases.len()
    );
    println!("| policy | true P(convert) | IPS [95%] | SNIPS [95%] | DR [95%] | DR interval contains the truth |\n| --- | ---: | ---: | ---: | ---: | :---: |");
    let index_of = |id: &str| catalog.actions.iter().position(|a| a.id == id);
    let mut covered = 0;
    let names = ["default", "propensity", "pega", "rules", "random"];
    for policy in names {
        // The truth: the policy's whole distribution at each point (the engine's replay, as
        // the estimator sees it), valued by the simulator's P(convert | action).
        let truth: f64 = cases
            .par_iter()
            .map(|case| {
                let mut body = case.request.clone();
                body["policy"] = json!(policy);
                // The history is the replay's argument.
                body.as_object_mut().unwrap().remove("history");
                let request: DecisionRequest = serde_json::from_value(body).unwrap();
                let replay = engine.replay(&request, &case.events).unwrap();
                replay
                    .candidates
                    .iter()
                    .filter(|c| c.probability > 0.0)
                    .map(|c| c.probability * case.p_convert[index_of(&c.action_id).unwrap()])
                    .sum::<f64>()
            })
            .sum::<f64>()
            / cases.len() as f64;
        let output = std::process::Command::new(nextbest)
            .args(["evaluate", "--policy", policy, "--json", "--log"])
            .arg(out.join("log.jsonl"))
            .arg("--events")
            .arg(out.join("events.parquet"))
            .arg("--models")
            .arg(&models_dir)
            .arg("--catalog")
            .arg(out.join("catalog.toml"))
            .arg("--policies")
            .arg(out.join("policies"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "nextbest evaluate --policy {policy}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let report = &answer["evaluation"]["report"];
        let shown = |e: &serde_json::Value| match (
            e["value"].as_f64(),
            e["low"].as_f64(),
            e["high"].as_f64(),
        ) {
            (Some(v), Some(l), Some(h)) => format!("{v:.4} [{l:.4}, {h:.4}]"),
            _ => "n/a".into(),
        };
        let dr = &report["doubly_robust"];
        let contains = dr["low"].as_f64().is_some_and(|l| l <= truth)
            && dr["high"].as_f64().is_some_and(|h| truth <= h);
        covered += usize::from(contains);
        println!(
            "| {policy} | {truth:.4} | {} | {} | {} | {} |",
            shown(&report["ips"]),
            shown(&report["snips"]),
            shown(dr),
            if contains { "yes" } else { "no" }
        );
    }
    println!(
        "\nThe DR 95% interval contains the true value for {covered} of {} policies.",
        names.len()
    );
}
