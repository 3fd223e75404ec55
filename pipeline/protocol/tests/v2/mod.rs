//! Shared set-up of the protocol v2 tests: a small region whose seat keys are generated once per
//! test binary (2048-bit keygen is the slow part).

#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use zeal_protocol::v2::local::LocalRegion;
use zeal_protocol::v2::params::{Params, Ratio};

/// Round start of the tests: 2020-07-01 10:00 UTC (aligned to the hourly round).
pub const START: i64 = 1_593_597_600;

/// Parameters of the test region: k = 5 seats, d = 1, θ = 1/2, two values a round.
pub fn params() -> Params {
    Params {
        committee_size: 5,
        threshold: 1,
        intervals_per_round: 1,
        interval_seconds: 3600,
        min_roster: 3,
        participation: Ratio { num: 1, den: 2 },
        ..Params::default()
    }
}

/// A region of `meters` meters with seeded keys.
pub fn region(meters: usize, seed: u64) -> LocalRegion {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    LocalRegion::generate(
        params(),
        "NL-T01",
        meters,
        START,
        b"test beacon",
        &mut rng,
        |_| {},
    )
}

/// The shared region of 8 meters (keys generated once).
pub fn shared() -> &'static LocalRegion {
    static R: OnceLock<LocalRegion> = OnceLock::new();
    R.get_or_init(|| region(8, 42))
}

/// Deterministic readings: meter i reads (100·i + 7, 3·i).
pub fn readings(r: &LocalRegion) -> BTreeMap<String, Vec<u64>> {
    r.ctx
        .roster
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), vec![100 * i as u64 + 7, 3 * i as u64]))
        .collect()
}

/// Per-value sums of the readings of `meters`.
pub fn sums(values: &BTreeMap<String, Vec<u64>>, meters: &[String]) -> Vec<u64> {
    let mut out = vec![0; values.values().next().map_or(0, Vec::len)];
    for m in meters {
        for (o, v) in out.iter_mut().zip(&values[m]) {
            *o += v;
        }
    }
    out
}

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}
