//! One module per resource: handlers parse, call the library, map errors.

pub mod decisions;
pub mod events;
pub mod health;
pub mod models;
pub mod openapi;
pub mod outcomes;
pub mod policies;

use actix_web::web;
use futures_util::StreamExt;

use super::error::ApiError;
use super::AppState;

/// Reads a request body up to the configured limit; larger bodies get a JSON 413.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_body",
                e.to_string(),
                None,
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body exceeds {limit} bytes (server.max_body_bytes)"),
                None,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Runs blocking work (SQLite, a model reload, a long batch) on actix's blocking pool, so the
/// worker that accepts requests stays free.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work).await.map_err(|e| {
        ApiError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
            None,
        )
    })
}

/// Refuses the request unless it carries the configured bearer token (when one is configured).
pub fn authorize(state: &AppState, request: &actix_web::HttpRequest) -> Result<(), ApiError> {
    let Some(token) = &state.api_token else {
        return Ok(());
    };
    let given = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    // Compare in constant time so the token cannot be guessed byte by byte from timings.
    let matches = given.is_some_and(|g| {
        g.len() == token.len()
            && g.bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if matches {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
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
