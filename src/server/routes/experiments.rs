//! `/v1/experiments`: define, read, start, stop and ramp experiments (writes need `admin`,
//! reads `results`), and their results.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::blocking;
use crate::engine::experiments::results as experiment_results;
use crate::engine::{Engine, EngineError};
use crate::error::ErrorCode;
use crate::experiment::analysis::{AnalysisSettings, ExperimentResults};
use crate::experiment::{Experiment, ExperimentSpec};
use crate::server::auth::{Admin, Results};
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Authorized, Json};
use crate::server::AppState;

/// The experiments, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExperimentList {
    /// Every experiment, whatever its status.
    pub experiments: Vec<Experiment>,
}

/// A new traffic share.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct TrafficRequest {
    /// Share of the layer's units, in (0, 1]; while running it may only grow.
    #[schema(exclusive_minimum = 0.0, maximum = 1.0)]
    pub traffic: f64,
}
crate::wire::objects_only!(TrafficRequest);

/// Define an experiment (a draft: it assigns nobody until started).
#[utoipa::path(
    post,
    path = "/v1/experiments",
    request_body = ExperimentSpec,
    responses(
        (status = 201, description = "Created, as a draft", body = Experiment),
        (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 409, description = "An experiment with this id exists", body = ErrorBody)
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    Json(spec): Json<ExperimentSpec>,
) -> Result<HttpResponse, ApiError> {
    let created = blocking(move || state.engine.create_experiment(&spec)).await??;
    Ok(HttpResponse::Created().json(created))
}

/// List the experiments.
#[utoipa::path(
    get,
    path = "/v1/experiments",
    responses((status = 200, description = "Every experiment", body = ExperimentList))
)]
pub async fn list(
    state: web::Data<AppState>,
    _: Authorized<Results>,
) -> Result<HttpResponse, ApiError> {
    let experiments = blocking(move || state.engine.store().experiments()).await??;
    Ok(HttpResponse::Ok().json(ExperimentList { experiments }))
}

/// One experiment.
#[utoipa::path(
    get,
    path = "/v1/experiments/{id}",
    params(("id" = String, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "The experiment", body = Experiment),
        (status = 404, description = "No such experiment", body = ErrorBody)
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let experiment = blocking(move || state.engine.store().experiment(&id)).await??;
    Ok(HttpResponse::Ok().json(experiment))
}

/// Replace a draft's definition (refused once it has started: start a new experiment).
#[utoipa::path(
    put,
    path = "/v1/experiments/{id}",
    params(("id" = String, Path, description = "The experiment's id")),
    request_body = ExperimentSpec,
    responses(
        (status = 200, description = "Replaced", body = Experiment),
        (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No such experiment", body = ErrorBody),
        (status = 409, description = "It is running or stopped", body = ErrorBody)
    )
)]
pub async fn replace(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    id: web::Path<String>,
    Json(spec): Json<ExperimentSpec>,
) -> Result<HttpResponse, ApiError> {
    if spec.id != *id {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            "id",
            format!("the body's id '{}' is not the path's '{id}'", spec.id),
        ));
    }
    let replaced = blocking(move || state.engine.replace_experiment(&spec)).await??;
    Ok(HttpResponse::Ok().json(replaced))
}

/// Start a draft: from now on it assigns units.
#[utoipa::path(
    post,
    path = "/v1/experiments/{id}/start",
    params(("id" = String, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "Running", body = Experiment),
        (status = 404, description = "No such experiment", body = ErrorBody),
        (status = 409, description = "Not a draft, or its layer has no room", body = ErrorBody)
    )
)]
pub async fn start(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change(state, id, |engine, id| engine.start_experiment(id)).await
}

/// Runs a state change of the experiment in the path off the async workers; 200 with the
/// experiment as it now is.
async fn change(
    state: web::Data<AppState>,
    id: web::Path<String>,
    apply: impl FnOnce(&Engine, &str) -> Result<Experiment, EngineError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let changed = blocking(move || apply(&state.engine, &id)).await??;
    Ok(HttpResponse::Ok().json(changed))
}

/// Stop a running experiment; its data is kept and analysed.
#[utoipa::path(
    post,
    path = "/v1/experiments/{id}/stop",
    params(("id" = String, Path, description = "The experiment's id")),
    responses(
        (status = 200, description = "Stopped", body = Experiment),
        (status = 404, description = "No such experiment", body = ErrorBody),
        (status = 409, description = "It is not running", body = ErrorBody)
    )
)]
pub async fn stop(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change(state, id, |engine, id| engine.stop_experiment(id)).await
}

/// Raise the traffic share (a ramp: units already assigned stay in their arms).
#[utoipa::path(
    post,
    path = "/v1/experiments/{id}/traffic",
    params(("id" = String, Path, description = "The experiment's id")),
    request_body = TrafficRequest,
    responses(
        (status = 200, description = "Ramped", body = Experiment),
        (status = 400, description = "traffic is not in (0, 1]", body = ErrorBody),
        (status = 404, description = "No such experiment", body = ErrorBody),
        (status = 409, description = "Lower than now while running, stopped, or no room in its layer", body = ErrorBody)
    )
)]
pub async fn ramp(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    id: web::Path<String>,
    Json(request): Json<TrafficRequest>,
) -> Result<HttpResponse, ApiError> {
    change(state, id, move |engine, id| {
        engine.ramp_experiment(id, request.traffic)
    })
    .await
}

/// How to read the results (query parameters; every one optional).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Intervals cover 1 − alpha (default 0.05; at most 0.5).
    #[param(exclusive_minimum = 0.0, maximum = 0.5)]
    pub alpha: Option<f64>,
    /// Always-valid sequential intervals (default true); false for fixed-horizon ones.
    pub sequential: Option<bool>,
    /// The sequential tuning: total units where the intervals are tightest (default 5000).
    #[param(minimum = 1.0, maximum = 1000000000.0)]
    pub tuning: Option<f64>,
    /// CUPED with the pre-period revenue (default true).
    pub cuped: Option<bool>,
}

/// The results: per arm and metric, lifts with intervals, health checks and a verdict.
#[utoipa::path(
    get,
    path = "/v1/experiments/{id}/results",
    params(("id" = String, Path, description = "The experiment's id"), ResultsQuery),
    responses(
        (status = 200, description = "The results", body = ExperimentResults),
        (status = 400, description = "A query parameter is invalid", body = ErrorBody),
        (status = 404, description = "No such experiment", body = ErrorBody)
    )
)]
pub async fn results(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    id: web::Path<String>,
    query: web::Query<ResultsQuery>,
) -> Result<HttpResponse, ApiError> {
    let defaults = AnalysisSettings::default();
    let settings = AnalysisSettings {
        alpha: query.alpha.unwrap_or(defaults.alpha),
        sequential: query.sequential.unwrap_or(defaults.sequential),
        tuning: query.tuning.unwrap_or(defaults.tuning),
        cuped: query.cuped.unwrap_or(defaults.cuped),
        ..defaults
    };
    let id = id.into_inner();
    let store = state.engine.store_handle();
    let results = blocking(move || experiment_results(&store, &id, &settings)).await??;
    Ok(HttpResponse::Ok().json(results))
}
