//! The stream processors (DESIGN §3, §7): the protocol core's state machines wired to Kafka.
//!
//! - [`v2::RegionNode`]: protocol v2's parties of one region and day (meters, committee seats,
//!   the aggregator) over the round log and the bundles topic; [`v2::audit_day`] re-verifies a
//!   day from the log alone, and only its verified totals are stored.
//! - [`sink::ClickHouseSink`]: writes dead letters to ClickHouse (or the embedded store).
//! - [`registry::RegistryFollower`]: the registry topic followed into memory (authority
//!   certificates, which the readings jobs check readings against).
//! - [`disaggregate::DisaggregateJob`]: opted-in readings to per-appliance daily usage.
//! - [`edge`]: per-category daily energy computed at the gateway, aggregated privately.
//! - [`balance::BalanceJob`]: the utility's feeder readings and billing registers against the
//!   private totals (grid balance: losses, theft, under-reporting meters), alerts as events.
//! - [`gamify::run_gamify`]: the game's daily metrics and awards from private aggregates.
//!
//! [`deployment::Deployment`] gives every service's settings with their defaults.
//!
//! Every rejected input becomes a dead letter ([`dlq`]); nothing is dropped silently. Each
//! service counts what it does in its own [`metrics::Metrics`], served by [`metrics::serve`].

pub mod balance;
pub mod consent;
pub mod deployment;
pub mod disaggregate;
pub mod dlq;
pub mod driver;
pub mod edge;
pub mod erasure;
pub mod gamify;
pub mod log_tail;
pub mod metrics;
pub mod registry;
pub mod sink;
pub mod v2;

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
    #[error(transparent)]
    Tables(#[from] zeal_tables::TablesError),
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A region's day could not be derived from the v2 registry.
    #[error(transparent)]
    Day(#[from] zeal_protocol::v2::day::DayError),
    #[error(transparent)]
    Encode(#[from] zeal_schemas::EncodeError),
    #[error("disaggregation: {0}")]
    Disaggregation(#[from] zeal_disaggregation::DisaggError),
    /// A log known to hold more records delivered none.
    #[error("stalled: {0}")]
    Stalled(String),
}

pub use zeal_connectors::runtime::{Shutdown, now_ms, stopped};

fn stopping(s: &Shutdown) -> bool {
    *s.borrow()
}
