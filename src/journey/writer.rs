//! Writing journey data: atomic output files and a Parquet event writer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::customers::{AttrValue, AttributeColumn, AttributeKind};
use super::error::{JourneyError, Result};
use super::event::Event;

/// A file written under a temporary name and renamed into place only on [`AtomicFile::commit`],
/// so a failed run never leaves partial output behind.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file beside `target` (creating parent folders).
    pub fn create(target: impl AsRef<Path>) -> Result<(Self, File)> {
        let target = target.as_ref().to_path_buf();
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| JourneyError::io(parent, e))?;
        }
        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".to_string());
        let temp = target.with_file_name(format!(".{file_name}.partial-{}", std::process::id()));
        let file = File::create(&temp).map_err(|e| JourneyError::io(&temp, e))?;
        Ok((
            AtomicFile {
                target,
                temp,
                committed: false,
            },
            file,
        ))
    }

    /// Writes `bytes` as a whole file, returning it uncommitted.
    pub fn with_contents(target: impl AsRef<Path>, bytes: &[u8]) -> Result<Self> {
        use std::io::Write;
        let (file, mut handle) = Self::create(target)?;
        handle
            .write_all(bytes)
            .map_err(|e| JourneyError::io(&file.temp, e))?;
        Ok(file)
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the finished file to disk and moves it into place.
    pub fn commit(mut self) -> Result<()> {
        File::open(&self.temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| JourneyError::io(&self.temp, e))?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| JourneyError::io(&self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Parquet writer properties used for everything nextbest writes.
pub fn parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(256 * 1024))
        .build()
}

/// Writer properties for tables of many continuous numbers (probabilities, traits): byte-stream
/// split plus zstd packs them about twice as tightly as dictionary plus snappy.
fn float_friendly_properties(columns: &[AttributeColumn]) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(256 * 1024));
    for column in columns.iter().filter(|c| c.kind == AttributeKind::Numeric) {
        let path = ColumnPath::from(column.name.as_str());
        builder = builder
            .set_column_dictionary_enabled(path.clone(), false)
            .set_column_encoding(path.clone(), Encoding::BYTE_STREAM_SPLIT)
            .set_column_compression(path, Compression::ZSTD(ZstdLevel::default()));
    }
    builder.build()
}

/// The Arrow schema of event files written by nextbest.
pub fn event_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, true),
        Field::new("action_id", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("text", DataType::Utf8, true),
    ]))
}

/// Streams events into a Parquet file in the contract's schema.
pub struct ParquetEventWriter {
    file: AtomicFile,
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    buffer: Vec<Event>,
    rows: u64,
}

impl ParquetEventWriter {
    const FLUSH_ROWS: usize = 64 * 1024;

    /// Starts writing to `path` (atomically: nothing appears there until [`Self::finish`]).
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let (file, handle) = AtomicFile::create(path)?;
        let schema = event_schema();
        let writer = ArrowWriter::try_new(handle, schema.clone(), Some(parquet_properties()))
            .map_err(|e| JourneyError::malformed(file.target(), e))?;
        Ok(ParquetEventWriter {
            file,
            writer,
            schema,
            buffer: Vec::with_capacity(Self::FLUSH_ROWS),
            rows: 0,
        })
    }

    /// Appends events.
    pub fn write(&mut self, events: impl IntoIterator<Item = Event>) -> Result<()> {
        for event in events {
            self.buffer.push(event);
            if self.buffer.len() >= Self::FLUSH_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let n = self.buffer.len();
        let mut ids = StringBuilder::with_capacity(n, n * 8);
        let mut times = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        let mut types = StringBuilder::with_capacity(n, n * 8);
        let mut channels = StringBuilder::with_capacity(n, n * 4);
        let mut actions = StringBuilder::new();
        let mut values = Float64Builder::with_capacity(n);
        let mut texts = StringBuilder::new();
        for event in self.buffer.drain(..) {
            ids.append_value(&event.customer_id);
            times.append_value(event.timestamp.0);
            types.append_value(event.event_type.as_str());
            channels.append_option(event.channel.as_ref().map(|c| c.as_str()));
            actions.append_option(event.action_id.as_deref());
            values.append_option(event.value);
            texts.append_option(event.text.as_deref());
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(ids.finish()),
            Arc::new(times.finish()),
            Arc::new(types.finish()),
            Arc::new(channels.finish()),
            Arc::new(actions.finish()),
            Arc::new(values.finish()),
            Arc::new(texts.finish()),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        self.writer
            .write(&batch)
            .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        self.rows += n as u64;
        Ok(())
    }

    /// Rows written so far (including buffered ones once flushed).
    pub fn rows(&self) -> u64 {
        self.rows + self.buffer.len() as u64
    }

    /// Flushes, closes and moves the file into place; returns the row count.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        self.writer
            .close()
            .map_err(|e| JourneyError::malformed(self.file.target(), e))?;
        self.file.commit()?;
        Ok(self.rows)
    }
}

