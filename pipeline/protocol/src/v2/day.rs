//! A region's day (DESIGN §4, "Enrolment"): each committee seat publishes a fresh Paillier key
//! signed with its identity key, with the key proof; KeysClosed lists the seats' first valid keys
//! before it. Every verifier (senders, aggregator, audit) checks each key itself, cheapest check
//! first: seat and sizes, then the signature, then the bignum work. A seat without a valid key is
//! absent for the day; absent seats are never replaced and never change d.
//!
//! [`day_seats`] replays the day's records (seat keys and KeysClosed, in log order) into the
//! seats of every [`RoundContext`](super::round::RoundContext) of the day: the first valid
//! KeysClosed counts, and invalid or second ones are evidence against the aggregator.

use super::committee::Committee;
use super::crypto::paillier::{KEY_PROOF_ROOTS, KeyProof, SeatPublicKey};
use super::encoding::{Hash, Kind, Transcript, hash_fields};
use super::enrolment::{
    BeaconRound, Certificate, Cutoff, DayRefused, EnrolmentRefused, Registry, day_cutoff,
};
use super::params::{DAY_SECONDS, Params, RegionRefused};
use super::round::log::{Directory, Evidence, note};
use super::round::{RoundContext, Seat};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// A seat's daily key announcement.
#[derive(Debug, Clone)]
pub struct SeatKeyAnnouncement {
    /// The seat's meter id.
    pub seat: String,
    /// n, big-endian, exactly modulus_bits / 8 bytes.
    pub modulus: Vec<u8>,
    /// The key proof's bytes.
    pub proof: Vec<u8>,
    /// The seat's identity signature over [`key_signing_bytes`].
    pub signature: Signature,
}

/// Why a seat's key is not accepted (the seat is absent for the day).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    /// Not a seat of the region's committee.
    #[error("{0} holds no seat")]
    NotASeat(String),
    /// Modulus or proof of the wrong size (checked before anything else).
    #[error("wrong size: {0}")]
    Size(&'static str),
    /// The identity signature does not verify.
    #[error("bad identity signature")]
    Signature,
    /// The key or its proof is invalid.
    #[error("key proof: {0}")]
    Proof(String),
}

/// The key-binding context: label ‖ day ‖ region ‖ seat ‖ H(Cutoff(D)). Bound into y (hence h_s)
/// and into the key proof, so neither carries over to another day, region or seat.
pub fn key_context(region: &str, day: i64, seat: &str, cutoff: &Hash) -> Vec<u8> {
    let mut t = Transcript::bound(Kind::SeatKey, region, day * DAY_SECONDS);
    t.str(seat).field(&cutoff.0);
    t.as_bytes().to_vec()
}

/// What a seat signs when announcing its key.
pub fn key_signing_bytes(
    region: &str,
    day: i64,
    seat: &str,
    cutoff: &Hash,
    modulus: &[u8],
    proof: &[u8],
) -> Vec<u8> {
    let mut t = Transcript::default();
    t.field(&key_context(region, day, seat, cutoff))
        .field(modulus)
        .field(proof);
    t.as_bytes().to_vec()
}

/// A seat announces its key (the gateway of a household holding a seat).
pub fn announce(
    identity: &SigningKey,
    region: &str,
    day: i64,
    seat: &str,
    cutoff: &Hash,
    key: &super::crypto::paillier::SeatSecretKey,
) -> SeatKeyAnnouncement {
    let modulus = key.public().to_bytes();
    let proof = KeyProof::prove(key, &key_context(region, day, seat, cutoff)).to_bytes();
    let signature = identity.sign(&key_signing_bytes(
        region, day, seat, cutoff, &modulus, &proof,
    ));
    SeatKeyAnnouncement {
        seat: seat.into(),
        modulus,
        proof,
        signature,
    }
}

