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
use crate::server::error::ApiError;
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
    let data = data(&state)?;
    let result = blocking(move || run(&query, &data)).await??;
    Ok(HttpResponse::Ok().json(result))
}

/// `GET /v1/analytics/kpis`.
pub async fn kpis(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::kpis).await
}

/// `GET /v1/analytics/funnel`.
pub async fn funnel(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::funnel).await
}

/// `GET /v1/analytics/paths`.
pub async fn paths(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::paths).await
}

/// `GET /v1/analytics/cohorts`.
pub async fn cohorts(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::cohorts).await
}

/// `GET /v1/analytics/pain-points`.
pub async fn pain_points(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::pain_points).await
}

/// `GET /v1/analytics/attribution`.
pub async fn attribution(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::attribution).await
}

/// `GET /v1/analytics/clv`.
pub async fn clv(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::clv).await
}

/// `GET /v1/analytics/dashboard`: everything the `/journeys` page shows, in one answer.
pub async fn dashboard(
    state: web::Data<AppState>,
    _: Authorized<Results>,
    query: web::Query<AnalyticsQuery>,
) -> Result<HttpResponse, ApiError> {
    answer(state, query.into_inner(), AnalyticsQuery::dashboard).await
}
