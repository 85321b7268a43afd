//! Feature matrices for training and batch scoring: one row per customer at a cutoff, or one row
//! per decision point. Both call the same [`FeatureAccumulator`] as the online path.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::compute::{FeatureAccumulator, TextScorer};
use super::spec::{AttributeMapping, FeatureSpec};
use crate::journey::customers::CUSTOMER_ID;
use crate::journey::writer::{
    attribute_array, attribute_data_type, parquet_properties, AtomicFile,
};
use crate::journey::{
    AttrValue, AttributeColumn, CustomerTable, Event, IdentityLinks, JourneyError, Timestamp,
    TypedTable,
};

/// Key of the Parquet metadata entry holding the feature spec as JSON.
pub const SPEC_METADATA_KEY: &str = "nextbest.feature_spec";
/// Name of the column holding the instant features are computed as of.
pub const AS_OF_COLUMN: &str = "as_of";

/// One row of a feature matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixRow {
    /// The customer.
    pub customer_id: String,
    /// Features are computed from events strictly before this instant.
    pub as_of: Timestamp,
    /// Values of the pass-through columns (decision mode), aligned with the matrix's extras.
    pub extra: Vec<AttrValue>,
    /// The feature vector, aligned with the spec.
    pub features: Vec<f32>,
}

/// Counts that explain what went into a matrix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatrixStats {
    /// Event rows read.
    pub events_read: u64,
    /// Events at or after their row's cutoff, ignored (point-in-time).
    pub events_ignored_after_cutoff: u64,
    /// Customers seen only in events at or after the cutoff (and not in the customer table): no row.
    pub customers_without_history: u64,
    /// Customers in the table who signed up at or after the cutoff: no row.
    pub customers_not_yet_signed_up: u64,
    /// Decision points whose customer has no events at all.
    pub decisions_without_events: u64,
    /// Rows written.
    pub rows: u64,
    /// Visitor events (`anonymous_id` only) given to a customer an `identify` linked them to
    /// before the row's instant.
    pub visitor_events_linked: u64,
    /// Visitor events left out: their visitor was not linked to a customer before the row's
    /// instant (or never).
    pub visitor_events_not_linked: u64,
}

/// Customer attributes as the spec wants them.
#[derive(Clone, Copy)]
pub struct Attributes<'a> {
    table: &'a CustomerTable,
    mapping: &'a AttributeMapping,
}

impl<'a> Attributes<'a> {
    /// Pairs a customer table with its mapping onto a spec.
    pub fn new(table: &'a CustomerTable, mapping: &'a AttributeMapping) -> Self {
        Attributes { table, mapping }
    }

    pub(crate) fn get(&self, customer_id: &str) -> Option<std::borrow::Cow<'a, [AttrValue]>> {
        self.table
            .get(customer_id)
            .map(|row| self.mapping.align(row))
    }
}

/// Builds one row per customer at a fixed cutoff, streaming: state is per customer, not per event.
pub struct CustomerMatrixBuilder<'s> {
    spec: &'s FeatureSpec,
    cutoff: Timestamp,
    scorer: Option<&'s dyn TextScorer>,
    accumulators: FxHashMap<String, FeatureAccumulator<'s>>,
    visitors: Visitors,
    stats: MatrixStats,
}

/// Visitor events and `identify` links, held until every link is known (a link may come after
/// the events it claims, anywhere in the file).
#[derive(Default)]
struct Visitors {
    links: IdentityLinks,
    events: FxHashMap<String, Vec<Event>>,
}

impl Visitors {
    /// Keeps `event` if it is a visitor's; notes the link if it is an `identify`. Whether the
    /// event was kept here.
    fn take(&mut self, event: &Event) -> bool {
        self.links.observe(event);
        let Some(anonymous) = event
            .anonymous_id
            .as_deref()
            .filter(|_| event.is_anonymous())
        else {
            return false;
        };
        match self.events.get_mut(anonymous) {
            Some(events) => events.push(event.clone()),
            None => {
                self.events
                    .insert(anonymous.to_string(), vec![event.clone()]);
            }
        }
        true
    }

