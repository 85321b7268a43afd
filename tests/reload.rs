//! Models, catalog and policies reload as one set: a model trained on a new action serves,
//! beside the catalog and policies that have it, without a restart; an inconsistent set is
//! refused whole while the old one keeps serving; and decisions made while sets are swapped
//! never see a mix of two sets.
//!
//! The fixture is real: a simulated world, and churn and conversion models trained on it twice —
//! once with a catalog that lacks `push_new_arrivals` (the "old" set), once with the full
//! catalog (the "new" set, which learned the push action from the log).

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use actix_web::test as atest;
use actix_web::web;
use nextbest::catalog::Catalog;
use nextbest::decision::PolicySet;
use nextbest::engine::serving::{inconsistent, set_problems};
use nextbest::engine::{
    Acknowledge, DecisionRequest, Engine, EngineParts, Limits, ReloadRequest, ServingSet,
    SetSources,
};
use nextbest::experiment::RunningExperiments;
use nextbest::journey::Timestamp;
use nextbest::models::registry::{ModelPaths, ModelSet};
use nextbest::models::Artifact;
use nextbest::server::{app, build_state, ServeConfig};
use nextbest::simulator::{generate, SimulatorConfig};
use nextbest::store::Store;
use nextbest::training::config::{ChurnConfig, ConversionConfig};
use nextbest::training::{churn, conversion};
use serde_json::{json, Value};

const NEW_ACTION: &str = "push_new_arrivals";

/// The trained sets, built once per test binary.
struct Fixture {
    dir: tempfile::TempDir,
    /// Conversion model version of the old and the new set.
    conversion: [String; 2],
    /// Churn model version of the old and the new set.
    churn: [String; 2],
}

