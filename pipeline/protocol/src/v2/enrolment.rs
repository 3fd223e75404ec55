//! Enrolment (DESIGN §4, "Enrolment"): the authority certifies (meter id, region, identity key,
//! valid_from); the registry is an append-only list keyed by (meter id, valid_from) that never
//! forgets; the authority's Cutoff(D) fixes the day's candidates (a registry prefix, by offset
//! and hash) before the beacon round that draws the committee exists.
//!
//! Only the authority moves, re-keys or retires a meter, by certifying a later entry. A gateway's
//! self-signed claim is refused: that is what stopped v1's open enrolment (sybils, takeover of a
//! meter id, moving or retiring a meter).

use super::encoding::{Hash, hash_fields};
use super::params::DAY_SECONDS;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::collections::BTreeMap;

/// Longest meter id or region, in bytes (the registry, the wire reader and `zeal enrol`).
pub const MAX_ID_BYTES: usize = 128;

/// An Ed25519 public key as the 64 hex digits operators hand around.
pub fn key_to_hex(key: &VerifyingKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads an Ed25519 public key from 64 hex digits (surrounding whitespace ignored).
pub fn key_from_hex(hex: &str) -> Result<VerifyingKey, String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("not 64 hex digits: {hex:?}"));
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digits checked");
    }
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// What a certificate says of a meter from `valid_from` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The meter takes part in its region.
    Active,
    /// The meter is retired (kept in the registry for audits).
    Retired,
}

/// An authority-signed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The meter.
    pub meter: String,
    /// Its region.
    pub region: String,
    /// Its Ed25519 identity key.
    pub identity: [u8; 32],
    /// Unix seconds from which this entry is the meter's.
    pub valid_from: i64,
    /// Active or retired.
    pub status: Status,
    /// The authority's signature over [`Certificate::signing_bytes`].
    pub signature: Signature,
}

impl Certificate {
    /// What the authority signs.
    pub fn signing_bytes(
        meter: &str,
        region: &str,
        identity: &[u8; 32],
        valid_from: i64,
        status: Status,
    ) -> Vec<u8> {
        let status = [status as u8];
        hash_fields(&[
            b"zebra-zeal/v2/certificate",
            meter.as_bytes(),
            region.as_bytes(),
            identity,
            &valid_from.to_be_bytes(),
            &status,
        ])
        .0
        .to_vec()
    }

    /// Issues a certificate (the authority's `zeal enrol`).
    pub fn issue(
        authority: &SigningKey,
        meter: &str,
        region: &str,
        identity: &VerifyingKey,
        valid_from: i64,
        status: Status,
    ) -> Self {
        let identity = identity.to_bytes();
        let signature = authority.sign(&Self::signing_bytes(
            meter, region, &identity, valid_from, status,
        ));
        Certificate {
            meter: meter.into(),
            region: region.into(),
            identity,
            valid_from,
            status,
            signature,
        }
    }

    fn verifies(&self, authority: &VerifyingKey) -> bool {
        let bytes = Self::signing_bytes(
            &self.meter,
            &self.region,
            &self.identity,
            self.valid_from,
            self.status,
        );
        authority.verify_strict(&bytes, &self.signature).is_ok()
            && VerifyingKey::from_bytes(&self.identity).is_ok()
    }
}

/// Why a registry record is refused (each becomes a dead letter with this reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentRefused {
    /// Not signed by the authority (a self-signed claim, a takeover, a move or a retirement by
    /// anyone else).
    #[error("not certified by the enrolment authority")]
    NotCertified,
    /// Another certificate for the same (meter, valid_from): the registry never replaces one.
    #[error("(meter, valid_from) already certified differently")]
    Conflict,
    /// A meter id, region or size out of bounds.
    #[error("malformed certificate: {0}")]
    Malformed(&'static str),
}

/// The registry as one ordered partition: certificates in order, with a hash chain so a Cutoff can
/// name a prefix by (offset, hash).
#[derive(Debug, Clone)]
pub struct Registry {
    authority: VerifyingKey,
    entries: Vec<Certificate>,
    chain: Vec<Hash>,
    by_key: BTreeMap<(String, i64), usize>,
}

impl Registry {
    /// An empty registry trusting `authority`.
    pub fn new(authority: VerifyingKey) -> Self {
        Registry {
            authority,
            entries: Vec::new(),
            chain: Vec::new(),
            by_key: BTreeMap::new(),
        }
    }