    /// Each linked visitor's events with their customer and the instant of the link; the
    /// number of events of visitors never linked.
    fn resolved(self) -> (Vec<(String, Timestamp, Vec<Event>)>, u64) {
        let mut linked = Vec::new();
        let mut never = 0;
        for (anonymous, events) in self.events {
            match self.links.resolve(&anonymous) {
                Some((customer, since)) => linked.push((customer.to_string(), since, events)),
                None => never += events.len() as u64,
            }
        }
        (linked, never)
    }
}

impl<'s> CustomerMatrixBuilder<'s> {
    /// Starts a matrix as of `cutoff`.
    pub fn new(
        spec: &'s FeatureSpec,
        cutoff: Timestamp,
        scorer: Option<&'s dyn TextScorer>,
    ) -> Self {
        CustomerMatrixBuilder {
            spec,
            cutoff,
            scorer,
            accumulators: FxHashMap::default(),
            visitors: Visitors::default(),
            stats: MatrixStats::default(),
        }
    }

    /// Adds a chunk of events, in any order.
    pub fn add(&mut self, events: &[Event]) {
        self.stats.events_read += events.len() as u64;
        for event in events {
            if self.visitors.take(event) {
                continue;
            }
            match self.accumulators.get_mut(event.customer_id.as_str()) {
                Some(accumulator) => accumulator.observe(event),
                None => {
                    let mut accumulator =
                        FeatureAccumulator::new(self.spec, self.cutoff, self.scorer);
                    accumulator.observe(event);
                    self.accumulators
                        .insert(event.customer_id.clone(), accumulator);
                }
            }
        }
    }

