//! Streaming readers of journey events from Parquet, CSV and JSONL.
//!
//! Events arrive in chunks so that a file larger than memory can be read; a reader holds one
//! chunk at a time. In strict mode (the default) the first malformed row is an error naming file,
//! row and column; in lenient mode (`inspect`) malformed rows are reported beside the chunk and
//! left out of it.

//!
//! One file per concept:
//! - this file: the public entry points ([`EventReader`], [`Format`], [`ReadOptions`], chunks and
//!   progress);
//! - `row`: one row's fields validated into an event, the same for every format;
//! - `parquet_file`, `csv_file`, `jsonl_file`: each format's chunk source (the CSV and Parquet
//!   openers are shared with the customer table reader);
//! - `prefetch`: decoding on a background thread ([`PrefetchReader`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::{JourneyError, Result, RowProblem};
use super::event::Event;

mod csv_file;
mod jsonl_file;
mod parquet_file;
mod prefetch;
pub(crate) mod row;

use csv_file::CsvEvents;
pub(crate) use csv_file::{
    check_unterminated_quote, csv_error, csv_header, csv_record_problem, open_csv,
};
pub(crate) use jsonl_file::json_kind;
use jsonl_file::JsonlEvents;
use parquet_file::ParquetEvents;
pub(crate) use parquet_file::{check_event_types, open_parquet, EventColumns, ParquetPlan};
pub use prefetch::PrefetchReader;

/// The columns of the event contract, in their canonical order.
pub const EVENT_COLUMNS: [&str; 8] = [
    "customer_id",
    "timestamp",
    "event_type",
    "channel",
    "action_id",
    "value",
    "text",
    "anonymous_id",
];
/// The columns every event file must have.
pub const REQUIRED_EVENT_COLUMNS: [&str; 3] = ["customer_id", "timestamp", "event_type"];

/// The event columns read as Arrow dictionaries: few distinct values (ids repeat within a
/// customer's run of rows), so each entry is converted once per batch instead of once per row.
pub(crate) const DICTIONARY_EVENT_COLUMNS: [&str; 4] =
    ["customer_id", "event_type", "channel", "action_id"];

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

/// A format name that is none of `parquet`, `csv` or `jsonl` (`ndjson`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{name}' (expected parquet, csv or jsonl)")]
pub struct UnknownFormatName {
    /// The name as given, in lower case.
    pub name: String,
}

impl FromStr for Format {
    type Err = UnknownFormatName;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            other => Err(UnknownFormatName {
                name: other.to_string(),
            }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_parse_in_any_case_and_unknown_ones_say_what_is_expected() {
        assert_eq!("JSONL".parse::<Format>(), Ok(Format::Jsonl));
        assert_eq!("ndjson".parse::<Format>(), Ok(Format::Jsonl));
        assert_eq!(
            "XML".parse::<Format>().unwrap_err().to_string(),
            "unknown format 'xml' (expected parquet, csv or jsonl)"
        );
    }
}
