//! `zeal round`: a complete private aggregation round for one region in one process, checked
//! against the plaintext sum, with the cost of every party. Protocol v2 by default (committee,
//! verifiable shares, commit-then-reveal); `--v1` runs the retired v1 round for comparison.

use anyhow::{Context, bail};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::io::Write;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::local::{LocalRegion, StageTimes};

#[derive(Args)]
pub struct RoundArgs {
    /// Meters in the region (the roster).
    #[arg(long, default_value_t = 50)]
    meters: usize,
    /// Consecutive 15-minute intervals to aggregate, one round each.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Paillier modulus size: 2048 or 3072.
    #[arg(long, default_value_t = 2048)]
    key_bits: u32,
    /// Seed of the simulated readings and of all randomness (reproducible runs).
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Run protocol v1 (broken by the attacks in docs/protocol.md; kept for comparison).
    #[arg(long)]
    v1: bool,
    /// Workers that deal the meters' bundles (v2; each times its own bundles).
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

/// A plausible 15-minute import/export in Wh for meter `i` at interval `k` (daily load curve,
/// solar export around noon for every third meter).
fn reading(i: usize, k: usize, rng: &mut ChaCha20Rng) -> Vec<u64> {
    use rand::Rng;
    let hour = (k % 96) as f64 / 4.0;
    let base = 40.0 + 25.0 * ((hour - 19.0) / 3.0).powi(2).mul_add(-1.0, 1.0).max(0.0) * 4.0;
    let import = base * (0.5 + rng.random::<f64>());
    let solar = if i.is_multiple_of(3) {
        (300.0 * (std::f64::consts::PI * (hour - 6.0) / 14.0).sin()).max(0.0)
    } else {
        0.0
    };
    let net = import - solar;
    vec![net.max(0.0).round() as u64, (-net).max(0.0).round() as u64]
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn run(args: RoundArgs) -> anyhow::Result<()> {
    if !args.v1 {
        return run_v2(&args);
    }
    let config = ProtocolConfig {
        key_bits: args.key_bits,
        ..Default::default()
    };
    config.validate().context("protocol parameters")?;
    anyhow::ensure!(
        args.meters >= config.min_roster,
        "--meters {} is below min_roster {}: such a round is never opened",
        args.meters,
        config.min_roster
    );
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let start = std::time::Instant::now();
    let mut region = LocalRegion::generate("NL-UT-01", args.meters, &config, &mut rng, |done| {
        eprint!(
            "\rgenerating {}-bit keys: {done}/{}",
            args.key_bits, args.meters
        );
        let _ = std::io::stderr().flush();
    });
    eprintln!(" ({:.1} s)", start.elapsed().as_secs_f64());

    let t0: i64 = 1_593_561_600_000; // 2020-07-01T00:00Z
    let mut all = StageTimes::default();
    let mut bytes = 0;
    println!(
        "{:<20} {:>12} {:>12} {:>6}",
        "interval", "private total", "plain sum", "ok"
    );
    for k in 0..args.rounds {
        let interval = t0 + k as i64 * 900_000;
        let mut plain = vec![0u64; 2];
        let readings: Vec<Vec<u64>> = (0..args.meters)
            .map(|i| reading(i, k + 40, &mut rng))
            .collect();
        for (agent, r) in region.meters.iter_mut().zip(&readings) {
            plain[0] += r[0];
            plain[1] += r[1];
            agent.record_reading(interval, r.clone());
        }
        let round = region.run_round(interval, interval + 900_000, &mut rng);
        let Some(total) = round.total else {
            bail!("round {k} published no total: {:?}", round.outcomes);
        };
        let got: Vec<u64> = total.totals.iter().map(|v| *v as u64).collect();
        let ok = got == plain;
        println!(
            "{:<20} {:>12} {:>12} {:>6}",
            format!("+{} min", k * 15),
            format!("{}/{}", got[0], got[1]),
            format!("{}/{}", plain[0], plain[1]),
            if ok { "yes" } else { "NO" }
        );
        if !ok {
            bail!("the private total differs from the plaintext sum");
        }
        all.share += round.times.share;
        all.check_and_fold += round.times.check_and_fold;
        all.decrypt += round.times.decrypt;
        all.verify += round.times.verify;
        bytes += round.bytes;
    }
    let per = (args.rounds * args.meters) as u32;
    println!(
        "\n{} rounds of {} meters, {}-bit keys: every private total equals the plaintext sum.",
        args.rounds, args.meters, args.key_bits
    );
    println!(
        "\n{:<44} {:>12} {:>14}",
        "stage (one core)", "ms / round", "ms / meter"
    );
    for (name, d) in [
        ("meters: split, pack, encrypt, sign", all.share),
        (
            "aggregator: check bundles, fold, redistribute",
            all.check_and_fold,
        ),
        ("meters: check column, decrypt, prove", all.decrypt),
        ("aggregator: verify proofs, total", all.verify),
        ("all stages", all.total()),
    ] {
        println!(
            "{name:<44} {:>12.1} {:>14.3}",
            ms(d) / args.rounds as f64,
            ms(d / per)
        );
    }
    println!(
        "\nwire bytes per meter per round: {:.0}",
        bytes as f64 / per as f64
    );
    Ok(())
}

/// One v2 round: every meter deals one hourly round (4 intervals × import/export), the
/// aggregator verifies and folds, every seat checks and computes its partial.
fn run_v2(args: &RoundArgs) -> anyhow::Result<()> {
    use zeal_protocol::v2::params::Params;
    use zeal_protocol::v2::round::log::Outcome;
    let params = Params {
        modulus_bits: args.key_bits,
        ..Params::default()
    };
    params.validate().context("protocol parameters")?;
    params
        .committee_shape(args.meters)
        .with_context(|| format!("--meters {}", args.meters))?;
    let seed = args.seed;
    let intervals = params.intervals_per_round as usize;
    let started = std::time::Instant::now();
    let (costs, outcome, plain) = zeal_protocol::v2::bench::measure_round(
        params,
        args.meters,
        seed,
        args.threads,
        |i| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed ^ i as u64);
            (0..intervals)
                .flat_map(|k| reading(i, k + 40, &mut rng))
                .collect()
        },
        |what, done, total| {
            if total > 0 {
                eprint!("\r{what}: {done}/{total}   ");
            } else {
                eprint!("\r{what}: {done}   ");
            }
            let _ = std::io::stderr().flush();
        },
    );
    eprintln!(" ({:.1} s)", started.elapsed().as_secs_f64());
    let Outcome::Total(got) = outcome else {
        bail!("the round published no total: {outcome:?}");
    };
    println!("private total {got:?}\nplain sum     {plain:?}");
    if got != plain {
        bail!("the private total differs from the plaintext sum");
    }
    let (n, k) = (costs.meters as f64, costs.seats as f64);
    println!(
        "\n1 round of {} meters, {} seats (d = {}), {}-bit seat keys: the private total equals the plaintext sum.\n",
        costs.meters, costs.seats, costs.degree, args.key_bits
    );
    println!("{:<58} {:>12}", "cost (one core)", "ms");
    for (name, d, per) in [
        ("meter: deal one bundle (per meter)", costs.meter_deal, n),
        (
            "aggregator: verify reveals (per meter)",
            costs.aggregator_verify,
            n,
        ),
        (
            "aggregator: part hashes and folds (per meter)",
            costs.aggregator_fold,
            n,
        ),
        (
            "aggregator: range proofs, batched (per meter)",
            costs.aggregator_range,
            n,
        ),
        ("seat: check its column (per seat)", costs.seat_check, k),
        (
            "seat: partial over the final set (per seat)",
            costs.seat_partial,
            k,
        ),
    ] {
        println!("{name:<58} {:>12.3}", ms(d) / per);
    }
    println!(
        "\nbytes per meter per round: {} public + {} per seat ({} in all)",
        costs.public_bytes,
        costs.part_bytes,
        costs.public_bytes + costs.part_bytes * costs.seats
    );
    println!(
        "bytes read per seat per round: {} (every public part and its own part)",
        (costs.public_bytes + costs.part_bytes) * costs.meters
    );
    let per_meter = costs.aggregator_per_meter();
    let with_range = per_meter + costs.aggregator_range / costs.meters.max(1) as u32;
    println!(
        "projection, 1,000,000 meters at hourly rounds: {:.2} aggregator cores, {:.2} with range proofs",
        per_meter.as_secs_f64() * 1e6 / 3600.0,
        with_range.as_secs_f64() * 1e6 / 3600.0
    );
    println!("aggregator CPU per meter-round: {:.3} ms", ms(per_meter));
    Ok(())
}