/// Checks an announcement: seat, sizes, signature, then the key proof.
pub fn accept_key(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    seats: &[(String, VerifyingKey)],
    a: &SeatKeyAnnouncement,
) -> Result<SeatPublicKey, KeyRefused> {
    let Some((_, identity)) = seats.iter().find(|(s, _)| *s == a.seat) else {
        return Err(KeyRefused::NotASeat(a.seat.clone()));
    };
    let width = params.modulus_bits as usize / 8;
    if a.modulus.len() != width {
        return Err(KeyRefused::Size("modulus"));
    }
    if a.proof.len() != KEY_PROOF_ROOTS * width {
        return Err(KeyRefused::Size("key proof"));
    }
    identity
        .verify_strict(
            &key_signing_bytes(region, day, &a.seat, cutoff, &a.modulus, &a.proof),
            &a.signature,
        )
        .map_err(|_| KeyRefused::Signature)?;
    let context = key_context(region, day, &a.seat, cutoff);
    let key =
        SeatPublicKey::from_bytes(&a.modulus, &context, params.modulus_bits).map_err(bad_proof)?;
    let proof = KeyProof::from_bytes(&a.proof, params.modulus_bits).map_err(bad_proof)?;
    proof.verify(&key, &context).map_err(bad_proof)?;
    Ok(key)
}

/// A key or key proof that fails, as a refusal.
fn bad_proof(e: impl std::fmt::Display) -> KeyRefused {
    KeyRefused::Proof(e.to_string())
}

/// The list KeysClosed must equal: each seat's key, in log order, where a seat's key is its first
/// announcement that carries its identity signature and the right sizes (a bad key proof there
/// leaves the seat absent for the day).
pub fn keys_before_close(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    seats: &[(String, VerifyingKey)],
    announcements: &[SeatKeyAnnouncement],
) -> Vec<(String, SeatPublicKey)> {
    KeyJudgements::default().keys_before_close(params, region, day, cutoff, seats, announcements)
}

/// The key judgements a verifier already made in one region's day, by announcement: a node
/// that lists the keys before its KeysClosed and then reads that KeysClosed back judges each
/// key once (a 2048-bit key and its proof cost nine exponentiations, about 40 ms). Only the
/// bignum verdicts are kept (a valid key, or a signed announcement with a bad key or proof):
/// at most the announcements judged, one per seat per call. Keep one per region-day; the
/// cache key binds region, day, Cutoff, seat and every announced byte.
#[derive(Debug, Default)]
pub struct KeyJudgements {
    done: std::collections::BTreeMap<Hash, Result<SeatPublicKey, KeyRefused>>,
    /// Judgements that reached the bignum work.
    made: usize,
}

impl KeyJudgements {
    /// [`accept_key`], judged once per distinct announcement.
    pub fn accept(
        &mut self,
        params: &Params,
        region: &str,
        day: i64,
        cutoff: &Hash,
        seats: &[(String, VerifyingKey)],
        a: &SeatKeyAnnouncement,
    ) -> Result<SeatPublicKey, KeyRefused> {
        let id = hash_fields(&[
            region.as_bytes(),
            &day.to_be_bytes(),
            &cutoff.0,
            a.seat.as_bytes(),
            &a.modulus,
            &a.proof,
            &a.signature.to_bytes(),
        ]);
        if let Some(verdict) = self.done.get(&id) {
            return verdict.clone();
        }
        let verdict = accept_key(params, region, day, cutoff, seats, a);
        if matches!(verdict, Ok(_) | Err(KeyRefused::Proof(_))) {
            self.made += 1;
            self.done.insert(id, verdict.clone());
        }
        verdict
    }

    /// Judgements made that reached the bignum work (each kept, so never made twice).
    pub fn judged(&self) -> usize {
        self.made
    }

    /// [`keys_before_close`], reusing the judgements made before.
    pub fn keys_before_close(
        &mut self,
        params: &Params,
        region: &str,
        day: i64,
        cutoff: &Hash,
        seats: &[(String, VerifyingKey)],
        announcements: &[SeatKeyAnnouncement],
    ) -> Vec<(String, SeatPublicKey)> {
        let scope = DayScope {
            params,
            region,
            day,
            cutoff,
        };
        let mut list = KeyList::default();
        for a in announcements {
            list.judge(self, &scope, seats, a);
        }
        list.keys.into_iter().map(|(s, k, _)| (s, k)).collect()
    }

    /// [`day_seats_of`], reusing the judgements made before.
    pub fn day_seats_of<'r>(
        &mut self,
        day: &super::round::RoundContext,
        directory: &Directory,
        records: impl IntoIterator<Item = &'r DayRecord>,
    ) -> DaySetup {
        let scope = DayScope {
            params: &day.params,
            region: &day.region,
            day: Params::day_of(day.start),
            cutoff: &day.cutoff,
        };
        day_seats_judged(self, &scope, &day.committee, directory, records)
    }
}

/// Which region's day a key is judged for: its parameters, region, day and H(Cutoff(D)).
struct DayScope<'a> {
    params: &'a Params,
    region: &'a str,
    day: i64,
    cutoff: &'a Hash,
}

