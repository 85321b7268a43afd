//! Streaming readers of journey events from Parquet, CSV and JSONL.
//!
//! Events arrive in chunks so that a file larger than memory can be read; a reader holds one
//! chunk at a time. In strict mode (the default) the first malformed row is an error naming file,
//! row and column; in lenient mode (`inspect`) malformed rows are reported beside the chunk and
//! left out of it.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use arrow_array::RecordBatch;
use arrow_array::RecordBatchReader;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::arrow_columns::{
    accepts_numbers, accepts_strings, accepts_times, NumberColumn, StrColumn, TimeColumn, ID_TYPES,
    NUMBER_TYPES, STRING_TYPES, TIMESTAMP_TYPES,
};
use super::error::{JourneyError, Result, RowProblem};
use super::event::{Channel, Event, EventType, Timestamp};

/// The columns of the event contract, in their canonical order.
pub const EVENT_COLUMNS: [&str; 7] = [
    "customer_id",
    "timestamp",
    "event_type",
    "channel",
    "action_id",
    "value",
    "text",
];
/// The columns every event file must have.
pub const REQUIRED_EVENT_COLUMNS: [&str; 3] = ["customer_id", "timestamp", "event_type"];

/// Rows per chunk unless told otherwise.
pub const DEFAULT_CHUNK_ROWS: usize = 16 * 1024;

/// A file format for journey data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// Tells the format from a file's extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("parquet") | Some("pq") => Ok(Format::Parquet),
            Some("csv") => Ok(Format::Csv),
            Some("jsonl") | Some("ndjson") | Some("json") => Ok(Format::Jsonl),
            _ => Err(JourneyError::UnknownFormat {
                file: path.to_path_buf(),
            }),
        }
    }

    /// The format given explicitly, or else the one the extension says.
    pub fn resolve(explicit: Option<Format>, path: &Path) -> Result<Self> {
        match explicit {
            Some(format) => Ok(format),
            None => Self::from_path(path),
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            other => Err(format!(
                "unknown format '{other}' (expected parquet, csv or jsonl)"
            )),
        }
    }
}

/// How to read a file.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Force a format instead of telling it from the extension.
    pub format: Option<Format>,
    /// Stop at the first malformed row (true) or report it and go on (false).
    pub strict: bool,
    /// Rows per chunk.
    pub chunk_rows: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            strict: true,
            chunk_rows: DEFAULT_CHUNK_ROWS,
        }
    }
}

/// A chunk of events and, in lenient mode, the rows that could not be read.
#[derive(Debug, Default)]
pub struct EventChunk {
    /// The events, in file order.
    pub events: Vec<Event>,
    /// Malformed rows left out of `events` (always empty in strict mode).
    pub problems: Vec<RowProblem>,
}

/// How far a reader has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units in all, when known.
    pub total: Option<u64>,
    /// What the units are.
    pub unit: ProgressUnit,
}

/// Unit of [`Progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressUnit {
    /// Data rows (Parquet knows its row count up front).
    Rows,
    /// Bytes of the file (text formats).
    Bytes,
}

/// One format's way of producing chunks.
trait ChunkSource: Send {
    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<EventChunk>>;
    fn progress(&self) -> Progress;
}

/// Streams the events of one file in chunks.
pub struct EventReader {
    path: PathBuf,
    options: ReadOptions,
    source: Box<dyn ChunkSource>,
    rows_seen: u64,
    finished: bool,
}

