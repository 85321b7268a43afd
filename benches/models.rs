//! Model benchmarks: the per-request costs the decision service will pay — one churn prediction
//! with the committed native model and with the committed ONNX model, and one sentiment score of
//! a tweet-length text.
//!
//! Run with `cargo bench --bench models` (from the repository root: it loads `models/`). The
//! ONNX benchmark needs ONNX Runtime (`./scripts/setup.sh`); without it, it is skipped with a
//! message.

use criterion::{criterion_group, criterion_main, Criterion};
use nextbest::models::artifact::LoadedModel;
use nextbest::models::{Artifact, Scorer};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn predict(c: &mut Criterion) {
    let churn = Artifact::load("models/churn").unwrap_or_else(|e| panic!("models/churn: {e}"));
    let n = churn.manifest.features.as_ref().map_or(0, |s| s.len());
    let LoadedModel::Tabular(model) = &churn.model else {
        panic!("models/churn is not tabular")
    };
    let row: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
    c.bench_function("churn_gbdt_predict_one_row", |b| {
        b.iter(|| model.predict_proba(&row, n))
    });

    match Artifact::load("models/churn_onnx") {
        Ok(onnx) => {
            let n = onnx.manifest.features.as_ref().map_or(0, |s| s.len());
            let LoadedModel::Tabular(model) = &onnx.model else {
                panic!("models/churn_onnx is not tabular")
            };
            let row: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
            c.bench_function("churn_onnx_predict_one_row", |b| {
                b.iter(|| model.predict_proba(&row, n))
            });
        }
        Err(e) if e.code() == "onnx_runtime_unavailable" => {
            eprintln!("skipping churn_onnx_predict_one_row: {e}");
        }
        Err(e) => panic!("models/churn_onnx: {e}"),
    }

    let sentiment =
        Artifact::load("models/sentiment").unwrap_or_else(|e| panic!("models/sentiment: {e}"));
    let LoadedModel::Sentiment(text_model) = &sentiment.model else {
        panic!("models/sentiment is not a sentiment model")
    };
    let tweet =
        "Third time I've contacted you about my refund and still nothing. Not happy at all!";
    c.bench_function("sentiment_score_tweet", |b| {
        b.iter(|| text_model.probability(tweet))
    });
}

criterion_group!(benches, predict);
criterion_main!(benches);
