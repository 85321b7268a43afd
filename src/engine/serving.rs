//! The set a decision is made with — models, catalog and policies — checked as a whole and
//! swapped whole. A decision takes one snapshot of the set ([`Engine::serving`]) and uses
//! nothing else, so a reload running beside it is seen entirely or not at all; a reload builds
//! the new set aside, checks it ([`set_problems`]) and only then swaps it in, so an
//! inconsistent set is refused whole and the old one keeps serving.
//!
//! What a reload may read is fixed at start-up: model folders of the configured models
//! directory ([`Engine::requested_folder`]), the configured catalog file and policy folder
//! ([`SetSources`]). A request never names a path of its own, and refusals do not echo the file
//! system.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::catalog::{Catalog, CatalogProblem};
use crate::decision::{PolicyError, PolicySet};
use crate::error::ErrorCode;
use crate::experiment::RunningExperiments;
use crate::journey::JourneyError;
use crate::models::registry::{ModelPathsUpdate, ModelSet};
use crate::models::ModelError;

use super::{Engine, EngineError};

/// The models, catalog and policies that decide together.
pub struct ServingSet {
    /// The loaded models.
    pub models: Arc<ModelSet>,
    /// The action catalog.
    pub catalog: Arc<Catalog>,
    /// The decision policies.
    pub policies: Arc<PolicySet>,
}

/// Where a whole-set reload reads the catalog and the policies: the files configured at
/// start-up, never a path a request names.
#[derive(Clone, Debug, PartialEq)]
pub struct SetSources {
    /// The catalog file (TOML or JSON).
    pub catalog: PathBuf,
    /// The folder of policy files.
    pub policies: PathBuf,
}

/// A whole-set reload (`POST /v1/reload`): the model folders to change (as
/// `POST /v1/models/reload` takes them; absent: the same folders), with the catalog and the
/// policies read again from their configured files.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadRequest {
    /// Role → folder of the models directory; `null` unloads an optional model. The object
    /// itself may be left out (same folders), not `null`.
    #[serde(default, deserialize_with = "present_object")]
    pub models: Option<ModelPathsUpdate>,
}

/// `models` when present: an object, never `null` (the document says so).
fn present_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ModelPathsUpdate>, D::Error> {
    ModelPathsUpdate::deserialize(deserializer).map(Some)
}

