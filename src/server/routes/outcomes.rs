//! `POST /v1/outcomes`: what happened after a decision.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{blocking, read_body};
use crate::journey::Timestamp;
use crate::server::error::{parse_json, ApiError, ErrorBody};
use crate::server::AppState;
use crate::store::{OutcomeRecord, StoreError};

/// An outcome report.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// The decision it answers.
    pub decision_id: String,
    /// What happened: `conversion`, `click`, `unsubscribe`, `complaint`, …
    #[serde(rename = "type")]
    pub outcome_type: String,
    /// Money or another measure.
    #[serde(default)]
    pub value: Option<f64>,
    /// Which of the decision's actions it answers.
    #[serde(default)]
    pub action_id: Option<String>,
    /// When it happened (RFC 3339; default: now).
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// The stored outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OutcomeResponse {
    /// The decision.
    pub decision_id: String,
    /// The outcome type.
    #[serde(rename = "type")]
    pub outcome_type: String,
    /// Outcomes now stored for the decision.
    pub outcomes_for_decision: usize,
}

/// Report an outcome of a decision.
#[utoipa::path(
    post,
    path = "/v1/outcomes",
    request_body = OutcomeRequest,
    responses(
        (status = 201, description = "Stored", body = OutcomeResponse),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 404, description = "No such decision", body = ErrorBody)
    )
)]
pub async fn record(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, state.max_body_bytes).await?;
    let request: OutcomeRequest = parse_json(&body)?;
    let at = match &request.timestamp {
        Some(text) => Timestamp::parse_date_or_datetime(text)
            .map_err(|e| ApiError::bad_field("invalid_field", "timestamp", e.to_string()))?,
        None => Timestamp::now(),
    };
    let record = OutcomeRecord {
        decision_id: request.decision_id.clone(),
        outcome_type: request.outcome_type.clone(),
        value: request.value,
        action_id: request.action_id.clone(),
        at,
    };
    let store = state.engine.store_handle();
    let decision_id = request.decision_id.clone();
    let count = blocking(move || -> Result<usize, StoreError> {
        store.record_outcome(record)?;
        Ok(store.outcomes_for(&decision_id)?.len())
    })
    .await?
    .map_err(|e| match e {
        StoreError::UnknownDecision { .. } => ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            e.code(),
            e.to_string(),
            Some("decision_id".into()),
        ),
        other => ApiError::from(other),
    })?;
    Ok(HttpResponse::Created().json(OutcomeResponse {
        decision_id: request.decision_id,
        outcome_type: request.outcome_type,
        outcomes_for_decision: count,
    }))
}
