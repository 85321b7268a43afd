//! Parquet: Arrow record batches, with column types checked when the file is opened.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::RecordBatchReader;
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::row::{build_event, CellError, RawFields, VocabularyCache};
use super::{
    ChunkSource, EventChunk, Progress, ProgressUnit, DEFAULT_CHUNK_ROWS, DICTIONARY_EVENT_COLUMNS,
    EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS,
};
use crate::journey::arrow_columns::{
    accepts_numbers, accepts_strings, accepts_times, NumberColumn, StrColumn, TimeColumn, ID_TYPES,
    NUMBER_TYPES, STRING_TYPES, TIMESTAMP_TYPES,
};
use crate::journey::error::{JourneyError, Result};

/// A Parquet event file opened for Arrow batch reading: its metadata and reading plan, from
/// which a reader of the whole file or of one row group is built (row groups decode
/// independently, so a reader can decode several at once and still take them in file order).
pub(crate) struct ParquetPlan {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    mask: Option<ProjectionMask>,
    batch_rows: usize,
    /// Rows in the file.
    pub(crate) total_rows: u64,
}

impl ParquetPlan {
    /// Opens `path`, projecting to the `wanted` columns present; a `required` column missing
    /// is an error.
    ///
    /// The string columns named in `dictionary` come as Arrow dictionary arrays: the file's
    /// dictionary pages are kept as they are instead of being copied out into a string per
    /// row, and a reader can work per dictionary entry instead of per row.
    pub(crate) fn open(
        path: &Path,
        wanted: Option<&[&str]>,
        required: &[&str],
        dictionary: &[&str],
        batch_rows: usize,
    ) -> Result<Self> {
        let handle = File::open(path).map_err(|e| JourneyError::io(path, e))?;
        let metadata =
            ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new()).map_err(|e| {
                JourneyError::malformed(path, format!("not a readable Parquet file: {e}"))
            })?;
        let total_rows = metadata.metadata().file_metadata().num_rows().max(0) as u64;
        let schema = metadata.schema().clone();
        let present: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        for name in required {
            if !present.iter().any(|p| p == name) {
                return Err(JourneyError::MissingColumn {
                    file: path.to_path_buf(),
                    column: name.to_string(),
                    present: crate::journey::error::column_list(&present),
                });
            }
        }
        let metadata = with_dictionaries(metadata, dictionary);
        let mask = wanted.map(|wanted| {
            let indices: Vec<usize> = present
                .iter()
                .enumerate()
                .filter(|(_, name)| wanted.contains(&name.as_str()))
                .map(|(i, _)| i)
                .collect();
            ProjectionMask::roots(metadata.metadata().file_metadata().schema_descr(), indices)
        });
        Ok(ParquetPlan {
            path: path.to_path_buf(),
            metadata,
            mask,
            batch_rows,
            total_rows,
        })
    }

    /// How many row groups the file has.
    pub(crate) fn row_groups(&self) -> usize {
        self.metadata.metadata().num_row_groups()
    }

    /// A reader of the whole file, or of the row group `group` only.
    pub(crate) fn reader(&self, group: Option<usize>) -> Result<ParquetRecordBatchReader> {
        let handle = File::open(&self.path).map_err(|e| JourneyError::io(&self.path, e))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(handle, self.metadata.clone())
                .with_batch_size(self.batch_rows);
        if let Some(mask) = &self.mask {
            builder = builder.with_projection(mask.clone());
        }
        if let Some(group) = group {
            builder = builder.with_row_groups(vec![group]);
        }
        builder
            .build()
            .map_err(|e| JourneyError::malformed(&self.path, e))
    }
}

/// Opens a Parquet file for Arrow batch reading ([`ParquetPlan::open`]): a reader of the whole
/// file, and its row count.
pub(crate) fn open_parquet(
    path: &Path,
    wanted: Option<&[&str]>,
    required: &[&str],
    dictionary: &[&str],
    batch_rows: usize,
) -> Result<(ParquetRecordBatchReader, u64)> {
    let plan = ParquetPlan::open(path, wanted, required, dictionary, batch_rows)?;
    Ok((plan.reader(None)?, plan.total_rows))
}