impl EventReader {
    /// Opens `path`, checking its columns against the contract before any row is read.
    pub fn open(path: impl AsRef<Path>, options: ReadOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let format = Format::resolve(options.format, &path)?;
        let source: Box<dyn ChunkSource> = match format {
            Format::Parquet => Box::new(ParquetEvents::open(&path)?),
            Format::Csv => Box::new(CsvEvents::open(&path)?),
            Format::Jsonl => Box::new(JsonlEvents::open(&path)?),
        };
        Ok(EventReader {
            path,
            options,
            source,
            rows_seen: 0,
            finished: false,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How far reading has got.
    pub fn progress(&self) -> Progress {
        self.source.progress()
    }

    /// Moves decoding to a background thread that stays up to `depth` chunks ahead, so that
    /// decoding and the caller's work (featurising) run on both cores.
    pub fn prefetch(self, depth: usize) -> PrefetchReader {
        let (sender, receiver) = std::sync::mpsc::sync_channel(depth.max(1));
        let first = self.progress();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(first.done));
        let shared = done.clone();
        let self_path = self.path.clone();
        let mut reader = self;
        let handle = std::thread::spawn(move || {
            while let Some(chunk) = reader.next() {
                shared.store(reader.progress().done, std::sync::atomic::Ordering::Relaxed);
                if sender.send(chunk).is_err() {
                    break;
                }
            }
        });
        PrefetchReader {
            receiver,
            done,
            first,
            path: self_path,
            handle: Some(handle),
        }
    }

    /// Reads the whole file into memory (fine for samples and tests; large files should stream).
    pub fn read_all(path: impl AsRef<Path>, options: ReadOptions) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        for chunk in EventReader::open(path, options)? {
            events.extend(chunk?.events);
        }
        Ok(events)
    }
}

impl Iterator for EventReader {
    type Item = Result<EventChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.source.next_chunk(self.options.chunk_rows.max(1)) {
            Ok(Some(chunk)) => {
                self.rows_seen += (chunk.events.len() + chunk.problems.len()) as u64;
                if self.options.strict {
                    if let Some(problem) = chunk.problems.into_iter().next() {
                        self.finished = true;
                        return Some(Err(problem.into_error(&self.path)));
                    }
                    return Some(Ok(EventChunk {
                        events: chunk.events,
                        problems: Vec::new(),
                    }));
                }
                Some(Ok(chunk))
            }
            Ok(None) => {
                self.finished = true;
                (self.rows_seen == 0).then(|| {
                    Err(JourneyError::Empty {
                        file: self.path.clone(),
                    })
                })
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

/// An [`EventReader`] running on its own thread; iterate it like the reader itself.
pub struct PrefetchReader {
    receiver: std::sync::mpsc::Receiver<Result<EventChunk>>,
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    first: Progress,
    path: PathBuf,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PrefetchReader {
    /// How far decoding has got (it may be ahead of what the caller has consumed).
    pub fn progress(&self) -> Progress {
        Progress {
            done: self.done.load(std::sync::atomic::Ordering::Relaxed),
            ..self.first
        }
    }
}

impl Iterator for PrefetchReader {
    type Item = Result<EventChunk>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.receiver.recv() {
            Ok(chunk) => Some(chunk),
            Err(_) => {
                // The channel closed: the decoder finished, or died. A death must not look like
                // the end of the file.
                match self.handle.take().map(|h| h.join()) {
                    Some(Err(_)) => Some(Err(JourneyError::malformed(
                        &self.path,
                        "the decoding thread failed before the end of the file",
                    ))),
                    _ => None,
                }
            }
        }
    }
}

/// The fields of one row as text, before validation.
struct RawFields<'a> {
    customer_id: Option<&'a str>,
    timestamp: std::result::Result<Option<Timestamp>, String>,
    event_type: Option<&'a str>,
    channel: Option<&'a str>,
    action_id: Option<&'a str>,
    value: std::result::Result<Option<f64>, String>,
    text: Option<&'a str>,
}

/// The trimmed text, or `None` when absent or blank. Most cells need no trimming, so check the
/// ends before paying for a trim.
#[inline]
fn non_empty(text: Option<&str>) -> Option<&str> {
    let text = text?;
    let bytes = text.as_bytes();
    let clean = match (bytes.first(), bytes.last()) {
        (None, _) => return None,
        (Some(first), Some(last))
            if !first.is_ascii_whitespace() && !last.is_ascii_whitespace() && first.is_ascii() =>
        {
            text
        }
        _ => text.trim(),
    };
    (!clean.is_empty()).then_some(clean)
}

/// Remembers the last event type and channel parsed: in real files the same few values repeat,
/// so most rows skip the parse.
#[derive(Default)]
struct VocabularyCache {
    event_type: Option<(String, EventType)>,
    channel: Option<(String, Channel)>,
}

impl VocabularyCache {
    #[inline]
    fn event_type(&mut self, text: &str) -> EventType {
        match &self.event_type {
            Some((last, parsed)) if last == text => parsed.clone(),
            _ => {
                let parsed = EventType::parse(text);
                self.event_type = Some((text.to_string(), parsed.clone()));
                parsed
            }
        }
    }

    #[inline]
    fn channel(&mut self, text: &str) -> Channel {
        match &self.channel {
            Some((last, parsed)) if last == text => parsed.clone(),
            _ => {
                let parsed = Channel::parse(text);
                self.channel = Some((text.to_string(), parsed.clone()));
                parsed
            }
        }
    }
}

/// Validates one row's fields into an event: the one place that knows the row rules.
fn build_event(
    row: u64,
    fields: RawFields<'_>,
    cache: &mut VocabularyCache,
) -> std::result::Result<Event, RowProblem> {
    let customer_id = non_empty(fields.customer_id).ok_or_else(|| {
        RowProblem::new(row, "customer_id", "is empty; every event needs a customer")
    })?;
    let timestamp = match fields.timestamp {
        Ok(Some(ts)) => ts,
        Ok(None) => return Err(RowProblem::new(row, "timestamp", "is empty")),
        Err(problem) => return Err(RowProblem::new(row, "timestamp", problem)),
    };
    let event_type = non_empty(fields.event_type)
        .ok_or_else(|| RowProblem::new(row, "event_type", "is empty"))?;
    let value = match fields.value {
        Ok(Some(v)) if !v.is_finite() => {
            return Err(RowProblem::new(
                row,
                "value",
                format!("{v} is not a finite number"),
            ))
        }
        Ok(v) => v,
        Err(problem) => return Err(RowProblem::new(row, "value", problem)),
    };
    Ok(Event {
        customer_id: customer_id.to_string(),
        timestamp,
        event_type: cache.event_type(event_type),
        channel: non_empty(fields.channel).map(|c| cache.channel(c)),
        action_id: non_empty(fields.action_id).map(str::to_string),
        value,
        // Text keeps its own spacing; only blank text counts as absent.
        text: fields
            .text
            .filter(|t| !t.trim().is_empty())
            .map(str::to_string),
    })
}

fn parse_number_text(text: Option<&str>) -> std::result::Result<Option<f64>, String> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) => t
            .parse::<f64>()
            .map(Some)
            .map_err(|_| format!("'{t}' is not a number")),
    }
}

