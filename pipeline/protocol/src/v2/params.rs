//! The signed protocol file of v2 (DESIGN §4, "Parameters"): every gateway holds it, nothing in
//! it is ever taken from a RoundOpen. Validation says which parameter is wrong and why.

use serde::{Deserialize, Serialize};

/// Seconds in a UTC day; a round's length divides it, so rounds never straddle days.
pub const DAY_SECONDS: i64 = 86_400;

/// Bits of the Ristretto group order q (2^252 < q < 2^253).
pub const ORDER_BITS: u32 = 253;

/// The largest seat-key modulus any valid protocol file allows (`modulus_bits` is 2048 or 3072):
/// readers refuse a larger key before copying it, whatever the day's parameters.
pub const MAX_MODULUS_BITS: u32 = 3072;

/// A rational threshold, rounded up when applied (DESIGN: "thresholds are rationals and round up").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    /// Numerator.
    pub num: u32,
    /// Denominator (non-zero).
    pub den: u32,
}

impl Ratio {
    /// ceil(num/den · count).
    pub fn of(&self, count: usize) -> usize {
        (count as u64 * self.num as u64).div_ceil(self.den as u64) as usize
    }
}

/// Protocol parameters of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// Intervals per round; rounds are aligned and never overlap.
    pub intervals_per_round: u32,
    /// Value channels per interval (e.g. import_wh, export_wh).
    pub channels: Vec<String>,
    /// b: every value is in [0, 2^b); b ∈ {8, 16, 32} (range proofs need a power of two; every
    /// total stays below 2^64).
    pub value_bits: u32,
    /// k: committee seats per region and day.
    pub committee_size: usize,
    /// d: Shamir degree; d + 1 partials reconstruct, d colluding seats learn nothing.
    pub threshold: usize,
    /// θ: a round needs this share of the region's certified meters (after exclusions).
    pub participation: Ratio,
    /// Regions with fewer certified meters are refused (at least 3).
    pub min_roster: usize,
    /// Largest roster; sizes the slots.
    pub max_roster: usize,
    /// Rounds a carried value may wait before it is dropped (and counted).
    pub c_max: u32,
    /// λ: smudging width in bits.
    pub smudging_bits: u32,
    /// Paillier modulus size of the seats' daily keys, exactly.
    pub modulus_bits: u32,
    /// Withdrawals a meter may post per day before the audit suspends it.
    pub withdraw_limit: u32,
    /// A seat's answer cap per round, as a share of the roster (rounded up, at least 1): once
    /// the aggregator has answered that many of a seat's missing-part claims on the round log,
    /// the seat's other claims lapse. Bounds what one lying seat can copy onto the log.
    pub claim_answers: Ratio,
    /// Phase deadlines in seconds after the round's end (only tell honest parties when to act).
    pub deadlines: Deadlines,
    /// T_del: seconds after the end of day D at which day-D keys and decryptions are deleted.
    pub key_deletion_seconds: u32,
    /// Δ: a gateway accepts Cutoff(D) only if it recorded it this long before the beacon round.
    pub cutoff_lead_seconds: u32,
}

/// Phase deadlines, seconds after the round ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Deadlines {
    /// Commitments due.
    pub commit: u32,
    /// Reveal notices and withdrawals due.
    pub reveal: u32,
    /// Complaints due (before FinalSet).
    pub complaint: u32,
    /// Partials due.
    pub partial: u32,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            commit: 60,
            reveal: 120,
            complaint: 240,
            partial: 360,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params {
            interval_seconds: 900,
            intervals_per_round: 4,
            channels: vec!["import_wh".into(), "export_wh".into()],
            value_bits: 32,
            committee_size: 21,
            threshold: 9,
            participation: Ratio { num: 4, den: 5 },
            min_roster: 5,
            max_roster: 1 << 15,
            c_max: 4,
            smudging_bits: 40,
            modulus_bits: 2048,
            withdraw_limit: 4,
            claim_answers: Ratio { num: 1, den: 16 },
            deadlines: Deadlines::default(),
            key_deletion_seconds: 86_400,
            cutoff_lead_seconds: 3_600,
        }
    }
}

