//! Decisions: decision policies as a pure library — for one customer at
//! one instant, given the model scores the service computed, which actions to take.
//!
//! The steps, one module each:
//! - [`state`]: the inputs ([`CustomerState`], [`CandidateScores`]);
//! - [`policy`]: named policy files ([`Policy`], [`PolicySet`]) and their validation;
//! - [`eligibility`]: kinds, consent, unsubscribes, suitability rules;
//! - [`contact`]: caps and cool-downs from past exposures;
//! - [`arbitration`]: the scoring formulas (`expected_value`, `propensity`, `pega`, `rules`);
//! - [`exploration`]: greedy, ε-greedy and softmax picks with their probabilities;
//! - [`decide`]: [`Policy::decide`], which runs them in order;
//! - [`outcome`]: the answer ([`Decision`]) with reasons and stable ineligibility codes.
//!
//! No HTTP, no model loading, no clock: the same inputs and RNG seed give the same decision.

pub mod arbitration;
pub mod contact;
pub mod decide;
pub mod eligibility;
pub mod exploration;
pub mod outcome;
pub mod policy;
pub mod state;

pub use decide::{DecideOptions, DecisionError, NO_ACTION_ID};
pub use outcome::{Components, Decision, Ineligible, PassedOver, RankedAction, ReasonCode};
pub use policy::{Exploration, Formula, Policy, PolicyError, PolicySet, PolicySpec};
pub use state::{CandidateScores, ConsentMap, CustomerState, Exposure, Unsubscribes};
