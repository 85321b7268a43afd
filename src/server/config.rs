//! `nextbest serve` configuration: defaults, then a TOML file, then `NEXTBEST_*` environment
//! variables, then command-line flags (each overrides the one before).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_file::{read_toml, ConfigFileError};
use crate::engine::{Acknowledge, Limits};
use crate::error::ErrorCode;
use crate::models::registry::ModelPaths;
use crate::server::auth::TokenConfig;
use crate::store::{StoreConfig, StoreLocation};

/// A configuration that cannot be used; the message starts with the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read or parsed.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// A value is out of range (from the file, the environment or a flag).
    #[error("{key}: {problem}")]
    Invalid {
        /// The key (`bind`, `limits.max_batch`) or variable (`NEXTBEST_WORKERS`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }

    /// Its code in the catalogue.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidConfig
    }
}

/// Everything `serve` needs. Every key is optional in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port (`127.0.0.1:8080`).
    pub bind: String,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// A bearer token with every scope. Prefer the `NEXTBEST_API_TOKEN` environment variable
    /// to writing it in a file.
    pub api_token: Option<String>,
    /// Bearer tokens, each with its scopes (`decide`, `ingest`, `admin`). With no token at all
    /// every route is open, which is allowed only on a loopback address (or with `insecure`).
    pub tokens: Vec<TokenConfig>,
    /// Allow serving a non-loopback address without any token (`--insecure`).
    pub insecure: bool,
    /// Model artifact folders served at start-up.
    pub models: ModelPaths,
    /// The folder reload requests may name models in (`POST /v1/models/reload`).
    pub models_dir: PathBuf,
    /// Action catalog (TOML or JSON).
    pub catalog: PathBuf,
    /// Folder of policy files.
    pub policies: PathBuf,
    /// Policy used when a request names none.
    pub default_policy: String,
    /// Where decisions, outcomes, profiles and experiments are kept: a SQLite file (created if
    /// missing; the default, `nextbest.db`) or a `postgres://` URL of a PostgreSQL database
    /// that several replicas share.
    pub database: StoreLocation,
    /// Journey events kept per customer in the profile store.
    pub max_events_per_customer: usize,
    /// Record each logged decision's chosen actions as exposures in the customer's profile.
    pub record_exposures: bool,
    /// When a decision is answered: `committed` (default: once its log record is in the
    /// database, so a crash loses no acknowledged decision) or `queued` (once queued for the
    /// writer: a little faster; a crash loses the last few milliseconds of decisions).
    pub acknowledge_decisions: Acknowledge,
    /// The embedded database's writer and caches.
    pub store: StoreSettings,
    /// Request limits.
    pub limits: Limits,
    /// The event log the journey analytics pages and `/v1/analytics/…` read.
    pub journeys: JourneySources,
}

/// `[journeys]`: the event file (and customer table) behind `/journeys` and `/v1/analytics/…`;
/// read once at start-up. Without `events`, those routes answer 404.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JourneySources {
    /// Event file (Parquet, CSV, JSONL).
    pub events: Option<PathBuf>,
    /// Customer table (for segments by attribute and signup cohorts).
    pub customers: Option<PathBuf>,
}

/// `[store]`: how the decision log is written and how much memory profiles may take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Memory for hot customer profiles, in MiB (events and their text). Profiles beyond it are
    /// read from the database again when needed.
    pub profile_cache_mb: usize,
    /// Decisions that may wait for the writer before the service answers 503
    /// `store_overloaded` (a stalled disk must not grow memory without end).
    pub queue_capacity: usize,
    /// How long the writer gathers decisions nobody waits for (acknowledged when queued) before
    /// committing them, in milliseconds. Decisions whose answer waits for the commit never
    /// wait for this: the writer commits as soon as it has taken what is queued.
    pub batch_linger_ms: u64,
    /// How long a cached profile may be served after it was read from the database, in
    /// milliseconds; 0 turns the cache off. Unset: until evicted on SQLite (this process is the
    /// only writer), off on PostgreSQL (other replicas write the same profiles).
    pub profile_cache_ttl_ms: Option<u64>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        let store = StoreConfig::default();
        StoreSettings {
            profile_cache_mb: store.profile_cache_bytes >> 20,
            queue_capacity: store.queue_capacity,
            batch_linger_ms: u64::try_from(store.batch_linger.as_millis()).unwrap_or(2),
            profile_cache_ttl_ms: None,
        }
    }
}

