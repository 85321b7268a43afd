//! Journey I/O: the three formats agree, and every kind of bad input gets its defined behaviour.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use nextbest::journey::inspect::JourneySummary;
use nextbest::journey::writer::ParquetEventWriter;
use nextbest::journey::{
    AttrValue, AttributeKind, Channel, CustomerTable, Event, EventReader, EventType, JourneyError,
    ReadOptions, Timestamp,
};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_date_or_datetime(text).unwrap()
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn sample_events() -> Vec<Event> {
    vec![
        Event::new("c1", ts("2024-01-01T10:00:00Z"), EventType::Visit).with_channel(Channel::Web),
        Event::new("c1", ts("2024-01-02T10:00:00Z"), EventType::Purchase)
            .with_channel(Channel::App)
            .with_value(19.5),
        Event::new("c2", ts("2024-01-03T08:30:00Z"), EventType::Action)
            .with_channel(Channel::Email)
            .with_action("email_discount"),
        Event::new("c2", ts("2024-01-04T09:00:00Z"), EventType::Complaint)
            .with_channel(Channel::CallCenter)
            .with_text("Not happy, \"the refund\" is late"),
        Event::new(
            "c3",
            ts("2024-01-05T00:00:00Z"),
            EventType::parse("loyalty_points"),
        )
        .with_channel(Channel::parse("kiosk")),
    ]
}

fn to_csv(events: &[Event]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "customer_id",
            "timestamp",
            "event_type",
            "channel",
            "action_id",
            "value",
            "text",
        ])
        .unwrap();
    for e in events {
        writer
            .write_record([
                e.customer_id.clone(),
                e.timestamp.to_rfc3339(),
                e.event_type.to_string(),
                e.channel
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                e.action_id.clone().unwrap_or_default(),
                e.value.map(|v| v.to_string()).unwrap_or_default(),
                e.text.clone().unwrap_or_default(),
            ])
            .unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

fn to_jsonl(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

fn read(path: &Path) -> Result<Vec<Event>, JourneyError> {
    EventReader::read_all(path, ReadOptions::default())
}

#[test]
fn parquet_csv_and_jsonl_read_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let events = sample_events();
    let csv = write(dir.path(), "e.csv", &to_csv(&events));
    let jsonl = write(dir.path(), "e.jsonl", &to_jsonl(&events));
    let parquet = dir.path().join("e.parquet");
    let mut writer = ParquetEventWriter::create(&parquet).unwrap();
    writer.write(events.clone()).unwrap();
    assert_eq!(writer.finish().unwrap(), events.len() as u64);
    assert_eq!(read(&csv).unwrap(), events);
    assert_eq!(read(&jsonl).unwrap(), events);
    assert_eq!(read(&parquet).unwrap(), events);
}

#[test]
fn chunks_stream_a_file_in_pieces_without_losing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<Event> = (0..1000)
        .map(|i| {
            Event::new(
                format!("c{}", i % 7),
                Timestamp(i * 1_000_000),
                EventType::Visit,
            )
        })
        .collect();
    let path = write(dir.path(), "e.csv", &to_csv(&events));
    let options = ReadOptions {
        chunk_rows: 64,
        ..ReadOptions::default()
    };
    let chunks: Vec<_> = EventReader::open(&path, options)
        .unwrap()
        .map(|c| c.unwrap().events)
        .collect();
    assert_eq!(chunks.len(), 16);
    assert!(chunks.iter().all(|c| c.len() <= 64));
    assert_eq!(chunks.concat(), events);
}

#[test]
fn format_can_be_forced_and_unknown_extensions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "events.txt", &to_csv(&sample_events()));
    let error = read(&path).unwrap_err();
    assert_eq!(error.code(), "unknown_format");
    assert!(error.to_string().contains("events.txt"));
    let options = ReadOptions {
        format: Some("csv".parse().unwrap()),
        ..ReadOptions::default()
    };
    assert_eq!(EventReader::read_all(&path, options).unwrap().len(), 5);
}

#[test]
fn missing_required_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "e.csv", "customer_id,event_type\nc1,visit\n");
    let error = read(&path).err().unwrap();
    let message = error.to_string();
    assert_eq!(error.code(), "missing_column");
    assert!(
        message.contains("e.csv") && message.contains("'timestamp'"),
        "{message}"
    );
}

