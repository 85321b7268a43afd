//! `POST /v1/decisions` and `POST /v1/decisions/batch`.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::blocking;
use crate::engine::{DecisionRequest, DecisionResponse};
use crate::error::ErrorCode;
use crate::server::auth::{forbidden, Caller, Decide, Scope};
use crate::server::error::{ApiError, ErrorBody};
use crate::server::extract::{Authorized, Json};
use crate::server::AppState;

/// Decide for one customer.
#[utoipa::path(
    post,
    path = "/v1/decisions",
    request_body = DecisionRequest,
    responses(
        (status = 200, description = "Ranked actions with components and propensities", body = DecisionResponse),
        (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The decision log is overloaded", body = ErrorBody)
    )
)]
pub async fn decide(
    state: web::Data<AppState>,
    guard: Authorized<Decide>,
    Json(request): Json<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    may_explain(guard.caller(), &request)?;
    // A small decision on a profile in memory is computed here and its commit awaited without
    // blocking the worker. Anything that may read SQLite or take long goes to the blocking pool.
    let response = match state.engine.decide_in_memory(&request) {
        Some(decided) => decided?.answer().await?,
        None => {
            let engine = state.clone();
            blocking(move || engine.engine.decide(&request)).await??
        }
    };
    state.observe(&response);
    Ok(HttpResponse::Ok().json(response))
}

/// Explaining scores computed from a stored profile shows what the store holds about a
/// customer (churn risk, the sentiment of their tickets): that needs the `admin` scope. A
/// caller that sends the history itself may always have it explained.
fn may_explain(caller: Caller, request: &DecisionRequest) -> Result<(), ApiError> {
    if request.explain && request.history.is_none() && !caller.may(Scope::Admin) {
        return Err(forbidden(Scope::Admin));
    }
    Ok(())
}

/// Many decisions in one call.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The decisions to make (at most `limits.max_batch`).
    pub requests: Vec<DecisionRequest>,
}

/// One item of a batch answer: a decision or an error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    /// The decision.
    Decision(Box<DecisionResponse>),
    /// Why this item failed (the others are unaffected).
    Error {
        /// The error.
        error: ErrorBody,
    },
}

/// Answers of a batch, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    /// One item per request.
    pub results: Vec<BatchItem>,
    /// Items that failed.
    pub errors: usize,
}

/// Decide for many customers; an invalid item fails alone, with its field named
/// (`requests[3].candidates[0]`).
#[utoipa::path(
    post,
    path = "/v1/decisions/batch",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per request, in order", body = BatchResponse),
        (status = 400, description = "The batch itself is invalid", body = ErrorBody)
    )
)]
pub async fn decide_batch(
    state: web::Data<AppState>,
    guard: Authorized<Decide>,
    Json(batch): Json<BatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let caller = guard.caller();
    let max = state.engine.limits().max_batch;
    if batch.requests.len() > max {
        return Err(ApiError::field(
            ErrorCode::TooMany,
            "requests",
            format!("at most {max} decisions per batch"),
        ));
    }
    // A batch is long CPU work: off the worker that accepts requests.
    let worker = state.clone();
    let (results, errors) = blocking(move || {
        // Every decision first, then the answers: one commit covers the whole batch.
        let decided: Vec<_> = batch
            .requests
            .iter()
            .map(|request| {
                may_explain(caller, request)
                    .and_then(|()| worker.engine.decide_logged(request).map_err(ApiError::from))
            })
            .collect();
        let mut errors = 0;
        let results: Vec<BatchItem> = decided
            .into_iter()
            .enumerate()
            .map(
                |(i, decided)| match decided.and_then(|d| d.wait().map_err(ApiError::from)) {
                    Ok(response) => {
                        worker.observe(&response);
                        BatchItem::Decision(Box::new(response))
                    }
                    Err(e) => {
                        errors += 1;
                        let error = e.within(&format!("requests[{i}]."));
                        worker.count_error(error.body.code);
                        BatchItem::Error { error: error.body }
                    }
                },
            )
            .collect();
        (results, errors)
    })
    .await?;
    Ok(HttpResponse::Ok().json(BatchResponse { results, errors }))
}
