//! Journey analytics that use the committed models, on the sample world: the mean sentiment of
//! customer text (a KPI), negative aspects over time and as pain-point triggers, incremental
//! conversions by the conversion (uplift) model beside first and last touch, and two segments'
//! paths side by side. Each figure is recomputed here another way: from the events as the
//! readers give them (not the analytics log), scored one by one.

// Tests may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use nextbest::analytics::query::{AnalyticsQuery, JourneyData};
use nextbest::analytics::EventLog;
use nextbest::features::aspects::Taxonomy;
use nextbest::features::{FeatureAccumulator, TextScorer};
use nextbest::journey::{CustomerTable, Event, EventReader, EventType, ReadOptions, Timestamp};
use nextbest::models::registry::{ModelPaths, ModelSet};

const FROM: &str = "2025-07-01";
const TO: &str = "2025-10-01";

fn models() -> Arc<ModelSet> {
    static M: OnceLock<Arc<ModelSet>> = OnceLock::new();
    M.get_or_init(|| {
        let found = ModelPaths::defaults_in(Path::new("models"));
        let paths = ModelPaths {
            conversion: found.conversion,
            sentiment: found.sentiment,
            ..ModelPaths::default()
        };
        Arc::new(ModelSet::load(&paths).unwrap())
    })
    .clone()
}

fn data() -> &'static JourneyData {
    static D: OnceLock<JourneyData> = OnceLock::new();
    D.get_or_init(|| {
        let log = EventLog::read(Path::new("datasets/sample/events.parquet"), |_| {}).unwrap();
        let table = CustomerTable::read("datasets/sample/customers.parquet", None).unwrap();
        JourneyData::new(log, Some(table)).with_models(models())
    })
}

fn events() -> &'static Vec<Event> {
    static E: OnceLock<Vec<Event>> = OnceLock::new();
    E.get_or_init(|| {
        EventReader::read_all("datasets/sample/events.parquet", ReadOptions::default()).unwrap()
    })
}

fn premium() -> std::collections::HashSet<String> {
    let table = data().table.as_ref().unwrap();
    let plan = table
        .attributes
        .iter()
        .position(|a| a.name == "plan")
        .unwrap();
    table
        .ids()
        .iter()
        .filter(|id| {
            matches!(&table.get(id).unwrap()[plan], nextbest::journey::AttrValue::Category(p) if p == "premium")
        })
        .cloned()
        .collect()
}

fn query() -> AnalyticsQuery {
    AnalyticsQuery {
        from: Some(FROM.into()),
        to: Some(TO.into()),
        conditions: Some("plan=premium".into()),
        ..AnalyticsQuery::default()
    }
}

fn in_period(e: &Event) -> bool {
    let (from, to) = (
        Timestamp::parse_date_or_datetime(FROM).unwrap(),
        Timestamp::parse_date_or_datetime(TO).unwrap(),
    );
    e.timestamp >= from && e.timestamp < to
}

#[test]
fn mean_sentiment_and_negative_aspects_equal_scoring_each_text() {
    let models = models();
    let scorer = models.sentiment.as_ref().unwrap();
    let members = premium();
    let taxonomy = Taxonomy::default_taxonomy().unwrap();
    let (mut n, mut sum, mut negative) = (0u64, 0.0f64, 0u64);
    let mut aspects: BTreeMap<String, u64> = BTreeMap::new();
    for e in events()
        .iter()
        .filter(|e| in_period(e) && members.contains(&e.customer_id))
    {
        let Some(text) = e.text.as_deref() else {
            continue;
        };
        let p = scorer.score(text);
        n += 1;
        sum += f64::from(p);
        negative += u64::from(p < 0.5);
        for m in taxonomy.tag(text, scorer) {
            if m.sentiment < 0.5 {
                *aspects.entry(m.aspect).or_default() += 1;
            }
        }
    }
    assert!(n > 100, "{n} texts");
    let k = query().kpis(data()).unwrap();
    let s = k.text_sentiment.expect("a sentiment model is loaded");
    assert_eq!((s.texts, s.negative_texts), (n, negative));
    assert!((s.mean_sentiment.unwrap() - sum / n as f64).abs() < 1e-9);
    assert!(s.model.starts_with("sentiment/"));

    let p = query().pain_points(data()).unwrap();
    let trends = p.negative_aspects.expect("aspects over time");
    assert_eq!(trends.periods, ["2025-07", "2025-08", "2025-09"]);
    let got: BTreeMap<String, u64> = trends
        .aspects
        .iter()
        .map(|a| (a.aspect.clone(), a.negative_mentions))
        .collect();
    assert_eq!(got, aspects);
    for a in &trends.aspects {
        assert_eq!(a.per_period.iter().sum::<u64>(), a.negative_mentions);
    }
    // Most frequent first.
    assert!(trends
        .aspects
        .windows(2)
        .all(|w| w[0].negative_mentions >= w[1].negative_mentions));
    // Aspects are pain-point triggers beside event types (with enough support).
    let q = AnalyticsQuery {
        min_support: Some(5),
        ..query()
    };
    let p = q.pain_points(data()).unwrap();
    let aspect_rows: Vec<&str> = p
        .points
        .iter()
        .map(|x| x.event_type.as_str())
        .filter(|t| t.starts_with("aspect:"))
        .collect();
    assert!(!aspect_rows.is_empty(), "{:?}", p.points);
    for row in p
        .points
        .iter()
        .filter(|x| x.event_type.starts_with("aspect:"))
    {
        // Exposed customers: those with a negative mention (whose window fits in the data).
        let name = &row.event_type["aspect:".len()..];
        assert!(row.exposed as usize <= got[name] as usize, "{row:?}");
        assert!(row.exposed >= 5);
    }
}