    /// Finishes every customer known at the cutoff, sorted by customer id.
    ///
    /// A customer is known at the cutoff when they have an event before it, or are in the
    /// customer table without a `signup_date` at or after it.
    pub fn finish(self, attributes: Option<Attributes<'_>>) -> (Vec<MatrixRow>, MatrixStats) {
        let CustomerMatrixBuilder {
            spec,
            cutoff,
            scorer,
            mut accumulators,
            visitors,
            mut stats,
        } = self;
        // Point-in-time identity: a visitor's events count only once the link is known.
        let (linked, never) = visitors.resolved();
        stats.visitor_events_not_linked = never;
        for (customer, since, events) in linked {
            if since >= cutoff {
                stats.visitor_events_not_linked += events.len() as u64;
                continue;
            }
            let accumulator = accumulators
                .entry(customer)
                .or_insert_with(|| FeatureAccumulator::new(spec, cutoff, scorer));
            for event in &events {
                accumulator.observe(event);
            }
            stats.visitor_events_linked += events.len() as u64;
        }
        let signup = spec.signup_index();
        let mut customers: Vec<(String, Option<FeatureAccumulator<'s>>)> = Vec::new();
        let mut from_events: FxHashMap<String, FeatureAccumulator<'s>> = accumulators;
        stats.events_ignored_after_cutoff = from_events.values().map(|a| a.ignored()).sum();
        if let Some(attrs) = attributes {
            for id in attrs.table.ids() {
                let accumulator = from_events.remove(id.as_str());
                let has_history = accumulator.as_ref().is_some_and(|a| a.events_used() > 0);
                let row = attrs.get(id);
                let signed_up_later = matches!(
                    (signup, row.as_deref()),
                    (Some(i), Some(values)) if matches!(values.get(i), Some(AttrValue::Date(t)) if *t >= cutoff)
                );
                if signed_up_later && !has_history {
                    stats.customers_not_yet_signed_up += 1;
                } else {
                    customers.push((id.clone(), accumulator));
                }
            }
        }
        for (id, accumulator) in from_events {
            if accumulator.events_used() > 0 {
                customers.push((id, Some(accumulator)));
            } else {
                stats.customers_without_history += 1;
            }
        }
        customers.sort_by(|a, b| a.0.cmp(&b.0));
        let rows: Vec<MatrixRow> = customers
            .into_par_iter()
            .map(|(customer_id, accumulator)| {
                let row = attributes.and_then(|a| a.get(&customer_id));
                let accumulator =
                    accumulator.unwrap_or_else(|| FeatureAccumulator::new(spec, cutoff, scorer));
                MatrixRow {
                    features: accumulator.finish(row.as_deref()),
                    customer_id,
                    as_of: cutoff,
                    extra: Vec::new(),
                }
            })
            .collect();
        stats.rows = rows.len() as u64;
        (rows, stats)
    }
}

/// Decision points: (customer, instant) pairs with any other columns passed through.
#[derive(Clone, Debug)]
pub struct DecisionPoints {
    table: TypedTable,
    timestamp_column: usize,
}

/// The column of decision-point files that holds the decision instant.
pub const DECISION_TIME_COLUMN: &str = "timestamp";

impl DecisionPoints {
    /// Reads decision points (columns `customer_id`, `timestamp`, anything else passed through).
    pub fn read(path: &Path, format: Option<crate::journey::Format>) -> Result<Self, JourneyError> {
        let table = TypedTable::read(path, format, CUSTOMER_ID)?;
        let present = || {
            std::iter::once(CUSTOMER_ID.to_string())
                .chain(table.columns.iter().map(|c| c.name.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let timestamp_column =
            table
                .column(DECISION_TIME_COLUMN)
                .ok_or_else(|| JourneyError::MissingColumn {
                    file: path.to_path_buf(),
                    column: DECISION_TIME_COLUMN.into(),
                    present: present(),
                })?;
        // Find the first row that is not a timestamp (one bad cell makes the column categorical).
        for (i, value) in table.values[timestamp_column].iter().enumerate() {
            let problem = match value {
                AttrValue::Date(_) => continue,
                AttrValue::Missing => "is empty".to_string(),
                AttrValue::Category(text) => match Timestamp::parse_date_or_datetime(text) {
                    Ok(_) => continue,
                    Err(e) => e.to_string(),
                },
                AttrValue::Number(_) | AttrValue::Bool(_) => "is not a timestamp".to_string(),
            };
            return Err(JourneyError::Cell {
                file: path.to_path_buf(),
                row: table.rows[i],
                column: DECISION_TIME_COLUMN.into(),
                problem,
            });
        }
        Ok(DecisionPoints {
            table,
            timestamp_column,
        })
    }

    /// Number of decision points.
    pub fn len(&self) -> usize {
        self.table.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.table.keys.is_empty()
    }

    /// The pass-through columns (everything but `customer_id` and `timestamp`).
    pub fn extra_columns(&self) -> Vec<AttributeColumn> {
        self.table
            .columns
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.timestamp_column)
            .map(|(_, c)| c.clone())
            .collect()
    }

    fn time(&self, i: usize) -> Timestamp {
        match self.table.values[self.timestamp_column][i] {
            AttrValue::Date(t) => t,
            _ => Timestamp(i64::MIN),
        }
    }

    fn extra(&self, i: usize) -> Vec<AttrValue> {
        self.table
            .values
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != self.timestamp_column)
            .map(|(_, column)| column[i].clone())
            .collect()
    }

    /// The customers with decision points.
    pub fn customer_set(&self) -> rustc_hash::FxHashSet<&str> {
        self.table.keys.iter().map(String::as_str).collect()
    }
}

/// Builds one row per decision point. Holds the events of customers with decision points in
/// memory, then featurises each point from the events strictly before it.
pub struct DecisionMatrixBuilder<'s> {
    spec: &'s FeatureSpec,
    scorer: Option<&'s dyn TextScorer>,
    points: &'s DecisionPoints,
    wanted: rustc_hash::FxHashSet<&'s str>,
    histories: FxHashMap<String, Vec<Event>>,
    visitors: Visitors,
    stats: MatrixStats,
}

impl<'s> DecisionMatrixBuilder<'s> {
    /// Starts a matrix over `points`.
    pub fn new(
        spec: &'s FeatureSpec,
        points: &'s DecisionPoints,
        scorer: Option<&'s dyn TextScorer>,
    ) -> Self {
        DecisionMatrixBuilder {
            spec,
            scorer,
            points,
            wanted: points.customer_set(),
            histories: FxHashMap::default(),
            visitors: Visitors::default(),
            stats: MatrixStats::default(),
        }
    }

