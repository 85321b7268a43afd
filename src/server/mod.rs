//! `nextbest serve`: the HTTP decision service (actix-web). A thin layer: [`routes`] holds one
//! module per resource whose handlers take the guard and the body ([`extract`]), call the
//! library ([`crate::engine`], [`crate::store`], [`crate::models::registry`]) off the async
//! workers, and map errors ([`error`]).

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod routes;

use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Service;
use actix_web::{web, App, HttpResponse, HttpServer};

pub use config::ServeConfig;
use error::ApiError;
use metrics::Metrics;

use crate::catalog::Catalog;
use crate::decision::PolicySet;
use crate::engine::{DecisionResponse, Engine, EngineParts};
use crate::error::ErrorCode;
use crate::models::registry::ModelSet;
use crate::store::Store;

/// What every handler sees.
pub struct AppState {
    /// The decision engine (models, catalog, policies, store).
    pub engine: Engine,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Who may do what.
    pub auth: auth::Auth,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// The event log of the journey analytics, when one is configured.
    pub journeys: Option<Arc<crate::analytics::query::JourneyData>>,
}

impl AppState {
    /// Counts a decision's chosen actions and its engine time.
    pub fn observe(&self, response: &DecisionResponse) {
        let m = &self.metrics;
        m.decision_latency
            .with_label_values(&[response.policy.as_str()])
            .observe(response.latency_us as f64 / 1e6);
        for action in &response.decision.actions {
            // Inline candidates are the caller's: one label for all keeps the series bounded.
            let known = self.engine.catalog().get(&action.action_id).is_some()
                || action.action_id == crate::decision::NO_ACTION_ID;
            let label = if known {
                action.action_id.as_str()
            } else {
                "inline"
            };
            m.decisions
                .with_label_values(&[response.policy.as_str(), label])
                .inc();
        }
    }

    /// Counts an error response by code.
    pub fn count_error(&self, code: ErrorCode) {
        self.metrics.errors.with_label_values(&[code.name()]).inc();
    }

    /// Copies the decision log's counters into the metrics.
    pub fn refresh_store_metrics(&self) {
        let s = self.engine.store().stats();
        let gauge = |name: &str, value: u64| {
            self.metrics
                .store
                .with_label_values(&[name])
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        gauge("accepted", s.decisions_accepted);
        gauge("written", s.decisions_written);
        gauge("lost", s.decisions_lost);
        gauge("failed", s.decisions_failed);
        gauge("rejected_overloaded", s.decisions_rejected_overloaded);
        gauge("queue_depth", s.queue_depth);
        gauge("profile_cache_hits", s.profile_cache_hits);
        gauge("profile_cache_misses", s.profile_cache_misses);
    }
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The parts do not fit together (the default policy, the models and the catalog).
    #[error("{0}")]
    Parts(#[from] crate::engine::EngineError),
    /// The address cannot be bound.
    #[error("bind {bind}: {cause}")]
    Bind {
        /// The address.
        bind: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A part failed to load.
    #[error("{what}: {cause}")]
    Load {
        /// Which part.
        what: String,
        /// Why.
        cause: String,
    },
    /// The socket or the server failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Loads models, catalog, policies and the database as configured.
pub fn build_state(config: &ServeConfig) -> Result<AppState, ServeError> {
    // A reload names model folders; the runtime library must never come from one of them.
    crate::models::onnx::search_only_startup_locations();
    let load = |what: &str, cause: String| ServeError::Load {
        what: what.to_string(),
        cause,
    };
    let models = ModelSet::load(&config.models).map_err(|e| load("models", e.to_string()))?;
    let catalog = Catalog::load(&config.catalog).map_err(|e| load("catalog", e.to_string()))?;
    let policies =
        PolicySet::load_dir(&config.policies).map_err(|e| load("policies", e.to_string()))?;
    let store_config = store_config(config);
    let store = Store::open_with(&config.database, &store_config)
        .map_err(|e| load("database", e.to_string()))?;
    let engine = Engine::new(EngineParts {
        models,
        catalog,
        policies,
        default_policy: config.default_policy.clone(),
        store: Arc::new(store),
        limits: config.limits.clone(),
        record_exposures: config.record_exposures,
        acknowledge: config.acknowledge_decisions,
        models_dir: config.models_dir.clone(),
        sources: Some(crate::engine::SetSources {
            catalog: config.catalog.clone(),
            policies: config.policies.clone(),
        }),
    })?;
    // An id a policy names that the catalog lacks never matches: worth a word, not a refusal
    // (requests may bring their own candidates).
    for policy in engine.policies().iter() {
        for problem in policy.check_against(&engine.catalog()) {
            tracing::warn!(policy = policy.name(), %problem, "policy names an action the catalog lacks or misclassifies");
        }
    }
    let journeys = match &config.journeys.events {
        Some(events) => {
            let log = crate::analytics::EventLog::read(events, |_| {})
                .map_err(|e| load("journeys.events", e.to_string()))?;
            let table = config
                .journeys
                .customers
                .as_ref()
                .map(|p| crate::journey::CustomerTable::read(p, None))
                .transpose()
                .map_err(|e| load("journeys.customers", e.to_string()))?;
            tracing::info!(
                events = log.len(),
                customers = log.customer_count(),
                "journey analytics loaded"
            );
            // The models as loaded at start: sentiment of texts, incremental conversions.
            let models = Arc::new(
                ModelSet::load(&config.models).map_err(|e| load("models", e.to_string()))?,
            );
            // Texts are scored on the first request that needs them (start-up stays quick).
            let data = crate::analytics::query::JourneyData::new(log, table).with_models(models);
            Some(Arc::new(data))
        }
        None => None,
    };
    Ok(AppState {
        journeys,
        engine,
        metrics: Metrics::new().map_err(|e| load("metrics", e.to_string()))?,
        auth: auth::Auth::new(config.api_token.clone(), &config.tokens),
        max_body_bytes: config.max_body_bytes,
    })
}

/// Builds the app for a state (also used by tests through `actix_web::test`).
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        // A query string that does not parse (an unknown or malformed parameter) answers like
        // any other mistake: 400 in JSON naming it, never actix's plain-text default.
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::field(
                ErrorCode::InvalidField,
                "query",
                format!("the query string is invalid: {error}"),
            )
            .into()
        }))
        .configure(routes::configure)
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(error::ErrorBody {
                code: ErrorCode::NotFound,
                message: "no such route (see /openapi.json)".into(),
                field: None,
            })
        }))
        .wrap_fn(|req, service| {
            let route = req
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_string());
            // A label per method the API knows; anything invented shares one, so a caller cannot
            // grow the metrics without end.
            let method = match req.method().as_str() {
                known @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => known,
                _ => "other",
            }
            .to_string();
            let state = req.app_data::<web::Data<AppState>>().cloned();
            let started = Instant::now();
            let response = service.call(req);
            async move {
                let response = response.await?;
                if let Some(state) = state {
                    let status = response.status();
                    state
                        .metrics
                        .requests
                        .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
                        .inc();
                    state
                        .metrics
                        .latency
                        .with_label_values(&[route.as_str()])
                        .observe(started.elapsed().as_secs_f64());
                    if let Some(api) = response
                        .response()
                        .error()
                        .and_then(|e| e.as_error::<ApiError>())
                    {
                        state.count_error(api.body.code);
                        if status.is_server_error() {
                            tracing::error!(route, code = %api.body.code, message = %api.body.message, "request failed");
                        } else {
                            tracing::debug!(route, code = %api.body.code, message = %api.body.message, "request refused");
                        }
                    }
                }
                Ok(response)
            }
        })
}

