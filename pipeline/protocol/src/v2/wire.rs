//! Protocol v2 on the wire: conversions between the protocol's types and the Avro messages of
//! `zeal_schemas::v2` (`schemas/avro/{certificate, cutoff, beacon_round, round_record,
//! seat_part}.avsc`).
//!
//! Reading is where hostile input arrives, so [`decode_record`] (and [`keys_closed_from_wire`]
//! for the day's KeysClosed) works in a fixed order:
//! 1. bounds: region and round, every count and every length against the day's parameters,
//!    committee and roster (nothing is parsed yet);
//! 2. the author's signature, over signing bytes computed from the raw fields (a reveal's
//!    commitment is hashed from the encoded points, which are not decoded yet);
//! 3. only then curve and bignum parsing (point decompression, scalars, integers).
//!
//! A record that fails any step is a [`WireError`] naming the field; the connector dead-letters it
//! with that reason. Writing never fails for records the protocol produced.

use super::crypto::paillier::KEY_PROOF_ROOTS;
use super::crypto::vss::{Commitments, OPENING_PROOF_BYTES, OpeningProof, RangeProof};
use super::day::{DayRecord, KeysClosed, SeatKeyAnnouncement, keys_closed_signing_bytes};
use super::encoding::Hash;
use super::enrolment::{BeaconRound, Certificate, Cutoff, MAX_ID_BYTES, Status};
use super::params::{DAY_SECONDS, MAX_MODULUS_BITS, Params};
use super::round::RoundContext;
use super::round::bundle::{BundlePublic, SeatPart, commitment_hash};
use super::round::complaint::{Complainant, Complaint, ComplaintKind};
use super::round::log::{
    Author, Directory, Entry, Record, Verified, notice_signing_bytes, signing_bytes,
};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use rug::Integer;
use rug::integer::Order;
use zeal_schemas::v2 as w;

/// Longest range proof accepted (an aggregated proof of 16 values of 64 bits is 928 bytes).
pub const MAX_RANGE_PROOF_BYTES: usize = 2048;

/// Why a wire message is refused (the dead letter's reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The record belongs to another region or round than the one it is read for.
    #[error("record for {got}, read as {expected}")]
    WrongRound {
        /// `region@round_start_ms` expected.
        expected: String,
        /// `region@round_start_ms` found.
        got: String,
    },
    /// A list longer (or shorter) than the protocol allows.
    #[error("{field}: {got} items, expected {expected}")]
    Count {
        /// The field.
        field: &'static str,
        /// Items found.
        got: usize,
        /// What the day allows (`"≤ n"` or `"n"`).
        expected: String,
    },
    /// A field of the wrong length.
    #[error("{field}: {got} bytes, expected {expected}")]
    Length {
        /// The field.
        field: &'static str,
        /// Bytes found.
        got: usize,
        /// What the protocol allows.
        expected: String,
    },
    /// The author may not write this entry (e.g. a reveal by the aggregator).
    #[error("{0}")]
    Author(String),
    /// The signature does not verify (checked before any curve or bignum work).
    #[error("signature of {0} does not verify")]
    Signature(String),
    /// A field does not parse (a point off the curve, a non-canonical scalar, a negative value).
    #[error("{field}: {detail}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// Why.
        detail: String,
    },
    /// An enum symbol this build does not know (written by a newer schema).
    #[error("unknown {0}")]
    Unknown(&'static str),
}

impl WireError {
    /// A short stable code for metrics and dead letters.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::WrongRound { .. } => "wrong_round",
            WireError::Count { .. } => "count",
            WireError::Length { .. } => "length",
            WireError::Author(_) => "author",
            WireError::Signature(_) => "bad_signature",
            WireError::Malformed { .. } => "malformed",
            WireError::Unknown(_) => "unknown_symbol",
        }
    }
}

fn at_most(field: &'static str, got: usize, max: usize) -> Result<(), WireError> {
    if got > max {
        return Err(WireError::Count {
            field,
            got,
            expected: format!("≤ {max}"),
        });
    }
    Ok(())
}

fn exactly(field: &'static str, got: usize, expected: usize) -> Result<(), WireError> {
    if got != expected {
        return Err(WireError::Count {
            field,
            got,
            expected: expected.to_string(),
        });
    }
    Ok(())
}

fn length(field: &'static str, bytes: &[u8], expected: usize) -> Result<(), WireError> {
    if bytes.len() != expected {
        return Err(WireError::Length {
            field,
            got: bytes.len(),
            expected: expected.to_string(),
        });
    }
    Ok(())
}

