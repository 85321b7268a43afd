//! Features: point-in-time correctness, order independence, exact values, and one code path for
//! single customers, customer matrices and decision matrices.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use nextbest::catalog::Catalog;
use nextbest::features::matrix::{write_matrix, Attributes, SPEC_METADATA_KEY};
use nextbest::features::{
    featurize, CustomerMatrixBuilder, DecisionMatrixBuilder, DecisionPoints, FeatureAccumulator,
    FeatureSpec, TextScorer,
};
use nextbest::journey::{
    AttrValue, AttributeColumn, AttributeKind, Channel, CustomerTable, Event, EventReader,
    EventType, ReadOptions, Timestamp,
};
use nextbest::simulator::{generate, SimulatorConfig};
use rand::{Rng, SeedableRng};

const DAY: i64 = Timestamp::MICROS_PER_DAY;

fn ts(text: &str) -> Timestamp {
    Timestamp::parse_date_or_datetime(text).unwrap()
}

/// A deterministic scorer, so sentiment slots are exercised without a trained model.
struct WordScorer;

impl TextScorer for WordScorer {
    fn name(&self) -> String {
        "test-words".into()
    }
    fn score(&self, text: &str) -> f32 {
        if text.contains("great") {
            0.9
        } else if text.contains("awful") {
            0.1
        } else {
            0.5
        }
    }
}

fn catalog() -> Catalog {
    toml::from_str(
        r#"
[[action]]
id = "email_discount"
channel = "email"
kind = "sales"
value = 40.0
cost = 2.0

[[action]]
id = "call_retention"
channel = "call_center"
kind = "retention"
value = 200.0
cost = 10.0
"#,
    )
    .unwrap()
}

fn customers() -> CustomerTable {
    CustomerTable::from_rows(
        vec![
            AttributeColumn {
                name: "plan".into(),
                kind: AttributeKind::Categorical,
            },
            AttributeColumn {
                name: "monthly_fee".into(),
                kind: AttributeKind::Numeric,
            },
            AttributeColumn {
                name: "signup_date".into(),
                kind: AttributeKind::Date,
            },
        ],
        vec![
            (
                "c1".into(),
                vec![
                    AttrValue::Category("plus".into()),
                    AttrValue::Number(19.0),
                    AttrValue::Date(ts("2023-01-01")),
                ],
            ),
            (
                "c2".into(),
                vec![
                    AttrValue::Category("basic".into()),
                    AttrValue::Missing,
                    AttrValue::Date(ts("2024-06-01")),
                ],
            ),
            (
                "c3".into(),
                vec![
                    AttrValue::Category("basic".into()),
                    AttrValue::Number(9.0),
                    AttrValue::Missing,
                ],
            ),
        ],
    )
    .unwrap()
}

fn history(cutoff: Timestamp) -> Vec<Event> {
    let at = |days_before: f64| cutoff.plus_days(-days_before);
    vec![
        Event::new("c1", at(400.0), EventType::Purchase).with_value(100.0),
        Event::new("c1", at(60.0), EventType::Visit).with_channel(Channel::Web),
        Event::new("c1", at(5.0), EventType::Visit).with_channel(Channel::App),
        Event::new("c1", at(5.0), EventType::Purchase)
            .with_value(30.0)
            .with_channel(Channel::App),
        Event::new("c1", at(20.0), EventType::Purchase).with_value(50.0),
        Event::new("c1", at(10.0), EventType::Action).with_action("email_discount"),
        Event::new("c1", at(9.5), EventType::EmailOpen).with_action("email_discount"),
        Event::new("c1", at(100.0), EventType::Action)
            .with_channel(Channel::Email)
            .with_action("email_discount"),
        Event::new("c1", at(3.0), EventType::Action)
            .with_channel(Channel::Sms)
            .with_action("sms_promo"),
        Event::new("c1", at(2.0), EventType::Unsubscribe).with_channel(Channel::Sms),
        Event::new("c1", at(40.0), EventType::SupportTicket).with_text("this is awful"),
        Event::new("c1", at(15.0), EventType::Review).with_text("great stuff"),
        Event::new("c1", at(1.0), EventType::parse("loyalty_points")),
    ]
}

