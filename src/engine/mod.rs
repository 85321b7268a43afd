//! The engine room: one decision end to end. [`Engine::decide`] checks the request
//! ([`validate`]), featurises the customer's history at the decision instant with the training
//! function and scores churn and sentiment ([`customer`]), scores every candidate's conversion
//! with and without the action, asks the policy ([`crate::decision`]) and logs the decision
//! ([`log`]). The models, catalog and policies it decides with are one set, swapped whole by a
//! reload ([`serving`]). No HTTP here: the server's routes and the batch scorer call it.
//!
//! It may import `decision`, `models`, `features`, `catalog`, `journey` and `store`; nothing
//! imports it but the surfaces (`server`, `cli`, and the batch scorer).

mod customer;
pub mod experiments;
mod log;
pub mod offline;
pub mod replay;
pub mod request;
pub mod serving;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub use log::Acknowledge;
pub use request::{
    CandidatePayload, CustomerPayload, DecisionContext, DecisionRequest, DecisionResponse,
    EventPayload, ExperimentRef, Limits, UnknownAttributes,
};
pub use serving::{ReloadRequest, ServingSet, SetSources};
pub use validate::{event_from_payload, events_for_store, MAX_EVENT_VALUE};

use crate::catalog::Catalog;
use crate::decision::{DecideOptions, DecisionError, PolicySet};
use crate::error::ErrorCode;
use crate::experiment::RunningExperiments;
use crate::features::aspects::{summarize, Taxonomy};
use crate::journey::Event;
use crate::models::explain::explain;
use crate::models::registry::ModelSet;
use crate::models::ModelError;
use crate::store::{ExperimentArm, PendingCommit, Store, StoreError, Waiter};

/// Most candidates of a decision [`Engine::decide_in_memory`] makes on the calling thread.
pub const IN_MEMORY_MAX_CANDIDATES: usize = 32;
/// Most inline history events of a decision [`Engine::decide_in_memory`] makes on the calling
/// thread (a stored profile is bounded by `max_events_per_customer`).
pub const IN_MEMORY_MAX_HISTORY: usize = 200;