fn parse_time_text(text: Option<&str>) -> std::result::Result<Option<Timestamp>, String> {
    match non_empty(text) {
        None => Ok(None),
        Some(t) => Timestamp::parse_date_or_datetime(t)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

// ---------------------------------------------------------------- CSV

/// Maps contract columns to positions in a header.
pub(crate) fn header_positions(
    file: &Path,
    header: &[String],
    wanted: &[&str],
    required: &[&str],
) -> Result<Vec<Option<usize>>> {
    let positions: Vec<Option<usize>> = wanted
        .iter()
        .map(|name| header.iter().position(|h| h == name))
        .collect();
    for name in required {
        if !header.iter().any(|h| h == name) {
            return Err(JourneyError::MissingColumn {
                file: file.to_path_buf(),
                column: name.to_string(),
                present: header.join(", "),
            });
        }
    }
    Ok(positions)
}

/// Reads a CSV header, trimming whitespace and a UTF-8 byte-order mark.
pub(crate) fn csv_header(file: &Path, reader: &mut csv::Reader<File>) -> Result<Vec<String>> {
    let header = reader
        .headers()
        .map_err(|e| csv_error(file, e))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect::<Vec<_>>();
    if header.iter().all(|h| h.is_empty()) {
        return Err(JourneyError::Empty {
            file: file.to_path_buf(),
        });
    }
    Ok(header)
}

pub(crate) fn csv_error(file: &Path, error: csv::Error) -> JourneyError {
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(e) => JourneyError::io(file, e),
        _ => JourneyError::malformed(file, message),
    }
}

/// An unterminated quote makes a CSV parser read the rest of the file as one field, silently
/// swallowing every later row. Such a record is always the last one and spans several lines, so
/// count the quotes in its raw bytes: an odd count means the quote never closed.
pub(crate) fn check_unterminated_quote(
    file: &Path,
    start: &csv::Position,
    end: &csv::Position,
    row: u64,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    if end.line() <= start.line() + 1 {
        return Ok(());
    }
    let mut handle = File::open(file).map_err(|e| JourneyError::io(file, e))?;
    handle
        .seek(SeekFrom::Start(start.byte()))
        .map_err(|e| JourneyError::io(file, e))?;
    let mut quotes = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = handle
            .read(&mut buffer)
            .map_err(|e| JourneyError::io(file, e))?;
        if n == 0 {
            break;
        }
        quotes += buffer[..n].iter().filter(|&&b| b == b'"').count() as u64;
    }
    if quotes % 2 == 1 {
        return Err(JourneyError::Cell {
            file: file.to_path_buf(),
            row,
            column: "(row)".into(),
            problem: format!(
                "opens a quote on line {} that is never closed, so the rest of the file would be one field",
                start.line()
            ),
        });
    }
    Ok(())
}

