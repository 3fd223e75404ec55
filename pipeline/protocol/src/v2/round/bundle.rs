//! A meter's bundle (DESIGN §4, "Shares" and "Commit"): per value a degree-d Pedersen dealing,
//! the commitments to its coefficients, a proof of knowledge of C_0's opening bound to
//! (region, round, cutoff, sender, value), one aggregated range proof; per seat a part of slot-packed
//! shares encrypted under the seat's daily key, each ciphertext with a plaintext proof bound to
//! (round, sender, seat, index). The bundle hash commits to all of it, each part hashed apart, so a
//! seat fetches only the public part and its own part.

use super::RoundContext;
use crate::v2::crypto::paillier::PlaintextProof;
use crate::v2::crypto::range_batch::{RangeItem, verify_range_items};
use crate::v2::crypto::vss::{Commitments, Dealing, OpeningProof, RangeProof, verify_openings};
use crate::v2::encoding::{Hash, Kind};
use curve25519_dalek::scalar::Scalar;
use rand::{CryptoRng, RngCore};
use rug::Integer;

/// The public part of a bundle: what the reveal notice carries and every verifier checks.
#[derive(Debug, Clone)]
pub struct BundlePublic {
    /// The meter.
    pub sender: String,
    /// Per value, the Pedersen commitments C_0..C_d.
    pub commitments: Vec<Commitments>,
    /// Per value, the proof of knowledge of C_0's opening.
    pub opening_proofs: Vec<OpeningProof>,
    /// Range proof that every C_0 commits to a value in [0, 2^b).
    pub range_proof: RangeProof,
    /// H(part_j) per seat, in the order of the day's seats.
    pub part_hashes: Vec<Hash>,
}

/// One seat's encrypted part: the ciphertexts of its slot-packed shares and their plaintext
/// proofs, as bytes (a malformed ciphertext is itself evidence for a complaint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPart {
    /// Ciphertexts, each the width of n².
    pub ciphertexts: Vec<Vec<u8>>,
    /// Plaintext proofs, one per ciphertext.
    pub proofs: Vec<Vec<u8>>,
}

/// A meter's whole bundle: the public part and one part per seat (same order as the seats).
#[derive(Debug, Clone)]
pub struct Bundle {
    /// What the notice carries.
    pub public: BundlePublic,
    /// What goes to each seat on the bundles topic.
    pub parts: Vec<SeatPart>,
}

/// Why a bundle's public part is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleFault {
    /// The sender is not on the round's roster.
    #[error("sender is not on the roster")]
    NotOnRoster,
    /// Wrong number of values, coefficients or part hashes.
    #[error("wrong shape: {0}")]
    Shape(&'static str),
    /// A proof of knowledge of an opening does not verify for this round and sender.
    #[error("proof of knowledge of value {0}'s opening does not verify")]
    OpeningProof(usize),
    /// The range proof does not verify.
    #[error("range proof does not verify")]
    RangeProof,
    /// A value outside [0, 2^b) (meter side).
    #[error("value {0} outside [0, 2^b)")]
    ValueOutOfRange(u64),
    /// The bundle does not match the meter's commitment.
    #[error("bundle does not match the commitment")]
    CommitmentMismatch,
}

/// Context of value `v`'s opening proof.
pub fn opening_context(ctx: &RoundContext, sender: &str, v: usize) -> Vec<u8> {
    ctx.transcript(Kind::OpeningProof)
        .str(sender)
        .u64(v as u64)
        .as_bytes()
        .to_vec()
}

/// Context of a bundle's range proof.
pub fn range_context(ctx: &RoundContext, sender: &str) -> Vec<u8> {
    ctx.transcript(Kind::RangeProof)
        .str(sender)
        .as_bytes()
        .to_vec()
}

/// Context of the plaintext proof of ciphertext `index` from `sender` to `seat`.
pub fn plaintext_context(ctx: &RoundContext, sender: &str, seat: &str, index: usize) -> Vec<u8> {
    ctx.transcript(Kind::PlaintextProof)
        .str(sender)
        .str(seat)
        .u64(index as u64)
        .as_bytes()
        .to_vec()
}

/// H(part) for the part from `sender` to `seat`.
pub fn part_hash(ctx: &RoundContext, sender: &str, seat: &str, part: &SeatPart) -> Hash {
    ctx.transcript(Kind::Commit)
        .str("part")
        .str(sender)
        .str(seat)
        .list(part.ciphertexts.iter().map(Vec::as_slice))
        .list(part.proofs.iter().map(Vec::as_slice))
        .hash()
}

