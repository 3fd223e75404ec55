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

/// A region as the balance job follows it, for tests and benchmarks: per 15-minute interval of
/// [`synthetic_totals`] (rounded to whole Wh), the published totals (split into import and
/// export, every home a contributor) and the feeder's reading with typical losses and `theft`.
pub fn followed_region(
    households: usize,
    start_ms: i64,
    days: usize,
    theft: Option<&Theft>,
    rng: &mut Rng,
) -> Vec<(i64, crate::ledger::Published, i64)> {
    let net: Vec<(i64, f64)> = synthetic_totals(households, start_ms, days, rng)
        .into_iter()
        .map(|(t, wh)| (t, wh.round()))
        .collect();
    let losses = Losses::typical(net.iter().map(|n| n.1).sum::<f64>() / net.len() as f64);
    feeder(&net, &losses, theft, rng)
        .into_iter()
        .map(|f| {
            let wh = f.total_wh as i64;
            let p = crate::ledger::Published {
                import_wh: wh.max(0),
                export_wh: (-wh).max(0),
                contributors: households as u64,
            };
            (f.start_ms, p, f.feeder_wh.round() as i64)
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

/// A region of metered households for grid-balance studies, the demo and the tests: what each
/// meter really drew, what the protocol published, what the feeder saw and what was billed.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    pub meters: usize,
    /// First interval, ms (a day's start).
    pub start_ms: i64,
    pub days: usize,
    /// Energy drawn past every meter, if any.
    pub theft: Option<Theft>,
    /// One meter (by index) reporting this share of its import into the protocol, billed
    /// correctly.
    pub under_reporting: Option<(usize, f64)>,
    /// The billing period, ms (whole intervals within the study).
    pub billing_period: (i64, i64),
    pub seed: u64,
}

/// What a [`Study`] produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Per interval: start, published import and export totals, Wh.
    pub totals: Vec<(i64, i64, i64)>,
    /// Per interval: start, the feeder's net energy into the region, Wh.
    pub feeder: Vec<(i64, i64)>,
    /// Per meter (by index): its billing-register deltas (import, export) over the period, Wh.
    pub billed: Vec<(i64, i64)>,
    /// Per meter (by index) and interval: the import and export it reported into the
    /// protocol, Wh (what its gateway shares; `totals` are their sums).
    pub reported: Vec<Vec<(i64, i64)>>,
}

impl Study {
    /// Simulates it: each meter its own day profile and noise (some intervals export), typical
    /// losses for the region's mean load, the theft on the feeder only, the under-reporting in
    /// the published totals only.
    pub fn run(&self) -> Observed {
        let mut rng = Rng::new(self.seed);
        let truth: Vec<Vec<(i64, i64)>> = (0..self.meters)
            .map(|_| {
                synthetic_totals(1, self.start_ms, self.days, &mut rng)
                    .into_iter()
                    .map(|(_, wh)| {
                        let wh = wh.round() as i64;
                        (wh.max(0), (-wh).max(0))
                    })
                    .collect()
            })
            .collect();
        let reported: Vec<Vec<(i64, i64)>> = truth
            .iter()
            .enumerate()
            .map(|(m, series)| match self.under_reporting {
                Some((liar, share)) if liar == m => series
                    .iter()
                    .map(|&(i, e)| ((i as f64 * share).round() as i64, e))
                    .collect(),
                _ => series.clone(),
            })
            .collect();
        let intervals = self.days * 96;
        let mut totals = Vec::with_capacity(intervals);
        let mut net = Vec::with_capacity(intervals);
        for k in 0..intervals {
            let t = self.start_ms + k as i64 * 900_000;
            let drawn: i64 = truth.iter().map(|s| s[k].0 - s[k].1).sum();
            let (import, export) = reported
                .iter()
                .fold((0, 0), |a, s| (a.0 + s[k].0, a.1 + s[k].1));
            totals.push((t, import, export));
            net.push((t, drawn as f64));
        }
        let mean = net.iter().map(|n| n.1).sum::<f64>() / net.len().max(1) as f64;
        let feeder = feeder(&net, &Losses::typical(mean), self.theft.as_ref(), &mut rng)
            .into_iter()
            .map(|f| (f.start_ms, f.feeder_wh.round() as i64))
            .collect();
        let (from, to) = self.billing_period;
        let slot = |t: i64| ((t - self.start_ms) / 900_000).clamp(0, intervals as i64) as usize;
        let billed = truth
            .iter()
            .map(|s| {
                s[slot(from)..slot(to)]
                    .iter()
                    .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1))
            })
            .collect();
        Observed {
            totals,
            feeder,
            billed,
            reported,
        }
    }
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
    fn a_study_puts_the_theft_on_the_feeder_and_the_lie_in_the_totals_only() {
        let day = 86_400_000;
        let base = Study {
            meters: 10,
            start_ms: 0,
            days: 2,
            theft: None,
            under_reporting: None,
            billing_period: (day, 2 * day),
            seed: 4,
        };
        let honest = base.run();
        let theft = Theft {
            start_ms: day,
            hours: 1.0,
            watts: 4_000.0,
        };
        let lying = Study {
            theft: Some(theft),
            under_reporting: Some((3, 0.5)),
            ..base
        }
        .run();
        // Same households: the billing registers agree; what was published does not.
        assert_eq!(honest.billed, lying.billed);
        let import = |o: &Observed| o.totals[96..].iter().map(|t| t.1).sum::<i64>();
        let billed: i64 = honest.billed.iter().map(|b| b.0).sum();
        assert_eq!(import(&honest), billed);
        assert!(import(&lying) < billed);
        // The reported readings sum to the totals; only meter 3 lies, by half its import.
        for (k, t) in lying.totals.iter().enumerate() {
            let sum = lying
                .reported
                .iter()
                .fold((0, 0), |a, r| (a.0 + r[k].0, a.1 + r[k].1));
            assert_eq!((t.1, t.2), sum);
        }
        let own = |o: &Observed, m: usize| o.reported[m].iter().map(|r| r.0).sum::<i64>();
        assert_eq!(own(&lying, 2), own(&honest, 2));
        let (told, true_import) = (own(&lying, 3), own(&honest, 3));
        assert!(
            (told - true_import / 2).abs() <= 2 * 96,
            "{told} {true_import}"
        );
        // The feeder saw the theft's 4 kWh in its hour (beyond its noise and losses).
        let hour = |o: &Observed| o.feeder[96..100].iter().map(|f| f.1).sum::<i64>();
        assert!(
            hour(&lying) - hour(&honest) > 3_000,
            "{} {}",
            hour(&lying),
            hour(&honest)
        );
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
