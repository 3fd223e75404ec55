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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use zeal_schemas::RejectReason;

/// Which service a [`Metrics`] belongs to: it registers that service's families only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Aggregator,
    Gateway,
    Sink,
    /// The grid-balance job.
    Balance,
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
struct OpLabel {
    op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

struct Inner {
    registry: Registry,
    rounds_opened: Counter,
    rounds_closed: Family<StatusLabel, Counter>,
    excluded: Counter,
    parts_folded: Counter,
    round_seconds: Histogram,
    dead_letters: Family<ReasonLabel, Counter>,
    consumer_lag: Family<PartitionLabel, Gauge>,
    published: Family<KindLabel, Counter>,
    rows_written: Family<KindLabel, Counter>,
    retries: Family<OpLabel, Counter>,
    grid_alerts: Family<KindLabel, Counter>,
    open_grid_alerts: Gauge,
    /// When these metrics were made, and the service loop's last turn (ms after `born`).
    born: std::time::Instant,
    last_turn_ms: AtomicU64,
    /// `/healthz` answers 503 once the loop has not turned for this long (ms).
    stall_limit_ms: AtomicU64,
    /// `/readyz`'s answer: why the service is not ready (`None`: ready).
    unready: std::sync::Mutex<Option<String>>,
}

/// `/healthz` reports a service stalled once its loop has not turned for this long by default.
/// A turn waits at most a second or two for input and an outage's retries at most
/// [`crate::driver::Backoff::MAX`] each, so a loop this late is stuck (or blocked on a store that
/// stays down).
pub const STALLED_AFTER: Duration = Duration::from_secs(120);

/// Registers each `field: name, help;` of `inner` (a counter, family or histogram) in `r`.
macro_rules! register {
    ($r:expr, $inner:expr, $($field:ident: $name:literal, $help:literal;)*) => {
        {
            $($r.register($name, $help, $inner.$field.clone());)*
        }
    };
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
            excluded: Counter::default(),
            parts_folded: Counter::default(),
            // 50 ms .. ~100 s: a round spans the share and partial deadlines (seconds to minutes).
            round_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 12)),
            dead_letters: Family::default(),
            consumer_lag: Family::default(),
            published: Family::default(),
            rows_written: Family::default(),
            retries: Family::default(),
            grid_alerts: Family::default(),
            open_grid_alerts: Gauge::default(),
            registry: Registry::default(),
            born: std::time::Instant::now(),
            last_turn_ms: AtomicU64::new(0),
            stall_limit_ms: AtomicU64::new(STALLED_AFTER.as_millis() as u64),
            unready: std::sync::Mutex::new(Some(
                "starting: the consumer has not reported its partitions yet".into(),
            )),
        };
        let r = &mut registry;
        match role {
            Role::Aggregator => register!(r, inner,
                rounds_opened: "zeal_aggregator_rounds_opened",
                    "Rounds the aggregator began to follow (its first record on the log)";
                rounds_closed: "zeal_aggregator_rounds_closed",
                    "Rounds decided, by outcome (total, lapsed, void, abandoned)";
                excluded: "zeal_aggregator_senders_excluded",
                    "Revealed senders left out of a round's final set (valid complaint, inconsistent or out-of-range bundle, parts missing)";
                parts_folded: "zeal_aggregator_parts_folded",
                    "Senders' parts multiplied into a seat's product (rate = fold rate)";
                round_seconds: "zeal_aggregator_round_seconds",
                    "Time from a round's first record to its outcome";
                published: "zeal_aggregator_markers_published",
                    "Records the aggregator posted, by kind (commit_closed, products, region_total, ...)";
            ),
            Role::Gateway => register!(r, inner,
                published: "zeal_gateway_messages_published",
                    "Messages a gateway published, by kind (commit, part, notice, partial, seat_key, reading, ...)";
            ),
            Role::Balance => register!(r, inner,
                grid_alerts: "zeal_grid_alerts",
                    "Grid alerts published, by kind (feeder_raised, feeder_closed, billing)";
                open_grid_alerts: "zeal_grid_open_alerts",
                    "FEEDER alerts raised whose run of unexplained energy has not ended";
                rows_written: "zeal_grid_rows_written",
                    "Rows written to the store, by table";
            ),
            Role::Sink => register!(r, inner,
                rows_written: "zeal_sink_rows_written",
                    "Rows written to the store, by table";
            ),
        }
        register!(r, inner,
            dead_letters: "zeal_dead_letters",
                "Inputs refused and sent to the dead-letter topic, by reason";
            consumer_lag: "zeal_consumer_lag_messages",
                "Messages between this consumer's position and the partition's end";
            retries: "zeal_retries",
                "Failed operations retried after a backoff, by operation (consume, insert)";
        );
        Metrics(Arc::new(Inner { registry, ..inner }))
    }

    /// A round began.
    pub fn round_opened(&self) {
        self.0.rounds_opened.inc();
    }

    /// A round was decided with `status` after `seconds`.
    pub fn round_closed(&self, status: &str, seconds: Option<f64>) {
        let status = status.to_string();
        self.0
            .rounds_closed
            .get_or_create(&StatusLabel { status })
            .inc();
        if let Some(s) = seconds {
            self.0.round_seconds.observe(s);
        }
    }

    /// `n` senders were excluded.
    pub fn excluded(&self, n: u64) {
        self.0.excluded.inc_by(n);
    }

    /// `n` parts were folded.
    pub fn folded(&self, n: u64) {
        self.0.parts_folded.inc_by(n);
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

    /// A message of this kind was published.
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

    /// A failed `op` is retried.
    pub fn grid_alert(&self, kind: &str) {
        let kind = kind.to_string();
        self.0.grid_alerts.get_or_create(&KindLabel { kind }).inc();
    }

    pub fn open_grid_alerts(&self, open: i64) {
        self.0.open_grid_alerts.set(open);
    }

    pub fn retried(&self, op: &str) {
        let op = op.to_string();
        self.0.retries.get_or_create(&OpLabel { op }).inc();
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
impl Metrics {
    /// The service loop turned (called by [`crate::driver::Inbox::drive`] every turn).
    pub fn turned(&self) {
        let now = self.0.born.elapsed().as_millis() as u64;
        self.0.last_turn_ms.store(now, Ordering::Relaxed);
    }

    /// Time since the loop last turned (since these metrics were made, before its first turn).
    pub fn since_last_turn(&self) -> Duration {
        let last = Duration::from_millis(self.0.last_turn_ms.load(Ordering::Relaxed));
        self.0.born.elapsed().saturating_sub(last)
    }

    /// Sets how long the loop may go without a turn before `/healthz` reports it stalled
    /// (default [`STALLED_AFTER`]).
    pub fn set_stall_limit(&self, limit: Duration) {
        let ms = limit.as_millis() as u64;
        self.0.stall_limit_ms.store(ms, Ordering::Relaxed);
    }

    /// Readiness as the service's consumer last saw it: `Ok` with its assigned partitions, or
    /// why not (the broker did not answer). Not ready without partitions either.
    pub fn consumer_state(&self, state: Result<usize, String>) {
        let why = match state {
            Ok(0) => Some("no partitions assigned".to_string()),
            Ok(_) => None,
            Err(e) => Some(format!("broker unreachable: {e}")),
        };
        if let Ok(mut unready) = self.0.unready.lock() {
            *unready = why;
        }
    }

    /// `/readyz`'s answer: 200 once the consumer has partitions and the broker answers, 503
    /// with the reason otherwise (and before the first report, a few seconds after start).
    pub fn readiness(&self) -> (u16, String) {
        match self.0.unready.lock().ok().and_then(|u| u.clone()) {
            None => (200, "ready\n".into()),
            Some(why) => (503, format!("not ready: {why}\n")),
        }
    }

    /// `/healthz`'s answer: 200 while the loop turns, 503 once it has not for the stall limit.
    pub fn health(&self) -> (u16, String) {
        let age = self.since_last_turn();
        let limit = Duration::from_millis(self.0.stall_limit_ms.load(Ordering::Relaxed));
        let age_s = age.as_secs_f64();
        if age > limit {
            let limit_s = limit.as_secs_f64();
            (
                503,
                format!(
                    "stalled: the service loop last turned {age_s:.1} s ago (limit {limit_s:.0} s)\n"
                ),
            )
        } else {
            (
                200,
                format!("ok: the service loop turned {age_s:.1} s ago\n"),
            )
        }
    }
}

pub(crate) fn symbol<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_lowercase))
        .unwrap_or_else(|| "other".to_string())
}

