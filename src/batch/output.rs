//! The Parquet outputs of a batch run. Each worker builds the record batch of its own chunk of
//! customers ([`Rows`]); the [`OutputWriter`] appends batches to a file under a temporary name
//! that only [`OutputWriter::finish`] renames into place, so a failed run leaves nothing that
//! looks complete.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;

use super::input::Mode;
use super::BatchError;
use crate::catalog::Action;
use crate::engine::offline::{OfflineDecision, Predictions};
use crate::journey::writer::{parquet_properties, AtomicFile};
use crate::journey::{JourneyError, Timestamp};

/// Key of the output's Parquet metadata entry holding the model versions and the policy.
pub const RUN_METADATA_KEY: &str = "nextbest.score";

fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The output schema of a mode.
pub fn schema(mode: Mode, metadata: &str) -> SchemaRef {
    let f64n = |name: &str| Field::new(name, DataType::Float64, true);
    let mut fields = vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("as_of", time_type(), false),
    ];
    match mode {
        Mode::Decisions => fields.extend([
            Field::new("rank", DataType::UInt32, false),
            Field::new("action_id", dictionary(), false),
            Field::new("kind", dictionary(), false),
            Field::new("channel", dictionary(), false),
            Field::new("score", DataType::Float64, false),
            f64n("p_convert"),
            f64n("p_convert_no_action"),
            f64n("uplift"),
            f64n("p_churn"),
            f64n("sentiment"),
            Field::new("value", DataType::Float64, false),
            Field::new("cost", DataType::Float64, false),
            f64n("customer_value"),
            Field::new("propensity", DataType::Float64, false),
            Field::new("explored", DataType::Boolean, false),
            Field::new("policy", dictionary(), false),
            Field::new("churn_model", dictionary(), true),
            Field::new("conversion_model", dictionary(), true),
        ]),
        Mode::Predictions => fields.extend([
            Field::new("action_id", dictionary(), false),
            f64n("p_convert"),
            f64n("p_convert_no_action"),
            f64n("uplift"),
            f64n("p_churn"),
            Field::new("churn_model", dictionary(), true),
            Field::new("conversion_model", dictionary(), true),
        ]),
    }
    Arc::new(Schema::new(fields).with_metadata(HashMap::from([(
        RUN_METADATA_KEY.to_string(),
        metadata.to_string(),
    )])))
}

/// What every row of a run shares.
#[derive(Clone, Debug)]
pub struct RunLabels {
    /// The policy's name.
    pub policy: String,
    /// `churn/<version>`, when a churn model is loaded.
    pub churn_model: Option<String>,
    /// `conversion/<version>`, when a conversion model is loaded.
    pub conversion_model: Option<String>,
}

/// One chunk's rows, column by column.
pub struct Rows {
    mode: Mode,
    customer_id: StringBuilder,
    as_of: TimestampMicrosecondBuilder,
    rank: UInt32Builder,
    action_id: StringDictionaryBuilder<Int32Type>,
    kind: StringDictionaryBuilder<Int32Type>,
    channel: StringDictionaryBuilder<Int32Type>,
    score: Float64Builder,
    p_convert: Float64Builder,
    p_none: Float64Builder,
    uplift: Float64Builder,
    p_churn: Float64Builder,
    sentiment: Float64Builder,
    value: Float64Builder,
    cost: Float64Builder,
    customer_value: Float64Builder,
    propensity: Float64Builder,
    explored: BooleanBuilder,
    /// What every row shares (policy, model versions): written as one-value dictionaries.
    labels: Option<RunLabels>,
    len: usize,
}