#[test]
fn unparsable_timestamp_names_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(
        dir.path(),
        "bad.csv",
        "customer_id,timestamp,event_type\nc1,2024-01-01T00:00:00Z,visit\nc1,yesterday,visit\n",
    );
    match read(&csv).unwrap_err() {
        JourneyError::Cell {
            file,
            row,
            column,
            problem,
        } => {
            assert!(file.ends_with("bad.csv"));
            assert_eq!((row, column.as_str()), (2, "timestamp"));
            assert!(problem.contains("yesterday"), "{problem}");
        }
        other => panic!("unexpected {other}"),
    }
    let jsonl = write(
        dir.path(),
        "bad.jsonl",
        "{\"customer_id\":\"c1\",\"timestamp\":\"2024-01-01\",\"event_type\":\"visit\"}\n\n{\"customer_id\":\"c1\",\"timestamp\":\"2024-02-30\",\"event_type\":\"visit\"}\n",
    );
    let message = read(&jsonl).unwrap_err().to_string();
    assert!(
        message.contains("bad.jsonl: row 3, column 'timestamp'"),
        "{message}"
    );
}

#[test]
fn wrong_types_are_errors_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "v.csv", "customer_id,timestamp,event_type,value\nc1,2024-01-01,purchase,12.5\nc1,2024-01-02,purchase,twelve\n");
    let message = read(&csv).unwrap_err().to_string();
    assert!(
        message.contains("row 2, column 'value'") && message.contains("twelve"),
        "{message}"
    );

    let jsonl = write(dir.path(), "v.jsonl", "{\"customer_id\":\"c1\",\"timestamp\":\"2024-01-01\",\"event_type\":\"purchase\",\"value\":\"12\"}\n");
    let message = read(&jsonl).unwrap_err().to_string();
    assert!(
        message.contains("row 1, column 'value'") && message.contains("a string"),
        "{message}"
    );

    let jsonl = write(
        dir.path(),
        "t.jsonl",
        "{\"customer_id\":\"c1\",\"timestamp\":\"2024-01-01\",\"event_type\":7}\n",
    );
    assert!(read(&jsonl)
        .unwrap_err()
        .to_string()
        .contains("column 'event_type'"));

    let nan = write(
        dir.path(),
        "nan.csv",
        "customer_id,timestamp,event_type,value\nc1,2024-01-01,purchase,NaN\n",
    );
    assert!(read(&nan)
        .unwrap_err()
        .to_string()
        .contains("not a finite number"));

    // A Parquet value column holding strings is refused before any row is read.
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(StringArray::from(vec!["c1"])) as ArrayRef,
        ),
        (
            "timestamp",
            Arc::new(StringArray::from(vec!["2024-01-01T00:00:00Z"])) as ArrayRef,
        ),
        (
            "event_type",
            Arc::new(StringArray::from(vec!["purchase"])) as ArrayRef,
        ),
        ("value", Arc::new(StringArray::from(vec!["12"])) as ArrayRef),
    ])
    .unwrap();
    let parquet = dir.path().join("v.parquet");
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&parquet).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let error = read(&parquet).unwrap_err();
    assert_eq!(error.code(), "column_type");
    assert!(
        error.to_string().contains("column 'value' has type Utf8"),
        "{error}"
    );
}

#[test]
fn empty_and_header_only_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("empty.csv", ""),
        ("header.csv", "customer_id,timestamp,event_type\n"),
        ("empty.jsonl", ""),
        ("blank.jsonl", "\n\n"),
    ] {
        let error = read(&write(dir.path(), name, content)).unwrap_err();
        assert_eq!(error.code(), "empty_file", "{name}: {error}");
        assert!(error.to_string().contains(name));
    }
    let garbage = write(dir.path(), "garbage.parquet", "not parquet at all");
    assert_eq!(read(&garbage).unwrap_err().code(), "malformed_file");
}

#[test]
fn ragged_csv_rows_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "r.csv",
        "customer_id,timestamp,event_type\nc1,2024-01-01,visit\nc1,2024-01-02\n",
    );
    let message = read(&path).unwrap_err().to_string();
    assert!(
        message.contains("row 2") && message.contains("2 fields"),
        "{message}"
    );
}

