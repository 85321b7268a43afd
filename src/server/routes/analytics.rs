//! `/v1/analytics/…`: journey analytics over the event log configured in `[journeys]` (read at
//! start-up), with the `results` scope like experiment results. Parameters come in the query
//! string (`AnalyticsQuery`); a bad one is a 400 naming it. The work runs off the async workers.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::blocking;
use crate::analytics::query::{AnalyticsQuery, JourneyData};
use crate::analytics::Result as AnalyticsResult;
use crate::error::ErrorCode;
use crate::server::auth::Results;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::Authorized;
use crate::server::AppState;

fn data(state: &AppState) -> Result<Arc<JourneyData>, ApiError> {
    state.journeys.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "no event log is configured for analytics (serve --journeys FILE, or [journeys] events)",
            None,
        )
    })
}

async fn answer<T: Serialize + Send + 'static>(
    state: web::Data<AppState>,
    query: AnalyticsQuery,
    run: fn(&AnalyticsQuery, &JourneyData) -> AnalyticsResult<T>,
) -> Result<HttpResponse, ApiError> {
    query.check_bounds()?;
    let data = data(&state)?;
    let result = blocking(move || run(&query, &data)).await??;
    Ok(HttpResponse::Ok().json(result))
}

/// `GET /v1/analytics/kpis`.
#[utoipa::path(
    get,
    path = "/v1/analytics/kpis",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "KPIs of the period and segment (`Kpis`; `text_sentiment` when a sentiment model is loaded) (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn kpis(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::kpis).await
}

/// `GET /v1/analytics/funnel`.
#[utoipa::path(
    get,
    path = "/v1/analytics/funnel",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "The funnel: customers, conversion, drop-off and times per step, per breakdown group (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn funnel(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::funnel).await
}

/// `GET /v1/analytics/paths`.
#[utoipa::path(
    get,
    path = "/v1/analytics/paths",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "Transition graph, top paths, the Sankey after or before an anchor; `compare` adds a second segment (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn paths(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::paths).await
}

/// `GET /v1/analytics/cohorts`.
#[utoipa::path(
    get,
    path = "/v1/analytics/cohorts",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "Retention by cohort × period, and lifecycle (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn cohorts(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::cohorts).await
}

/// `GET /v1/analytics/pain-points`.
#[utoipa::path(
    get,
    path = "/v1/analytics/pain-points",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "Event types and negative aspects with lift of cancelling or going quiet; negative aspects over time (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn pain_points(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::pain_points).await
}

/// `GET /v1/analytics/attribution`.
#[utoipa::path(
    get,
    path = "/v1/analytics/attribution",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "First- and last-touch credit per action, and the conversion model's incremental conversions (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn attribution(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::attribution).await
}

/// `GET /v1/analytics/clv`.
#[utoipa::path(
    get,
    path = "/v1/analytics/clv",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "BG/NBD + Gamma-Gamma parameters and the customers of highest value (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn clv(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::clv).await
}

/// `GET /v1/analytics/dashboard`: everything the `/journeys` page shows, in one answer.
#[utoipa::path(
    get,
    path = "/v1/analytics/dashboard",
    params(AnalyticsQuery),
    responses(
        (status = 200, description = "Everything the /journeys page shows (see docs/analytics.md)", body = Object),
        (status = 400, description = "A parameter is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No event log is configured for analytics", body = ErrorBody)
    )
)]
pub async fn dashboard(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::dashboard).await
}
