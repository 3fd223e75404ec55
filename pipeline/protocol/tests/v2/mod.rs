//! Shared set-up of the protocol v2 tests: a small region whose seat keys are generated once per
//! test binary (2048-bit keygen is the slow part).

#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use zeal_protocol::v2::local::{LocalRegion, LocalRound};
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::log::{Parts, Record, Replay, RoundView, Verified, replay, verify};

/// Round start of the tests: 2020-07-01 10:00 UTC (aligned to the hourly round).
pub const START: i64 = 1_593_597_600;

/// Parameters of the test region: k = 5 seats, d = 1, θ = 1/2, two values a round.
pub fn params() -> Params {
    zeal_protocol::v2::local::small_params()
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

/// The roster without the meters in `left_out`, in roster order.
pub fn roster_without(r: &LocalRegion, left_out: &[&String]) -> Vec<String> {
    r.ctx
        .roster
        .iter()
        .filter(|m| !left_out.contains(m))
        .cloned()
        .collect()
}

/// A roster meter that holds no seat.
pub fn non_seat(r: &LocalRegion) -> String {
    r.ctx
        .roster
        .iter()
        .find(|m| r.ctx.seat(m).is_none())
        .expect("more meters than seats")
        .clone()
}

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// What a replay concluded, everything but its work counters (a fresh and an incremental
/// replay of one log differ only in those).
pub fn conclusions(v: &RoundView) -> String {
    format!(
        "{:?}",
        (
            &v.commits,
            &v.commit_closed,
            &v.answers,
            v.notices.keys().collect::<Vec<_>>(),
            (
                &v.first_reveal_closed,
                &v.revealed,
                &v.accused,
                &v.complaints
            ),
            (&v.disqualified, &v.final_set, &v.partials, &v.waiting_at),
            (
                &v.missing,
                v.posted.keys().collect::<Vec<_>>(),
                &v.aggregator_answers,
                &v.capped,
            ),
            (&v.outcome, &v.evidence, &v.judged, &v.judged_partials),
        )
    )
}

/// Reads `round`'s log one record at a time with a [`Replay`] (the seats' parts withheld until
/// half the log, then until its end, as a reader that has not fetched them yet) and checks after
/// every record that its view is a fresh replay's of that prefix with the parts then at hand;
/// then the same over the records that verify, read as verified records (what the wire reader
/// hands a node).
pub fn assert_incremental(r: &LocalRegion, round: &LocalRound) {
    let all = r.parts(round);
    let none = Parts::new();
    let verified: Vec<Verified> = round
        .log
        .iter()
        .filter_map(|x| verify(&r.ctx, &r.directory, x.clone()))
        .collect();
    let signed: Vec<Record> = verified.iter().map(|x| x.record().clone()).collect();
    for parts_from in [round.log.len() / 2, round.log.len()] {
        let parts_at = |n: usize| if n < parts_from { &none } else { &all };
        let mut inc = Replay::new();
        for n in 0..=round.log.len() {
            let prefix = &round.log[..n];
            let fresh = replay(&r.ctx, &r.directory, prefix, parts_at(n));
            let view = inc.advance(&r.ctx, &r.directory, prefix, parts_at(n));
            assert_eq!(conclusions(view), conclusions(&fresh), "after {n} records");
        }
        let mut inc = Replay::new();
        for n in 0..=verified.len() {
            let fresh = replay(&r.ctx, &r.directory, &signed[..n], parts_at(n));
            let view = inc.advance_verified(&r.ctx, &r.directory, &verified[..n], parts_at(n));
            assert_eq!(conclusions(view), conclusions(&fresh), "after {n} verified");
            assert_eq!(
                view.work.signatures, 0,
                "a verified record is not verified again"
            );
        }
    }
}
