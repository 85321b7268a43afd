//! Python bindings of nextbest's batch scorer: models, catalog and policy loaded once per
//! process (a Spark worker's Python process loads them once for all its partitions), record
//! batches in and out as Arrow IPC streams (`nextbest/__init__.py` turns them into pyarrow
//! record batches).

use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use nextbest::batch::features::score_record_batch;
use nextbest::batch::{Mode, ScoreOptions};
use nextbest::catalog::Catalog;
use nextbest::decision::PolicySet;
use nextbest::engine::offline::OfflineDecider;
use nextbest::features::matrix::Attributes;
use nextbest::features::CustomerMatrixBuilder;
use nextbest::features::TextScorer;
use nextbest::journey::{CustomerTable, EventReader, ReadOptions, Timestamp};
use nextbest::models::registry::{ModelPaths, ModelSet};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn read_ipc(bytes: &[u8]) -> PyResult<Vec<RecordBatch>> {
    let reader = StreamReader::try_new(bytes, None).map_err(value_error)?;
    reader.collect::<Result<Vec<_>, _>>().map_err(value_error)
}

fn write_ipc(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> PyResult<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut out, schema).map_err(value_error)?;
        for batch in batches {
            writer.write(batch).map_err(value_error)?;
        }
        writer.finish().map_err(value_error)?;
    }
    Ok(out)
}

/// The batch scorer: `nextbest score --features` on in-memory record batches.
#[pyclass(frozen)]
struct Scorer {
    decider: OfflineDecider<'static>,
    options: ScoreOptions,
}

#[pymethods]
impl Scorer {
    /// Loads models (a models folder with `churn`, `conversion`, `sentiment`), the catalog and
    /// the policy once; exploration is off unless `explore_seed` is given.
    #[new]
    #[pyo3(signature = (models="models", catalog="datasets/sample/catalog.toml", policies="policies", policy="default", top_k=1, predictions=false, as_of=None, explore_seed=None, skip_invalid=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        models: &str,
        catalog: &str,
        policies: &str,
        policy: &str,
        top_k: usize,
        predictions: bool,
        as_of: Option<&str>,
        explore_seed: Option<u64>,
        skip_invalid: bool,
    ) -> PyResult<Self> {
        // Loaded once and kept for the life of the process, as a worker keeps them.
        let models: &'static ModelSet = Box::leak(Box::new(
            ModelSet::load(&ModelPaths::defaults_in(&PathBuf::from(models)))
                .map_err(value_error)?,
        ));
        let catalog = Catalog::load(catalog).map_err(value_error)?;
        let policies = PolicySet::load_dir(policies).map_err(value_error)?;
        let chosen = policies
            .get(policy)
            .ok_or_else(|| value_error(format!("no policy named '{policy}'")))?;
        // The scorer returns codes and counts, never the ineligible candidates' messages.
        let decider = OfflineDecider::new(models, &catalog, chosen, top_k, explore_seed.is_some())
            .map_err(value_error)?
            .without_messages();
        let as_of = as_of
            .map(Timestamp::parse_date_or_datetime)
            .transpose()
            .map_err(value_error)?;
        Ok(Scorer {
            decider,
            options: ScoreOptions {
                mode: if predictions {
                    Mode::Predictions
                } else {
                    Mode::Decisions
                },
                top_k,
                as_of,
                explore_seed,
                skip_invalid,
                ..ScoreOptions::default()
            },
        })
    }

    /// Scores the feature rows of an IPC stream; returns an IPC stream of the output rows.
    fn score_ipc<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let batches = read_ipc(data)?;
        let scored = py.detach(|| -> PyResult<Vec<RecordBatch>> {
            let mut out = Vec::new();
            for batch in &batches {
                let (parts, _) = score_record_batch(&self.decider, batch, &self.options, "<batch>")
                    .map_err(value_error)?;
                out.extend(parts);
            }
            Ok(out)
        })?;
        let schema = scored
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| nextbest::batch::output::schema(self.options.mode, ""));
        Ok(PyBytes::new(py, &write_ipc(&schema, &scored)?))
    }

    /// The names of the feature columns the models take, in order.
    fn feature_names(&self) -> Vec<String> {
        self.decider.spec().names().map(str::to_string).collect()
    }
}

/// Featurises an events table (Parquet, CSV or JSONL file) as of `as_of` with the models'
/// spec: one row per customer, written as Parquet to `out` (what `nextbest features --spec`
/// writes), so a Python job can compute features and score them with the same pipeline.
#[pyfunction]
#[pyo3(signature = (events, as_of, out, models="models", customers=None))]
fn featurize(
    events: &str,
    as_of: &str,
    out: &str,
    models: &str,
    customers: Option<&str>,
) -> PyResult<u64> {
    let models =
        ModelSet::load(&ModelPaths::defaults_in(&PathBuf::from(models))).map_err(value_error)?;
    let spec = models
        .spec
        .as_ref()
        .ok_or_else(|| value_error("the models folder has no churn or conversion model"))?;
    let cutoff = Timestamp::parse_date_or_datetime(as_of).map_err(value_error)?;
    let table = customers
        .map(|p| CustomerTable::read(p, None))
        .transpose()
        .map_err(value_error)?;
    let mapping = table
        .as_ref()
        .map(|t| spec.attribute_mapping(t))
        .transpose()
        .map_err(value_error)?;
    let scorer = models
        .sentiment
        .as_ref()
        .filter(|_| spec.sentiment_model.is_some())
        .map(|s| s as &dyn TextScorer);
    let mut builder = CustomerMatrixBuilder::new(spec, cutoff, scorer);
    for chunk in EventReader::open(events, ReadOptions::default()).map_err(value_error)? {
        builder.add(&chunk.map_err(value_error)?.events);
    }
    let attributes = table
        .as_ref()
        .zip(mapping.as_ref())
        .map(|(t, m)| Attributes::new(t, m));
    let (rows, stats) = builder.finish(attributes);
    nextbest::features::matrix::write_matrix(std::path::Path::new(out), spec, &[], &rows)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(stats.rows)
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Scorer>()?;
    m.add_function(wrap_pyfunction!(featurize, m)?)?;
    Ok(())
}
