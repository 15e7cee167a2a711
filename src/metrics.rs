//! Prometheus metrics of a running engine and its HTTP API, scraped at `GET /metrics` in the
//! text exposition format (`prometheus-client`).
//!
//! Counters and histograms are updated where things happen: records ingested and rejected per
//! source by [`crate::engine::Engine`], the wall time of each batch phase by its phase timer,
//! HTTP requests by `api`'s middleware. The gauges (records, entities, review queue, change
//! feed head) are read from the store when scraped ([`Metrics::encode`]).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// The values the store is asked for at each scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreGauges {
    /// Stored source records.
    pub records: u64,
    /// Live entities.
    pub entities: u64,
    /// Queued review pairs.
    pub review_queue: u64,
    /// Last committed change-feed sequence number.
    pub change_seq: u64,
}

/// The metrics registry and handles to its metrics.
pub struct Metrics {
    registry: Registry,
    ingested: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    deleted: Family<Labels, Counter>,
    batches: Counter,
    phases: HistogramFamily,
    http: Family<Labels, Counter>,
    http_seconds: HistogramFamily,
    records: Gauge<u64, AtomicU64>,
    entities: Gauge<u64, AtomicU64>,
    review_queue: Gauge<u64, AtomicU64>,
    change_seq: Gauge<u64, AtomicU64>,
}

fn seconds_histogram() -> Histogram {
    // 0.25 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.000_25, 4.0, 10))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered (all zero).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let ingested = Family::<Labels, Counter>::default();
        let rejected = Family::<Labels, Counter>::default();
        let deleted = Family::<Labels, Counter>::default();
        let batches = Counter::default();
        let phases: HistogramFamily = Family::new_with_constructor(seconds_histogram);
        let http = Family::<Labels, Counter>::default();
        let http_seconds: HistogramFamily = Family::new_with_constructor(seconds_histogram);
        let records = Gauge::<u64, AtomicU64>::default();
        let entities = Gauge::<u64, AtomicU64>::default();
        let review_queue = Gauge::<u64, AtomicU64>::default();
        let change_seq = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "goldrec_records_ingested",
            "Source records committed by upserts, by source and outcome (inserted, updated, unchanged, superseded)",
            ingested.clone(),
        );
        registry.register(
            "goldrec_records_rejected",
            "Source records rejected before the commit (bad JSON, missing key, invalid field), by source",
            rejected.clone(),
        );
        registry.register(
            "goldrec_records_deleted",
            "Source records deleted, by source",
            deleted.clone(),
        );
        registry.register(
            "goldrec_batches",
            "Batches applied by the engine (each one transaction)",
            batches.clone(),
        );
        registry.register(
            "goldrec_batch_phase_seconds",
            "Wall time of each phase of a batch: prepare (map and normalize, per chunk), then the engine's classify, working_set, candidates, nodes, score, cluster, resolve, build, commit",
            phases.clone(),
        );
        registry.register(
            "goldrec_http_requests",
            "HTTP requests answered, by method, route template (unmatched for none) and status",
            http.clone(),
        );
        registry.register(
            "goldrec_http_request_duration_seconds",
            "Time to answer an HTTP request (to the response head), by method and route template",
            http_seconds.clone(),
        );
        registry.register("goldrec_records", "Stored source records", records.clone());
        registry.register("goldrec_entities", "Live entities", entities.clone());
        registry.register(
            "goldrec_review_queue",
            "Record pairs queued for review",
            review_queue.clone(),
        );
        registry.register(
            "goldrec_change_feed_seq",
            "Sequence number of the last committed change-feed event",
            change_seq.clone(),
        );
        Self {
            registry,
            ingested,
            rejected,
            deleted,
            batches,
            phases,
            http,
            http_seconds,
            records,
            entities,
            review_queue,
            change_seq,
        }
    }

    /// Counts `n` committed upserts of `source` with `outcome` (`inserted`, `updated`, ...).
    pub fn ingested(&self, source: &str, outcome: &'static str, n: u64) {
        self.ingested
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("outcome", outcome.into()),
            ])
            .inc_by(n);
    }

    /// Counts `n` rejected records of `source`.
    pub fn rejected(&self, source: &str, n: u64) {
        self.rejected
            .get_or_create(&vec![("source", source.to_string())])
            .inc_by(n);
    }

    /// Counts `n` deleted records of `source`.
    pub fn deleted(&self, source: &str, n: u64) {
        self.deleted
            .get_or_create(&vec![("source", source.to_string())])
            .inc_by(n);
    }

    /// Records one applied batch and the wall time of its phases (milliseconds, as the
    /// engine's phase timer measures them).
    pub fn batch(&self, phases: &[(&'static str, f64)]) {
        self.batches.inc();
        for (name, ms) in phases {
            self.phase(name, ms / 1e3);
        }
    }

    /// Observes `seconds` spent in phase `name`.
    pub fn phase(&self, name: &'static str, seconds: f64) {
        self.phases
            .get_or_create(&vec![("phase", name.to_string())])
            .observe(seconds);
    }

    /// Counts one HTTP request: its method, route template (`unmatched` when no route
    /// matched) and status; observes its duration.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http
            .get_or_create(&vec![
                ("method", method.to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.http_seconds
            .get_or_create(&vec![
                ("method", method.to_string()),
                ("route", route.to_string()),
            ])
            .observe(seconds);
    }

    /// The text exposition of every metric, with the gauges set to `gauges`.
    pub fn encode(&self, gauges: StoreGauges) -> String {
        self.records.set(gauges.records);
        self.entities.set(gauges.entities);
        self.review_queue.set(gauges.review_queue);
        self.change_seq.set(gauges.change_seq);
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String does not fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn counters_gauges_and_histograms_encode_with_their_labels() {
        let m = Metrics::new();
        m.ingested("crm", "inserted", 3);
        m.ingested("crm", "inserted", 2);
        m.rejected("webshop", 1);
        m.batch(&[("score", 2.0), ("commit", 30.0)]);
        m.http_request("GET", "/v1/entities/{id}", 404, 0.001);
        let text = m.encode(StoreGauges {
            records: 5,
            entities: 4,
            review_queue: 1,
            change_seq: 9,
        });
        assert_eq!(
            line_value(
                &text,
                r#"goldrec_records_ingested_total{source="crm",outcome="inserted"}"#
            ),
            Some(5.0),
            "{text}"
        );
        assert_eq!(
            line_value(&text, r#"goldrec_records_rejected_total{source="webshop"}"#),
            Some(1.0)
        );
        assert_eq!(
            line_value(
                &text,
                r#"goldrec_batch_phase_seconds_count{phase="commit"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            line_value(&text, r#"goldrec_batch_phase_seconds_sum{phase="commit"}"#),
            Some(0.03)
        );
        assert_eq!(
            line_value(
                &text,
                r#"goldrec_http_requests_total{method="GET",route="/v1/entities/{id}",status="404"}"#
            ),
            Some(1.0)
        );
        assert_eq!(line_value(&text, "goldrec_entities "), Some(4.0));
        assert_eq!(line_value(&text, "goldrec_change_feed_seq "), Some(9.0));
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