#[test]
fn lenient_reading_reports_problems_and_keeps_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "mixed.csv",
        "customer_id,timestamp,event_type,channel\nc1,2024-01-01,visit,web\n,2024-01-01,visit,web\nc2,2024-01-03,teleport,hologram\nc2,not-a-date,visit,web\nc2,2024-01-02,visit,\n",
    );
    let options = ReadOptions {
        strict: false,
        ..ReadOptions::default()
    };
    let mut summary = JourneySummary::default();
    for chunk in EventReader::open(&path, options).unwrap() {
        let chunk = chunk.unwrap();
        summary.add(&chunk.events, &chunk.problems);
    }
    assert_eq!(summary.events, 3);
    assert_eq!(summary.problem_rows, 2);
    assert_eq!(
        (summary.problems[0].row, summary.problems[0].column.as_str()),
        (2, "customer_id")
    );
    assert_eq!(
        (summary.problems[1].row, summary.problems[1].column.as_str()),
        (4, "timestamp")
    );
    assert_eq!(summary.unknown_event_types.get("teleport"), Some(&1));
    assert_eq!(summary.unknown_channels.get("hologram"), Some(&1));
    assert_eq!(summary.by_channel.get("(none)"), Some(&1));
    // c2's visit on the 2nd comes after its event on the 3rd in the file.
    assert_eq!(summary.out_of_time_order, 1);
    assert_eq!(summary.customers, 2);
    let text = summary.render("mixed.csv");
    assert!(
        text.contains("rows with problems 2") && text.contains("teleport"),
        "{text}"
    );
}

#[test]
fn customer_tables_infer_types_and_refuse_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "customers.csv",
        "customer_id,plan,monthly_fee,vip,signup_date\nc1,basic,9.99,true,2023-05-01\nc2,premium,29,false,2022-01-15T10:00:00Z\nc3,,,,\n",
    );
    let table = CustomerTable::read(&path, None).unwrap();
    let kinds: Vec<_> = table
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("plan", AttributeKind::Categorical),
            ("monthly_fee", AttributeKind::Numeric),
            ("vip", AttributeKind::Boolean),
            ("signup_date", AttributeKind::Date),
        ]
    );
    assert_eq!(table.get("c1").unwrap()[1], AttrValue::Number(9.99));
    assert_eq!(
        table.get("c3").unwrap(),
        &[
            AttrValue::Missing,
            AttrValue::Missing,
            AttrValue::Missing,
            AttrValue::Missing
        ]
    );

    let dup = write(
        dir.path(),
        "dup.csv",
        "customer_id,plan\nc1,basic\nc2,plus\nc1,premium\n",
    );
    match CustomerTable::read(&dup, None).unwrap_err() {
        JourneyError::DuplicateCustomer {
            customer_id,
            first_row,
            row,
            ..
        } => {
            assert_eq!((customer_id.as_str(), first_row, row), ("c1", 1, 3));
        }
        other => panic!("unexpected {other}"),
    }
    let mixed = write(
        dir.path(),
        "mixed.jsonl",
        "{\"customer_id\":\"a\",\"age\":31}\n{\"customer_id\":\"b\",\"age\":\"old\"}\n",
    );
    let message = CustomerTable::read(&mixed, None).unwrap_err().to_string();
    assert!(message.contains("row 2, column 'age'"), "{message}");
    let empty = write(dir.path(), "none.csv", "customer_id,plan\n");
    assert_eq!(
        CustomerTable::read(&empty, None).unwrap_err().code(),
        "empty_file"
    );
}

fn write_batch(path: &Path, batch: &arrow_array::RecordBatch) {
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_as_other_tools_write_it_reads_the_same() {
    // Dictionary-encoded strings (pandas categoricals, polars Categorical), nulls, an all-null
    // dictionary column, large strings, integer ids, millisecond timestamps without a zone.
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, DictionaryArray, Int64Array, LargeStringArray, TimestampMillisecondArray,
    };
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let types: DictionaryArray<Int32Type> = vec![Some("visit"), Some("purchase"), Some("visit")]
        .into_iter()
        .collect();
    let channels: DictionaryArray<Int32Type> =
        vec![Some("web"), None, Some("app")].into_iter().collect();
    let actions: DictionaryArray<Int32Type> = vec![None::<&str>, None, None].into_iter().collect();
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(Int64Array::from(vec![7, 7, 8])) as ArrayRef,
        ),
        (
            "timestamp",
            Arc::new(TimestampMillisecondArray::from(vec![
                1_700_000_000_000,
                1_700_000_060_000,
                1_700_000_120_000,
            ])) as ArrayRef,
        ),
        ("event_type", Arc::new(types) as ArrayRef),
        ("channel", Arc::new(channels) as ArrayRef),
        ("action_id", Arc::new(actions) as ArrayRef),
        (
            "text",
            Arc::new(LargeStringArray::from(vec![None, Some("great"), None])) as ArrayRef,
        ),
    ])
    .unwrap();
    let path = dir.path().join("tools.parquet");
    write_batch(&path, &batch);
    let events = read(&path).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].customer_id, "7");
    assert_eq!(events[0].timestamp, Timestamp(1_700_000_000_000_000));
    assert_eq!(events[1].event_type, EventType::Purchase);
    assert_eq!(events[1].channel, None);
    assert_eq!(events[1].text.as_deref(), Some("great"));
    assert_eq!(events[2].channel, Some(Channel::App));
    assert!(events.iter().all(|e| e.action_id.is_none()));
}

