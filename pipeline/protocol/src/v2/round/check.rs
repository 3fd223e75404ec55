//! A seat's check of its column (DESIGN §4, step 4).
//!
//! The seat folds, from the log itself, its part of every revealed bundle (it never decrypts a
//! ciphertext the aggregator chose; a product that differs from its own fold is evidence against
//! the aggregator), and a second, privately weighted fold Π c_i^{ρ_i} with fresh weights in
//! [1, 2^32) from its CSPRNG. It decrypts both, reduces each slot mod q and checks them against
//! Σ C̄(j) and Σ ρ_i·C_i(j). Two colluding senders whose inconsistencies offset each other pass
//! the plain check and fail the weighted one (unless they guess ρ, probability 2^-32). Only when
//! the check fails does the seat scan sender by sender and post one complaint per bad sender.

use super::RoundContext;
use super::bundle::{BundlePublic, SeatPart};
use super::complaint::{Complainant, Complaint, ComplaintKind, parse_part, plaintext_proof_holds};
use crate::v2::crypto::paillier::{Ciphertext, SeatSecretKey};
use crate::v2::crypto::vss::{
    Commitments, sum_commitments, verify_share, weighted_sum_evaluations,
};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand::{CryptoRng, RngCore};
use rug::Integer;

/// One revealed sender's material as the seat sees it: its public part and its part for the seat.
#[derive(Debug, Clone, Copy)]
pub struct ColumnEntry<'a> {
    /// The sender's notice.
    pub public: &'a BundlePublic,
    /// The sender's part for this seat (its hash already matched the notice).
    pub part: &'a SeatPart,
}

/// The outcome of a seat's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatCheck {
    /// Both folds match the commitments; the seat may publish its partial over the final set.
    Passed,
    /// A check failed; the complaints name every bad sender found by the scan.
    Failed(Vec<Complaint>),
}

