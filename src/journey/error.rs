//! Errors of journey I/O. Every variant names the file; cell-level ones name row and column too.

use std::path::PathBuf;

use crate::error::ErrorCode;

/// A problem reading or writing journey data.
#[derive(Debug, thiserror::Error)]
pub enum JourneyError {
    /// The file could not be opened, read or written.
    // The cause is part of the message, so it is not also exposed as `source()` (which would
    // print it twice in an error chain).
    #[error("{file}: {cause}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying I/O error.
        cause: std::io::Error,
    },
    /// The file's format could not be told from its name.
    #[error("{file}: cannot tell the format from the extension; use .parquet, .csv, .jsonl (or .ndjson), or pass --format")]
    UnknownFormat {
        /// The file.
        file: PathBuf,
    },
    /// A required column is absent.
    #[error("{file}: missing required column '{column}' (columns present: {present})")]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// The missing column.
        column: String,
        /// The columns that were found, comma-separated.
        present: String,
    },
    /// A Parquet column has a type that cannot hold what the contract says.
    #[error("{file}: column '{column}' has type {found}, expected {expected}")]
    ColumnType {
        /// The file.
        file: PathBuf,
        /// The column.
        column: String,
        /// The type found.
        found: String,
        /// The type(s) accepted.
        expected: String,
    },
    /// One cell is malformed. Rows are numbered from 1, not counting a CSV header.
    #[error("{file}: row {row}, column '{column}': {problem}")]
    Cell {
        /// The file.
        file: PathBuf,
        /// 1-based data row.
        row: u64,
        /// The column.
        column: String,
        /// What is wrong with the value.
        problem: String,
    },
    /// The file holds no data rows.
    #[error("{file}: contains no data rows")]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// The same customer appears twice in a customer table.
    #[error("{file}: customer '{customer_id}' appears twice (rows {first_row} and {row})")]
    DuplicateCustomer {
        /// The file.
        file: PathBuf,
        /// The repeated id.
        customer_id: String,
        /// Where it first appeared.
        first_row: u64,
        /// Where it appeared again.
        row: u64,
    },
    /// The file is not valid in its format (corrupt Parquet, broken CSV quoting, …).
    #[error("{file}: {problem}")]
    Malformed {
        /// The file.
        file: PathBuf,
        /// What the decoder said.
        problem: String,
    },
    /// A configuration or catalog file is invalid.
    #[error("{file}: {problem}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// What is wrong, naming the key or field.
        problem: String,
    },
}

/// A file's column names for an error message, bounded: a header line of megabytes (a file
/// that is not what it claims) must not become a message of megabytes.
pub(crate) fn column_list<S: AsRef<str>>(names: &[S]) -> String {
    const MAX_NAMES: usize = 20;
    const MAX_NAME_CHARS: usize = 64;
    let mut listed: Vec<String> = names
        .iter()
        .take(MAX_NAMES)
        .map(|name| {
            let name = name.as_ref();
            match name.char_indices().nth(MAX_NAME_CHARS) {
                Some((cut, _)) => format!("{}…", &name[..cut]),
                None => name.to_string(),
            }
        })
        .collect();
    if names.len() > MAX_NAMES {
        listed.push(format!("… ({} columns in all)", names.len()));
    }
    listed.join(", ")
}

impl JourneyError {
    /// A stable, machine-readable code for this kind of error.
    pub fn code(&self) -> ErrorCode {
        match self {
            JourneyError::Io { .. } => ErrorCode::IoError,
            JourneyError::UnknownFormat { .. } => ErrorCode::UnknownFormat,
            JourneyError::MissingColumn { .. } => ErrorCode::MissingColumn,
            JourneyError::ColumnType { .. } => ErrorCode::ColumnType,
            JourneyError::Cell { .. } => ErrorCode::InvalidValue,
            JourneyError::Empty { .. } => ErrorCode::EmptyFile,
            JourneyError::DuplicateCustomer { .. } => ErrorCode::DuplicateCustomer,
            JourneyError::Malformed { .. } => ErrorCode::MalformedFile,
            JourneyError::Invalid { .. } => ErrorCode::InvalidFile,
        }
    }

    pub(crate) fn io(file: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        JourneyError::Io {
            file: file.into(),
            cause,
        }
    }

    pub(crate) fn malformed(file: impl Into<PathBuf>, problem: impl ToString) -> Self {
        JourneyError::Malformed {
            file: file.into(),
            problem: problem.to_string(),
        }
    }
}

/// A cell-level problem found while reading a row, before the file name is attached.
#[derive(Debug, Clone, PartialEq)]
pub struct RowProblem {
    /// 1-based data row.
    pub row: u64,
    /// The column.
    pub column: String,
    /// What is wrong.
    pub problem: String,
}

impl RowProblem {
    pub(crate) fn new(row: u64, column: &str, problem: impl Into<String>) -> Self {
        RowProblem {
            row,
            column: column.to_string(),
            problem: problem.into(),
        }
    }

    /// Attaches the file name, making a [`JourneyError::Cell`].
    pub fn into_error(self, file: impl Into<PathBuf>) -> JourneyError {
        JourneyError::Cell {
            file: file.into(),
            row: self.row,
            column: self.column,
            problem: self.problem,
        }
    }
}

/// Result alias for journey I/O.
pub type Result<T, E = JourneyError> = std::result::Result<T, E>;
