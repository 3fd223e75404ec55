//! Complaints (DESIGN §4, "Check"): one list of kinds, one rule of validity. A complaint is valid
//! iff its evidence verifies for its kind; anyone re-checks it from the log without secrets.
//!
//! - Seats complain only about their own part; the aggregator (or a seat) about range proofs.
//! - A decryption (m and the Paillier randomness ρ) is published only for ciphertexts whose
//!   plaintext proof verifies, so a complaint can never reveal another meter's ciphertext that a
//!   sender copied as its own: such a ciphertext's proof fails, and that complaint carries no
//!   plaintext. A failed plaintext proof is always that kind, whatever a decryption would show.
//! - Openings are unique because every seat key carries a proof that gcd(n, φ(n)) = 1, so a seat
//!   cannot open an honest sender's ciphertext to another plaintext: an honest sender is never
//!   validly accused, and an invalid complaint disqualifies the seat.

use super::RoundContext;
use super::bundle::{BundlePublic, SeatPart, plaintext_context};
use crate::v2::crypto::paillier::{Ciphertext, PlaintextProof, SeatPublicKey};
use crate::v2::crypto::vss::verify_share;
use rug::Integer;

/// What a complaint says is wrong with a sender's bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComplaintKind {
    /// Decrypted shares do not match the sender's commitments at the seat's rank.
    ShareMismatch,
    /// A decrypted plaintext breaks the slot predicate.
    SlotOutOfRange,
    /// A ciphertext's plaintext proof does not verify.
    FailedPlaintextProof,
    /// A ciphertext is not an element of Z*_{n²} of the right width.
    MalformedCiphertext,
    /// The bundle's range proof does not verify.
    FailedRangeProof,
}

/// Who posts a complaint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Complainant {
    /// A committee seat (its meter id).
    Seat(String),
    /// The aggregator (range proofs only).
    Aggregator,
}

/// A complaint against one sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    /// Who complains.
    pub complainant: Complainant,
    /// The accused sender.
    pub sender: String,
    /// The kind.
    pub kind: ComplaintKind,
    /// The ciphertext concerned (plaintext proof, malformed ciphertext); 0 otherwise.
    pub index: usize,
    /// For share mismatch and slot range: the opening (m, ρ) of every ciphertext of the part.
    pub openings: Vec<(Integer, Integer)>,
}

/// Parses every ciphertext of a part, or names the first malformed one (a part of the wrong
/// shape is malformed at the first missing or surplus position).
pub fn parse_part(
    key: &SeatPublicKey,
    part: &SeatPart,
    expected: usize,
) -> Result<Vec<Ciphertext>, usize> {
    if part.ciphertexts.len() != expected || part.proofs.len() != part.ciphertexts.len() {
        return Err(part.ciphertexts.len().min(part.proofs.len()).min(expected));
    }
    part.ciphertexts
        .iter()
        .enumerate()
        .map(|(i, b)| key.parse_ciphertext(b).map_err(|_| i))
        .collect()
}

/// Whether ciphertext `index` of a part carries a valid plaintext proof for its sender and seat.
pub fn plaintext_proof_holds(
    ctx: &RoundContext,
    sender: &str,
    seat: &str,
    key: &SeatPublicKey,
    c: &Ciphertext,
    proof: &[u8],
    index: usize,
) -> bool {
    match PlaintextProof::from_bytes(key, proof) {
        Ok(p) => p.verify(key, c, &plaintext_context(ctx, sender, seat, index)),
        Err(_) => false,
    }
}

/// The validity rule. `part` is the sender's committed part for the complaining seat (its hash is
/// checked by the caller against the sender's notice); `None` for aggregator complaints.
pub fn is_valid(
    ctx: &RoundContext,
    complaint: &Complaint,
    public: &BundlePublic,
    part: Option<&SeatPart>,
) -> bool {
    if complaint.sender != public.sender {
        return false;
    }
    if complaint.kind == ComplaintKind::FailedRangeProof {
        return complaint.openings.is_empty() && public.verify_range(ctx).is_err();
    }
    let Complainant::Seat(seat_id) = &complaint.complainant else {
        return false; // the aggregator holds no part
    };
    let (Some(seat), Some(part)) = (ctx.seat(seat_id), part) else {
        return false;
    };
    let layout = ctx.layout();
    let parsed = parse_part(&seat.key, part, layout.plaintexts());
    match complaint.kind {
        ComplaintKind::MalformedCiphertext => {
            complaint.openings.is_empty() && parsed.err() == Some(complaint.index)
        }
        ComplaintKind::FailedPlaintextProof => {
            let i = complaint.index;
            let Ok(cts) = parsed else { return false }; // malformed is the other kind
            complaint.openings.is_empty()
                && i < cts.len()
                && !plaintext_proof_holds(
                    ctx,
                    &public.sender,
                    &seat.meter,
                    &seat.key,
                    &cts[i],
                    &part.proofs[i],
                    i,
                )
        }
        ComplaintKind::ShareMismatch | ComplaintKind::SlotOutOfRange => {
            // Every ciphertext parses, carries a valid plaintext proof and is opened.
            let Ok(cts) = parsed else { return false };
            if complaint.openings.len() != cts.len() {
                return false;
            }
            for (i, (c, (m, rho))) in cts.iter().zip(&complaint.openings).enumerate() {
                if !plaintext_proof_holds(
                    ctx,
                    &public.sender,
                    &seat.meter,
                    &seat.key,
                    c,
                    &part.proofs[i],
                    i,
                ) || !seat.key.verify_opening(c, m, rho)
                {
                    return false;
                }
            }
            let plaintexts: Vec<Integer> =
                complaint.openings.iter().map(|(m, _)| m.clone()).collect();
            let slots_ok = layout.check_part(&plaintexts).is_ok();
            if complaint.kind == ComplaintKind::SlotOutOfRange {
                return !slots_ok;
            }
            if !slots_ok {
                return false; // that is the other kind
            }
            let shares = layout.unpack_mod_q(&plaintexts).expect("shape checked");
            shares
                .iter()
                .zip(&public.commitments)
                .any(|((f, r), c)| !verify_share(c, seat.rank, f, r))
        }
        ComplaintKind::FailedRangeProof => unreachable!("handled above"),
    }
}