fn spec() -> FeatureSpec {
    FeatureSpec::new(Some(&catalog()), Some(&customers()))
        .unwrap()
        .with_sentiment_model(Some(WordScorer.name()))
}

fn value(spec: &FeatureSpec, vector: &[f32], name: &str) -> f32 {
    vector[spec
        .index_of(name)
        .unwrap_or_else(|| panic!("no feature {name}"))]
}

#[test]
fn features_have_the_documented_values() {
    let cutoff = ts("2024-07-01");
    let spec = spec();
    let table = customers();
    let v = featurize(
        &spec,
        table.get("c1"),
        &history(cutoff),
        cutoff,
        Some(&WordScorer),
    );
    assert_eq!(v.len(), spec.len());
    let get = |name: &str| value(&spec, &v, name);
    assert_eq!(get("purchases_7d"), 1.0);
    assert_eq!(get("purchases_30d"), 2.0);
    assert_eq!(get("purchases_365d"), 2.0);
    assert_eq!(get("purchases_total"), 3.0);
    assert_eq!(get("revenue_30d"), 80.0);
    assert_eq!(get("revenue_total"), 180.0);
    assert_eq!(get("avg_order_value"), 60.0);
    assert_eq!(get("visits_7d"), 1.0);
    assert_eq!(get("visits_90d"), 2.0);
    assert_eq!(get("days_since_last_purchase"), 5.0);
    assert_eq!(get("days_since_last_support"), 40.0);
    assert_eq!(get("days_since_last_complaint"), 3650.0);
    assert_eq!(get("events_total"), 13.0);
    assert_eq!(get("unknown_events_total"), 1.0);
    assert_eq!(get("actions_received_30d"), 2.0);
    // The discount has no channel on one event: the catalog's channel (email) is used.
    assert_eq!(get("email_sends_365d"), 2.0);
    assert_eq!(get("email_open_rate_365d"), 0.5);
    assert_eq!(get("sms_sends_365d"), 1.0);
    assert_eq!(get("sms_unsubscribed"), 1.0);
    assert_eq!(get("email_unsubscribed"), 0.0);
    assert_eq!(get("action_email_discount_sent_90d"), 1.0);
    assert_eq!(get("action_email_discount_days_since"), 10.0);
    assert_eq!(get("action_call_retention_days_since"), 3650.0);
    assert_eq!(get("actions_other_sent_90d"), 1.0);
    assert_eq!(get("texts_90d"), 2.0);
    assert_eq!(get("negative_texts_90d"), 1.0);
    assert_eq!(get("sentiment_last"), 0.9);
    assert_eq!(get("sentiment_mean_30d"), 0.9);
    assert_eq!(get("sentiment_min_90d"), 0.1);
    assert!((get("sentiment_mean_90d") - 0.5).abs() < 1e-6);
    assert_eq!(get("tenure_days"), 547.0);
    assert_eq!(get("attr_plan=plus"), 1.0);
    assert_eq!(get("attr_plan=basic"), 0.0);
    assert_eq!(get("attr_monthly_fee"), 19.0);
    assert_eq!(get("attr_monthly_fee__missing"), 0.0);
    assert_eq!(get("cancelled"), 0.0);
    // Purchases 400, 20 and 5 days before the cutoff; tenure from signup, 547 days.
    assert_eq!(get("mean_purchase_gap_days"), 197.5);
    assert_eq!(get("purchase_recency_share"), (5.0f64 / 547.0) as f32);
}

