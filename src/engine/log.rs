//! What a decision leaves behind: its id, its record in the decision log and, when the service
//! records exposures, the `action` events of what it chose — stored together or not at all.

use std::collections::BTreeMap;

use rand::RngCore;

use crate::catalog::ActionKind;
use crate::decision::Decision;
use crate::journey::{Event, EventType, Timestamp};
use crate::store::{
    DecisionRecord, ExperimentArm, LoggedAction, PendingCommit, Store, StoreError, Waiter,
};

use super::request::DecisionRequest;
use super::EngineError;

/// A 128-bit id in hex, laid out as a UUIDv7: 48 bits of milliseconds since the epoch, then 80
/// random bits. Unique without coordination between replicas, sortable by time, and, because
/// new ids land at the end of the decision log's index instead of anywhere in it, cheap to
/// insert however large the log grows. The random part seeds the decision's exploration, so a
/// logged decision can be replayed.
pub(super) fn new_decision_id() -> (String, u64) {
    let mut rng = rand::rng();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let time = (millis as u64) & 0xffff_ffff_ffff;
    let (random_high, random_low) = (rng.next_u64() & 0xffff, rng.next_u64());
    let id = format!("{time:012x}{random_high:04x}{random_low:016x}");
    (id, random_low ^ (random_high << 48))
}

/// One decision to log.
pub(super) struct Logged<'a> {
    pub decision_id: &'a str,
    pub request: &'a DecisionRequest,
    pub policy_name: &'a str,
    pub experiment: Option<ExperimentArm>,
    pub decision: &'a Decision,
    pub model_versions: &'a BTreeMap<String, String>,
    pub now: Timestamp,
    pub latency_us: u64,
}

/// When the service answers a decision that it logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acknowledge {
    /// Once its record is committed to the database: a crash of the service after the answer
    /// loses nothing, and an outcome sent for it always finds it. The writer commits many
    /// decisions per transaction (group commit), so this costs a wait, not throughput. What
    /// [`Spooled`](Self::Spooled) is on PostgreSQL.
    Committed,
    /// The default. Once its record is durable in the decision spool beside a SQLite log (one
    /// append to a plain file, which a crash of the process does not undo; replayed into the
    /// log when the store next opens), before the log's own commit: as safe against `kill -9`
    /// as `Committed` (SQLite's commits are not fsynced either), with a tail close to
    /// `Queued`'s. Its exposures are in the customer's profile at once. Two differences: a
    /// failure of the later commit is logged and counted, not answered (the decision stays in
    /// the spool and is retried at the next start), and until that commit only
    /// [`Store::decision`](crate::store::Store::decision) and reads after a flush see it in the
    /// log. On PostgreSQL it is `Committed`.
    #[default]
    Spooled,
    /// Once its record is queued for the writer: a little faster, and a crash (`kill -9`, out
    /// of memory) loses the decisions still queued, normally the last few milliseconds'.
    Queued,
}

/// Logs the decision and returns how to learn of its commit. With `record_exposures` (and the
/// history coming from the profile store) its chosen actions are appended to the customer's
/// profile in the same transaction, and the answer always waits until both are durable (spooled
/// or committed, as `acknowledge` says; never just queued): a caller told of an error knows
/// nothing was logged.
pub(super) fn log(
    store: &Store,
    logged: Logged<'_>,
    record_exposures: bool,
    acknowledge: Acknowledge,
    waiter: Waiter,
) -> Result<PendingCommit, EngineError> {
    write(store, logged, record_exposures, acknowledge, waiter).map_err(store_error)
}

/// The engine's reading of a store error met while logging a decision.
pub(super) fn store_error(e: StoreError) -> EngineError {
    match e {
        // The record and the exposures are the engine's own making: if the store refuses them
        // the service is at fault, and the caller must not read it as their mistake.
        StoreError::InvalidDecision { .. } | StoreError::InvalidEvent { .. } => {
            EngineError::Internal(e.to_string())
        }
        other => EngineError::Store(other),
    }
}