/// The Arrow type nextbest writes for an attribute kind.
pub fn attribute_data_type(kind: AttributeKind) -> DataType {
    match kind {
        AttributeKind::Numeric => DataType::Float64,
        AttributeKind::Boolean => DataType::Boolean,
        AttributeKind::Date => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        AttributeKind::Categorical => DataType::Utf8,
    }
}

/// One typed column as an Arrow array (values of another kind are written as nulls).
pub fn attribute_array<'a>(
    kind: AttributeKind,
    values: impl ExactSizeIterator<Item = &'a AttrValue>,
) -> ArrayRef {
    let n = values.len();
    match kind {
        AttributeKind::Numeric => {
            let mut b = Float64Builder::with_capacity(n);
            values.for_each(|v| {
                b.append_option(if let AttrValue::Number(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        AttributeKind::Boolean => {
            let mut b = BooleanBuilder::with_capacity(n);
            values.for_each(|v| {
                b.append_option(if let AttrValue::Bool(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        AttributeKind::Date => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
            values.for_each(|v| {
                b.append_option(if let AttrValue::Date(x) = v {
                    Some(x.0)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        AttributeKind::Categorical => {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            values.for_each(|v| {
                b.append_option(if let AttrValue::Category(x) = v {
                    Some(x.as_str())
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
    }
}

/// Streams a keyed table of typed columns (customer tables, ground truth) into Parquet,
/// atomically: nothing appears at the path until [`TypedTableWriter::finish`].
pub struct TypedTableWriter {
    file: AtomicFile,
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    columns: Vec<AttributeColumn>,
    rows: u64,
}

impl TypedTableWriter {
    /// Starts a table keyed by `key` with the given typed columns.
    pub fn create(path: &Path, key: &str, columns: Vec<AttributeColumn>) -> Result<Self> {
        let mut fields = vec![Field::new(key, DataType::Utf8, false)];
        fields.extend(
            columns
                .iter()
                .map(|c| Field::new(&c.name, attribute_data_type(c.kind), true)),
        );
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let (file, handle) = AtomicFile::create(path)?;
        let writer = ArrowWriter::try_new(
            handle,
            schema.clone(),
            Some(float_friendly_properties(&columns)),
        )
        .map_err(|e| JourneyError::malformed(path, e))?;
        Ok(TypedTableWriter {
            file,
            writer,
            schema,
            columns,
            rows: 0,
        })
    }

    /// Appends rows given column-major: `values[c][r]` is column `c` of row `r`.
    pub fn write(&mut self, keys: &[String], values: &[Vec<AttrValue>]) -> Result<()> {
        let path = self.file.target().to_path_buf();
        if values.len() != self.columns.len() || values.iter().any(|v| v.len() != keys.len()) {
            return Err(JourneyError::malformed(
                &path,
                "internal: column lengths disagree",
            ));
        }
        const ROWS: usize = 64 * 1024;
        for start in (0..keys.len()).step_by(ROWS) {
            let end = (start + ROWS).min(keys.len());
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 1);
            let mut ids = StringBuilder::with_capacity(end - start, (end - start) * 8);
            keys[start..end].iter().for_each(|k| ids.append_value(k));
            arrays.push(Arc::new(ids.finish()));
            for (column, column_values) in self.columns.iter().zip(values) {
                arrays.push(attribute_array(
                    column.kind,
                    column_values[start..end].iter(),
                ));
            }
            let batch = RecordBatch::try_new(self.schema.clone(), arrays)
                .map_err(|e| JourneyError::malformed(&path, e))?;
            self.writer
                .write(&batch)
                .map_err(|e| JourneyError::malformed(&path, e))?;
        }
        self.rows += keys.len() as u64;
        Ok(())
    }

    /// Closes the file and moves it into place; returns the row count.
    pub fn finish(self) -> Result<u64> {
        let path = self.file.target().to_path_buf();
        self.writer
            .close()
            .map_err(|e| JourneyError::malformed(&path, e))?;
        self.file.commit()?;
        Ok(self.rows)
    }
}