/// Featurises `events` (days before the cutoff, kind) for a customer with an optional signup.
fn rhythm(events: &[(f64, &str)], signup: Option<&str>) -> (f32, f32) {
    let cutoff = ts("2024-07-01");
    let spec = spec();
    let history: Vec<Event> = events
        .iter()
        .map(|(days, kind)| Event::new("c", cutoff.plus_days(-days), EventType::parse(kind)))
        .collect();
    let attributes = [
        AttrValue::Missing,
        AttrValue::Missing,
        signup.map_or(AttrValue::Missing, |d| AttrValue::Date(ts(d))),
    ];
    let v = featurize(&spec, Some(&attributes), &history, cutoff, None);
    (
        value(&spec, &v, "mean_purchase_gap_days"),
        value(&spec, &v, "purchase_recency_share"),
    )
}

#[test]
fn purchase_rhythm_features_follow_their_conventions() {
    // No history at all (the explanation baseline): no gap, and no purchase in the whole tenure.
    assert_eq!(rhythm(&[], None), (3650.0, 1.0));
    // Visits but no purchase: the same.
    assert_eq!(
        rhythm(&[(40.0, "visit"), (2.0, "visit")], None),
        (3650.0, 1.0)
    );
    // One purchase: no gap yet; 10 of the 40 days since the first event have passed since it.
    assert_eq!(
        rhythm(&[(40.0, "visit"), (10.0, "purchase")], None),
        (3650.0, 0.25)
    );
    // Two purchases 20 days apart; tenure from the first event.
    assert_eq!(
        rhythm(&[(30.0, "purchase"), (10.0, "purchase")], None),
        (20.0, 1.0 / 3.0)
    );
    // Four purchases over 30 days: three gaps of 10 days on average, whatever their spacing.
    assert_eq!(
        rhythm(
            &[
                (90.0, "visit"),
                (36.0, "purchase"),
                (35.0, "purchase"),
                (16.0, "purchase"),
                (6.0, "purchase")
            ],
            None
        ),
        (10.0, 6.0 / 90.0)
    );
    // Two purchases at the same instant: a gap of zero days, not undefined.
    assert_eq!(
        rhythm(&[(8.0, "purchase"), (8.0, "purchase")], None),
        (0.0, 1.0)
    );
    // Tenure from the signup date (2024-06-01, 30 days), not the first event.
    assert_eq!(
        rhythm(&[(20.0, "purchase"), (6.0, "purchase")], Some("2024-06-01")),
        (14.0, 0.2)
    );
    // A purchase before the signup date: the whole tenure has passed since it, no more.
    assert_eq!(
        rhythm(&[(45.0, "purchase")], Some("2024-06-01")),
        (3650.0, 1.0)
    );
    // Purchases at or after the cutoff do not count.
    assert_eq!(
        rhythm(
            &[(30.0, "purchase"), (0.0, "purchase"), (-5.0, "purchase")],
            None
        ),
        (3650.0, 1.0)
    );
}