fn write(
    store: &Store,
    logged: Logged<'_>,
    record_exposures: bool,
    acknowledge: Acknowledge,
    waiter: Waiter,
) -> Result<PendingCommit, StoreError> {
    let Logged {
        decision_id,
        request,
        policy_name,
        experiment,
        decision,
        model_versions,
        now,
        latency_us,
    } = logged;
    let context =
        serde_json::to_value(&request.context).map_err(|e| StoreError::InvalidDecision {
            field: "context".into(),
            problem: format!("cannot be stored as JSON: {e}"),
        })?;
    let record = DecisionRecord {
        decision_id: decision_id.to_string(),
        customer_id: request.customer_id.clone(),
        policy: policy_name.to_string(),
        experiment,
        actions: decision
            .actions
            .iter()
            .map(|a| LoggedAction {
                action_id: a.action_id.clone(),
                rank: a.rank,
                score: a.score,
                propensity: a.propensity,
            })
            .collect(),
        model_versions: model_versions.clone(),
        context,
        created: now,
        latency_us,
        dry_run: false,
    };
    // An inline history is the caller's own record of the customer: the profile is not ours to
    // append to.
    let exposures = if record_exposures && request.history.is_none() {
        exposure_events(&request.customer_id, decision, now)
    } else {
        Vec::new()
    };
    let waiter = if exposures.is_empty() && acknowledge == Acknowledge::Queued {
        Waiter::Nobody
    } else {
        waiter
    };
    store.log_decision(record, exposures, waiter)
}

/// The chosen actions as `action` events (doing nothing is not a contact).
fn exposure_events(customer_id: &str, decision: &Decision, now: Timestamp) -> Vec<Event> {
    decision
        .actions
        .iter()
        .filter(|a| a.kind != ActionKind::None)
        .map(|a| Event {
            customer_id: customer_id.to_string(),
            timestamp: now,
            event_type: EventType::Action,
            channel: Some(a.channel.clone()),
            action_id: Some(a.action_id.clone()),
            value: None,
            text: None,
            anonymous_id: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ActionKind;
    use crate::decision::{Components, Exploration, Formula, RankedAction};
    use crate::journey::Channel;

    #[test]
    fn a_record_the_store_refuses_is_the_service_s_fault() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("log.db")).unwrap();
        let request: DecisionRequest =
            serde_json::from_value(serde_json::json!({"customer_id": "C-1"})).unwrap();
        // A score no policy produces: the record fails the store's checks.
        let decision = Decision {
            policy: "default".into(),
            formula: Formula::ExpectedValue,
            exploration: Exploration::None,
            actions: vec![RankedAction {
                action_id: "email_discount".into(),
                kind: ActionKind::Sales,
                channel: Channel::Email,
                rank: 1,
                score: f64::NAN,
                components: Components::default(),
                propensity: 1.0,
                explored: false,
                reasons: Vec::new(),
            }],
            propensity: 1.0,
            passed_over: Vec::new(),
            ineligible: Vec::new(),
            warnings: Vec::new(),
        };
        let versions = BTreeMap::new();
        let logged = Logged {
            decision_id: "d-1",
            request: &request,
            policy_name: "default",
            experiment: None,
            decision: &decision,
            model_versions: &versions,
            now: Timestamp(1_750_000_000_000_000),
            latency_us: 1,
        };
        let error = log(
            &store,
            logged,
            false,
            Acknowledge::Committed,
            Waiter::Thread,
        )
        .unwrap_err();
        assert_eq!(error.code(), "internal", "{error}");
        assert_eq!(error.code().http_status(), 500);
    }

    #[test]
    fn decision_ids_are_32_hex_digits_led_by_the_time() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let (id, _) = new_decision_id();
        let (other, _) = new_decision_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(id, other);
        let millis = u64::from_str_radix(&id[..12], 16).unwrap_or(0);
        assert!(millis >= before && millis < before + 60_000, "{id}");
        // Lexical order follows time: an id from an earlier millisecond sorts first.
        assert!(format!("{:012x}", before - 1).as_str() < &id[..12]);
    }
}