    /// Admits a certificate; a repeat of the same one is a no-op.
    pub fn admit(&mut self, cert: Certificate) -> Result<(), EnrolmentRefused> {
        if cert.meter.is_empty()
            || cert.meter.len() > MAX_ID_BYTES
            || cert.region.is_empty()
            || cert.region.len() > MAX_ID_BYTES
        {
            return Err(EnrolmentRefused::Malformed(
                "meter id and region are 1..=128 bytes",
            ));
        }
        if !cert.verifies(&self.authority) {
            return Err(EnrolmentRefused::NotCertified);
        }
        // A small-order identity key "signs" every message under a lenient check and none under
        // the strict one every v2 party uses: refused, whatever the authority signed.
        if VerifyingKey::from_bytes(&cert.identity).is_ok_and(|k| k.is_weak()) {
            return Err(EnrolmentRefused::Malformed(
                "the identity key has small order",
            ));
        }
        let key = (cert.meter.clone(), cert.valid_from);
        if let Some(&i) = self.by_key.get(&key) {
            return if self.entries[i] == cert {
                Ok(())
            } else {
                Err(EnrolmentRefused::Conflict)
            };
        }
        let prev = self.chain.last().copied().unwrap_or_default();
        let status = [cert.status as u8];
        let link = hash_fields(&[
            &prev.0,
            cert.meter.as_bytes(),
            cert.region.as_bytes(),
            &cert.identity,
            &cert.valid_from.to_be_bytes(),
            &status,
        ]);
        self.by_key.insert(key, self.entries.len());
        self.entries.push(cert);
        self.chain.push(link);
        Ok(())
    }

    /// Records in the registry.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hash of the first `len` records (what a Cutoff names).
    pub fn prefix_hash(&self, len: usize) -> Option<Hash> {
        if len == 0 {
            Some(Hash::default())
        } else {
            self.chain.get(len - 1).copied()
        }
    }

    /// A meter's certificate as of `at` within the first `prefix` records: the one with the
    /// latest valid_from ≤ at.
    /// O(log n + the meter's later entries), from the (meter id, valid_from) index.
    pub fn certificate_at(&self, meter: &str, at: i64, prefix: usize) -> Option<&Certificate> {
        let meter = meter.to_string();
        self.by_key
            .range((meter.clone(), i64::MIN)..=(meter, at))
            .rev()
            .find(|(_, i)| **i < prefix)
            .map(|(_, i)| &self.entries[*i])
    }

    /// The region's active meters for day `day` under a cutoff naming the first `prefix`
    /// records: a meter's certificate for day D is its latest with valid_from ≤ the day's start.
    pub fn candidates(&self, region: &str, day: i64, prefix: usize) -> Vec<(String, VerifyingKey)> {
        let at = day * DAY_SECONDS;
        let mut meters: Vec<&String> = self.entries[..prefix.min(self.entries.len())]
            .iter()
            .map(|c| &c.meter)
            .collect();
        meters.sort();
        meters.dedup();
        meters
            .into_iter()
            .filter_map(|m| self.certificate_at(m, at, prefix))
            .filter(|c| c.region == region && c.status == Status::Active)
            .map(|c| {
                (
                    c.meter.clone(),
                    VerifyingKey::from_bytes(&c.identity).expect("checked on admission"),
                )
            })
            .collect()
    }
}

/// The authority's Cutoff(D): the registry prefix that fixes day D's candidates, and the beacon
/// round (derived from D by the protocol file) that will draw the committees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cutoff {
    /// The day (days since 1970-01-01, UTC).
    pub day: i64,
    /// Records in the prefix.
    pub prefix: usize,
    /// Hash of the prefix.
    pub prefix_hash: Hash,
    /// The beacon round.
    pub beacon_round: u64,
    /// The authority's signature.
    pub signature: Signature,
}

impl Cutoff {
    fn signing_bytes(day: i64, prefix: usize, prefix_hash: &Hash, beacon_round: u64) -> Vec<u8> {
        hash_fields(&[
            b"zebra-zeal/v2/cutoff",
            &day.to_be_bytes(),
            &(prefix as u64).to_be_bytes(),
            &prefix_hash.0,
            &beacon_round.to_be_bytes(),
        ])
        .0
        .to_vec()
    }

    /// The authority signs the cutoff of `day` over the registry as it stands.
    pub fn issue(authority: &SigningKey, registry: &Registry, day: i64) -> Cutoff {
        let prefix = registry.len();
        let prefix_hash = registry
            .prefix_hash(prefix)
            .expect("prefix of the whole registry");
        let beacon_round = beacon_round_of(day);
        let signature = authority.sign(&Self::signing_bytes(
            day,
            prefix,
            &prefix_hash,
            beacon_round,
        ));
        Cutoff {
            day,
            prefix,
            prefix_hash,
            beacon_round,
            signature,
        }
    }

    /// Whether the authority signed it (nothing else checked).
    pub fn signed_by(&self, authority: &VerifyingKey) -> bool {
        let bytes =
            Self::signing_bytes(self.day, self.prefix, &self.prefix_hash, self.beacon_round);
        authority.verify_strict(&bytes, &self.signature).is_ok()
    }

