//! One module per resource: handlers take the guard ([`Authorized`]) and the body ([`Json`]),
//! call the library off the async workers ([`blocking`]), and map errors.
//!
//! [`Authorized`]: super::extract::Authorized
//! [`Json`]: super::extract::Json

pub mod decisions;
pub mod events;
pub mod health;
pub mod models;
pub mod openapi;
pub mod outcomes;
pub mod policies;

use actix_web::web;

use super::error::ApiError;
use crate::error::ErrorCode;

/// Runs blocking work (SQLite, model scoring, a model reload, a long batch) on actix's blocking
/// pool, so the workers that accept requests stay free.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string(), None))
}

/// Registers every route.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/v1/decisions", web::post().to(decisions::decide))
        .route(
            "/v1/decisions/batch",
            web::post().to(decisions::decide_batch),
        )
        .route("/v1/events", web::post().to(events::ingest))
        .route("/v1/outcomes", web::post().to(outcomes::record))
        .route("/v1/models", web::get().to(models::list))
        .route("/v1/models/reload", web::post().to(models::reload))
        .route("/v1/policies", web::get().to(policies::list))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(openapi::document));
}
