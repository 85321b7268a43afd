//! Results as tables: what the terminal prints, what `--out file.parquet` writes.
//!
//! Every analytics result turns into one or more [`Table`]s, so the CLI, the report and the
//! Parquet output share one rendering of the same numbers.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde::Serialize;

use crate::journey::writer::AtomicFile;
use crate::journey::JourneyError;

/// One cell.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Int(i64),
    /// A measure (rates, money, days).
    Float(f64),
    /// No value (a rate over nobody).
    Null,
}

impl Cell {
    fn render(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(x) if x.abs() >= 1000.0 => format!("{x:.1}"),
            Cell::Float(x) => format!("{x:.4}"),
            Cell::Null => "–".to_string(),
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(_))
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        if v.is_finite() {
            Cell::Float(v)
        } else {
            Cell::Null
        }
    }
}
impl From<Option<u64>> for Cell {
    fn from(v: Option<u64>) -> Self {
        v.map_or(Cell::Null, Cell::from)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Cell::Null, Cell::from)
    }
}

/// A named table of cells.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    /// What the table holds (`funnel`, `edges`, …); names the Parquet file of a multi-table result.
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as wide as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(name: &str, columns: &[&str]) -> Self {
        Table {
            name: name.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// Aligned text for a terminal: numbers right-aligned, text left-aligned.
    pub fn render(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(Cell::render).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|j| {
                cells
                    .iter()
                    .map(|r| r[j].chars().count())
                    .chain([self.columns[j].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|j| self.rows.iter().any(|r| r[j].is_numeric()))
            .collect();
        let line = |values: &[String]| {
            let parts: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if numeric[j] {
                        format!("{v:>w$}", w = widths[j])
                    } else {
                        format!("{v:<w$}", w = widths[j])
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.columns);
        out.push_str(&line(
            &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        ));
        for row in &cells {
            out.push_str(&line(row));
        }
        out
    }

    /// The column types Parquet gets: text if any cell is text, else float if any is, else integer.
    fn column_type(&self, j: usize) -> DataType {
        let mut kind = DataType::Int64;
        for row in &self.rows {
            match row[j] {
                Cell::Text(_) => return DataType::Utf8,
                Cell::Float(_) => kind = DataType::Float64,
                _ => {}
            }
        }
        kind
    }

    /// Writes the table as one Parquet file (atomically: a failure leaves nothing behind).
    pub fn write_parquet(&self, path: &Path) -> Result<(), JourneyError> {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (j, name) in self.columns.iter().enumerate() {
            let kind = self.column_type(j);
            let array: ArrayRef = match kind {
                DataType::Utf8 => {
                    let mut b = StringBuilder::new();
                    for row in &self.rows {
                        match &row[j] {
                            Cell::Null => b.append_null(),
                            other => b.append_value(other.render_raw()),
                        }
                    }
                    Arc::new(b.finish())
                }
                DataType::Float64 => {
                    let mut b = Float64Builder::new();
                    for row in &self.rows {
                        match row[j] {
                            Cell::Float(x) => b.append_value(x),
                            Cell::Int(i) => b.append_value(i as f64),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
                _ => {
                    let mut b = Int64Builder::new();
                    for row in &self.rows {
                        match row[j] {
                            Cell::Int(i) => b.append_value(i),
                            _ => b.append_null(),
                        }
                    }
                    Arc::new(b.finish())
                }
            };
            fields.push(Field::new(name, kind, true));
            arrays.push(array);
        }
        let schema = Arc::new(Schema::new(fields));
        let batch =
            RecordBatch::try_new(schema.clone(), arrays).map_err(|e| JourneyError::Malformed {
                file: path.to_path_buf(),
                problem: e.to_string(),
            })?;
        let (file, handle) = AtomicFile::create(path)?;
        let fail = |e: parquet::errors::ParquetError| JourneyError::Malformed {
            file: path.to_path_buf(),
            problem: e.to_string(),
        };
        let mut writer = ArrowWriter::try_new(handle, schema, None).map_err(fail)?;
        writer.write(&batch).map_err(fail)?;
        writer.close().map_err(fail)?;
        file.commit()
    }
}

impl Cell {
    /// The value as text without display rounding (for text columns in Parquet).
    fn render_raw(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(x) => x.to_string(),
            Cell::Null => String::new(),
        }
    }
}

/// Where each table of a result goes: one table to `path` itself, several to
/// `stem-<name>.parquet` beside it.
pub fn output_paths(path: &Path, tables: &[Table]) -> Vec<std::path::PathBuf> {
    if tables.len() == 1 {
        return vec![path.to_path_buf()];
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    tables
        .iter()
        .map(|t| path.with_file_name(format!("{stem}-{}.parquet", t.name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render_aligned_and_write_parquet() {
        let mut t = Table::new("x", &["step", "customers", "rate"]);
        t.push(vec!["visit".into(), 10usize.into(), 1.0.into()]);
        t.push(vec!["purchase".into(), 3usize.into(), Cell::Null]);
        let text = t.render();
        assert!(text.starts_with("step      customers    rate\n"), "{text}");
        assert!(text.contains("purchase          3       –"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        t.write_parquet(&path).unwrap();
        assert!(path.exists());
        assert_eq!(
            output_paths(&dir.path().join("p.parquet"), &[t.clone(), t]),
            vec![
                dir.path().join("p-x.parquet"),
                dir.path().join("p-x.parquet")
            ]
        );
    }
}
