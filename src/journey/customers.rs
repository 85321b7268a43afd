//! The optional customer table: one row per customer, typed static attributes.
//!
//! Column types come from the file where it has them (Parquet, JSON) and are inferred for CSV:
//! a column whose every non-empty value is a number is numeric, `true`/`false` is boolean, a
//! date or RFC 3339 timestamp is a date, anything else is categorical. The table is small next
//! to the event log and is held in memory.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::Array;
use arrow_array::RecordBatchReader;
use arrow_schema::DataType;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::arrow_columns::{NumberColumn, StrColumn, TimeColumn};
use super::error::{JourneyError, Result, RowProblem};
use super::event::Timestamp;
use super::reader::{
    check_unterminated_quote, csv_error, csv_header, csv_record_problem, json_kind, open_csv,
    open_parquet, Format, DEFAULT_CHUNK_ROWS,
};

/// The column that identifies customers.
pub const CUSTOMER_ID: &str = "customer_id";

/// The type of a customer attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// A number.
    Numeric,
    /// `true` or `false`.
    Boolean,
    /// A calendar date or instant (becomes "days since" at the feature cutoff).
    Date,
    /// A label from an open set (encoded with a recorded vocabulary).
    Categorical,
}

impl AttributeKind {
    /// Lower-case name for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeKind::Numeric => "numeric",
            AttributeKind::Boolean => "boolean",
            AttributeKind::Date => "date",
            AttributeKind::Categorical => "categorical",
        }
    }
}

/// One attribute value of one customer.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// No value.
    Missing,
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A date or instant.
    Date(Timestamp),
    /// A category label.
    Category(String),
}

/// A named, typed attribute column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeColumn {
    /// Column name.
    pub name: String,
    /// Its type.
    pub kind: AttributeKind,
}

/// The customer table, indexed by customer id.
#[derive(Clone, Debug, Default)]
pub struct CustomerTable {
    /// The attribute columns (every column but `customer_id`).
    pub attributes: Vec<AttributeColumn>,
    ids: Vec<String>,
    rows: Vec<Vec<AttrValue>>,
    index: FxHashMap<String, usize>,
}

/// A cell before its column's type is decided.
#[derive(Clone, Debug)]
enum RawCell {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
    Time(Timestamp),
}

impl RawCell {
    fn kind_name(&self) -> &'static str {
        match self {
            RawCell::Null => "null",
            RawCell::Text(_) => "a string",
            RawCell::Number(_) => "a number",
            RawCell::Bool(_) => "a boolean",
            RawCell::Time(_) => "a timestamp",
        }
    }
}

/// A table keyed by one column, with typed other columns (column-major), before any
/// uniqueness rule: the shared reader of customer tables and decision-point files.
#[derive(Clone, Debug)]
pub struct TypedTable {
    /// 1-based data row of each row (JSONL blank lines make these differ from positions).
    pub rows: Vec<u64>,
    /// The key of each row (already checked non-empty and trimmed).
    pub keys: Vec<String>,
    /// The other columns' names and types.
    pub columns: Vec<AttributeColumn>,
    /// The other columns' values, one vector per column.
    pub values: Vec<Vec<AttrValue>>,
}

impl TypedTable {
    /// Reads a table from Parquet, CSV or JSONL; `key` must be present and non-empty on every row.
    pub fn read(path: impl AsRef<Path>, format: Option<Format>, key: &str) -> Result<Self> {
        let path = path.as_ref();
        let (ids, names, raw_columns) = match Format::resolve(format, path)? {
            Format::Csv => read_csv(path, key)?,
            Format::Jsonl => read_jsonl(path, key)?,
            Format::Parquet => read_parquet(path, key)?,
        };
        if ids.is_empty() {
            return Err(JourneyError::Empty {
                file: path.to_path_buf(),
            });
        }
        let mut columns = Vec::with_capacity(names.len());
        let mut values = Vec::with_capacity(names.len());
        for (name, cells) in names.iter().zip(raw_columns) {
            let (kind, typed) = type_column(name, cells, &ids).map_err(|p| p.into_error(path))?;
            columns.push(AttributeColumn {
                name: name.clone(),
                kind,
            });
            values.push(typed);
        }
        let mut rows = Vec::with_capacity(ids.len());
        let mut keys = Vec::with_capacity(ids.len());
        for (row, id) in ids {
            let id = id
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| RowProblem::new(row, key, "is empty").into_error(path))?;
            rows.push(row);
            keys.push(id.trim().to_string());
        }
        Ok(TypedTable {
            rows,
            keys,
            columns,
            values,
        })
    }

    /// Position of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// Why in-memory customer rows do not form a table.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CustomerRowError {
    /// A row with more or fewer values than the table has attributes.
    #[error("customer '{customer_id}' has {values} values for {attributes} attributes")]
    Width {
        /// The customer.
        customer_id: String,
        /// Values in the row.
        values: usize,
        /// Attributes of the table.
        attributes: usize,
    },
    /// A customer listed twice.
    #[error("customer '{0}' appears twice")]
    Duplicate(String),
}

