//! Typed, null-aware views over Arrow columns as Parquet writers produce them.
//!
//! Different tools write the same logical column differently (pandas: `string`, polars:
//! `large_string` or `string_view`, Spark: dictionary-encoded strings, integer ids), so each
//! view accepts every physical type that can carry its logical meaning, and nothing else.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Float32Type, Float64Type, Int32Type, Int64Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};

use super::event::{TimeError, Timestamp};

/// The type names the views accept, for error messages.
pub(crate) const STRING_TYPES: &str =
    "a string (utf8, large_utf8, utf8_view or dictionary of strings)";
pub(crate) const ID_TYPES: &str = "a string or an integer";
pub(crate) const TIMESTAMP_TYPES: &str = "a timestamp, a date, or an RFC 3339 string";
pub(crate) const NUMBER_TYPES: &str = "a float or integer";

/// A column of strings (or integer ids rendered as strings).
pub(crate) enum StrColumn<'a> {
    Utf8(&'a arrow_array::StringArray),
    LargeUtf8(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    Int64(&'a arrow_array::Int64Array),
    Int32(&'a arrow_array::Int32Array),
    /// Per row the key of its dictionary entry (`usize::MAX` on a null row), and each entry's
    /// text, read once per batch rather than once per row.
    Dictionary {
        keys: Vec<usize>,
        entries: Vec<Option<Cow<'a, str>>>,
    },
}

/// A dictionary's entries (`None`: a null entry).
pub(crate) type DictionaryEntries<'a> = [Option<Cow<'a, str>>];

/// Whether a type can carry strings (or, with `allow_integers`, integer ids).
pub(crate) fn accepts_strings(data_type: &DataType, allow_integers: bool) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Int64 | DataType::Int32 => allow_integers,
        DataType::Dictionary(_, value) => {
            matches!(
                value.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        _ => false,
    }
}

/// Whether a type can carry instants.
pub(crate) fn accepts_times(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) || accepts_strings(data_type, false)
}

/// Whether a type can carry numbers.
pub(crate) fn accepts_numbers(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Float64 | DataType::Float32 | DataType::Int64 | DataType::Int32
    )
}

impl<'a> StrColumn<'a> {
    /// Views `array` as strings; integers are accepted only when `allow_integers`.
    pub(crate) fn new(array: &'a ArrayRef, allow_integers: bool) -> Option<Self> {
        Self::from_dyn(array.as_ref(), allow_integers)
    }