/// A parameter that is out of range, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protocol parameter {name}: {why}")]
pub struct ParamError {
    /// The parameter.
    pub name: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// Why a region takes no part in a day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionRefused {
    /// Fewer certified meters than max(3, min_roster).
    #[error("region has {have} certified meters, at least {need} are needed")]
    TooSmall {
        /// Certified meters.
        have: usize,
        /// The minimum.
        need: usize,
    },
}

/// The committee of a region for a day: k seats, degree d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitteeShape {
    /// Seats.
    pub seats: usize,
    /// Shamir degree.
    pub degree: usize,
}

impl Params {
    /// Checks every parameter.
    pub fn validate(&self) -> Result<(), ParamError> {
        let bad = |name, why: String| Err(ParamError { name, why });
        if self.interval_seconds == 0 || self.intervals_per_round == 0 {
            return bad(
                "interval_seconds",
                "interval and intervals_per_round must be > 0".into(),
            );
        }
        // In u64 first: two u32 parameters cannot overflow it, and a huge product is refused
        // before it is used as a round length.
        let round = self.interval_seconds as u64 * self.intervals_per_round as u64;
        if round > DAY_SECONDS as u64 || !(DAY_SECONDS as u64).is_multiple_of(round) {
            return bad(
                "intervals_per_round",
                format!("a round of {round} s does not divide 24 h"),
            );
        }
        if self.channels.is_empty() || self.channels.len() > 16 {
            return bad(
                "channels",
                format!("{} channels (1..=16)", self.channels.len()),
            );
        }
        // b ≤ 32 keeps every total of up to 2^20 meters (with carries) below 2^64.
        if !matches!(self.value_bits, 8 | 16 | 32) {
            return bad(
                "value_bits",
                format!("{} is not 8, 16 or 32", self.value_bits),
            );
        }
        let max_values = crate::v2::crypto::vss::MAX_RANGE_VALUES;
        if self.values_per_round() > max_values {
            return bad(
                "intervals_per_round",
                format!(
                    "{} values per round (one range proof covers at most {max_values})",
                    self.values_per_round()
                ),
            );
        }
        if self.threshold == 0 || self.committee_size < 2 * self.threshold + 3 {
            return bad(
                "committee_size",
                format!(
                    "k = {} must be ≥ 2d + 3 = {} (d = {})",
                    self.committee_size,
                    2 * self.threshold + 3,
                    self.threshold
                ),
            );
        }
        if self.committee_size > 255 {
            return bad(
                "committee_size",
                format!("{} seats (at most 255)", self.committee_size),
            );
        }
        let Ratio { num, den } = self.participation;
        if den == 0 || num == 0 || num > den {
            return bad("participation", format!("{num}/{den} is not in (0, 1]"));
        }
        let Ratio { num, den } = self.claim_answers;
        if den == 0 || num == 0 || num > den {
            return bad("claim_answers", format!("{num}/{den} is not in (0, 1]"));
        }
        if self.min_roster < 3 || self.min_roster > self.max_roster {
            return bad(
                "min_roster",
                format!("{} (3..=max_roster)", self.min_roster),
            );
        }
        if self.max_roster > 1 << 20 {
            return bad("max_roster", format!("{} (at most 2^20)", self.max_roster));
        }
        if self.smudging_bits < 40 || self.smudging_bits > 128 {
            return bad(
                "smudging_bits",
                format!("{} (40..=128)", self.smudging_bits),
            );
        }
        if !matches!(self.modulus_bits, 2048 | MAX_MODULUS_BITS) {
            return bad(
                "modulus_bits",
                format!("{} is not 2048 or 3072", self.modulus_bits),
            );
        }
        if self.slots_per_ciphertext() < 2 {
            return bad("modulus_bits", "fewer than two slots per ciphertext".into());
        }
        let d = &self.deadlines;
        if !(d.commit < d.reveal && d.reveal < d.complaint && d.complaint < d.partial) {
            return bad("deadlines", "commit < reveal < complaint < partial".into());
        }
        if (self.key_deletion_seconds as u64) < round + d.partial as u64 {
            return bad(
                "key_deletion_seconds",
                "T_del must cover a round and all its deadlines".into(),
            );
        }
        Ok(())
    }

