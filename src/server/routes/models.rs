//! `GET /v1/models`, `POST /v1/models/reload` (models only) and `POST /v1/reload` (models,
//! catalog and policies as one set).

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::blocking;
use crate::engine::{ReloadRequest, ServingSet};
use crate::models::registry::{ModelInfo, ModelPathsUpdate};
use crate::server::auth::{Admin, Caller, Decide, Scope};
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Authorized, OptionalJson};
use crate::server::AppState;

/// The models serving now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelsResponse {
    /// One entry per loaded model.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<ModelInfo>,
}

/// List the models serving now.
#[utoipa::path(
    get,
    path = "/v1/models",
    responses((status = 200, description = "Loaded models", body = ModelsResponse))
)]
pub async fn list(state: web::Data<AppState>, guard: Authorized<Decide>) -> HttpResponse {
    HttpResponse::Ok().json(ModelsResponse {
        models: visible(state.engine.models().info(), guard.caller()),
    })
}

/// Model folders tell where the host keeps files: the `admin` scope sees them, others do not.
fn visible(mut models: Vec<ModelInfo>, caller: Caller) -> Vec<ModelInfo> {
    if !caller.may(Scope::Admin) {
        for model in &mut models {
            model.path = None;
        }
    }
    models
}

/// Load models again and swap them in atomically, beside the catalog and policies serving now:
/// from the same folders, or with the body's folders replacing some (`{"churn":
/// "churn_onnx"}`; `null` unloads one). A broken or mismatched artifact, a set without a churn
/// or conversion model, or a model trained on actions the catalog lacks is refused and the old
/// models keep serving.
#[utoipa::path(
    post,
    path = "/v1/models/reload",
    responses(
        (status = 200, description = "The new models serve", body = ModelsResponse),
        (status = 401, description = "A token is configured and missing", body = ErrorBody),
        (status = 422, description = "Refused (`model_*`, `inconsistent_set`); the old models keep serving", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn reload(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    OptionalJson(paths): OptionalJson<ModelPathsUpdate>,
) -> Result<HttpResponse, ApiError> {
    let engine = state.clone();
    let result = blocking(move || match &paths {
        Some(update) => engine.engine.reload_requested(update),
        None => engine.engine.reload(None),
    })
    .await?;
    match result {
        Ok(models) => {
            state.metrics.reloads.with_label_values(&["ok"]).inc();
            tracing::info!(models = ?models.versions(), "models reloaded");
            Ok(HttpResponse::Ok().json(ModelsResponse {
                models: models.info(),
            }))
        }
        Err(e) => {
            state.metrics.reloads.with_label_values(&["refused"]).inc();
            tracing::warn!(error = %e, "model reload refused; the old models keep serving");
            Err(ApiError::from(e))
        }
    }
}

/// What serves after a whole-set reload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReloadResponse {
    /// One entry per loaded model.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<ModelInfo>,
    /// The catalog's action ids, in catalog order.
    pub actions: Vec<String>,
    /// The policies' names.
    pub policies: Vec<String>,
    /// The policy of a request that names none.
    pub default_policy: String,
}

impl ReloadResponse {
    fn of(set: &ServingSet, default_policy: &str) -> Self {
        ReloadResponse {
            models: set.models.info(),
            actions: set.catalog.actions.iter().map(|a| a.id.clone()).collect(),
            policies: set.policies.names().map(str::to_string).collect(),
            default_policy: default_policy.to_string(),
        }
    }
}

/// Reload models, catalog and policies as one set: the body's model folders (`{"models":
/// {"conversion": "conversion_v2"}}`, as `/v1/models/reload` takes them; without a body, the
/// same folders), the catalog and the policies read again from the files configured at
/// start-up. The new set is checked as a whole before anything is swapped: a policy naming an
/// action the catalog lacks, a model trained on actions the catalog lacks or describes
/// otherwise, a missing default policy, or a running experiment's policy gone — refused whole
/// (422 `inconsistent_set`, naming each problem) and the old set keeps serving.
#[utoipa::path(
    post,
    path = "/v1/reload",
    responses(
        (status = 200, description = "The new set serves", body = ReloadResponse),
        (status = 422, description = "Refused whole (`inconsistent_set`, `model_*`, `invalid_file`, `invalid_policy`, …); the old set keeps serving", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn reload_all(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    OptionalJson(request): OptionalJson<ReloadRequest>,
) -> Result<HttpResponse, ApiError> {
    let engine = state.clone();
    let result = blocking(move || engine.engine.reload_all(&request.unwrap_or_default())).await?;
    match result {
        Ok(set) => {
            state.metrics.reloads.with_label_values(&["ok"]).inc();
            tracing::info!(
                models = ?set.models.versions(),
                actions = set.catalog.actions.len(),
                policies = set.policies.len(),
                "models, catalog and policies reloaded"
            );
            Ok(HttpResponse::Ok().json(ReloadResponse::of(&set, state.engine.default_policy())))
        }
        Err(e) => {
            state.metrics.reloads.with_label_values(&["refused"]).inc();
            tracing::warn!(error = %e, "reload refused; the old set keeps serving");
            Err(ApiError::from(e))
        }
    }
}
