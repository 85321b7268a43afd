//! Identity: visitor events (`anonymous_id`) linked to customers by `identify` events — read
//! from every format with row-and-column errors, given to the customer by analytics (looking
//! back) and by features only once the link is known (point-in-time).

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use nextbest::analytics::funnel::{funnel, Breakdown, FunnelSpec, OrderMode};
use nextbest::analytics::EventLog;
use nextbest::features::{
    CustomerMatrixBuilder, DecisionMatrixBuilder, DecisionPoints, FeatureSpec,
};
use nextbest::journey::{Event, EventReader, EventType, ReadOptions, Timestamp};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_date_or_datetime(text).unwrap()
}

/// Ann browses as visitor `dev-1` on 1 and 3 March, signs up (identify) on 10 March and buys on
/// 12 March; visitor `dev-9` is never identified; Bob only ever visits as himself.
const CSV: &str = "customer_id,timestamp,event_type,channel,action_id,value,text,anonymous_id\n\
,2025-03-01T10:00:00Z,visit,web,,,,dev-1\n\
,2025-03-03T10:00:00Z,add_to_cart,web,,,,dev-1\n\
,2025-03-04T10:00:00Z,visit,web,,,,dev-9\n\
ann,2025-03-10T10:00:00Z,identify,web,,,,dev-1\n\
ann,2025-03-12T10:00:00Z,purchase,web,,40,,\n\
bob,2025-03-02T10:00:00Z,visit,web,,,,\n";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn jsonl_of(csv: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let mut object = serde_json::Map::new();
            for (name, cell) in header.iter().zip(line.split(',')) {
                if cell.is_empty() {
                    continue;
                }
                let value = match *name {
                    "value" => serde_json::json!(cell.parse::<f64>().unwrap()),
                    _ => serde_json::json!(cell),
                };
                object.insert(name.to_string(), value);
            }
            serde_json::Value::Object(object).to_string() + "\n"
        })
        .collect()
}

fn parquet_of(dir: &Path, events: &[Event]) -> std::path::PathBuf {
    // The writer's schema has no anonymous_id: build the file with arrow directly.
    use arrow_array::builder::{Float64Builder, StringBuilder, TimestampMicrosecondBuilder};
    use std::sync::Arc;
    let path = dir.join("events.parquet");
    let mut ids = StringBuilder::new();
    let mut times = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut types = StringBuilder::new();
    let mut values = Float64Builder::new();
    let mut anonymous = StringBuilder::new();
    for e in events {
        ids.append_value(&e.customer_id);
        times.append_value(e.timestamp.0);
        types.append_value(e.event_type.as_str());
        values.append_option(e.value);
        anonymous.append_option(e.anonymous_id.as_deref());
    }
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        (
            "customer_id",
            Arc::new(ids.finish()) as arrow_array::ArrayRef,
        ),
        ("timestamp", Arc::new(times.finish())),
        ("event_type", Arc::new(types.finish())),
        ("value", Arc::new(values.finish())),
        ("anonymous_id", Arc::new(anonymous.finish())),
    ])
    .unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    path
}

#[test]
fn every_format_reads_anonymous_ids_and_identify_links_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "events.csv", CSV);
    let jsonl = write(dir.path(), "events.jsonl", &jsonl_of(CSV));
    let from_csv = EventReader::read_all(&csv, ReadOptions::default()).unwrap();
    let from_jsonl = EventReader::read_all(&jsonl, ReadOptions::default()).unwrap();
    assert_eq!(from_csv, from_jsonl);
    assert_eq!(from_csv[0], {
        let e = Event::anonymous("dev-1", ts("2025-03-01T10:00:00Z"), EventType::Visit);
        e.with_channel(nextbest::journey::Channel::Web)
    });
    assert!(from_csv[0].is_anonymous());
    assert_eq!(from_csv[3].event_type, EventType::Identify);
    assert_eq!(from_csv[3].anonymous_id.as_deref(), Some("dev-1"));
    let parquet = parquet_of(dir.path(), &from_csv);
    let from_parquet = EventReader::read_all(&parquet, ReadOptions::default()).unwrap();
    let strip = |e: &Event| Event {
        channel: None,
        ..e.clone()
    };
    assert_eq!(
        from_parquet,
        from_csv.iter().map(strip).collect::<Vec<_>>(),
        "Parquet carries the same ids"
    );
    // The analytics log reads Parquet columns directly: same log as from the events.
    let direct = EventLog::read(&parquet, |_| {}).unwrap();
    let via_events = EventLog::from_events(&from_parquet);
    assert_eq!(direct.customers, via_events.customers);
    assert_eq!(direct.time, via_events.time);
    assert_eq!(direct.kind, via_events.kind);
    assert_eq!(direct.visitors, via_events.visitors);
}

