//! The Rust form of every wire message. Field names and order match `schemas/avro/*.avsc`.
//!
//! Conventions: timestamps are milliseconds since the Unix epoch (`timestamp-millis`); big
//! integers are fixed-width big-endian bytes; `signature` is an Ed25519 signature over the
//! message's canonical bytes ([`crate::codec::signing_bytes`]); values are `i64` on the wire and
//! always in `0..2^b`.

use serde::{Deserialize, Serialize};

/// Lifecycle state of a registered meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MeterStatus {
    /// Eligible for rosters.
    Active,
    /// Left out of new rosters.
    Retired,
    /// A status written by a newer schema version this reader does not know.
    Unknown,
}

/// Registry entry of one meter (`zeal.registry.v1`, key = meter id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterEnrolment {
    pub meter_id: String,
    pub region: String,
    pub status: MeterStatus,
    pub key_bits: i32,
    #[serde(with = "apache_avro::serde::bytes")]
    pub paillier_n: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub paillier_hs: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signing_key: Vec<u8>,
    pub enrolled_at: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// The aggregator opens one attempt of a round (`zeal.control.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundOpen {
    pub region: String,
    pub interval_start: i64,
    pub interval_seconds: i32,
    pub intervals: i32,
    pub attempt: i32,
    pub roster: Vec<String>,
    pub channels: Vec<String>,
    pub value_bits: i32,
    pub min_roster: i32,
    pub carried_intervals: Vec<i64>,
    pub share_deadline: i64,
    pub partial_deadline: i64,
    pub aggregator_id: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// One packed plaintext of shares encrypted under the recipient's key, signed on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedShare {
    pub recipient: String,
    pub index: i32,
    #[serde(with = "apache_avro::serde::bytes")]
    pub ciphertext: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// One meter's encrypted shares for every other roster member (`zeal.shares.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareBundle {
    pub region: String,
    pub interval_start: i64,
    pub attempt: i32,
    pub sender: String,
    pub shares: Vec<EncryptedShare>,
    pub sent_at: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// A ciphertext the aggregator folded, with its sender's signature passed through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedShare {
    pub sender: String,
    pub index: i32,
    #[serde(with = "apache_avro::serde::bytes")]
    pub ciphertext: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// The folded column for one recipient and the ciphertexts it was folded from
/// (`zeal.control.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redistribution {
    pub region: String,
    pub interval_start: i64,
    pub attempt: i32,
    pub recipient: String,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub products: Vec<Vec<u8>>,
    pub folded: Vec<FoldedShare>,
    pub aggregator_id: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// Proof that one sender's share to the accusing recipient is out of range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accusation {
    pub sender: String,
    pub index: i32,
    #[serde(with = "apache_avro::serde::bytes")]
    pub plaintext: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub randomness: Vec<u8>,
}

/// A recipient's decrypted column sum, its proof and its retained share (`zeal.partials.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    pub region: String,
    pub interval_start: i64,
    pub attempt: i32,
    pub sender: String,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub plaintexts: Vec<Vec<u8>>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub randomness: Vec<Vec<u8>>,
    pub retained: Vec<i64>,
    pub accusations: Vec<Accusation>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// How an attempt of a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoundStatus {
    /// A total was published.
    Completed,
    /// Share-phase dropouts; a new attempt with a smaller roster follows.
    Reopened,
    /// A partial was missing or wrong: no total, values carried forward.
    Deferred,
    /// Roster below `min_roster` or attempts exhausted: no total, values carried forward.
    Abandoned,
    /// Written by a newer schema version this reader does not know.
    Unknown,
}

/// The outcome of one attempt (`zeal.control.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundOutcome {
    pub region: String,
    pub interval_start: i64,
    pub attempt: i32,
    pub status: RoundStatus,
    pub roster: Vec<String>,
    pub missing: Vec<String>,
    pub culprits: Vec<String>,
    pub reason: String,
    pub decided_at: i64,
    pub aggregator_id: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// A published private total (`zeal.totals.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionTotal {
    pub region: String,
    pub interval_start: i64,
    pub interval_seconds: i32,
    pub intervals: i32,
    pub attempt: i32,
    pub channels: Vec<String>,
    pub totals: Vec<i64>,
    pub contributors: i32,
    pub carried_intervals: Vec<i64>,
    pub published_at: i64,
    pub aggregator_id: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// Why a meter was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuarantineReason {
    /// No partial before the partial deadline.
    MissingPartial,
    /// A partial whose decryption proof does not verify.
    InvalidPartial,
    /// A column sum proving that some sender's shares were out of range.
    OutOfRangeShares,
    /// Two different signed messages for the same step.
    Equivocation,
    /// Anything else, including reasons from newer schema versions.
    Other,
}

/// A meter named as faulty, with evidence (`zeal.control.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEvent {
    pub region: String,
    pub meter_id: String,
    pub interval_start: i64,
    pub attempt: i32,
    pub reason: QuarantineReason,
    pub detail: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub evidence: Vec<u8>,
    pub decided_at: i64,
    pub aggregator_id: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// A plaintext reading of an opted-in household (`zeal.readings.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdReading {
    pub household_id: String,
    pub region: String,
    pub interval_start: i64,
    pub interval_seconds: i32,
    pub import_wh: i64,
    pub export_wh: i64,
    /// PV generation behind the meter (Wh) when an inverter reports it; `None` from a DSMR
    /// meter alone (schema v2; v1 readings decode as `None`).
    #[serde(default)]
    pub generation_wh: Option<i64>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// Why an input message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    Malformed,
    UnknownSchema,
    BadSignature,
    UnknownSender,
    NotInRoster,
    UnknownRound,
    Duplicate,
    Replay,
    Late,
    InvalidCiphertext,
    OutOfRange,
    InvalidPartial,
    WeakKey,
    Other,
}

/// A rejected input message (`zeal.dlq.v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(with = "apache_avro::serde::bytes_opt")]
    pub key: Option<Vec<u8>>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub payload: Vec<u8>,
    pub reason: RejectReason,
    pub detail: String,
    pub origin: Option<String>,
    pub region: Option<String>,
    pub rejected_at: i64,
    pub rejected_by: String,
}
