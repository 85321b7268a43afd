//! Prometheus metrics of the service: requests and latency per route, model and decision
//! latency, decisions per action, errors by code, and the decision log's queue.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: 50 µs … 2.5 s.
const BUCKETS: [f64; 14] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5,
];

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests by route, method and status.
    pub requests: IntCounterVec,
    /// Request latency by route.
    pub latency: HistogramVec,
    /// Engine time per decision, by policy.
    pub decision_latency: HistogramVec,
    /// Actions chosen, by policy and action.
    pub decisions: IntCounterVec,
    /// Error responses by code.
    pub errors: IntCounterVec,
    /// Model reloads by result.
    pub reloads: IntCounterVec,
    /// Decision-log pipeline counters (accepted, written, rejected, queued).
    pub store: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("nextbest".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )?;
        let decision_latency = HistogramVec::new(
            HistogramOpts::new(
                "decision_duration_seconds",
                "Engine time per decision (features, models, policy, logging), by policy",
            )
            .buckets(BUCKETS.to_vec()),
            &["policy"],
        )?;
        let decisions = IntCounterVec::new(
            Opts::new("decisions_total", "Actions chosen, by policy and action"),
            &["policy", "action"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new("errors_total", "Error responses by code"),
            &["code"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new("model_reloads_total", "Model reloads by result"),
            &["result"],
        )?;
        let store = IntGaugeVec::new(
            Opts::new("decision_log", "Decision-log pipeline counters since start"),
            &["counter"],
        )?;
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(decision_latency.clone()),
            Box::new(decisions.clone()),
            Box::new(errors.clone()),
            Box::new(reloads.clone()),
            Box::new(store.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(Metrics {
            registry,
            requests,
            latency,
            decision_latency,
            decisions,
            errors,
            reloads,
            store,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metrics; an empty page is the fallback.
        if encoder
            .encode(&self.registry.gather(), &mut buffer)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