/// [`keys_before_close`] built one announcement at a time, with each listed key's [`key_hash`]
/// (so [`day_seats`] compares every KeysClosed with the list before it without judging any key
/// twice).
#[derive(Default)]
struct KeyList {
    /// Seats whose first signed, right-sized announcement was judged.
    judged: Vec<String>,
    /// Seats with a valid key, in log order: (seat, key, H(announced modulus)).
    keys: Vec<(String, SeatPublicKey, Hash)>,
}

impl KeyList {
    fn judge(
        &mut self,
        judgements: &mut KeyJudgements,
        scope: &DayScope<'_>,
        seats: &[(String, VerifyingKey)],
        a: &SeatKeyAnnouncement,
    ) {
        // A seat's first announcement with a valid identity signature is judged, once: a flood of
        // signed bad keys (or copies of one) cannot make every verifier run key proofs without end.
        if self.judged.contains(&a.seat) {
            return;
        }
        let DayScope {
            params,
            region,
            day,
            cutoff,
        } = *scope;
        match judgements.accept(params, region, day, cutoff, seats, a) {
            Ok(k) => {
                self.judged.push(a.seat.clone());
                self.keys.push((a.seat.clone(), k, key_hash(&a.modulus)));
            }
            Err(KeyRefused::Proof(_)) => self.judged.push(a.seat.clone()),
            Err(_) => {} // not signed by the seat, or not a seat: says nothing about it
        }
    }

    /// Whether `listed` is exactly this list: same seats, same keys, same order.
    fn equals(&self, listed: &[(String, Hash)]) -> bool {
        listed.len() == self.keys.len()
            && listed
                .iter()
                .zip(&self.keys)
                .all(|((s, h), (seat, _, hash))| s == seat && h == hash)
    }
}

/// Label of [`key_hash`].
const KEY_HASH_LABEL: &[u8] = b"zebra-zeal/v2/seat-key";

/// The name of a seat key in KeysClosed: SHA-256 of the length-prefixed fields (label, the
/// announced modulus bytes, exactly `modulus_bits / 8` of them). KeysClosed names keys by hash
/// rather than repeating the moduli: every verifier holds the announcements anyway (it checks
/// their key proofs itself), so a hash is all it needs to compare, 32 bytes a seat instead of
/// 256 or 384. The modulus is the key (h_s is derived from it and the day's context), and the
/// hash is collision-resistant, so equal hashes are equal keys.
pub fn key_hash(modulus: &[u8]) -> Hash {
    hash_fields(&[KEY_HASH_LABEL, modulus])
}

/// The aggregator's KeysClosed of a region's day: each listed seat's key, named by [`key_hash`],
/// in the log order of the announcements. Valid iff it equals [`keys_before_close`] of the
/// announcements before it; the first valid one fixes the day's seats ([`day_seats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysClosed {
    /// (seat, H(its key's modulus)), in the log order of the keys.
    pub keys: Vec<(String, Hash)>,
    /// The aggregator's signature over [`keys_closed_signing_bytes`].
    pub signature: Signature,
}

/// What the aggregator signs: the list, bound to (version, KeysClosed, region, the day's start)
/// and H(Cutoff(D)), as every record inside the day is.
pub fn keys_closed_signing_bytes(
    region: &str,
    day: i64,
    cutoff: &Hash,
    keys: &[(String, Hash)],
) -> Vec<u8> {
    let mut t = Transcript::bound(Kind::KeysClosed, region, day.saturating_mul(DAY_SECONDS));
    t.field(&cutoff.0).u64(keys.len() as u64);
    for (seat, h) in keys {
        t.str(seat).field(&h.0);
    }
    t.as_bytes().to_vec()
}

/// The aggregator closes the day's keys with `keys` (an honest aggregator passes
/// [`keys_before_close`] of the announcements it has read).
pub fn close_keys(
    aggregator: &SigningKey,
    region: &str,
    day: i64,
    cutoff: &Hash,
    keys: &[(String, SeatPublicKey)],
) -> KeysClosed {
    let keys: Vec<(String, Hash)> = keys
        .iter()
        .map(|(s, k)| (s.clone(), key_hash(&k.to_bytes())))
        .collect();
    let signature = aggregator.sign(&keys_closed_signing_bytes(region, day, cutoff, &keys));
    KeysClosed { keys, signature }
}

