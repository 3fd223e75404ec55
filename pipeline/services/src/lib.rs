//! The stream processors (DESIGN §3, §7): the protocol core's state machines wired to Kafka.
//!
//! - [`aggregator::AggregatorService`]: a consumer-group member over the region-keyed topics;
//!   opens rounds, folds, verifies, publishes totals and round events.
//! - [`gateway::GatewayService`]: acts for a set of meters bound to their regions' partitions.
//! - [`sink::ClickHouseSink`]: writes totals and round events to ClickHouse.
//! - [`registry::RegistryFollower`]: the compacted registry topic as a [`Directory`].
//! - [`audit::run_audit`]: re-verifies every round of a time range from the log alone.
//!
//! Every rejected input becomes a dead letter ([`dlq`]); nothing is dropped silently.
//!
//! [`Directory`]: zeal_protocol::round::directory::Directory

pub mod aggregator;
pub mod audit;
pub mod dlq;
pub mod gateway;
pub mod registry;
pub mod sink;

use zeal_connectors::kafka::KafkaError;

/// Errors that stop a service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    ClickHouse(#[from] zeal_connectors::clickhouse::ClickHouseError),
    #[error(transparent)]
    KeyStore(#[from] zeal_connectors::keystore::KeyStoreError),
    #[error("state file {path}: {source}")]
    State {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] zeal_embedded::store::StoreError),
    #[error("invalid settings: {0}")]
    Settings(String),
}

/// Milliseconds since the Unix epoch, from the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A shutdown signal shared by a service's tasks.
pub type Shutdown = tokio::sync::watch::Receiver<bool>;

fn stopping(s: &Shutdown) -> bool {
    *s.borrow()
}
