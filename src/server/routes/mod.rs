//! One module per resource: handlers take the guard ([`Authorized`]) and the body ([`Json`]),
//! call the library off the async workers ([`blocking`]), and map errors.
//!
//! [`Authorized`]: super::extract::Authorized
//! [`Json`]: super::extract::Json

pub mod analytics;
pub mod decisions;
pub mod events;
pub mod experiments;
pub mod health;
pub mod models;
pub mod openapi;
pub mod outcomes;
pub mod pages;
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

/// Registers every route. A known path asked with a method it does not take answers 405 with
/// the methods it does (`Allow`), not 404.
pub fn configure(config: &mut web::ServiceConfig) {
    let resource = |path: &'static str, allow: &'static str| {
        web::resource(path).default_service(web::to(move || method_not_allowed(allow)))
    };
    config
        .service(resource("/v1/decisions", "POST").route(web::post().to(decisions::decide)))
        .service(
            resource("/v1/decisions/batch", "POST").route(web::post().to(decisions::decide_batch)),
        )
        .service(resource("/v1/events", "POST").route(web::post().to(events::ingest)))
        .service(resource("/v1/outcomes", "POST").route(web::post().to(outcomes::record)))
        .service(resource("/v1/models", "GET").route(web::get().to(models::list)))
        .service(resource("/v1/models/reload", "POST").route(web::post().to(models::reload)))
        .service(resource("/v1/reload", "POST").route(web::post().to(models::reload_all)))
        .service(resource("/v1/policies", "GET").route(web::get().to(policies::list)))
        .service(
            resource("/v1/experiments", "GET, POST")
                .route(web::get().to(experiments::list))
                .route(web::post().to(experiments::create)),
        )
        .service(
            resource("/v1/experiments/{id}", "GET, PUT")
                .route(web::get().to(experiments::get))
                .route(web::put().to(experiments::replace)),
        )
        .service(
            resource("/v1/experiments/{id}/start", "POST")
                .route(web::post().to(experiments::start)),
        )
        .service(
            resource("/v1/experiments/{id}/stop", "POST").route(web::post().to(experiments::stop)),
        )
        .service(
            resource("/v1/experiments/{id}/results", "GET")
                .route(web::get().to(experiments::results)),
        )
        .service(
            resource("/v1/experiments/{id}/traffic", "POST")
                .route(web::post().to(experiments::ramp)),
        )
        .service(resource("/v1/analytics/kpis", "GET").route(web::get().to(analytics::kpis)))
        .service(resource("/v1/analytics/funnel", "GET").route(web::get().to(analytics::funnel)))
        .service(resource("/v1/analytics/paths", "GET").route(web::get().to(analytics::paths)))
        .service(resource("/v1/analytics/cohorts", "GET").route(web::get().to(analytics::cohorts)))
        .service(resource("/v1/analytics/clv", "GET").route(web::get().to(analytics::clv)))
        .service(
            resource("/v1/analytics/attribution", "GET")
                .route(web::get().to(analytics::attribution)),
        )
        .service(
            resource("/v1/analytics/pain-points", "GET")
                .route(web::get().to(analytics::pain_points)),
        )
        .service(
            resource("/v1/analytics/dashboard", "GET").route(web::get().to(analytics::dashboard)),
        )
        .service(resource("/journeys", "GET").route(web::get().to(pages::journeys)))
        .service(resource("/experiments", "GET").route(web::get().to(pages::list)))
        .service(resource("/experiments/{id}", "GET").route(web::get().to(pages::results)))
        .service(resource("/assets/{name}", "GET").route(web::get().to(pages::asset)))
        .service(resource("/healthz", "GET").route(web::get().to(health::healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(health::readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(health::metrics)))
        .service(resource("/openapi.json", "GET").route(web::get().to(openapi::document)));
}

async fn method_not_allowed(allow: &'static str) -> actix_web::HttpResponse {
    let error = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("this path answers {allow} only"),
        None,
    );
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, allow))
        .json(error.body)
}
