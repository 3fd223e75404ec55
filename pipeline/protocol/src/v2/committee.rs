//! The committee of a region and day (DESIGN §4, "Committee"): the k certified candidates with the
//! smallest SHA-256(beacon ‖ day ‖ region ‖ meter id). The candidates are fixed by the
//! authority's Cutoff(D) before the beacon round exists, so nobody can grind the draw; everyone
//! recomputes it. Seats are evaluated at their 1-based rank.

use super::encoding::hash_fields;
use std::collections::BTreeSet;

/// A region's committee for one day, in rank order (rank = index + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committee {
    seats: Vec<String>,
}

impl Committee {
    /// Draws `k` seats from `candidates` (duplicates ignored) with the day's beacon output.
    pub fn draw(
        beacon: &[u8],
        day: i64,
        region: &str,
        candidates: &[String],
        k: usize,
    ) -> Committee {
        let unique: BTreeSet<&String> = candidates.iter().collect();
        let mut ranked: Vec<([u8; 32], &String)> = unique
            .into_iter()
            .map(|m| {
                let h = hash_fields(&[
                    b"zebra-zeal/v2/committee",
                    beacon,
                    &day.to_be_bytes(),
                    region.as_bytes(),
                    m.as_bytes(),
                ]);
                (h.0, m)
            })
            .collect();
        ranked.sort();
        Committee {
            seats: ranked.into_iter().take(k).map(|(_, m)| m.clone()).collect(),
        }
    }

    /// A committee given in rank order (tests and replays of a recorded draw).
    pub fn from_ranked(seats: Vec<String>) -> Committee {
        Committee { seats }
    }

    /// Seats in rank order.
    pub fn seats(&self) -> &[String] {
        &self.seats
    }

    /// Number of seats.
    pub fn len(&self) -> usize {
        self.seats.len()
    }

    /// Whether the committee is empty.
    pub fn is_empty(&self) -> bool {
        self.seats.is_empty()
    }

    /// A meter's 1-based rank, the point its shares are evaluated at.
    pub fn rank(&self, meter: &str) -> Option<u64> {
        self.seats
            .iter()
            .position(|s| s == meter)
            .map(|i| i as u64 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meters(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i:04}")).collect()
    }

    #[test]
    fn the_draw_is_deterministic_and_ignores_candidate_order() {
        let mut c = meters(200);
        let a = Committee::draw(b"beacon-1", 19_000, "R1", &c, 21);
        c.reverse();
        c.push("m0007".into()); // a duplicate changes nothing
        assert_eq!(a, Committee::draw(b"beacon-1", 19_000, "R1", &c, 21));
        assert_eq!(a.len(), 21);
        assert_eq!(a.rank(&a.seats()[0]), Some(1));
    }

    #[test]
    fn each_input_of_the_draw_changes_it() {
        let c = meters(200);
        let a = Committee::draw(b"beacon-1", 19_000, "R1", &c, 21);
        assert_ne!(a, Committee::draw(b"beacon-2", 19_000, "R1", &c, 21));
        assert_ne!(a, Committee::draw(b"beacon-1", 19_001, "R1", &c, 21));
        assert_ne!(a, Committee::draw(b"beacon-1", 19_000, "R2", &c, 21));
    }
}