    /// Checks the signature, the prefix against the registry and the beacon round against the day.
    pub fn verify(&self, authority: &VerifyingKey, registry: &Registry) -> bool {
        let bytes =
            Self::signing_bytes(self.day, self.prefix, &self.prefix_hash, self.beacon_round);
        authority.verify_strict(&bytes, &self.signature).is_ok()
            && self.beacon_round == beacon_round_of(self.day)
            && registry.prefix_hash(self.prefix) == Some(self.prefix_hash)
    }

    /// H(Cutoff(D)), bound into seat keys and commitments.
    pub fn hash(&self) -> Hash {
        hash_fields(&[b"zebra-zeal/v2/cutoff-hash", &self.signature.to_bytes()])
    }
}

/// The beacon round that draws day D's committees (the protocol file's rule; here one round a
/// day, numbered by the day).
pub fn beacon_round_of(day: i64) -> u64 {
    day as u64
}

/// Why day D is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayRefused<'a> {
    /// The first authority-signed Cutoff(D) is invalid: it names a prefix beyond its own position
    /// in the registry partition (a prefix that did not exist yet), a prefix hash that does not
    /// match, or the wrong beacon round.
    Invalid(&'a Cutoff),
    /// A second, different authority-signed Cutoff(D): equivocation.
    Equivocation(&'a Cutoff, &'a Cutoff),
}

/// Day D's Cutoff from the registry partition's Cutoff records, each with its position (the
/// number of certificates before it). The first **authority-signed** Cutoff(D) counts, valid or
/// not: it must name a prefix that existed at its position, so the candidates are fixed before
/// the beacon round. Counting only valid ones would let the authority post many Cutoffs naming
/// future prefixes and, after seeing the beacon, admit the certificates that make the one it
/// likes valid.
pub fn day_cutoff<'a>(
    cutoffs: &'a [(usize, Cutoff)],
    day: i64,
    authority: &VerifyingKey,
    registry: &Registry,
) -> Result<Option<&'a Cutoff>, DayRefused<'a>> {
    let mut signed = cutoffs
        .iter()
        .filter(|(_, c)| c.day == day && c.signed_by(authority));
    let Some((position, first)) = signed.next() else {
        return Ok(None);
    };
    if first.prefix > *position || !first.verify(authority, registry) {
        return Err(DayRefused::Invalid(first));
    }
    match signed.find(|(_, c)| c != first) {
        Some((_, second)) => Err(DayRefused::Equivocation(first, second)),
        None => Ok(Some(first)),
    }
}

/// Rounds the local beacon stand-in can produce (one a day: ~179 years of days since 1970).
pub const LOCAL_BEACON_ROUNDS: u64 = 1 << 16;

/// A stand-in for a public randomness beacon, for the demo and tests: a hash chain whose anchor
/// H^N(seed) is published first; round R's output is H^(N−R)(seed), checked by hashing it R times
/// back to the anchor. Each round has exactly one valid output (unlike a signature beacon over
/// Ed25519, whose signer could choose among many valid signatures and grind the committee). Its
/// holder can predict every output, so a deployment must use a public beacon the utility does not
/// run (README, "Deployment").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeaconRound {
    /// The round.
    pub round: u64,
    /// The round's value in the chain.
    pub value: [u8; 32],
}

fn chain_step(x: &[u8; 32]) -> [u8; 32] {
    hash_fields(&[b"zebra-zeal/v2/beacon-chain", x]).0
}

impl BeaconRound {
    /// The anchor the beacon publishes before its first round.
    pub fn anchor(seed: &[u8; 32]) -> [u8; 32] {
        (0..LOCAL_BEACON_ROUNDS).fold(*seed, |x, _| chain_step(&x))
    }

    /// Produces round `round` from the seed (the stand-in's holder).
    pub fn produce(seed: &[u8; 32], round: u64) -> Self {
        assert!(round <= LOCAL_BEACON_ROUNDS, "beacon chain exhausted");
        BeaconRound {
            round,
            value: (0..LOCAL_BEACON_ROUNDS - round).fold(*seed, |x, _| chain_step(&x)),
        }
    }

    /// The round's randomness, if the value hashes back to the anchor in exactly `round` steps.
    pub fn output(&self, anchor: &[u8; 32]) -> Option<[u8; 32]> {
        if self.round > LOCAL_BEACON_ROUNDS {
            return None;
        }
        let back = (0..self.round).fold(self.value, |x, _| chain_step(&x));
        (back == *anchor).then(|| hash_fields(&[b"zebra-zeal/v2/beacon-output", &self.value]).0)
    }
}
