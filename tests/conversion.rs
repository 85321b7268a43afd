//! Conversion/uplift training: decision points and labels derived from the journey log, a model
//! judged against the simulator's exact truth, artifacts that reload bit-identically, and clear
//! config errors.

// Helpers outside `#[test]` functions are test code too; clippy.toml only covers test bodies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use nextbest::features::FeatureSpec;
use nextbest::journey::Timestamp;
use nextbest::models::artifact::LoadedModel;
use nextbest::models::{Artifact, Scorer};
use nextbest::simulator::{generate, world, SimulatorConfig};
use nextbest::training::config::ConversionConfig;
use nextbest::training::conversion::{self, PointCounts};
use nextbest::training::TabularInputs;

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("conversion.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn config_text(data: &Path, out: &Path, extra: &str) -> String {
    format!(
        r#"
role = "conversion"
output = "{out}"
seed = 3
[data]
events = "{d}/events.parquet"
customers = "{d}/customers.parquet"
catalog = "{d}/catalog.toml"
[label]
window_days = 7
[control]
every_days = 7
[split]
train_from = "2025-01-29"
calibration_from = "2025-05-01"
holdout_from = "2025-06-15"
[model]
algorithm = "gbdt"
calibration = "isotonic"
[model.gbdt]
iterations = 120
max_depth = 4
{extra}
"#,
        d = data.display(),
        out = out.display()
    )
}

#[test]
fn uplift_model_finds_the_true_uplift_of_the_simulated_world() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("world");
    let config = SimulatorConfig {
        customers: 4000,
        days: 240,
        seed: 21,
        start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap(),
    };
    generate(&config, &data, &|_| {}).unwrap();
    let out = dir.path().join("model");
    let extra = format!(
        "[evaluation]\nground_truth = \"{}/ground_truth.parquet\"",
        data.display()
    );
    let path = write_config(dir.path(), &config_text(&data, &out, &extra));
    let config = ConversionConfig::load(&path).unwrap();
    let outcome = conversion::train(&config, &|_| {}).unwrap();
    let m = &outcome.metrics;

    // Every candidate point is accounted for, and the sets add up.
    let sets = m.train.rows + m.holdout.rows + m.calibration_set.as_ref().unwrap().rows;
    assert_eq!(m.points.used as usize, sets);
    assert!(m.holdout_control_rows > 100, "{m:?}");
    assert_eq!(m.treatments.len(), 6);
    assert!(m.auc.unwrap() > 0.55, "holdout AUC {:?}", m.auc);

    // Against the exact truth: the strong, heterogeneous actions are ranked well, and acting on
    // the model earns more true uplift than acting at random.
    let truth = m.ground_truth.as_ref().unwrap();
    assert!(truth.points > 1000);
    for action in ["email_discount", "sms_flash_sale"] {
        let a = truth
            .actions
            .iter()
            .find(|a| a.action_id == action)
            .unwrap();
        let r = a.uplift_correlation.unwrap();
        assert!(r > 0.15, "{action}: correlation with true uplift {r}");
    }
    assert!(
        truth.model_policy_uplift > truth.random_policy_uplift + 0.005,
        "{truth:?}"
    );
    assert!(truth.oracle_policy_uplift >= truth.model_policy_uplift);

    // The artifact reloads, names its treatments, and predicts bit-identically.
    let artifact = Artifact::load(&out).unwrap();
    assert_eq!(
        artifact.manifest.treatments.as_deref(),
        Some(m.treatments.as_slice())
    );
    let spec = artifact.manifest.features.clone().unwrap();
    artifact.check_features(&spec).unwrap();
    let LoadedModel::Tabular(model) = &artifact.model else {
        panic!("not tabular")
    };
    let width = spec.len() + m.treatments.len();
    let features = vec![0.5_f32; spec.len()];
    let rows: Vec<f32> = std::iter::once(None)
        .chain((0..6).map(Some))
        .flat_map(|t| conversion::treatment_row(&features, t, 6))
        .collect();
    let p = model.predict_proba(&rows, width).unwrap();
    assert_eq!(p.len(), 7);
    assert!(p.iter().all(|p| (0.0..=1.0).contains(p)));
    let metrics = artifact.metrics().unwrap();
    assert_eq!(metrics["role"], "conversion");
    assert!(
        metrics["per_action"][0]["uplift_deciles"]
            .as_array()
            .unwrap()
            .len()
            == 10
    );
    // The uplift metrics are on scikit-uplift's scales, and `models show` prints them with the
    // uplift deciles of every action.
    let a = &m.per_action[0].uplift;
    for v in [a.qini_auc, a.uplift_auc] {
        assert!(v.unwrap().abs() <= 1.0, "{a:?}");
    }
    assert!(a.uplift_at_30.is_some() && a.uplift_at_30_by_group.is_some());
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_nextbest"))
        .args(["models", "show"])
        .arg(&out)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("mean normalised Qini")
            && shown.contains("qini_auc_score")
            && shown.matches("uplift deciles of").count() == 6,
        "{shown}"
    );
}

