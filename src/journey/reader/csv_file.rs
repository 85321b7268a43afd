//! CSV: the streaming event source, and the header, quoting and record checks that the customer
//! table reader shares.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::row::{build_event, parse_number_text, parse_time_text, RawFields, VocabularyCache};
use super::{
    ChunkSource, EventChunk, Progress, ProgressUnit, EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS,
};
use crate::journey::error::{JourneyError, Result, RowProblem};

/// Maps contract columns to positions in a header.
fn header_positions(
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
                present: crate::journey::error::column_list(header),
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

pub(super) struct CsvEvents {
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
    pub(super) fn open(path: &Path) -> Result<Self> {
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
                        anonymous_id: field(7),
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
