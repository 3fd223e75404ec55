//! The cost of one protocol v2 round, party by party (`zeal round`): every meter deals, the
//! aggregator verifies the reveals and folds per seat, every seat checks its column and computes
//! its partial, and the total is checked against the plaintext sum. Plain `Instant` timings of
//! the library's own code paths; dealing runs on `threads` workers, each timing its own bundles.

use super::local::{LocalRegion, LocalRound};
use super::params::Params;
use super::round::bundle::{Bundle, BundlePublic, part_hash, verify_all, verify_ranges};
use super::round::check::{ColumnEntry, SeatCheck, check_column, fold_column};
use super::round::log::{Author, Entry, Outcome};
use super::round::partial::compute_partial;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Measured costs of one round.
#[derive(Debug, Clone, Default)]
pub struct RoundCosts {
    /// Meters in the round.
    pub meters: usize,
    /// Seats of the committee.
    pub seats: usize,
    /// Shamir degree d.
    pub degree: usize,
    /// Sum over meters of dealing a bundle (shares, commitments, proofs, encryptions).
    pub meter_deal: Duration,
    /// Aggregator: signatures, commitment match and proofs of knowledge of every reveal.
    pub aggregator_verify: Duration,
    /// Aggregator: part hashes against the notices, then the fold per seat.
    pub aggregator_fold: Duration,
    /// Aggregator: range proofs of every reveal (reported apart: DESIGN allows batching).
    pub aggregator_range: Duration,
    /// Sum over seats: the column check (fold, weighted fold, decryptions, commitment checks).
    pub seat_check: Duration,
    /// Sum over seats: the partial over the final set.
    pub seat_partial: Duration,
    /// Bytes of one bundle's public part (what every seat and the aggregator read).
    pub public_bytes: usize,
    /// Bytes of one seat's part of one bundle.
    pub part_bytes: usize,
}

impl RoundCosts {
    /// Aggregator CPU per meter-round without range proofs.
    pub fn aggregator_per_meter(&self) -> Duration {
        (self.aggregator_verify + self.aggregator_fold) / self.meters.max(1) as u32
    }
}