impl CustomerTable {
    /// Reads a customer table from Parquet, CSV or JSONL. Duplicate ids are an error.
    pub fn read(path: impl AsRef<Path>, format: Option<Format>) -> Result<Self> {
        let path = path.as_ref();
        let typed = TypedTable::read(path, format, CUSTOMER_ID)?;
        let mut table = CustomerTable {
            attributes: typed.columns,
            ..Default::default()
        };
        let mut first_row: FxHashMap<String, u64> = FxHashMap::default();
        for (position, (row, id)) in typed.rows.into_iter().zip(typed.keys).enumerate() {
            if let Some(&first) = first_row.get(&id) {
                return Err(JourneyError::DuplicateCustomer {
                    file: path.to_path_buf(),
                    customer_id: id,
                    first_row: first,
                    row,
                });
            }
            first_row.insert(id.clone(), row);
            table.index.insert(id.clone(), table.ids.len());
            table.ids.push(id);
            table
                .rows
                .push(typed.values.iter().map(|c| c[position].clone()).collect());
        }
        Ok(table)
    }

    /// Builds a table in memory (for the online path and tests).
    pub fn from_rows(
        attributes: Vec<AttributeColumn>,
        rows: Vec<(String, Vec<AttrValue>)>,
    ) -> std::result::Result<Self, CustomerRowError> {
        let mut table = CustomerTable {
            attributes,
            ..Default::default()
        };
        for (id, values) in rows {
            if values.len() != table.attributes.len() {
                return Err(CustomerRowError::Width {
                    customer_id: id,
                    values: values.len(),
                    attributes: table.attributes.len(),
                });
            }
            if table.index.insert(id.clone(), table.ids.len()).is_some() {
                return Err(CustomerRowError::Duplicate(id));
            }
            table.ids.push(id);
            table.rows.push(values);
        }
        Ok(table)
    }

    /// Number of customers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the table has no customers.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Customer ids in file order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The attribute values of one customer, aligned with [`Self::attributes`].
    pub fn get(&self, customer_id: &str) -> Option<&[AttrValue]> {
        self.index
            .get(customer_id)
            .map(|&i| self.rows[i].as_slice())
    }

    /// Whether the table has this customer.
    pub fn contains(&self, customer_id: &str) -> bool {
        self.index.contains_key(customer_id)
    }

    /// Every value of one attribute column, in file order.
    pub fn column_values(&self, column: usize) -> impl Iterator<Item = &AttrValue> {
        self.rows.iter().map(move |r| &r[column])
    }
}