fn id(field: &'static str, s: &str) -> Result<(), WireError> {
    if s.is_empty() || s.len() > MAX_ID_BYTES {
        return Err(WireError::Length {
            field,
            got: s.len(),
            expected: format!("1 ..= {MAX_ID_BYTES}"),
        });
    }
    Ok(())
}

fn ids(field: &'static str, list: &[String], max: usize) -> Result<(), WireError> {
    at_most(field, list.len(), max)?;
    list.iter().try_for_each(|m| id(field, m))
}

fn hash(field: &'static str, bytes: &[u8]) -> Result<Hash, WireError> {
    length(field, bytes, 32)?;
    let mut h = [0u8; 32];
    h.copy_from_slice(bytes);
    Ok(Hash(h))
}

fn signature(bytes: &[u8]) -> Result<Signature, WireError> {
    Signature::from_slice(bytes).map_err(|_| WireError::Length {
        field: "signature",
        got: bytes.len(),
        expected: "64".into(),
    })
}

fn scalar(field: &'static str, bytes: &[u8]) -> Result<Scalar, WireError> {
    length(field, bytes, 32)?;
    let mut b = [0u8; 32];
    b.copy_from_slice(bytes);
    Option::from(Scalar::from_canonical_bytes(b)).ok_or(WireError::Malformed {
        field,
        detail: "not a canonical scalar".into(),
    })
}

fn ms(seconds: i64) -> i64 {
    seconds.saturating_mul(1000)
}

fn kind_to_wire(k: ComplaintKind) -> w::ComplaintKind {
    match k {
        ComplaintKind::ShareMismatch => w::ComplaintKind::ShareMismatch,
        ComplaintKind::SlotOutOfRange => w::ComplaintKind::SlotOutOfRange,
        ComplaintKind::FailedPlaintextProof => w::ComplaintKind::FailedPlaintextProof,
        ComplaintKind::MalformedCiphertext => w::ComplaintKind::MalformedCiphertext,
        ComplaintKind::FailedRangeProof => w::ComplaintKind::FailedRangeProof,
    }
}

fn kind_from_wire(k: w::ComplaintKind) -> Result<ComplaintKind, WireError> {
    Ok(match k {
        w::ComplaintKind::ShareMismatch => ComplaintKind::ShareMismatch,
        w::ComplaintKind::SlotOutOfRange => ComplaintKind::SlotOutOfRange,
        w::ComplaintKind::FailedPlaintextProof => ComplaintKind::FailedPlaintextProof,
        w::ComplaintKind::MalformedCiphertext => ComplaintKind::MalformedCiphertext,
        w::ComplaintKind::FailedRangeProof => ComplaintKind::FailedRangeProof,
        w::ComplaintKind::Unknown => return Err(WireError::Unknown("complaint kind")),
    })
}

fn digits(x: &Integer) -> Vec<u8> {
    x.to_digits::<u8>(Order::Msf)
}