/// H(binding ‖ sender ‖ commitments ‖ proofs ‖ range proof ‖ H(part_1) ‖ … ‖ H(part_k)), from
/// the encoded fields: the wire reader checks a reveal's signature with it before decoding any
/// point.
pub fn commitment_hash<'a>(
    ctx: &RoundContext,
    sender: &str,
    points: &[[u8; 32]],
    opening_proofs: impl Iterator<Item = &'a [u8]>,
    range_proof: &[u8],
    part_hashes: &[Hash],
) -> Hash {
    ctx.transcript(Kind::Commit)
        .str(sender)
        .list(points.iter().map(|p| p.as_slice()))
        .list(opening_proofs)
        .field(range_proof)
        .list(part_hashes.iter().map(|h| h.0.as_slice()))
        .hash()
}

impl BundlePublic {
    /// The commitment a meter posts before anything is revealed ([`commitment_hash`]).
    pub fn commitment(&self, ctx: &RoundContext) -> Hash {
        let points: Vec<[u8; 32]> = self.commitments.iter().flat_map(|c| c.to_bytes()).collect();
        let proofs: Vec<Vec<u8>> = self
            .opening_proofs
            .iter()
            .map(|p| p.to_bytes().to_vec())
            .collect();
        commitment_hash(
            ctx,
            &self.sender,
            &points,
            proofs.iter().map(Vec::as_slice),
            &self.range_proof.to_bytes(),
            &self.part_hashes,
        )
    }

    /// The checks of a reveal that every party runs (points already decoded when parsed): shape,
    /// roster, and the proofs of knowledge of the openings. Range proofs are separate
    /// ([`BundlePublic::verify_range`]): the aggregator and the audit check them, seats do not.
    pub fn verify(&self, ctx: &RoundContext) -> Result<(), BundleFault> {
        if !ctx.on_roster(&self.sender) {
            return Err(BundleFault::NotOnRoster);
        }
        let values = ctx.params.values_per_round();
        if self.commitments.len() != values || self.opening_proofs.len() != values {
            return Err(BundleFault::Shape(
                "one commitment vector and one proof per value",
            ));
        }
        if self.commitments.iter().any(|c| c.degree() != ctx.degree) {
            return Err(BundleFault::Shape("d + 1 commitments per value"));
        }
        if self.part_hashes.len() != ctx.seats.len() {
            return Err(BundleFault::Shape("one part hash per seat"));
        }
        // One multiscalar multiplication for all of them; one by one only to name a bad one.
        let contexts: Vec<Vec<u8>> = (0..values)
            .map(|v| opening_context(ctx, &self.sender, v))
            .collect();
        let c0: Vec<_> = self
            .commitments
            .iter()
            .map(|c| (c.c0(), c.c0_compressed()))
            .collect();
        let items: Vec<_> = c0
            .iter()
            .zip(&self.opening_proofs)
            .zip(&contexts)
            .map(|(((c, cb), p), x)| (c, cb, p, x.as_slice()))
            .collect();
        if !verify_openings(&items) {
            let bad = items
                .iter()
                .position(|(c, _, p, x)| !p.verify(c, x))
                .unwrap_or(0);
            return Err(BundleFault::OpeningProof(bad));
        }
        Ok(())
    }

    /// The range proof over every C_0.
    pub fn verify_range(&self, ctx: &RoundContext) -> Result<(), BundleFault> {
        let c0: Vec<_> = self.commitments.iter().map(|c| c.c0().compress()).collect();
        self.range_proof
            .verify_range(
                &c0,
                ctx.params.value_bits as usize,
                &range_context(ctx, &self.sender),
            )
            .map_err(|_| BundleFault::RangeProof)
    }
}

/// The range proofs of many reveals at once: entry `i` is `publics[i].verify_range(ctx).is_ok()`,
/// decided by one batched check ([`verify_range_items`]), one by one only to name failures.
pub fn verify_ranges(ctx: &RoundContext, publics: &[&BundlePublic]) -> Vec<bool> {
    let contexts: Vec<Vec<u8>> = publics
        .iter()
        .map(|p| range_context(ctx, &p.sender))
        .collect();
    let items: Vec<RangeItem<'_>> = publics
        .iter()
        .zip(&contexts)
        .map(|(p, c)| RangeItem::from_vss(&p.range_proof, &p.commitments, c))
        .collect();
    verify_range_items(&items, ctx.params.value_bits as usize)
}