/// Decides a column's type from its cells and converts them.
fn type_column(
    name: &str,
    cells: Vec<RawCell>,
    ids: &[(u64, Option<String>)],
) -> std::result::Result<(AttributeKind, Vec<AttrValue>), RowProblem> {
    let first = cells.iter().position(|c| !matches!(c, RawCell::Null));
    let Some(first) = first else {
        return Ok((
            AttributeKind::Categorical,
            vec![AttrValue::Missing; cells.len()],
        ));
    };
    // Typed cells must agree with the first typed cell.
    let expected = std::mem::discriminant(&cells[first]);
    if let Some(bad) = cells
        .iter()
        .position(|c| !matches!(c, RawCell::Null) && std::mem::discriminant(c) != expected)
    {
        return Err(RowProblem::new(
            ids[bad].0,
            name,
            format!(
                "is {} but earlier rows (from row {}) hold {}",
                cells[bad].kind_name(),
                ids[first].0,
                cells[first].kind_name()
            ),
        ));
    }
    let kind = match &cells[first] {
        RawCell::Number(_) => AttributeKind::Numeric,
        RawCell::Bool(_) => AttributeKind::Boolean,
        RawCell::Time(_) => AttributeKind::Date,
        RawCell::Null => AttributeKind::Categorical,
        RawCell::Text(_) => infer_text_kind(&cells),
    };
    let values = cells
        .into_iter()
        .map(|cell| match (cell, kind) {
            (RawCell::Null, _) => AttrValue::Missing,
            (RawCell::Number(v), _) => AttrValue::Number(v),
            (RawCell::Bool(b), _) => AttrValue::Bool(b),
            (RawCell::Time(t), _) => AttrValue::Date(t),
            (RawCell::Text(t), AttributeKind::Numeric) => t
                .trim()
                .parse()
                .map(AttrValue::Number)
                .unwrap_or(AttrValue::Missing),
            (RawCell::Text(t), AttributeKind::Boolean) => parse_bool(&t)
                .map(AttrValue::Bool)
                .unwrap_or(AttrValue::Missing),
            (RawCell::Text(t), AttributeKind::Date) => Timestamp::parse_date_or_datetime(&t)
                .map(AttrValue::Date)
                .unwrap_or(AttrValue::Missing),
            (RawCell::Text(t), AttributeKind::Categorical) => {
                AttrValue::Category(t.trim().to_string())
            }
        })
        .collect();
    Ok((kind, values))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn infer_text_kind(cells: &[RawCell]) -> AttributeKind {
    let texts = || {
        cells.iter().filter_map(|c| match c {
            RawCell::Text(t) => Some(t.as_str()),
            _ => None,
        })
    };
    if texts().all(|t| t.trim().parse::<f64>().is_ok_and(f64::is_finite)) {
        AttributeKind::Numeric
    } else if texts().all(|t| parse_bool(t).is_some()) {
        AttributeKind::Boolean
    } else if texts().all(|t| Timestamp::parse_date_or_datetime(t).is_ok()) {
        AttributeKind::Date
    } else {
        AttributeKind::Categorical
    }
}

type RawTable = (Vec<(u64, Option<String>)>, Vec<String>, Vec<Vec<RawCell>>);

fn read_csv(path: &Path, key: &str) -> Result<RawTable> {
    let mut reader = open_csv(path)?;
    let header = csv_header(path, &mut reader)?;
    let id_position =
        header
            .iter()
            .position(|h| h == key)
            .ok_or_else(|| JourneyError::MissingColumn {
                file: path.to_path_buf(),
                column: key.to_string(),
                present: super::error::column_list(&header),
            })?;
    let names: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != id_position)
        .map(|(_, h)| h.clone())
        .collect();
    let mut ids = Vec::new();
    let mut columns: Vec<Vec<RawCell>> = vec![Vec::new(); names.len()];
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    let mut last_start = None;
    loop {
        let start = reader.position().clone();
        match reader.read_record(&mut record) {
            Ok(false) => {
                if let Some(last) = &last_start {
                    check_unterminated_quote(path, last, reader.position(), row)?;
                }
                break;
            }
            Ok(true) => last_start = Some(start),
            Err(e) => return Err(csv_error(path, e)),
        }
        row += 1;
        if let Some(problem) = csv_record_problem(row, header.len(), &record) {
            return Err(problem.into_error(path));
        }
        ids.push((row, record.get(id_position).map(str::to_string)));
        let mut column = 0;
        for (i, cell) in record.iter().enumerate() {
            if i == id_position {
                continue;
            }
            columns[column].push(if cell.trim().is_empty() {
                RawCell::Null
            } else {
                RawCell::Text(cell.to_string())
            });
            column += 1;
        }
    }
    Ok((ids, names, columns))
}

fn read_jsonl(path: &Path, key: &str) -> Result<RawTable> {
    use serde_json::Value;
    let text = std::fs::read_to_string(path).map_err(|e| JourneyError::io(path, e))?;
    let mut names: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    let mut columns: Vec<Vec<RawCell>> = Vec::new();
    for (line_index, line) in text.lines().enumerate() {
        let row = line_index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let object: serde_json::Map<String, Value> = serde_json::from_str(line).map_err(|e| {
            RowProblem::new(row, "(row)", format!("is not a JSON object: {e}")).into_error(path)
        })?;
        let id = match object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            Some(other) => {
                return Err(RowProblem::new(
                    row,
                    key,
                    format!("expected a string, found {}", json_kind(other)),
                )
                .into_error(path))
            }
        };
        for key_name in object.keys() {
            if key_name != key && !names.contains(key_name) {
                names.push(key_name.clone());
                columns.push(vec![RawCell::Null; ids.len()]);
            }
        }
        for (name, column) in names.iter().zip(columns.iter_mut()) {
            column.push(match object.get(name) {
                None | Some(Value::Null) => RawCell::Null,
                Some(Value::String(s)) => RawCell::Text(s.clone()),
                Some(Value::Number(n)) => RawCell::Number(n.as_f64().unwrap_or(f64::NAN)),
                Some(Value::Bool(b)) => RawCell::Bool(*b),
                Some(other) => {
                    return Err(RowProblem::new(
                        row,
                        name,
                        format!(
                            "expected a string, number or boolean, found {}",
                            json_kind(other)
                        ),
                    )
                    .into_error(path))
                }
            });
        }
        ids.push((row, id));
    }
    Ok((ids, names, columns))
}

