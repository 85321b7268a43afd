//! Who may do what. Every route names the [`Scope`] it needs by taking an
//! [`Authorized<S>`](super::extract::Authorized) argument; [`Auth`] decides.
//!
//! Tokens come from the configuration: `tokens = [{name, token, scopes}]`, and `api_token`
//! (or `NEXTBEST_API_TOKEN`), a token with every scope. With no token at all everything is
//! open — which the configuration allows only on a loopback address, or with `insecure`.
//! `public` routes are always open.

use serde::{Deserialize, Serialize};

/// A right a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Liveness, readiness, metrics, the API description.
    Public,
    /// Decisions, outcomes, reading models and policies.
    Decide,
    /// Journey events into the profile store.
    Ingest,
    /// Reloading models, explanations of a stored customer's scores, and defining, starting
    /// and stopping experiments.
    Admin,
    /// Reading experiments and their results, and the results pages (the marketer's browser).
    Results,
}

/// One configured token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (logged, never the token): `orchestrator`, `marketing`, `data-science`.
    pub name: String,
    /// The bearer token.
    pub token: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("token", &"…")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The scopes a caller holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    scopes: [bool; 5],
}

impl Caller {
    const EVERYTHING: Caller = Caller { scopes: [true; 5] };

    fn with(scopes: &[Scope]) -> Caller {
        let mut held = [false; 5];
        held[Scope::Public as usize] = true;
        for scope in scopes {
            held[*scope as usize] = true;
        }
        Caller { scopes: held }
    }

    /// Whether the caller may use `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes[scope as usize]
    }
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
/// [`Scope::Results`] as a type.
#[derive(Debug)]
pub struct Results;

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
impl ScopeMarker for Results {
    const SCOPE: Scope = Scope::Results;
}

use super::error::ApiError;
use crate::error::ErrorCode;

/// A configured token as the service keeps it: its SHA-256 digest (never the token itself)
/// and what it may do.
#[derive(Clone)]
struct KnownToken {
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

impl std::fmt::Debug for KnownToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownToken")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

/// The configured credentials.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    tokens: Vec<KnownToken>,
}

impl Auth {
    /// The tokens of a configuration: `tokens`, plus `api_token` with every scope.
    pub fn new(api_token: Option<String>, tokens: &[TokenConfig]) -> Self {
        let mut all: Vec<KnownToken> = tokens
            .iter()
            .map(|t| KnownToken {
                digest: digest(&t.token),
                scopes: t.scopes.clone(),
            })
            .collect();
        if let Some(token) = api_token {
            all.push(KnownToken {
                digest: digest(&token),
                scopes: vec![Scope::Decide, Scope::Ingest, Scope::Admin, Scope::Results],
            });
        }
        Auth { tokens: all }
    }

    /// Whether any token is configured (if not, everything is open).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Who the caller is, from an `Authorization` header value: 401 when a token is needed and
    /// missing or unknown, 403 when it lacks `scope`.
    pub fn check(&self, scope: Scope, header: Option<&str>) -> Result<Caller, ApiError> {
        if !self.enabled() {
            return Ok(Caller::EVERYTHING);
        }
        let given = header.and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
        // Digests of equal length, every configured one compared in full: the time taken
        // tells neither a token's length, nor how much of it matched, nor which one did.
        let mut found: Option<&KnownToken> = None;
        if let Some(given) = given.map(digest) {
            for token in &self.tokens {
                if constant_time_eq(&given, &token.digest) {
                    found = Some(token);
                }
            }
        }
        let caller =
            match found {
                Some(token) => Caller::with(&token.scopes),
                None if scope == Scope::Public => Caller::with(&[]),
                None => return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "this endpoint needs `Authorization: Bearer <token>` with a configured token",
                    None,
                )),
            };
        if caller.may(scope) {
            Ok(caller)
        } else {
            Err(forbidden(scope))
        }
    }
}

/// 403: the caller's token lacks `scope`.
pub fn forbidden(scope: Scope) -> ApiError {
    let name = match scope {
        Scope::Public => "public",
        Scope::Decide => "decide",
        Scope::Ingest => "ingest",
        Scope::Admin => "admin",
        Scope::Results => "results",
    };
    ApiError::new(
        ErrorCode::Forbidden,
        format!("this needs a token with the '{name}' scope"),
        None,
    )
}

/// Compares two digests in time that depends on neither's content.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_their_scopes_and_nothing_else() {
        let auth = Auth::new(
            Some("s3cret".into()),
            &[TokenConfig {
                name: "orchestrator".into(),
                token: "d3cide".into(),
                scopes: vec![Scope::Decide],
            }],
        );
        assert!(auth.check(Scope::Public, None).is_ok());
        for scope in [Scope::Decide, Scope::Ingest, Scope::Admin, Scope::Results] {
            let code = |header| auth.check(scope, header).err().map(|e| e.body.code.name());
            assert_eq!(code(None), Some("unauthorized"), "{scope:?}");
            assert_eq!(code(Some("Bearer wrong")), Some("unauthorized"));
            assert_eq!(code(Some("Bearer s3cret2")), Some("unauthorized"));
            assert_eq!(code(Some("Basic s3cret")), Some("unauthorized"));
            assert_eq!(code(Some("Bearer s3cret")), None);
            assert_eq!(code(Some("bearer  s3cret ")), None);
            let expected = (scope != Scope::Decide).then_some("forbidden");
            assert_eq!(code(Some("Bearer d3cide")), expected, "{scope:?}");
        }
        let open = Auth::new(None, &[]);
        assert!(open.check(Scope::Admin, None).unwrap().may(Scope::Admin));
    }

    #[test]
    fn tokens_are_kept_as_digests_and_compared_whole() {
        let long = "k".repeat(10_000);
        let auth = Auth::new(Some(long.clone()), &[]);
        // The service keeps no token in the clear.
        assert!(!format!("{auth:?}").contains("kkkk"));
        let check = |given: &str| {
            auth.check(Scope::Admin, Some(&format!("Bearer {given}")))
                .is_ok()
        };
        assert!(check(&long));
        assert!(!check(&long[..9_999]));
        assert!(!check(&format!("{long}k")));
        assert!(!check("k"));
    }
}