#[test]
fn online_and_batch_featurisation_agree() {
    use nextbest::engine::validate::attributes_from_json;
    use nextbest::engine::{event_from_payload, EventPayload, Limits};
    // The same history as a batch file and as the service receives it in a decision request.
    let dir = tempfile::tempdir().unwrap();
    let events_csv = dir.path().join("events.csv");
    let customers_csv = dir.path().join("customers.csv");
    std::fs::write(
        &events_csv,
        "customer_id,timestamp,event_type,channel,action_id,value,text\n\
         a,2024-03-10T08:00:00Z,visit,web,,,\n\
         a,2024-03-12T09:30:00Z,purchase,web,,42.5,\n\
         a,2024-05-02T18:00:00Z,purchase,app,,10,\n\
         a,2024-06-20T07:15:00Z,purchase,web,,19.9,\n\
         a,2024-06-25T10:00:00Z,action,email,email_discount,,\n\
         b,2024-06-01T00:00:00Z,purchase,web,,5,\n\
         c,2024-06-30T23:59:59Z,visit,web,,,\n",
    )
    .unwrap();
    std::fs::write(
        &customers_csv,
        "customer_id,plan,monthly_fee,signup_date\n\
         a,plus,19,2024-01-01\n\
         b,basic,9,2024-05-15\n\
         c,basic,,\n",
    )
    .unwrap();
    let cutoff = ts("2024-07-01");
    let spec = spec();
    let table = CustomerTable::read(&customers_csv, None).unwrap();
    let mapping = spec.attribute_mapping(&table).unwrap();
    let events = EventReader::read_all(&events_csv, ReadOptions::default()).unwrap();
    let mut builder = CustomerMatrixBuilder::new(&spec, cutoff, None);
    builder.add(&events);
    let (rows, _) = builder.finish(Some(Attributes::new(&table, &mapping)));
    assert_eq!(rows.len(), 3);

    let text = std::fs::read_to_string(&events_csv).unwrap();
    for row in &rows {
        let history: Vec<EventPayload> = text
            .lines()
            .skip(1)
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|f| f[0] == row.customer_id)
            .map(|f| {
                let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
                serde_json::from_value(serde_json::json!({
                    "timestamp": f[1],
                    "event_type": f[2],
                    "channel": some(f[3]),
                    "action_id": some(f[4]),
                    "value": some(f[5]).map(|v| v.parse::<f64>().unwrap()),
                }))
                .unwrap()
            })
            .collect();
        let online_events: Vec<Event> = history
            .iter()
            .map(|p| event_from_payload(p, Some(&row.customer_id), "history", &Limits::default()))
            .collect::<Result<_, _>>()
            .unwrap();
        let customer = match row.customer_id.as_str() {
            "a" => {
                serde_json::json!({"plan": "plus", "monthly_fee": 19, "signup_date": "2024-01-01"})
            }
            "b" => {
                serde_json::json!({"plan": "basic", "monthly_fee": 9, "signup_date": "2024-05-15"})
            }
            _ => serde_json::json!({"plan": "basic"}),
        };
        let attributes = attributes_from_json(&spec, customer.as_object().unwrap()).unwrap();
        let online = featurize(&spec, Some(&attributes), &online_events, cutoff, None);
        assert_eq!(online, row.features, "customer {}", row.customer_id);
    }
    // And the new features have the values their definitions give.
    let get = |id: &str, name: &str| {
        let row = rows.iter().find(|r| r.customer_id == id).unwrap();
        value(&spec, &row.features, name)
    };
    // a: purchases on 2024-03-12 09:30 and 2024-06-20 07:15, three of them; tenure from signup.
    let span = ts("2024-06-20T07:15:00Z").days_since(ts("2024-03-12T09:30:00Z"));
    assert_eq!(get("a", "mean_purchase_gap_days"), (span / 2.0) as f32);
    let share = cutoff.days_since(ts("2024-06-20T07:15:00Z")) / cutoff.days_since(ts("2024-01-01"));
    assert_eq!(get("a", "purchase_recency_share"), share as f32);
    // b: one purchase 30 of the 47 days since signup ago.
    assert_eq!(get("b", "mean_purchase_gap_days"), 3650.0);
    assert_eq!(get("b", "purchase_recency_share"), (30.0f64 / 47.0) as f32);
    // c: never purchased.
    assert_eq!(get("c", "mean_purchase_gap_days"), 3650.0);
    assert_eq!(get("c", "purchase_recency_share"), 1.0);
}

