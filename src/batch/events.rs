//! Scoring from journey events. Events arrive in any order, so each customer's state is kept
//! until the input is read: the feature accumulator the service fills (a few hundred bytes per
//! customer, plus a year of sends and purchases for the response features and every past send
//! for the contact rules; never the events themselves). When those
//! would outgrow the memory budget, the run makes several passes over the input, each for the
//! customers of one hash bucket. Once a pass is read, its customers are scored across cores and
//! written in customer-id order.

use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::input::{customer_seed, pass_of, Mode, Progress, ScoreOptions, Summary, Tally};
use super::output::{schema, OutputWriter, Rows, RunLabels};
use super::BatchError;
use crate::engine::offline::{consent_from_attributes, OfflineDecider};
use crate::features::matrix::Attributes;
use crate::features::FeatureAccumulator;
use crate::journey::{AttrValue, CustomerTable, EventReader, Format, ReadOptions, Timestamp};

/// Customers scored per parallel step: bounds the rows held before writing.
const STEP_CUSTOMERS: usize = 32 * 1024;
/// Customers per worker task.
const TASK_CUSTOMERS: usize = 512;

/// The events to score from.
pub struct EventsInput<'a> {
    /// Event files (a partitioned dataset's parts, or one file).
    pub files: Vec<PathBuf>,
    /// Force a format instead of telling it from the extension.
    pub format: Option<Format>,
    /// Customer attributes (consent, plan, …), when there is a table.
    pub customers: Option<&'a CustomerTable>,
}

/// Labels shared by every row: the policy and model versions of a decider.
pub fn labels(decider: &OfflineDecider<'_>) -> RunLabels {
    let versions: FxHashMap<String, String> = decider.models().versions().into_iter().collect();
    RunLabels {
        policy: decider.policy().name().to_string(),
        churn_model: versions.get("churn").map(|v| format!("churn/{v}")),
        conversion_model: versions
            .get("conversion")
            .map(|v| format!("conversion/{v}")),
    }
}

/// The JSON kept in the output's metadata: policy, model versions, as-of, mode.
pub fn run_metadata(decider: &OfflineDecider<'_>, options: &ScoreOptions) -> String {
    serde_json::json!({
        "policy": decider.policy().name(),
        "models": decider.models().versions().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        "as_of": options.as_of.map(|t| t.to_rfc3339()),
        "mode": match options.mode { Mode::Decisions => "decisions", Mode::Predictions => "predictions" },
        "top_k": options.top_k,
        "explore_seed": options.explore_seed,
        "shard": format!("{}/{}", options.shard.index, options.shard.count),
        "engine": concat!("nextbest ", env!("CARGO_PKG_VERSION")),
    })
    .to_string()
}

/// One pass's customers: id → accumulated history.
type Accumulators<'m> = FxHashMap<String, FeatureAccumulator<'m>>;

