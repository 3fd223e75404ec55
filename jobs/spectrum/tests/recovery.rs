//! Known components are recovered: a trend plus two sinusoids plus noise, by SSA (grouping by
//! frequency) and by SSD (automatically). Tolerances are set from the noise level (σ = 0.2):
//! a correct decomposition leaves errors of the order of the noise that leaks into each band.

use std::f64::consts::PI;
use zeal_spectrum::{Ssa, SsdOptions, decompose, dominant_frequency};

/// Seeded Gaussian noise (SplitMix64 + Box-Muller).
fn noise(n: usize, sd: f64, seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u1, u2) = (next().max(1e-300), next());
            sd * (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
        })
        .collect()
}

struct Signal {
    trend: Vec<f64>,
    fast: Vec<f64>,
    slow: Vec<f64>,
    x: Vec<f64>,
}

fn signal(n: usize, sd: f64) -> Signal {
    let trend: Vec<f64> = (0..n).map(|t| 0.02 * t as f64).collect();
    let fast: Vec<f64> = (0..n)
        .map(|t| 3.0 * (2.0 * PI * t as f64 / 24.0).sin())
        .collect();
    let slow: Vec<f64> = (0..n)
        .map(|t| 1.5 * (2.0 * PI * t as f64 / 96.0 + 0.3).sin())
        .collect();
    let e = noise(n, sd, 42);
    let x = (0..n)
        .map(|t| trend[t] + fast[t] + slow[t] + e[t])
        .collect();
    Signal {
        trend,
        fast,
        slow,
        x,
    }
}

fn rmse(a: &[f64], b: &[f64]) -> f64 {
    (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
}

#[test]
fn ssa_separates_trend_and_two_periodicities() {
    let s = signal(672, 0.2);
    let ssa = Ssa::new(&s.x, 192).unwrap();
    let comps = ssa.components(8);
    let freq: Vec<f64> = comps.iter().map(|c| dominant_frequency(c)).collect();
    let group =
        |f: f64| -> Vec<usize> { (0..8).filter(|i| (freq[*i] - f).abs() < 0.2 * f).collect() };
    let fast = group(1.0 / 24.0);
    let slow = group(1.0 / 96.0);
    assert_eq!(
        fast.len(),
        2,
        "a sinusoid is a pair of eigentriples: {freq:?}"
    );
    assert_eq!(slow.len(), 2, "{freq:?}");
    // A linear trend is a rank-two structure: its eigentriples are the slowest ones.
    let trend_ix: Vec<usize> = (0..8).filter(|i| freq[*i] < 0.005).collect();
    assert_eq!(trend_ix.len(), 2, "{freq:?}");
    let trend = ssa.reconstruct(&trend_ix);
    let e_trend = rmse(&trend, &s.trend);
    let e_fast = rmse(&ssa.reconstruct(&fast), &s.fast);
    let e_slow = rmse(&ssa.reconstruct(&slow), &s.slow);
    assert!(e_trend < 0.25, "trend RMSE {e_trend}");
    assert!(e_fast < 0.15, "24-sample sinusoid RMSE {e_fast}");
    assert!(e_slow < 0.2, "96-sample sinusoid RMSE {e_slow}");
}

#[test]
fn ssd_finds_the_trend_and_both_periodicities_without_being_told() {
    for sd in [0.0, 0.2] {
        let s = signal(672, sd);
        let d = decompose(&s.x, &SsdOptions::default()).unwrap();
        // Components and residual add back to the input.
        for t in 0..s.x.len() {
            let sum: f64 = d.components.iter().map(|c| c.series[t]).sum::<f64>() + d.residual[t];
            assert!((sum - s.x[t]).abs() < 1e-9, "sample {t}");
        }
        assert!(
            d.components.len() >= 3,
            "sd {sd}: {} components",
            d.components.len()
        );
        assert_eq!(
            d.components[0].dominant_frequency, 0.0,
            "a trend comes first"
        );
        let near = |f: f64| {
            d.components
                .iter()
                .find(|c| (c.dominant_frequency - f).abs() < 0.05 * f)
                .unwrap_or_else(|| {
                    panic!(
                        "sd {sd}: no component near {f}: {:?}",
                        d.components
                            .iter()
                            .map(|c| c.dominant_frequency)
                            .collect::<Vec<_>>()
                    )
                })
        };
        let fast = near(1.0 / 24.0);
        let slow = near(1.0 / 96.0);
        let e_fast = rmse(&fast.series, &s.fast);
        let e_slow = rmse(&slow.series, &s.slow);
        assert!(e_fast < 0.3, "sd {sd}: 24-sample component RMSE {e_fast}");
        assert!(e_slow < 0.4, "sd {sd}: 96-sample component RMSE {e_slow}");
        // Wrapping treats the series as periodic, so the linear trend's ends blur into each
        // other; judge the trend away from the ends.
        let mid = 96..576;
        let e_trend = rmse(&d.components[0].series[mid.clone()], &s.trend[mid]);
        assert!(e_trend < 1.0, "sd {sd}: trend RMSE {e_trend}");
        let left: f64 =
            d.residual.iter().map(|v| v * v).sum::<f64>() / s.x.iter().map(|v| v * v).sum::<f64>();
        assert!(left < 0.05, "sd {sd}: residual share {left}");
    }
}

#[test]
fn ssd_of_a_constant_is_one_trend_and_nothing_left() {
    let d = decompose(&[4.0; 96], &SsdOptions::default()).unwrap();
    assert_eq!(d.components.len(), 1);
    assert!(d.residual.iter().all(|r| r.abs() < 1e-9));
    assert!(decompose(&[1.0, 2.0, 3.0], &SsdOptions::default()).is_err());
    assert!(decompose(&[1.0, 2.0, f64::INFINITY, 3.0, 4.0], &SsdOptions::default()).is_err());
}