#[test]
fn adding_events_at_or_after_the_cutoff_changes_nothing() {
    let cutoff = ts("2024-07-01T12:00:00Z");
    let spec = spec();
    let table = customers();
    let base = history(cutoff);
    let expected = featurize(&spec, table.get("c1"), &base, cutoff, Some(&WordScorer));
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(11);
    let kinds = [
        "visit",
        "purchase",
        "action",
        "cancel",
        "unsubscribe",
        "complaint",
        "review",
        "email_open",
        "conversion",
        "odd",
    ];
    for trial in 0..200 {
        let mut events = base.clone();
        for _ in 0..rng.random_range(1..20) {
            // At the cutoff exactly, or any time up to two years after it.
            let offset = if rng.random_bool(0.3) {
                0
            } else {
                rng.random_range(0..730 * DAY)
            };
            let kind = EventType::parse(kinds[rng.random_range(0..kinds.len())]);
            let mut event = Event::new("c1", Timestamp(cutoff.0 + offset), kind)
                .with_channel(Channel::Email)
                .with_action("email_discount")
                .with_value(rng.random_range(1.0..500.0));
            if rng.random_bool(0.5) {
                event = event.with_text("awful awful");
            }
            let position = rng.random_range(0..=events.len());
            events.insert(position, event);
        }
        let got = featurize(&spec, table.get("c1"), &events, cutoff, Some(&WordScorer));
        assert_eq!(
            got, expected,
            "trial {trial}: a future event leaked into the features"
        );
    }
    // And the converse: an event one microsecond before the cutoff does count.
    let mut events = base.clone();
    events.push(Event::new("c1", Timestamp(cutoff.0 - 1), EventType::Purchase).with_value(5.0));
    let got = featurize(&spec, table.get("c1"), &events, cutoff, Some(&WordScorer));
    assert_eq!(value(&spec, &got, "purchases_total"), 4.0);
}

#[test]
fn a_logged_do_nothing_is_not_a_contact() {
    // Explicit controls are `action` events of the no-action entry: they reached nobody, so
    // they change no feature, and no contact cap counts them.
    let cutoff = ts("2024-07-01T12:00:00Z");
    let spec = spec();
    let table = customers();
    let base = history(cutoff);
    let expected = featurize(&spec, table.get("c1"), &base, cutoff, Some(&WordScorer));
    let mut events = base.clone();
    for days in [1.0, 3.0, 20.0, 100.0] {
        events.push(
            Event::new("c1", cutoff.plus_days(-days), EventType::Action)
                .with_channel(Channel::parse("none"))
                .with_action("no_action"),
        );
    }
    assert_eq!(
        featurize(&spec, table.get("c1"), &events, cutoff, Some(&WordScorer)),
        expected
    );
    let mut accumulator =
        nextbest::features::FeatureAccumulator::new(&spec, cutoff, None).recording_contacts();
    for event in &events[base.len()..] {
        accumulator.observe(event);
    }
    assert!(accumulator.take_contacts().sends.is_empty());
    // A real send does change them.
    events.push(
        Event::new("c1", cutoff.plus_days(-1.0), EventType::Action)
            .with_channel(Channel::Email)
            .with_action("email_discount"),
    );
    assert_ne!(
        featurize(&spec, table.get("c1"), &events, cutoff, Some(&WordScorer)),
        expected
    );
}

#[test]
fn features_do_not_depend_on_event_order() {
    let cutoff = ts("2024-07-01");
    let spec = spec();
    let mut events = history(cutoff);
    // Two texts at the same instant: the tie must not be broken by row order.
    events.push(Event::new("c1", cutoff.plus_days(-15.0), EventType::Chat).with_text("awful"));
    let expected = featurize(&spec, None, &events, cutoff, Some(&WordScorer));
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
    for _ in 0..50 {
        for i in (1..events.len()).rev() {
            events.swap(i, rng.random_range(0..=i));
        }
        assert_eq!(
            featurize(&spec, None, &events, cutoff, Some(&WordScorer)),
            expected
        );
    }
}

#[test]
fn names_are_unique_and_the_spec_round_trips() {
    let spec = spec();
    let names: std::collections::HashSet<&str> = spec.names().collect();
    assert_eq!(names.len(), spec.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.json");
    spec.save(&path).unwrap();
    assert_eq!(FeatureSpec::load(&path).unwrap(), spec);
    // A spec whose feature list was edited no longer matches the pipeline and is refused.
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"visits_7d\"", "\"visits_8d\"");
    std::fs::write(&path, text).unwrap();
    let error = FeatureSpec::load(&path).unwrap_err().to_string();
    assert!(
        error.contains("differs from what the pipeline produces"),
        "{error}"
    );
}

