//! A meter's durable round ledger: the gateway's defence against differencing across rounds and
//! restarts. Rounds come from the protocol file (aligned, one length, never overlapping), so each
//! interval belongs to exactly one round; the ledger refuses to deal a round twice, to go back in
//! time, and to carry a value the log does not prove unrevealed. The gateway persists the ledger
//! *before* it publishes what a step decided (commitment, notice, carry), so a restart can only
//! repeat a step's output, never take a second, different one.

use super::log::RoundView;
use crate::v2::params::Params;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the meter did in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    /// Committed to a bundle (its values are fixed from here on).
    Committed,
    /// Revealed: its values are in that round's hands for good.
    Revealed,
    /// Withdrew, or was left out, and carried its values to a later round.
    Carried,
    /// Values dropped (void or abandoned round, or c_max reached).
    Dropped,
}

/// Why the ledger refuses a step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerRefusal {
    /// The round start is not a round of the protocol file.
    #[error("round {0} is not aligned to the protocol's round length")]
    Misaligned(i64),
    /// The meter already took part in this round (any step).
    #[error("round {0} was already dealt")]
    AlreadyDealt(i64),
    /// A round at or before one the meter already dealt: time only moves forward.
    #[error("round {0} is not after the last dealt round {1}")]
    NotAfter(i64, i64),
    /// The step does not follow from the ledger's state.
    #[error("round {0}: {1}")]
    BadStep(i64, &'static str),
}

/// The ledger of one meter in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    rounds: BTreeMap<i64, Step>,
    /// Carried intervals waiting for a round, with the rounds they have waited.
    pub carried: Vec<(i64, u32)>,
}

impl Ledger {
    /// Records a commitment to round `start`: refused for a misaligned, repeated or past round.
    pub fn commit(&mut self, params: &Params, start: i64) -> Result<(), LedgerRefusal> {
        if !params.is_round_start(start) {
            return Err(LedgerRefusal::Misaligned(start));
        }
        if self.rounds.contains_key(&start) {
            return Err(LedgerRefusal::AlreadyDealt(start));
        }
        if let Some((&last, _)) = self.rounds.last_key_value()
            && start <= last
        {
            return Err(LedgerRefusal::NotAfter(start, last));
        }
        self.rounds.insert(start, Step::Committed);
        Ok(())
    }

    /// Records the reveal of round `start`.
    pub fn reveal(&mut self, start: i64) -> Result<(), LedgerRefusal> {
        match self.rounds.get(&start) {
            Some(Step::Committed) => {
                self.rounds.insert(start, Step::Revealed);
                Ok(())
            }
            _ => Err(LedgerRefusal::BadStep(
                start,
                "reveal needs a commitment and no other step",
            )),
        }
    }

    /// Records a carry of round `start`'s values, only if `view` (that round's replay) proves
    /// they were never revealed. A round carries at most once; a dropped or revealed round never.
    pub fn carry(
        &mut self,
        start: i64,
        meter: &str,
        view: &RoundView,
    ) -> Result<(), LedgerRefusal> {
        match self.rounds.get(&start) {
            Some(Step::Revealed) => {
                return Err(LedgerRefusal::BadStep(
                    start,
                    "a revealed value never carries",
                ));
            }
            Some(Step::Dropped) => {
                return Err(LedgerRefusal::BadStep(
                    start,
                    "a dropped value never carries",
                ));
            }
            Some(Step::Carried) => return Ok(()), // already carried: once only
            Some(Step::Committed) | None => {}
        }
        if !view.may_carry(meter) {
            return Err(LedgerRefusal::BadStep(
                start,
                "the log does not prove the value unrevealed",
            ));
        }
        self.rounds.insert(start, Step::Carried);
        self.carried.push((start, 0));
        Ok(())
    }

    /// Records that round `start`'s values are dropped.
    pub fn drop_values(&mut self, start: i64) {
        self.rounds.insert(start, Step::Dropped);
    }

    /// Whether a round before `start` is still only committed (neither revealed, carried nor
    /// dropped): its values may yet be carried, so a gateway deals `start` after it settles.
    pub fn committed_before(&self, start: i64) -> bool {
        self.rounds
            .range(..start)
            .any(|(_, step)| *step == Step::Committed)
    }

    /// The step recorded for round `start`.
    pub fn step(&self, start: i64) -> Option<Step> {
        self.rounds.get(&start).copied()
    }
}