/// Runs one round of `meters` meters under `params` and returns its costs and outcome.
/// `values(i)` gives meter i's values; `progress(done, total)` reports dealing.
pub fn measure_round(
    params: Params,
    meters: usize,
    seed: u64,
    threads: usize,
    values: impl Fn(usize) -> Vec<u64> + Sync,
    mut progress: impl FnMut(&str, usize, usize),
) -> (RoundCosts, Outcome, Vec<u64>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let region = LocalRegion::generate(
        params,
        "NL-UT-01",
        meters,
        1_593_597_600,
        b"bench",
        &mut rng,
        |i| progress("seat keys", i, 0),
    );
    let ctx = &region.ctx;
    let mut costs = RoundCosts {
        meters,
        seats: ctx.seats.len(),
        degree: ctx.degree,
        ..Default::default()
    };
    let readings: Vec<Vec<u64>> = (0..meters).map(&values).collect();
    let mut plain = vec![0u64; ctx.params.values_per_round()];
    for r in &readings {
        for (p, v) in plain.iter_mut().zip(r) {
            *p += v;
        }
    }

    // Meters deal in parallel; each worker times its own bundles.
    let seeds: Vec<u64> = (0..meters).map(|_| rng.next_u64()).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut bundles: Vec<Option<(Bundle, Duration)>> = (0..meters).map(|_| None).collect();
    std::thread::scope(|s| {
        let chunk = meters.div_ceil(threads.max(1));
        for (w, slots) in bundles.chunks_mut(chunk).enumerate() {
            let (seeds, readings, ctx, done) = (&seeds, &readings, ctx, &done);
            s.spawn(move || {
                for (k, slot) in slots.iter_mut().enumerate() {
                    let i = w * chunk + k;
                    let mut g = ChaCha20Rng::seed_from_u64(seeds[i]);
                    let t = Instant::now();
                    let b = super::round::bundle::make_bundle(
                        ctx,
                        &ctx.roster[i],
                        &readings[i],
                        &mut g,
                    )
                    .expect("values in range");
                    *slot = Some((b, t.elapsed()));
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        let mut last = 0;
        while last < meters {
            std::thread::sleep(Duration::from_millis(200));
            let now = done.load(std::sync::atomic::Ordering::Relaxed);
            if now != last {
                progress("bundles", now, meters);
                last = now;
            }
        }
    });
    let mut round = LocalRound::default();
    for (i, slot) in bundles.into_iter().enumerate() {
        let (b, took) = slot.expect("dealt");
        costs.meter_deal += took;
        let m = ctx.roster[i].clone();
        round.log.push(region.record(
            Author::Meter(m.clone()),
            Entry::Commit(b.public.commitment(ctx)),
        ));
        round.bundles.insert(m, b);
    }
    let first = round.bundles.values().next().expect("at least one meter");
    costs.public_bytes = public_bytes(first);
    costs.part_bytes = first.parts[0]
        .ciphertexts
        .iter()
        .chain(&first.parts[0].proofs)
        .map(Vec::len)
        .sum();

    region.close_commits(&mut round);
    for m in ctx.roster.clone() {
        region.reveal(&mut round, &m);
    }

    // The aggregator's work on the reveals: what its service does before RevealClosed.
    let t = Instant::now();
    let commits: BTreeMap<&String, _> = round
        .log
        .iter()
        .filter_map(|r| match (&r.author, &r.entry) {
            (Author::Meter(m), Entry::Commit(h)) => Some((m, *h)),
            _ => None,
        })
        .collect();
    let mut signed = Vec::new();
    for r in &round.log {
        let (Author::Meter(m), Entry::Notice(public)) = (&r.author, &r.entry) else {
            continue;
        };
        // Hashed once: it is what the meter signed and what it committed to.
        let commitment = public.commitment(ctx);
        if region.directory.meters[m]
            .verify_strict(
                &super::round::log::notice_signing_bytes(ctx, m, &commitment),
                &r.signature,
            )
            .is_ok()
            && commits.get(m) == Some(&commitment)
        {
            signed.push((m, &**public));
        }
    }
    // The proofs of knowledge of every signed, committed notice in one batch.
    let publics: Vec<&BundlePublic> = signed.iter().map(|(_, p)| *p).collect();
    let revealed: Vec<String> = signed
        .iter()
        .zip(verify_all(ctx, &publics))
        .filter(|(_, ok)| ok.is_ok())
        .map(|((m, _), _)| (*m).clone())
        .collect();
    costs.aggregator_verify = t.elapsed();
    let t = Instant::now();
    let publics: Vec<&BundlePublic> = round
        .log
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Notice(public) => Some(&**public),
            _ => None,
        })
        .collect();
    let _ = verify_ranges(ctx, &publics);
    costs.aggregator_range = t.elapsed();
    let t = Instant::now();
    for (j, seat) in ctx.seats.iter().enumerate() {
        let column: Vec<ColumnEntry<'_>> = revealed
            .iter()
            .map(|m| {
                let b = &round.bundles[m];
                assert_eq!(
                    part_hash(ctx, m, &seat.meter, &b.parts[j]),
                    b.public.part_hashes[j]
                );
                ColumnEntry {
                    public: &b.public,
                    part: &b.parts[j],
                }
            })
            .collect();
        fold_column(ctx, j, &column).expect("well-formed parts");
    }
    costs.aggregator_fold = t.elapsed();

    region.close_reveals(&mut round);
    region.range_checks(&mut round);
    let view = region.view(&round);
    let mut passed = Vec::new();
    for j in 0..ctx.seats.len() {
        let column = region.column(&view, &round, j);
        let entries: Vec<ColumnEntry<'_>> = column.values().copied().collect();
        let t = Instant::now();
        passed.push(
            check_column(ctx, j, &region.seat_secrets[j], &entries, &mut rng) == SeatCheck::Passed,
        );
        costs.seat_check += t.elapsed();
    }
    region.close_final(&mut round);
    let view = region.view(&round);
    for (j, &ok) in passed.iter().enumerate() {
        let column = region.column(&view, &round, j);
        let t = Instant::now();
        let _ = compute_partial(ctx, &view, j, &region.seat_secrets[j], ok, &column);
        costs.seat_partial += t.elapsed();
    }
    region.partials(&mut round, &passed, &mut rng);
    let outcome = region.publish_total(&mut round);
    (costs, outcome, plain)
}

fn public_bytes(b: &Bundle) -> usize {
    let p = &b.public;
    p.commitments
        .iter()
        .map(|c| 32 * (c.degree() + 1))
        .sum::<usize>()
        + p.opening_proofs.len() * super::crypto::vss::OPENING_PROOF_BYTES
        + p.range_proof.to_bytes().len()
        + 32 * p.part_hashes.len()
}