#[test]
fn customer_matrix_rows_equal_single_customer_features() {
    let cutoff = ts("2024-07-01");
    let spec = spec();
    let table = customers();
    let mapping = spec.attribute_mapping(&table).unwrap();
    let mut events = history(cutoff);
    events.push(Event::new("c2", cutoff.plus_days(-3.0), EventType::Visit));
    events.push(Event::new("c9", cutoff.plus_days(2.0), EventType::Visit)); // only future events: no row
    let mut builder = CustomerMatrixBuilder::new(&spec, cutoff, Some(&WordScorer));
    for chunk in events.chunks(3) {
        builder.add(chunk);
    }
    let (rows, stats) = builder.finish(Some(Attributes::new(&table, &mapping)));
    // c2 signed up before the cutoff; c3 has no signup date and is in the table; c9 is unknown at the cutoff.
    let ids: Vec<&str> = rows.iter().map(|r| r.customer_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3"]);
    assert_eq!(stats.customers_without_history, 1);
    assert_eq!(stats.events_ignored_after_cutoff, 1);
    for row in &rows {
        let own: Vec<Event> = events
            .iter()
            .filter(|e| e.customer_id == row.customer_id)
            .cloned()
            .collect();
        let expected = featurize(
            &spec,
            table.get(&row.customer_id),
            &own,
            cutoff,
            Some(&WordScorer),
        );
        assert_eq!(row.features, expected, "{}", row.customer_id);
    }
    // A later signup is not yet a customer at an earlier cutoff.
    let early = ts("2024-01-01");
    let builder = CustomerMatrixBuilder::new(&spec, early, None);
    let (rows, stats) = builder.finish(Some(Attributes::new(&table, &mapping)));
    assert_eq!(
        rows.iter()
            .map(|r| r.customer_id.as_str())
            .collect::<Vec<_>>(),
        ["c1", "c3"]
    );
    assert_eq!(stats.customers_not_yet_signed_up, 1);
}

fn simulate(dir: &Path, customers: u64, days: u32, seed: u64) {
    let config = SimulatorConfig {
        customers,
        days,
        seed,
        start: ts("2025-01-01"),
    };
    generate(&config, dir, &|_| {}).unwrap();
}

#[test]
fn decision_matrix_featurises_each_point_from_its_own_past() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 60, 120, 5);
    let events =
        EventReader::read_all(dir.path().join("events.parquet"), ReadOptions::default()).unwrap();
    let table = CustomerTable::read(dir.path().join("customers.parquet"), None).unwrap();
    let catalog = Catalog::load(dir.path().join("catalog.toml")).unwrap();
    let spec = FeatureSpec::new(Some(&catalog), Some(&table)).unwrap();
    let mapping = spec.attribute_mapping(&table).unwrap();
    let points = DecisionPoints::read(&dir.path().join("ground_truth.parquet"), None).unwrap();
    let mut builder = DecisionMatrixBuilder::new(&spec, &points, None);
    builder.add(events.clone());
    let mut rows = Vec::new();
    let stats = builder
        .finish(Some(Attributes::new(&table, &mapping)), &mut |batch| {
            rows.extend_from_slice(batch);
            Ok(())
        })
        .unwrap();
    assert_eq!(rows.len(), points.len());
    assert!(stats.events_ignored_after_cutoff > 0);
    for row in rows.iter().step_by(17) {
        let own: Vec<&Event> = events
            .iter()
            .filter(|e| e.customer_id == row.customer_id)
            .collect();
        let expected = featurize(&spec, table.get(&row.customer_id), own, row.as_of, None);
        assert_eq!(row.features, expected);
    }
    // Pass-through columns keep the ground truth beside the features.
    let extra = points.extra_columns();
    assert!(extra.iter().any(|c| c.name == "p_convert__email_discount"));
    let out = dir.path().join("decisions.parquet");
    write_matrix(&out, &spec, &extra, &rows).unwrap();
    let file = std::fs::File::open(&out).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = reader.schema().clone();
    assert_eq!(schema.field(0).name(), "customer_id");
    assert_eq!(schema.field(1).name(), "as_of");
    assert_eq!(schema.fields().len(), 2 + extra.len() + spec.len());
    let embedded: FeatureSpec =
        serde_json::from_str(&schema.metadata()[SPEC_METADATA_KEY]).unwrap();
    assert_eq!(embedded, spec);
    let total: usize = reader.build().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(total, rows.len());
}