impl Fixture {
    fn models(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    fn catalog(&self, new: bool) -> PathBuf {
        self.dir.path().join(if new {
            "catalog_new.toml"
        } else {
            "catalog_old.toml"
        })
    }

    fn policies(&self, new: bool) -> PathBuf {
        self.dir
            .path()
            .join(if new { "policies_new" } else { "policies_old" })
    }

    /// A live catalog file and policy folder for one test, starting as the old set's.
    fn live(&self, dir: &Path) -> SetSources {
        let sources = SetSources {
            catalog: dir.join("catalog.toml"),
            policies: dir.join("policies"),
        };
        self.install(&sources, false);
        sources
    }

    /// Writes the old or new set's catalog and policies over the live ones.
    fn install(&self, sources: &SetSources, new: bool) {
        std::fs::copy(self.catalog(new), &sources.catalog).unwrap();
        copy_dir(&self.policies(new), &sources.policies);
    }

    fn old_paths(&self) -> ModelPaths {
        ModelPaths {
            churn: Some(self.models().join("churn_old")),
            conversion: Some(self.models().join("conversion_old")),
            ..ModelPaths::default()
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir(from).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

/// The committed policies, with the lines naming the new action left out (old) or the
/// discount's lever lowered (new), so each set's policies fit its catalog and tell themselves
/// apart in an answer.
fn write_policies(to: &Path, new: bool) {
    std::fs::create_dir_all(to).unwrap();
    for file in std::fs::read_dir("policies").unwrap() {
        let file = file.unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        let text = if new {
            text.replace("email_discount = 0.8", "email_discount = 0.7")
        } else {
            text.lines()
                .filter(|l| !l.contains(NEW_ACTION))
                .collect::<Vec<_>>()
                .join("\n")
        };
        std::fs::write(to.join(file.file_name().unwrap()), text).unwrap();
    }
}

fn train(dir: &Path, world: &Path, catalog: &Path, suffix: &str) -> (String, String) {
    let models = dir.join("models");
    let churn_text = format!(
        r#"
role = "churn"
output = "{out}"
seed = 5
[data]
events = "{w}/events.parquet"
customers = "{w}/customers.parquet"
catalog = "{c}"
[label]
horizon_days = 30
definition = "cancel"
[split]
mode = "time"
train_cutoffs = ["2025-02-15", "2025-03-15"]
holdout_cutoff = "2025-04-20"
[model]
algorithm = "logistic"
calibration = "none"
"#,
        w = world.display(),
        c = catalog.display(),
        out = models.join(format!("churn_{suffix}")).display()
    );
    let path = dir.join(format!("churn_{suffix}.toml"));
    std::fs::write(&path, churn_text).unwrap();
    let config = ChurnConfig::load(&path).unwrap();
    let churn = churn::train(&config, None, &|_| {}).unwrap();
    let conversion_text = format!(
        r#"
role = "conversion"
output = "{out}"
seed = 3
[data]
events = "{w}/events.parquet"
customers = "{w}/customers.parquet"
catalog = "{c}"
[label]
window_days = 7
[control]
every_days = 7
[split]
train_from = "2025-01-29"
holdout_from = "2025-04-15"
[model]
algorithm = "logistic"
calibration = "none"
"#,
        w = world.display(),
        c = catalog.display(),
        out = models.join(format!("conversion_{suffix}")).display()
    );
    let path = dir.join(format!("conversion_{suffix}.toml"));
    std::fs::write(&path, conversion_text).unwrap();
    let config = ConversionConfig::load(&path).unwrap();
    let conversion = conversion::train(&config, &|_| {}).unwrap();
    (churn.manifest.version, conversion.manifest.version)
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let world = dir.path().join("world");
        let config = SimulatorConfig {
            customers: 800,
            days: 150,
            seed: 17,
            start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap(),
        };
        generate(&config, &world, &|_| {}).unwrap();
        let full = Catalog::load(world.join("catalog.toml")).unwrap();
        assert!(full.get(NEW_ACTION).is_some());
        let mut old = full.clone();
        old.actions.retain(|a| a.id != NEW_ACTION);
        std::fs::write(dir.path().join("catalog_old.toml"), old.to_toml().unwrap()).unwrap();
        std::fs::write(dir.path().join("catalog_new.toml"), full.to_toml().unwrap()).unwrap();
        write_policies(&dir.path().join("policies_old"), false);
        write_policies(&dir.path().join("policies_new"), true);
        let (churn_old, conversion_old) = train(
            dir.path(),
            &world,
            &dir.path().join("catalog_old.toml"),
            "old",
        );
        let (churn_new, conversion_new) = train(
            dir.path(),
            &world,
            &dir.path().join("catalog_new.toml"),
            "new",
        );
        assert_ne!(conversion_old, conversion_new);
        assert_ne!(churn_old, churn_new);
        Fixture {
            dir,
            conversion: [conversion_old, conversion_new],
            churn: [churn_old, churn_new],
        }
    })
}

#[test]
fn an_uplift_artifact_carries_the_actions_it_was_trained_on() {
    let f = fixture();
    let artifact = Artifact::load(f.models().join("conversion_new")).unwrap();
    let actions = artifact.manifest.actions.unwrap();
    let push = actions.iter().find(|a| a.id == NEW_ACTION).unwrap();
    assert_eq!(push.kind.as_str(), "sales");
    assert_eq!(push.channel.as_str(), "push");
    let old = Artifact::load(f.models().join("conversion_old")).unwrap();
    assert!(old
        .manifest
        .actions
        .unwrap()
        .iter()
        .all(|a| a.id != NEW_ACTION));
}

fn engine(f: &Fixture, dir: &Path) -> (Engine, SetSources) {
    let sources = f.live(dir);
    let engine = Engine::new(EngineParts {
        models: ModelSet::load(&f.old_paths()).unwrap(),
        catalog: Catalog::load(&sources.catalog).unwrap(),
        policies: PolicySet::load_dir(&sources.policies).unwrap(),
        default_policy: "default".into(),
        store: Arc::new(Store::open(dir.join("engine.db")).unwrap()),
        limits: Limits::default(),
        record_exposures: false,
        acknowledge: Acknowledge::Committed,
        models_dir: f.models(),
        sources: Some(sources.clone()),
    })
    .unwrap();
    (engine, sources)
}

fn reload_to(suffix: &str) -> ReloadRequest {
    serde_json::from_value(json!({"models": {
        "churn": format!("churn_{suffix}"), "conversion": format!("conversion_{suffix}")
    }}))
    .unwrap()
}

fn pega_request() -> DecisionRequest {
    serde_json::from_value(json!({
        "customer_id": "C-7",
        "policy": "pega",
        "explain": true,
        "dry_run": true,
        "context": {"channel": "web", "timestamp": "2025-05-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true, "sms_consent": true, "push_consent": true}},
        "history": [
            {"timestamp": "2025-05-01T09:00:00Z", "event_type": "visit", "channel": "web"},
            {"timestamp": "2025-05-01T09:05:00Z", "event_type": "purchase", "channel": "web", "value": 80.0}
        ]
    }))
    .unwrap()
}

#[test]
fn decisions_during_reloads_never_see_a_mixed_set() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (engine, sources) = engine(f, dir.path());
    let engine = Arc::new(engine);
    let done = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicUsize::new(0));
    let deciders: Vec<_> = (0..3)
        .map(|_| {
            let (engine, done, decided) = (engine.clone(), done.clone(), decided.clone());
            let (conversion, churn) = (f.conversion.clone(), f.churn.clone());
            std::thread::spawn(move || {
                let mut seen = [0usize; 2];
                let request = pega_request();
                while !done.load(Ordering::Acquire) {
                    let answer = engine.decide(&request).unwrap();
                    let versions = &answer.model_versions;
                    let new = versions["conversion"] == conversion[1];
                    assert!(new || versions["conversion"] == conversion[0]);
                    // The churn model, the catalog and the policy are those of the same set.
                    assert_eq!(versions["churn"], churn[usize::from(new)], "{versions:?}");
                    let d = &answer.decision;
                    let ids: Vec<&str> = d
                        .actions
                        .iter()
                        .map(|a| a.action_id.as_str())
                        .chain(d.passed_over.iter().map(|p| p.action_id.as_str()))
                        .chain(d.ineligible.iter().map(|i| i.action_id.as_str()))
                        .collect();
                    assert_eq!(ids.contains(&NEW_ACTION), new, "{ids:?} new={new}");
                    let lever = d
                        .actions
                        .iter()
                        .map(|a| (a.action_id.as_str(), a.components.lever))
                        .chain(
                            d.passed_over
                                .iter()
                                .map(|p| (p.action_id.as_str(), p.components.lever)),
                        )
                        .find(|(id, _)| *id == "email_discount")
                        .map(|(_, lever)| lever);
                    if let Some(lever) = lever {
                        assert_eq!(lever, if new { 0.7 } else { 0.8 }, "new={new}");
                    }
                    seen[usize::from(new)] += 1;
                    decided.fetch_add(1, Ordering::AcqRel);
                }
                seen
            })
        })
        .collect();
    // Swap between the two sets, letting decisions run after every swap.
    let wait_for_decisions = || {
        let start = decided.load(Ordering::Acquire);
        while decided.load(Ordering::Acquire) < start + 3 {
            std::thread::yield_now();
        }
    };
    for _ in 0..6 {
        f.install(&sources, true);
        engine.reload_all(&reload_to("new")).unwrap();
        wait_for_decisions();
        f.install(&sources, false);
        engine.reload_all(&reload_to("old")).unwrap();
        wait_for_decisions();
    }
    done.store(true, Ordering::Release);
    let mut seen = [0usize; 2];
    for decider in deciders {
        let s = decider.join().unwrap();
        seen[0] += s[0];
        seen[1] += s[1];
    }
    assert!(seen[0] > 0 && seen[1] > 0, "{seen:?}");
}

#[test]
fn an_inconsistent_set_is_refused_whole_by_the_library() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (engine, sources) = engine(f, dir.path());
    // The new models with the old catalog: the models track an action the catalog lacks.
    let error = engine.reload_all(&reload_to("new")).err().expect("refused");
    assert_eq!(error.code(), "inconsistent_set");
    assert_eq!(error.field_name(), Some("models.features.actions"));
    assert!(error.to_string().contains(NEW_ACTION), "{error}");
    let versions: std::collections::BTreeMap<String, String> =
        engine.models().versions().into_iter().collect();
    assert_eq!(versions["conversion"], f.conversion[0]);
    // The new catalog and policies with the old models are a consistent set: the new action
    // is offered, unscored by the conversion model (it never saw it).
    f.install(&sources, true);
    engine.reload_all(&ReloadRequest::default()).unwrap();
    assert!(engine.catalog().get(NEW_ACTION).is_some());
    assert!(!engine
        .models()
        .conversion
        .as_ref()
        .unwrap()
        .knows(NEW_ACTION));
}

