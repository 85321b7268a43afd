//! Extractors every route uses: [`Json`] (the body, bounded and parsed with the JSON path of
//! any mistake named) and [`Authorized`] (the guard that checks the caller's right to a scope).
//! Handlers take them as arguments, guard first, so a refused caller's body is never read.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::auth::{Auth, Caller, Scope, ScopeMarker};
use super::error::ApiError;
use super::AppState;
use crate::error::ErrorCode;

/// Bodies are bounded even when no state is configured (only in tests).
const FALLBACK_BODY_LIMIT: usize = 1 << 20;

/// A JSON body of type `T`: at most `server.max_body_bytes` (a JSON 413 beyond), and a mistake
/// answered 400 with its JSON path (`candidates[2].cost`).
#[derive(Debug)]
pub struct Json<T>(pub T);

/// Like [`Json`], but an empty (or all-whitespace) body is `None`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

/// Whether the request says its body is JSON (`application/json`, or `application/…+json`,
/// parameters allowed). Browsers send `text/plain` and form types across sites without a
/// preflight; JSON they do not, so insisting on it keeps a web page from posting decisions or
/// outcomes on a visitor's behalf.
fn says_json(request: &HttpRequest) -> bool {
    let Some(value) = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "send the body with Content-Type: application/json",
        None,
    )
}

fn body_limit(request: &HttpRequest) -> usize {
    request
        .app_data::<web::Data<AppState>>()
        .map_or(FALLBACK_BODY_LIMIT, |state| state.max_body_bytes)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if !says_json(request) {
            return Box::pin(std::future::ready(Err(unsupported_media_type())));
        }
        let body = read_body(payload.take(), body_limit(request));
        Box::pin(async move { parse_json(&body.await?).map(Json) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = says_json(request);
        let body = read_body(payload.take(), body_limit(request));
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            if !json {
                return Err(unsupported_media_type());
            }
            parse_json(&body).map(|value| OptionalJson(Some(value)))
        })
    }
}

/// Reads a body up to `limit` bytes; larger bodies get a JSON 413.
async fn read_body(mut payload: Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.to_string(), None))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::BodyTooLarge,
                format!("the body exceeds {limit} bytes (server.max_body_bytes)"),
                None,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON body, naming the field of any type error. Every body of the API is a JSON
/// object: an array is refused even where serde could read one as a struct.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "the body must be a JSON object",
                None,
            ))
        }
        None => {
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "the body is empty; expected a JSON object",
                None,
            ))
        }
    }
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
                    ErrorCode::InvalidJson,
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
                ErrorCode::InvalidJson
            } else {
                ErrorCode::InvalidField
            };
            // "?" is serde_path_to_error's "somewhere unknown": no field rather than a false one.
            let field = (path != "." && path != "?" && !path.is_empty()).then_some(path);
            Err(ApiError::new(code, inner.to_string(), field))
        }
    }
}

/// Proof that the caller may use scope `S` (see [`super::auth`]); a handler that takes it runs
/// only for callers with the right, and others get 401 (or 403) before their body is read.
#[derive(Debug)]
pub struct Authorized<S> {
    caller: Caller,
    scope: PhantomData<S>,
}

impl<S> Authorized<S> {
    /// Every scope the caller holds, for rights that depend on the request (e.g. `admin` to
    /// explain a stored customer's scores).
    pub fn caller(&self) -> Caller {
        self.caller
    }
}

impl<S: ScopeMarker> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let verdict = match request.app_data::<web::Data<AppState>>() {
            Some(state) => state.auth.check(S::SCOPE, header),
            // Without the service's state nothing can be checked: only public routes answer.
            None if S::SCOPE == Scope::Public => Auth::default().check(Scope::Public, None),
            None => Err(ApiError::new(
                ErrorCode::Internal,
                "the service's state is missing",
                None,
            )),
        };
        std::future::ready(verdict.map(|caller| Authorized {
            caller,
            scope: PhantomData,
        }))
    }
}
