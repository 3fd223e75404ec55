//! The cost of one protocol v2 round, party by party (`zeal round`): every meter deals, the
//! aggregator verifies the reveals and folds per seat, every seat checks its column and computes
//! its partial, and the total is checked against the plaintext sum. Plain `Instant` timings of
//! the library's own code paths; dealing runs on `threads` workers, each timing its own bundles.

use super::crypto::range_batch::RangeItem;
use super::encoding::Hash;
use super::local::{LocalRegion, LocalRound};
use super::params::Params;
use super::round::RoundContext;
use super::round::bundle::{
    Bundle, BundlePublic, part_hash, range_context, verify_all, verify_ranges,
};
use super::round::check::{ColumnEntry, SeatCheck, check_column, fold_column};
use super::round::log::{Author, Directory, Entry, Outcome, Record};
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

/// The benchmarks' region: `meters` meters of NL-UT-01 under `params`, keys drawn from `rng`
/// (`progress` counts the seat keys).
pub fn bench_region(
    params: Params,
    meters: usize,
    rng: &mut ChaCha20Rng,
    progress: impl FnMut(usize),
) -> LocalRegion {
    LocalRegion::generate(
        params,
        "NL-UT-01",
        meters,
        1_593_597_600,
        b"bench",
        rng,
        progress,
    )
}

/// A round of `region` in which the i-th roster meter commits to the i-th of `bundles`, the
/// aggregator closes the commits and every meter reveals.
pub fn commit_and_reveal(
    region: &LocalRegion,
    bundles: impl IntoIterator<Item = Bundle>,
) -> LocalRound {
    let ctx = &region.ctx;
    let mut round = LocalRound::default();
    for (i, b) in bundles.into_iter().enumerate() {
        let m = ctx.roster[i].clone();
        round.log.push(region.record(
            Author::Meter(m.clone()),
            Entry::Commit(b.public.commitment(ctx)),
        ));
        round.bundles.insert(m, b);
    }
    region.close_commits(&mut round);
    for m in ctx.roster.clone() {
        region.reveal(&mut round, &m);
    }
    round
}

/// Each meter's commitment on `log`, by meter.
pub fn commits_of(log: &[Record]) -> BTreeMap<&String, Hash> {
    log.iter()
        .filter_map(|r| match (&r.author, &r.entry) {
            (Author::Meter(m), Entry::Commit(h)) => Some((m, *h)),
            _ => None,
        })
        .collect()
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
    let region = bench_region(params, meters, &mut rng, |i| progress("seat keys", i, 0));
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
    let mut dealt = Vec::with_capacity(meters);
    for slot in bundles {
        let (b, took) = slot.expect("dealt");
        costs.meter_deal += took;
        dealt.push(b);
    }
    let mut round = commit_and_reveal(&region, dealt);
    let first = round.bundles.values().next().expect("at least one meter");
    costs.public_bytes = public_bytes(first);
    costs.part_bytes = first.parts[0]
        .ciphertexts
        .iter()
        .chain(&first.parts[0].proofs)
        .map(Vec::len)
        .sum();

    // The aggregator's work on the reveals: what its service does before RevealClosed.
    let work = aggregator_costs(ctx, &region.directory, &round.log, &round.bundles);
    costs.aggregator_verify = work.verify;
    costs.aggregator_range = work.range;
    costs.aggregator_fold = work.fold;

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

/// The aggregator's own work on one round's reveals, timed on the calling thread: what its
/// service does between the reveals and its products (the baseline of `zeal bench pipeline`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AggregatorCosts {
    /// Notice signatures, commitment match and the opening proofs (one batch).
    pub verify: Duration,
    /// Range proofs of every notice, batched.
    pub range: Duration,
    /// The same range proofs one at a time with the bulletproofs crate's own verifier (the
    /// baseline the batch is measured against, in the same run).
    pub range_single: Duration,
    /// Part hashes against the notices and the fold per seat.
    pub fold: Duration,
}