/// Scores every customer of the events (and of the segment or customer table) as of
/// `options.as_of`, writing `out`; see the module documentation.
pub fn score_events(
    decider: &OfflineDecider<'_>,
    input: &EventsInput<'_>,
    options: &ScoreOptions,
    out: &std::path::Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary, BatchError> {
    let began = Instant::now();
    let as_of = options
        .as_of
        .ok_or_else(|| BatchError::invalid("--as-of", "scoring from events needs an instant"))?;
    let spec = decider.spec();
    let mapping = input
        .customers
        .map(|table| spec.attribute_mapping(table))
        .transpose()
        .map_err(|e| BatchError::invalid("--customers", e.to_string()))?;
    let attributes = input
        .customers
        .zip(mapping.as_ref())
        .map(|(t, m)| Attributes::new(t, m));
    // The struct and its map entry (id included); what it holds on the heap is counted apart.
    let per_customer = std::mem::size_of::<FeatureAccumulator<'_>>() + 128;
    let mut passes = 1u32;
    let mut writer =
        OutputWriter::create(out, schema(options.mode, &run_metadata(decider, options)))?;
    let labels = labels(decider);
    let mut summary = Summary::default();
    let mut pass = 0;
    while pass < passes {
        let read = read_pass(
            decider,
            input,
            options,
            as_of,
            pass,
            passes,
            per_customer,
            progress,
        )?;
        let (accumulators, read_summary) = match read {
            PassRead::Done(accumulators, summary) => (accumulators, summary),
            PassRead::Restart(wanted) => {
                // Only the first pass restarts, before anything was written.
                passes = wanted;
                continue;
            }
        };
        // Every pass reads the whole input: count its rows (and skipped rows) once.
        if pass == 0 {
            summary.merge(read_summary);
        }
        let customers = customers_of_pass(
            accumulators,
            input,
            attributes,
            options,
            as_of,
            pass,
            passes,
            spec.signup_index(),
        );
        let pass_summary = score_customers(
            decider,
            customers,
            attributes,
            input.customers,
            options,
            as_of,
            &labels,
            &mut writer,
            (pass + 1, passes),
            progress,
        )?;
        summary.merge(pass_summary);
        pass += 1;
    }
    summary.rows = writer.finish()?;
    summary.passes = passes;
    summary.seconds = began.elapsed().as_secs_f64();
    Ok(summary)
}

enum PassRead<'m> {
    Done(Accumulators<'m>, Summary),
    Restart(u32),
}

#[allow(clippy::too_many_arguments)]
fn read_pass<'m>(
    decider: &OfflineDecider<'m>,
    input: &EventsInput<'_>,
    options: &ScoreOptions,
    as_of: Timestamp,
    pass: u32,
    passes: u32,
    per_customer: usize,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<PassRead<'m>, BatchError> {
    let mut accumulators: Accumulators<'m> = FxHashMap::default();
    let mut summary = Summary::default();
    let files = input.files.len().max(1) as f64;
    let mut rows_read = 0u64;
    // What the accumulators hold on the heap (their histories), kept up to date per event.
    let mut heap = 0usize;
    for (f, file) in input.files.iter().enumerate() {
        let mut reader = EventReader::open(
            file,
            ReadOptions {
                format: input.format,
                strict: !options.skip_invalid,
                ..ReadOptions::default()
            },
        )?
        .prefetch(4);
        while let Some(chunk) = reader.next() {
            let chunk = chunk?;
            summary.input_rows += (chunk.events.len() + chunk.problems.len()) as u64;
            summary.invalid_rows_skipped += chunk.problems.len() as u64;
            for problem in chunk.problems {
                summary.note_invalid(problem.into_error(file).to_string());
            }
            for event in &chunk.events {
                let id = event.customer_id.as_str();
                // Visitor events are not linked to customers in batch scoring (yet).
                if event.is_anonymous() || !wanted(id, options, pass, passes) {
                    continue;
                }
                match accumulators.get_mut(id) {
                    Some(accumulator) => {
                        let before = accumulator.heap_bytes();
                        accumulator.observe(event);
                        heap = (heap + accumulator.heap_bytes()).saturating_sub(before);
                    }
                    None => {
                        let mut accumulator = decider.accumulator(as_of)?;
                        accumulator.observe(event);
                        heap += accumulator.heap_bytes();
                        accumulators.insert(id.to_string(), accumulator);
                    }
                }
            }
            rows_read += chunk.events.len() as u64;
            let at = reader.progress();
            progress(Progress {
                unit: "events",
                done: rows_read,
                total: None,
                pass: (pass + 1, passes),
            });
            let held = accumulators
                .len()
                .saturating_mul(per_customer)
                .saturating_add(heap);
            if held > options.memory_budget && pass == 0 {
                let file_share = at
                    .total
                    .filter(|&t| t > 0)
                    .map_or(0.5, |t| at.done as f64 / t as f64);
                let fraction = ((f as f64 + file_share) / files).clamp(0.01, 1.0);
                let expected = held as f64 / fraction;
                let wanted = (expected * 1.25 / options.memory_budget.max(1) as f64).ceil();
                let wanted = (wanted as u32).max(passes.saturating_mul(2));
                return Ok(PassRead::Restart(wanted));
            }
        }
    }
    debug_assert_eq!(
        heap,
        accumulators.values().map(|a| a.heap_bytes()).sum::<usize>(),
        "the running heap total drifted"
    );
    Ok(PassRead::Done(accumulators, summary))
}

fn wanted(id: &str, options: &ScoreOptions, pass: u32, passes: u32) -> bool {
    options.shard.owns(id)
        && options.segment.as_ref().is_none_or(|s| s.contains(id))
        && pass_of(id, passes) == pass
}

