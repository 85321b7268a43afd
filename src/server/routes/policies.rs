//! `GET /v1/policies`.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::decision::PolicySpec;
use crate::server::auth::{Decide, Scope};
use crate::server::extract::Authorized;
use crate::server::AppState;

/// One policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyInfo {
    /// Name, as requests give it.
    pub name: String,
    /// Whether requests without a policy get this one.
    pub default: bool,
    /// What it is for, from the policy file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The full policy (eligibility, contact, arbitration, exploration): for the `admin` scope
    /// only — caps and thresholds tell a caller how to game them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub spec: Option<PolicySpec>,
}

/// The policies.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PoliciesResponse {
    /// Every loaded policy, by name.
    pub policies: Vec<PolicyInfo>,
}

/// List the decision policies.
#[utoipa::path(
    get,
    path = "/v1/policies",
    responses((status = 200, description = "Policies", body = PoliciesResponse))
)]
pub async fn list(state: web::Data<AppState>, guard: Authorized<Decide>) -> HttpResponse {
    let admin = guard.caller().may(Scope::Admin);
    let engine = &state.engine;
    let policies = engine
        .policies()
        .iter()
        .map(|p| PolicyInfo {
            name: p.name().to_string(),
            default: p.name() == engine.default_policy(),
            description: p.spec().description.clone(),
            spec: admin.then(|| p.spec().clone()),
        })
        .collect();
    HttpResponse::Ok().json(PoliciesResponse { policies })
}
