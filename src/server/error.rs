//! API errors: every failure is JSON `{code, message, field?}`. The code comes from the one
//! catalogue ([`ErrorCode`]), and so does the HTTP status: client mistakes are 4xx, never 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::engine::EngineError;
use crate::error::ErrorCode;
use crate::models::ModelError;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code (`invalid_json`, `invalid_field`, `unknown_action`, …).
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// The offending field as a JSON path (`candidates[2]`, `context.timestamp`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered as JSON, with the status its code has in the catalogue.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Body.
    pub body: ErrorBody,
}

impl ApiError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>, field: Option<String>) -> Self {
        ApiError {
            body: ErrorBody {
                code,
                message: message.into(),
                field,
            },
        }
    }

    /// An error about a field.
    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(code, message, Some(field.into()))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.body.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.body.code, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status()).json(&self.body)
    }
}

impl ApiError {
    /// The same error with its field placed under `prefix` (`requests[3].`), message included.
    pub fn within(mut self, prefix: &str) -> Self {
        if let Some(field) = &self.body.field {
            let prefixed = format!("{prefix}{field}");
            if let Some(rest) = self.body.message.strip_prefix(field.as_str()) {
                self.body.message = format!("{prefixed}{rest}");
            }
            self.body.field = Some(prefixed);
        }
        self
    }
}

impl From<crate::analytics::AnalyticsError> for ApiError {
    fn from(e: crate::analytics::AnalyticsError) -> Self {
        ApiError::new(e.code(), e.to_string(), e.field().map(str::to_string))
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let field = e.field_name().map(str::to_string);
        ApiError::new(e.code(), e.to_string(), field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // The store's field names, as the API's bodies spell them.
        let field = match &e {
            StoreError::UnknownDecision { .. } => Some("decision_id".to_string()),
            StoreError::InvalidOutcome { field, .. } => Some(
                match *field {
                    "outcome_type" => "type",
                    "at" => "timestamp",
                    other => other,
                }
                .to_string(),
            ),
            StoreError::InvalidEvent { index, field, .. } => {
                Some(format!("events[{index}].{field}"))
            }
            _ => None,
        };
        ApiError::new(e.code(), e.to_string(), field)
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        ApiError::new(e.code(), e.to_string(), None)
    }
}
