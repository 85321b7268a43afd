//! A journey simulator with ground truth, in the spirit of RecoGym/RecSim.
//!
//! `nextbest generate` writes, deterministically per seed:
//! - `events.parquet`: the journey events (sorted by customer, then time),
//! - `customers.parquet`: observable attributes,
//! - `catalog.toml`: the actions,
//! - `ground_truth.parquet`: one row per decision point with the action the randomised logging
//!   policy took, its propensity, and the *true* P(convert within 7 days) and P(cancel within
//!   7 days) under every action, plus P(cancel within 30 days) under no action,
//! - `customer_traits.parquet`: the latent traits behind it all,
//! - `world.json`: the configuration and counts.
//!
//! Customers are simulated independently from per-customer random streams, so output does not
//! depend on the number of threads.

pub mod knowledge;
pub mod text;
pub mod world;

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::journey::customers::CUSTOMER_ID;
use crate::journey::writer::{ParquetEventWriter, TypedTableWriter};
use crate::journey::{
    AttrValue, AttributeColumn, AttributeKind, Channel, Event, EventType, JourneyError, Timestamp,
};
use world::{simulate_customer, CustomerRun, Distributions, NO_ACTION};

/// Customers simulated per block; bounds memory for any population size.
const BLOCK: u64 = 8192;

/// What to simulate.
#[derive(Clone, Debug, Serialize)]
pub struct SimulatorConfig {
    /// Number of customers.
    pub customers: u64,
    /// Days of history.
    pub days: u32,
    /// Random seed; the same seed gives the same files.
    pub seed: u64,
    /// First day of the simulation (midnight UTC).
    pub start: Timestamp,
}

impl SimulatorConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), SimulatorError> {
        if self.customers == 0 {
            return Err(SimulatorError::Config(
                "customers: must be at least 1".into(),
            ));
        }
        if self.customers > 100_000_000 {
            return Err(SimulatorError::Config(
                "customers: at most 100,000,000".into(),
            ));
        }
        if !(7..=3650).contains(&self.days) {
            return Err(SimulatorError::Config(format!(
                "days: must be within 7..3650, got {}",
                self.days
            )));
        }
        Ok(())
    }
}

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// Invalid configuration.
    #[error("{0}")]
    Config(String),
    /// Writing output failed.
    #[error(transparent)]
    Output(#[from] JourneyError),
}

/// What a run produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimulationSummary {
    /// Customers simulated.
    pub customers: u64,
    /// Events written.
    pub events: u64,
    /// Decision points written.
    pub decision_points: u64,
    /// Decision points where an action (not the control) was taken.
    pub actions_taken: u64,
    /// Customers who cancelled.
    pub cancelled: u64,
    /// Customers who signed up during the simulation.
    pub signed_up_during: u64,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// File names inside the output folder.
pub mod files {
    /// Journey events.
    pub const EVENTS: &str = "events.parquet";
    /// Customer table.
    pub const CUSTOMERS: &str = "customers.parquet";
    /// Action catalog.
    pub const CATALOG: &str = "catalog.toml";
    /// Ground truth per decision point.
    pub const GROUND_TRUTH: &str = "ground_truth.parquet";
    /// Latent traits per customer.
    pub const TRAITS: &str = "customer_traits.parquet";
    /// Configuration and counts.
    pub const WORLD: &str = "world.json";
}

fn column(name: &str, kind: AttributeKind) -> AttributeColumn {
    AttributeColumn {
        name: name.into(),
        kind,
    }
}

fn customer_columns() -> Vec<AttributeColumn> {
    use AttributeKind::*;
    vec![
        column("signup_date", Date),
        column("plan", Categorical),
        column("region", Categorical),
        column("age_band", Categorical),
        column("acquisition_channel", Categorical),
        column("email_consent", Boolean),
        column("sms_consent", Boolean),
        column("push_consent", Boolean),
    ]
}

fn truth_columns(catalog: &Catalog) -> Vec<AttributeColumn> {
    use AttributeKind::*;
    let mut columns = vec![
        column("timestamp", Date),
        column("action_id", Categorical),
        column("propensity", Numeric),
        column("p_churn_30d", Numeric),
        column("churned_30d", Boolean),
        column("converted_7d", Boolean),
        column("satisfaction", Numeric),
    ];
    for action in &catalog.actions {
        columns.push(column(&format!("p_convert__{}", action.id), Numeric));
    }
    for action in &catalog.actions {
        columns.push(column(&format!("p_churn_7d__{}", action.id), Numeric));
    }
    columns
}

fn trait_columns() -> Vec<AttributeColumn> {
    use AttributeKind::*;
    vec![
        column("engagement", Numeric),
        column("price_sensitivity", Numeric),
        column("contact_aversion", Numeric),
        column("base_satisfaction", Numeric),
        column("final_satisfaction", Numeric),
        column("email_affinity", Numeric),
        column("sms_affinity", Numeric),
        column("push_affinity", Numeric),
        column("app_user", Boolean),
        column("order_value", Numeric),
        column("cancelled_at", Date),
    ]
}