#[test]
fn spec_attributes_are_matched_by_name_and_type() {
    let spec = spec();
    let reordered = CustomerTable::from_rows(
        vec![
            AttributeColumn {
                name: "signup_date".into(),
                kind: AttributeKind::Date,
            },
            AttributeColumn {
                name: "monthly_fee".into(),
                kind: AttributeKind::Numeric,
            },
            AttributeColumn {
                name: "plan".into(),
                kind: AttributeKind::Categorical,
            },
        ],
        vec![(
            "c1".into(),
            vec![
                AttrValue::Date(ts("2023-01-01")),
                AttrValue::Number(f64::NAN),
                AttrValue::Category("gold".into()),
            ],
        )],
    )
    .unwrap();
    let mapping = spec.attribute_mapping(&reordered).unwrap();
    let aligned = mapping.align(reordered.get("c1").unwrap()).into_owned();
    let cutoff = ts("2024-07-01");
    let v = featurize(&spec, Some(&aligned), &[], cutoff, None);
    assert_eq!(value(&spec, &v, "attr_plan=__other"), 1.0);
    // A non-finite number counts as missing.
    assert_eq!(value(&spec, &v, "attr_monthly_fee__missing"), 1.0);
    assert_eq!(value(&spec, &v, "attr_monthly_fee"), 0.0);
    assert_eq!(value(&spec, &v, "tenure_days"), 547.0);
    let wrong = CustomerTable::from_rows(
        vec![AttributeColumn {
            name: "plan".into(),
            kind: AttributeKind::Numeric,
        }],
        vec![],
    )
    .unwrap();
    assert!(spec
        .attribute_mapping(&wrong)
        .unwrap_err()
        .to_string()
        .contains("'plan'"));
}

#[test]
fn date_attributes_after_the_cutoff_are_not_known_yet() {
    let spec = spec();
    let table = customers();
    // c2 signed up on 2024-06-01: at an earlier cutoff that date is in the future.
    let early = featurize(&spec, table.get("c2"), &[], ts("2024-03-01"), None);
    assert_eq!(value(&spec, &early, "attr_signup_date_days_since"), 0.0);
    assert_eq!(value(&spec, &early, "attr_signup_date__missing"), 1.0);
    assert_eq!(value(&spec, &early, "tenure_days"), 0.0);
    let late = featurize(&spec, table.get("c2"), &[], ts("2024-07-01"), None);
    assert_eq!(value(&spec, &late, "attr_signup_date_days_since"), 30.0);
    assert_eq!(value(&spec, &late, "attr_signup_date__missing"), 0.0);
}

#[test]
fn clashing_feature_names_are_refused() {
    let mut clash = catalog();
    clash.actions[0].id = "x_sent_90d".into();
    clash.actions[1].id = "x".into();
    // action_x_sent_90d_days_since vs … is fine, but a column named like a one-hot is not:
    let table = CustomerTable::from_rows(
        vec![
            AttributeColumn {
                name: "plan".into(),
                kind: AttributeKind::Categorical,
            },
            AttributeColumn {
                name: "plan=basic".into(),
                kind: AttributeKind::Numeric,
            },
        ],
        vec![(
            "c1".into(),
            vec![AttrValue::Category("basic".into()), AttrValue::Number(1.0)],
        )],
    )
    .unwrap();
    let error = FeatureSpec::new(Some(&clash), Some(&table)).unwrap_err();
    assert!(error.to_string().contains("attr_plan=basic"), "{error}");
    let signup = FeatureSpec::new(None, Some(&table)).map(|s| s.with_signup_attribute("plan"));
    assert!(signup.is_err() || signup.unwrap().is_err());
}

