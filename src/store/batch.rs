//! What one batch of the writer's queue does inside its transaction, the same on every
//! backend: decisions (with their exposures) in runs, outcomes checked against their decision,
//! events appended, experiment changes applied, then the touched profiles pruned.

use super::backend::{DbError, WriteTx};
use super::experiments;
use super::writer::Message;
use super::{DecisionRecord, OutcomeRecord, StoreError};
use crate::journey::{Event, Timestamp};

/// How long before its decision an outcome may be dated: the caller's clock and the service's
/// differ a little.
const OUTCOME_CLOCK_SKEW_US: i64 = 5 * 60 * 1_000_000;
/// How long after its decision an outcome may be dated.
const OUTCOME_HORIZON_US: i64 = 366 * Timestamp::MICROS_PER_DAY;

/// What a committed batch did, for counters, the cache and the waiting callers.
pub(crate) struct Committed {
    pub(crate) written: u64,
    pub(crate) duplicate: u64,
    /// Whether a transaction was committed (a batch of flushes alone needs none).
    pub(crate) transaction: bool,
    /// One verdict per message of the batch (outcomes can be refused on their own).
    pub(crate) verdicts: Vec<Result<(), StoreError>>,
    /// Messages of the batch whose events were not written (a decision with exposures whose id
    /// was already logged): the cache must not gain them either.
    pub(crate) events_skipped: Vec<usize>,
}

impl Committed {
    /// A batch of flushes alone: nothing written, every flush answered.
    pub(crate) fn nothing(len: usize) -> Self {
        let mut committed = Committed::empty(len);
        committed.verdicts.resize_with(len, || Ok(()));
        committed
    }

    fn empty(len: usize) -> Self {
        Committed {
            written: 0,
            duplicate: 0,
            transaction: false,
            verdicts: Vec::with_capacity(len),
            events_skipped: Vec::new(),
        }
    }
}

/// Runs the batch inside the caller's transaction (the caller commits). Errors are the
/// database's (the whole batch is rolled back and retried); an outcome's or an experiment
/// change's own problems are its verdict and do not fail the batch.
pub(crate) fn apply<T: WriteTx + ?Sized>(
    tx: &mut T,
    batch: &[Message],
    max_events: usize,
) -> Result<Committed, DbError> {
    let mut committed = Committed::empty(batch.len());
    let mut touched: Vec<&str> = Vec::new();
    let mut index = 0;
    while index < batch.len() {
        match &batch[index] {
            Message::Decision(..) => {
                // A run of decisions goes in together (one statement per table where the
                // backend can), their exposures after them in queue order.
                let run: Vec<(&DecisionRecord, &Vec<Event>)> = batch[index..]
                    .iter()
                    .map_while(|m| match m {
                        Message::Decision(record, events, ..) => Some((record.as_ref(), events)),
                        _ => None,
                    })
                    .collect();
                let records: Vec<&DecisionRecord> = run.iter().map(|(r, _)| *r).collect();
                let inserted = tx.insert_decisions(&records)?;
                let mut exposures: Vec<&Event> = Vec::new();
                for (offset, ((_, events), new)) in run.iter().zip(inserted).enumerate() {
                    // A retried request (same id) must not send its exposures twice either.
                    if new {
                        committed.written += 1;
                        exposures.extend(events.iter());
                    } else {
                        committed.duplicate += 1;
                        committed.events_skipped.push(index + offset);
                    }
                    committed.verdicts.push(Ok(()));
                }
                if !exposures.is_empty() {
                    tx.insert_events(&exposures)?;
                    touched.extend(exposures.iter().map(|e| e.customer_id.as_str()));
                }
                index += run.len();
                continue;
            }
            Message::Outcome(outcome, _) => {
                let verdict = record_outcome(tx, outcome)?;
                committed.verdicts.push(verdict);
            }
            Message::Experiment(change, _) => {
                let verdict = experiments::apply(tx, change)?;
                committed.verdicts.push(verdict);
            }
            Message::Events(events, _) => {
                let events: Vec<&Event> = events.iter().collect();
                tx.insert_events(&events)?;
                touched.extend(events.iter().map(|e| e.customer_id.as_str()));
                committed.verdicts.push(Ok(()));
            }
            Message::Flush(_) => committed.verdicts.push(Ok(())),
        }
        index += 1;
    }
    touched.sort_unstable();
    touched.dedup();
    if !touched.is_empty() {
        tx.prune_events(&touched, max_events)?;
    }
    committed.transaction = true;
    Ok(committed)
}

/// Checks the outcome against its decision and stores it. The outer error is the database's;
/// the inner one is the outcome's verdict.
fn record_outcome<T: WriteTx + ?Sized>(
    tx: &mut T,
    o: &OutcomeRecord,
) -> Result<Result<(), StoreError>, DbError> {
    let Some(created) = tx.decision_created(&o.decision_id)? else {
        return Ok(Err(StoreError::UnknownDecision {
            decision_id: o.decision_id.clone(),
        }));
    };
    // What happened after a decision happened after it (give or take the clocks of the caller
    // and of the service), and not years later.
    let earliest = created.saturating_sub(OUTCOME_CLOCK_SKEW_US);
    let latest = created.saturating_add(OUTCOME_HORIZON_US);
    if o.at.0 < earliest || o.at.0 > latest {
        return Ok(Err(StoreError::InvalidOutcome {
            field: "at",
            problem: format!(
                "{} is not within the decision's window ({} − 5 minutes … + 366 days)",
                o.at,
                Timestamp(created)
            ),
        }));
    }
    if let Some(action_id) = &o.action_id {
        let chosen = tx.decision_action_ids(&o.decision_id)?;
        if !chosen.iter().any(|a| a == action_id) {
            let problem = if chosen.is_empty() {
                format!(
                    "'{action_id}' given, but decision '{}' chose no action",
                    o.decision_id
                )
            } else {
                format!(
                    "'{action_id}' is not one of decision '{}''s actions ({})",
                    o.decision_id,
                    chosen.join(", ")
                )
            };
            return Ok(Err(StoreError::InvalidOutcome {
                field: "action_id",
                problem,
            }));
        }
    }
    // Counted once: a repeat of the same (decision, type, action) — a retried request, a
    // forged duplicate, the same outcome sent to two replicas — is acknowledged and not stored
    // again; the first one stands.
    tx.insert_outcome_once(o, Timestamp::now())?;
    Ok(Ok(()))
}
