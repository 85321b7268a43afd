//! Scoring from a precomputed feature matrix (`nextbest features`' output, or a warehouse's
//! table with the same columns), checked against the models' feature spec before any row is
//! scored. Record batches stream through three stages at once — a reader thread decodes, the
//! worker pool scores, a writer thread encodes — with at most a few batches in flight, so
//! memory depends on the batch size, not on the input's.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::events::{labels, run_metadata};
use super::input::{customer_seed, Mode, Progress, ScoreOptions, Summary, Tally};
use super::output::{schema, OutputWriter, Rows, RunLabels};
use super::BatchError;
use crate::engine::offline::OfflineDecider;
use crate::features::matrix::{AS_OF_COLUMN, SPEC_METADATA_KEY};
use crate::features::FeatureSpec;
use crate::journey::{JourneyError, Timestamp};

/// Rows per worker task.
const TASK_ROWS: usize = 256;

/// One decoded batch: ids, instants and the features row-major, with the first data row's
/// 1-based number in its file.
struct Decoded {
    ids: Vec<String>,
    as_of: Vec<Timestamp>,
    features: Vec<f32>,
    skipped: u64,
    examples: Vec<String>,
}

/// Scores every row of the matrix files; see the module documentation.
pub fn score_features(
    decider: &OfflineDecider<'_>,
    files: &[PathBuf],
    options: &ScoreOptions,
    out: &Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Summary, BatchError> {
    let began = Instant::now();
    let spec = decider.spec();
    // Every file is checked before any is scored.
    let mut total_rows = 0u64;
    for file in files {
        total_rows += check_file(file, spec, options)?;
    }
    let out_schema = schema(options.mode, &run_metadata(decider, options));
    let writer = OutputWriter::create(out, out_schema.clone())?;
    let labels = labels(decider);
    let (to_writer, from_scorer) = sync_channel::<RecordBatch>(4);
    let (to_scorer, from_reader) = sync_channel::<Result<Decoded, BatchError>>(2);
    let mut summary = Summary::default();
    let outcome = std::thread::scope(|scope| -> Result<u64, BatchError> {
        let writing = scope.spawn(move || -> Result<u64, BatchError> {
            let mut writer = writer;
            for batch in from_scorer {
                writer.write(&batch)?;
            }
            writer.finish()
        });
        let reading = scope.spawn(move || {
            for file in files {
                if let Err(e) = read_file(file, spec, options, &to_scorer) {
                    let _ = to_scorer.send(Err(e));
                    return;
                }
            }
        });
        let mut done = 0u64;
        let mut failure = None;
        for decoded in from_reader {
            let scored = decoded.and_then(|d| {
                summary.invalid_rows_skipped += d.skipped;
                for example in &d.examples {
                    summary.note_invalid(example.clone());
                }
                summary.input_rows += d.ids.len() as u64 + d.skipped;
                done += d.ids.len() as u64 + d.skipped;
                score_batch(decider, &d, options, &labels, &out_schema)
            });
            match scored {
                Ok((batches, part)) => {
                    summary.merge(part);
                    for batch in batches {
                        if to_writer.send(batch).is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            progress(Progress {
                unit: "rows",
                done,
                total: Some(total_rows),
                pass: (1, 1),
            });
        }
        drop(to_writer);
        let _ = reading.join();
        if let Some(e) = failure {
            // The writer's temporary file is removed when it is dropped unfinished.
            let _ = writing.join();
            return Err(e);
        }
        writing
            .join()
            .map_err(|_| BatchError::invalid("output", "the writer thread failed"))?
    });
    summary.rows = outcome?;
    summary.passes = 1;
    summary.seconds = began.elapsed().as_secs_f64();
    Ok(summary)
}

fn score_batch(
    decider: &OfflineDecider<'_>,
    decoded: &Decoded,
    options: &ScoreOptions,
    labels: &RunLabels,
    out_schema: &arrow_schema::SchemaRef,
) -> Result<(Vec<RecordBatch>, Summary), BatchError> {
    let width = decider.spec().len();
    let n = decoded.ids.len();
    let parts: Vec<Result<(RecordBatch, Summary), BatchError>> = (0..n.div_ceil(TASK_ROWS))
        .into_par_iter()
        .map(|task| {
            let mut rows = Rows::new(options.mode);
            let mut part = Summary::default();
            let mut tally = Tally::default();
            let first = task * TASK_ROWS;
            let last = ((task + 1) * TASK_ROWS).min(n);
            let block = &decoded.features[first * width..last * width];
            // One batched call per model for the whole block: tree-major over its rows.
            let scores = decider.score_rows(block)?;
            for (c, r) in (first..last).enumerate() {
                let id = &decoded.ids[r];
                let as_of = decoded.as_of[r];
                let features = &block[c * width..(c + 1) * width];
                match options.mode {
                    Mode::Predictions => {
                        let p = decider.predictions_of(&scores, c);
                        part.customers += 1;
                        rows.push_predictions(id, as_of, decider.candidates(), &p, labels);
                    }
                    Mode::Decisions => {
                        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
                            options.explore_seed.map_or(0, |s| customer_seed(id, s)),
                        );
                        let decided = decider.decide_row(&scores, c, features, as_of, &mut rng)?;
                        tally.count(&decided.decision);
                        rows.push_decision(id, as_of, &decided, labels);
                    }
                }
            }
            tally.add_to(&mut part);
            Ok((rows.finish(out_schema)?, part))
        })
        .collect();
    let mut batches = Vec::with_capacity(parts.len());
    let mut summary = Summary::default();
    for part in parts {
        let (batch, part) = part?;
        batches.push(batch);
        summary.merge(part);
    }
    Ok((batches, summary))
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, BatchError> {
    let handle = File::open(path).map_err(|e| JourneyError::io(path, e))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(handle)
        .map_err(|e| JourneyError::malformed(path, format!("not a readable Parquet file: {e}")))?)
}

/// Checks a matrix's columns and recorded spec against the models'; returns its row count.
fn check_file(path: &Path, spec: &FeatureSpec, options: &ScoreOptions) -> Result<u64, BatchError> {
    let builder = open(path)?;
    let mismatch = |problem: String| BatchError::FeatureMismatch {
        file: path.to_path_buf(),
        problem,
    };
    let schema = builder.schema().clone();
    if let Some(recorded) = schema.metadata().get(SPEC_METADATA_KEY) {
        let recorded: FeatureSpec = serde_json::from_str(recorded)
            .map_err(|e| mismatch(format!("its recorded feature spec is unreadable: {e}")))?;
        if recorded != *spec {
            return Err(mismatch(
                "it was computed with another feature spec than the models' (recompute it with `nextbest features --spec` from the models' spec)".into(),
            ));
        }
    }
    let field = |name: &str| schema.field_with_name(name).ok();
    match field("customer_id").map(|f| f.data_type()) {
        Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {}
        Some(other) => {
            return Err(JourneyError::ColumnType {
                file: path.to_path_buf(),
                column: "customer_id".into(),
                found: other.to_string(),
                expected: "string".into(),
            }
            .into())
        }
        None => return Err(missing(path, "customer_id", &schema)),
    }
    match field(AS_OF_COLUMN).map(|f| f.data_type()) {
        Some(DataType::Timestamp(_, _)) => {}
        Some(other) => {
            return Err(JourneyError::ColumnType {
                file: path.to_path_buf(),
                column: AS_OF_COLUMN.into(),
                found: other.to_string(),
                expected: "timestamp".into(),
            }
            .into())
        }
        None if options.as_of.is_none() => {
            return Err(BatchError::invalid(
                "--as-of",
                format!(
                    "{} has no '{AS_OF_COLUMN}' column: give the decision instant",
                    path.display()
                ),
            ))
        }
        None => {}
    }
    let absent: Vec<&str> = spec.names().filter(|name| field(name).is_none()).collect();
    if !absent.is_empty() {
        return Err(mismatch(format!(
            "{} of the models' {} features are missing, first '{}'",
            absent.len(),
            spec.len(),
            absent[0]
        )));
    }
    for name in spec.names() {
        let data_type = field(name).map(|f| f.data_type().clone());
        if let Some(t) = data_type.filter(|t| !numeric(t)) {
            return Err(JourneyError::ColumnType {
                file: path.to_path_buf(),
                column: name.to_string(),
                found: t.to_string(),
                expected: "a number (float or integer)".into(),
            }
            .into());
        }
    }
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

fn missing(path: &Path, column: &str, schema: &arrow_schema::Schema) -> BatchError {
    let present: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    JourneyError::MissingColumn {
        file: path.to_path_buf(),
        column: column.into(),
        present: present.join(", "),
    }
    .into()
}

fn numeric(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Float32 | DataType::Float64 | DataType::Int32 | DataType::Int64
    )
}

/// Reads one matrix file batch by batch, sending each decoded batch on.
fn read_file(
    path: &Path,
    spec: &FeatureSpec,
    options: &ScoreOptions,
    to_scorer: &std::sync::mpsc::SyncSender<Result<Decoded, BatchError>>,
) -> Result<(), BatchError> {
    let builder = open(path)?;
    let schema = builder.schema().clone();
    let mut wanted: Vec<&str> = vec!["customer_id", AS_OF_COLUMN];
    wanted.extend(spec.names());
    let indices: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(options.batch_rows.max(1))
        .build()
        .map_err(|e| JourneyError::malformed(path, e))?;
    let mut first_row = 1u64;
    for batch in reader {
        let batch = batch.map_err(|e| JourneyError::malformed(path, e))?;
        let n = batch.num_rows() as u64;
        let decoded = decode(path, &batch, spec, options, first_row)?;
        first_row += n;
        if to_scorer.send(Ok(decoded)).is_err() {
            break;
        }
    }
    Ok(())
}

fn column<'b>(batch: &'b RecordBatch, name: &str) -> Option<&'b ArrayRef> {
    batch.schema().index_of(name).ok().map(|i| batch.column(i))
}

/// A batch into ids, instants and row-major features; a bad cell is an error naming file, row
/// and column, or (skipping) leaves its row out and is counted.
fn decode(
    path: &Path,
    batch: &RecordBatch,
    spec: &FeatureSpec,
    options: &ScoreOptions,
    first_row: u64,
) -> Result<Decoded, BatchError> {
    let n = batch.num_rows();
    let width = spec.len();
    let cell = |row: usize, column: &str, problem: &str| JourneyError::Cell {
        file: path.to_path_buf(),
        row: first_row + row as u64,
        column: column.to_string(),
        problem: problem.to_string(),
    };
    let mut bad: Vec<Option<JourneyError>> = (0..n).map(|_| None).collect();
    let mut flag = |row: usize, error: JourneyError| {
        if bad[row].is_none() {
            bad[row] = Some(error);
        }
    };
    let ids_array = column(batch, "customer_id")
        .ok_or_else(|| missing(path, "customer_id", &batch.schema()))?;
    let ids: Vec<String> = (0..n)
        .map(|r| match string_at(ids_array, r) {
            Some(id) if !id.trim().is_empty() => id.trim().to_string(),
            _ => {
                flag(r, cell(r, "customer_id", "is empty"));
                String::new()
            }
        })
        .collect();
    let as_of: Vec<Timestamp> = match (options.as_of, column(batch, AS_OF_COLUMN)) {
        (Some(t), _) => vec![t; n],
        (None, None) => {
            return Err(BatchError::invalid(
                "--as-of",
                format!("{} has no '{AS_OF_COLUMN}' column", path.display()),
            ))
        }
        (None, Some(array)) => (0..n)
            .map(|r| match micros_at(array, r) {
                Some(t) => Timestamp(t),
                None => {
                    flag(r, cell(r, AS_OF_COLUMN, "is empty"));
                    Timestamp(0)
                }
            })
            .collect(),
    };
    let mut features = vec![0f32; n * width];
    for (f, name) in spec.names().enumerate() {
        let array = column(batch, name).ok_or_else(|| missing(path, name, &batch.schema()))?;
        fill_column(array, f, width, &mut features, &mut |r, problem| {
            flag(r, cell(r, name, problem))
        });
    }
    if bad.iter().all(Option::is_none) {
        return Ok(Decoded {
            ids,
            as_of,
            features,
            skipped: 0,
            examples: Vec::new(),
        });
    }
    let mut decoded = Decoded {
        ids: Vec::with_capacity(n),
        as_of: Vec::with_capacity(n),
        features: Vec::with_capacity(n * width),
        skipped: 0,
        examples: Vec::new(),
    };
    for (r, (problem, id)) in bad.into_iter().zip(ids).enumerate() {
        match problem {
            None => {
                decoded.ids.push(id);
                decoded.as_of.push(as_of[r]);
                decoded
                    .features
                    .extend_from_slice(&features[r * width..(r + 1) * width]);
            }
            Some(error) if options.skip_invalid => {
                decoded.skipped += 1;
                if decoded.examples.len() < 10 {
                    decoded.examples.push(error.to_string());
                }
            }
            Some(error) => return Err(error.into()),
        }
    }
    Ok(decoded)
}

/// Writes column `f` of the row-major `out` (rows of `width`) from a numeric array, one type
/// dispatch per column rather than per cell; empty and non-finite cells go to `bad`.
fn fill_column(
    array: &ArrayRef,
    f: usize,
    width: usize,
    out: &mut [f32],
    bad: &mut dyn FnMut(usize, &'static str),
) {
    fn put<T: Copy>(
        values: &[T],
        array: &dyn Array,
        f: usize,
        width: usize,
        out: &mut [f32],
        bad: &mut dyn FnMut(usize, &'static str),
        convert: impl Fn(T) -> f32,
    ) {
        let has_nulls = array.null_count() > 0;
        for (r, &v) in values.iter().enumerate() {
            let x = convert(v);
            if has_nulls && array.is_null(r) {
                bad(r, "is empty");
            } else if x.is_finite() {
                out[r * width + f] = x;
            } else {
                bad(r, "is not a finite number");
            }
        }
    }
    let any = array.as_ref();
    match array.data_type() {
        DataType::Float32 => put(
            &array.as_primitive::<Float32Type>().values()[..],
            any,
            f,
            width,
            out,
            bad,
            |v| v,
        ),
        DataType::Float64 => put(
            &array.as_primitive::<Float64Type>().values()[..],
            any,
            f,
            width,
            out,
            bad,
            |v| v as f32,
        ),
        DataType::Int32 => put(
            &array.as_primitive::<Int32Type>().values()[..],
            any,
            f,
            width,
            out,
            bad,
            |v| v as f32,
        ),
        DataType::Int64 => put(
            &array.as_primitive::<Int64Type>().values()[..],
            any,
            f,
            width,
            out,
            bad,
            |v| v as f32,
        ),
        // The schema was checked; another type reads as empty, never as a made-up number.
        _ => (0..array.len()).for_each(|r| bad(r, "is empty")),
    }
}

fn string_at(array: &ArrayRef, row: usize) -> Option<&str> {
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => Some(array.as_string::<i64>().value(row)),
        DataType::Utf8View => Some(array.as_string_view().value(row)),
        _ => None,
    }
}

fn micros_at(array: &ArrayRef, row: usize) -> Option<i64> {
    use arrow_array::types::{
        TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
        TimestampSecondType,
    };
    use arrow_schema::TimeUnit;
    if array.is_null(row) {
        return None;
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Some(array.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => Some(
            array
                .as_primitive::<TimestampMillisecondType>()
                .value(row)
                .saturating_mul(1_000),
        ),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            Some(array.as_primitive::<TimestampNanosecondType>().value(row) / 1_000)
        }
        DataType::Timestamp(TimeUnit::Second, _) => Some(
            array
                .as_primitive::<TimestampSecondType>()
                .value(row)
                .saturating_mul(1_000_000),
        ),
        _ => None,
    }
}

/// Scores one in-memory record batch of a feature matrix (the Python package's and Spark's
/// entry: `customer_id`, `as_of` unless `options.as_of` is given, and every feature column of
/// the models' spec). Bad rows are errors naming `source`, row and column, or skipped and
/// counted with `options.skip_invalid`. Returns the output batches (of [`schema`]'s shape for
/// the mode) and the run's counts.
pub fn score_record_batch(
    decider: &OfflineDecider<'_>,
    batch: &RecordBatch,
    options: &ScoreOptions,
    source: &str,
) -> Result<(Vec<RecordBatch>, Summary), BatchError> {
    let spec = decider.spec();
    let present = batch.schema();
    if let Some(name) = spec.names().find(|n| present.field_with_name(n).is_err()) {
        return Err(BatchError::FeatureMismatch {
            file: PathBuf::from(source),
            problem: format!("the batch lacks the models' feature '{name}'"),
        });
    }
    for name in spec.names() {
        if let Ok(field) = present.field_with_name(name) {
            if !numeric(field.data_type()) {
                return Err(JourneyError::ColumnType {
                    file: PathBuf::from(source),
                    column: name.to_string(),
                    found: field.data_type().to_string(),
                    expected: "a number (float or integer)".into(),
                }
                .into());
            }
        }
    }
    let decoded = decode(Path::new(source), batch, spec, options, 1)?;
    let out_schema = schema(options.mode, &run_metadata(decider, options));
    let (batches, mut summary) =
        score_batch(decider, &decoded, options, &labels(decider), &out_schema)?;
    summary.input_rows = batch.num_rows() as u64;
    summary.invalid_rows_skipped = decoded.skipped;
    summary.invalid_examples = decoded.examples;
    summary.rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    Ok((batches, summary))
}