pub(crate) fn open_csv(file: &Path) -> Result<csv::Reader<File>> {
    let handle = File::open(file).map_err(|e| JourneyError::io(file, e))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(handle))
}

/// Turns a record-level CSV problem (bad UTF-8, wrong field count) into a row problem.
pub(crate) fn csv_record_problem(
    row: u64,
    expected_fields: usize,
    record: &csv::StringRecord,
) -> Option<RowProblem> {
    (record.len() != expected_fields).then(|| {
        RowProblem::new(
            row,
            "(row)",
            format!(
                "has {} fields but the header has {expected_fields}",
                record.len()
            ),
        )
    })
}

struct CsvEvents {
    path: PathBuf,
    reader: csv::Reader<File>,
    positions: Vec<Option<usize>>,
    header_len: usize,
    record: csv::StringRecord,
    row: u64,
    total_bytes: u64,
    done: bool,
    cache: VocabularyCache,
    last_start: Option<csv::Position>,
}

impl CsvEvents {
    fn open(path: &Path) -> Result<Self> {
        let total_bytes = std::fs::metadata(path)
            .map_err(|e| JourneyError::io(path, e))?
            .len();
        let mut reader = open_csv(path)?;
        let header = csv_header(path, &mut reader)?;
        let positions = header_positions(path, &header, &EVENT_COLUMNS, &REQUIRED_EVENT_COLUMNS)?;
        Ok(CsvEvents {
            path: path.to_path_buf(),
            reader,
            positions,
            header_len: header.len(),
            record: csv::StringRecord::new(),
            row: 0,
            total_bytes,
            done: false,
            cache: VocabularyCache::default(),
            last_start: None,
        })
    }
}

impl ChunkSource for CsvEvents {
    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<EventChunk>> {
        if self.done {
            return Ok(None);
        }
        let mut chunk = EventChunk::default();
        while chunk.events.len() + chunk.problems.len() < max_rows {
            let start = self.reader.position().clone();
            match self.reader.read_record(&mut self.record) {
                Ok(false) => {
                    self.done = true;
                    if let Some(last_start) = &self.last_start {
                        check_unterminated_quote(
                            &self.path,
                            last_start,
                            self.reader.position(),
                            self.row,
                        )?;
                    }
                    break;
                }
                Ok(true) => {
                    self.last_start = Some(start);
                    self.row += 1;
                    if let Some(problem) =
                        csv_record_problem(self.row, self.header_len, &self.record)
                    {
                        chunk.problems.push(problem);
                        continue;
                    }
                    let field = |i: usize| self.positions[i].and_then(|p| self.record.get(p));
                    let fields = RawFields {
                        customer_id: field(0),
                        timestamp: parse_time_text(field(1)),
                        event_type: field(2),
                        channel: field(3),
                        action_id: field(4),
                        value: parse_number_text(field(5)),
                        text: field(6),
                    };
                    match build_event(self.row, fields, &mut self.cache) {
                        Ok(event) => chunk.events.push(event),
                        Err(problem) => chunk.problems.push(problem),
                    }
                }
                Err(error) => {
                    self.row += 1;
                    match error.kind() {
                        csv::ErrorKind::Utf8 { .. } => chunk.problems.push(RowProblem::new(
                            self.row,
                            "(row)",
                            "is not valid UTF-8",
                        )),
                        _ => return Err(csv_error(&self.path, error)),
                    }
                }
            }
        }
        if chunk.events.is_empty() && chunk.problems.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunk))
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self.reader.position().byte(),
            total: Some(self.total_bytes),
            unit: ProgressUnit::Bytes,
        }
    }
}

