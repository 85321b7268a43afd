//! `POST /v1/events`: journey events into the profile store.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::blocking;
use crate::engine::{events_for_store, EventPayload};
use crate::journey::Timestamp;
use crate::server::auth::Ingest;
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Authorized, Json};
use crate::server::AppState;

/// Events to ingest.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsRequest {
    /// The events, each with its `customer_id`.
    pub events: Vec<EventPayload>,
}

/// What was stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsResponse {
    /// Events stored.
    pub accepted: usize,
    /// Distinct customers among them.
    pub customers: usize,
}

/// Ingest journey events. All or nothing: one invalid event rejects the call, naming it.
#[utoipa::path(
    post,
    path = "/v1/events",
    request_body = EventsRequest,
    responses(
        (status = 200, description = "Stored", body = EventsResponse),
        (status = 400, description = "An event is invalid; `field` names it", body = ErrorBody),
        (status = 401, description = "A token is configured and missing", body = ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn ingest(
    state: web::Data<AppState>,
    _: Authorized<Ingest>,
    Json(parsed): Json<EventsRequest>,
) -> Result<HttpResponse, ApiError> {
    let events = events_for_store(&parsed.events, state.engine.limits(), Timestamp::now())?;
    let customers = events
        .iter()
        .map(|e| e.customer_id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let store = state.engine.store_handle();
    let accepted = events.len();
    // Appending waits for a SQLite transaction: off the request thread.
    blocking(move || store.append_events(&events)).await??;
    Ok(HttpResponse::Ok().json(EventsResponse {
        accepted,
        customers,
    }))
}
