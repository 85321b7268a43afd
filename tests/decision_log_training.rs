//! The loop closes: the engine decides for simulated customers with randomised exploration and
//! logs every decision to SQLite, outcomes drawn from the simulator's truth for the action it
//! took are recorded against them, and `nextbest train --decision-log` learns a conversion model
//! from that log — every logged decision accounted for.

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nextbest::decision::PolicySet;
use nextbest::engine::{Acknowledge, DecisionRequest, Engine, EngineParts, Limits};
use nextbest::journey::Timestamp;
use nextbest::models::registry::{ModelPaths, ModelSet};
use nextbest::models::Artifact;
use nextbest::simulator::world::{self, simulate_customer, Distributions, NO_ACTION};
use nextbest::store::{OutcomeRecord, Store};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{json, Value};

const DAY: i64 = Timestamp::MICROS_PER_DAY;

/// Runs the engine over simulated customers; returns the decisions logged.
fn write_log(dir: &Path, customers: u64) -> u64 {
    let catalog = world::catalog();
    let no_action = catalog
        .actions
        .iter()
        .position(|a| a.id == NO_ACTION)
        .unwrap();
    // The default policy, exploring uniformly over the eligible actions (nothing included).
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let text = std::fs::read_to_string("policies/default.toml").unwrap();
    assert!(text.contains("epsilon = 0.05"));
    std::fs::write(
        policies.join("default.toml"),
        text.replace("epsilon = 0.05", "epsilon = 1.0"),
    )
    .unwrap();
    let engine = Engine::new(EngineParts {
        models: ModelSet::load(&ModelPaths::defaults_in(Path::new("models"))).unwrap(),
        catalog: catalog.clone(),
        policies: PolicySet::load_dir(&policies).unwrap(),
        default_policy: "default".into(),
        store: Arc::new(Store::open(dir.join("log.db")).unwrap()),
        limits: Limits::default(),
        record_exposures: false,
        acknowledge: Acknowledge::Committed,
        models_dir: "models".into(),
        sources: None,
    })
    .unwrap();
    let distributions = Distributions::new().unwrap();
    let start = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
    let mut outcomes = Xoshiro256PlusPlus::seed_from_u64(7);
    let mut logged = 0;
    for i in 0..customers {
        let id = format!("L{i:05}");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1000 + i);
        let run = simulate_customer(
            &mut rng,
            &distributions,
            &catalog,
            no_action,
            &id,
            start,
            200,
        );
        let p = &run.profile;
        let mut stored = 0;
        let mut last: Option<Timestamp> = None;
        for point in &run.decisions {
            let at = point.timestamp;
            // Decisions at least two weeks apart, after a month of history.
            if at.0 < start.0 + 30 * DAY || last.is_some_and(|l| at.0 - l.0 < 14 * DAY) {
                continue;
            }
            last = Some(at);
            // The profile store holds what happened before the decision, as in service.
            let upto = run.events.partition_point(|e| e.timestamp < at);
            if upto > stored {
                engine
                    .store()
                    .append_events(&run.events[stored..upto])
                    .unwrap();
                stored = upto;
            }
            let request: DecisionRequest = serde_json::from_value(json!({
                "customer_id": id,
                "context": {"timestamp": at.to_rfc3339()},
                "customer": {"attributes": {
                    "signup_date": p.signup.to_rfc3339(), "plan": p.plan, "region": p.region,
                    "age_band": p.age_band, "acquisition_channel": p.acquisition,
                    "email_consent": p.consent[0], "sms_consent": p.consent[1],
                    "push_consent": p.consent[2]
                }},
                "max_actions": 1
            }))
            .unwrap();
            let answer = engine.decide(&request).unwrap();
            let taken = answer
                .decision
                .actions
                .first()
                .and_then(|a| catalog.actions.iter().position(|c| c.id == a.action_id))
                .unwrap_or(no_action);
            // The outcome of the action the engine took, drawn from the simulator's truth.
            if outcomes.random::<f64>() < point.p_convert[taken] {
                engine
                    .store()
                    .record_outcome(OutcomeRecord {
                        decision_id: answer.decision_id.clone(),
                        outcome_type: "conversion".into(),
                        value: None,
                        action_id: None,
                        at: Timestamp(at.0 + DAY),
                    })
                    .unwrap();
            }
            logged += 1;
        }
    }
    // A preview is not logged: nothing to learn from, nothing to count.
    let preview: DecisionRequest = serde_json::from_value(json!({
        "customer_id": "L00000", "dry_run": true,
        "context": {"timestamp": "2025-06-01T00:00:00Z"}
    }))
    .unwrap();
    engine.decide(&preview).unwrap();
    engine.store().flush().unwrap();
    logged
}