/// A record of the region's round log as its Avro message.
pub fn record_to_wire(ctx: &RoundContext, r: &Record) -> w::RoundRecord {
    let entry = match &r.entry {
        Entry::Commit(h) => w::RoundEntry::Commit(w::Commit {
            commitment: h.0.to_vec(),
        }),
        Entry::CommitClosed(list) => w::RoundEntry::CommitClosed(w::CommitClosed {
            meters: list.iter().map(|(m, _)| m.clone()).collect(),
            commitments: list.iter().map(|(_, h)| h.0.to_vec()).collect(),
        }),
        Entry::Objection(h) => w::RoundEntry::Objection(w::Objection {
            commitment: h.0.to_vec(),
        }),
        Entry::Notice(p) => w::RoundEntry::Notice(w::Notice {
            commitments: p
                .commitments
                .iter()
                .map(|c| c.to_bytes().concat())
                .collect(),
            opening_proofs: p
                .opening_proofs
                .iter()
                .map(|o| o.to_bytes().to_vec())
                .collect(),
            range_proof: p.range_proof.to_bytes(),
            part_hashes: p.part_hashes.iter().map(|h| h.0.to_vec()).collect(),
        }),
        Entry::Withdraw => w::RoundEntry::Withdraw(w::Withdraw {}),
        Entry::RevealClosed(list) => w::RoundEntry::RevealClosed(w::RevealClosed {
            meters: list.clone(),
        }),
        Entry::Products { seat, ciphertexts } => w::RoundEntry::Products(w::Products {
            seat: seat.clone(),
            ciphertexts: ciphertexts.clone(),
        }),
        Entry::Complaint(c) => w::RoundEntry::Complaint(w::Complaint {
            sender: c.sender.clone(),
            kind: kind_to_wire(c.kind),
            index: i32::try_from(c.index).unwrap_or(i32::MAX),
            plaintexts: c.openings.iter().map(|(m, _)| digits(m)).collect(),
            randomness: c.openings.iter().map(|(_, rho)| digits(rho)).collect(),
        }),
        Entry::FinalSet(list) => w::RoundEntry::FinalSet(w::FinalSet {
            meters: list.clone(),
        }),
        Entry::Partial { final_set, sums } => w::RoundEntry::Partial(w::Partial {
            final_set: final_set.0.to_vec(),
            f: sums.iter().map(|(f, _)| f.to_bytes().to_vec()).collect(),
            r: sums.iter().map(|(_, r)| r.to_bytes().to_vec()).collect(),
        }),
        Entry::RegionTotal {
            values,
            contributors,
            final_set,
        } => w::RoundEntry::RegionTotal(w::RegionTotal {
            values: values
                .iter()
                .map(|&v| i64::try_from(v).unwrap_or(i64::MAX))
                .collect(),
            contributors: contributors.clone(),
            final_set: final_set.0.to_vec(),
        }),
        Entry::Abandoned => w::RoundEntry::Abandoned(w::Abandoned {}),
        Entry::PartMissing(sender) => w::RoundEntry::PartMissing(w::PartMissing {
            sender: sender.clone(),
        }),
        Entry::PartPosted { sender, seat, part } => w::RoundEntry::PartPosted(w::PartPosted {
            sender: sender.clone(),
            seat: seat.clone(),
            ciphertexts: part.ciphertexts.clone(),
            proofs: part.proofs.clone(),
        }),
    };
    w::RoundRecord {
        region: ctx.region.clone(),
        round_start: ms(ctx.start),
        author: match &r.author {
            Author::Meter(m) => Some(m.clone()),
            Author::Aggregator => None,
        },
        entry,
        signature: r.signature.to_bytes().to_vec(),
    }
}

/// A message of `region` @ `round_start` (ms) where `expected_region` @ `expected_start` was due.
fn wrong_round(
    expected_region: &str,
    expected_start: i64,
    region: &str,
    round_start: i64,
) -> WireError {
    WireError::WrongRound {
        expected: format!("{expected_region}@{expected_start}"),
        got: format!("{region}@{round_start}"),
    }
}