// ---------------------------------------------------------------- JSONL

struct JsonlEvents {
    lines: BufReader<File>,
    buffer: Vec<u8>,
    line: u64,
    bytes: u64,
    total_bytes: u64,
    path: PathBuf,
    done: bool,
    cache: VocabularyCache,
}

impl JsonlEvents {
    fn open(path: &Path) -> Result<Self> {
        let handle = File::open(path).map_err(|e| JourneyError::io(path, e))?;
        let total_bytes = handle
            .metadata()
            .map_err(|e| JourneyError::io(path, e))?
            .len();
        Ok(JsonlEvents {
            lines: BufReader::with_capacity(1 << 20, handle),
            buffer: Vec::new(),
            line: 0,
            bytes: 0,
            total_bytes,
            path: path.to_path_buf(),
            done: false,
            cache: VocabularyCache::default(),
        })
    }
}

/// A JSON field as text, checking its JSON type.
fn json_text<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    row: u64,
    column: &str,
    allow_integer: bool,
    owned: &'a mut Option<String>,
) -> std::result::Result<Option<&'a str>, RowProblem> {
    use serde_json::Value;
    match object.get(column) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(Value::Number(n)) if allow_integer && (n.is_i64() || n.is_u64()) => {
            *owned = Some(n.to_string());
            Ok(owned.as_deref())
        }
        Some(other) => Err(RowProblem::new(
            row,
            column,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn jsonl_event(
    line: &str,
    row: u64,
    cache: &mut VocabularyCache,
) -> std::result::Result<Event, RowProblem> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
        .map_err(|e| RowProblem::new(row, "(row)", format!("is not a JSON object: {e}")))?;
    let mut id_buf = None;
    let mut unused = [None, None, None, None, None];
    let [ts_buf, type_buf, channel_buf, action_buf, text_buf] = &mut unused;
    let customer_id = json_text(&object, row, "customer_id", true, &mut id_buf)?;
    let timestamp = parse_time_text(json_text(&object, row, "timestamp", false, ts_buf)?);
    let event_type = json_text(&object, row, "event_type", false, type_buf)?;
    let channel = json_text(&object, row, "channel", false, channel_buf)?;
    let action_id = json_text(&object, row, "action_id", true, action_buf)?;
    let text = json_text(&object, row, "text", false, text_buf)?;
    let value = match object.get("value") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(format!("expected a number, found {}", json_kind(other))),
    };
    build_event(
        row,
        RawFields {
            customer_id,
            timestamp,
            event_type,
            channel,
            action_id,
            value,
            text,
        },
        cache,
    )
}

impl ChunkSource for JsonlEvents {
    fn next_chunk(&mut self, max_rows: usize) -> Result<Option<EventChunk>> {
        let mut chunk = EventChunk::default();
        while !self.done && chunk.events.len() + chunk.problems.len() < max_rows {
            self.buffer.clear();
            let read = self
                .lines
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| JourneyError::io(&self.path, e))?;
            if read == 0 {
                self.done = true;
                break;
            }
            self.bytes += read as u64;
            self.line += 1;
            let Ok(text) = std::str::from_utf8(&self.buffer) else {
                chunk
                    .problems
                    .push(RowProblem::new(self.line, "(row)", "is not valid UTF-8"));
                continue;
            };
            let line = text.trim();
            if line.is_empty() {
                continue;
            }
            match jsonl_event(line, self.line, &mut self.cache) {
                Ok(event) => chunk.events.push(event),
                Err(problem) => chunk.problems.push(problem),
            }
        }
        if chunk.events.is_empty() && chunk.problems.is_empty() {
            return Ok(None);
        }
        Ok(Some(chunk))
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self.bytes,
            total: Some(self.total_bytes),
            unit: ProgressUnit::Bytes,
        }
    }
}