/// Times the aggregator's work on `log` (commits and notices, signed) and the revealed
/// senders' `bundles` in `ctx`'s round.
pub fn aggregator_costs(
    ctx: &RoundContext,
    directory: &Directory,
    log: &[Record],
    bundles: &BTreeMap<String, Bundle>,
) -> AggregatorCosts {
    let t = Instant::now();
    let commits = commits_of(log);
    let mut signed = Vec::new();
    for r in log {
        let (Author::Meter(m), Entry::Notice(public)) = (&r.author, &r.entry) else {
            continue;
        };
        // Hashed once: it is what the meter signed and what it committed to.
        let commitment = public.commitment(ctx);
        if directory.meters[m]
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
    let verify = t.elapsed();
    let t = Instant::now();
    let publics: Vec<&BundlePublic> = log
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Notice(public) => Some(&**public),
            _ => None,
        })
        .collect();
    let _ = verify_ranges(ctx, &publics);
    let range = t.elapsed();
    let t = Instant::now();
    for p in &publics {
        let context = range_context(ctx, &p.sender);
        let item = RangeItem::from_vss(&p.range_proof, &p.commitments, &context);
        std::hint::black_box(item.verify_single(ctx.params.value_bits as usize));
    }
    let range_single = t.elapsed();
    let t = Instant::now();
    for (j, seat) in ctx.seats.iter().enumerate() {
        let column: Vec<ColumnEntry<'_>> = revealed
            .iter()
            .map(|m| {
                let b = &bundles[m];
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
    let fold = t.elapsed();
    AggregatorCosts {
        verify,
        range,
        range_single,
        fold,
    }
}

/// This thread's CPU time (Linux `CLOCK_THREAD_CPUTIME_ID`; elsewhere wall time): on a shared
/// machine it counts only the work measured.
pub fn thread_cpu_now() -> Duration {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        unsafe extern "C" {
            fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        }
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `t` is a valid timespec; clock 3 is CLOCK_THREAD_CPUTIME_ID on Linux.
        if unsafe { clock_gettime(3, &mut t) } == 0 {
            return Duration::new(t.sec as u64, t.nsec as u32);
        }
    }
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// The cost of dealing one bundle, with the seat keys' fixed-base tables (the default) and with
/// `mpz_powm_sec` on every call (the path before them), and where the time goes.
#[derive(Debug, Clone, Default)]
pub struct DealCosts {
    /// Seats of the committee.
    pub seats: usize,
    /// Encryptions (each with its plaintext proof) per bundle.
    pub encryptions: usize,
    /// Fastest bundle with `mpz_powm_sec` for `h_s^r` and `y^r`.
    pub powm_sec: Duration,
    /// Fastest bundle with the fixed-base tables.
    pub fixed_base: Duration,
    /// Building every seat key's tables (once per key and day).
    pub table_build: Duration,
    /// Bytes of one seat key's tables.
    pub table_bytes: usize,
    /// Per encryption: `h_s^r mod n²` with `mpz_powm_sec`, and from the table.
    pub h_s_r: (Duration, Duration),
    /// Per encryption: `ρ = y^r mod n` with `mpz_powm_sec`, and from the table.
    pub y_r: (Duration, Duration),
    /// Per plaintext proof: the commitment's `b^n mod n²` (variable base: no table).
    pub b_n: Duration,
    /// Per plaintext proof: the answer's `ρ^e mod n` (128-bit `e`).
    pub rho_e: Duration,
    /// Per bundle: the aggregated Bulletproofs range proof.
    pub range_proof: Duration,
}

impl DealCosts {
    /// What a bundle spends outside the measured parts (shares, commitments and their opening
    /// proofs, packing, masks, hashing, encoding), table-free and with the tables: the two
    /// should agree up to the machine's noise.
    pub fn other(&self) -> (Duration, Duration) {
        let e = self.encryptions as u32;
        let rest = |bundle: Duration, h_s_r: Duration, y_r: Duration| {
            bundle.saturating_sub((h_s_r + y_r + self.b_n + self.rho_e) * e + self.range_proof)
        };
        (
            rest(self.powm_sec, self.h_s_r.0, self.y_r.0),
            rest(self.fixed_base, self.h_s_r.1, self.y_r.1),
        )
    }
}

/// Deals one bundle `reps` times each way, alternating, on seat keys of `params.modulus_bits`
/// (one committee of `params.committee_size` seats; key generation is the slow part) and checks
/// that both ways give the same bundle for the same seed. Times are thread CPU time, fastest of
/// `reps`; the parts are timed between the bundles, each the fastest of `reps` runs of ten.
pub fn measure_deal(params: Params, reps: usize, seed: u64) -> DealCosts {
    use super::crypto::paillier::Exponentiation;
    use super::crypto::vss::{Dealing, RangeProof};
    use super::round::bundle::{make_bundle_using, range_context};
    use rug::Integer;
    use rug::integer::Order;

    let reps = reps.max(1);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let meters = params.committee_size.max(params.min_roster);
    let region = bench_region(params, meters, &mut rng, |_| {});
    let ctx = &region.ctx;
    let values: Vec<u64> = (0..ctx.params.values_per_round() as u64).collect();
    let sender = &ctx.roster[0];
    let mut costs = DealCosts {
        seats: ctx.seats.len(),
        encryptions: ctx.seats.len() * ctx.layout().plaintexts(),
        powm_sec: Duration::MAX,
        fixed_base: Duration::MAX,
        ..Default::default()
    };
    let t = thread_cpu_now();
    for s in &ctx.seats {
        costs.table_bytes = s.key.precompute();
    }
    costs.table_build = thread_cpu_now() - t;

    // The parts, on the first seat's key with exponents drawn as encryption draws them.
    let key = &ctx.seats[0].key;
    let (n, n2) = (key.n(), key.n_squared());
    let tables = key.tables();
    let mut draw = |bits: u32| {
        let mut buf = vec![0u8; bits.div_ceil(8) as usize];
        rng.fill_bytes(&mut buf);
        Integer::from_digits(&buf, Order::Msf).keep_bits(bits)
    };
    let rs: Vec<Integer> = (0..10).map(|_| draw(key.bits() / 2)).collect();
    let bs: Vec<Integer> = (0..10).map(|_| draw(key.bits()) % n).collect();
    let es: Vec<Integer> = (0..10).map(|_| draw(128)).collect();
    let mut range_rng = ChaCha20Rng::seed_from_u64(rng.next_u64());
    let dealings: Vec<Dealing> = values
        .iter()
        .map(|&v| Dealing::new(v, ctx.degree, &mut range_rng))
        .collect();
    let blindings: Vec<_> = dealings.iter().map(Dealing::value_blinding).collect();
    let range = range_context(ctx, sender);
    let value_bits = ctx.params.value_bits as usize;
    let sec = |b: &Integer, e: &Integer, m: &Integer| Integer::from(b.secure_pow_mod_ref(e, m));
    // Ten runs, per run; the fastest of all repetitions is kept.
    let tenth = |slot: &mut Duration, f: &mut dyn FnMut()| {
        let t = thread_cpu_now();
        f();
        let took = (thread_cpu_now() - t) / 10;
        if *slot == Duration::ZERO || took < *slot {
            *slot = took;
        }
    };

    // Bundles and parts interleaved, so that both ways and every part see the same machine.
    for _ in 0..reps {
        let seed = rng.next_u64();
        let mut bundles = Vec::new();
        for how in [Exponentiation::PowmSec, Exponentiation::FixedBase] {
            let mut g = ChaCha20Rng::seed_from_u64(seed);
            let t = thread_cpu_now();
            let b = make_bundle_using(ctx, sender, &values, &mut |_| {}, how, &mut g)
                .expect("values in range");
            let took = thread_cpu_now() - t;
            let best = match how {
                Exponentiation::PowmSec => &mut costs.powm_sec,
                Exponentiation::FixedBase => &mut costs.fixed_base,
            };
            *best = (*best).min(took);
            bundles.push(b);
        }
        let (a, b) = (&bundles[0], &bundles[1]);
        assert!(
            a.public.commitment(ctx) == b.public.commitment(ctx) && a.parts == b.parts,
            "both exponentiations deal the same bundle"
        );
        tenth(&mut costs.h_s_r.0, &mut || {
            rs.iter().for_each(|r| drop(sec(key.h_s(), r, n2)))
        });
        tenth(&mut costs.h_s_r.1, &mut || {
            rs.iter().for_each(|r| drop(tables.h_s.pow(r)))
        });
        tenth(&mut costs.y_r.0, &mut || {
            rs.iter().for_each(|r| drop(sec(key.y(), r, n)))
        });
        tenth(&mut costs.y_r.1, &mut || {
            rs.iter().for_each(|r| drop(tables.y.pow(r)))
        });
        tenth(&mut costs.b_n, &mut || {
            bs.iter().for_each(|b| drop(sec(b, n, n2)))
        });
        tenth(&mut costs.rho_e, &mut || {
            bs.iter().zip(&es).for_each(|(b, e)| drop(sec(b, e, n)))
        });
        tenth(&mut costs.range_proof, &mut || {
            for _ in 0..10 {
                RangeProof::prove_range(&values, &blindings, value_bits, &range, &mut range_rng)
                    .expect("in range");
            }
        });
    }
    costs
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