/// One record of a region's day, in the order of the region's partition.
#[derive(Debug, Clone)]
pub enum DayRecord {
    /// A seat's key announcement.
    SeatKey(SeatKeyAnnouncement),
    /// The aggregator's list of the keys before it.
    KeysClosed(KeysClosed),
}

/// The day's seats, as every party derives them from the day's records.
#[derive(Debug, Clone, Default)]
pub struct DaySetup {
    /// The seats listed by the first valid KeysClosed, in rank order, with their keys; empty
    /// while there is none (no round of the day can run: `RoundContext::validate`).
    pub seats: Vec<Seat>,
    /// Position (in the records given) of the first valid KeysClosed.
    pub keys_closed_at: Option<usize>,
    /// Aggregator-signed KeysClosed that are not the list before them
    /// (`InvalidMarker(position, "KeysClosed")`), or come after the first valid one
    /// (`SecondMarker`); capped at [`MAX_EVIDENCE`](super::round::log::MAX_EVIDENCE).
    pub evidence: Vec<Evidence>,
}

/// The marker's name in [`Evidence`].
const KEYS_CLOSED: &str = "KeysClosed";

/// Replays a region's day records (in log order) into its seats. Announcements are judged as in
/// [`keys_before_close`], against the committee's seats and their identity keys in `directory`;
/// a KeysClosed not signed by `directory.aggregator` is ignored (it proves nothing against
/// anyone). The first aggregator-signed KeysClosed equal to the list before it counts; a seat
/// not in it is absent for the day (announcements after it are never judged). Each signed
/// KeysClosed before it that differs is an invalid marker, each after it (but exact copies) a
/// second one.
pub fn day_seats<'r>(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    committee: &Committee,
    directory: &Directory,
    records: impl IntoIterator<Item = &'r DayRecord>,
) -> DaySetup {
    let scope = DayScope {
        params,
        region,
        day,
        cutoff,
    };
    day_seats_judged(
        &mut KeyJudgements::default(),
        &scope,
        committee,
        directory,
        records,
    )
}

/// [`day_seats`] with the judgements made before.
fn day_seats_judged<'r>(
    judgements: &mut KeyJudgements,
    scope: &DayScope<'_>,
    committee: &Committee,
    directory: &Directory,
    records: impl IntoIterator<Item = &'r DayRecord>,
) -> DaySetup {
    let DayScope {
        region,
        day,
        cutoff,
        ..
    } = *scope;
    let seats: Vec<(String, VerifyingKey)> = committee
        .seats()
        .iter()
        .filter_map(|s| directory.meters.get(s).map(|k| (s.clone(), *k)))
        .collect();
    let mut list = KeyList::default();
    let mut setup = DaySetup::default();
    let mut closed_by: Option<Signature> = None;
    for (pos, r) in records.into_iter().enumerate() {
        match r {
            DayRecord::SeatKey(a) => {
                if closed_by.is_none() {
                    list.judge(judgements, scope, &seats, a);
                }
            }
            DayRecord::KeysClosed(k) => {
                let signed = directory.aggregator.is_some_and(|agg| {
                    agg.verify_strict(
                        &keys_closed_signing_bytes(region, day, cutoff, &k.keys),
                        &k.signature,
                    )
                    .is_ok()
                });
                if !signed || closed_by == Some(k.signature) {
                    continue; // forged, or a copy of the one that counts (a producer's retry)
                }
                if closed_by.is_some() {
                    note(
                        &mut setup.evidence,
                        pos,
                        Evidence::SecondMarker(pos, KEYS_CLOSED),
                    );
                } else if list.equals(&k.keys) {
                    closed_by = Some(k.signature);
                    setup.keys_closed_at = Some(pos);
                } else {
                    note(
                        &mut setup.evidence,
                        pos,
                        Evidence::InvalidMarker(pos, KEYS_CLOSED),
                    );
                }
            }
        }
    }
    if setup.keys_closed_at.is_some() {
        setup.seats = committee
            .seats()
            .iter()
            .zip(1u64..)
            .filter_map(|(meter, rank)| {
                let (_, key, _) = list.keys.iter().find(|(s, _, _)| s == meter)?;
                Some(Seat {
                    meter: meter.clone(),
                    rank,
                    key: key.clone(),
                })
            })
            .collect();
    }
    setup
}

/// [`day_seats`] for the day of `day` (any round of it: its parameters, region, cutoff and
/// committee), as nodes and the audit call it.
pub fn day_seats_of<'r>(
    day: &super::round::RoundContext,
    directory: &Directory,
    records: impl IntoIterator<Item = &'r DayRecord>,
) -> DaySetup {
    KeyJudgements::default().day_seats_of(day, directory, records)
}

