//! Aggregator CPU per meter-round, step by step, old code paths beside new ones:
//! `cargo run --release --example aggregator_cost -- [meters] [threads] [reps] [1]`.
//! Deals one round (slow), then times each step `reps` times in thread CPU time and prints the
//! fastest run per meter; with a fourth argument 1 it also runs `bench::measure_round`.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rug::Integer;
use rug::integer::Order;
use std::time::{Duration, Instant};
use zeal_protocol::v2::bench::{bench_region, commit_and_reveal, commits_of, thread_cpu_now};
use zeal_protocol::v2::encoding::{Hash, Kind};
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::bundle::{
    Bundle, SeatPart, make_bundle, part_hash, verify_all, verify_ranges,
};
use zeal_protocol::v2::round::check::{ColumnEntry, fold_column};
use zeal_protocol::v2::round::log::{
    Author, Entry, Outcome, Replay, Verified, signing_bytes, verify,
};

/// Fastest of `reps` runs, in thread CPU time.
fn best(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = thread_cpu_now();
            f();
            thread_cpu_now() - t
        })
        .min()
        .unwrap()
}

/// The part hash as it was computed before streaming: the whole transcript copied, then hashed.
fn part_hash_copying(ctx: &RoundContext, sender: &str, seat: &str, part: &SeatPart) -> Hash {
    ctx.transcript(Kind::Commit)
        .str("part")
        .str(sender)
        .str(seat)
        .list(part.ciphertexts.iter().map(Vec::as_slice))
        .list(part.proofs.iter().map(Vec::as_slice))
        .hash()
}