/// Everything that keeps `set` from serving as one: what the models and the catalog disagree
/// on ([`ModelSet::catalog_problems`]), a default policy that is missing, an action id a
/// policy names that the catalog lacks or misclassifies, and a running experiment's arm whose
/// policy is missing. Each problem names its key (`policies.pega.arbitration.levers.x`).
pub fn set_problems(
    set: &ServingSet,
    default_policy: &str,
    running: &RunningExperiments,
) -> Vec<CatalogProblem> {
    let mut problems = set.models.catalog_problems(&set.catalog);
    if set.policies.get(default_policy).is_none() {
        problems.push(CatalogProblem::new(
            "default_policy",
            format!(
                "no policy named '{default_policy}' (have: {})",
                set.policies.names().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for policy in set.policies.iter() {
        for p in policy.check_against(&set.catalog) {
            problems.push(CatalogProblem::new(
                format!("policies.{}.{}", policy.name(), p.key),
                p.problem,
            ));
        }
    }
    for experiment in running.iter() {
        for arm in &experiment.arms {
            if let Some(name) = &arm.policy {
                if set.policies.get(name).is_none() {
                    problems.push(CatalogProblem::new(
                        format!("experiments.{}.arms", experiment.id),
                        format!(
                            "arm '{}' of the running experiment decides with policy '{name}', which the policies lack",
                            arm.name
                        ),
                    ));
                }
            }
        }
    }
    problems
}

/// The refusal of an inconsistent set: `inconsistent_set`, the first problem's key as the
/// field, and every problem (up to ten) in the message.
pub fn inconsistent(problems: &[CatalogProblem]) -> Option<EngineError> {
    const SHOWN: usize = 10;
    let first = problems.first()?;
    let mut message = problems
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        message.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    Some(EngineError::field(
        ErrorCode::InconsistentSet,
        first.key.clone(),
        format!("the set was refused whole, the old one keeps serving: {message}"),
    ))
}

/// A configured file's error without its path: the caller learns what is wrong in the file
/// it configured, not where the host keeps it.
fn catalog_error(e: &JourneyError) -> EngineError {
    let message = match e {
        JourneyError::Invalid { problem, .. } => format!("the configured catalog: {problem}"),
        _ => "the configured catalog could not be read".to_string(),
    };
    EngineError::field(e.code(), "catalog", message)
}

fn policy_error(e: &PolicyError) -> EngineError {
    let name = |file: &Path| {
        file.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let message = match e {
        PolicyError::Io { .. } => "the configured policies could not be read".to_string(),
        PolicyError::Parse { file, problem } => format!("{}: {problem}", name(file)),
        PolicyError::Invalid { file, key, problem } => {
            format!("{}: {key}: {problem}", name(file))
        }
        PolicyError::BadName { file, name: bad } => format!(
            "{}: policy name '{bad}' must be 1–64 characters of a–z, A–Z, 0–9, '_' or '-'",
            name(file)
        ),
        PolicyError::Duplicate {
            name: policy,
            first,
            second,
        } => format!(
            "{} and {} both define policy '{policy}'",
            name(first),
            name(second)
        ),
        PolicyError::NoPolicies { .. } => "the configured policy folder holds no policy".into(),
    };
    EngineError::field(e.code(), "policies", message)
}

impl Engine {
    /// The set serving now: one consistent snapshot (take it once per decision).
    pub fn serving(&self) -> Arc<ServingSet> {
        match self.serving.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The models serving now.
    pub fn models(&self) -> Arc<ModelSet> {
        Arc::clone(&self.serving().models)
    }

    /// The catalog serving now.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.serving().catalog)
    }

    /// The policies serving now.
    pub fn policies(&self) -> Arc<PolicySet> {
        Arc::clone(&self.serving().policies)
    }

    /// Where a whole-set reload reads the catalog and the policies, when configured.
    pub fn sources(&self) -> Option<&SetSources> {
        self.sources.as_ref()
    }

    /// Loads new models (the current folders, with `update`'s replacing them), checks them
    /// with the catalog serving now, and swaps them in; on any error the old ones keep
    /// serving. Reloads run one at a time, so a slow reload cannot overwrite a newer one.
    pub fn reload(&self, update: Option<&ModelPathsUpdate>) -> Result<Arc<ModelSet>, EngineError> {
        let _one_at_a_time = self.one_reload_at_a_time();
        let current = self.serving();
        let models = self.load_models(&current, update)?;
        let problems = models.catalog_problems(&current.catalog);
        if let Some(refusal) = inconsistent(&problems) {
            return Err(refusal);
        }
        let fresh = ServingSet {
            models: Arc::new(models),
            catalog: Arc::clone(&current.catalog),
            policies: Arc::clone(&current.policies),
        };
        Ok(self.swap(fresh).models.clone())
    }

    /// A model reload a client asked for (`POST /v1/models/reload`): each folder must be a
    /// folder of the models directory ([`Engine::requested_folder`]), and the models the
    /// policies score with (churn, conversion) cannot be unloaded. Then as [`Engine::reload`].
    pub fn reload_requested(
        &self,
        update: &ModelPathsUpdate,
    ) -> Result<Arc<ModelSet>, EngineError> {
        let resolved = self.resolve(update)?;
        self.reload(Some(&resolved))
    }

    /// Reloads models, catalog and policies as one set (`POST /v1/reload`): the models named
    /// (folders of the models directory, as [`Engine::reload_requested`]) or the same folders,
    /// the catalog and the policies read again from their configured files (without
    /// [`SetSources`], the ones serving). The new set is checked as a whole
    /// ([`set_problems`], against the running experiments too) before anything is swapped; an
    /// inconsistent set is refused whole (`inconsistent_set`, naming every problem) and the old
    /// one keeps serving. So a model trained on new actions serves, beside the catalog that
    /// has them, without a restart.
    pub fn reload_all(&self, request: &ReloadRequest) -> Result<Arc<ServingSet>, EngineError> {
        // The folders sit under `models` in this request's body.
        let resolved = request
            .models
            .as_ref()
            .map(|update| self.resolve(update))
            .transpose()
            .map_err(|e| match e {
                EngineError::InvalidField {
                    code,
                    field,
                    message,
                } => EngineError::field(code, format!("models.{field}"), message),
                other => other,
            })?;
        let _one_at_a_time = self.one_reload_at_a_time();
        let current = self.serving();
        let (catalog, policies) = match &self.sources {
            Some(sources) => (
                Arc::new(Catalog::load(&sources.catalog).map_err(|e| catalog_error(&e))?),
                Arc::new(PolicySet::load_dir(&sources.policies).map_err(|e| policy_error(&e))?),
            ),
            None => (Arc::clone(&current.catalog), Arc::clone(&current.policies)),
        };
        let models = self.load_models(&current, resolved.as_ref())?;
        let fresh = ServingSet {
            models: Arc::new(models),
            catalog,
            policies,
        };
        let problems = set_problems(&fresh, &self.default_policy, &self.running_experiments());
        if let Some(refusal) = inconsistent(&problems) {
            return Err(refusal);
        }
        Ok(self.swap(fresh))
    }

    fn one_reload_at_a_time(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.reloading.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn load_models(
        &self,
        current: &ServingSet,
        update: Option<&ModelPathsUpdate>,
    ) -> Result<ModelSet, EngineError> {
        let paths = match update {
            Some(update) => current.models.paths.merged(update),
            None => current.models.paths.clone(),
        };
        ModelSet::load(&paths).map_err(|e| self.without_root(e))
    }

    /// A model error with the models directory's own path left out of its message (the
    /// caller named a folder in it; where the directory is stays the host's business).
    fn without_root(&self, e: ModelError) -> EngineError {
        let code = e.code();
        let root = self.models_dir.display().to_string();
        let message = e.to_string();
        let message = match root.as_str() {
            "" | "." => message,
            root => message.replace(&format!("{root}/"), ""),
        };
        if code.is_client_error() {
            EngineError::Refused { code, message }
        } else {
            EngineError::Model(e)
        }
    }

    fn swap(&self, fresh: ServingSet) -> Arc<ServingSet> {
        let fresh = Arc::new(fresh);
        match self.serving.write() {
            Ok(mut guard) => *guard = Arc::clone(&fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&fresh),
        }
        fresh
    }

    fn resolve(&self, update: &ModelPathsUpdate) -> Result<ModelPathsUpdate, EngineError> {
        let current = self.models();
        Ok(ModelPathsUpdate {
            churn: self.requested_folder("churn", &update.churn, current.churn.is_some())?,
            conversion: self.requested_folder(
                "conversion",
                &update.conversion,
                current.conversion.is_some(),
            )?,
            retention: self.requested_folder("retention", &update.retention, false)?,
            sentiment: self.requested_folder("sentiment", &update.sentiment, false)?,
        })
    }

    /// The folder a reload names for `role`, resolved inside the models directory: its name
    /// there, or a path that leads inside it — never anywhere else on the host, and the error
    /// never says whether some other path exists. `null` is refused when `needed`.
    fn requested_folder(
        &self,
        role: &str,
        requested: &Option<Option<PathBuf>>,
        needed: bool,
    ) -> Result<Option<Option<PathBuf>>, EngineError> {
        let folder = match requested {
            None => return Ok(None),
            Some(None) if needed => {
                return Err(EngineError::field(
                    ErrorCode::InvalidField,
                    role,
                    "the policies score with this model: it can be replaced, not unloaded",
                ))
            }
            Some(None) => return Ok(Some(None)),
            Some(Some(folder)) => folder,
        };
        let outside = || {
            EngineError::field(
                ErrorCode::InvalidField,
                role,
                "must name a model folder of the models directory (e.g. \"churn_onnx\")",
            )
        };
        let root = std::fs::canonicalize(&self.models_dir).map_err(|_| outside())?;
        // A bare name is a folder of the models directory; a path must lead inside it.
        let candidate = if folder.components().count() == 1 && folder.is_relative() {
            self.models_dir.join(folder)
        } else {
            folder.clone()
        };
        let real = std::fs::canonicalize(&candidate).map_err(|_| outside())?;
        let inside = real.strip_prefix(&root).map_err(|_| outside())?;
        if inside.as_os_str().is_empty() || !real.is_dir() {
            return Err(outside());
        }
        Ok(Some(Some(self.models_dir.join(inside))))
    }
}