fn read_parquet(path: &Path, key: &str) -> Result<RawTable> {
    let (reader, _) = open_parquet(path, None, &[key], &[], DEFAULT_CHUNK_ROWS)?;
    let schema = reader.schema();
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != key)
        .collect();
    let file: PathBuf = path.to_path_buf();
    let mut ids = Vec::new();
    let mut columns: Vec<Vec<RawCell>> = vec![Vec::new(); names.len()];
    let mut row = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| JourneyError::malformed(&file, e))?;
        let id_array = batch
            .column_by_name(key)
            .ok_or_else(|| JourneyError::malformed(&file, format!("column {key} vanished")))?;
        let id_column = StrColumn::new(id_array, true).ok_or_else(|| JourneyError::ColumnType {
            file: file.clone(),
            column: key.to_string(),
            found: id_array.data_type().to_string(),
            expected: super::arrow_columns::ID_TYPES.to_string(),
        })?;
        for i in 0..batch.num_rows() {
            ids.push((row + i as u64 + 1, id_column.get(i).map(|s| s.into_owned())));
        }
        for (name, column) in names.iter().zip(columns.iter_mut()) {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| JourneyError::malformed(&file, format!("column {name} vanished")))?;
            parquet_cells(&file, name, array, column)?;
        }
        row += batch.num_rows() as u64;
    }
    Ok((ids, names, columns))
}

fn parquet_cells(
    file: &Path,
    name: &str,
    array: &arrow_array::ArrayRef,
    out: &mut Vec<RawCell>,
) -> Result<()> {
    let n = array.len();
    if let DataType::Boolean = array.data_type() {
        let bools = array.as_boolean();
        out.extend((0..n).map(|i| {
            if bools.is_valid(i) {
                RawCell::Bool(bools.value(i))
            } else {
                RawCell::Null
            }
        }));
        return Ok(());
    }
    if matches!(
        array.data_type(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32
    ) {
        let widened = arrow_array::Float64Array::from_iter(
            (0..n).map(|i| array.is_valid(i).then(|| numeric_at(array, i))),
        );
        out.extend(
            widened
                .iter()
                .map(|v| v.map_or(RawCell::Null, RawCell::Number)),
        );
        return Ok(());
    }
    if let Some(numbers) = NumberColumn::new(array) {
        out.extend((0..n).map(|i| numbers.get(i).map_or(RawCell::Null, RawCell::Number)));
        return Ok(());
    }
    if matches!(
        array.data_type(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) {
        if let Some(times) = TimeColumn::new(array) {
            for i in 0..n {
                let cell = times.get(i).map_err(|p| {
                    RowProblem::new(out.len() as u64 + 1, name, p.to_string()).into_error(file)
                })?;
                out.push(cell.map_or(RawCell::Null, RawCell::Time));
            }
            return Ok(());
        }
    }
    if let Some(strings) = StrColumn::new(array, false) {
        out.extend((0..n).map(|i| {
            strings
                .get(i)
                .map_or(RawCell::Null, |s| RawCell::Text(s.into_owned()))
        }));
        return Ok(());
    }
    Err(JourneyError::ColumnType {
        file: file.to_path_buf(),
        column: name.to_string(),
        found: array.data_type().to_string(),
        expected: "a number, boolean, date/timestamp or string".to_string(),
    })
}

fn numeric_at(array: &arrow_array::ArrayRef, i: usize) -> f64 {
    use arrow_array::types::{Int16Type, Int8Type, UInt16Type, UInt32Type, UInt8Type};
    match array.data_type() {
        DataType::Int8 => f64::from(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => f64::from(array.as_primitive::<Int16Type>().value(i)),
        DataType::UInt8 => f64::from(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => f64::from(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => f64::from(array.as_primitive::<UInt32Type>().value(i)),
        _ => f64::NAN,
    }
}
