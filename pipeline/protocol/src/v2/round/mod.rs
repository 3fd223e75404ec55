//! One round of protocol v2 as pure steps (DESIGN §4, "Round"), each a function of its inputs:
//!
//! - [`bundle`]: a meter deals its values, encrypts each seat's part and commits to the bundle;
//! - [`check`]: a seat folds its column from the log, checks it and a privately weighted fold
//!   against the commitments, and scans sender by sender only when that fails;
//! - [`complaint`]: complaints and the one rule that decides whether one is valid;
//! - [`log`]: the region's ordered log, replayed: which markers are valid, the revealed and final
//!   sets, exclusions, carry, void rounds — one definition for meters, seats, aggregator and audit;
//! - [`markers`]: what the honest aggregator posts, each a function of the log before it;
//! - [`partial`]: partials, their public check, and the total.

pub mod bundle;
pub mod check;
pub mod complaint;
pub mod ledger;
pub mod log;
pub mod markers;
pub mod partial;

use super::committee::Committee;
use super::crypto::packing::SlotLayout;
use super::crypto::paillier::SeatPublicKey;
use super::encoding::{Hash, Kind, Transcript};
use super::params::Params;
use std::collections::BTreeSet;

/// A seat that published a valid daily key before the day's KeysClosed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// The seat's meter id.
    pub meter: String,
    /// Its 1-based committee rank (the evaluation point of its shares).
    pub rank: u64,
    /// Its daily Paillier key.
    pub key: SeatPublicKey,
}

/// Everything a round's steps share: parameters, region, round, the day's seats and degree.
#[derive(Debug, Clone)]
pub struct RoundContext {
    /// The protocol file.
    pub params: Params,
    /// The region.
    pub region: String,
    /// Round start (unix seconds, aligned).
    pub start: i64,
    /// The day's committee (all drawn seats, in rank order).
    pub committee: Committee,
    /// Seats with a valid key in the day's KeysClosed, in rank order (absent seats are left out
    /// and never replaced): `day::day_seats` of the day's records.
    pub seats: Vec<Seat>,
    /// Shamir degree d of the day.
    pub degree: usize,
    /// The region's certified meters at the day's cutoff, sorted (θ is counted against them).
    pub roster: Vec<String>,
    /// H(Cutoff(D)): bound into commitments, so a bundle is tied to one day's candidate set.
    pub cutoff: Hash,
    /// Meters suspended earlier in the day (a valid complaint named them): their commitments are
    /// ignored for the rest of the day; they still count in |roster|.
    pub suspended: BTreeSet<String>,
    /// Seats disqualified earlier in the day (an invalid complaint): their complaints and
    /// partials are ignored for the rest of the day.
    pub disqualified: BTreeSet<String>,
}

/// Why a round cannot run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The round start is not aligned to the round length of the protocol file.
    #[error("round start {0} is not aligned to the protocol's round length")]
    Misaligned(i64),
    /// Fewer seats with keys than d + 1: no total could ever be reconstructed.
    #[error("{have} seats have keys, d + 1 = {need} are needed")]
    TooFewSeats {
        /// Seats with keys.
        have: usize,
        /// d + 1.
        need: usize,
    },
    /// The roster is larger than max_roster.
    #[error("roster of {0} meters exceeds max_roster")]
    RosterTooLarge(usize),
}

impl RoundContext {
    /// Checks what every party checks before taking part: alignment, roster size, seats.
    pub fn validate(&self) -> Result<(), ContextError> {
        if !self.params.is_round_start(self.start) {
            return Err(ContextError::Misaligned(self.start));
        }
        if self.roster.len() > self.params.max_roster {
            return Err(ContextError::RosterTooLarge(self.roster.len()));
        }
        if self.seats.len() < self.degree + 1 {
            return Err(ContextError::TooFewSeats {
                have: self.seats.len(),
                need: self.degree + 1,
            });
        }
        Ok(())
    }

    /// The slot layout of the round.
    pub fn layout(&self) -> SlotLayout {
        SlotLayout::new(&self.params)
    }

    /// A transcript bound to this round and a message kind.
    pub fn transcript(&self, kind: Kind) -> Transcript {
        let mut t = Transcript::bound(kind, &self.region, self.start);
        t.field(&self.cutoff.0);
        t
    }

    /// The seat of a meter, if it holds one with a key.
    pub fn seat(&self, meter: &str) -> Option<&Seat> {
        self.seats.iter().find(|s| s.meter == meter)
    }

    /// The index of a meter's seat among `seats`, if it holds one.
    pub(crate) fn seat_index(&self, meter: &str) -> Option<usize> {
        self.seats.iter().position(|s| s.meter == meter)
    }

    /// Members a commit list or final set must hold.
    pub fn quorum(&self) -> usize {
        self.params.quorum(self.roster.len())
    }

    /// Claims of one seat the aggregator answers this round (`Params::answer_cap`).
    pub fn answer_cap(&self) -> usize {
        self.params.answer_cap(self.roster.len())
    }

    /// The context of the next round of the same day, carrying this round's suspensions and
    /// disqualifications (`view` is this round's replay).
    pub fn next_round(&self, view: &log::RoundView) -> RoundContext {
        let mut next = self.clone();
        next.start += self.params.round_seconds();
        next.suspended.extend(view.suspended());
        next.disqualified.extend(view.disqualified.keys().cloned());
        next
    }

    /// Whether a meter is on the round's roster.
    pub fn on_roster(&self, meter: &str) -> bool {
        self.roster
            .binary_search_by(|m| m.as_str().cmp(meter))
            .is_ok()
    }
}