/// A hand-made log where every label and every dropped point can be counted by hand.
#[test]
fn decision_points_and_labels_follow_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = world::catalog().to_toml().unwrap();
    std::fs::write(dir.path().join("catalog.toml"), catalog).unwrap();
    // 2025-01-02 is a Thursday; control instants fall on Thursdays at midnight UTC.
    let events = "customer_id,timestamp,event_type,channel,action_id,value,text
A,2025-01-02T10:00:00Z,visit,web,,,
A,2025-01-20T09:00:00Z,action,email,email_discount,,
A,2025-01-23T12:00:00Z,purchase,web,,20,
A,2025-03-10T09:00:00Z,action,email,mystery_offer,,
A,2025-03-25T00:00:00Z,visit,web,,,
B,2025-01-02T10:00:00Z,visit,web,,,
B,2025-02-10T12:00:00Z,purchase,web,,35,
B,2025-03-25T00:00:00Z,visit,web,,,
C,2025-01-02T10:00:00Z,visit,web,,,
C,2025-02-01T00:00:00Z,cancel,web,,,
";
    std::fs::write(dir.path().join("events.csv"), events).unwrap();
    let text = format!(
        r#"
role = "conversion"
output = "{d}/model"
[data]
events = "{d}/events.csv"
catalog = "{d}/catalog.toml"
[label]
window_days = 7
[control]
every_days = 7
[split]
holdout_from = "2025-03-01"
[model]
algorithm = "logistic"
"#,
        d = dir.path().display()
    );
    let config = ConversionConfig::load(&write_config(dir.path(), &text)).unwrap();
    let inputs = TabularInputs::load(&config.config().data).unwrap();
    let (treatments, controls) = conversion::treatments(inputs.catalog.as_ref().unwrap());
    assert_eq!(controls, ["no_action"]);
    let data = conversion::build_points(&config, &inputs, &treatments, &controls, &|_| {}).unwrap();
    assert_eq!(
        data.counts,
        PointCounts {
            contacts: 1,
            explicit_controls: 0,
            // Thursdays from Jan 9 to Mar 20, for each of A, B and C.
            synthetic_controls: 33,
            unknown_action_events: 1,
            // C's instants from Feb 6 on.
            after_cancel: 7,
            events_after_data_end: 0,
            overlapping_contacts: 0,
            // A: Jan 16 and 23 around the discount; Mar 6 and 13 around the unknown contact.
            contaminated_controls: 4,
            // Mar 20 of A and B: the window ends after the data.
            censored: 2,
            // Feb 27 of A and B: the window straddles the holdout start.
            outside_periods: 2,
            dry_run_decisions: 0,
            decisions_without_action: 0,
            used: 19,
        }
    );
    let day = |d: &str| Timestamp::parse_date_or_datetime(d).unwrap();
    let train = &data.train;
    let rows: Vec<(&str, Timestamp, Option<usize>, bool)> = (0..train.labels.len())
        .map(|i| {
            (
                train.customers[i].as_str(),
                train.at[i],
                train.treatments[i],
                train.labels[i],
            )
        })
        .collect();
    let discount = treatments.iter().position(|t| t == "email_discount");
    // The contact converted within its window; the control instants after it did not.
    assert!(rows.contains(&("A", day("2025-01-20T09:00:00Z"), discount, true)));
    assert!(rows.contains(&("A", day("2025-01-30"), None, false)));
    // B's purchase on Feb 10 labels the Feb 6 control instant only.
    assert!(rows.contains(&("B", day("2025-02-06"), None, true)));
    assert!(rows.contains(&("B", day("2025-02-13"), None, false)));
    // C cancelled on Feb 1: no points after it.
    let c: Vec<Timestamp> = rows.iter().filter(|r| r.0 == "C").map(|r| r.1).collect();
    assert_eq!(
        c,
        ["2025-01-09", "2025-01-16", "2025-01-23", "2025-01-30"].map(day)
    );
    assert_eq!(train.labels.len(), 17);
    assert_eq!(train.labels.iter().filter(|&&y| y).count(), 2);
    assert_eq!(data.holdout.labels.len(), 2);
    assert!(data.holdout.customers.iter().all(|c| c == "B"));

    // Rows are the point-in-time features followed by the treatment indicators: the contact's
    // own action event is not in its features.
    let spec: &FeatureSpec = &inputs.spec;
    let width = spec.len() + treatments.len();
    let i = rows.iter().position(|r| r.2.is_some()).unwrap();
    let row = &train.rows[i * width..(i + 1) * width];
    let indicators = &row[spec.len()..];
    assert_eq!(indicators.iter().sum::<f32>(), 1.0);
    assert_eq!(indicators[discount.unwrap()], 1.0);
    let sent = spec.index_of("action_email_discount_sent_90d").unwrap();
    assert_eq!(row[sent], 0.0);
    let later = rows
        .iter()
        .position(|r| r.0 == "A" && r.1 == day("2025-01-30"))
        .unwrap();
    assert_eq!(train.rows[later * width + sent], 1.0);
}

