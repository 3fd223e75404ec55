//! The Rust form of the grid-balance messages (`schemas/avro/{feeder_reading, billing_register,
//! grid_alert}.avsc`, namespace `io.zebrazeal.grid`): what the utility measures itself (its
//! feeder meters, its meters' billing registers) and what the balance job concludes.
//!
//! As in v2, a signature covers a transcript of the message's fields (`zeal_grid::metering`),
//! never these Avro bytes.

use serde::{Deserialize, Serialize};

/// The utility's feeder (transformer) meter of a region over one interval (`zeal.feeder.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeederReading {
    pub feeder_id: String,
    pub region: String,
    pub interval_start: i64,
    pub interval_seconds: i32,
    /// Net energy into the region, Wh (negative when it exported).
    pub energy_wh: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// One meter's billing-register deltas over `[period_start, period_end)` (`zeal.billing.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingRegister {
    pub meter_id: String,
    pub region: String,
    pub period_start: i64,
    pub period_end: i64,
    pub import_wh: i64,
    pub export_wh: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// What a grid alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GridAlertKind {
    /// The feeder meter saw energy the private total and the losses do not explain.
    Feeder,
    /// The region's meters contributed less to the private totals than they were billed for.
    Billing,
    /// A kind written by a newer schema version this reader does not know.
    Unknown,
}

/// Where a grid alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GridAlertState {
    /// The evidence crossed the threshold.
    Raised,
    /// The run of evidence ended; the span is final.
    Closed,
    /// A state written by a newer schema version this reader does not know.
    Unknown,
}

/// An alert of the balance job (`zeal.grid-alerts.v1`, key = region).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridAlert {
    pub region: String,
    pub kind: GridAlertKind,
    pub state: GridAlertState,
    pub first_interval: i64,
    pub end: i64,
    pub intervals: i32,
    pub unexplained_wh: f64,
    pub strength: f64,
    pub detected_at: i64,
    pub detail: String,
}
