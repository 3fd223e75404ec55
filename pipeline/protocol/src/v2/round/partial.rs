//! A seat's partial (DESIGN §4, step 6): the final set folded afresh (never by subtracting
//! excluded senders from the revealed fold), decrypted, reduced mod q, and published only if it
//! passes the same public check anyone applies ([`super::log::partial_holds`]).

use super::RoundContext;
use super::check::{ColumnEntry, fold_column};
use super::log::{RoundView, partial_holds};
use crate::v2::crypto::paillier::SeatSecretKey;
use curve25519_dalek::scalar::Scalar;
use rug::Integer;
use std::collections::BTreeMap;

/// Why a seat publishes no partial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartialRefused {
    /// No valid final set in the log yet, the round is void, or the seat may not publish.
    #[error("no partial may be published now")]
    NotAllowed,
    /// A final-set member's part is missing from the column given.
    #[error("part of {0} missing")]
    MissingPart(String),
    /// A final-set member's part does not fold (it should have been complained about).
    #[error("part of {0} is malformed")]
    Malformed(String),
    /// The result fails the public check (the seat's own check missed something).
    #[error("partial fails the public check")]
    FailsPublicCheck,
}

/// Computes the seat's partial over the view's final set.
pub fn compute_partial(
    ctx: &RoundContext,
    view: &RoundView,
    seat_index: usize,
    secret: &SeatSecretKey,
    own_check_passed: bool,
    column: &BTreeMap<String, ColumnEntry<'_>>,
) -> Result<Vec<(Scalar, Scalar)>, PartialRefused> {
    let seat = &ctx.seats[seat_index];
    if ctx.disqualified.contains(&seat.meter)
        || !view.seat_may_publish(&seat.meter, own_check_passed)
    {
        return Err(PartialRefused::NotAllowed);
    }
    let (_, members, _) = view
        .final_set
        .as_ref()
        .expect("seat_may_publish implies a final set");
    let entries = member_entries(members, column).map_err(PartialRefused::MissingPart)?;
    let folded = fold_column(ctx, seat_index, &entries).map_err(PartialRefused::Malformed)?;
    let plaintexts: Vec<Integer> = folded.iter().map(|c| secret.decrypt(c)).collect();
    let sums = ctx
        .layout()
        .unpack_mod_q(&plaintexts)
        .map_err(|_| PartialRefused::FailsPublicCheck)?;
    if !partial_holds(ctx, &seat.meter, members, &view.notices, &sums) {
        return Err(PartialRefused::FailsPublicCheck);
    }
    Ok(sums)
}

/// The final set's entries of a seat's column, in the set's order; else the first member whose
/// part is missing.
fn member_entries<'c>(
    members: &[String],
    column: &BTreeMap<String, ColumnEntry<'c>>,
) -> Result<Vec<ColumnEntry<'c>>, String> {
    members
        .iter()
        .map(|m| column.get(m).copied().ok_or_else(|| m.clone()))
        .collect()
}

/// What a seat posts once the final set is known.
#[derive(Debug, Clone)]
pub enum SeatAnswer {
    /// Its partial: per value (F(j), R(j)), bound to the final set's hash by the caller's entry.
    Partial(Vec<(Scalar, Scalar)>),
    /// Its checks passed but the final set's fold fails the public check: a sender whose part is
    /// bad on its own was hidden by another's offset in the larger fold. The seat names it (a
    /// late complaint suspends it) and publishes no partial.
    Complaints(Vec<super::complaint::Complaint>),
    /// Nothing (not allowed, a part missing, or a malformed part already complained about).
    Nothing(PartialRefused),
}

/// A seat's answer to the final set (DESIGN §4, step 6). A seat whose own check failed re-checks
/// the final set (its accused senders are out of it) before it may publish.
pub fn seat_answer<R: rand::RngCore + rand::CryptoRng + ?Sized>(
    ctx: &RoundContext,
    view: &RoundView,
    seat_index: usize,
    secret: &SeatSecretKey,
    own_check_passed: bool,
    column: &BTreeMap<String, ColumnEntry<'_>>,
    rng: &mut R,
) -> SeatAnswer {
    use super::check::{SeatCheck, check_column, scan_column};
    let Some((_, members, _)) = &view.final_set else {
        return SeatAnswer::Nothing(PartialRefused::NotAllowed);
    };
    let entries = member_entries(members, column);
    let ok = own_check_passed
        || entries
            .as_ref()
            .is_ok_and(|e| check_column(ctx, seat_index, secret, e, rng) == SeatCheck::Passed);
    match compute_partial(ctx, view, seat_index, secret, ok, column) {
        Ok(sums) => SeatAnswer::Partial(sums),
        // The fold succeeded, so every member's part is here.
        Err(PartialRefused::FailsPublicCheck) => SeatAnswer::Complaints(scan_column(
            ctx,
            seat_index,
            secret,
            &entries.unwrap_or_default(),
        )),
        Err(e) => SeatAnswer::Nothing(e),
    }
}
