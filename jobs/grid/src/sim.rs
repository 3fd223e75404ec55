//! Feeder readings simulated from a region's totals: technical losses (fixed plus quadratic in
//! the net load), the feeder meter's noise, and on demand a theft (energy drawn past the
//! meters). Seeded and deterministic.

use crate::Interval;

/// A small deterministic generator (SplitMix64) with normal deviates.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A region's technical losses and the feeder meter's noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Losses {
    pub fixed_wh: f64,
    /// Per Wh of net load, squared.
    pub quadratic: f64,
    /// Noise as a share of the interval's energy (the feeder meter's accuracy class).
    pub noise_relative: f64,
    /// Noise independent of the load, Wh.
    pub noise_wh: f64,
}

impl Losses {
    /// Typical distribution losses for a region whose mean net load is `mean_wh` per interval:
    /// 1 % no-load, 2 % load losses at the mean (so about 3 % in all, more at peaks), a class
    /// 0.5 feeder meter.
    pub fn typical(mean_wh: f64) -> Self {
        let mean = mean_wh.abs().max(1.0);
        Losses {
            fixed_wh: 0.01 * mean,
            quadratic: 0.02 / mean,
            noise_relative: 0.005,
            noise_wh: 0.002 * mean,
        }
    }
}

/// Energy drawn past the meters: `watts` from `start_ms` for `hours`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theft {
    pub start_ms: i64,
    pub hours: f64,
    pub watts: f64,
}

impl Theft {
    /// The energy taken in the interval `[start_ms, start_ms + interval_ms)`, Wh.
    pub fn wh_in(&self, start_ms: i64, interval_ms: i64) -> f64 {
        let end = self.start_ms + (self.hours * 3_600_000.0) as i64;
        let overlap = (end.min(start_ms + interval_ms) - self.start_ms.max(start_ms)).max(0);
        self.watts * overlap as f64 / 3_600_000.0
    }
}

/// The feeder's reading for each `(start_ms, total_wh)` of 15-minute intervals.
pub fn feeder(
    totals: &[(i64, f64)],
    losses: &Losses,
    theft: Option<&Theft>,
    rng: &mut Rng,
) -> Vec<Interval> {
    totals
        .iter()
        .map(|&(start_ms, total_wh)| {
            let stolen = theft.map_or(0.0, |t| t.wh_in(start_ms, 900_000));
            let load = total_wh + stolen;
            let lost = losses.fixed_wh + losses.quadratic * load * load;
            // Independent errors (the class's relative one, a fixed one) add in quadrature.
            let sd = losses.noise_wh.hypot(losses.noise_relative * load);
            Interval {
                start_ms,
                total_wh,
                feeder_wh: load + lost + sd * rng.normal(),
            }
        })
        .collect()
}

/// A region's net load for tests without the household simulator: `households` homes with a
/// morning and an evening peak, a midday solar dip and their own noise, 15-minute intervals
/// from `start_ms` for `days`.
pub fn synthetic_totals(
    households: usize,
    start_ms: i64,
    days: usize,
    rng: &mut Rng,
) -> Vec<(i64, f64)> {
    (0..days * 96)
        .map(|k| {
            let t = start_ms + k as i64 * 900_000;
            let hour = (t.rem_euclid(86_400_000)) as f64 / 3_600_000.0;
            let bump = |centre: f64, width: f64| (-((hour - centre) / width).powi(2)).exp();
            // Wh per home per 15 minutes: base, peaks, solar export around noon.
            let home =
                60.0 + 90.0 * bump(8.0, 1.5) + 160.0 * bump(19.0, 2.5) - 70.0 * bump(13.0, 2.5);
            let n = households as f64;
            let total = n * home + (n.sqrt() * 40.0) * rng.normal();
            (t, total)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_theft_adds_its_energy_to_the_intervals_it_overlaps() {
        let t = Theft {
            start_ms: 900_000,
            hours: 0.5,
            watts: 2_000.0,
        };
        assert_eq!(t.wh_in(0, 900_000), 0.0);
        assert_eq!(t.wh_in(900_000, 900_000), 500.0);
        assert_eq!(t.wh_in(1_800_000, 900_000), 500.0);
        assert_eq!(t.wh_in(2_700_000, 900_000), 0.0);
        let half = Theft {
            start_ms: 450_000,
            ..t
        };
        assert_eq!(half.wh_in(0, 900_000), 250.0);
    }

    #[test]
    fn normal_deviates_have_unit_scatter() {
        let mut r = Rng::new(7);
        let xs: Vec<f64> = (0..20_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "{mean}");
        assert!((var - 1.0).abs() < 0.05, "{var}");
    }
}
