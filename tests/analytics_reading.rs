//! The analytics log read straight from Parquet (column by column, row groups decoded in
//! parallel) equals the log built from the event reader's events, and a bad row anywhere in a
//! many-row-group file is named exactly as the event reader names it.

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use nextbest::analytics::{EventLog, LogOptions};
use nextbest::journey::{EventReader, ReadOptions};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

const ROWS: usize = 1000;

/// One row of the fixture: customer, microseconds, type, channel, action, value, text.
type Cells = (
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<String>,
);

/// Eight customers' events in customer runs but not in time order within a run, a customer id
/// padded with spaces, nulls in the optional columns, actions among the events, some text.
fn rows() -> Vec<Cells> {
    let types = ["visit", "page_view", "purchase", "action", "complaint"];
    let channels = [Some("web"), None, Some("email"), Some("app")];
    (0..ROWS)
        .map(|i| {
            let customer = match i / 125 {
                3 => " c3 ".to_string(),
                c => format!("c{c}"),
            };
            let kind = types[(i * 7) % types.len()].to_string();
            let time = 1_735_689_600_000_000 + ((i * 37) % 101) as i64 * 3_600_000_000;
            let action = (kind == "action").then(|| format!("offer_{}", i % 3));
            let value = (kind == "purchase").then_some(10.0 + (i % 5) as f64);
            let text = (kind == "complaint" && i % 2 == 0).then(|| format!("late again {i}"));
            let channel = channels[i % channels.len()].map(str::to_string);
            (customer, time, kind, channel, action, value, text)
        })
        .collect()
}

/// Writes `rows` with row groups of 128 rows (so several decoders each take several groups).
fn write(dir: &Path, name: &str, rows: &[Cells]) -> PathBuf {
    let column = |f: &dyn Fn(&Cells) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let batch = RecordBatch::try_from_iter(vec![
        ("customer_id", column(&|r| Some(r.0.clone()))),
        (
            "timestamp",
            Arc::new(
                TimestampMicrosecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ) as ArrayRef,
        ),
        ("event_type", column(&|r| Some(r.2.clone()))),
        ("channel", column(&|r| r.3.clone())),
        ("action_id", column(&|r| r.4.clone())),
        (
            "value",
            Arc::new(rows.iter().map(|r| r.5).collect::<Float64Array>()) as ArrayRef,
        ),
        ("text", column(&|r| r.6.clone())),
    ])
    .unwrap();
    let path = dir.join(name);
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(128))
        .build();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

fn assert_same_log(direct: &EventLog, via_events: &EventLog, options: LogOptions) {
    assert_eq!(direct.customers, via_events.customers);
    assert_eq!(direct.starts, via_events.starts);
    assert_eq!(direct.customer, via_events.customer);
    assert_eq!(direct.time, via_events.time);
    let names = |log: &EventLog| -> Vec<String> {
        log.kind
            .iter()
            .map(|&k| log.types.name(k).to_string())
            .collect()
    };
    assert_eq!(names(direct), names(via_events));
    assert_eq!(direct.kind, via_events.kind, "types interned in file order");
    if options.details {
        assert_eq!(direct.channel, via_events.channel);
        assert_eq!(direct.action, via_events.action);
        let bits = |log: &EventLog| log.value.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(direct), bits(via_events));
    } else {
        assert!(direct.channel.is_empty() && direct.value.is_empty());
    }
    if options.text {
        let texts = |log: &EventLog| -> Vec<String> {
            log.text
                .iter()
                .map(|&t| log.texts[t as usize].to_string())
                .collect()
        };
        assert_eq!(texts(direct), texts(via_events));
    }
}

#[test]
fn the_log_read_from_parquet_equals_the_log_of_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "events.parquet", &rows());
    let events = EventReader::read_all(&path, ReadOptions::default()).unwrap();
    assert_eq!(events.len(), ROWS);
    let via_events = EventLog::from_events(&events);
    assert_eq!(via_events.customers.len(), 8);
    for options in [
        LogOptions::default(),
        LogOptions::counting(true),
        LogOptions::counting(false),
    ] {
        let direct = EventLog::read_with(&path, options, |_| {}).unwrap();
        assert_same_log(&direct, &via_events, options);
    }
}

#[test]
fn a_bad_row_in_a_later_row_group_is_named_as_the_event_reader_names_it() {
    let dir = tempfile::tempdir().unwrap();
    type Spoil = fn(&mut Cells);
    let cases: [(usize, &str, Spoil); 6] = [
        (700, "timestamp", |r| r.1 = i64::MIN),
        (513, "event_type", |r| r.2 = "  ".to_string()),
        (901, "value", |r| r.5 = Some(f64::NAN)),
        (300, "anonymous_id", |r| r.2 = "identify".to_string()),
        (650, "customer_id", |r| r.0 = " ".to_string()),
        (129, "value", |r| r.5 = Some(f64::INFINITY)),
    ];
    for (row, column, spoil) in cases {
        let mut rows = rows();
        spoil(&mut rows[row - 1]);
        let path = write(dir.path(), "bad.parquet", &rows);
        let expected = EventReader::read_all(&path, ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            expected.contains(&format!("row {row}, column '{column}'")),
            "{expected}"
        );
        for options in [LogOptions::default(), LogOptions::counting(true)] {
            let error = EventLog::read_with(&path, options, |_| {})
                .unwrap_err()
                .to_string();
            assert_eq!(error, expected);
        }
        if column != "value" {
            // Without the details the value column is not read; every other rule still holds.
            let error = EventLog::read_with(&path, LogOptions::counting(false), |_| {})
                .unwrap_err()
                .to_string();
            assert_eq!(error, expected);
        }
    }
}