    /// Round length in seconds (saturating: unvalidated parameters never overflow here).
    pub fn round_seconds(&self) -> i64 {
        (self.interval_seconds as i64)
            .saturating_mul(self.intervals_per_round as i64)
            .max(1)
    }

    /// Values a meter shares per round: channels × intervals.
    pub fn values_per_round(&self) -> usize {
        self.channels.len() * self.intervals_per_round as usize
    }

    /// Whether `start` is the start of a round of these parameters (aligned to the round length).
    pub fn is_round_start(&self, start: i64) -> bool {
        start.rem_euclid(self.round_seconds()) == 0
    }

    /// The UTC day (days since 1970-01-01) a round belongs to: the day it starts in.
    pub fn day_of(start: i64) -> i64 {
        start.div_euclid(DAY_SECONDS)
    }

    /// Slot width w = 253 + λ + 32 + ⌈log2 max_roster⌉ + 1 bits: room for a weighted sum of
    /// max_roster smudged shares with 32-bit weights.
    pub fn slot_bits(&self) -> u32 {
        ORDER_BITS + self.smudging_bits + 32 + ceil_log2(self.max_roster) + 1
    }

    /// Slots per ciphertext (the plaintext must stay below n, so |n| − 1 bits are usable).
    pub fn slots_per_ciphertext(&self) -> usize {
        ((self.modulus_bits - 1) / self.slot_bits()) as usize
    }

    /// Ciphertexts per seat per meter: two slots (f(j), r(j)) per value.
    pub fn ciphertexts_per_seat(&self) -> usize {
        (2 * self.values_per_round()).div_ceil(self.slots_per_ciphertext())
    }

    /// The committee of a region with `certified` meters, or why it is refused.
    pub fn committee_shape(&self, certified: usize) -> Result<CommitteeShape, RegionRefused> {
        let need = self.min_roster.max(3);
        if certified < need {
            return Err(RegionRefused::TooSmall {
                have: certified,
                need,
            });
        }
        if certified >= self.committee_size {
            Ok(CommitteeShape {
                seats: self.committee_size,
                degree: self.threshold,
            })
        } else {
            Ok(CommitteeShape {
                seats: certified,
                degree: certified - 2,
            })
        }
    }

    /// Members a commit list or final set must hold: max(min_roster, ⌈θ·|roster|⌉).
    pub fn quorum(&self, roster: usize) -> usize {
        self.min_roster.max(self.participation.of(roster))
    }

    /// Claims of one seat the aggregator answers per round, for a roster of `roster` meters.
    pub fn answer_cap(&self, roster: usize) -> usize {
        self.claim_answers.of(roster).max(1)
    }
}

/// ⌈log2 x⌉ (0 for x ≤ 1).
pub fn ceil_log2(x: usize) -> u32 {
    if x <= 1 {
        0
    } else {
        usize::BITS - (x - 1).leading_zeros()
    }
}