    fn from_dyn(array: &'a dyn Array, allow_integers: bool) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => StrColumn::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => StrColumn::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => StrColumn::View(array.as_string_view()),
            DataType::Int64 if allow_integers => {
                StrColumn::Int64(array.as_primitive::<Int64Type>())
            }
            DataType::Int32 if allow_integers => {
                StrColumn::Int32(array.as_primitive::<Int32Type>())
            }
            DataType::Dictionary(_, value_type)
                if matches!(
                    value_type.as_ref(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                let dictionary = array.as_any_dictionary_opt()?;
                let values = Self::from_dyn(dictionary.values().as_ref(), false)?;
                let entries: Vec<_> = (0..dictionary.values().len())
                    .map(|k| values.get(k))
                    .collect();
                // An empty dictionary (all rows null) has no keys to normalise.
                let mut keys = if entries.is_empty() {
                    vec![usize::MAX; array.len()]
                } else {
                    dictionary.normalized_keys()
                };
                if let Some(nulls) = array.nulls().filter(|n| n.null_count() > 0) {
                    for (row, key) in keys.iter_mut().enumerate() {
                        if nulls.is_null(row) {
                            *key = usize::MAX;
                        }
                    }
                }
                StrColumn::Dictionary { keys, entries }
            }
            _ => return None,
        })
    }

    /// The dictionary key of `row` on a dictionary column, `None` on a null row or any other
    /// column: rows with the same key hold the same string, so a reader can convert each
    /// dictionary entry once instead of each row.
    #[inline]
    pub(crate) fn key(&self, row: usize) -> Option<usize> {
        match self {
            StrColumn::Dictionary { keys, entries } => {
                let key = *keys.get(row)?;
                (key < entries.len()).then_some(key)
            }
            _ => None,
        }
    }

    /// A dictionary column's per-row keys (`usize::MAX` on a null row) and entries, for a
    /// reader that checks and converts each entry once instead of each row.
    pub(crate) fn dictionary(&self) -> Option<(&[usize], &DictionaryEntries<'a>)> {
        match self {
            StrColumn::Dictionary { keys, entries } => Some((keys, entries)),
            _ => None,
        }
    }

    /// Whether the first `rows` cells are all null.
    pub(crate) fn all_null(&self, rows: usize) -> bool {
        match self {
            StrColumn::Dictionary { keys, entries } => keys.iter().all(|&k| k >= entries.len()),
            _ => (0..rows).all(|row| self.get(row).is_none()),
        }
    }

    /// How many entries the dictionary has (0 when the column is not a dictionary).
    pub(crate) fn dictionary_len(&self) -> usize {
        match self {
            StrColumn::Dictionary { entries, .. } => entries.len(),
            _ => 0,
        }
    }

    /// The value at `row`, or `None` when null.
    pub(crate) fn get(&self, row: usize) -> Option<Cow<'a, str>> {
        match self {
            StrColumn::Utf8(a) => a.is_valid(row).then(|| Cow::Borrowed(a.value(row))),
            StrColumn::LargeUtf8(a) => a.is_valid(row).then(|| Cow::Borrowed(a.value(row))),
            StrColumn::View(a) => a.is_valid(row).then(|| Cow::Borrowed(a.value(row))),
            StrColumn::Int64(a) => a
                .is_valid(row)
                .then(|| Cow::Owned(a.value(row).to_string())),
            StrColumn::Int32(a) => a
                .is_valid(row)
                .then(|| Cow::Owned(a.value(row).to_string())),
            StrColumn::Dictionary { keys, entries } => {
                let key = *keys.get(row)?;
                entries.get(key)?.clone()
            }
        }
    }
}

/// A column of instants.
pub(crate) enum TimeColumn<'a> {
    /// Integer instants and the factor that turns them into microseconds (negative: divide).
    Scaled(&'a dyn Array, ScaledTimes<'a>),
    Text(StrColumn<'a>),
}

