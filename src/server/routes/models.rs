//! `GET /v1/models` and `POST /v1/models/reload`.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::blocking;
use crate::engine::EngineError;
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

/// Load models again and swap them in atomically: from the same folders, or with the body's
/// folders replacing some (`{"churn": "models/churn_onnx"}`; `null` unloads one). A broken or
/// mismatched artifact, or a set without a churn or conversion model, is refused and the old
/// models keep serving.
#[utoipa::path(
    post,
    path = "/v1/models/reload",
    responses(
        (status = 200, description = "The new models serve", body = ModelsResponse),
        (status = 401, description = "A token is configured and missing", body = ErrorBody),
        (status = 422, description = "Refused; the old models keep serving", body = ErrorBody)
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
        None => engine.engine.reload(None).map_err(EngineError::from),
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
