//! Who may do what. Every route names the [`Scope`] it needs by taking an
//! [`Authorized<S>`](super::extract::Authorized) argument; [`Auth`] decides.
//!
//! Today one optional bearer token (`server.api_token` / `NEXTBEST_API_TOKEN`) guards the
//! `ingest` and `admin` scopes; `decide` and `public` routes are open.

/// A right a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Liveness, readiness, metrics, the API description.
    Public,
    /// Decisions, outcomes, reading models and policies.
    Decide,
    /// Journey events into the profile store.
    Ingest,
    /// Reloading models.
    Admin,
}

/// A scope as a type, so that a handler's signature states it.
pub trait ScopeMarker {
    /// The scope.
    const SCOPE: Scope;
}

/// [`Scope::Public`] as a type.
#[derive(Debug)]
pub struct Public;
/// [`Scope::Decide`] as a type.
#[derive(Debug)]
pub struct Decide;
/// [`Scope::Ingest`] as a type.
#[derive(Debug)]
pub struct Ingest;
/// [`Scope::Admin`] as a type.
#[derive(Debug)]
pub struct Admin;

impl ScopeMarker for Public {
    const SCOPE: Scope = Scope::Public;
}
impl ScopeMarker for Decide {
    const SCOPE: Scope = Scope::Decide;
}
impl ScopeMarker for Ingest {
    const SCOPE: Scope = Scope::Ingest;
}
impl ScopeMarker for Admin {
    const SCOPE: Scope = Scope::Admin;
}

use super::error::ApiError;
use crate::error::ErrorCode;

/// The configured credentials.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    token: Option<String>,
}

impl Auth {
    /// One bearer token for the guarded scopes, or none (everything open).
    pub fn new(token: Option<String>) -> Self {
        Auth { token }
    }

    /// Whether a token is configured.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Checks an `Authorization` header value against what `scope` needs.
    pub fn check(&self, scope: Scope, header: Option<&str>) -> Result<(), ApiError> {
        let guarded = matches!(scope, Scope::Ingest | Scope::Admin);
        let Some(token) = self.token.as_deref().filter(|_| guarded) else {
            return Ok(());
        };
        let given = header.and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
        if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this endpoint needs `Authorization: Bearer <token>` (the token set by NEXTBEST_API_TOKEN or server.api_token)",
                None,
            ))
        }
    }
}

/// Compares in constant time (for equal lengths) so a token cannot be guessed byte by byte
/// from timings.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_guards_ingest_and_admin_only() {
        let auth = Auth::new(Some("s3cret".into()));
        for scope in [Scope::Public, Scope::Decide] {
            assert!(auth.check(scope, None).is_ok(), "{scope:?}");
        }
        for scope in [Scope::Ingest, Scope::Admin] {
            assert!(auth.check(scope, None).is_err(), "{scope:?}");
            assert!(auth.check(scope, Some("Bearer wrong")).is_err());
            assert!(auth.check(scope, Some("Bearer s3cret2")).is_err());
            assert!(auth.check(scope, Some("Basic s3cret")).is_err());
            assert!(auth.check(scope, Some("Bearer s3cret")).is_ok());
            assert!(auth.check(scope, Some("bearer  s3cret ")).is_ok());
        }
        let open = Auth::new(None);
        assert!(open.check(Scope::Admin, None).is_ok());
    }
}
