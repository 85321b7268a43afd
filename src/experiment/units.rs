//! The table of units of an offline analysis: one row per unit (customer) with the arm it was
//! assigned to, its metric values and optionally a pre-period covariate, in CSV, Parquet or
//! JSONL. Reading it reduces it to per-arm sufficient statistics; no row is kept.
//!
//! The rules, so that no row is silently dropped or miscounted:
//! - every cell that is used must hold a value: an empty metric cell is an error naming file,
//!   row and column (write 0 for "none");
//! - a unit listed twice **in the same arm** is an error (the table is one row per unit, so the
//!   file was probably built from events without aggregating);
//! - a unit listed in **different arms** was exposed to several arms: all its rows are left out
//!   of the analysis and counted in [`UnitTable::units_in_several_arms`], which the health
//!   checks report (the unit's outcome cannot be credited to one arm).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use crate::journey::customers::{AttrValue, TypedTable};
use crate::journey::error::{column_list, JourneyError, Result};
use crate::journey::Format;
use crate::stats::experiment::{
    AdjustedSample, ExperimentInput, MetricData, MetricInput, RatioSample, Sample, SampleKind,
};

/// Which columns of the table mean what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitColumns {
    /// The unit id column (default `unit`).
    pub unit: String,
    /// The arm column (default `arm`).
    pub arm: String,
    /// Metric columns: numbers, or 0/1 and true/false (then the metric is a proportion).
    pub metrics: Vec<String>,
    /// Ratio metrics as (numerator, denominator) columns, e.g. (`revenue`, `orders`).
    pub ratios: Vec<(String, String)>,
    /// The pre-period covariate column: CUPED for every metric of `metrics` (not ratios).
    pub covariate: Option<String>,
}

impl Default for UnitColumns {
    fn default() -> Self {
        UnitColumns {
            unit: "unit".into(),
            arm: "arm".into(),
            metrics: Vec::new(),
            ratios: Vec::new(),
            covariate: None,
        }
    }
}

/// A table of units reduced to per-arm sufficient statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitTable {
    /// Arm names, sorted.
    pub arms: Vec<String>,
    /// Units per arm (units in several arms left out).
    pub units: Vec<u64>,
    /// Units that appeared in more than one arm, left out of everything else.
    pub units_in_several_arms: u64,
    /// The metrics in the order asked: `metrics` (CUPED-adjusted with a covariate), then ratios.
    pub metrics: Vec<MetricInput>,
    /// The covariate per arm, when there is one.
    pub covariate: Option<Vec<Sample>>,
}

impl UnitTable {
    /// The analysis input, with the control arm's index and the weights per arm.
    pub fn into_input(self, control: usize, weights: Vec<f64>) -> ExperimentInput {
        ExperimentInput {
            arms: self.arms,
            control,
            units: self.units,
            weights,
            units_in_several_arms: self.units_in_several_arms,
            covariate: self.covariate,
            metrics: self.metrics,
        }
    }
}

fn cell_error(path: &Path, row: u64, column: &str, problem: String) -> JourneyError {
    JourneyError::Cell {
        file: path.to_path_buf(),
        row,
        column: column.to_string(),
        problem,
    }
}

/// The table being read, with its file name and unit column for messages.
struct Source<'a> {
    path: &'a Path,
    table: &'a TypedTable,
    unit: &'a str,
}

impl Source<'_> {
    /// The position of a column the analysis needs.
    fn column_index(&self, name: &str) -> Result<usize> {
        self.table.column(name).ok_or_else(|| {
            let mut present = vec![self.unit.to_string()];
            present.extend(self.table.columns.iter().map(|c| c.name.clone()));
            JourneyError::MissingColumn {
                file: self.path.to_path_buf(),
                column: name.to_string(),
                present: column_list(&present),
            }
        })
    }

    /// One column's values as numbers (true/false as 1/0), naming the first bad cell.
    fn numbers(&self, name: &str) -> Result<Vec<f64>> {
        let index = self.column_index(name)?;
        let mut out = Vec::with_capacity(self.table.keys.len());
        for (position, value) in self.table.values[index].iter().enumerate() {
            let row = self.table.rows[position];
            let number = match value {
                AttrValue::Number(v) => Some(*v),
                AttrValue::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                AttrValue::Category(text) => text.trim().parse::<f64>().ok(),
                AttrValue::Missing => {
                    return Err(cell_error(
                        self.path,
                        row,
                        name,
                        "is empty; every unit needs a value (write 0 when it had none)".into(),
                    ))
                }
                AttrValue::Date(_) => None,
            };
            match number {
                Some(v) if v.is_finite() => out.push(v),
                _ => {
                    return Err(cell_error(
                        self.path,
                        row,
                        name,
                        format!("is {}, not a number", describe(value)),
                    ))
                }
            }
        }
        Ok(out)
    }

    /// The arm of each row, as text.
    fn arm_labels(&self, name: &str) -> Result<Vec<String>> {
        let index = self.column_index(name)?;
        self.table.values[index]
            .iter()
            .enumerate()
            .map(|(position, value)| match value {
                AttrValue::Category(text) => Ok(text.clone()),
                AttrValue::Number(v) => Ok(format!("{v}")),
                AttrValue::Bool(b) => Ok(format!("{b}")),
                AttrValue::Date(_) | AttrValue::Missing => Err(cell_error(
                    self.path,
                    self.table.rows[position],
                    name,
                    format!("is {}; every unit needs an arm name", describe(value)),
                )),
            })
            .collect()
    }
}