/// Probability that more than `d` of `k` seats are corrupt when each is corrupt with probability
/// `p` independently (a large region; the committee is a uniform draw by the beacon).
pub fn committee_capture_probability(k: usize, d: usize, p: f64) -> f64 {
    // Sum the upper tail directly in logs to keep tiny terms exact.
    let ln_choose = |n: usize, r: usize| -> f64 {
        (1..=r)
            .map(|i| ((n - r + i) as f64).ln() - (i as f64).ln())
            .sum()
    };
    (d + 1..=k)
        .map(|x| (ln_choose(k, x) + x as f64 * p.ln() + (k - x) as f64 * (1.0 - p).ln()).exp())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_cost_model() {
        let p = Params::default();
        p.validate().unwrap();
        // DESIGN §4 cost: max_roster ≤ 2^15 and 2048-bit keys give 6 slots a ciphertext; 8 values
        // (16 slots) need 3 ciphertexts a seat, 63 for 21 seats.
        assert_eq!(p.slot_bits(), 253 + 40 + 32 + 15 + 1);
        assert_eq!(p.slots_per_ciphertext(), 6);
        assert_eq!(p.ciphertexts_per_seat() * p.committee_size, 63);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        type Change = fn(&mut Params);
        let cases: Vec<(Change, &str)> = vec![
            (|p| p.committee_size = 20, "committee_size"), // 20 < 2·9 + 3
            (|p| p.intervals_per_round = 7, "intervals_per_round"), // 105 min does not divide a day
            (|p| p.intervals_per_round = 12, "intervals_per_round"), // 24 values > one range proof's 16
            (|p| p.value_bits = 40, "value_bits"),
            (
                |p| p.participation = Ratio { num: 6, den: 5 },
                "participation",
            ),
            (
                |p| p.claim_answers = Ratio { num: 0, den: 16 },
                "claim_answers",
            ),
            (|p| p.min_roster = 2, "min_roster"),
            (|p| p.modulus_bits = 1024, "modulus_bits"),
            (|p| p.smudging_bits = 20, "smudging_bits"),
            (|p| p.deadlines.reveal = 10, "deadlines"),
        ];
        for (change, name) in cases {
            let mut p = Params::default();
            change(&mut p);
            assert_eq!(p.validate().unwrap_err().name, name);
        }
    }

    #[test]
    fn small_regions_use_every_meter_with_d_two_below() {
        let p = Params::default();
        assert_eq!(
            p.committee_shape(1000).unwrap(),
            CommitteeShape {
                seats: 21,
                degree: 9
            }
        );
        assert_eq!(
            p.committee_shape(12).unwrap(),
            CommitteeShape {
                seats: 12,
                degree: 10
            }
        );
        assert!(matches!(
            p.committee_shape(4),
            Err(RegionRefused::TooSmall { have: 4, need: 5 })
        ));
    }

    #[test]
    fn thresholds_round_up() {
        let p = Params::default();
        assert_eq!(p.quorum(1000), 800);
        assert_eq!(p.quorum(11), 9); // 8.8 rounds up
        assert_eq!(p.quorum(3), 5); // min_roster wins
        assert_eq!(p.answer_cap(1000), 63); // 62.5 rounds up
        assert_eq!(p.answer_cap(8), 1);
    }

    #[test]
    fn rounds_are_aligned_to_their_length() {
        let p = Params::default();
        assert!(p.is_round_start(3_600 * 5));
        assert!(!p.is_round_start(3_600 * 5 + 900));
        assert_eq!(Params::day_of(86_400 * 3 + 5), 3);
        assert_eq!(Params::day_of(-1), -1);
    }

    #[test]
    fn committee_table_matches_the_published_one() {
        // (k, d) and corrupt fractions 5 %, 10 %, 20 %: DESIGN §4's table, to one significant digit.
        let table = [
            (21, 9, [2e-8, 1e-5, 4e-3]),
            (31, 14, [4e-12, 6e-8, 4e-4]),
            (61, 29, [5e-23, 1e-14, 3e-7]),
        ];
        for (k, d, expected) in table {
            for (p, want) in [0.05, 0.10, 0.20].into_iter().zip(expected) {
                let got = committee_capture_probability(k, d, p);
                assert!(
                    (got / want - 1.0).abs() < 0.5,
                    "({k},{d}) at {p}: {got:e} vs {want:e}"
                );
            }
        }
        // Per region-year at 20 %: 1 − (1 − 4·10⁻³)^365 ≈ 77 %.
        let year = 1.0 - (1.0 - committee_capture_probability(21, 9, 0.2)).powi(365);
        assert!((0.70..0.80).contains(&year), "{year}");
    }
}
