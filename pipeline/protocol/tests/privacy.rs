//! Privacy sanity: the aggregator's whole plaintext view of a round — every column sum S_j and
//! every retained share s_jj (ciphertexts add nothing under Paillier's semantic security) — has
//! the same distribution whatever the individual readings, given their total.

mod common;

use common::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use zeal_protocol::round::crypto::{SlotLayout, split_shares};

const B: u32 = 8;
const MASK: u64 = (1 << B) - 1;

/// The aggregator's view (S_1..S_n, s_11..s_nn) for one split of `readings` (one value each).
fn view(readings: &[u64], rng: &mut ChaCha20Rng) -> Vec<u64> {
    let n = readings.len();
    let mut column = vec![0u64; n];
    let mut retained = vec![0u64; n];
    for (i, x) in readings.iter().enumerate() {
        let (shares, keep) = split_shares(&[*x], n - 1, B, rng);
        retained[i] = keep[0];
        let others = (0..n).filter(|j| *j != i);
        for (j, s) in others.zip(&shares) {
            column[j] = (column[j] + s[0]) & MASK;
        }
    }
    column.into_iter().chain(retained).collect()
}

/// Two-sample chi-square statistic over `buckets` equal-width buckets of 0..2^B.
fn chi_square(a: &[u64], b: &[u64], buckets: usize) -> f64 {
    let bucket = |v: u64| (v as usize * buckets) >> B;
    let (mut ca, mut cb) = (vec![0f64; buckets], vec![0f64; buckets]);
    a.iter().for_each(|v| ca[bucket(*v)] += 1.0);
    b.iter().for_each(|v| cb[bucket(*v)] += 1.0);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    ca.iter()
        .zip(&cb)
        .filter(|(x, y)| *x + *y > 0.0)
        .map(|(x, y)| {
            let d = x * (nb / na).sqrt() - y * (na / nb).sqrt();
            d * d / (x + y)
        })
        .sum()
}

/// Critical value of chi-square with 15 degrees of freedom at p = 1e-4.
const CRITICAL_15: f64 = 42.6;

fn coordinates(samples: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let dims = samples[0].len();
    let n = dims / 2;
    let mut out: Vec<Vec<u64>> = (0..dims)
        .map(|d| samples.iter().map(|s| s[d]).collect())
        .collect();
    // Every S_j + s_kk pair: with two members, S_1 + s_22 *is* x_2.
    for j in 0..n {
        for k in 0..n {
            out.push(samples.iter().map(|s| (s[j] + s[n + k]) & MASK).collect());
        }
    }
    out
}

#[test]
fn the_view_does_not_depend_on_who_consumed_what() {
    let a = [10u64, 20, 30, 40, 150];
    let b = [150u64, 40, 30, 20, 10]; // same total, different households
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let va: Vec<Vec<u64>> = (0..20_000).map(|_| view(&a, &mut rng)).collect();
    let vb: Vec<Vec<u64>> = (0..20_000).map(|_| view(&b, &mut rng)).collect();
    let total = a.iter().sum::<u64>() & MASK;
    for v in va.iter().chain(&vb) {
        assert_eq!(
            v.iter().sum::<u64>() & MASK,
            total,
            "the view sums to the total"
        );
    }
    for (d, (ca, cb)) in coordinates(&va).iter().zip(coordinates(&vb)).enumerate() {
        let x2 = chi_square(ca, &cb, 16);
        assert!(
            x2 < CRITICAL_15,
            "view coordinate {d} differs between A and B: chi2 = {x2:.1}"
        );
    }
}

#[test]
fn the_test_detects_a_leaky_split() {
    // Negative control: the original prototype split readings into positive proportional parts
    // (Dirichlet floats). Emulated here by shares that are fractions of the reading: the same
    // statistic must flag it, or the test above proves nothing.
    let leaky = |readings: &[u64], rng: &mut ChaCha20Rng| -> Vec<u64> {
        use rand::Rng;
        let n = readings.len();
        let mut column = vec![0u64; n];
        let mut retained = vec![0u64; n];
        for (i, x) in readings.iter().enumerate() {
            let mut left = *x;
            for j in (0..n).filter(|j| *j != i) {
                let s = rng.random_range(0..=left / 2);
                left -= s;
                column[j] += s;
            }
            retained[i] = left;
        }
        column
            .into_iter()
            .chain(retained)
            .map(|v| v & MASK)
            .collect()
    };
    let a = [10u64, 20, 30, 40, 150];
    let b = [150u64, 40, 30, 20, 10];
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let va: Vec<Vec<u64>> = (0..20_000).map(|_| leaky(&a, &mut rng)).collect();
    let vb: Vec<Vec<u64>> = (0..20_000).map(|_| leaky(&b, &mut rng)).collect();
    let worst = coordinates(&va)
        .iter()
        .zip(coordinates(&vb))
        .map(|(x, y)| chi_square(x, &y, 16))
        .fold(0.0, f64::max);
    assert!(worst > CRITICAL_15 * 10.0, "leak not detected: {worst:.1}");
}

#[test]
fn the_real_protocol_shows_the_aggregator_only_that_view() {
    // Run the real protocol (b = 8) and rebuild the aggregator's view from what it received:
    // the partials' column sums and retained shares. Their sum is the total and their
    // distribution under two reading vectors with equal totals is the same.
    let config = zeal_protocol::ProtocolConfig {
        value_bits: B,
        channels: vec!["import_wh".into()],
        ..Default::default()
    };
    let a = [10u64, 20, 30, 40, 150];
    let b = [150u64, 40, 30, 20, 10];
    let mut views = [Vec::new(), Vec::new()];
    for (which, readings) in [a, b].iter().enumerate() {
        let mut w = World::with_config(5, 100 + which as u64, config.clone());
        for k in 0..60i64 {
            let interval = T0 + k * 900_000;
            let rs: Vec<Vec<u64>> = readings.iter().map(|x| vec![*x]).collect();
            w.record(interval, &rs);
            let log = w.run_round(interval, &mut Faults::default());
            assert_eq!(log.totals.len(), 1);
            let layout = SlotLayout::new(2048, B, 5, 1);
            let mut s = Vec::new();
            let mut d = Vec::new();
            for m in 0..5 {
                let p = log
                    .partials
                    .iter()
                    .find(|p| p.sender == meter_id(m))
                    .unwrap();
                s.push(layout.unpack_checked(&p.plaintexts, 4 << B).unwrap()[0] & MASK);
                d.push(p.retained[0] as u64);
            }
            let v: Vec<u64> = s.into_iter().chain(d).collect();
            assert_eq!(v.iter().sum::<u64>() & MASK, log.totals[0].totals[0] as u64);
            views[which].push(v);
        }
    }
    for (d, (ca, cb)) in coordinates(&views[0])
        .iter()
        .zip(coordinates(&views[1]))
        .enumerate()
    {
        // 4 buckets, 3 degrees of freedom, p = 1e-4: 21.1.
        let x2 = chi_square(ca, &cb, 4);
        assert!(x2 < 21.1, "coordinate {d}: chi2 = {x2:.1}");
    }
}