#[test]
fn incremental_conversions_equal_scoring_each_contact_from_the_events() {
    let models = models();
    let spec = models.spec.as_ref().unwrap();
    let uplift = models.conversion.as_ref().unwrap();
    let table = data().table.as_ref().unwrap();
    let mapping = spec.attribute_mapping(table).unwrap();
    let scorer = models
        .sentiment
        .as_ref()
        .filter(|_| spec.sentiment_model.is_some())
        .map(|s| s as &dyn TextScorer);
    let members = premium();
    let mut histories: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in events().iter().filter(|e| members.contains(&e.customer_id)) {
        histories.entry(&e.customer_id).or_default().push(e);
    }
    let mut expected: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for history in histories.values_mut() {
        history.sort_by_key(|e| e.timestamp);
        for contact in history.iter().filter(|e| {
            in_period(e)
                && e.event_type == EventType::Action
                && uplift.knows(e.action_id.as_deref().unwrap_or(""))
        }) {
            let mut acc = FeatureAccumulator::new(spec, contact.timestamp, scorer);
            for e in history.iter() {
                acc.observe(e);
            }
            let attrs = table.get(&contact.customer_id).map(|r| mapping.align(r));
            let features = acc.finish(attrs.as_deref());
            let id = contact.action_id.as_deref().unwrap();
            let (p0, p) = uplift.score(&features, &[id]).unwrap();
            let entry = expected.entry(id.to_string()).or_default();
            entry.0 += 1;
            entry.1 += p[0].unwrap() - p0;
        }
    }
    assert!(expected.len() >= 3, "{expected:?}");
    let a = query().attribution(data()).unwrap();
    assert!(a
        .uplift_model
        .as_deref()
        .unwrap()
        .starts_with("conversion/"));
    let got: BTreeMap<String, (u64, f64)> = a
        .credits
        .iter()
        .filter_map(|c| {
            Some((
                c.action_id.clone(),
                (c.contacts?, c.incremental_conversions?),
            ))
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (id, (n, x)) in &expected {
        let (gn, gx) = got[id];
        assert_eq!(gn, *n, "{id}");
        assert!(
            (gx - x).abs() <= 1e-9 * x.abs().max(1.0),
            "{id}: {gx} vs {x}"
        );
    }
    // First and last touch are still there, beside the estimate.
    assert!(a.credits.iter().any(|c| c.last_touch_conversions > 0));
}

#[test]
fn two_segments_side_by_side_compare_every_transition() {
    let q = AnalyticsQuery {
        compare: Some("plan=basic".into()),
        ..query()
    };
    let p = q.paths(data()).unwrap();
    let c = p.compared.as_ref().expect("a second segment");
    assert_eq!(c.segment, "plan=basic");
    let basic = AnalyticsQuery {
        conditions: Some("plan=basic".into()),
        ..query()
    }
    .paths(data())
    .unwrap();
    assert_eq!(c.paths.edges, basic.edges);
    assert_ne!(p.sessions, basic.sessions);
    for e in &c.edges {
        let a = p.edges.iter().find(|x| x.from == e.from && x.to == e.to);
        let b = basic
            .edges
            .iter()
            .find(|x| x.from == e.from && x.to == e.to);
        assert_eq!(e.count, a.map_or(0, |x| x.count));
        assert_eq!(e.compared_count, b.map_or(0, |x| x.count));
        assert!((e.difference - (e.compared_probability - e.probability)).abs() < 1e-15);
    }
    assert_eq!(
        c.edges.len(),
        p.edges.len()
            + basic
                .edges
                .iter()
                .filter(|b| !p.edges.iter().any(|a| a.from == b.from && a.to == b.to))
                .count()
    );
    // A bad second segment is named.
    let bad = AnalyticsQuery {
        compare: Some("tier=gold".into()),
        ..query()
    };
    assert_eq!(bad.paths(data()).unwrap_err().field(), Some("compare"));
}