#[test]
fn conversion_configs_name_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new("datasets/sample");
    let out = dir.path().join("m");
    let cases = [
        (
            config_text(data, &out, "").replace("calibration_from = \"2025-05-01\"\n", ""),
            "split.calibration_from",
        ),
        (
            config_text(data, &out, "").replace("catalog = ", "# catalog = "),
            "data.catalog",
        ),
        (
            config_text(data, &out, "").replace("window_days = 7", "window_days = 0"),
            "label.window_days",
        ),
        (
            config_text(data, &out, "").replace(
                "holdout_from = \"2025-06-15\"",
                "holdout_from = \"2025-05-03\"",
            ),
            "split.calibration_from",
        ),
        (
            config_text(data, &out, "").replace("every_days = 7", "every_days = 0"),
            "control.every_days",
        ),
        (
            config_text(data, &out, "").replace("every_days = 7", "sometimes = 1"),
            "sometimes",
        ),
        (
            config_text(data, &out, "").replace("role = \"conversion\"", "role = \"churn\""),
            "role",
        ),
    ];
    for (text, key) in cases {
        let error = ConversionConfig::load(&write_config(dir.path(), &text))
            .unwrap_err()
            .to_string();
        assert!(error.contains(key), "expected '{key}' in: {error}");
    }
}