/// Step 1 of [`decode_record`]: every count and length, before anything is parsed.
fn check_bounds(ctx: &RoundContext, r: &w::RoundRecord) -> Result<(), WireError> {
    if r.region != ctx.region || r.round_start != ms(ctx.start) {
        return Err(wrong_round(
            &ctx.region,
            ms(ctx.start),
            &r.region,
            r.round_start,
        ));
    }
    if let Some(a) = &r.author {
        id("author", a)?;
    }
    length("signature", &r.signature, 64)?;
    let roster = ctx.roster.len();
    let values = ctx.params.values_per_round();
    let per_seat = ctx.params.ciphertexts_per_seat();
    let meter_only = |what: &str| match &r.author {
        Some(_) => Ok(()),
        None => Err(WireError::Author(format!("{what} by the aggregator"))),
    };
    let aggregator_only = |what: &str| match &r.author {
        None => Ok(()),
        Some(m) => Err(WireError::Author(format!("{what} by meter {m}"))),
    };
    match &r.entry {
        w::RoundEntry::SeatKey(_) => {
            return Err(WireError::Author(
                "a seat key is a day record: read it with seat_key_from_wire".into(),
            ));
        }
        w::RoundEntry::KeysClosed(_) => {
            return Err(WireError::Author(
                "KeysClosed is a day record: read it with keys_closed_from_wire".into(),
            ));
        }
        w::RoundEntry::Commit(c) => {
            meter_only("a commitment")?;
            length("commitment", &c.commitment, 32)?;
        }
        w::RoundEntry::Objection(c) => {
            meter_only("an objection")?;
            length("commitment", &c.commitment, 32)?;
        }
        w::RoundEntry::CommitClosed(c) => {
            aggregator_only("CommitClosed")?;
            ids("meters", &c.meters, roster)?;
            exactly("commitments", c.commitments.len(), c.meters.len())?;
            c.commitments
                .iter()
                .try_for_each(|h| length("commitments", h, 32))?;
        }
        w::RoundEntry::Notice(n) => {
            meter_only("a reveal")?;
            exactly("commitments", n.commitments.len(), values)?;
            let width = 32 * (ctx.degree + 1);
            n.commitments
                .iter()
                .try_for_each(|c| length("commitments", c, width))?;
            exactly("opening_proofs", n.opening_proofs.len(), values)?;
            n.opening_proofs
                .iter()
                .try_for_each(|p| length("opening_proofs", p, OPENING_PROOF_BYTES))?;
            if n.range_proof.len() > MAX_RANGE_PROOF_BYTES {
                return Err(WireError::Length {
                    field: "range_proof",
                    got: n.range_proof.len(),
                    expected: format!("≤ {MAX_RANGE_PROOF_BYTES}"),
                });
            }
            exactly("part_hashes", n.part_hashes.len(), ctx.seats.len())?;
            n.part_hashes
                .iter()
                .try_for_each(|h| length("part_hashes", h, 32))?;
        }
        w::RoundEntry::Withdraw(_) => meter_only("a withdrawal")?,
        w::RoundEntry::RevealClosed(l) => {
            aggregator_only("RevealClosed")?;
            ids("meters", &l.meters, roster)?;
        }
        w::RoundEntry::FinalSet(l) => {
            aggregator_only("FinalSet")?;
            ids("meters", &l.meters, roster)?;
        }
        w::RoundEntry::Products(p) => {
            aggregator_only("products")?;
            let Some(seat) = ctx.seats.iter().find(|s| s.meter == p.seat) else {
                return Err(WireError::Author(format!(
                    "products for {}, not a seat",
                    p.seat
                )));
            };
            exactly("ciphertexts", p.ciphertexts.len(), per_seat)?;
            let width = seat.key.ciphertext_len();
            p.ciphertexts
                .iter()
                .try_for_each(|c| length("ciphertexts", c, width))?;
        }
        w::RoundEntry::Complaint(c) => {
            id("sender", &c.sender)?;
            let index = usize::try_from(c.index).map_err(|_| WireError::Malformed {
                field: "index",
                detail: "negative".into(),
            })?;
            at_most("index", index, per_seat.saturating_sub(1))?;
            exactly("randomness", c.randomness.len(), c.plaintexts.len())?;
            match &r.author {
                // The aggregator files range-proof complaints only, with no openings.
                None => exactly("plaintexts", c.plaintexts.len(), 0)?,
                Some(seat) => {
                    let Some(s) = ctx.seats.iter().find(|s| &s.meter == seat) else {
                        return Err(WireError::Author(format!(
                            "complaint by {seat}, not a seat"
                        )));
                    };
                    at_most("plaintexts", c.plaintexts.len(), per_seat)?;
                    let width = s.key.ciphertext_len() / 2;
                    for x in c.plaintexts.iter().chain(&c.randomness) {
                        if x.len() > width {
                            return Err(WireError::Length {
                                field: "openings",
                                got: x.len(),
                                expected: format!("≤ {width}"),
                            });
                        }
                    }
                }
            }
        }
        w::RoundEntry::Partial(p) => {
            meter_only("a partial")?;
            length("final_set", &p.final_set, 32)?;
            exactly("f", p.f.len(), values)?;
            exactly("r", p.r.len(), values)?;
        }
        w::RoundEntry::RegionTotal(t) => {
            aggregator_only("RegionTotal")?;
            exactly("values", t.values.len(), values)?;
            ids("contributors", &t.contributors, ctx.seats.len())?;
            length("final_set", &t.final_set, 32)?;
        }
        w::RoundEntry::Abandoned(_) => aggregator_only("ABANDONED")?,
        w::RoundEntry::PartMissing(c) => {
            match &r.author {
                Some(seat) if ctx.seat(seat).is_some() => {}
                Some(m) => {
                    return Err(WireError::Author(format!("PartMissing by {m}, not a seat")));
                }
                None => return Err(WireError::Author("PartMissing by the aggregator".into())),
            }
            id("sender", &c.sender)?;
        }
        w::RoundEntry::PartPosted(p) => {
            if let Some(m) = &r.author
                && *m != p.sender
            {
                return Err(WireError::Author(format!(
                    "part of {} posted by {m}",
                    p.sender
                )));
            }
            id("sender", &p.sender)?;
            part_bounds(ctx, &p.seat, &p.ciphertexts, &p.proofs)?;
        }
    }
    Ok(())
}

/// Reads a round-log record for `ctx`: bounds, then the author's signature against `directory`,
/// then parsing (module docs). The result replays exactly as the record its author signed.
pub fn decode_record(
    ctx: &RoundContext,
    directory: &Directory,
    r: &w::RoundRecord,
) -> Result<Record, WireError> {
    decode_verified(ctx, directory, r).map(Verified::into_record)
}