/// The pass's customers in id order: the segment's (scored even without history: they were
/// asked for), or else everyone with an event before the instant and everyone in the customer
/// table who had signed up by then.
#[allow(clippy::too_many_arguments)]
fn customers_of_pass<'m>(
    mut accumulators: Accumulators<'m>,
    input: &EventsInput<'_>,
    attributes: Option<Attributes<'_>>,
    options: &ScoreOptions,
    as_of: Timestamp,
    pass: u32,
    passes: u32,
    signup: Option<usize>,
) -> Vec<(String, Option<FeatureAccumulator<'m>>)> {
    let mut customers: Vec<(String, Option<FeatureAccumulator<'m>>)> = Vec::new();
    if let Some(segment) = &options.segment {
        for id in segment.ids().filter(|id| wanted(id, options, pass, passes)) {
            let accumulator = accumulators.remove(id);
            customers.push((id.to_string(), accumulator));
        }
    } else {
        if let (Some(table), Some(attrs)) = (input.customers, attributes) {
            for id in table
                .ids()
                .iter()
                .filter(|id| wanted(id, options, pass, passes))
            {
                let accumulator = accumulators.remove(id.as_str());
                let has_history = accumulator.as_ref().is_some_and(|a| a.events_used() > 0);
                let later = signup.is_some_and(|i| {
                    attrs.get(id).is_some_and(
                        |row| matches!(row.get(i), Some(AttrValue::Date(t)) if *t >= as_of),
                    )
                });
                if has_history || !later {
                    customers.push((id.clone(), accumulator));
                }
            }
        }
        customers.extend(
            accumulators
                .into_iter()
                .filter(|(_, a)| a.events_used() > 0)
                .map(|(id, a)| (id, Some(a))),
        );
    }
    customers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    customers
}

#[allow(clippy::too_many_arguments)]
fn score_customers(
    decider: &OfflineDecider<'_>,
    customers: Vec<(String, Option<FeatureAccumulator<'_>>)>,
    attributes: Option<Attributes<'_>>,
    table: Option<&CustomerTable>,
    options: &ScoreOptions,
    as_of: Timestamp,
    labels: &RunLabels,
    writer: &mut OutputWriter,
    pass: (u32, u32),
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary, BatchError> {
    let columns: Vec<&str> = table
        .map(|t| t.attributes.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let total = customers.len() as u64;
    let mut summary = Summary::default();
    let mut done = 0u64;
    let mut customers = customers;
    while !customers.is_empty() {
        let rest = customers.split_off(customers.len().min(STEP_CUSTOMERS));
        let step = std::mem::replace(&mut customers, rest);
        let n = step.len() as u64;
        let mut tasks: Vec<Vec<(String, Option<FeatureAccumulator<'_>>)>> = Vec::new();
        let mut step = step.into_iter().peekable();
        while step.peek().is_some() {
            tasks.push(step.by_ref().take(TASK_CUSTOMERS).collect());
        }
        let parts: Vec<Result<(Rows, Summary), BatchError>> = tasks
            .into_par_iter()
            .map(|task| {
                let mut rows = Rows::new(options.mode);
                let mut part = Summary::default();
                let mut tally = Tally::default();
                for (id, accumulator) in task {
                    let accumulator = match accumulator {
                        Some(a) => a,
                        None => decider.accumulator(as_of)?,
                    };
                    let aligned = attributes.and_then(|a| a.get(&id));
                    match options.mode {
                        Mode::Predictions => {
                            let p = decider.predict(accumulator, aligned.as_deref())?;
                            part.customers += 1;
                            rows.push_predictions(&id, as_of, decider.candidates(), &p, labels);
                        }
                        Mode::Decisions => {
                            let raw = table.and_then(|t| t.get(&id)).unwrap_or(&[]);
                            let consent = consent_from_attributes(&columns, raw);
                            let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                                options.explore_seed.map_or(0, |s| customer_seed(&id, s)),
                            );
                            let decided = decider.decide(
                                accumulator,
                                aligned.as_deref(),
                                consent,
                                &mut rng,
                            )?;
                            tally.count(&decided.decision);
                            rows.push_decision(&id, as_of, &decided, labels);
                        }
                    }
                }
                tally.add_to(&mut part);
                Ok((rows, part))
            })
            .collect();
        for part in parts {
            let (rows, part) = part?;
            writer.write(&rows.finish(writer.schema())?)?;
            summary.merge(part);
        }
        done += n;
        progress(Progress {
            unit: "customers",
            done,
            total: Some(total),
            pass,
        });
    }
    Ok(summary)
}