/// A fault a gateway drill injects while dealing (tests of attribution; never used by honest
/// gateways, which call [`make_bundle`]).
pub enum Tamper<'a> {
    /// Change a value after the bound check (the range proof then fails).
    Value {
        /// The value's index.
        value: usize,
        /// The value.
        v: &'a mut u64,
    },
    /// Change the share pair (f(j), r(j)) of one value for one seat before packing.
    Share {
        /// Seat index.
        seat: usize,
        /// Value index.
        value: usize,
        /// The share pair.
        share: &'a mut (Scalar, Scalar),
    },
    /// Change a packed plaintext before encryption.
    Plaintext {
        /// Seat index.
        seat: usize,
        /// Plaintext index.
        index: usize,
        /// The plaintext.
        plaintext: &'a mut Integer,
    },
}

/// Deals a meter's values for the round's seats: the bundle to commit to now and reveal later.
pub fn make_bundle<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    sender: &str,
    values: &[u64],
    rng: &mut R,
) -> Result<Bundle, BundleFault> {
    make_bundle_with(ctx, sender, values, &mut |_| {}, rng)
}

/// [`make_bundle`] with a fault drill applied at each step.
pub fn make_bundle_with<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    sender: &str,
    values: &[u64],
    tamper: &mut dyn FnMut(Tamper<'_>),
    rng: &mut R,
) -> Result<Bundle, BundleFault> {
    let params = &ctx.params;
    if values.len() != params.values_per_round() {
        return Err(BundleFault::Shape("one value per channel and interval"));
    }
    if let Some(&v) = values
        .iter()
        .find(|&&v| params.value_bits < 64 && v >> params.value_bits != 0)
    {
        return Err(BundleFault::ValueOutOfRange(v));
    }
    let mut values = values.to_vec();
    for (value, v) in values.iter_mut().enumerate() {
        tamper(Tamper::Value { value, v });
    }
    let dealings: Vec<Dealing> = values
        .iter()
        .map(|&v| Dealing::new(v, ctx.degree, rng))
        .collect();
    let commitments: Vec<Commitments> = dealings.iter().map(Dealing::commitments).collect();
    let opening_proofs = dealings
        .iter()
        .zip(&commitments)
        .enumerate()
        .map(|(v, (d, c))| {
            OpeningProof::prove(
                &c.c0(),
                &Scalar::from(values[v]),
                &d.value_blinding(),
                &opening_context(ctx, sender, v),
                rng,
            )
        })
        .collect();
    let blindings: Vec<_> = dealings.iter().map(Dealing::value_blinding).collect();
    let bits = params.value_bits as usize;
    let range_context = range_context(ctx, sender);
    let range_proof = match RangeProof::prove_range(&values, &blindings, bits, &range_context, rng)
    {
        Ok(p) => p,
        // Only a drill gets here (values were checked): it ships a proof of other values.
        Err(_) => RangeProof::prove_range(
            &vec![0; values.len()],
            &blindings,
            bits,
            &range_context,
            rng,
        )
        .map_err(|_| BundleFault::ValueOutOfRange(values[0]))?,
    };
    let layout = ctx.layout();
    let mut parts = Vec::with_capacity(ctx.seats.len());
    for (seat_index, seat) in ctx.seats.iter().enumerate() {
        let mut shares: Vec<_> = dealings.iter().map(|d| d.share(seat.rank)).collect();
        for (value, share) in shares.iter_mut().enumerate() {
            tamper(Tamper::Share {
                seat: seat_index,
                value,
                share,
            });
        }
        let mut plaintexts = layout.pack(&shares, rng);
        let mut part = SeatPart {
            ciphertexts: Vec::new(),
            proofs: Vec::new(),
        };
        for (index, m) in plaintexts.iter_mut().enumerate() {
            tamper(Tamper::Plaintext {
                seat: seat_index,
                index,
                plaintext: m,
            });
            let (c, randomness) = seat
                .key
                .encrypt(m, rng)
                .map_err(|_| BundleFault::Shape("plaintext not below n"))?;
            let context = plaintext_context(ctx, sender, &seat.meter, index);
            let proof = PlaintextProof::prove(&seat.key, &c, m, randomness.rho(), &context, rng);
            part.ciphertexts.push(c.to_bytes(&seat.key));
            part.proofs.push(proof.to_bytes(&seat.key));
        }
        parts.push(part);
    }
    let part_hashes = ctx
        .seats
        .iter()
        .zip(&parts)
        .map(|(s, p)| part_hash(ctx, sender, &s.meter, p))
        .collect();
    let public = BundlePublic {
        sender: sender.to_string(),
        commitments,
        opening_proofs,
        range_proof,
        part_hashes,
    };
    Ok(Bundle { public, parts })
}