#[test]
fn bad_tree_settings_in_a_conversion_config_fail_when_the_config_is_read() {
    // The events file does not exist: the error must come from reading the config, before
    // any event is read, and name the key.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-data");
    let out = dir.path().join("m");
    for (tree, expected) in [
        (
            "[model.tree]\nmax_depth = 0",
            "model.tree.max_depth: must be within 1..=32, got 0",
        ),
        (
            "[model.tree]\nmin_samples_leaf = 0",
            "model.tree.min_samples_leaf: must be ≥ 1, got 0",
        ),
        (
            "[model.tree]\nmin_weight_split = 1",
            "model.tree.min_weight_split: must be ≥ 2, got 1",
        ),
    ] {
        let path = write_config(dir.path(), &config_text(&missing, &out, tree));
        let error = ConversionConfig::load(&path).unwrap_err().to_string();
        assert_eq!(error, format!("{}: {expected}", path.display()));
    }
    // Even when the algorithm is not the tree: every algorithm's settings are checked.
    let text = config_text(&missing, &out, "[model.tree]\nmax_depth = 99")
        .replace("algorithm = \"gbdt\"", "algorithm = \"logistic\"");
    let error = ConversionConfig::load(&write_config(dir.path(), &text)).unwrap_err();
    assert!(
        error.to_string().contains("model.tree.max_depth"),
        "{error}"
    );
}

#[test]
fn uplift_scores_each_treatment_once_and_answers_every_candidate() {
    use nextbest::features::FeatureAccumulator;
    use nextbest::models::registry::{ModelPaths, ModelSet};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = ModelSet::load(&ModelPaths {
        churn: None,
        conversion: Some(root.join("models/conversion")),
        retention: None,
        sentiment: Some(root.join("models/sentiment")),
    })
    .unwrap();
    let spec = models.spec.as_ref().unwrap();
    let conversion = models.conversion.as_ref().unwrap();
    let now = Timestamp::parse_date_or_datetime("2025-06-01T00:00:00Z").unwrap();
    let features = FeatureAccumulator::new(spec, now, None).finish(None);
    let asked = [
        "sms_flash_sale",
        "email_discount",
        "no_such_action",
        "sms_flash_sale",
        "email_newsletter",
        "email_discount",
    ];
    let (p_none, batch) = conversion.score(&features, &asked).unwrap();
    assert_eq!(batch.len(), asked.len());
    assert_eq!(batch[2], None, "an unknown action gets no score");
    assert_eq!(batch[0], batch[3]);
    assert_eq!(batch[1], batch[5]);
    // Each answer is exactly what scoring that action alone gives.
    for (action, p) in asked.iter().zip(&batch) {
        let (alone_none, alone) = conversion.score(&features, &[action]).unwrap();
        assert_eq!(alone_none, p_none);
        assert_eq!(alone[0], *p, "{action}");
    }
    // And the treatments differ: the model does tell actions apart.
    assert_ne!(batch[0], batch[4]);
}

/// A randomised e-mail experiment as a data scientist brings it: every customer's first event is
/// the decision (an e-mail, or the catalog's no-action entry for the control group), outcomes
/// over the following weeks, one purchase after the configured end of the data.
fn randomised_experiment(dir: &Path, customers: usize) {
    let catalog = world::catalog().to_toml().unwrap();
    std::fs::write(dir.join("catalog.toml"), catalog).unwrap();
    let mut events =
        String::from("customer_id,timestamp,event_type,channel,action_id,value,text\n");
    for i in 0..customers {
        let id = format!("u{i:04}");
        let treated = i % 2 == 0;
        let action = if treated {
            "email_discount"
        } else {
            "no_action"
        };
        events.push_str(&format!(
            "{id},2025-03-01T09:00:00Z,action,email,{action},,\n"
        ));
        // Treated customers buy more often (every 3rd against every 5th).
        if (treated && i % 3 == 0) || (!treated && i % 5 == 0) {
            events.push_str(&format!("{id},2025-03-03T12:00:00Z,purchase,web,,25,\n"));
        }
        events.push_str(&format!("{id},2025-03-12T10:00:00Z,visit,web,,,\n"));
    }
    events.push_str("u0001,2025-04-02T10:00:00Z,purchase,web,,40,\n");
    std::fs::write(dir.join("events.csv"), events).unwrap();
}

fn experiment_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
role = "conversion"
output = "{d}/model"
seed = 5
[data]
events = "{d}/events.csv"
catalog = "{d}/catalog.toml"
[label]
window_days = 7
{extra}
[model]
algorithm = "logistic"
calibration = "none"
"#,
        d = dir.display()
    );
    write_config(dir, &text)
}

