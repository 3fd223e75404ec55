//! The Rust form of protocol v2's wire messages (`schemas/avro/{certificate, cutoff,
//! beacon_round, round_record, seat_part}.avsc`, namespace `io.zebrazeal.v2`). Field names, order
//! and type names match the schemas; an enum standing for a union of records lists its variants
//! in the union's order (a union value becomes the variant of its index; branches of older
//! versions are first resolved by name, `codec::unions_by_name`).
//!
//! Unlike v1, a v2 signature covers the protocol's own transcript of a message (bound to
//! version, kind, region, round and cutoff; `zeal_protocol::v2`), never these Avro bytes, so a
//! schema release can never invalidate a signature. Conversions to and from the protocol's
//! types, with every size bounded before any parsing, are `zeal_protocol::v2::wire`.

use serde::{Deserialize, Serialize};

/// What a certificate says of its meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertificateStatus {
    /// The meter takes part in its region.
    Active,
    /// The meter is retired (kept for audits).
    Retired,
    /// A status written by a newer schema version this reader does not know.
    Unknown,
}

/// The enrolment authority's certificate of a meter (registry topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub meter_id: String,
    pub region: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub identity_key: Vec<u8>,
    /// Milliseconds since the epoch, whole seconds.
    pub valid_from: i64,
    pub status: CertificateStatus,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// The authority's Cutoff(D) (registry topic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutoff {
    pub day: i64,
    pub prefix: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub prefix_hash: Vec<u8>,
    pub beacon_round: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// One beacon output relayed on the registry topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeaconRound {
    pub round: i64,
    #[serde(with = "apache_avro::serde::bytes")]
    pub value: Vec<u8>,
}

/// A sender's encrypted part for one seat (bundles topic, key = region + seat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatPart {
    pub region: String,
    pub round_start: i64,
    pub sender: String,
    pub seat: String,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub ciphertexts: Vec<Vec<u8>>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub proofs: Vec<Vec<u8>>,
}

/// One signed record of a region's round log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRecord {
    pub region: String,
    /// Milliseconds since the epoch; a seat key's or KeysClosed's is its day's start.
    pub round_start: i64,
    /// The meter that wrote it; `None` for the aggregator.
    pub author: Option<String>,
    pub entry: RoundEntry,
    #[serde(with = "apache_avro::serde::bytes")]
    pub signature: Vec<u8>,
}

/// What a round record says (an Avro union of records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoundEntry {
    SeatKey(SeatKey),
    Commit(Commit),
    CommitClosed(CommitClosed),
    Objection(Objection),
    Notice(Notice),
    Withdraw(Withdraw),
    RevealClosed(RevealClosed),
    Products(Products),
    Complaint(Complaint),
    FinalSet(FinalSet),
    Partial(Partial),
    RegionTotal(RegionTotal),
    Abandoned(Abandoned),
    /// Since round_record v2 (appended, so every v1 branch keeps its union index).
    KeysClosed(KeysClosed),
    /// Since round_record v3.
    PartMissing(PartMissing),
    /// Since round_record v3.
    PartPosted(PartPosted),
}

/// A seat's daily Paillier key and its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatKey {
    #[serde(with = "apache_avro::serde::bytes")]
    pub modulus: Vec<u8>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub proof: Vec<u8>,
}

/// A meter's commitment to its bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    #[serde(with = "apache_avro::serde::bytes")]
    pub commitment: Vec<u8>,
}

/// The aggregator's list of the commitments before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitClosed {
    pub meters: Vec<String>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub commitments: Vec<Vec<u8>>,
}

/// An on-time meter's objection to a CommitClosed that omits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    #[serde(with = "apache_avro::serde::bytes")]
    pub commitment: Vec<u8>,
}

/// A reveal notice: the bundle's public part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub commitments: Vec<Vec<u8>>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub opening_proofs: Vec<Vec<u8>>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub range_proof: Vec<u8>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub part_hashes: Vec<Vec<u8>>,
}

/// A meter's withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdraw {}

/// The aggregator's list of revealed meters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealClosed {
    pub meters: Vec<String>,
}

/// The aggregator's fold for one seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Products {
    pub seat: String,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub ciphertexts: Vec<Vec<u8>>,
}

/// The kinds of complaint (one list, docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplaintKind {
    ShareMismatch,
    SlotOutOfRange,
    FailedPlaintextProof,
    MalformedCiphertext,
    FailedRangeProof,
    /// A kind written by a newer schema version this reader does not know.
    Unknown,
}

/// A complaint against one sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub sender: String,
    pub kind: ComplaintKind,
    pub index: i32,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub plaintexts: Vec<Vec<u8>>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub randomness: Vec<Vec<u8>>,
}

/// The aggregator's final set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalSet {
    pub meters: Vec<String>,
}

/// A seat's partial over the final set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    #[serde(with = "apache_avro::serde::bytes")]
    pub final_set: Vec<u8>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub f: Vec<Vec<u8>>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub r: Vec<Vec<u8>>,
}

/// The aggregator's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionTotal {
    pub values: Vec<i64>,
    pub contributors: Vec<String>,
    #[serde(with = "apache_avro::serde::bytes")]
    pub final_set: Vec<u8>,
}

/// The aggregator gives the round up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandoned {}

/// The aggregator's list of the day's seat keys before it (round_record v2): `seats[i]`'s key is
/// named by `key_hashes[i]`, the hash of its announced modulus (`zeal_protocol::v2::day::key_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysClosed {
    pub seats: Vec<String>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub key_hashes: Vec<Vec<u8>>,
}

/// A seat's claim that a revealed sender's part for it never arrived (round_record v3; author =
/// the seat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMissing {
    pub sender: String,
}

/// A revealed sender's part for a seat, posted on the round log in answer to the seat's claim
/// (round_record v3; author = the sender, or null for the aggregator). The same fields as a
/// [`SeatPart`] of the bundles topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartPosted {
    pub sender: String,
    pub seat: String,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub ciphertexts: Vec<Vec<u8>>,
    #[serde(with = "crate::bytes_serde::byte_arrays")]
    pub proofs: Vec<Vec<u8>>,
}
