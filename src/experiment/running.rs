//! The experiments that assign units now, as the decision path sees them.

use std::sync::Arc;

use super::assignment::assign;
use super::definition::{Arm, Experiment};
use crate::journey::Timestamp;

/// An experiment's arm for one decision.
#[derive(Clone, Debug)]
pub struct Assignment {
    /// The experiment.
    pub experiment: Arc<Experiment>,
    /// The arm's index in `experiment.arms`.
    pub arm_index: usize,
}

impl Assignment {
    /// The arm.
    pub fn arm(&self) -> &Arm {
        &self.experiment.arms[self.arm_index]
    }
}

/// The running experiments, oldest first: a decision is enrolled in the first that takes it.
#[derive(Clone, Debug, Default)]
pub struct RunningExperiments {
    experiments: Vec<Arc<Experiment>>,
}

impl RunningExperiments {
    /// From the stored experiments (those not running are left out), ordered by start.
    pub fn new(experiments: impl IntoIterator<Item = Experiment>) -> Self {
        let mut running: Vec<Arc<Experiment>> = experiments
            .into_iter()
            .filter(|e| e.status == super::Status::Running)
            .map(Arc::new)
            .collect();
        running.sort_by(|a, b| (&a.started_at, &a.id).cmp(&(&b.started_at, &b.id)));
        RunningExperiments {
            experiments: running,
        }
    }

    /// Whether none is running.
    pub fn is_empty(&self) -> bool {
        self.experiments.is_empty()
    }

    /// The running experiments.
    pub fn iter(&self) -> impl Iterator<Item = &Experiment> {
        self.experiments.iter().map(|e| e.as_ref())
    }

    /// The arm of the first experiment that enrolls this decision: it assigns at `now`, its
    /// placement (if any) is the decision's, and the unit is in its traffic.
    pub fn assign(
        &self,
        unit: &str,
        placement: Option<&str>,
        now: Timestamp,
    ) -> Option<Assignment> {
        self.experiments.iter().find_map(|e| {
            if !e.assigns_at(now) {
                return None;
            }
            if e.placement.as_deref().is_some_and(|p| Some(p) != placement) {
                return None;
            }
            let arm = assign(e, unit)?;
            let arm_index = e.arms.iter().position(|a| a.name == arm.name)?;
            Some(Assignment {
                experiment: Arc::clone(e),
                arm_index,
            })
        })
    }
}