#[test]
fn rows_without_any_id_or_identify_rows_without_both_ids_name_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let header = "customer_id,timestamp,event_type,anonymous_id\n";
    let cases = [
        (
            "c1,2025-03-01T00:00:00Z,visit,\n,2025-03-01T00:00:00Z,visit,\n",
            "row 2, column 'customer_id': is empty and there is no anonymous_id; every event needs a customer or an anonymous visitor",
        ),
        (
            "c1,2025-03-01T00:00:00Z,identify,\n",
            "row 1, column 'anonymous_id': is empty; an identify event links an anonymous_id to a customer_id",
        ),
        (
            "c1,2025-03-01T00:00:00Z,visit,d1\n,2025-03-02T00:00:00Z,identify,d1\n",
            "row 2, column 'customer_id': is empty; an identify event links an anonymous_id to a customer_id",
        ),
    ];
    for (rows, expected) in cases {
        let csv = write(dir.path(), "bad.csv", &format!("{header}{rows}"));
        let jsonl = write(
            dir.path(),
            "bad.jsonl",
            &jsonl_of(&format!("{header}{rows}")),
        );
        for path in [&csv, &jsonl] {
            let error = EventReader::read_all(path, ReadOptions::default())
                .unwrap_err()
                .to_string();
            assert!(error.ends_with(expected), "{error}");
            assert!(error.starts_with(&path.display().to_string()), "{error}");
        }
        let events: Vec<Event> = rows
            .lines()
            .map(|line| {
                let f: Vec<&str> = line.split(',').collect();
                Event {
                    anonymous_id: (!f[3].is_empty()).then(|| f[3].to_string()),
                    ..Event::new(f[0], ts(f[1]), EventType::parse(f[2]))
                }
            })
            .collect();
        let parquet = parquet_of(dir.path(), &events);
        let error = EventLog::read(&parquet, |_| {}).unwrap_err().to_string();
        assert!(error.ends_with(expected), "{error}");
        let error = EventReader::read_all(&parquet, ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.ends_with(expected), "{error}");
    }
}

#[test]
fn analytics_give_linked_visitor_events_to_the_customer_and_leave_out_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "events.csv", CSV);
    let log = EventLog::read(&csv, |_| {}).unwrap();
    assert_eq!(log.customers, ["ann", "bob"]);
    let ann: Vec<&str> = log
        .events_of(0)
        .map(|i| log.types.name(log.kind[i]))
        .collect();
    assert_eq!(ann, ["visit", "add_to_cart", "identify", "purchase"]);
    assert_eq!(log.visitors.linked_visitors, 1);
    assert_eq!(log.visitors.linked_events, 2);
    assert_eq!(log.visitors.unlinked_events, 1);
    // The visit before sign-up starts Ann's funnel.
    let spec = FunnelSpec {
        steps: vec![
            "visit".parse().unwrap(),
            "add_to_cart".parse().unwrap(),
            "purchase".parse().unwrap(),
        ],
        window_days: 30.0,
        order: OrderMode::Ordered,
        breakdown: Breakdown::None,
    };
    let f = funnel(&log, &[true, true], None, &spec, 0, i64::MAX / 2).unwrap();
    let counts: Vec<u64> = f.groups[0].steps.iter().map(|s| s.customers).collect();
    assert_eq!(counts, [2, 1, 1]);
}

#[test]
fn features_use_a_visitors_events_only_once_the_link_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "events.csv", CSV);
    let events = EventReader::read_all(&csv, ReadOptions::default()).unwrap();
    let spec = FeatureSpec::new(None, None).unwrap();
    let feature = |row: &nextbest::features::MatrixRow, name: &str| {
        row.features[spec.index_of(name).unwrap()]
    };
    // Cutoffs: after the visits but before the sign-up; at the sign-up; a day after it.
    let cutoffs = [
        "2025-03-05T00:00:00Z",
        "2025-03-10T10:00:00Z",
        "2025-03-11T00:00:00Z",
    ];
    let mut visits = Vec::new();
    for cutoff in cutoffs {
        // Any order of events gives the same rows.
        for reversed in [false, true] {
            let mut chunk = events.clone();
            if reversed {
                chunk.reverse();
            }
            let mut builder = CustomerMatrixBuilder::new(&spec, ts(cutoff), None);
            builder.add(&chunk);
            let (rows, stats) = builder.finish(None);
            let ann = rows.iter().find(|r| r.customer_id == "ann");
            let v = ann.map(|r| (feature(r, "visits_30d"), feature(r, "carts_30d")));
            if !reversed {
                visits.push((
                    v,
                    stats.visitor_events_linked,
                    stats.visitor_events_not_linked,
                ));
            } else {
                assert_eq!(
                    (v, stats.visitor_events_linked),
                    (visits.last().unwrap().0, visits.last().unwrap().1)
                );
            }
        }
    }
    // Before the link Ann is unknown (no row, her visits are a stranger's); at the instant of
    // the link still not (features use what was known strictly before); after it, her visits.
    assert_eq!(visits[0], (None, 0, 3));
    assert_eq!(visits[1], (None, 0, 3));
    assert_eq!(visits[2], (Some((1.0, 1.0)), 2, 1));

    // Decision points: the same rule per point.
    let points_csv = write(
        dir.path(),
        "points.csv",
        "customer_id,timestamp\nann,2025-03-10T10:00:01Z\nann,2025-03-10T09:59:59Z\nbob,2025-03-11T00:00:00Z\n",
    );
    let points = DecisionPoints::read(&points_csv, None).unwrap();
    let mut builder = DecisionMatrixBuilder::new(&spec, &points, None);
    builder.add(events.clone());
    let mut rows = Vec::new();
    let stats = builder
        .finish(None, &mut |batch| {
            rows.extend_from_slice(batch);
            Ok(())
        })
        .unwrap();
    let v: Vec<f32> = rows.iter().map(|r| feature(r, "visits_30d")).collect();
    assert_eq!(v, [1.0, 0.0, 1.0]);
    assert_eq!(
        (stats.visitor_events_linked, stats.visitor_events_not_linked),
        (2, 3)
    );
}