/// Customer id for index `i`, zero-padded so ids sort in simulation order.
pub fn customer_id(i: u64) -> String {
    format!("C{i:08}")
}

/// What the event log records besides what customers did and the contacts made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Also write the randomised logging policy's "do nothing" decisions as `action` events of
    /// the catalog's `no_action` entry (channel `none`) — an explicit, randomised control group
    /// for the uplift trainer. Off by default: the sample records only contacts made.
    pub controls: bool,
}

/// Adds an `action` event of the no-action entry at each randomised "do nothing" decision (a
/// decision with propensity 1 had nothing to choose from and is no experiment), keeping the
/// events in time order.
fn log_controls(customer_id: &str, run: &mut CustomerRun, no_action: usize) {
    let controls: Vec<Event> = run
        .decisions
        .iter()
        .filter(|d| d.action == no_action && d.propensity < 1.0)
        .map(|d| {
            Event::new(customer_id, d.timestamp, EventType::Action)
                .with_channel(Channel::parse("none"))
                .with_action(NO_ACTION)
        })
        .collect();
    if controls.is_empty() {
        return;
    }
    run.events.extend(controls);
    // Stable: a control lands after anything else logged at the same instant.
    run.events.sort_by_key(|e| e.timestamp);
}

/// Runs the simulation into `out_dir`, calling `progress(customers_done)` after each block.
pub fn generate(
    config: &SimulatorConfig,
    out_dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SimulationSummary, SimulatorError> {
    generate_with(config, LogOptions::default(), out_dir, progress)
}

/// [`generate`], with what the log records besides behaviour and contacts.
pub fn generate_with(
    config: &SimulatorConfig,
    log: LogOptions,
    out_dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SimulationSummary, SimulatorError> {
    config.validate()?;
    std::fs::create_dir_all(out_dir).map_err(|e| JourneyError::io(out_dir, e))?;
    let catalog = world::catalog();
    let no_action = catalog
        .actions
        .iter()
        .position(|a| a.id == NO_ACTION)
        .ok_or_else(|| SimulatorError::Config("the catalog lacks the no_action entry".into()))?;
    let distributions = Distributions::new().map_err(|e| SimulatorError::Config(e.to_string()))?;
    // Everything is written into a staging folder and moved into place at the very end, so a
    // failed run never leaves new events beside old ground truth.
    let staging = Staging::create(out_dir)?;
    let path = |name: &str| staging.dir.join(name);

    let mut events = ParquetEventWriter::create(path(files::EVENTS))?;
    let mut customers =
        TypedTableWriter::create(&path(files::CUSTOMERS), CUSTOMER_ID, customer_columns())?;
    let mut truth = TypedTableWriter::create(
        &path(files::GROUND_TRUTH),
        CUSTOMER_ID,
        truth_columns(&catalog),
    )?;
    let mut traits = TypedTableWriter::create(&path(files::TRAITS), CUSTOMER_ID, trait_columns())?;
    let mut summary = SimulationSummary::default();

    let mut block_start = 0;
    while block_start < config.customers {
        let block_end = (block_start + BLOCK).min(config.customers);
        let runs: Vec<(String, CustomerRun)> = (block_start..block_end)
            .into_par_iter()
            .map(|i| {
                let id = customer_id(i);
                // Per-customer streams: golden-ratio spacing keeps them far apart.
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                    config.seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let run = simulate_customer(
                    &mut rng,
                    &distributions,
                    &catalog,
                    no_action,
                    &id,
                    config.start,
                    config.days,
                );
                (id, run)
            })
            .collect();
        write_block(
            &runs,
            &catalog,
            config,
            &mut customers,
            &mut truth,
            &mut traits,
            &mut summary,
        )?;
        for (id, mut run) in runs {
            if log.controls {
                log_controls(&id, &mut run, no_action);
            }
            events.write(run.events)?;
        }
        summary.customers = block_end;
        progress(block_end);
        block_start = block_end;
    }

    summary.events = events.finish()?;
    customers.finish()?;
    truth.finish()?;
    traits.finish()?;
    let catalog_text = catalog
        .to_toml()
        .map_err(|e| SimulatorError::Config(e.to_string()))?;
    let catalog_header =
        "# Action catalog of the nextbest journey simulator (columns explained in datasets/README.md).\n";
    std::fs::write(
        path(files::CATALOG),
        format!("{catalog_header}{catalog_text}"),
    )
    .map_err(|e| JourneyError::io(path(files::CATALOG), e))?;
    let names = [
        files::EVENTS,
        files::CUSTOMERS,
        files::CATALOG,
        files::GROUND_TRUTH,
        files::TRAITS,
        files::WORLD,
    ];
    // world.json names files relative to itself, so it is identical for a seed wherever it lands.
    summary.files = names.iter().map(PathBuf::from).collect();
    let world = serde_json::json!({
        "generator": format!("nextbest {}", env!("CARGO_PKG_VERSION")),
        "config": config,
        "summary": summary,
        "week_days": world::WEEK_DAYS,
        "churn_horizon_days": world::CHURN_HORIZON_DAYS,
        "control_share": world::CONTROL_SHARE,
    });
    let world_text =
        serde_json::to_string_pretty(&world).map_err(|e| SimulatorError::Config(e.to_string()))?;
    std::fs::write(path(files::WORLD), world_text + "\n")
        .map_err(|e| JourneyError::io(path(files::WORLD), e))?;
    staging.commit(&names)?;
    summary.files = names.iter().map(|n| out_dir.join(n)).collect();
    Ok(summary)
}

/// A temporary folder inside the output folder, removed unless committed.
struct Staging {
    dir: PathBuf,
    out: PathBuf,
}

impl Staging {
    fn create(out: &Path) -> Result<Self, JourneyError> {
        let dir = out.join(format!(".nextbest-generate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| JourneyError::io(&dir, e))?;
        Ok(Staging {
            dir,
            out: out.to_path_buf(),
        })
    }

    /// Moves the named files into the output folder.
    fn commit(&self, names: &[&str]) -> Result<(), JourneyError> {
        for name in names {
            let target = self.out.join(name);
            std::fs::rename(self.dir.join(name), &target)
                .map_err(|e| JourneyError::io(&target, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_block(
    runs: &[(String, CustomerRun)],
    catalog: &Catalog,
    config: &SimulatorConfig,
    customers: &mut TypedTableWriter,
    truth: &mut TypedTableWriter,
    traits: &mut TypedTableWriter,
    summary: &mut SimulationSummary,
) -> Result<(), JourneyError> {
    let ids: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
    let category = |s: &str| AttrValue::Category(s.to_string());
    let mut customer_values: Vec<Vec<AttrValue>> =
        (0..8).map(|_| Vec::with_capacity(runs.len())).collect();
    let mut trait_values: Vec<Vec<AttrValue>> =
        (0..11).map(|_| Vec::with_capacity(runs.len())).collect();
    let n_actions = catalog.actions.len();
    let mut truth_ids = Vec::new();
    let mut truth_values: Vec<Vec<AttrValue>> = vec![Vec::new(); 7 + 2 * n_actions];
    for (id, run) in runs {
        let p = &run.profile;
        let row = [
            AttrValue::Date(p.signup),
            category(p.plan),
            category(p.region),
            category(p.age_band),
            category(p.acquisition),
            AttrValue::Bool(p.consent[0]),
            AttrValue::Bool(p.consent[1]),
            AttrValue::Bool(p.consent[2]),
        ];
        for (column, value) in customer_values.iter_mut().zip(row) {
            column.push(value);
        }
        let t = &run.traits;
        let row = [
            AttrValue::Number(t.engagement),
            AttrValue::Number(t.price_sensitivity),
            AttrValue::Number(t.contact_aversion),
            AttrValue::Number(t.base_satisfaction),
            AttrValue::Number(run.final_satisfaction),
            AttrValue::Number(t.channel_affinity[0]),
            AttrValue::Number(t.channel_affinity[1]),
            AttrValue::Number(t.channel_affinity[2]),
            AttrValue::Bool(t.app_user),
            AttrValue::Number(t.order_value),
            run.cancelled_at.map_or(AttrValue::Missing, AttrValue::Date),
        ];
        for (column, value) in trait_values.iter_mut().zip(row) {
            column.push(value);
        }
        summary.cancelled += u64::from(run.cancelled_at.is_some());
        summary.signed_up_during += u64::from(p.signup >= config.start);
        for d in &run.decisions {
            truth_ids.push(id.clone());
            let action = &catalog.actions[d.action];
            summary.decision_points += 1;
            summary.actions_taken += u64::from(action.id != NO_ACTION);
            let fixed = [
                AttrValue::Date(d.timestamp),
                category(&action.id),
                AttrValue::Number(d.propensity),
                AttrValue::Number(d.p_churn_30d),
                d.churned_30d.map_or(AttrValue::Missing, AttrValue::Bool),
                AttrValue::Bool(d.converted_7d),
                AttrValue::Number(d.satisfaction),
            ];
            let per_action = d
                .p_convert
                .iter()
                .chain(&d.p_churn_7d)
                .map(|p| AttrValue::Number(*p));
            for (column, value) in truth_values
                .iter_mut()
                .zip(fixed.into_iter().chain(per_action))
            {
                column.push(value);
            }
        }
    }
    customers.write(&ids, &customer_values)?;
    traits.write(&ids, &trait_values)?;
    truth.write(&truth_ids, &truth_values)?;
    Ok(())
}
