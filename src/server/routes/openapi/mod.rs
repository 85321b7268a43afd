//! `GET /openapi.json`: the API description, generated from the handlers and types, with the
//! limits the running service enforces written in ([`limits`]).

pub mod limits;

use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use super::{analytics, decisions, events, experiments, health, models, outcomes, policies};
use crate::catalog::{Action, ActionKind, ContactCaps, Eligibility};
use crate::decision::{
    Components, Decision, Exploration, Formula, Ineligible, PassedOver, RankedAction, ReasonCode,
};
use crate::engine::{
    CandidatePayload, CustomerPayload, DecisionContext, DecisionRequest, DecisionResponse,
    EventPayload, ExperimentRef,
};
use crate::error::ErrorCode;
use crate::experiment::analysis::{
    AnalysisSettings, ArmMetric, ArmTraffic, Comparison, CumulativePoint, ExperimentResults,
    MetricResult, MetricRole,
};
use crate::experiment::{Arm, ArmSpec, Experiment, ExperimentSpec, Metric, Status};
use crate::features::aspects::AspectSummary;
use crate::models::explain::{Explanation, FeatureContribution};
use crate::server::auth::Public;
use crate::server::error::ErrorBody;
use crate::server::extract::Authorized;
use crate::server::AppState;

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

/// Declares on every operation the statuses the service's common machinery can answer, so the
/// document tells the truth without each handler repeating them: 405 for another method on
/// the path; 401 and 403 where a scope is needed (`/v1/…`), with the bearer scheme; 400, 413
/// and 415 where a JSON body is read; 500 where the library can fail. The reload's optional
/// body is described too.
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
        use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let guarded = path.starts_with("/v1/");
            for operation in [item.get.as_mut(), item.post.as_mut(), item.put.as_mut()] {
                let Some(operation) = operation else {
                    continue;
                };
                // Reload's body is optional and described below; every other body is declared
                // by its handler.
                let takes_body = operation.request_body.is_some()
                    || matches!(path.as_str(), "/v1/models/reload" | "/v1/reload");
                let mut add = |status: &str, description: &str| {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error(description).into());
                };
                add(
                    "405",
                    "The path does not take this method (`Allow` lists those it does)",
                );
                if guarded {
                    add(
                        "401",
                        "A token is configured and the request has none, or an unknown one",
                    );
                    add("403", "The request's token lacks the scope this needs");
                    add(
                        "500",
                        "The service failed (`internal`, `store_io`, `model_scoring_failed`)",
                    );
                }
                if takes_body {
                    add("400", "The body or a field is invalid; `field` names it");
                    add("413", "The body exceeds server.max_body_bytes");
                    add(
                        "415",
                        "The body was not sent as Content-Type: application/json",
                    );
                }
                if guarded && operation.security.is_none() {
                    operation.security =
                        Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                            "bearer",
                            Vec::<String>::new(),
                        )]);
                }
            }
            let reload = match path.as_str() {
                "/v1/models/reload" => Some(false),
                "/v1/reload" => Some(true),
                _ => None,
            };
            if let Some(whole_set) = reload {
                if let Some(operation) = item.post.as_mut() {
                    let folder = |nullable: bool| {
                        let kind = if nullable {
                            SchemaType::from_iter([Type::String, Type::Null])
                        } else {
                            SchemaType::new(Type::String)
                        };
                        ObjectBuilder::new().schema_type(kind).min_length(Some(1))
                    };
                    let folders = ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .description(Some(
                            "Role → folder of the models directory (its name, e.g. \"churn_onnx\", or a path inside it). `null` unloads the sentiment or retention model; churn and conversion can be replaced, not unloaded (the policies score with them). An empty body reloads the same folders.",
                        ))
                        .property("churn", folder(false))
                        .property("conversion", folder(false))
                        .property("retention", folder(true))
                        .property("sentiment", folder(true))
                        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                        .build();
                    // The whole-set reload takes the same folders under `models`; the catalog
                    // and policies come from the configured files, never from the body.
                    let body = if whole_set {
                        ObjectBuilder::new()
                            .schema_type(Type::Object)
                            .description(Some(
                                "The model folders to change (absent: the same folders); the catalog and the policies are read again from the files configured at start-up. An empty body reloads everything from the same places.",
                            ))
                            .property("models", folders)
                            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                            .build()
                    } else {
                        folders
                    };
                    operation.request_body = Some(
                        RequestBodyBuilder::new()
                            .required(Some(Required::False))
                            .content(
                                "application/json",
                                ContentBuilder::new().schema(Some(body)).build(),
                            )
                            .build(),
                    );
                }
            }
        }
    }
}

/// The OpenAPI document of the service.
#[derive(OpenApi)]
#[openapi(
    info(title = "nextbest decision API", description = "Next-best-action decisions, events, outcomes, models, experiments and journey analytics."),
    paths(
        decisions::decide,
        decisions::decide_batch,
        events::ingest,
        outcomes::record,
        models::list,
        models::reload,
        models::reload_all,
        policies::list,
        experiments::create,
        experiments::list,
        experiments::get,
        experiments::replace,
        experiments::start,
        experiments::stop,
        experiments::ramp,
        experiments::results,
        analytics::kpis,
        analytics::funnel,
        analytics::paths,
        analytics::cohorts,
        analytics::pain_points,
        analytics::attribution,
        analytics::clv,
        analytics::dashboard,
        health::healthz,
        health::readyz,
        health::metrics
    ),
    components(schemas(
        DecisionRequest, DecisionResponse, DecisionContext, CustomerPayload, EventPayload,
        CandidatePayload, Explanation, FeatureContribution, AspectSummary, ErrorBody, ErrorCode,
        Decision, RankedAction, Components, Ineligible, PassedOver, ReasonCode, Formula,
        Exploration, ActionKind, Action, ContactCaps, Eligibility,
        decisions::BatchRequest, decisions::BatchResponse, decisions::BatchItem,
        events::EventsRequest, events::EventsResponse,
        outcomes::OutcomeRequest, outcomes::OutcomeResponse,
        models::ModelsResponse, models::ReloadResponse, policies::PoliciesResponse, policies::PolicyInfo,
        ExperimentRef, ExperimentSpec, ArmSpec, Experiment, Arm, Metric, Status,
        experiments::ExperimentList, experiments::TrafficRequest,
        ExperimentResults, AnalysisSettings, MetricResult, MetricRole, ArmMetric, Comparison,
        ArmTraffic, CumulativePoint
    )),
    modifiers(&BearerAuth, &CommonResponses)
)]
pub struct ApiDoc;

/// The document of a service with these limits.
pub fn document_for(limits: &crate::engine::Limits) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    for rule in limits::apply(&mut doc, limits) {
        tracing::warn!(rule, "an OpenAPI limit found no field to apply to");
    }
    doc
}

/// Serve the document.
pub async fn document(state: web::Data<AppState>, _: Authorized<Public>) -> HttpResponse {
    HttpResponse::Ok().json(document_for(state.engine.limits()))
}