pub(crate) enum ScaledTimes<'a> {
    Seconds(&'a arrow_array::PrimitiveArray<TimestampSecondType>),
    Millis(&'a arrow_array::PrimitiveArray<TimestampMillisecondType>),
    Micros(&'a arrow_array::PrimitiveArray<TimestampMicrosecondType>),
    Nanos(&'a arrow_array::PrimitiveArray<TimestampNanosecondType>),
    Date32(&'a arrow_array::PrimitiveArray<Date32Type>),
    Date64(&'a arrow_array::PrimitiveArray<Date64Type>),
}

impl<'a> TimeColumn<'a> {
    /// Views `array` as instants. Timestamps without a time zone are taken as UTC.
    pub(crate) fn new(array: &'a ArrayRef) -> Option<Self> {
        let scaled = match array.data_type() {
            DataType::Timestamp(TimeUnit::Second, _) => {
                ScaledTimes::Seconds(array.as_primitive::<TimestampSecondType>())
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                ScaledTimes::Millis(array.as_primitive::<TimestampMillisecondType>())
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                ScaledTimes::Micros(array.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                ScaledTimes::Nanos(array.as_primitive::<TimestampNanosecondType>())
            }
            DataType::Date32 => ScaledTimes::Date32(array.as_primitive::<Date32Type>()),
            DataType::Date64 => ScaledTimes::Date64(array.as_primitive::<Date64Type>()),
            _ => return StrColumn::new(array, false).map(TimeColumn::Text),
        };
        Some(TimeColumn::Scaled(array.as_ref(), scaled))
    }

    /// The instant at `row`: `Ok(None)` when null, `Err` when text does not parse.
    pub(crate) fn get(&self, row: usize) -> Result<Option<Timestamp>, TimeError> {
        match self {
            TimeColumn::Scaled(array, scaled) => {
                if array.is_null(row) {
                    return Ok(None);
                }
                let micros = match scaled {
                    ScaledTimes::Seconds(a) => a.value(row).checked_mul(1_000_000),
                    ScaledTimes::Millis(a) => a.value(row).checked_mul(1_000),
                    ScaledTimes::Micros(a) => Some(a.value(row)),
                    ScaledTimes::Nanos(a) => Some(a.value(row).div_euclid(1_000)),
                    ScaledTimes::Date32(a) => {
                        i64::from(a.value(row)).checked_mul(Timestamp::MICROS_PER_DAY)
                    }
                    ScaledTimes::Date64(a) => a.value(row).checked_mul(1_000),
                };
                micros
                    .ok_or(TimeError::Overflow)
                    .and_then(|m| Timestamp(m).validated())
                    .map(Some)
            }
            TimeColumn::Text(text) => match text.get(row) {
                None => Ok(None),
                Some(s) => Timestamp::parse_date_or_datetime(&s).map(Some),
            },
        }
    }
}

impl<'a> TimeColumn<'a> {
    /// Every row's instant in microseconds at once, when the column holds integer instants,
    /// no null and none out of range: borrowed from the Arrow buffer when it holds
    /// microseconds (one copy into the log), converted otherwise. `None` when any row would
    /// fail [`Self::get`]: the caller then goes row by row and names the row.
    pub(crate) fn all_micros(&self) -> Option<Cow<'a, [i64]>> {
        let TimeColumn::Scaled(array, scaled) = self else {
            return None;
        };
        if array.null_count() > 0 {
            return None;
        }
        let micros: Cow<'a, [i64]> = match scaled {
            ScaledTimes::Micros(a) => {
                let values: &'a [i64] = a.values();
                Cow::Borrowed(values)
            }
            _ => Cow::Owned(
                (0..array.len())
                    .map(|row| self.get(row).ok().flatten().map(|t| t.0))
                    .collect::<Option<Vec<i64>>>()?,
            ),
        };
        // The valid instants are one range, so the extremes decide for every row.
        let (low, high) = micros
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
        let valid = |m: i64| Timestamp(m).validated().is_ok();
        (micros.is_empty() || (valid(low) && valid(high))).then_some(micros)
    }
}

/// A column of numbers.
pub(crate) enum NumberColumn<'a> {
    F64(&'a arrow_array::Float64Array),
    F32(&'a arrow_array::Float32Array),
    I64(&'a arrow_array::Int64Array),
    I32(&'a arrow_array::Int32Array),
}

impl<'a> NumberColumn<'a> {
    pub(crate) fn new(array: &'a ArrayRef) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Float64 => NumberColumn::F64(array.as_primitive::<Float64Type>()),
            DataType::Float32 => NumberColumn::F32(array.as_primitive::<Float32Type>()),
            DataType::Int64 => NumberColumn::I64(array.as_primitive::<Int64Type>()),
            DataType::Int32 => NumberColumn::I32(array.as_primitive::<Int32Type>()),
            _ => return None,
        })
    }

    /// The first `rows` values into `out` (NaN where null); `false` as soon as one is not
    /// finite, which the row rules refuse.
    pub(crate) fn fill_finite(&self, rows: usize, out: &mut Vec<f64>) -> bool {
        out.clear();
        for row in 0..rows {
            match self.get(row) {
                Some(v) if !v.is_finite() => return false,
                v => out.push(v.unwrap_or(f64::NAN)),
            }
        }
        true
    }

    /// The value at `row`, or `None` when null.
    pub(crate) fn get(&self, row: usize) -> Option<f64> {
        match self {
            NumberColumn::F64(a) => a.is_valid(row).then(|| a.value(row)),
            NumberColumn::F32(a) => a.is_valid(row).then(|| f64::from(a.value(row))),
            NumberColumn::I64(a) => a.is_valid(row).then(|| a.value(row) as f64),
            NumberColumn::I32(a) => a.is_valid(row).then(|| f64::from(a.value(row))),
        }
    }
}
