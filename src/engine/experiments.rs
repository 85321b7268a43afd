//! Experiments through the engine: defining and changing them (checked against the loaded
//! policies, stored, and the running set refreshed), and which arm decides a request.

use std::sync::Arc;

use crate::decision::{Decision, PolicySet};
use crate::error::ErrorCode;
use crate::experiment::analysis::{analyse, AnalysisSettings, ExperimentResults};
use crate::experiment::{Experiment, ExperimentSpec, RunningExperiments};
use crate::journey::Timestamp;
use crate::store::{ExperimentChange, Store};

use super::{Engine, EngineError};

/// The policy name a holdout arm's decisions are logged and answered with.
pub const HOLDOUT_POLICY: &str = "holdout";

/// Empties a decision: the holdout arm's "no action". What the policy would have done is
/// not shown (the caller must not act on it), and the answer is certain (propensity 1).
pub(super) fn hold_out(decision: &mut Decision) {
    decision.actions.clear();
    decision.passed_over.clear();
    decision.propensity = 1.0;
    decision.policy = HOLDOUT_POLICY.to_string();
}

/// Checks a definition against the loaded policies: a draft ready to store.
pub fn check(spec: &ExperimentSpec, policies: &PolicySet) -> Result<Experiment, EngineError> {
    spec.check(|name| policies.get(name).is_some(), Timestamp::now())
        .map_err(|e| match e.field() {
            Some(field) => EngineError::field(e.code(), field, e.to_string()),
            None => EngineError::Store(e.into()),
        })
}

/// Applies a change in the store and reads the experiment back. Blocking.
pub fn apply(store: &Store, id: &str, change: ExperimentChange) -> Result<Experiment, EngineError> {
    store.change_experiment(change)?;
    Ok(store.experiment(id)?)
}

/// Refuses to start an experiment whose arms name a policy that is no longer loaded.
pub fn check_startable(store: &Store, policies: &PolicySet, id: &str) -> Result<(), EngineError> {
    let experiment = store.experiment(id)?;
    for arm in &experiment.arms {
        if let Some(policy) = &arm.policy {
            if policies.get(policy).is_none() {
                return Err(EngineError::field(
                    ErrorCode::ExperimentConflict,
                    "arms",
                    format!(
                        "arm '{}' names policy '{policy}', which is not loaded",
                        arm.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An experiment's results from the committed log (everything acknowledged is included: the
/// store is flushed first). Errors: `unknown_experiment`, `invalid_field` for settings out of
/// range, `store_io`. Blocking.
pub fn results(
    store: &Store,
    id: &str,
    settings: &AnalysisSettings,
) -> Result<ExperimentResults, EngineError> {
    if !(settings.alpha > 0.0 && settings.alpha <= 0.5) {
        return Err(EngineError::field(
            ErrorCode::InvalidField,
            "alpha",
            "must be above 0 and at most 0.5",
        ));
    }
    if !(settings.tuning.is_finite() && settings.tuning >= 1.0 && settings.tuning <= 1e9) {
        return Err(EngineError::field(
            ErrorCode::InvalidField,
            "tuning",
            "must be a number of units from 1 to 1e9",
        ));
    }
    let experiment = store.experiment(id)?;
    store.flush()?;
    let (totals, daily) = store.experiment_totals(&experiment)?;
    Ok(analyse(&experiment, &totals, &daily, settings))
}

impl Engine {
    /// The running experiments as decisions see them now.
    pub fn running_experiments(&self) -> Arc<RunningExperiments> {
        match self.running.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the experiments again from the store (another replica, or the command line, may
    /// have changed them). Blocking.
    pub fn refresh_experiments(&self) -> Result<(), EngineError> {
        let fresh = Arc::new(RunningExperiments::new(self.store.experiments()?));
        match self.running.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    fn change_experiment(
        &self,
        id: &str,
        change: ExperimentChange,
    ) -> Result<Experiment, EngineError> {
        let changed = apply(&self.store, id, change)?;
        self.refresh_experiments()?;
        Ok(changed)
    }

    /// Defines a new experiment, as a draft. Blocking.
    pub fn create_experiment(&self, spec: &ExperimentSpec) -> Result<Experiment, EngineError> {
        let experiment = check(spec, &self.policies())?;
        self.change_experiment(&spec.id, ExperimentChange::Create(Box::new(experiment)))
    }

    /// Replaces a draft's definition (refused once started). Blocking.
    pub fn replace_experiment(&self, spec: &ExperimentSpec) -> Result<Experiment, EngineError> {
        let experiment = check(spec, &self.policies())?;
        self.change_experiment(&spec.id, ExperimentChange::Replace(Box::new(experiment)))
    }

    /// Starts a draft: from now on it assigns units. Blocking.
    pub fn start_experiment(&self, id: &str) -> Result<Experiment, EngineError> {
        check_startable(&self.store, &self.policies(), id)?;
        self.change_experiment(id, ExperimentChange::Start(id.to_string()))
    }

    /// Stops a running experiment; its data stays. Blocking.
    pub fn stop_experiment(&self, id: &str) -> Result<Experiment, EngineError> {
        self.change_experiment(id, ExperimentChange::Stop(id.to_string()))
    }

    /// Raises an experiment's traffic share. Blocking.
    pub fn ramp_experiment(&self, id: &str, traffic: f64) -> Result<Experiment, EngineError> {
        self.change_experiment(id, ExperimentChange::Ramp(id.to_string(), traffic))
    }
}