/// The reading plan with the named string columns read as dictionaries; unchanged when none
/// is a plain string column, or when the file will not have it (then strings it is).
fn with_dictionaries(metadata: ArrowReaderMetadata, names: &[&str]) -> ArrowReaderMetadata {
    let schema = metadata.schema();
    let mut changed = false;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let value = field.data_type();
            if names.contains(&field.name().as_str())
                && matches!(value, DataType::Utf8 | DataType::LargeUtf8)
            {
                changed = true;
                let keyed =
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(value.clone()));
                field.as_ref().clone().with_data_type(keyed)
            } else {
                field.as_ref().clone()
            }
        })
        .collect();
    if !changed {
        return metadata;
    }
    let hinted = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let options = ArrowReaderOptions::new().with_schema(hinted);
    ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).unwrap_or(metadata)
}

/// Checks that every event column present has a type that can carry it.
pub(crate) fn check_event_types(path: &Path, schema: &arrow_schema::Schema) -> Result<()> {
    for field in schema.fields() {
        let data_type = field.data_type();
        let (ok, expected) = match field.name().as_str() {
            "customer_id" | "action_id" | "anonymous_id" => {
                (accepts_strings(data_type, true), ID_TYPES)
            }
            "timestamp" => (accepts_times(data_type), TIMESTAMP_TYPES),
            "value" => (accepts_numbers(data_type), NUMBER_TYPES),
            _ => (accepts_strings(data_type, false), STRING_TYPES),
        };
        if !ok {
            return Err(JourneyError::ColumnType {
                file: path.to_path_buf(),
                column: field.name().clone(),
                found: data_type.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    Ok(())
}

/// The event columns of a record batch, typed; a missing optional column is absent (types
/// were checked when the file was opened).
pub(crate) struct EventColumns<'a> {
    pub(crate) ids: Option<StrColumn<'a>>,
    pub(crate) times: Option<TimeColumn<'a>>,
    pub(crate) types: Option<StrColumn<'a>>,
    pub(crate) channels: Option<StrColumn<'a>>,
    pub(crate) actions: Option<StrColumn<'a>>,
    pub(crate) values: Option<NumberColumn<'a>>,
    pub(crate) texts: Option<StrColumn<'a>>,
    pub(crate) anonymous: Option<StrColumn<'a>>,
}

/// One row's cells, owning what had to be converted (integer ids, dictionary values).
pub(crate) struct EventCells<'a> {
    id: Option<Cow<'a, str>>,
    timestamp: std::result::Result<Option<crate::journey::Timestamp>, crate::journey::TimeError>,
    event_type: Option<Cow<'a, str>>,
    channel: Option<Cow<'a, str>>,
    action: Option<Cow<'a, str>>,
    value: Option<f64>,
    text: Option<Cow<'a, str>>,
    anonymous_id: Option<Cow<'a, str>>,
}

/// The dictionary keys of one row's cells ([`StrColumn::key`]): `None` where the column is not
/// a dictionary or the cell is null.
pub(crate) struct EventKeys {
    pub(crate) customer_id: Option<usize>,
    pub(crate) event_type: Option<usize>,
    pub(crate) channel: Option<usize>,
    pub(crate) action_id: Option<usize>,
}

impl<'a> EventColumns<'a> {
    /// The batch's event columns.
    pub(crate) fn new(batch: &'a RecordBatch) -> Self {
        let column = |name: &str| batch.column_by_name(name);
        EventColumns {
            ids: column("customer_id").and_then(|c| StrColumn::new(c, true)),
            times: column("timestamp").and_then(TimeColumn::new),
            types: column("event_type").and_then(|c| StrColumn::new(c, false)),
            channels: column("channel").and_then(|c| StrColumn::new(c, false)),
            actions: column("action_id").and_then(|c| StrColumn::new(c, true)),
            values: column("value").and_then(NumberColumn::new),
            texts: column("text").and_then(|c| StrColumn::new(c, false)),
            anonymous: column("anonymous_id").and_then(|c| StrColumn::new(c, true)),
        }
    }

    /// The cells of row `i` of the batch.
    pub(crate) fn cells(&self, i: usize) -> EventCells<'a> {
        let text = |c: &Option<StrColumn<'a>>| c.as_ref().and_then(|c| c.get(i));
        EventCells {
            id: text(&self.ids),
            timestamp: self.times.as_ref().map_or(Ok(None), |c| c.get(i)),
            event_type: text(&self.types),
            channel: text(&self.channels),
            action: text(&self.actions),
            value: self.values.as_ref().and_then(|c| c.get(i)),
            text: text(&self.texts),
            anonymous_id: text(&self.anonymous),
        }
    }

    /// Row `i`'s dictionary keys.
    #[inline]
    pub(crate) fn keys(&self, i: usize) -> EventKeys {
        let key = |c: &Option<StrColumn<'a>>| c.as_ref().and_then(|c| c.key(i));
        EventKeys {
            customer_id: key(&self.ids),
            event_type: key(&self.types),
            channel: key(&self.channels),
            action_id: key(&self.actions),
        }
    }

    /// The dictionary sizes of the customer, event type, channel and action columns (0: not a
    /// dictionary), in the order of [`EventKeys`].
    pub(crate) fn dictionary_lens(&self) -> [usize; 4] {
        let len = |c: &Option<StrColumn<'a>>| c.as_ref().map_or(0, StrColumn::dictionary_len);
        [
            len(&self.ids),
            len(&self.types),
            len(&self.channels),
            len(&self.actions),
        ]
    }
}

impl EventCells<'_> {
    /// The row as the shared validation reads it.
    pub(crate) fn fields(&self) -> RawFields<'_> {
        RawFields {
            customer_id: self.id.as_deref(),
            timestamp: self
                .timestamp
                .clone()
                .map_err(|problem| CellError::Timestamp(problem.to_string())),
            event_type: self.event_type.as_deref(),
            channel: self.channel.as_deref(),
            action_id: self.action.as_deref(),
            value: Ok(self.value),
            text: self.text.as_deref(),
            anonymous_id: self.anonymous_id.as_deref(),
        }
    }
}