#[test]
fn a_randomised_experiment_keeps_every_explicit_control_and_invents_none() {
    let dir = tempfile::tempdir().unwrap();
    randomised_experiment(dir.path(), 400);
    let path = experiment_config(
        dir.path(),
        "[split]\nby = \"customer\"\nholdout_share = 0.25\ndata_end = \"2025-03-20\"",
    );
    let config = ConversionConfig::load(&path).unwrap();
    let inputs = TabularInputs::load(&config.config().data).unwrap();
    let (treatments, controls) = conversion::treatments(inputs.catalog.as_ref().unwrap());
    let data = conversion::build_points(&config, &inputs, &treatments, &controls, &|_| {}).unwrap();
    assert_eq!(
        data.counts,
        PointCounts {
            contacts: 200,
            explicit_controls: 200,
            synthetic_controls: 0,
            used: 400,
            events_after_data_end: 1,
            ..PointCounts::default()
        }
    );
    // Every customer is in exactly one set, with their one decision; a quarter held out.
    let sets = [&data.train, &data.calibration, &data.holdout];
    let mut seen: Vec<&str> = sets
        .iter()
        .flat_map(|s| s.customers.iter().map(String::as_str))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 400);
    assert!(data.calibration.labels.is_empty());
    let held = data.holdout.labels.len();
    assert!((60..=140).contains(&held), "{held} customers held out");
    for set in sets {
        for (i, customer) in set.customers.iter().enumerate() {
            let n: usize = customer[1..].parse().unwrap();
            let treated = n % 2 == 0;
            assert_eq!(set.treatments[i].is_some(), treated, "{customer}");
            // The purchase after data_end labels nothing.
            let converted = (treated && n % 3 == 0) || (!treated && n % 5 == 0);
            assert_eq!(set.labels[i], converted, "{customer}");
        }
    }
    // The same customers are held out on every run with this seed.
    let again =
        conversion::build_points(&config, &inputs, &treatments, &controls, &|_| {}).unwrap();
    assert_eq!(again.holdout.customers, data.holdout.customers);

    // Trained end to end, nothing looks leaky.
    let outcome = conversion::train(&config, &|_| {}).unwrap();
    assert!(
        outcome.metrics.warnings.is_empty(),
        "{:?}",
        outcome.metrics.warnings
    );
    assert_eq!(outcome.metrics.points.used, 400);
}