fn nextbest(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_conversion_trainer_learns_from_the_engines_own_decision_log() {
    let dir = tempfile::tempdir().unwrap();
    let logged = write_log(dir.path(), 250);
    assert!(logged > 1000, "{logged} decisions");
    std::fs::write(
        dir.path().join("catalog.toml"),
        world::catalog().to_toml().unwrap(),
    )
    .unwrap();
    let config = dir.path().join("conversion.toml");
    std::fs::write(
        &config,
        format!(
            r#"
role = "conversion"
output = "{d}/model"
seed = 3
[data]
events = "{d}/not-read-with-a-decision-log.parquet"
catalog = "{d}/catalog.toml"
[label]
window_days = 7
[split]
train_from = "2025-02-01"
holdout_from = "2025-06-01"
[model]
algorithm = "logistic"
calibration = "none"
"#,
            d = dir.path().display()
        ),
    )
    .unwrap();
    let db = dir.path().join("log.db");
    let out = nextbest(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--decision-log",
        db.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("model/metrics.json")).unwrap(),
    )
    .unwrap();
    let points = &metrics["points"];
    let n = |key: &str| {
        points[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {points}"))
    };
    // Every logged decision is accounted for: a treatment, a control or an unknown action.
    assert_eq!(n("dry_run_decisions"), 0, "{points}");
    assert_eq!(n("decisions_without_action"), 0, "{points}");
    assert_eq!(n("unknown_action_events"), 0, "{points}");
    assert_eq!(n("contacts") + n("explicit_controls"), logged, "{points}");
    assert!(n("explicit_controls") > 100, "{points}");
    // …and every point is used or left out for a reason.
    let left_out = n("overlapping_contacts")
        + n("contaminated_controls")
        + n("after_cancel")
        + n("censored")
        + n("outside_periods");
    assert_eq!(n("used") + left_out, logged, "{points}");
    assert!(
        n("censored") > 0,
        "the last week's decisions are censored: {points}"
    );
    let rows =
        metrics["train"]["rows"].as_u64().unwrap() + metrics["holdout"]["rows"].as_u64().unwrap();
    assert_eq!(rows, n("used"));
    assert!(
        metrics["holdout_control_rows"].as_u64().unwrap() > 20,
        "{metrics}"
    );
    assert!(
        metrics["train"]["positives"].as_u64().unwrap() > 20,
        "{metrics}"
    );
    // The engine's exploration logged unequal propensities; the logistic learner takes no
    // weights, so it is trained unweighted and says so.
    assert_eq!(metrics["propensity_weighted"], false, "{metrics}");
    assert!(
        metrics["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("takes no row weights")),
        "{metrics}"
    );
    // The artifact serves: its treatments are the catalog's, and it remembers their kinds.
    let artifact = Artifact::load(dir.path().join("model")).unwrap();
    assert_eq!(artifact.manifest.treatments.as_ref().unwrap().len(), 6);
    assert_eq!(artifact.manifest.actions.as_ref().unwrap().len(), 7);

    // A decision log that is not there is named, and nothing is created in its place.
    let missing = dir.path().join("missing.db");
    let out = nextbest(&[
        "train",
        "--config",
        config.to_str().unwrap(),
        "--decision-log",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing.db: no such decision log"),
        "{stderr}"
    );
    assert!(!missing.exists());
}
