//! The Rust form of `schemas/avro/consent_event.avsc` (namespace `io.zebrazeal.consent`): a
//! household's decision about sharing its readings, on `zeal.consent.v1`. What gateways do with
//! it is `zeal_protocol::consent`; the signature covers a transcript of the fields, never these
//! Avro bytes.

use serde::{Deserialize, Serialize};

/// The scope of consent to share the 15-minute readings on the readings topic, of intervals
/// from the moment the household's gateway hears of the grant.
pub const SCOPE_READINGS: &str = "readings";
/// The scope of consent to share the 15-minute readings as [`SCOPE_READINGS`] does and, besides,
/// every reading the gateway already holds (its history). A gateway shows a separate pairing
/// code for it, so the utility cannot widen a household's grant to the past.
pub const SCOPE_READINGS_HISTORY: &str = "readings+history";

/// A household's decision to share, or stop sharing (`zeal.consent.v1`, key = household id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub household_id: String,
    pub region: String,
    /// [`SCOPE_READINGS`] or [`SCOPE_READINGS_HISTORY`]; a gateway refuses scopes it does not
    /// know.
    pub scope: String,
    /// Start (true) or stop (false) sharing.
    pub granted: bool,
    /// When the household decided, ms since 1970.
    pub decided_at: i64,
    /// Unique per decision.
    pub event_id: String,
    /// The single-use code the household's gateway showed (grants); empty for withdrawals.
    pub pairing_code: String,
    /// Which app recorded it (informational).
    pub source: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// The record that a household's data was erased (`zeal.erasure.v1`, key = household id): what
/// left which table and when, never the data itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureEvent {
    pub household_id: String,
    pub region: String,
    /// When the household asked, ms since 1970.
    pub requested_at: i64,
    /// When every table had lost its rows, ms since 1970; the jobs drop the household's
    /// readings of intervals starting before it.
    pub erased_at: i64,
    pub tables: Vec<ErasedTable>,
    /// Unique per erasure.
    pub event_id: String,
    /// Which app erased (informational).
    pub source: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// One table's share of an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedTable {
    pub table: String,
    /// Rows deleted (as stored, before deduplication).
    pub rows: i64,
}