/// The fold as it was: every ciphertext parsed byte by byte into its own integer, the column
/// kept, then per index `acc *= c; acc %= n²`.
fn fold_column_old(n2: &Integer, width: usize, parts: &[&SeatPart]) -> Vec<Integer> {
    let parsed: Vec<Vec<Integer>> = parts
        .iter()
        .map(|p| {
            p.ciphertexts
                .iter()
                .map(|b| {
                    let c = Integer::from_digits(b, Order::Msf);
                    assert!(c.cmp0().is_gt() && c < *n2);
                    c
                })
                .collect()
        })
        .collect();
    (0..width)
        .map(|i| {
            let mut acc = Integer::from(1);
            for p in &parsed {
                acc *= &p[i];
                acc %= n2;
            }
            acc
        })
        .collect()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let meters = args.first().copied().unwrap_or(24);
    let threads = args.get(1).copied().unwrap_or(2);
    let reps = args.get(2).copied().unwrap_or(5);
    let params = Params::default();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let t = Instant::now();
    let region = bench_region(params, meters, &mut rng, |_| {});
    let ctx = &region.ctx;
    eprintln!("keys {:.1} s", t.elapsed().as_secs_f64());
    let seeds: Vec<u64> = (0..meters).map(|_| rng.next_u64()).collect();
    let values = ctx.params.values_per_round();
    let mut bundles: Vec<Option<Bundle>> = (0..meters).map(|_| None).collect();
    let t = Instant::now();
    std::thread::scope(|s| {
        let chunk = meters.div_ceil(threads);
        for (w, slots) in bundles.chunks_mut(chunk).enumerate() {
            let seeds = &seeds;
            s.spawn(move || {
                for (k, slot) in slots.iter_mut().enumerate() {
                    let i = w * chunk + k;
                    let mut g = ChaCha20Rng::seed_from_u64(seeds[i]);
                    let vals: Vec<u64> = (0..values).map(|v| (i * 1000 + v) as u64).collect();
                    *slot = Some(make_bundle(ctx, &ctx.roster[i], &vals, &mut g).unwrap());
                }
            });
        }
    });
    eprintln!("deal {:.1} s", t.elapsed().as_secs_f64());
    let round = commit_and_reveal(&region, bundles.into_iter().map(Option::unwrap));
    let notices: Vec<_> = round
        .log
        .iter()
        .filter_map(|r| match (&r.author, &r.entry) {
            (Author::Meter(m), Entry::Notice(p)) => Some((r, m, &**p)),
            _ => None,
        })
        .collect();
    let commits = commits_of(&round.log);
    let n = meters as f64;
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n;
    let report = |name: &str, d: Duration| println!("{name:<44} {:>8.4} ms/meter", per(d));
    let ratio = |name: &str, old: Duration, new: Duration| {
        println!(
            "{name:<44} {:>8.4} -> {:>8.4} ms/meter  ({:.2}x)",
            per(old),
            per(new),
            old.as_secs_f64() / new.as_secs_f64()
        )
    };
    let publics: Vec<_> = notices.iter().map(|(_, _, p)| *p).collect();
    let sig_and_commit = || {
        for (r, m, public) in &notices {
            assert!(
                region.directory.meters[*m]
                    .verify_strict(&signing_bytes(ctx, &r.author, &r.entry), &r.signature)
                    .is_ok()
                    && commits.get(m) == Some(&public.commitment(ctx))
            );
        }
    };
    report(
        "verify: signature + commitment match",
        best(reps, sig_and_commit),
    );
    let sb: Vec<Vec<u8>> = notices
        .iter()
        .map(|(r, _, _)| signing_bytes(ctx, &r.author, &r.entry))
        .collect();
    report(
        "  ed25519 verify_strict",
        best(reps, || {
            for ((r, m, _), b) in notices.iter().zip(&sb) {
                assert!(
                    region.directory.meters[*m]
                        .verify_strict(b, &r.signature)
                        .is_ok()
                );
            }
        }),
    );
    report(
        "  commitment hash (x2: signing bytes, match)",
        best(reps, || {
            for (_, _, p) in &notices {
                std::hint::black_box(p.commitment(ctx));
                std::hint::black_box(p.commitment(ctx));
            }
        }),
    );
    let mut old_v = Duration::MAX;
    let mut new_v = Duration::MAX;
    for _ in 0..reps {
        old_v = old_v.min(best(1, || {
            for p in &publics {
                assert!(p.verify(ctx).is_ok());
            }
        }));
        new_v = new_v.min(best(1, || {
            assert!(verify_all(ctx, &publics).iter().all(Result::is_ok))
        }));
    }
    ratio("verify: opening proofs, per bundle -> all", old_v, new_v);
    let sc = best(reps, sig_and_commit);

    let revealed: Vec<&String> = notices.iter().map(|(_, m, _)| *m).collect();
    let width = ctx.layout().plaintexts();
    // Every revealed part's hash, by `hash`, against its notice.
    let check_part_hashes = |hash: fn(&RoundContext, &str, &str, &SeatPart) -> Hash| {
        for (j, seat) in ctx.seats.iter().enumerate() {
            for m in &revealed {
                let b = &round.bundles[*m];
                assert_eq!(
                    hash(ctx, m, &seat.meter, &b.parts[j]),
                    b.public.part_hashes[j]
                );
            }
        }
    };
    let (mut old_h, mut new_h, mut old_f, mut new_f) =
        (Duration::MAX, Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        old_h = old_h.min(best(1, || check_part_hashes(part_hash_copying)));
        new_h = new_h.min(best(1, || check_part_hashes(part_hash)));
        old_f = old_f.min(best(1, || {
            for (j, seat) in ctx.seats.iter().enumerate() {
                let parts: Vec<&SeatPart> = revealed
                    .iter()
                    .map(|m| &round.bundles[*m].parts[j])
                    .collect();
                std::hint::black_box(fold_column_old(seat.key.n_squared(), width, &parts));
            }
        }));
        new_f = new_f.min(best(1, || {
            for (j, _) in ctx.seats.iter().enumerate() {
                let column: Vec<ColumnEntry<'_>> = revealed
                    .iter()
                    .map(|m| {
                        let b = &round.bundles[*m];
                        ColumnEntry {
                            public: &b.public,
                            part: &b.parts[j],
                        }
                    })
                    .collect();
                std::hint::black_box(fold_column(ctx, j, &column).unwrap());
            }
        }));
    }
    ratio("fold: part hashes, copy -> stream", old_h, new_h);
    ratio("fold: parse + fold, old -> new", old_f, new_f);
    // Same results as the old path.
    for (j, seat) in ctx.seats.iter().enumerate() {
        let parts: Vec<&SeatPart> = revealed
            .iter()
            .map(|m| &round.bundles[*m].parts[j])
            .collect();
        let column: Vec<ColumnEntry<'_>> = revealed
            .iter()
            .map(|m| ColumnEntry {
                public: &round.bundles[*m].public,
                part: &round.bundles[*m].parts[j],
            })
            .collect();
        let new: Vec<Integer> = fold_column(ctx, j, &column)
            .unwrap()
            .iter()
            .map(|c| c.as_integer().clone())
            .collect();
        assert_eq!(new, fold_column_old(seat.key.n_squared(), width, &parts));
    }
    // The same number of mul + mod as the fold, on ciphertexts already parsed.
    let first = &round.bundles[revealed[0]].parts;
    let mulmod = best(reps, || {
        for (j, seat) in ctx.seats.iter().enumerate() {
            let n2 = seat.key.n_squared();
            let x = seat.key.parse_for_fold(&first[j].ciphertexts[0]).unwrap();
            let mut acc = seat
                .key
                .parse_for_fold(&first[j].ciphertexts[1])
                .unwrap()
                .as_integer()
                .clone();
            for _ in 0..meters * width {
                acc *= x.as_integer();
                acc %= n2;
            }
            std::hint::black_box(acc);
        }
    });
    report("  of which mul + mod (parsed inputs)", mulmod);
    ratio(
        "aggregator per meter (cpu), old -> new",
        sc + old_v + old_h + old_f,
        sc + new_v + new_h + new_f,
    );

    // Range proofs: the crate's verifier one by one against one batch (same proofs, same run).
    let single = best(reps, || {
        for p in &publics {
            assert!(p.verify_range(ctx).is_ok());
        }
    });
    let batched = best(reps, || {
        assert!(verify_ranges(ctx, &publics).iter().all(|&ok| ok));
    });
    ratio("range proofs, one by one -> batched", single, batched);

    // A node replays the round as records arrive. Old: the whole log again on every arrival
    // (each record's signature checked again, notices' judgements kept). New: each record
    // judged once, its signature verified once by the wire reader.
    let mut done = round.clone();
    let mut g = ChaCha20Rng::seed_from_u64(2);
    region.close_reveals(&mut done);
    region.range_checks(&mut done);
    let passed = region.seat_checks(&mut done, &mut g);
    region.close_final(&mut done);
    region.partials(&mut done, &passed, &mut g);
    region.publish_total(&mut done);
    let parts = region.parts(&done);
    let dir = &region.directory;
    let verified: Vec<Verified> = done
        .log
        .iter()
        .map(|r| verify(ctx, dir, r.clone()).unwrap())
        .collect();
    let (mut old_r, mut new_r) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        let mut warm = Replay::new();
        warm.advance(ctx, dir, &done.log, &parts);
        old_r = old_r.min(best(1, || {
            for n in 1..=done.log.len() {
                warm.restart();
                std::hint::black_box(warm.advance(ctx, dir, &done.log[..n], &parts));
            }
        }));
        new_r = new_r.min(best(1, || {
            let mut inc = Replay::new();
            for n in 1..=verified.len() {
                std::hint::black_box(inc.advance_verified(ctx, dir, &verified[..n], &parts));
            }
            assert_eq!(inc.view().outcome, warm.view().outcome);
            assert!(matches!(inc.view().outcome, Outcome::Total(_)));
        }));
    }
    ratio(
        &format!(
            "replay per arrival ({} records), whole -> new",
            done.log.len()
        ),
        old_r,
        new_r,
    );

    if args.get(3) != Some(&1) {
        return;
    }
    let t = Instant::now();
    let (costs, _, _) = zeal_protocol::v2::bench::measure_round(
        Params::default(),
        meters,
        7,
        threads,
        |i| vec![i as u64; values],
        |_, _, _| {},
    );
    eprintln!("measure_round {:.1} s", t.elapsed().as_secs_f64());
    println!(
        "measure_round (wall): verify {:.4} + fold {:.4} = {:.4} ms/meter",
        per(costs.aggregator_verify),
        per(costs.aggregator_fold),
        costs.aggregator_per_meter().as_secs_f64() * 1e3
    );
}
