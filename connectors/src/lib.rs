//! Zebra-Zeal's I/O: every byte that leaves or enters the process goes through here.
//!
//! - [`kafka`]: topic administration, the keyed idempotent producer, group and manually assigned
//!   consumers, and time-range replay (rdkafka).
//! - [`clickhouse`]: client construction from a URL, server version detection, idempotent
//!   migrations and batched inserts (the `clickhouse` crate).
//! - [`keystore`]: seats' daily Paillier keys on disk, owner-only, deleted when the day's
//!   keys must be gone.
//! - [`runtime`]: the wall clock and the shutdown signal every process shares.
//!
//! The protocol core never imports this crate; services wire the two together.

pub mod clickhouse;
pub mod kafka;
pub mod keystore;
pub mod runtime;

pub use runtime::{Shutdown, now_ms, stopped};
