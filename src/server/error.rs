//! API errors: every failure is JSON `{code, message, field?}` with a stable code; client
//! mistakes are 4xx, never 500.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::decision::engine::EngineError;
use crate::models::ModelError;
use crate::store::StoreError;

/// The JSON body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code (`invalid_json`, `invalid_field`, `unknown_action`, …).
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// The offending field as a JSON path (`candidates[2]`, `context.timestamp`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answered as JSON.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub body: ErrorBody,
}

impl ApiError {
    /// A new error.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        field: Option<String>,
    ) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_string(),
                message: message.into(),
                field,
            },
        }
    }

    /// 400 with a field.
    pub fn bad_field(code: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message, Some(field.into()))
    }

    /// 401: a bearer token is configured and the request lacks it.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this endpoint needs `Authorization: Bearer <token>` (the token set by NEXTBEST_API_TOKEN or server.api_token)",
            None,
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.body.code, self.body.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(&self.body)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Store(StoreError::Overloaded { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            e if e.is_client_error() => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let field = e.field_name().map(str::to_string);
        ApiError::new(status, e.code(), e.to_string(), field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from(EngineError::Store(e))
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        // A model that cannot be loaded is the request's problem on reload (it named the files).
        let status = match e {
            ModelError::Io { .. }
            | ModelError::Invalid { .. }
            | ModelError::FeatureMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string(), None)
    }
}

/// Parses a JSON body, naming the field of any type error.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs a fifth of a decision's time, and valid bodies never need it:
    // parse plainly, and parse again with tracking only to describe a mistake.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    match parsed {
        Ok(value) => {
            deserializer.end().map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("trailing characters after the JSON body: {e}"),
                    None,
                )
            })?;
            Ok(value)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let code = if inner.is_syntax() || inner.is_eof() {
                "invalid_json"
            } else {
                "invalid_field"
            };
            let field = (path != "." && !path.is_empty()).then_some(path);
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                code,
                inner.to_string(),
                field,
            ))
        }
    }
}