/// [`decode_record`], keeping the proof that the signature verified: a replay of verified
/// records ([`super::round::log::Replay::advance_verified`]) checks no signature again.
pub fn decode_verified(
    ctx: &RoundContext,
    directory: &Directory,
    r: &w::RoundRecord,
) -> Result<Verified, WireError> {
    check_bounds(ctx, r)?;
    let author = match &r.author {
        Some(m) => Author::Meter(m.clone()),
        None => Author::Aggregator,
    };
    let who = r.author.as_deref().unwrap_or("the aggregator").to_string();
    let key = match &author {
        Author::Meter(m) => directory.meters.get(m),
        Author::Aggregator => directory.aggregator.as_ref(),
    }
    .ok_or_else(|| WireError::Author(format!("{who} holds no certified key this day")))?;
    let sig = signature(&r.signature)?;
    let verify = |bytes: &[u8]| {
        key.verify_strict(bytes, &sig)
            .map_err(|_| WireError::Signature(who.clone()))
    };

    if let w::RoundEntry::Notice(n) = &r.entry {
        // Signature over the commitment hashed from the encoded fields; no point decoded yet.
        let sender = r.author.as_deref().unwrap_or_default();
        let points: Vec<[u8; 32]> = n
            .commitments
            .iter()
            .flat_map(|c| c.chunks_exact(32))
            .map(|c| c.try_into().expect("chunks of 32"))
            .collect();
        let part_hashes = n
            .part_hashes
            .iter()
            .map(|h| hash("part_hashes", h))
            .collect::<Result<Vec<_>, _>>()?;
        let commitment = commitment_hash(
            ctx,
            sender,
            &points,
            n.opening_proofs.iter().map(Vec::as_slice),
            &n.range_proof,
            &part_hashes,
        );
        verify(&notice_signing_bytes(ctx, sender, &commitment))?;
        let commitments = points
            .chunks_exact(ctx.degree + 1)
            .map(|c| Commitments::from_bytes(c, ctx.degree))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WireError::Malformed {
                field: "commitments",
                detail: e.to_string(),
            })?;
        let opening_proofs = n
            .opening_proofs
            .iter()
            .map(|p| OpeningProof::from_bytes(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WireError::Malformed {
                field: "opening_proofs",
                detail: e.to_string(),
            })?;
        let range_proof =
            RangeProof::from_bytes(&n.range_proof).map_err(|e| WireError::Malformed {
                field: "range_proof",
                detail: e.to_string(),
            })?;
        let entry = Entry::Notice(Box::new(BundlePublic {
            sender: sender.to_string(),
            commitments,
            opening_proofs,
            range_proof,
            part_hashes,
        }));
        return Ok(Verified::checked(
            Record {
                author,
                entry,
                signature: sig,
            },
            Some(commitment),
        ));
    }

    // Every other entry parses without curve or bignum work beyond canonical-scalar checks and
    // integers of bounded width, so it is parsed first and its signing bytes computed from it.
    let entry = match &r.entry {
        w::RoundEntry::SeatKey(_) | w::RoundEntry::KeysClosed(_) | w::RoundEntry::Notice(_) => {
            unreachable!("handled above")
        }
        w::RoundEntry::Commit(c) => Entry::Commit(hash("commitment", &c.commitment)?),
        w::RoundEntry::Objection(c) => Entry::Objection(hash("commitment", &c.commitment)?),
        w::RoundEntry::CommitClosed(c) => Entry::CommitClosed(
            c.meters
                .iter()
                .zip(&c.commitments)
                .map(|(m, h)| Ok((m.clone(), hash("commitments", h)?)))
                .collect::<Result<Vec<_>, WireError>>()?,
        ),
        w::RoundEntry::Withdraw(_) => Entry::Withdraw,
        w::RoundEntry::RevealClosed(l) => Entry::RevealClosed(l.meters.clone()),
        w::RoundEntry::FinalSet(l) => Entry::FinalSet(l.meters.clone()),
        w::RoundEntry::Products(p) => Entry::Products {
            seat: p.seat.clone(),
            ciphertexts: p.ciphertexts.clone(),
        },
        w::RoundEntry::Complaint(c) => Entry::Complaint(Complaint {
            complainant: match &r.author {
                Some(s) => Complainant::Seat(s.clone()),
                None => Complainant::Aggregator,
            },
            sender: c.sender.clone(),
            kind: kind_from_wire(c.kind)?,
            index: c.index as usize,
            openings: c
                .plaintexts
                .iter()
                .zip(&c.randomness)
                .map(|(m, rho)| {
                    (
                        Integer::from_digits(m, Order::Msf),
                        Integer::from_digits(rho, Order::Msf),
                    )
                })
                .collect(),
        }),
        w::RoundEntry::Partial(p) => Entry::Partial {
            final_set: hash("final_set", &p.final_set)?,
            sums: p
                .f
                .iter()
                .zip(&p.r)
                .map(|(f, r)| Ok((scalar("f", f)?, scalar("r", r)?)))
                .collect::<Result<Vec<_>, WireError>>()?,
        },
        w::RoundEntry::RegionTotal(t) => Entry::RegionTotal {
            values: t
                .values
                .iter()
                .map(|&v| {
                    u64::try_from(v).map_err(|_| WireError::Malformed {
                        field: "values",
                        detail: format!("{v} is negative"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            contributors: t.contributors.clone(),
            final_set: hash("final_set", &t.final_set)?,
        },
        w::RoundEntry::Abandoned(_) => Entry::Abandoned,
        w::RoundEntry::PartMissing(c) => Entry::PartMissing(c.sender.clone()),
        w::RoundEntry::PartPosted(p) => Entry::PartPosted {
            sender: p.sender.clone(),
            seat: p.seat.clone(),
            part: SeatPart {
                ciphertexts: p.ciphertexts.clone(),
                proofs: p.proofs.clone(),
            },
        },
    };
    verify(&signing_bytes(ctx, &author, &entry))?;
    Ok(Verified::checked(
        Record {
            author,
            entry,
            signature: sig,
        },
        None,
    ))
}

/// A seat's daily key as a round-log record (`round_start` = the day's start, author = the seat).
pub fn seat_key_to_wire(region: &str, day: i64, a: &SeatKeyAnnouncement) -> w::RoundRecord {
    w::RoundRecord {
        region: region.into(),
        round_start: day_ms(day),
        author: Some(a.seat.clone()),
        entry: w::RoundEntry::SeatKey(w::SeatKey {
            modulus: a.modulus.clone(),
            proof: a.proof.clone(),
        }),
        signature: a.signature.to_bytes().to_vec(),
    }
}

/// Reads a seat key record as `(region, day, announcement)`; the announcement's checks (seat,
/// exact sizes, signature, key proof) are [`super::day::accept_key`]'s. A modulus or proof larger
/// than any protocol file allows ([`MAX_MODULUS_BITS`]) is refused here, before it is copied.
pub fn seat_key_from_wire(
    r: &w::RoundRecord,
) -> Result<(String, i64, SeatKeyAnnouncement), WireError> {
    let w::RoundEntry::SeatKey(k) = &r.entry else {
        return Err(WireError::Author("not a seat key".into()));
    };
    let Some(seat) = &r.author else {
        return Err(WireError::Author("a seat key by the aggregator".into()));
    };
    id("author", seat)?;
    id("region", &r.region)?;
    let max = MAX_MODULUS_BITS as usize / 8;
    for (field, got, most) in [
        ("modulus", k.modulus.len(), max),
        ("proof", k.proof.len(), KEY_PROOF_ROOTS * max),
    ] {
        if got > most {
            return Err(WireError::Length {
                field,
                got,
                expected: format!("≤ {most}"),
            });
        }
    }
    let day_ms = DAY_SECONDS * 1000;
    if r.round_start.rem_euclid(day_ms) != 0 {
        return Err(WireError::Malformed {
            field: "round_start",
            detail: "a seat key's round_start is its day's start".into(),
        });
    }
    Ok((
        r.region.clone(),
        r.round_start.div_euclid(day_ms),
        SeatKeyAnnouncement {
            seat: seat.clone(),
            modulus: k.modulus.clone(),
            proof: k.proof.clone(),
            signature: signature(&r.signature)?,
        },
    ))
}

/// The day's start in milliseconds: a day record's `round_start`.
fn day_ms(day: i64) -> i64 {
    ms(day.saturating_mul(DAY_SECONDS))
}

/// A day record `r` that is not of `region`'s `day`.
fn wrong_day(region: &str, day: i64, r: &w::RoundRecord) -> WireError {
    wrong_round(region, day_ms(day), &r.region, r.round_start)
}

/// The aggregator's KeysClosed as a round-log record (`round_start` = the day's start, author
/// null).
pub fn keys_closed_to_wire(region: &str, day: i64, k: &KeysClosed) -> w::RoundRecord {
    w::RoundRecord {
        region: region.into(),
        round_start: day_ms(day),
        author: None,
        entry: w::RoundEntry::KeysClosed(w::KeysClosed {
            seats: k.keys.iter().map(|(s, _)| s.clone()).collect(),
            key_hashes: k.keys.iter().map(|(_, h)| h.0.to_vec()).collect(),
        }),
        signature: k.signature.to_bytes().to_vec(),
    }
}

/// Reads the aggregator's KeysClosed of `region`'s `day`, in the order of [`decode_record`]:
/// (1) region and day, author, at most `committee_size` seats of bounded id length, one 32-byte
/// key hash each, a 64-byte signature; (2) the aggregator's signature (strict) over
/// [`keys_closed_signing_bytes`] of the raw fields. There is nothing costly left to parse; whether
/// the list is *valid* (equal to the keys before it) is [`super::day::day_seats`]'s to judge.
pub fn keys_closed_from_wire(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    aggregator: &VerifyingKey,
    r: &w::RoundRecord,
) -> Result<KeysClosed, WireError> {
    let w::RoundEntry::KeysClosed(k) = &r.entry else {
        return Err(WireError::Author("not a KeysClosed".into()));
    };
    if r.region != region || r.round_start != day_ms(day) {
        return Err(wrong_day(region, day, r));
    }
    if let Some(m) = &r.author {
        return Err(WireError::Author(format!("KeysClosed by meter {m}")));
    }
    length("signature", &r.signature, 64)?;
    ids("seats", &k.seats, params.committee_size)?;
    exactly("key_hashes", k.key_hashes.len(), k.seats.len())?;
    let keys = k
        .seats
        .iter()
        .zip(&k.key_hashes)
        .map(|(s, h)| Ok((s.clone(), hash("key_hashes", h)?)))
        .collect::<Result<Vec<_>, WireError>>()?;
    let sig = signature(&r.signature)?;
    aggregator
        .verify_strict(&keys_closed_signing_bytes(region, day, cutoff, &keys), &sig)
        .map_err(|_| WireError::Signature("the aggregator".into()))?;
    Ok(KeysClosed {
        keys,
        signature: sig,
    })
}

/// Reads one record of `region`'s `day` for [`super::day::day_seats`]: a seat key (shape only:
/// `day_seats` judges it as `accept_key` does) or the aggregator's KeysClosed
/// ([`keys_closed_from_wire`]). Round records are [`decode_record`]'s.
pub fn day_record_from_wire(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    aggregator: &VerifyingKey,
    r: &w::RoundRecord,
) -> Result<DayRecord, WireError> {
    match &r.entry {
        w::RoundEntry::SeatKey(_) => {
            let (read_region, read_day, a) = seat_key_from_wire(r)?;
            if read_region != region || read_day != day {
                return Err(wrong_day(region, day, r));
            }
            Ok(DayRecord::SeatKey(a))
        }
        w::RoundEntry::KeysClosed(_) => Ok(DayRecord::KeysClosed(keys_closed_from_wire(
            params, region, day, cutoff, aggregator, r,
        )?)),
        _ => Err(WireError::Author(
            "a round record: read it with decode_record".into(),
        )),
    }
}

/// A sender's part for one seat, for the bundles topic.
pub fn part_to_wire(ctx: &RoundContext, sender: &str, seat: &str, p: &SeatPart) -> w::SeatPart {
    w::SeatPart {
        region: ctx.region.clone(),
        round_start: ms(ctx.start),
        sender: sender.into(),
        seat: seat.into(),
        ciphertexts: p.ciphertexts.clone(),
        proofs: p.proofs.clone(),
    }
}

/// Reads a part from the bundles topic: region, round and shape; its content is bound by the
/// part hash in the sender's reveal, which the reader checks (`round::bundle::part_hash`).
pub fn part_from_wire(ctx: &RoundContext, p: &w::SeatPart) -> Result<SeatPart, WireError> {
    if p.region != ctx.region || p.round_start != ms(ctx.start) {
        return Err(wrong_round(
            &ctx.region,
            ms(ctx.start),
            &p.region,
            p.round_start,
        ));
    }
    id("sender", &p.sender)?;
    part_bounds(ctx, &p.seat, &p.ciphertexts, &p.proofs)?;
    Ok(SeatPart {
        ciphertexts: p.ciphertexts.clone(),
        proofs: p.proofs.clone(),
    })
}

/// A part's seat and shape, on the bundles topic or posted on the round log: the seat holds a key
/// this day, one ciphertext of the exact width and one proof of bounded length per slot group.
fn part_bounds(
    ctx: &RoundContext,
    seat: &str,
    ciphertexts: &[Vec<u8>],
    proofs: &[Vec<u8>],
) -> Result<(), WireError> {
    let Some(seat) = ctx.seat(seat) else {
        return Err(WireError::Author(format!("part for {seat}, not a seat")));
    };
    let per_seat = ctx.params.ciphertexts_per_seat();
    exactly("ciphertexts", ciphertexts.len(), per_seat)?;
    exactly("proofs", proofs.len(), per_seat)?;
    let width = seat.key.ciphertext_len();
    ciphertexts
        .iter()
        .try_for_each(|c| length("ciphertexts", c, width))?;
    // A plaintext proof is a commitment mod n² and two responses below n²·2^(λ+…): bounded by
    // three ciphertext widths.
    for proof in proofs {
        if proof.len() > 3 * width {
            return Err(WireError::Length {
                field: "proofs",
                got: proof.len(),
                expected: format!("≤ {}", 3 * width),
            });
        }
    }
    Ok(())
}

/// A certificate as its registry message.
pub fn certificate_to_wire(c: &Certificate) -> w::Certificate {
    w::Certificate {
        meter_id: c.meter.clone(),
        region: c.region.clone(),
        identity_key: c.identity.to_vec(),
        valid_from: ms(c.valid_from),
        status: match c.status {
            Status::Active => w::CertificateStatus::Active,
            Status::Retired => w::CertificateStatus::Retired,
        },
        signature: c.signature.to_bytes().to_vec(),
    }
}

/// Reads a certificate (shape only: the registry checks the authority's signature).
pub fn certificate_from_wire(c: &w::Certificate) -> Result<Certificate, WireError> {
    id("meter_id", &c.meter_id)?;
    id("region", &c.region)?;
    length("identity_key", &c.identity_key, 32)?;
    if c.valid_from.rem_euclid(1000) != 0 {
        return Err(WireError::Malformed {
            field: "valid_from",
            detail: "not a whole second".into(),
        });
    }
    let mut identity = [0u8; 32];
    identity.copy_from_slice(&c.identity_key);
    Ok(Certificate {
        meter: c.meter_id.clone(),
        region: c.region.clone(),
        identity,
        valid_from: c.valid_from.div_euclid(1000),
        status: match c.status {
            w::CertificateStatus::Active => Status::Active,
            w::CertificateStatus::Retired => Status::Retired,
            w::CertificateStatus::Unknown => return Err(WireError::Unknown("certificate status")),
        },
        signature: signature(&c.signature)?,
    })
}

/// A cutoff as its registry message.
pub fn cutoff_to_wire(c: &Cutoff) -> w::Cutoff {
    w::Cutoff {
        day: c.day,
        prefix: i64::try_from(c.prefix).unwrap_or(i64::MAX),
        prefix_hash: c.prefix_hash.0.to_vec(),
        beacon_round: i64::try_from(c.beacon_round).unwrap_or(i64::MAX),
        signature: c.signature.to_bytes().to_vec(),
    }
}

/// Reads a cutoff (shape only: `enrolment::day_cutoff` judges it).
pub fn cutoff_from_wire(c: &w::Cutoff) -> Result<Cutoff, WireError> {
    let non_negative = |field: &'static str, v: i64| {
        u64::try_from(v).map_err(|_| WireError::Malformed {
            field,
            detail: format!("{v} is negative"),
        })
    };
    Ok(Cutoff {
        day: c.day,
        prefix: non_negative("prefix", c.prefix)? as usize,
        prefix_hash: hash("prefix_hash", &c.prefix_hash)?,
        beacon_round: non_negative("beacon_round", c.beacon_round)?,
        signature: signature(&c.signature)?,
    })
}

/// A beacon output as its registry message.
pub fn beacon_to_wire(b: &BeaconRound) -> w::BeaconRound {
    w::BeaconRound {
        round: i64::try_from(b.round).unwrap_or(i64::MAX),
        value: b.value.to_vec(),
    }
}

/// Reads a beacon output (shape only: it is checked against the beacon's anchor).
pub fn beacon_from_wire(b: &w::BeaconRound) -> Result<BeaconRound, WireError> {
    Ok(BeaconRound {
        round: u64::try_from(b.round).map_err(|_| WireError::Malformed {
            field: "round",
            detail: "negative".into(),
        })?,
        value: hash("value", &b.value)?.0,
    })
}
