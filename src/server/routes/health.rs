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
        (status = 503, description = "Not ready (no models, or the decision log's queue is full)")
    )
)]
pub async fn readyz(state: web::Data<AppState>, _: Authorized<Public>) -> HttpResponse {
    let models = state.engine.models();
    let stats = state.engine.store().stats();
    let versions: std::collections::BTreeMap<String, String> =
        models.versions().into_iter().collect();
    let queue_full = stats.queue_depth >= stats.queue_capacity;
    let no_models = models.spec.is_none();
    let body = json!({
        "status": if no_models { "no_models" } else if queue_full { "overloaded" } else { "ready" },
        "models": versions,
        "decision_log_queue": stats.queue_depth,
    });
    if queue_full || no_models {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
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
