//! `GET /v1/policies`.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::decision::PolicySpec;
use crate::server::auth::Decide;
use crate::server::extract::Authorized;
use crate::server::AppState;

/// One policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyInfo {
    /// Name, as requests give it.
    pub name: String,
    /// Whether requests without a policy get this one.
    pub default: bool,
    /// The full policy (eligibility, contact, arbitration, exploration).
    #[schema(value_type = Object)]
    pub spec: PolicySpec,
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
pub async fn list(state: web::Data<AppState>, _: Authorized<Decide>) -> HttpResponse {
    let engine = &state.engine;
    let policies = engine
        .policies()
        .iter()
        .map(|p| PolicyInfo {
            name: p.name().to_string(),
            default: p.name() == engine.default_policy(),
            spec: p.spec().clone(),
        })
        .collect();
    HttpResponse::Ok().json(PoliciesResponse { policies })
}