/// A client mistake or a server failure while deciding; [`EngineError::code`] is stable.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A field of the request is invalid.
    #[error("{field}: {message}")]
    InvalidField {
        /// What kind of mistake (`invalid_field`, `too_many`, `unknown_action`, …).
        code: ErrorCode,
        /// The field, as a JSON path relative to the request (`candidates[3]`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A model failed to score.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A reload refused for what it would load (its message names no path of the host).
    #[error("{message}")]
    Refused {
        /// Why (`model_invalid`, `model_feature_mismatch`, …).
        code: ErrorCode,
        /// What is wrong.
        message: String,
    },
    /// Something the engine built itself was refused (a decision record, an exposure): a
    /// fault of the service, not of the request.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    pub(crate) fn field(
        code: ErrorCode,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        EngineError::InvalidField {
            code,
            field: field.into(),
            message: message.into(),
        }
    }

    /// Its code in the catalogue.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::InvalidField { code, .. } => *code,
            EngineError::Store(e) => e.code(),
            EngineError::Model(e) => e.code(),
            EngineError::Refused { code, .. } => *code,
            EngineError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The offending field, when there is one.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            EngineError::InvalidField { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<DecisionError> for EngineError {
    fn from(e: DecisionError) -> Self {
        let field = match &e {
            DecisionError::InvalidInput { field, .. } => field.clone(),
            DecisionError::DuplicateCandidate { index, .. } => format!("candidates[{index}]"),
        };
        EngineError::field(e.code(), field, e.to_string())
    }
}

/// Everything the engine serves with.
pub struct Engine {
    serving: RwLock<Arc<ServingSet>>,
    default_policy: String,
    sources: Option<SetSources>,
    store: Arc<Store>,
    limits: Limits,
    record_exposures: bool,
    acknowledge: Acknowledge,
    models_dir: PathBuf,
    reloading: Mutex<()>,
    running: RwLock<Arc<RunningExperiments>>,
}

/// Where the engine gets its parts.
pub struct EngineParts {
    /// Loaded models.
    pub models: ModelSet,
    /// The action catalog.
    pub catalog: Catalog,
    /// The decision policies.
    pub policies: PolicySet,
    /// Name of the policy used when a request names none.
    pub default_policy: String,
    /// The embedded database.
    pub store: Arc<Store>,
    /// Request limits.
    pub limits: Limits,
    /// Record each logged decision's chosen actions as `action` events in the customer's profile,
    /// so contact caps see them before the orchestration engine reports the send. Off by
    /// default: a decision is not a send (previews would burn caps, and reported sends would
    /// count twice).
    pub record_exposures: bool,
    /// When a logged decision is answered: once committed (the default) or once queued.
    pub acknowledge: Acknowledge,
    /// The folder a reload request may name models in (by folder name, or a path inside it).
    pub models_dir: PathBuf,
    /// Where a whole-set reload reads the catalog and the policies again (the configured
    /// files); `None`: a reload keeps the ones given here.
    pub sources: Option<SetSources>,
}

impl Engine {
    /// Builds an engine from its parts; fails when the default policy does not exist or the
    /// models cannot serve with the catalog ([`ModelSet::check_servable`]).
    pub fn new(parts: EngineParts) -> Result<Self, EngineError> {
        if parts.policies.get(&parts.default_policy).is_none() {
            return Err(EngineError::field(
                ErrorCode::UnknownPolicy,
                "default_policy",
                format!(
                    "no policy named '{}' (have: {})",
                    parts.default_policy,
                    parts.policies.names().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        parts.models.check_servable(&parts.catalog)?;
        let running = RunningExperiments::new(parts.store.experiments()?);
        Ok(Engine {
            serving: RwLock::new(Arc::new(ServingSet {
                models: Arc::new(parts.models),
                catalog: Arc::new(parts.catalog),
                policies: Arc::new(parts.policies),
            })),
            default_policy: parts.default_policy,
            sources: parts.sources,
            store: parts.store,
            limits: parts.limits,
            record_exposures: parts.record_exposures,
            acknowledge: parts.acknowledge,
            models_dir: parts.models_dir,
            reloading: Mutex::new(()),
            running: RwLock::new(Arc::new(running)),
        })
    }

    /// The default policy's name.
    pub fn default_policy(&self) -> &str {
        &self.default_policy
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A shared handle on the store, for work moved off the request thread.
    pub fn store_handle(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decides for one request and returns the answer once the decision is logged (committed,
    /// unless the engine acknowledges when queued). Blocking: it may read the store (a profile
    /// not in memory) and waits for the commit; from async code, run it on a blocking pool, or
    /// try [`Engine::decide_in_memory`] first.
    pub fn decide(&self, request: &DecisionRequest) -> Result<DecisionResponse, EngineError> {
        self.decide_logged(request)?.wait()
    }

    /// Decides for one request and queues its log record without waiting for the commit:
    /// [`Decided::wait`] gives the answer. Deciding many and then waiting for them all lets
    /// one commit cover them. Blocking, as [`Engine::decide`].
    pub fn decide_logged(&self, request: &DecisionRequest) -> Result<Decided, EngineError> {
        self.decide_from(request, None, Waiter::Thread)
    }

    /// Decides now if that needs neither a database read nor much CPU: the history is inline or
    /// its profile is in memory, and the request is small (at most
    /// [`IN_MEMORY_MAX_CANDIDATES`] candidates and [`IN_MEMORY_MAX_HISTORY`] inline events, no
    /// `explain`). The commit of its log record is awaited with [`Decided::answer`], which
    /// never blocks the thread. `None` means: call [`Engine::decide`] on a blocking pool.
    ///
    /// Why not always the pool: such a decision costs about 140 µs of CPU, and handing it to
    /// another thread and back costs about 60 µs more on a 2-core machine (throughput 12,000 →
    /// 7,500 decisions/s, `benches/load_test.sh`), for work that never blocks.
    pub fn decide_in_memory(
        &self,
        request: &DecisionRequest,
    ) -> Option<Result<Decided, EngineError>> {
        let small = request
            .candidates
            .as_ref()
            .is_none_or(|c| c.len() <= IN_MEMORY_MAX_CANDIDATES)
            && (request.candidates.is_some()
                || self.serving().catalog.actions.len() <= IN_MEMORY_MAX_CANDIDATES)
            && request
                .history
                .as_ref()
                .is_none_or(|h| h.len() <= IN_MEMORY_MAX_HISTORY);
        if !small || request.explain {
            return None;
        }
        let stored = match &request.history {
            Some(_) => None,
            None => Some(self.store.cached_history(&request.customer_id)?),
        };
        Some(self.decide_from(request, stored, Waiter::Task))
    }

    fn decide_from(
        &self,
        request: &DecisionRequest,
        cached: Option<crate::store::Profile>,
        waiter: Waiter,
    ) -> Result<Decided, EngineError> {
        let started = Instant::now();
        // One snapshot of models, catalog and policies for the whole decision: a reload
        // beside it is seen entirely or not at all.
        let set = self.serving();
        let models: &ModelSet = &set.models;
        let checks = validate::Checks {
            limits: &self.limits,
            catalog: &set.catalog,
            policies: &set.policies,
            default_policy: &self.default_policy,
            models,
        };
        // Everything the request says is checked before the store is read.
        let mut valid = checks.request(request)?;
        let now = valid.now;
        // A request that names no policy may be enrolled in a running experiment: its arm's
        // policy decides (a holdout's answer is emptied below, after the same work).
        let assignment = match request.policy {
            Some(_) => None,
            None => self.running_experiments().assign(
                &request.customer_id,
                request.context.placement.as_deref(),
                now,
            ),
        };
        if let Some(policy_name) = assignment.as_ref().and_then(|a| a.arm().policy.as_deref()) {
            if let Some(policy) = set.policies.get(policy_name) {
                valid.policy = policy;
                valid.policy_name = policy_name;
            }
        }

        let stored;
        let history: &[Event] = match &valid.history {
            Some(inline) => inline,
            None => {
                stored = match cached {
                    Some(profile) => profile,
                    None => self.store.history(&request.customer_id)?,
                };
                stored.as_slice()
            }
        };

        let mut customer = customer::score(models, valid.attributes.as_deref(), history, now)?;
        let (scored, _) =
            customer::candidate_scores(models, &customer.features, &valid.candidates)?;
        let state = customer::state(&valid, request, &mut customer);
        let (decision_id, seed) = log::new_decision_id();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let options = DecideOptions {
            max_actions: valid.max_actions,
            explain: request.explain,
            ..DecideOptions::default()
        };
        let mut decision = valid
            .policy
            .decide_with(&state, &scored, options, &mut rng)?;
        decision
            .warnings
            .splice(0..0, std::mem::take(&mut valid.warnings));
        let holdout = assignment.as_ref().is_some_and(|a| a.arm().is_holdout());
        let policy_name = if holdout {
            experiments::hold_out(&mut decision);
            experiments::HOLDOUT_POLICY
        } else {
            valid.policy_name
        };
        let experiment = assignment.as_ref().map(|a| ExperimentArm {
            experiment_id: a.experiment.id.clone(),
            arm: a.arm().name.clone(),
        });
        let explanations = if request.explain {
            explain(models, &customer.features)
        } else {
            Vec::new()
        };
        // Behind a low sentiment: what the customer wrote about (only when explaining).
        let sentiment_aspects = match (&models.sentiment, Taxonomy::shared_default()) {
            (Some(scorer), Some(taxonomy))
                if request.explain && customer.sentiment.is_some_and(|s| s < 0.5) =>
            {
                summarize(taxonomy, scorer, history, now, 90.0)
            }
            _ => Vec::new(),
        };
        let model_versions: BTreeMap<String, String> = models.versions().into_iter().collect();
        let mut commit = PendingCommit::none();
        if !request.dry_run {
            let logged = log::Logged {
                decision_id: &decision_id,
                request,
                policy_name,
                experiment: experiment.clone(),
                decision: &decision,
                model_versions: &model_versions,
                now,
                latency_us: elapsed_us(started),
            };
            commit = log::log(
                &self.store,
                logged,
                self.record_exposures,
                self.acknowledge,
                waiter,
            )?;
        }
        let response = DecisionResponse {
            decision_id,
            customer_id: request.customer_id.clone(),
            policy: policy_name.to_string(),
            experiment: experiment.map(|e| ExperimentRef {
                id: e.experiment_id,
                arm: e.arm,
            }),
            decision,
            p_churn: customer.p_churn,
            sentiment: customer.sentiment,
            model_versions,
            explanations,
            sentiment_aspects,
            dry_run: request.dry_run,
            latency_us: elapsed_us(started),
        };
        Ok(Decided { response, commit })
    }
}

/// A decision made, whose log record may still be on its way to the database. The answer is
/// given only once the record is committed (or queued, as the engine acknowledges), so that
/// an acknowledged decision survives a crash of the service.
#[derive(Debug)]
#[must_use = "a decision is answered through `wait` or `answer`"]
pub struct Decided {
    response: DecisionResponse,
    commit: PendingCommit,
}

impl Decided {
    /// The answer, once the decision is logged; blocks the thread until then.
    pub fn wait(self) -> Result<DecisionResponse, EngineError> {
        self.commit.wait().map_err(log::store_error)?;
        Ok(self.response)
    }

    /// The answer, once the decision is logged, without blocking the thread (for async
    /// handlers; the decision came from [`Engine::decide_in_memory`]).
    pub async fn answer(self) -> Result<DecisionResponse, EngineError> {
        self.commit.committed().await.map_err(log::store_error)?;
        Ok(self.response)
    }
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