/// Serves `GET /metrics` (Prometheus text format), `GET /healthz` (liveness: 503 once the
/// service loop has stalled, [`Metrics::health`]) and `GET /readyz` (readiness: the broker
/// answers and partitions are assigned, [`Metrics::readiness`]) on `addr` until `shutdown`. Returns the bound
/// address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    shutdown: crate::Shutdown,
) -> std::io::Result<SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let health = metrics.clone();
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
        .route("/readyz", {
            let ready = health.clone();
            get(move || {
                let (status, body) = ready.readiness();
                let status = axum::http::StatusCode::from_u16(status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                async move { (status, body) }
            })
        })
        .route(
            "/healthz",
            get(move || {
                let (status, body) = health.health();
                let status = axum::http::StatusCode::from_u16(status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
                async move { (status, body) }
            }),
        );
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

    /// `/healthz` used to answer "ok" whatever the service did: a loop stuck for good looked
    /// alive. It now follows the loop's turns.
    #[tokio::test]
    async fn healthz_reports_a_loop_that_stopped_turning() {
        let m = Metrics::new(Role::Sink);
        m.set_stall_limit(Duration::from_millis(300));
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let addr = serve("127.0.0.1:0".parse().unwrap(), m.clone(), shutdown)
            .await
            .unwrap();
        let fetch = move |path: &'static str| {
            tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                write!(
                    s,
                    "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
                let mut raw = String::new();
                s.read_to_string(&mut raw).unwrap();
                raw
            })
        };
        let get = move || fetch("/healthz");
        // Readiness is the consumer's report, apart from liveness.
        let ready = fetch("/readyz").await.unwrap();
        assert!(
            ready.starts_with("HTTP/1.1 503") && ready.contains("starting"),
            "{ready}"
        );
        m.consumer_state(Ok(3));
        let ready = fetch("/readyz").await.unwrap();
        assert!(
            ready.starts_with("HTTP/1.1 200") && ready.ends_with("ready\n"),
            "{ready}"
        );
        let fresh = get().await.unwrap();
        assert!(
            fresh.starts_with("HTTP/1.1 200") && fresh.contains("ok: "),
            "{fresh}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stuck = get().await.unwrap();
        assert!(stuck.starts_with("HTTP/1.1 503"), "{stuck}");
        assert!(
            stuck.contains("stalled: the service loop last turned"),
            "{stuck}"
        );
        m.turned();
        let again = get().await.unwrap();
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
        assert!(m.since_last_turn() < Duration::from_millis(300));
        stop.send(true).unwrap();
    }

    #[test]
    fn renders_counters_by_role_and_label() {
        let m = Metrics::new(Role::Aggregator);
        m.round_opened();
        m.round_opened();
        m.round_closed("total", Some(1.5));
        m.round_closed("lapsed", None);
        m.dead_letter(RejectReason::BadSignature);
        m.folded(49);
        m.lag("zeal.rounds.v2", 3, 17);
        let text = m.render();
        assert!(
            text.contains("zeal_aggregator_rounds_opened_total 2"),
            "{text}"
        );
        assert!(text.contains("zeal_aggregator_rounds_closed_total{status=\"total\"} 1"));
        assert!(text.contains("zeal_aggregator_rounds_closed_total{status=\"lapsed\"} 1"));
        assert!(text.contains("zeal_dead_letters_total{reason=\"bad_signature\"} 1"));
        assert!(text.contains("zeal_aggregator_parts_folded_total 49"));
        assert!(text.contains("zeal_aggregator_round_seconds_count 1"));
        assert!(
            text.contains(
                "zeal_consumer_lag_messages{topic=\"zeal.rounds.v2\",partition=\"3\"} 17"
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
