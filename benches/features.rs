//! Feature pipeline benchmarks: batch throughput (Parquet → feature matrix, events/s) and the
//! online path (one customer with 500 events, latency).
//!
//! Run with `cargo bench --bench features`; numbers for this machine are in docs/performance.md.

// Tests and benchmarks may panic on a broken fixture: that is their way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nextbest::catalog::Catalog;
use nextbest::features::matrix::{write_matrix, Attributes};
use nextbest::features::{featurize, CustomerMatrixBuilder, FeatureSpec};
use nextbest::journey::{
    Channel, CustomerTable, Event, EventReader, EventType, ReadOptions, Timestamp,
};
use nextbest::simulator::{generate, SimulatorConfig};

// Measure with the allocator the binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn world(dir: &Path) -> u64 {
    let config = SimulatorConfig {
        customers: 5_000,
        days: 365,
        seed: 1,
        start: Timestamp::parse_date_or_datetime("2025-01-01").unwrap_or(Timestamp(0)),
    };
    generate(&config, dir, &|_| {})
        .map(|s| s.events)
        .unwrap_or(0)
}

fn parquet_to_features(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = world(dir.path());
    let table = CustomerTable::read(dir.path().join("customers.parquet"), None).expect("customers");
    let catalog = Catalog::load(dir.path().join("catalog.toml")).expect("catalog");
    let spec = FeatureSpec::new(Some(&catalog), Some(&table)).expect("spec");
    let mapping = spec.attribute_mapping(&table).expect("mapping");
    let cutoff = Timestamp::parse_date_or_datetime("2025-10-01").unwrap_or(Timestamp(0));
    let out = dir.path().join("features.parquet");
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function("parquet_to_feature_matrix", |b| {
        b.iter(|| {
            let reader =
                EventReader::open(dir.path().join("events.parquet"), ReadOptions::default())
                    .expect("open")
                    .prefetch(4);
            let mut builder = CustomerMatrixBuilder::new(&spec, cutoff, None);
            for chunk in reader {
                builder.add(&chunk.expect("chunk").events);
            }
            let (rows, _) = builder.finish(Some(Attributes::new(&table, &mapping)));
            write_matrix(&out, &spec, &[], &rows).expect("write");
            rows.len()
        })
    });
    group.finish();
}

/// A realistic 500-event history: browsing, buying, messages, support with text.
fn history(cutoff: Timestamp) -> Vec<Event> {
    let kinds = [
        (EventType::PageView, Channel::Web),
        (EventType::Visit, Channel::App),
        (EventType::PageView, Channel::App),
        (EventType::AddToCart, Channel::Web),
        (EventType::Purchase, Channel::Web),
        (EventType::Action, Channel::Email),
        (EventType::EmailOpen, Channel::Email),
        (EventType::SupportTicket, Channel::Email),
        (EventType::PageView, Channel::Web),
        (EventType::Open, Channel::Push),
    ];
    (0..500)
        .map(|i| {
            let (kind, channel) = kinds[i % kinds.len()].clone();
            let mut event = Event::new(
                "C00000001",
                cutoff.plus_days(-(i as f64) * 0.9 - 0.1),
                kind.clone(),
            )
            .with_channel(channel);
            match kind {
                EventType::Purchase => event = event.with_value(42.5),
                EventType::Action => {
                    event = event.with_action(if i % 20 == 5 {
                        "email_discount"
                    } else {
                        "sms_flash_sale"
                    })
                }
                EventType::SupportTicket => {
                    event = event.with_text("The delivery is late again, not happy.")
                }
                _ => {}
            }
            event
        })
        .collect()
}

fn one_customer(c: &mut Criterion) {
    let catalog = nextbest::simulator::world::catalog();
    let spec = FeatureSpec::new(Some(&catalog), None).expect("spec");
    let cutoff = Timestamp::parse_date_or_datetime("2025-06-01").unwrap_or(Timestamp(0));
    let events = history(cutoff);
    let mut group = c.benchmark_group("online");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("featurize_500_events", |b| {
        b.iter(|| featurize(&spec, None, &events, cutoff, None))
    });
    group.finish();
}

criterion_group!(benches, one_customer, parquet_to_features);
criterion_main!(benches);
