//! A meter's cost of dealing one bundle, with the seat keys' fixed-base tables and with the
//! table-free path before them (`mpz_powm_sec` on every call), alternating in one process:
//! `cargo run --release -p zeal-protocol --example deal_cost -- [reps] [modulus_bits]`
//! (defaults 5 and 2048; the protocol's other defaults: k = 21 seats, 8 values). Generates the
//! committee's keys first (slow), checks both paths deal the same bundle for the same seed, and
//! prints the fastest bundle each way in thread CPU time and where the time goes.

use std::time::Duration;
use zeal_protocol::v2::bench::measure_deal;
use zeal_protocol::v2::params::Params;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().map_or(5, |a| a.parse().expect("reps"));
    let bits: u32 = args
        .next()
        .map_or(2048, |a| a.parse().expect("modulus bits"));
    let params = Params {
        modulus_bits: bits,
        ..Params::default()
    };
    params.validate().expect("valid parameters");
    let c = measure_deal(params, reps, 1);
    let e = c.encryptions as u32;
    println!(
        "{bits}-bit keys, {} seats, {} encryptions with plaintext proofs per bundle; best of {reps}, thread CPU time",
        c.seats, c.encryptions
    );
    println!(
        "tables: {} bytes per seat key, built for all {} seats in {:.1} ms (once per key and day)",
        c.table_bytes,
        c.seats,
        ms(c.table_build)
    );
    println!(
        "deal one bundle: powm_sec {:.1} ms, fixed-base {:.1} ms: {:.2}x",
        ms(c.powm_sec),
        ms(c.fixed_base),
        c.powm_sec.as_secs_f64() / c.fixed_base.as_secs_f64()
    );
    println!("where a bundle's time goes (per bundle; part x count):");
    let row = |name: &str, per: Duration, count: u32, total: Duration| {
        println!(
            "  {name:<44} {:>8.3} ms x {count:>2} = {:>7.1} ms ({:>4.1} % of powm_sec bundle)",
            ms(per),
            ms(per * count),
            100.0 * (per * count).as_secs_f64() / total.as_secs_f64()
        )
    };
    let t = c.powm_sec;
    row("h_s^r mod n^2, powm_sec", c.h_s_r.0, e, t);
    row("h_s^r mod n^2, fixed-base table", c.h_s_r.1, e, t);
    row("rho = y^r mod n, powm_sec", c.y_r.0, e, t);
    row("rho = y^r mod n, fixed-base table", c.y_r.1, e, t);
    row("proof commitment b^n mod n^2 (variable base)", c.b_n, e, t);
    row("proof answer rho^e mod n (128-bit e)", c.rho_e, e, t);
    row(
        "range proof (Bulletproofs, aggregated)",
        c.range_proof,
        1,
        t,
    );
    let (other_old, other_new) = c.other();
    row(
        "other, powm_sec bundle (VSS, packing, hashing)",
        other_old,
        1,
        t,
    );
    row("other, fixed-base bundle (same work)", other_new, 1, t);
}
