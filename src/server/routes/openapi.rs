//! `GET /openapi.json`: the API description, generated from the handlers and types.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use super::{decisions, events, health, models, outcomes, policies};
use crate::catalog::ActionKind;
use crate::decision::engine::{
    CandidatePayload, CustomerPayload, DecisionContext, DecisionRequest, DecisionResponse,
    EventPayload, Explanation, FeatureContribution,
};
use crate::decision::{
    Components, Decision, Exploration, Formula, Ineligible, PassedOver, RankedAction, ReasonCode,
};
use crate::server::error::ErrorBody;

/// Adds the bearer-token scheme the write endpoints use.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document of the service.
#[derive(OpenApi)]
#[openapi(
    info(title = "nextbest decision API", description = "Next-best-action decisions, events, outcomes and models."),
    paths(
        decisions::decide,
        decisions::decide_batch,
        events::ingest,
        outcomes::record,
        models::list,
        models::reload,
        policies::list,
        health::healthz,
        health::readyz,
        health::metrics
    ),
    components(schemas(
        DecisionRequest, DecisionResponse, DecisionContext, CustomerPayload, EventPayload,
        CandidatePayload, Explanation, FeatureContribution, ErrorBody,
        Decision, RankedAction, Components, Ineligible, PassedOver, ReasonCode, Formula,
        Exploration, ActionKind,
        decisions::BatchRequest, decisions::BatchResponse, decisions::BatchItem,
        events::EventsRequest, events::EventsResponse,
        outcomes::OutcomeRequest, outcomes::OutcomeResponse,
        models::ModelsResponse, policies::PoliciesResponse, policies::PolicyInfo
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Serve the document.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