/// The registry partition as a reader folds it, in order: certificates admitted, each Cutoff
/// with its position (the certificates before it), and the beacon rounds relayed.
#[derive(Debug, Clone)]
pub struct RegistryLog {
    /// The certificates admitted.
    pub registry: Registry,
    /// Authority Cutoffs with their positions, in order (signed or not; [`day_cutoff`] judges).
    pub cutoffs: Vec<(usize, Cutoff)>,
    /// Beacon rounds relayed, in order.
    pub beacons: Vec<BeaconRound>,
}

/// Why a region takes no part in a day derived from the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    /// No authority-signed Cutoff(D) in the registry yet.
    #[error("no Cutoff for day {0} in the registry")]
    NoCutoff(i64),
    /// The first signed Cutoff(D) is invalid, or a second one differs: day D is refused.
    #[error("day {0} refused: {1}")]
    Refused(i64, &'static str),
    /// The beacon round the Cutoff names is not relayed yet, or no relayed value hashes back to
    /// the anchor.
    #[error("no valid beacon round {0} (day {1})")]
    NoBeacon(u64, i64),
    /// Too few certified meters in the region.
    #[error(transparent)]
    Region(#[from] RegionRefused),
}

/// A region's day as every party derives it from the registry: the roster and identity keys of
/// its certified meters as of the day's Cutoff, and the committee drawn from the beacon round
/// the Cutoff names. Seats get their keys on the round log (`day_seats`).
#[derive(Debug, Clone)]
pub struct RegionDay {
    /// The context of the day's first round (no seat keys yet).
    pub ctx: RoundContext,
    /// The roster's certified identity keys (the aggregator's is the caller's to add).
    pub directory: Directory,
}

impl RegistryLog {
    /// An empty registry trusting `authority`.
    pub fn new(authority: VerifyingKey) -> Self {
        RegistryLog {
            registry: Registry::new(authority),
            cutoffs: Vec::new(),
            beacons: Vec::new(),
        }
    }

    /// Admits the next certificate of the partition.
    pub fn certificate(&mut self, cert: Certificate) -> Result<(), EnrolmentRefused> {
        self.registry.admit(cert)
    }

    /// The next Cutoff of the partition, at the current position.
    pub fn cutoff(&mut self, c: Cutoff) {
        self.cutoffs.push((self.registry.len(), c));
    }

    /// The next beacon round of the partition.
    pub fn beacon(&mut self, b: BeaconRound) {
        self.beacons.push(b);
    }

    /// Day `day` of `region` under `params`, with the beacon checked against `anchor` (the
    /// chain's anchor from the protocol file).
    pub fn region_day(
        &self,
        params: &Params,
        region: &str,
        day: i64,
        authority: &VerifyingKey,
        anchor: &[u8; 32],
    ) -> Result<RegionDay, DayError> {
        let cutoff = match day_cutoff(&self.cutoffs, day, authority, &self.registry) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(DayError::NoCutoff(day)),
            Err(DayRefused::Invalid(_)) => {
                return Err(DayError::Refused(day, "its first signed Cutoff is invalid"));
            }
            Err(DayRefused::Equivocation(..)) => {
                return Err(DayError::Refused(day, "two different signed Cutoffs"));
            }
        };
        let randomness = self
            .beacons
            .iter()
            .filter(|b| b.round == cutoff.beacon_round)
            .find_map(|b| b.output(anchor))
            .ok_or(DayError::NoBeacon(cutoff.beacon_round, day))?;
        let candidates = self.registry.candidates(region, day, cutoff.prefix);
        let roster: Vec<String> = candidates.iter().map(|(m, _)| m.clone()).collect();
        let shape = params.committee_shape(roster.len())?;
        let committee = Committee::draw(&randomness, day, region, &roster, shape.seats);
        let directory = Directory {
            meters: candidates.into_iter().collect(),
            aggregator: None,
        };
        let ctx = RoundContext {
            params: params.clone(),
            region: region.to_string(),
            start: day * DAY_SECONDS,
            committee,
            seats: Vec::new(),
            degree: shape.degree,
            roster,
            cutoff: cutoff.hash(),
            suspended: Default::default(),
            disqualified: Default::default(),
        };
        Ok(RegionDay { ctx, directory })
    }
}
