//! Prometheus metrics of the services, and the tiny HTTP endpoint that serves them.
//!
//! One [`Metrics`] per service instance (several services may share a process, as in the demo),
//! so counters never mix. Names follow one scheme: `zeal_<role>_<what>_<unit>`, counters end in
//! `_total`; labels stay low-cardinality (no region or meter ids: a utility has thousands).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use zeal_schemas::{RejectReason, RoundStatus};

/// Which service a [`Metrics`] belongs to: it registers that service's families only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Aggregator,
    Gateway,
    Sink,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    topic: String,
    partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

struct Inner {
    registry: Registry,
    rounds_opened: Counter,
    rounds_closed: Family<StatusLabel, Counter>,
    quarantined: Counter,
    ciphertexts_folded: Counter,
    round_seconds: Histogram,
    dead_letters: Family<ReasonLabel, Counter>,
    consumer_lag: Family<PartitionLabel, Gauge>,
    published: Family<KindLabel, Counter>,
    rows_written: Family<KindLabel, Counter>,
}

/// The metrics of one service instance; cheap to clone (shared counters).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Fresh counters for a service of this role.
    pub fn new(role: Role) -> Self {
        let mut registry = Registry::default();
        let inner = Inner {
            rounds_opened: Counter::default(),
            rounds_closed: Family::default(),
            quarantined: Counter::default(),
            ciphertexts_folded: Counter::default(),
            // 50 ms .. ~100 s: a round spans the share and partial deadlines (seconds to minutes).
            round_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            dead_letters: Family::default(),
            consumer_lag: Family::default(),
            published: Family::default(),
            rows_written: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        match role {
            Role::Aggregator => {
                r.register(
                    "zeal_aggregator_rounds_opened",
                    "Rounds opened (every attempt counts)",
                    inner.rounds_opened.clone(),
                );
                r.register(
                    "zeal_aggregator_rounds_closed",
                    "Round attempts closed, by status (completed, deferred, abandoned, reopened)",
                    inner.rounds_closed.clone(),
                );
                r.register(
                    "zeal_aggregator_meters_quarantined",
                    "Meters quarantined for provably bad input",
                    inner.quarantined.clone(),
                );
                r.register(
                    "zeal_aggregator_ciphertexts_folded",
                    "Share ciphertexts multiplied into a recipient's column (rate = fold rate)",
                    inner.ciphertexts_folded.clone(),
                );
                r.register(
                    "zeal_aggregator_round_seconds",
                    "Time from a round's opening to its outcome",
                    inner.round_seconds.clone(),
                );
            }
            Role::Gateway => {
                r.register(
                    "zeal_gateway_messages_published",
                    "Messages a gateway published, by kind (share_bundle, partial, reading, enrolment)",
                    inner.published.clone(),
                );
            }
            Role::Sink => {
                r.register(
                    "zeal_sink_rows_written",
                    "Rows written to the store, by table",
                    inner.rows_written.clone(),
                );
            }
        }
        r.register(
            "zeal_dead_letters",
            "Inputs refused and sent to the dead-letter topic, by reason",
            inner.dead_letters.clone(),
        );
        r.register(
            "zeal_consumer_lag_messages",
            "Messages between this consumer's position and the partition's end",
            inner.consumer_lag.clone(),
        );
        Metrics(Arc::new(Inner { registry, ..inner }))
    }

    /// A round was opened.
    pub fn round_opened(&self) {
        self.0.rounds_opened.inc();
    }

    /// A round attempt closed with `status` after `seconds` (None: opened by another instance).
    pub fn round_closed(&self, status: RoundStatus, seconds: Option<f64>) {
        let status = symbol(&status);
        self.0
            .rounds_closed
            .get_or_create(&StatusLabel { status })
            .inc();
        if let Some(s) = seconds {
            self.0.round_seconds.observe(s);
        }
    }

    /// A meter was quarantined.
    pub fn quarantined(&self) {
        self.0.quarantined.inc();
    }

    /// `n` share ciphertexts were folded.
    pub fn folded(&self, n: u64) {
        self.0.ciphertexts_folded.inc_by(n);
    }

    /// An input was refused.
    pub fn dead_letter(&self, reason: RejectReason) {
        let reason = symbol(&reason);
        self.0
            .dead_letters
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// The consumer's lag on one partition.
    pub fn lag(&self, topic: &str, partition: i32, messages: i64) {
        let label = PartitionLabel {
            topic: topic.to_string(),
            partition: partition.to_string(),
        };
        self.0
            .consumer_lag
            .get_or_create(&label)
            .set(messages.max(0));
    }

    /// A gateway published a message of this kind.
    pub fn published(&self, kind: &str) {
        let kind = kind.to_string();
        self.0.published.get_or_create(&KindLabel { kind }).inc();
    }

    /// The sink wrote `rows` rows to `table`.
    pub fn rows_written(&self, table: &str, rows: u64) {
        let kind = table.to_string();
        self.0
            .rows_written
            .get_or_create(&KindLabel { kind })
            .inc_by(rows);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

/// The wire symbol of an enum value in lower case (`BAD_SIGNATURE` -> `bad_signature`).
pub(crate) fn symbol<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_lowercase))
        .unwrap_or_else(|| "other".to_string())
}

/// Serves `GET /metrics` (Prometheus text format) and `GET /healthz` on `addr` until `shutdown`.
/// Returns the bound address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: crate::Shutdown,
) -> std::io::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        m.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(crate::stopped(shutdown))
            .await
        {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    tracing::info!(address = %bound, "serving metrics on /metrics");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_role_and_label() {
        let m = Metrics::new(Role::Aggregator);
        m.round_opened();
        m.round_opened();
        m.round_closed(RoundStatus::Completed, Some(1.5));
        m.round_closed(RoundStatus::Deferred, None);
        m.dead_letter(RejectReason::BadSignature);
        m.folded(49);
        m.lag("zeal.shares.v1", 3, 17);
        let text = m.render();
        assert!(
            text.contains("zeal_aggregator_rounds_opened_total 2"),
            "{text}"
        );
        assert!(text.contains("zeal_aggregator_rounds_closed_total{status=\"completed\"} 1"));
        assert!(text.contains("zeal_aggregator_rounds_closed_total{status=\"deferred\"} 1"));
        assert!(text.contains("zeal_dead_letters_total{reason=\"bad_signature\"} 1"));
        assert!(text.contains("zeal_aggregator_ciphertexts_folded_total 49"));
        assert!(text.contains("zeal_aggregator_round_seconds_count 1"));
        assert!(
            text.contains(
                "zeal_consumer_lag_messages{topic=\"zeal.shares.v1\",partition=\"3\"} 17"
            )
        );
        // A gateway's registry has no aggregator families.
        let g = Metrics::new(Role::Gateway);
        g.published("partial");
        let g = g.render();
        assert!(!g.contains("zeal_aggregator_"), "{g}");
        assert!(
            g.contains("zeal_gateway_messages_published_total{kind=\"partial\"} 1"),
            "{g}"
        );
    }
}