fn describe(value: &AttrValue) -> String {
    match value {
        AttrValue::Category(text) => format!("'{text}'"),
        AttrValue::Date(_) => "a date".into(),
        AttrValue::Number(v) => format!("{v}"),
        AttrValue::Bool(b) => format!("{b}"),
        AttrValue::Missing => "empty".into(),
    }
}

/// Whether every value is 0 or 1: then the metric is a proportion.
fn kind_of(values: &[f64]) -> SampleKind {
    if values.iter().all(|&v| v == 0.0 || v == 1.0) {
        SampleKind::Proportion
    } else {
        SampleKind::Mean
    }
}

/// Reads a table of units and reduces it to per-arm sufficient statistics (see the module's
/// rules). Errors name the file, and the row and column where there is one.
pub fn read_units(path: &Path, format: Option<Format>, columns: &UnitColumns) -> Result<UnitTable> {
    let table = TypedTable::read(path, format, &columns.unit)?;
    let source = Source {
        path,
        table: &table,
        unit: &columns.unit,
    };
    let labels = source.arm_labels(&columns.arm)?;

    // Units in several arms are left out; a unit twice in one arm is an error.
    let mut seen: HashMap<&str, (u64, &str)> = HashMap::new();
    let mut in_several_arms: BTreeSet<&str> = BTreeSet::new();
    for (position, key) in table.keys.iter().enumerate() {
        let row = table.rows[position];
        let arm = labels[position].as_str();
        match seen.get(key.as_str()) {
            Some(&(first_row, first_arm)) if first_arm == arm => {
                return Err(cell_error(
                    path,
                    row,
                    &columns.unit,
                    format!(
                        "unit '{key}' appears again in arm '{arm}' (first on row {first_row}); \
                         the table needs one row per unit"
                    ),
                ));
            }
            Some(_) => {
                in_several_arms.insert(key.as_str());
            }
            None => {
                seen.insert(key.as_str(), (row, arm));
            }
        }
    }
    let kept: Vec<usize> = (0..table.keys.len())
        .filter(|&p| !in_several_arms.contains(table.keys[p].as_str()))
        .collect();

    let arm_index: BTreeMap<&str, usize> = kept
        .iter()
        .map(|&p| labels[p].as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, arm)| (arm, i))
        .collect();
    if arm_index.len() < 2 {
        let found: Vec<&str> = arm_index.keys().copied().collect();
        return Err(JourneyError::Invalid {
            file: path.to_path_buf(),
            problem: format!(
                "column '{}' holds {} arm(s) ({}); an experiment needs at least two",
                columns.arm,
                found.len(),
                found.join(", ")
            ),
        });
    }
    let arms: Vec<String> = arm_index.keys().map(|s| s.to_string()).collect();
    let arm_of: Vec<usize> = kept
        .iter()
        .map(|&p| arm_index[labels[p].as_str()])
        .collect();
    let per_arm = |kind: SampleKind, values: &[f64]| {
        let mut samples = vec![Sample::empty(kind); arms.len()];
        for (&p, &arm) in kept.iter().zip(&arm_of) {
            samples[arm].add(values[p]);
        }
        samples
    };
    let cross = |x: &[f64], y: &[f64]| {
        let mut sums = vec![0.0; arms.len()];
        for (&p, &arm) in kept.iter().zip(&arm_of) {
            sums[arm] += x[p] * y[p];
        }
        sums
    };

    let mut units = vec![0u64; arms.len()];
    for &arm in &arm_of {
        units[arm] += 1;
    }
    let covariate_values = match &columns.covariate {
        Some(name) => Some(source.numbers(name)?),
        None => None,
    };
    let covariate = covariate_values
        .as_ref()
        .map(|values| per_arm(kind_of(values), values));

    let mut metrics = Vec::new();
    for name in &columns.metrics {
        let values = source.numbers(name)?;
        let samples = per_arm(kind_of(&values), &values);
        let data = match (&covariate_values, &covariate) {
            (Some(pre), Some(pre_samples)) => {
                let products = cross(&values, pre);
                MetricData::Adjusted(
                    samples
                        .iter()
                        .zip(pre_samples)
                        .zip(products)
                        .map(|((&metric, &covariate), sum_products)| AdjustedSample {
                            metric,
                            covariate,
                            sum_products,
                        })
                        .collect(),
                )
            }
            _ => MetricData::Samples(samples),
        };
        metrics.push(MetricInput {
            name: name.clone(),
            data,
        });
    }
    for (numerator_name, denominator_name) in &columns.ratios {
        let numerator = source.numbers(numerator_name)?;
        let denominator = source.numbers(denominator_name)?;
        let numerators = per_arm(kind_of(&numerator), &numerator);
        let denominators = per_arm(SampleKind::Mean, &denominator);
        let products = cross(&numerator, &denominator);
        let ratios = numerators
            .into_iter()
            .zip(denominators)
            .zip(products)
            .map(|((numerator, denominator), sum_products)| RatioSample {
                numerator,
                denominator,
                sum_products,
            })
            .collect();
        metrics.push(MetricInput {
            name: format!("{numerator_name}/{denominator_name}"),
            data: MetricData::Ratios(ratios),
        });
    }
    Ok(UnitTable {
        arms,
        units,
        units_in_several_arms: in_several_arms.len() as u64,
        metrics,
        covariate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    fn columns(metrics: &[&str]) -> UnitColumns {
        UnitColumns {
            metrics: metrics.iter().map(|s| s.to_string()).collect(),
            ..UnitColumns::default()
        }
    }

    #[test]
    fn a_table_becomes_sufficient_statistics_per_sorted_arm() {
        let file = write("unit,arm,converted,revenue\nu1,b,1,10\nu2,a,0,0\nu3,b,0,2.5\nu4,a,1,4\n");
        let table = read_units(file.path(), None, &columns(&["converted", "revenue"])).unwrap();
        assert_eq!(table.arms, ["a", "b"]);
        assert_eq!(table.units, [2, 2]);
        let MetricData::Samples(converted) = &table.metrics[0].data else {
            panic!("not samples");
        };
        assert_eq!(converted[1], Sample::proportion(2, 1.0));
        let MetricData::Samples(revenue) = &table.metrics[1].data else {
            panic!("not samples");
        };
        assert_eq!(revenue[1], Sample::mean_of(2, 12.5, 106.25));
    }

    #[test]
    fn a_unit_in_two_arms_is_left_out_and_counted() {
        let file = write("unit,arm,x\nu1,a,1\nu2,b,2\nu1,b,3\nu3,a,4\nu4,b,5\n");
        let table = read_units(file.path(), None, &columns(&["x"])).unwrap();
        assert_eq!(table.units_in_several_arms, 1);
        assert_eq!(table.units, [1, 2]);
    }

    #[test]
    fn bad_cells_name_file_row_and_column() {
        let twice = write("unit,arm,x\nu1,a,1\nu2,b,2\nu1,a,3\n");
        let error = read_units(twice.path(), None, &columns(&["x"])).unwrap_err();
        assert!(
            error.to_string().contains("row 3, column 'unit'"),
            "{error}"
        );
        let text = write("unit,arm,x\nu1,a,1\nu2,b,lots\n");
        let error = read_units(text.path(), None, &columns(&["x"])).unwrap_err();
        assert!(
            error.to_string().contains("row 2, column 'x': is 'lots'"),
            "{error}"
        );
        let empty = write("unit,arm,x\nu1,a,1\nu2,b,\n");
        let error = read_units(empty.path(), None, &columns(&["x"])).unwrap_err();
        assert!(
            error.to_string().contains("row 2, column 'x': is empty"),
            "{error}"
        );
        let missing = write("unit,arm,x\nu1,a,1\nu2,b,2\n");
        let error = read_units(missing.path(), None, &columns(&["y"])).unwrap_err();
        assert!(
            error.to_string().contains("missing required column 'y'"),
            "{error}"
        );
        let one_arm = write("unit,arm,x\nu1,a,1\nu2,a,2\n");
        let error = read_units(one_arm.path(), None, &columns(&["x"])).unwrap_err();
        assert!(error.to_string().contains("at least two"), "{error}");
    }
}
