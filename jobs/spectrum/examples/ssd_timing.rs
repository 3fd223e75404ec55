//! How long SSD takes on a week (672 quarter-hours) and on one day (96) of a trend, two
//! periodicities and a little noise. A report, not a test (times belong in benchmarks):
//!
//!     cargo run --release -p zeal-spectrum --example ssd_timing

use std::f64::consts::PI;
use zeal_spectrum::{SsdOptions, decompose};

fn main() {
    let mut s = 42u64;
    let x: Vec<f64> = (0..672)
        .map(|t| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let noise = ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.4;
            let t = t as f64;
            0.02 * t
                + 3.0 * (2.0 * PI * t / 24.0).sin()
                + 1.5 * (2.0 * PI * t / 96.0 + 0.3).sin()
                + noise
        })
        .collect();
    let t = std::time::Instant::now();
    let d = decompose(&x, &SsdOptions::default()).expect("a week decomposes");
    println!(
        "SSD of 672 samples: {} components in {:?}",
        d.components.len(),
        t.elapsed()
    );
    let t = std::time::Instant::now();
    for _ in 0..100 {
        std::hint::black_box(
            decompose(&x[..96], &SsdOptions::default()).expect("a day decomposes"),
        );
    }
    println!("SSD of one day (96 samples): {:?} each", t.elapsed() / 100);
}