// --- over HTTP

fn serve_config(f: &Fixture, dir: &Path) -> (ServeConfig, SetSources) {
    let sources = f.live(dir);
    let config = ServeConfig {
        database: dir.join("nextbest.db").into(),
        models: f.old_paths(),
        models_dir: f.models(),
        catalog: sources.catalog.clone(),
        policies: sources.policies.clone(),
        ..ServeConfig::default()
    };
    (config, sources)
}

async fn post(
    service: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let request = atest::TestRequest::post()
        .uri(path)
        .set_payload(body.to_string())
        .insert_header(("content-type", "application/json"))
        .to_request();
    let response = atest::call_service(service, request).await;
    let status = response.status();
    let bytes = atest::read_body(response).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn decision(candidates: Value) -> Value {
    json!({
        "customer_id": "C-1",
        "candidates": candidates,
        "dry_run": true,
        "context": {"channel": "app", "timestamp": "2025-05-20T10:00:00Z"},
        "customer": {"attributes": {"email_consent": true, "sms_consent": true, "push_consent": true}},
        "history": [
            {"timestamp": "2025-05-01T09:00:00Z", "event_type": "visit", "channel": "app"},
            {"timestamp": "2025-05-01T09:05:00Z", "event_type": "purchase", "channel": "app", "value": 60.0}
        ]
    })
}

#[actix_web::test]
async fn a_model_trained_on_a_new_action_serves_after_a_reload_without_a_restart() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let (config, sources) = serve_config(f, dir.path());
    let state = web::Data::new(build_state(&config).unwrap());
    let service = atest::init_service(app(state.clone())).await;
    let secret = dir.path().display().to_string();

    // The old set does not know the new action.
    let (status, error) = post(&service, "/v1/decisions", decision(json!([NEW_ACTION]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["code"], "unknown_action");

    // Inconsistent sets are refused whole, naming the problem and never a path of the host;
    // the old set keeps serving.
    // 1. The new models beside the old catalog.
    let (status, error) = post(
        &service,
        "/v1/reload",
        json!({"models": {"churn": "churn_new", "conversion": "conversion_new"}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "inconsistent_set");
    assert_eq!(error["field"], "models.features.actions");
    // 2. A policy that names the new action, with the old catalog.
    std::fs::copy(
        f.policies(true).join("pega.toml"),
        sources.policies.join("pega.toml"),
    )
    .unwrap();
    let (status, error) = post(&service, "/v1/reload", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["code"], "inconsistent_set");
    assert_eq!(
        error["field"],
        format!("policies.pega.arbitration.levers.{NEW_ACTION}")
    );
    // 3. A catalog that cannot be parsed.
    std::fs::write(&sources.catalog, "[[action]]\nid = 3\n").unwrap();
    let (status, error) = post(&service, "/v1/reload", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["field"], "catalog");
    assert!(!error.to_string().contains(&secret), "{error}");
    let (status, error) = post(&service, "/v1/decisions", decision(json!([NEW_ACTION]))).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_action"))
    );
    let (status, answer) = post(
        &service,
        "/v1/decisions",
        decision(json!(["email_discount"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model_versions"]["conversion"], f.conversion[0]);

    // The new catalog, policies and models, as one set: the new action serves, scored by the
    // model that learned it.
    f.install(&sources, true);
    let (status, answer) = post(
        &service,
        "/v1/reload",
        json!({"models": {"churn": "churn_new", "conversion": "conversion_new"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["actions"]
        .as_array()
        .unwrap()
        .contains(&json!(NEW_ACTION)));
    assert_eq!(answer["default_policy"], "default");
    let (status, answer) = post(&service, "/v1/decisions", decision(json!([NEW_ACTION]))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["model_versions"]["conversion"], f.conversion[1]);
    assert_eq!(answer["model_versions"]["churn"], f.churn[1]);
    let mut request = decision(json!([NEW_ACTION]));
    request["policy"] = json!("pega");
    let (status, answer) = post(&service, "/v1/decisions", request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let chosen = &answer["decision"]["actions"][0];
    assert_eq!(chosen["action_id"], NEW_ACTION, "{answer}");
    assert!(
        chosen["components"]["p_convert"].as_f64().is_some(),
        "{chosen}"
    );
    assert_eq!(chosen["components"]["lever"], 1.1);
    let response = atest::call_service(
        &service,
        atest::TestRequest::get().uri("/readyz").to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    // A catalog that now calls the learned action something else than the model was trained
    // on is refused: the artifact remembers what it learned.
    let text = std::fs::read_to_string(&sources.catalog).unwrap();
    let at = text.find(&format!("id = \"{NEW_ACTION}\"")).unwrap();
    let kind = at + text[at..].find("kind = \"sales\"").unwrap();
    let edited = format!(
        "{}kind = \"service\"{}",
        &text[..kind],
        &text[kind + "kind = \"sales\"".len()..]
    );
    std::fs::write(&sources.catalog, edited).unwrap();
    let (status, error) = post(&service, "/v1/reload", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["field"], "models.conversion.actions", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("as a sales action on push; the catalog has it as a service action"),
        "{error}"
    );
    assert!(!error.to_string().contains(&secret), "{error}");
    let (status, _) = post(&service, "/v1/decisions", decision(json!([NEW_ACTION]))).await;
    assert_eq!(status, StatusCode::OK);

    // Folders outside the models directory are refused as on /v1/models/reload.
    let (status, error) = post(
        &service,
        "/v1/reload",
        json!({"models": {"conversion": "../world"}}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["field"], "models.conversion");
    let (status, error) = post(&service, "/v1/reload", json!({"catalog": "/etc/passwd"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}

// --- the check itself, on the committed models, catalog and policies

fn committed() -> (ModelSet, Catalog, PolicySet) {
    (
        ModelSet::load(&ModelPaths::defaults_in(Path::new("models"))).unwrap(),
        Catalog::load("datasets/sample/catalog.toml").unwrap(),
        PolicySet::load_dir("policies").unwrap(),
    )
}

fn problems(models: ModelSet, catalog: Catalog, policies: PolicySet, default: &str) -> Vec<String> {
    let set = ServingSet {
        models: Arc::new(models),
        catalog: Arc::new(catalog),
        policies: Arc::new(policies),
    };
    set_problems(&set, default, &RunningExperiments::new([]))
        .iter()
        .map(|p| p.key.clone())
        .collect()
}

#[test]
fn every_problem_of_a_set_is_named_with_its_key() {
    let (models, catalog, policies) = committed();
    let (models2, _, policies2) = committed();
    assert_eq!(
        problems(models, catalog.clone(), policies, "default"),
        Vec::<String>::new()
    );

    // A catalog without the discount: the models track it and the conversion model was trained
    // on it; two policies name it; and the default policy is missing.
    let mut smaller = catalog.clone();
    smaller.actions.retain(|a| a.id != "email_discount");
    let keys = problems(models2, smaller, policies2, "nope");
    for key in [
        "models.features.actions",
        "models.conversion.treatments",
        "default_policy",
        "policies.pega.arbitration.levers.email_discount",
        "policies.rules.arbitration.priority[3]",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
    }

    // What the artifact remembers of its actions against what the catalog says now, and a
    // catalog action scored as a treatment the model does not know.
    let (mut models, mut catalog, policies) = committed();
    let mut trained = catalog.trained_actions();
    trained[0].kind = nextbest::catalog::ActionKind::Retention;
    models.conversion.as_mut().unwrap().model.manifest.actions = Some(trained);
    catalog.actions[1].model_as = Some("ghost".into());
    let keys = problems(models, catalog, policies, "default");
    assert_eq!(
        keys,
        [
            "models.conversion.actions",
            "catalog.action[1] ('email_newsletter').model_as"
        ]
    );

    // The refusal names the first key and lists the problems, bounded.
    let many: Vec<nextbest::catalog::CatalogProblem> = (0..12)
        .map(|i| nextbest::catalog::CatalogProblem::new(format!("k{i}"), "wrong"))
        .collect();
    let refusal = inconsistent(&many).unwrap();
    assert_eq!(refusal.code(), "inconsistent_set");
    assert_eq!(refusal.field_name(), Some("k0"));
    assert!(
        refusal.to_string().ends_with("k9: wrong; and 2 more"),
        "{refusal}"
    );
    assert!(inconsistent(&[]).is_none());
}
