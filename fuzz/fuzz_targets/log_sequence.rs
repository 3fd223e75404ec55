//! The round's state machine fed arbitrary sequences of signed records (honest ones, copies,
//! reorderings, withdrawals, short and forged markers): never a panic; a replay that reads the
//! log one record at a time concludes what a fresh replay of the whole log concludes; and a
//! total, when there is one, is exactly the sum of its final set's values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeal_fuzz::region;
use zeal_protocol::v2::round::log::{Outcome, Record, Replay, RoundView, replay};

fn conclusions(v: &RoundView) -> String {
    format!(
        "{:?}",
        (
            &v.commits,
            &v.commit_closed,
            &v.answers,
            &v.revealed,
            &v.accused,
            &v.final_set,
            &v.partials,
            &v.outcome,
            &v.evidence
        )
    )
}

fuzz_target!(|data: &[u8]| {
    let f = region();
    let r = &f.region;
    let log: Vec<Record> = data
        .iter()
        .take(64)
        .map(|&b| f.pool[b as usize % f.pool.len()].clone())
        .collect();
    let parts = r.parts(&f.round);
    let fresh = replay(&r.ctx, &r.directory, &log, &parts);
    let mut incremental = Replay::new();
    for n in 1..=log.len() {
        incremental.advance(&r.ctx, &r.directory, &log[..n], &parts);
    }
    assert_eq!(conclusions(incremental.view()), conclusions(&fresh));
    if let Outcome::Total(total) = &fresh.outcome {
        let (_, members, _) = fresh.final_set.as_ref().expect("a total has a final set");
        let mut want = vec![0u64; total.len()];
        for m in members {
            for (w, v) in want.iter_mut().zip(&f.values[m]) {
                *w += v;
            }
        }
        assert_eq!(total, &want, "the total is its final set's sum");
    }
});