/// The decision engine reads the customer's state through typed accessors of the same
/// accumulator that computes the features, never by feature name: each accessor must say what
/// the feature it stands for says, and the contacts must be every send and opt-out.
#[test]
fn the_accumulator_s_accessors_agree_with_the_features() {
    use nextbest::features::PastSend;
    let cutoff = ts("2024-07-01");
    let spec = spec();
    let history = history(cutoff);
    let mut accumulator =
        FeatureAccumulator::new(&spec, cutoff, Some(&WordScorer)).recording_contacts();
    for event in &history {
        accumulator.observe(event);
    }
    let v = accumulator.finish(None);
    assert!(value(&spec, &v, "texts_90d") > 0.0);
    // What suitability rules read: how the customer feels now, the last 30 days.
    assert_eq!(
        accumulator.recent_sentiment(),
        Some(f64::from(value(&spec, &v, "sentiment_mean_30d")))
    );
    assert_eq!(
        accumulator.revenue_365d(),
        f64::from(value(&spec, &v, "revenue_365d"))
    );
    let support_days = cutoff.days_since(accumulator.last_support_contact().unwrap()) as f32;
    assert_eq!(support_days, value(&spec, &v, "days_since_last_support"));
    let contacts = accumulator.take_contacts();
    assert_eq!(contacts.unsubscribed_channels, [Channel::Sms]);
    assert!(!contacts.unsubscribed_all);
    let sends: Vec<&PastSend> = contacts.sends.iter().collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(
        (sends[0].action_id.as_str(), &sends[0].channel),
        ("email_discount", &Channel::Email)
    );
    // Without recording, nothing is kept (training pays nothing for it).
    let mut plain = FeatureAccumulator::new(&spec, cutoff, None);
    for event in &history {
        plain.observe(event);
    }
    assert_eq!(plain.take_contacts(), Default::default());
    // No text in the last 30 days: no recent sentiment, whatever the neutral feature says.
    let quiet = FeatureAccumulator::new(&spec, cutoff, Some(&WordScorer));
    assert_eq!(quiet.recent_sentiment(), None);
}

#[test]
fn the_heap_an_accumulator_holds_grows_with_the_history_it_keeps() {
    use nextbest::features::PastSend;
    use std::mem::size_of;
    let cutoff = ts("2025-06-01T00:00:00Z");
    let spec = spec();
    let observe = |accumulator: &mut FeatureAccumulator<'_>, n: usize| {
        for i in 0..n {
            let at = cutoff.plus_days(-300.0 + i as f64);
            accumulator.observe(
                &Event::new("c1", at, EventType::Action)
                    .with_channel(Channel::Email)
                    .with_action("email_discount"),
            );
            accumulator.observe(&Event::new("c1", at.plus_days(0.5), EventType::Purchase));
        }
    };
    let history = |n: usize, contacts: bool| {
        let mut accumulator = FeatureAccumulator::new(&spec, cutoff, None);
        if contacts {
            accumulator = accumulator.recording_contacts();
        }
        observe(&mut accumulator, n);
        accumulator.heap_bytes()
    };
    // Training (no contacts recorded): a year of sends (action, time) and purchases (time).
    let response_entry = size_of::<(u32, i64)>() + size_of::<i64>();
    assert!(history(200, false) >= history(2, false) + 198 * response_entry);
    // Deciding: every past send is kept for the contact rules as well.
    assert!(
        history(200, true) >= history(200, false) + 200 * size_of::<PastSend>(),
        "{} against {}",
        history(200, true),
        history(200, false)
    );
    // Events at or after the cutoff are not kept.
    let mut late = FeatureAccumulator::new(&spec, cutoff, None).recording_contacts();
    observe(&mut late, 2);
    let before = late.heap_bytes();
    for i in 0..100 {
        late.observe(&Event::new(
            "c1",
            cutoff.plus_days(i as f64),
            EventType::Purchase,
        ));
    }
    assert_eq!(late.heap_bytes(), before);
}