/// How often a replica reads the experiments again.
pub const EXPERIMENT_REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves until SIGINT/SIGTERM, then drains in-flight requests and flushes the decision log.
pub async fn run(config: ServeConfig) -> Result<(), ServeError> {
    let state = web::Data::new(build_state(&config)?);
    let models = state.engine.models();
    tracing::info!(
        bind = %config.bind,
        models = ?models.versions(),
        policies = ?state.engine.policies().names().collect::<Vec<_>>(),
        default_policy = %config.default_policy,
        database = %config.database,
        auth = state.auth.enabled(),
        "nextbest serve starting"
    );
    if !state.auth.enabled() {
        tracing::warn!(
            bind = %config.bind,
            "no token is configured: every route is open to whoever can reach this address (allowed on loopback, or with --insecure)"
        );
    }
    let shared = state.clone();
    let mut server = HttpServer::new(move || app(shared.clone()))
        .bind(&config.bind)
        .map_err(|cause| ServeError::Bind {
            bind: config.bind.clone(),
            cause,
        })?
        .shutdown_timeout(10);
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    // Experiments changed elsewhere (another replica, `nextbest experiment` on the same
    // database) reach this one within the refresh period; changes made through this one's
    // API apply at once.
    let refresher = state.clone();
    actix_web::rt::spawn(async move {
        let mut every = actix_web::rt::time::interval(EXPERIMENT_REFRESH);
        loop {
            every.tick().await;
            let engine = refresher.clone();
            match web::block(move || engine.engine.refresh_experiments()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not refresh the experiments"),
                Err(e) => tracing::warn!(error = %e, "could not refresh the experiments"),
            }
        }
    });
    server.run().await?;
    tracing::info!("stopped accepting requests; flushing the decision log");
    state.engine.store().flush().map_err(|e| ServeError::Load {
        what: "database".into(),
        cause: e.to_string(),
    })?;
    tracing::info!("decision log flushed; bye");
    Ok(())
}

/// The store's configuration: the `[store]` settings, the per-customer event bound, and the
/// decision spool when decisions are acknowledged once spooled.
fn store_config(config: &ServeConfig) -> crate::store::StoreConfig {
    crate::store::StoreConfig {
        spool_decisions: config.acknowledge_decisions == crate::engine::Acknowledge::Spooled,
        ..config.store.store_config(config.max_events_per_customer)
    }
}