pub(super) struct ParquetEvents {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    total_rows: u64,
    row: u64,
    pending: Option<(RecordBatch, usize)>,
    cache: VocabularyCache,
}

impl ParquetEvents {
    pub(super) fn open(path: &Path) -> Result<Self> {
        let (reader, total_rows) = open_parquet(
            path,
            Some(&EVENT_COLUMNS),
            &REQUIRED_EVENT_COLUMNS,
            &DICTIONARY_EVENT_COLUMNS,
            DEFAULT_CHUNK_ROWS,
        )?;
        let events = ParquetEvents {
            path: path.to_path_buf(),
            reader,
            total_rows,
            row: 0,
            pending: None,
            cache: VocabularyCache::default(),
        };
        // Check column types up front so a wrong schema fails before any work is done.
        check_event_types(path, &events.reader.schema())?;
        Ok(events)
    }

    fn convert(&mut self, batch: &RecordBatch, start: usize, end: usize, chunk: &mut EventChunk) {
        let columns = EventColumns::new(batch);
        for i in start..end {
            let row = self.row + 1;
            self.row = row;
            let cells = columns.cells(i);
            match build_event(row, cells.fields(), &mut self.cache) {
                Ok(event) => chunk.events.push(event),
                Err(problem) => chunk.problems.push(problem),
            }
        }
    }
}

impl ChunkSource for ParquetEvents {
    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<EventChunk>> {
        let mut chunk = EventChunk::default();
        while chunk.events.len() + chunk.problems.len() < max_rows {
            let (batch, offset) = match self.pending.take() {
                Some(pending) => pending,
                None => match self.reader.next() {
                    None => break,
                    Some(Ok(batch)) => (batch, 0),
                    Some(Err(e)) => {
                        return Err(JourneyError::malformed(
                            &self.path,
                            format!("cannot decode after row {}: {e}", self.row),
                        ))
                    }
                },
            };
            let room = max_rows - chunk.events.len() - chunk.problems.len();
            let end = batch.num_rows().min(offset + room);
            self.convert(&batch, offset, end, &mut chunk);
            if end < batch.num_rows() {
                self.pending = Some((batch, end));
            }
        }
        if chunk.events.is_empty() && chunk.problems.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunk))
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self.row,
            total: Some(self.total_rows),
            unit: ProgressUnit::Rows,
        }
    }
}