impl StoreSettings {
    /// The store's configuration for these settings.
    pub fn store_config(&self, max_events_per_customer: usize) -> StoreConfig {
        StoreConfig {
            max_events_per_customer,
            profile_cache_bytes: self.profile_cache_mb.saturating_mul(1 << 20),
            queue_capacity: self.queue_capacity,
            batch_linger: std::time::Duration::from_millis(self.batch_linger_ms),
            profile_cache_ttl: self
                .profile_cache_ttl_ms
                .map(std::time::Duration::from_millis),
            ..StoreConfig::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.queue_capacity == 0 || self.queue_capacity > 1_000_000 {
            return Err(ConfigError::invalid(
                "store.queue_capacity",
                "must be between 1 and 1000000",
            ));
        }
        if self.batch_linger_ms > 1_000 {
            return Err(ConfigError::invalid(
                "store.batch_linger_ms",
                "must be at most 1000 (milliseconds)",
            ));
        }
        if self.profile_cache_ttl_ms.is_some_and(|ms| ms > 3_600_000) {
            return Err(ConfigError::invalid(
                "store.profile_cache_ttl_ms",
                "must be at most 3600000 (an hour)",
            ));
        }
        if self.profile_cache_mb > 1 << 20 {
            return Err(ConfigError::invalid(
                "store.profile_cache_mb",
                "must be at most 1048576 (1 TiB)",
            ));
        }
        Ok(())
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            bind: "127.0.0.1:8080".into(),
            workers: None,
            max_body_bytes: 1 << 20,
            api_token: None,
            tokens: Vec::new(),
            insecure: false,
            models: ModelPaths::defaults_in(Path::new("models")),
            models_dir: PathBuf::from("models"),
            catalog: PathBuf::from("datasets/sample/catalog.toml"),
            policies: PathBuf::from("policies"),
            default_policy: "default".into(),
            database: StoreLocation::Sqlite(PathBuf::from("nextbest.db")),
            max_events_per_customer: 1_000,
            record_exposures: false,
            acknowledge_decisions: Acknowledge::Spooled,
            store: StoreSettings::default(),
            limits: Limits::default(),
            journeys: JourneySources::default(),
        }
    }
}

impl ServeConfig {
    /// Defaults, overridden by `file` (when given) and then by the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => read_toml(path)?,
            None => ServeConfig::default(),
        };
        config.apply_env(|key| std::env::var(key).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Applies `NEXTBEST_BIND`, `NEXTBEST_DATABASE`, `NEXTBEST_API_TOKEN`, `NEXTBEST_POLICIES`,
    /// `NEXTBEST_CATALOG`, `NEXTBEST_DEFAULT_POLICY` and `NEXTBEST_WORKERS`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var("NEXTBEST_BIND") {
            self.bind = v;
        }
        if let Some(v) = var("NEXTBEST_DATABASE") {
            self.database = StoreLocation::parse(&v)
                .map_err(|e| ConfigError::invalid("NEXTBEST_DATABASE", e.to_string()))?;
        }
        if let Some(v) = var("NEXTBEST_API_TOKEN") {
            self.api_token = (!v.is_empty()).then_some(v);
        }
        if let Some(v) = var("NEXTBEST_POLICIES") {
            self.policies = v.into();
        }
        if let Some(v) = var("NEXTBEST_CATALOG") {
            self.catalog = v.into();
        }
        if let Some(v) = var("NEXTBEST_DEFAULT_POLICY") {
            self.default_policy = v;
        }
        if let Some(v) = var("NEXTBEST_WORKERS") {
            self.workers = Some(v.parse().map_err(|_| {
                ConfigError::invalid("NEXTBEST_WORKERS", format!("not a number: '{v}'"))
            })?);
        }
        Ok(())
    }

    /// Checks ranges; the message starts with the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let Ok(address) = self.bind.parse::<std::net::SocketAddr>() else {
            return Err(ConfigError::invalid(
                "bind",
                format!(
                    "expected ADDRESS:PORT such as 127.0.0.1:8080, got '{}'",
                    self.bind
                ),
            ));
        };
        let open = self.api_token.is_none() && self.tokens.is_empty();
        if open && !address.ip().is_loopback() && !self.insecure {
            return Err(ConfigError::invalid(
                "bind",
                format!(
                    "{address} is reachable from other hosts and no token is configured, so anyone could read customers' data and reload models: configure tokens (or api_token / NEXTBEST_API_TOKEN), bind a loopback address, or pass --insecure"
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if token.name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("tokens[{i}].name"),
                    "must not be empty",
                ));
            }
            if token.token.trim().is_empty() || token.token.chars().any(char::is_whitespace) {
                return Err(ConfigError::invalid(
                    format!("tokens[{i}].token"),
                    "must be non-empty, without spaces",
                ));
            }
            if token.scopes.is_empty() {
                return Err(ConfigError::invalid(
                    format!("tokens[{i}].scopes"),
                    "must name at least one scope",
                ));
            }
            if !seen.insert(token.token.as_str()) {
                return Err(ConfigError::invalid(
                    format!("tokens[{i}].token"),
                    "is the same as another token's",
                ));
            }
        }
        if self
            .api_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::invalid(
                "api_token",
                "must not be empty (leave it out to disable auth)",
            ));
        }
        if self.workers == Some(0) {
            return Err(ConfigError::invalid("workers", "must be at least 1"));
        }
        if !(1024..=256 << 20).contains(&self.max_body_bytes) {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                format!(
                    "must be within 1 KiB..=256 MiB, got {}",
                    self.max_body_bytes
                ),
            ));
        }
        if self.max_events_per_customer == 0 {
            return Err(ConfigError::invalid(
                "max_events_per_customer",
                "must be at least 1",
            ));
        }
        let l = &self.limits;
        for (key, value) in [
            ("limits.max_candidates", l.max_candidates),
            ("limits.max_history", l.max_history),
            ("limits.max_string_chars", l.max_string_chars),
            ("limits.max_actions", l.max_actions),
            ("limits.max_batch", l.max_batch),
            ("limits.max_events", l.max_events),
            ("limits.max_context_keys", l.max_context_keys),
            ("limits.max_context_bytes", l.max_context_bytes),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be at least 1"));
            }
        }
        self.store.validate()
    }
}