    /// Adds a chunk of events, in any order; events of customers without decision points are skipped.
    pub fn add(&mut self, events: Vec<Event>) {
        self.stats.events_read += events.len() as u64;
        for event in events {
            if self.visitors.take(&event) {
                continue;
            }
            if !self.wanted.contains(event.customer_id.as_str()) {
                continue;
            }
            match self.histories.get_mut(event.customer_id.as_str()) {
                Some(history) => history.push(event),
                None => {
                    self.histories
                        .insert(event.customer_id.clone(), vec![event]);
                }
            }
        }
    }

    /// Computes one row per decision point, in input order, handing them to `sink` in batches
    /// so that memory stays bounded however many points there are.
    pub fn finish(
        mut self,
        attributes: Option<Attributes<'_>>,
        sink: &mut dyn FnMut(&[MatrixRow]) -> Result<(), JourneyError>,
    ) -> Result<MatrixStats, JourneyError> {
        const BATCH: usize = 16 * 1024;
        self.histories
            .par_iter_mut()
            .for_each(|(_, history)| history.sort_by_key(|e| e.timestamp));
        // Visitor events of customers with decision points, with the instant of their link.
        let (linked, never) = std::mem::take(&mut self.visitors).resolved();
        self.stats.visitor_events_not_linked = never;
        let mut visits: FxHashMap<String, Vec<(Timestamp, Event)>> = FxHashMap::default();
        for (customer, since, events) in linked {
            if self.wanted.contains(customer.as_str()) {
                let entry = visits.entry(customer).or_default();
                entry.extend(events.into_iter().map(|e| (since, e)));
            }
        }
        let visits = &visits;
        let histories = &self.histories;
        let (spec, scorer, points) = (self.spec, self.scorer, self.points);
        for start in (0..points.len()).step_by(BATCH) {
            let end = (start + BATCH).min(points.len());
            let results: Vec<(MatrixRow, [u64; 3], bool)> = (start..end)
                .into_par_iter()
                .map(|i| {
                    let customer_id = &points.table.keys[i];
                    let as_of = points.time(i);
                    let history = histories.get(customer_id).map(Vec::as_slice).unwrap_or(&[]);
                    let before = history.partition_point(|e| e.timestamp < as_of);
                    let row = attributes.and_then(|a| a.get(customer_id));
                    let mut accumulator = FeatureAccumulator::new(spec, as_of, scorer);
                    for event in &history[..before] {
                        accumulator.observe(event);
                    }
                    let mut ignored = (history.len() - before) as u64;
                    let (mut linked, mut not_linked) = (0u64, 0u64);
                    for (since, event) in visits.get(customer_id).map(Vec::as_slice).unwrap_or(&[])
                    {
                        if *since >= as_of {
                            not_linked += 1;
                        } else if event.timestamp >= as_of {
                            ignored += 1;
                        } else {
                            accumulator.observe(event);
                            linked += 1;
                        }
                    }
                    (
                        MatrixRow {
                            customer_id: customer_id.clone(),
                            as_of,
                            extra: points.extra(i),
                            features: accumulator.finish(row.as_deref()),
                        },
                        [ignored, linked, not_linked],
                        history.is_empty() && linked == 0,
                    )
                })
                .collect();
            let mut rows = Vec::with_capacity(results.len());
            for (row, [ignored, linked, not_linked], no_events) in results {
                self.stats.events_ignored_after_cutoff += ignored;
                self.stats.visitor_events_linked += linked;
                self.stats.visitor_events_not_linked += not_linked;
                self.stats.decisions_without_events += u64::from(no_events);
                rows.push(row);
            }
            self.stats.rows += rows.len() as u64;
            sink(&rows)?;
        }
        Ok(self.stats)
    }
}

/// Streams feature-matrix rows into Parquet, with the spec in the file's metadata. Nothing
/// appears at the path until the [`AtomicFile`] returned by [`MatrixWriter::finish`] is committed.
pub struct MatrixWriter {
    file: AtomicFile,
    writer: ArrowWriter<std::fs::File>,
    schema: SchemaRef,
    spec_len: usize,
    extra_columns: Vec<AttributeColumn>,
}

impl MatrixWriter {
    /// Starts a matrix file with the spec's features and the given pass-through columns.
    pub fn create(
        path: &Path,
        spec: &FeatureSpec,
        extra_columns: &[AttributeColumn],
    ) -> Result<Self, JourneyError> {
        let mut fields = vec![
            Field::new(CUSTOMER_ID, DataType::Utf8, false),
            Field::new(
                AS_OF_COLUMN,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ];
        for column in extra_columns {
            if spec.index_of(&column.name).is_some() || column.name == AS_OF_COLUMN {
                return Err(JourneyError::Invalid {
                    file: path.to_path_buf(),
                    problem: format!(
                        "pass-through column '{}' has the name of a feature column; rename it",
                        column.name
                    ),
                });
            }
            fields.push(Field::new(
                &column.name,
                attribute_data_type(column.kind),
                true,
            ));
        }
        for feature in &spec.features {
            fields.push(Field::new(&feature.name, DataType::Float32, false));
        }
        let spec_json =
            serde_json::to_string(spec).map_err(|e| JourneyError::malformed(path, e))?;
        let schema: SchemaRef = Arc::new(Schema::new(fields).with_metadata(
            std::collections::HashMap::from([(SPEC_METADATA_KEY.to_string(), spec_json)]),
        ));
        let (file, handle) = AtomicFile::create(path)?;
        let writer = ArrowWriter::try_new(handle, schema.clone(), Some(parquet_properties()))
            .map_err(|e| JourneyError::malformed(path, e))?;
        Ok(MatrixWriter {
            file,
            writer,
            schema,
            spec_len: spec.len(),
            extra_columns: extra_columns.to_vec(),
        })
    }

    /// Appends rows.
    pub fn write(&mut self, rows: &[MatrixRow]) -> Result<(), JourneyError> {
        for chunk in rows.chunks(64 * 1024) {
            let batch = matrix_batch(&self.schema, self.spec_len, &self.extra_columns, chunk)
                .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
            self.writer
                .write(&batch)
                .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        }
        Ok(())
    }

    /// Closes the Parquet file; commit the returned file to move it into place.
    pub fn finish(self) -> Result<AtomicFile, JourneyError> {
        self.writer
            .close()
            .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        Ok(self.file)
    }
}

/// Writes a whole feature matrix to Parquet, atomically.
pub fn write_matrix(
    path: &Path,
    spec: &FeatureSpec,
    extra_columns: &[AttributeColumn],
    rows: &[MatrixRow],
) -> Result<(), JourneyError> {
    let mut writer = MatrixWriter::create(path, spec, extra_columns)?;
    writer.write(rows)?;
    writer.finish()?.commit()
}

fn matrix_batch(
    schema: &SchemaRef,
    spec_len: usize,
    extra_columns: &[AttributeColumn],
    rows: &[MatrixRow],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut ids = StringBuilder::new();
    let mut times = TimestampMicrosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    for row in rows {
        ids.append_value(&row.customer_id);
        times.append_value(row.as_of.0);
    }
    columns.push(Arc::new(ids.finish()));
    columns.push(Arc::new(times.finish()));
    for (c, column) in extra_columns.iter().enumerate() {
        let values: Vec<&AttrValue> = rows
            .iter()
            .map(|r| r.extra.get(c).unwrap_or(&AttrValue::Missing))
            .collect();
        columns.push(attribute_array(column.kind, values.into_iter()));
    }
    for f in 0..spec_len {
        let mut b = Float32Builder::with_capacity(rows.len());
        for row in rows {
            b.append_value(row.features.get(f).copied().unwrap_or(f32::NAN));
        }
        columns.push(Arc::new(b.finish()));
    }
    RecordBatch::try_new(schema.clone(), columns)
}
