//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::server::auth::Public;
use crate::server::extract::Authorized;
use crate::server::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive")))]
pub async fn healthz(_: Authorized<Public>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: models loaded and the decision log keeping up.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready"),
        (status = 503, description = "Not ready: no models, a model the default policy scores with is missing (`missing`), or the decision log's queue is full")
    )
)]
pub async fn readyz(state: web::Data<AppState>, _: Authorized<Public>) -> HttpResponse {
    let engine = &state.engine;
    // One snapshot: the models and the policies of the same set.
    let set = engine.serving();
    let models = &set.models;
    let stats = engine.store().stats();
    let versions: std::collections::BTreeMap<String, String> =
        models.versions().into_iter().collect();
    let queue_full = stats.queue_depth >= stats.queue_capacity;
    // The models the default policy scores with: without them it would quietly decide worse
    // (every retention offer ineligible without churn, say), so the service is not ready.
    let formula = set
        .policies
        .get(engine.default_policy())
        .map(|p| p.spec().arbitration.formula);
    let mut missing = Vec::new();
    if formula.is_some_and(|f| f.needs_churn()) && models.churn.is_none() {
        missing.push("churn");
    }
    if formula.is_some_and(|f| f.needs_conversion()) && models.conversion.is_none() {
        missing.push("conversion");
    }
    let no_models = models.spec.is_none();
    let status = if no_models {
        "no_models"
    } else if !missing.is_empty() {
        "missing_models"
    } else if queue_full {
        "overloaded"
    } else {
        "ready"
    };
    let body = json!({
        "status": status,
        "models": versions,
        "missing": missing,
        "decision_log_queue": stats.queue_depth,
    });
    if status == "ready" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(state: web::Data<AppState>, _: Authorized<Public>) -> HttpResponse {
    state.refresh_store_metrics();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
