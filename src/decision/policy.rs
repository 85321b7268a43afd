//! Decision policies: named configurations (one TOML or JSON file each, in `policies/`) of
//! eligibility, suitability, contact rules, arbitration and exploration. Policies are what
//! experiments compare.
//!
//! A policy's name is its file stem (`policies/default.toml` → `default`). Unknown keys and
//! out-of-range values are errors that name the key, e.g.
//! `arbitration.epsilon: must be in [0, 1], got 2`. Keys that only one formula or exploration
//! strategy reads are refused under the others, so a policy never carries settings that silently
//! do nothing.
//!
//! One file per concept: this file holds [`Policy`], [`PolicySet`] and [`PolicyError`]; `spec`
//! the sections of a policy file and their defaults; `load` reading files, folders and TOML text
//! (with TOML errors described by key and line); `validate` range and consistency checks and
//! [`Policy::check_against`].

use std::path::PathBuf;

mod load;
mod spec;
mod validate;

use crate::error::ErrorCode;
pub use spec::{
    ArbitrationSpec, ChannelCap, ContactSpec, ContextWeight, EligibilitySpec, Exploration,
    ExplorationKind, Formula, GlobalCap, KindThresholds, PolicySpec, SuitabilitySpec,
    UnknownConsent,
};
use validate::valid_name;
pub use validate::KeyProblem;

/// A problem with a policy. [`PolicyError::code`] gives a stable machine-readable code.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{file}: {cause}")]
    Io {
        /// The policy file or folder.
        file: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// The file is not valid TOML/JSON, has an unknown key, or a value of the wrong type.
    #[error("{file}: {problem}")]
    Parse {
        /// The policy file.
        file: PathBuf,
        /// What the parser said, starting with the key where it can be told.
        problem: String,
    },
    /// A value is out of range or inconsistent with the rest of the policy.
    #[error("{file}: {key}: {problem}")]
    Invalid {
        /// The policy file (or `<name>` for a policy built in memory).
        file: PathBuf,
        /// The dotted key, e.g. `arbitration.epsilon` or `contact.channel_caps[0].max`.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// The policy name (file stem) is not usable as an identifier.
    #[error("{file}: policy name '{name}' must be 1–64 characters of a–z, A–Z, 0–9, '_' or '-'")]
    BadName {
        /// The policy file.
        file: PathBuf,
        /// The rejected name.
        name: String,
    },
    /// Two files in a folder define the same policy name.
    #[error("{first} and {second} both define policy '{name}'")]
    Duplicate {
        /// The name.
        name: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
    /// A policy folder holds no `.toml` or `.json` file.
    #[error("{dir}: no policy files (*.toml or *.json)")]
    NoPolicies {
        /// The folder.
        dir: PathBuf,
    },
}

impl PolicyError {
    /// A stable, machine-readable code for this kind of error.
    pub fn code(&self) -> ErrorCode {
        match self {
            PolicyError::Io { .. } => ErrorCode::IoError,
            PolicyError::Parse { .. } => ErrorCode::InvalidPolicyFile,
            PolicyError::Invalid { .. } => ErrorCode::InvalidPolicy,
            PolicyError::BadName { .. } => ErrorCode::InvalidPolicyName,
            PolicyError::Duplicate { .. } => ErrorCode::DuplicatePolicy,
            PolicyError::NoPolicies { .. } => ErrorCode::NoPolicies,
        }
    }
}

/// A named, validated policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    name: String,
    spec: PolicySpec,
}

impl Policy {
    /// A policy from a spec built in code; validates it.
    pub fn new(name: impl Into<String>, spec: PolicySpec) -> Result<Self, PolicyError> {
        let name = name.into();
        let file = PathBuf::from(format!("<{name}>"));
        if !valid_name(&name) {
            return Err(PolicyError::BadName { file, name });
        }
        spec.validate().map_err(|p| PolicyError::Invalid {
            file,
            key: p.key,
            problem: p.problem,
        })?;
        Ok(Policy { name, spec })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the policy holds.
    pub fn spec(&self) -> &PolicySpec {
        &self.spec
    }
}

/// Every policy of a folder, by name.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// A set from policies built in code; a repeated name is an error.
    pub fn from_policies(policies: Vec<Policy>) -> Result<Self, PolicyError> {
        let mut policies = policies;
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(pair) = policies.windows(2).find(|w| w[0].name == w[1].name) {
            let name = pair[0].name.clone();
            return Err(PolicyError::Duplicate {
                first: PathBuf::from(format!("<{name}>")),
                second: PathBuf::from(format!("<{name}>")),
                name,
            });
        }
        Ok(PolicySet { policies })
    }

    /// The policy of that name.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.name.as_str())
    }

    /// The policies, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter()
    }

    /// How many policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}