#[test]
fn controls_that_come_only_after_the_treatments_are_called_out() {
    let dir = tempfile::tempdir().unwrap();
    randomised_experiment(dir.path(), 400);
    // The mistake the issue describes: the control group's decisions are not in the log (only
    // the e-mails are), and synthetic control instants stand in for them — all after the
    // e-mails.
    let events = std::fs::read_to_string(dir.path().join("events.csv")).unwrap();
    let without_controls: String = events
        .lines()
        .filter(|l| !l.contains("no_action"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("events.csv"), without_controls).unwrap();
    let path = experiment_config(
        dir.path(),
        "[control]\nevery_days = 7\nlookback_days = 0\n[split]\nby = \"customer\"\ndata_end = \"2025-03-31\"",
    );
    let config = ConversionConfig::load(&path).unwrap();
    let outcome = conversion::train(&config, &|_| {}).unwrap();
    let warnings = outcome.metrics.warnings.join("\n");
    assert!(
        warnings.contains("every control point"),
        "expected the control-timing warning in: {warnings}"
    );

    // And with no control at all (no explicit controls, no synthetic ones), training refuses.
    let path = experiment_config(
        dir.path(),
        "[split]\nby = \"customer\"\ndata_end = \"2025-03-31\"",
    );
    let config = ConversionConfig::load(&path).unwrap();
    let error = conversion::train(&config, &|_| {}).unwrap_err().to_string();
    assert!(error.contains("no control points"), "{error}");
    assert!(error.contains("control.every_days"), "{error}");
}

#[test]
fn a_retention_model_learns_which_actions_prevent_churn() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("world");
    let config = SimulatorConfig {
        customers: 4000,
        days: 300,
        seed: 23,
        start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap(),
    };
    generate(&config, &data, &|_| {}).unwrap();
    let out = dir.path().join("retention");
    let extra = format!(
        "[evaluation]\nground_truth = \"{}/ground_truth.parquet\"",
        data.display()
    );
    let text = config_text(&data, &out, &extra)
        .replace("role = \"conversion\"", "role = \"retention\"")
        .replace(
            "holdout_from = \"2025-06-15\"",
            "holdout_from = \"2025-08-01\"",
        );
    let path = write_config(dir.path(), &text);
    let config = ConversionConfig::load(&path).unwrap();
    let outcome = conversion::train(&config, &|_| {}).unwrap();
    let m = &outcome.metrics;
    assert_eq!(outcome.manifest.role.as_str(), "retention");
    // The label is a cancellation within the window: rare, but there.
    assert!(m.train.positives > 100, "{:?}", m.train);
    let truth = m.ground_truth.as_ref().unwrap();
    let call = truth
        .actions
        .iter()
        .find(|a| a.action_id == "call_retention_offer")
        .unwrap();
    // The retention call lowers churn, and the model ranks whom it helps most.
    assert!(call.mean_true_uplift < 0.0, "{call:?}");
    assert!(call.uplift_correlation.unwrap() > 0.1, "{call:?}");
    // Acting on the model prevents more churn than acting at random.
    assert!(
        truth.model_policy_uplift > truth.random_policy_uplift,
        "{truth:?}"
    );
    // The artifact loads as the service's retention model.
    let loaded =
        nextbest::models::registry::ModelSet::load(&nextbest::models::registry::ModelPaths {
            churn: None,
            conversion: None,
            retention: Some(out.clone()),
            sentiment: None,
        })
        .unwrap();
    assert!(loaded.retention.is_some());
    assert!(loaded
        .versions()
        .iter()
        .any(|(role, _)| role == "retention"));
}

#[test]
fn every_uplift_learner_trains_serves_and_is_judged_against_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("world");
    let config = SimulatorConfig {
        customers: 2500,
        days: 240,
        seed: 21,
        start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap(),
    };
    generate(&config, &data, &|_| {}).unwrap();
    for learner in ["t", "x", "dr", "auto"] {
        let out = dir.path().join(learner);
        let extra = format!(
            "[uplift]\nlearner = \"{learner}\"\n[evaluation]\nground_truth = \"{}/ground_truth.parquet\"",
            data.display()
        );
        let text = config_text(&data, &out, &extra).replace("iterations = 120", "iterations = 60");
        let path = write_config(dir.path(), &text);
        let config = ConversionConfig::load(&path).unwrap();
        let m = conversion::train(&config, &|_| {}).unwrap().metrics;
        let truth = m.ground_truth.as_ref().unwrap();
        // Acting on any learner's uplift earns more true uplift than acting at random.
        assert!(
            truth.model_policy_uplift > truth.random_policy_uplift,
            "{learner}: {truth:?}"
        );
        if learner == "auto" {
            // Every candidate was scored on the training customers, and the best one won.
            let choice = m.learner_choice.as_ref().unwrap();
            assert_eq!(choice.trials.len(), 4, "{choice:?}");
            let best = choice
                .trials
                .iter()
                .filter_map(|t| t.qini.map(|q| (t.learner, q)))
                .fold(None::<(_, f64)>, |b, (l, q)| match b {
                    Some((_, bq)) if bq >= q => b,
                    _ => Some((l, q)),
                })
                .unwrap();
            assert_eq!(choice.chosen, best.0);
            assert_eq!(m.uplift_learner, best.0.as_str());
            let shown = std::process::Command::new(env!("CARGO_BIN_EXE_nextbest"))
                .args(["models", "show"])
                .arg(&out)
                .output()
                .unwrap();
            let shown = String::from_utf8_lossy(&shown.stdout);
            assert!(shown.contains("cross-validated Qini"), "{shown}");
        } else {
            assert_eq!(m.uplift_learner, learner);
            assert!(m.learner_choice.is_none());
        }
        // The service loads it as its conversion model and scores every action.
        let set =
            nextbest::models::registry::ModelSet::load(&nextbest::models::registry::ModelPaths {
                churn: None,
                conversion: Some(out.clone()),
                retention: None,
                sentiment: None,
            })
            .unwrap();
        let model = set.conversion.as_ref().unwrap();
        let spec = model.model.manifest.features.clone().unwrap();
        let (p_none, per_action) = model
            .score(&vec![0.5; spec.len()], &["email_discount", "nope"])
            .unwrap();
        assert!((0.0..=1.0).contains(&p_none));
        assert!(per_action[0].is_some_and(|p| (0.0..=1.0).contains(&p)));
        assert_eq!(per_action[1], None);
    }
}