/// Parses a column for folding: exact shape, width and range, without the costly gcd test
/// (`SeatPublicKey::parse_for_fold`; the scan applies the full test). `Err(sender)` names the
/// first sender whose part does not parse.
fn parse_column(
    ctx: &RoundContext,
    seat_index: usize,
    column: &[ColumnEntry<'_>],
) -> Result<Vec<Vec<Ciphertext>>, String> {
    let key = &ctx.seats[seat_index].key;
    let expected = ctx.layout().plaintexts();
    column
        .iter()
        .map(|e| {
            let bad = || e.public.sender.clone();
            if e.part.ciphertexts.len() != expected || e.part.proofs.len() != expected {
                return Err(bad());
            }
            e.part
                .ciphertexts
                .iter()
                .map(|b| key.parse_for_fold(b).map_err(|_| bad()))
                .collect()
        })
        .collect()
}

/// Folds the seat's column: per ciphertext index, the product over senders. `Err(sender)` names
/// the first sender whose part does not parse (the same sender the seat's check would name),
/// streaming sender by sender without keeping the parsed column.
pub fn fold_column(
    ctx: &RoundContext,
    seat_index: usize,
    column: &[ColumnEntry<'_>],
) -> Result<Vec<Ciphertext>, String> {
    let expected = ctx.layout().plaintexts();
    let mut fold = ctx.seats[seat_index].key.column_fold(expected);
    for e in column {
        if e.part.proofs.len() != expected || fold.push(&e.part.ciphertexts).is_err() {
            return Err(e.public.sender.clone());
        }
    }
    Ok(fold.finish())
}

/// Runs the seat's check over `column`, and the scan if it fails.
pub fn check_column<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    seat_index: usize,
    secret: &SeatSecretKey,
    column: &[ColumnEntry<'_>],
    rng: &mut R,
) -> SeatCheck {
    if fold_and_weigh(ctx, seat_index, secret, column, rng) {
        SeatCheck::Passed
    } else {
        SeatCheck::Failed(scan_column(ctx, seat_index, secret, column))
    }
}

fn fold_and_weigh<R: RngCore + CryptoRng + ?Sized>(
    ctx: &RoundContext,
    seat_index: usize,
    secret: &SeatSecretKey,
    column: &[ColumnEntry<'_>],
    rng: &mut R,
) -> bool {
    let seat = &ctx.seats[seat_index];
    let layout = ctx.layout();
    let Ok(parsed) = parse_column(ctx, seat_index, column) else {
        return false;
    };
    let plain: Vec<Ciphertext> = (0..layout.plaintexts())
        .map(|i| {
            seat.key
                .fold(&parsed.iter().map(|p| &p[i]).collect::<Vec<_>>())
        })
        .collect();
    let weights: Vec<u32> = column
        .iter()
        .map(|_| 1 + rng.next_u32() % u32::MAX)
        .collect();
    let weighted: Vec<Ciphertext> = (0..layout.plaintexts())
        .map(|i| {
            seat.key.weighted_fold(
                &parsed
                    .iter()
                    .zip(&weights)
                    .map(|(p, w)| (&p[i], *w))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let decrypt =
        |cts: &[Ciphertext]| -> Vec<Integer> { cts.iter().map(|c| secret.decrypt(c)).collect() };
    let (Ok(sums), Ok(weighted_sums)) = (
        layout.unpack_mod_q(&decrypt(&plain)),
        layout.unpack_mod_q(&decrypt(&weighted)),
    ) else {
        return false;
    };
    for v in 0..layout.values {
        let per_sender: Vec<&Commitments> =
            column.iter().map(|e| &e.public.commitments[v]).collect();
        let expected = if per_sender.is_empty() {
            curve25519_dalek::RistrettoPoint::identity()
        } else {
            sum_commitments(&per_sender).evaluate(seat.rank)
        };
        let (g, h) = crate::v2::crypto::vss::generators();
        if sums[v].0 * g + sums[v].1 * h != expected {
            return false;
        }
        let terms: Vec<(&Commitments, Scalar)> = per_sender
            .iter()
            .zip(&weights)
            .map(|(c, w)| (*c, Scalar::from(*w)))
            .collect();
        if weighted_sums[v].0 * g + weighted_sums[v].1 * h
            != weighted_sum_evaluations(&terms, seat.rank)
        {
            return false;
        }
    }
    true
}

/// Judges each sender alone and returns one complaint per bad sender. Decryptions are published
/// only for parts whose every plaintext proof verifies.
pub fn scan_column(
    ctx: &RoundContext,
    seat_index: usize,
    secret: &SeatSecretKey,
    column: &[ColumnEntry<'_>],
) -> Vec<Complaint> {
    let seat = &ctx.seats[seat_index];
    let layout = ctx.layout();
    let complainant = Complainant::Seat(seat.meter.clone());
    let mut out = Vec::new();
    for e in column {
        let sender = &e.public.sender;
        let complaint = |kind, index, openings| Complaint {
            complainant: complainant.clone(),
            sender: sender.clone(),
            kind,
            index,
            openings,
        };
        let cts = match parse_part(&seat.key, e.part, layout.plaintexts()) {
            Ok(c) => c,
            Err(i) => {
                out.push(complaint(ComplaintKind::MalformedCiphertext, i, Vec::new()));
                continue;
            }
        };
        if let Some(i) = (0..cts.len()).find(|&i| {
            !plaintext_proof_holds(
                ctx,
                sender,
                &seat.meter,
                &seat.key,
                &cts[i],
                &e.part.proofs[i],
                i,
            )
        }) {
            out.push(complaint(
                ComplaintKind::FailedPlaintextProof,
                i,
                Vec::new(),
            ));
            continue;
        }
        let openings: Vec<(Integer, Integer)> = cts.iter().map(|c| secret.open(c)).collect();
        let plaintexts: Vec<Integer> = openings.iter().map(|(m, _)| m.clone()).collect();
        if layout.check_part(&plaintexts).is_err() {
            out.push(complaint(ComplaintKind::SlotOutOfRange, 0, openings));
            continue;
        }
        let shares = layout.unpack_mod_q(&plaintexts).expect("shape checked");
        if shares
            .iter()
            .zip(&e.public.commitments)
            .any(|((f, r), c)| !verify_share(c, seat.rank, f, r))
        {
            out.push(complaint(ComplaintKind::ShareMismatch, 0, openings));
        }
    }
    out
}
