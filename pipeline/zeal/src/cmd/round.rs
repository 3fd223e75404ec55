//! `zeal round`: a complete private aggregation round for one region in one process, checked
//! against the plaintext sum, with the cost of every party (protocol v2: committee, verifiable
//! shares, commit-then-reveal).

use anyhow::{Context, bail};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::io::Write;

#[derive(Args)]
pub struct RoundArgs {
    /// Meters in the region (the roster).
    #[arg(long, default_value_t = 50)]
    meters: usize,
    /// Paillier modulus size: 2048 or 3072.
    #[arg(long, default_value_t = 2048)]
    key_bits: u32,
    /// Seed of the simulated readings and of all randomness (reproducible runs).
    #[arg(long, default_value_t = 2020)]
    seed: u64,
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

/// One v2 round: every meter deals one hourly round (4 intervals × import/export), the
/// aggregator verifies and folds, every seat checks and computes its partial.
pub fn run(args: RoundArgs) -> anyhow::Result<()> {
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