/// A sequentially randomised log (a decision every week): an explicit control right after a
/// treated week is kept, as a treated point after a treated week is — both are decisions that
/// were made — and only a contact inside a control's own window spoils it. A synthetic instant
/// still needs a contact-free lookback.
#[test]
fn explicit_controls_after_a_contact_are_kept_like_treated_points() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("catalog.toml"),
        world::catalog().to_toml().unwrap(),
    )
    .unwrap();
    let mut events =
        String::from("customer_id,timestamp,event_type,channel,action_id,value,text\n");
    // Week 1 treated, week 2 control (kept: the contact is before it), week 3 control with a
    // contact two days in (contaminated), week 4 treated.
    events.push_str("a,2025-03-01T00:00:00Z,action,email,email_discount,,\n");
    events.push_str("a,2025-03-08T00:00:00Z,action,none,no_action,,\n");
    events.push_str("a,2025-03-10T00:00:00Z,purchase,web,,20,\n");
    events.push_str("a,2025-03-15T00:00:00Z,action,none,no_action,,\n");
    events.push_str("a,2025-03-17T00:00:00Z,action,sms,sms_flash_sale,,\n");
    events.push_str("a,2025-03-29T00:00:00Z,action,email,email_newsletter,,\n");
    events.push_str("a,2025-04-30T00:00:00Z,visit,web,,,\n");
    std::fs::write(dir.path().join("events.csv"), events).unwrap();
    let path = experiment_config(
        dir.path(),
        "[split]\nby = \"customer\"\nholdout_share = 0.5\ndata_end = \"2025-04-30\"",
    );
    let data = points_of(&path);
    assert_eq!(
        data.counts,
        PointCounts {
            contacts: 3,
            explicit_controls: 2,
            contaminated_controls: 1,
            used: 4,
            ..PointCounts::default()
        },
    );
    let set = if data.train.labels.is_empty() {
        &data.holdout
    } else {
        &data.train
    };
    let control_labels: Vec<bool> = set
        .treatments
        .iter()
        .zip(&set.labels)
        .filter(|(t, _)| t.is_none())
        .map(|(_, &y)| y)
        .collect();
    // The kept control (2025-03-08) converted on 2025-03-10.
    assert_eq!(control_labels, vec![true]);
    // A synthetic instant the day after the first contact is still contaminated by it.
    let path = experiment_config(
        dir.path(),
        "[control]\nevery_days = 7\n[split]\nby = \"customer\"\nholdout_share = 0.5\ndata_end = \"2025-04-30\"",
    );
    let synthetic = points_of(&path);
    assert!(synthetic.counts.synthetic_controls > 0);
    assert!(
        synthetic.counts.contaminated_controls > 1,
        "{:?}",
        synthetic.counts
    );
}

/// The labelled decision points of a config file, as training builds them.
fn points_of(path: &Path) -> conversion::ConversionData {
    let config = ConversionConfig::load(path).unwrap();
    let inputs = TabularInputs::load(&config.config().data).unwrap();
    let (treatments, controls) = conversion::treatments(inputs.catalog.as_ref().unwrap());
    conversion::build_points(&config, &inputs, &treatments, &controls, &|_| {}).unwrap()
}