impl Rows {
    /// An empty chunk.
    pub fn new(mode: Mode) -> Self {
        Rows {
            mode,
            customer_id: StringBuilder::new(),
            as_of: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            rank: UInt32Builder::new(),
            action_id: StringDictionaryBuilder::new(),
            kind: StringDictionaryBuilder::new(),
            channel: StringDictionaryBuilder::new(),
            score: Float64Builder::new(),
            p_convert: Float64Builder::new(),
            p_none: Float64Builder::new(),
            uplift: Float64Builder::new(),
            p_churn: Float64Builder::new(),
            sentiment: Float64Builder::new(),
            value: Float64Builder::new(),
            cost: Float64Builder::new(),
            customer_value: Float64Builder::new(),
            propensity: Float64Builder::new(),
            explored: BooleanBuilder::new(),
            labels: None,
            len: 0,
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn labels(&mut self, labels: &RunLabels) {
        if self.labels.is_none() {
            self.labels = Some(labels.clone());
        }
    }

    /// A column of `len` copies of `value` (nulls for `None`), as a one-value dictionary.
    fn constant(&self, value: Option<&str>) -> ArrayRef {
        let keys = match value {
            Some(_) => Int32Array::from(vec![0; self.len]),
            None => Int32Array::new_null(self.len),
        };
        let values = StringArray::from_iter_values(value);
        Arc::new(DictionaryArray::<Int32Type>::new(keys, Arc::new(values)))
    }

    /// One row per chosen action of a customer's decision.
    pub fn push_decision(
        &mut self,
        customer_id: &str,
        as_of: Timestamp,
        decided: &OfflineDecision,
        labels: &RunLabels,
    ) {
        for action in &decided.decision.actions {
            let c = &action.components;
            self.customer_id.append_value(customer_id);
            self.as_of.append_value(as_of.0);
            self.rank.append_value(action.rank);
            self.action_id.append_value(&action.action_id);
            self.kind.append_value(action.kind.as_str());
            self.channel.append_value(action.channel.as_str());
            self.score.append_value(action.score);
            self.p_convert.append_option(c.p_convert);
            self.p_none.append_option(c.p_convert_no_action);
            self.uplift.append_option(c.uplift);
            self.p_churn.append_option(decided.p_churn);
            self.sentiment.append_option(decided.sentiment);
            self.value.append_value(c.value);
            self.cost.append_value(c.cost);
            self.customer_value.append_option(c.customer_value);
            self.propensity.append_value(action.propensity);
            self.explored.append_value(action.explored);
            self.labels(labels);
            self.len += 1;
        }
    }

    /// One row per candidate of a customer's predictions.
    pub fn push_predictions(
        &mut self,
        customer_id: &str,
        as_of: Timestamp,
        candidates: &[Action],
        predictions: &Predictions,
        labels: &RunLabels,
    ) {
        for (action, p) in candidates.iter().zip(&predictions.p_convert) {
            self.customer_id.append_value(customer_id);
            self.as_of.append_value(as_of.0);
            self.action_id.append_value(&action.id);
            self.p_convert.append_option(*p);
            let none = p.and(predictions.p_convert_no_action);
            self.p_none.append_option(none);
            self.uplift.append_option(p.zip(none).map(|(a, b)| a - b));
            self.p_churn.append_option(predictions.p_churn);
            self.labels(labels);
            self.len += 1;
        }
    }

    /// The chunk as a record batch of `schema`.
    pub fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch, BatchError> {
        let labels = self.labels.take().unwrap_or(RunLabels {
            policy: String::new(),
            churn_model: None,
            conversion_model: None,
        });
        let policy = self.constant(Some(&labels.policy));
        let churn_model = self.constant(labels.churn_model.as_deref());
        let conversion_model = self.constant(labels.conversion_model.as_deref());
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.customer_id.finish()),
            Arc::new(self.as_of.finish()),
        ];
        match self.mode {
            Mode::Decisions => columns.extend::<[ArrayRef; 18]>([
                Arc::new(self.rank.finish()),
                Arc::new(self.action_id.finish()),
                Arc::new(self.kind.finish()),
                Arc::new(self.channel.finish()),
                Arc::new(self.score.finish()),
                Arc::new(self.p_convert.finish()),
                Arc::new(self.p_none.finish()),
                Arc::new(self.uplift.finish()),
                Arc::new(self.p_churn.finish()),
                Arc::new(self.sentiment.finish()),
                Arc::new(self.value.finish()),
                Arc::new(self.cost.finish()),
                Arc::new(self.customer_value.finish()),
                Arc::new(self.propensity.finish()),
                Arc::new(self.explored.finish()),
                policy,
                churn_model,
                conversion_model,
            ]),
            Mode::Predictions => columns.extend::<[ArrayRef; 7]>([
                Arc::new(self.action_id.finish()),
                Arc::new(self.p_convert.finish()),
                Arc::new(self.p_none.finish()),
                Arc::new(self.uplift.finish()),
                Arc::new(self.p_churn.finish()),
                churn_model,
                conversion_model,
            ]),
        }
        RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| BatchError::invalid("output", e.to_string()))
    }
}

/// Appends record batches to a Parquet file that appears at its path only when finished.
pub struct OutputWriter {
    file: AtomicFile,
    writer: ArrowWriter<std::fs::File>,
    schema: SchemaRef,
    rows: u64,
}

impl OutputWriter {
    /// Starts the file (under a temporary name beside `path`).
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, BatchError> {
        let (file, handle) = AtomicFile::create(path)?;
        let writer = ArrowWriter::try_new(handle, schema.clone(), Some(parquet_properties()))
            .map_err(|e| JourneyError::malformed(path, e))?;
        Ok(OutputWriter {
            file,
            writer,
            schema,
            rows: 0,
        })
    }

    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), BatchError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.writer
            .write(batch)
            .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file and moves it into place.
    pub fn finish(self) -> Result<u64, BatchError> {
        self.writer
            .close()
            .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        self.file.commit()?;
        Ok(self.rows)
    }
}