#[test]
fn an_unclosed_quote_is_an_error_not_a_swallowed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "quote.csv",
        "customer_id,timestamp,event_type,text\nc1,2024-01-01,visit,fine\nc2,2024-01-02,review,\"oops\nc3,2024-01-03,visit,\nc4,2024-01-04,visit,\n",
    );
    let message = read(&path).unwrap_err().to_string();
    assert!(
        message.contains("quote.csv: row 2") && message.contains("never closed"),
        "{message}"
    );
    // A legitimately multi-line quoted field is fine.
    let ok = write(
        dir.path(),
        "multi.csv",
        "customer_id,timestamp,event_type,text\nc1,2024-01-01,review,\"two\nlines\"\n",
    );
    assert_eq!(read(&ok).unwrap()[0].text.as_deref(), Some("two\nlines"));
    let customers = write(
        dir.path(),
        "c.csv",
        "customer_id,plan\nc1,\"basic\nc2,plus\n",
    );
    assert!(CustomerTable::read(&customers, None)
        .unwrap_err()
        .to_string()
        .contains("never closed"));
}

#[test]
fn a_bad_utf8_jsonl_line_costs_only_that_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.jsonl");
    let mut bytes =
        b"{\"customer_id\":\"c1\",\"timestamp\":\"2024-01-01\",\"event_type\":\"visit\"}\n"
            .to_vec();
    bytes.extend_from_slice(
        b"{\"customer_id\":\"c2\",\"timestamp\":\"2024-01-01\",\"event_type\":\"vis\xffit\"}\n",
    );
    bytes.extend_from_slice(
        b"{\"customer_id\":\"c3\",\"timestamp\":\"2024-01-01\",\"event_type\":\"visit\"}\n",
    );
    bytes.extend_from_slice(
        b"{\"customer_id\":\"c4\",\"timestamp\":\"someday\",\"event_type\":\"visit\"}\n",
    );
    std::fs::write(&path, bytes).unwrap();
    let options = ReadOptions {
        strict: false,
        ..ReadOptions::default()
    };
    let mut summary = JourneySummary::default();
    for chunk in EventReader::open(&path, options).unwrap() {
        let chunk = chunk.unwrap();
        summary.add(&chunk.events, &chunk.problems);
    }
    assert_eq!(summary.events, 2);
    assert_eq!(summary.customers, 2);
    let rows: Vec<u64> = summary.problems.iter().map(|p| p.row).collect();
    assert_eq!(rows, [2, 4]);
}

#[test]
fn timestamps_outside_years_1000_to_9999_are_refused() {
    use arrow_array::{ArrayRef, Date32Array, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
        (
            "timestamp",
            Arc::new(TimestampMicrosecondArray::from(vec![0, i64::MIN])) as ArrayRef,
        ),
        (
            "event_type",
            Arc::new(StringArray::from(vec!["visit", "visit"])) as ArrayRef,
        ),
    ])
    .unwrap();
    write_batch(&path, &batch);
    let message = read(&path).unwrap_err().to_string();
    assert!(
        message.contains("row 2, column 'timestamp'") && message.contains("outside years"),
        "{message}"
    );
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
        ),
        (
            "timestamp",
            Arc::new(Date32Array::from(vec![i32::MAX])) as ArrayRef,
        ),
        (
            "event_type",
            Arc::new(StringArray::from(vec!["visit"])) as ArrayRef,
        ),
    ])
    .unwrap();
    write_batch(&path, &batch);
    assert!(read(&path)
        .unwrap_err()
        .to_string()
        .contains("column 'timestamp'"));
    let csv = write(
        dir.path(),
        "far.csv",
        "customer_id,timestamp,event_type\nc1,0999-12-31T00:00:00Z,visit\n",
    );
    assert!(read(&csv)
        .unwrap_err()
        .to_string()
        .contains("outside years"));
}

#[test]
fn a_huge_header_line_is_not_echoed_whole() {
    let dir = tempfile::tempdir().unwrap();
    // A "CSV" whose header is 10 MB of columns, none of them the required ones.
    let header: Vec<String> = (0..200_000)
        .map(|i| format!("column_number_{i:08}"))
        .collect();
    let path = write(dir.path(), "huge.csv", &format!("{}\n", header.join(",")));
    let message = read(&path).unwrap_err().to_string();
    assert!(
        message.contains("missing required column"),
        "{}",
        &message[..200]
    );
    assert!(message.len() < 2_000, "{} bytes", message.len());
    assert!(message.contains("(200000 columns in all)"), "{message}");
}