// ---------------------------------------------------------------- Parquet

/// Opens a Parquet file for Arrow batch reading, projecting to the `wanted` columns present.
pub(crate) fn open_parquet(
    path: &Path,
    wanted: Option<&[&str]>,
    required: &[&str],
    batch_rows: usize,
) -> Result<(ParquetRecordBatchReader, u64)> {
    let handle = File::open(path).map_err(|e| JourneyError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
        .map_err(|e| JourneyError::malformed(path, format!("not a readable Parquet file: {e}")))?;
    let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let schema = builder.schema().clone();
    let present: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    for name in required {
        if !present.iter().any(|p| p == name) {
            return Err(JourneyError::MissingColumn {
                file: path.to_path_buf(),
                column: name.to_string(),
                present: present.join(", "),
            });
        }
    }
    let builder = match wanted {
        Some(wanted) => {
            let indices: Vec<usize> = present
                .iter()
                .enumerate()
                .filter(|(_, name)| wanted.contains(&name.as_str()))
                .map(|(i, _)| i)
                .collect();
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder
        .with_batch_size(batch_rows)
        .build()
        .map_err(|e| JourneyError::malformed(path, e))?;
    Ok((reader, total_rows))
}

struct ParquetEvents {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    total_rows: u64,
    row: u64,
    pending: Option<(RecordBatch, usize)>,
    cache: VocabularyCache,
}

impl ParquetEvents {
    fn open(path: &Path) -> Result<Self> {
        let (reader, total_rows) = open_parquet(
            path,
            Some(&EVENT_COLUMNS),
            &REQUIRED_EVENT_COLUMNS,
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
        let schema = events.reader.schema();
        for field in schema.fields() {
            let data_type = field.data_type();
            let (ok, expected) = match field.name().as_str() {
                "customer_id" | "action_id" => (accepts_strings(data_type, true), ID_TYPES),
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
        Ok(events)
    }

    fn convert(&mut self, batch: &RecordBatch, start: usize, end: usize, chunk: &mut EventChunk) {
        let column = |name: &str| batch.column_by_name(name);
        // Types were checked at open; a missing optional column is simply absent.
        let ids = column("customer_id").and_then(|c| StrColumn::new(c, true));
        let times = column("timestamp").and_then(TimeColumn::new);
        let types = column("event_type").and_then(|c| StrColumn::new(c, false));
        let channels = column("channel").and_then(|c| StrColumn::new(c, false));
        let actions = column("action_id").and_then(|c| StrColumn::new(c, true));
        let values = column("value").and_then(NumberColumn::new);
        let texts = column("text").and_then(|c| StrColumn::new(c, false));
        for i in start..end {
            let row = self.row + 1;
            self.row = row;
            let id = ids.as_ref().and_then(|c| c.get(i));
            let event_type = types.as_ref().and_then(|c| c.get(i));
            let channel = channels.as_ref().and_then(|c| c.get(i));
            let action = actions.as_ref().and_then(|c| c.get(i));
            let text = texts.as_ref().and_then(|c| c.get(i));
            let fields = RawFields {
                customer_id: id.as_deref(),
                timestamp: times.as_ref().map_or(Ok(None), |c| c.get(i)),
                event_type: event_type.as_deref(),
                channel: channel.as_deref(),
                action_id: action.as_deref(),
                value: Ok(values.as_ref().and_then(|c| c.get(i))),
                text: text.as_deref(),
            };
            match build_event(row, fields, &mut self.cache) {
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
