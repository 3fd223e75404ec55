//! Simulated households: a daily load curve (night base load, morning and evening peaks,
//! weekend shift, winter uplift) and, for prosumers, rooftop solar by sun position at 52° N with
//! day-to-day cloudiness. Deterministic: the reading of any meter and interval is a pure
//! function of (seed, meter, interval), so gateways, tests and the demo agree on every value
//! without storing them.
//!
//! Calibration: a Dutch household without heat pump or EV uses about 2,700 kWh a year (7.4 kWh a
//! day; CBS 2020); a south-facing PV system yields about 900 kWh per kWp per year in the
//! Netherlands. Tests check both. Appliance-level simulation is issue 5's.

use crate::IntervalReading;
use crate::civil::{amsterdam_offset, day_of_year};
use std::f64::consts::PI;

/// SplitMix64: a tiny, well-mixed hash for deterministic noise.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Uniform in [0, 1) from hashed inputs.
fn unit(a: u64, b: u64, c: u64) -> f64 {
    (mix(a ^ mix(b ^ mix(c))) >> 11) as f64 / (1u64 << 53) as f64
}

/// One simulated household.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedMeter {
    pub meter_id: String,
    pub region: String,
    /// Scales the whole load curve (household size and habits), around 1.
    pub load_scale: f64,
    /// Rooftop PV size in kWp (0 for consumers).
    pub pv_kwp: f64,
    seed: u64,
}

/// Average household power (W) by local hour for a weekday, before scaling: ~7.4 kWh/day.
const WEEKDAY_W: [f64; 24] = [
    190.0, 170.0, 160.0, 155.0, 155.0, 170.0, 260.0, 420.0, 380.0, 290.0, 260.0, 270.0, 300.0,
    280.0, 260.0, 270.0, 330.0, 480.0, 620.0, 560.0, 470.0, 400.0, 320.0, 240.0,
];

impl SimulatedMeter {
    /// A household whose parameters follow from `seed` and its index.
    pub fn new(meter_id: impl Into<String>, region: impl Into<String>, seed: u64) -> Self {
        let load_scale = 0.55 + 0.9 * unit(seed, 1, 0);
        let pv_kwp = if unit(seed, 2, 0) < 0.35 {
            2.5 + 4.0 * unit(seed, 3, 0)
        } else {
            0.0
        };
        SimulatedMeter {
            meter_id: meter_id.into(),
            region: region.into(),
            load_scale,
            pv_kwp,
            seed,
        }
    }

    /// Household consumption (W) at a UTC instant, before solar.
    pub fn load_w(&self, utc_secs: i64) -> f64 {
        let local = utc_secs + amsterdam_offset(utc_secs);
        let days = local.div_euclid(86_400);
        let hour_f = local.rem_euclid(86_400) as f64 / 3_600.0;
        let weekend = matches!((days + 4).rem_euclid(7), 0 | 6);
        // Weekends start later: shift the curve by 1.5 h in the morning.
        let h = if weekend && hour_f < 12.0 {
            (hour_f - 1.5).rem_euclid(24.0)
        } else {
            hour_f
        };
        let i = h as usize % 24;
        let frac = h - h.floor();
        let base = WEEKDAY_W[i] * (1.0 - frac) + WEEKDAY_W[(i + 1) % 24] * frac;
        let doy = f64::from(day_of_year(days));
        let winter = 1.0 + 0.22 * (2.0 * PI * (doy + 10.0) / 365.25).cos();
        let noise = 0.6 + 0.8 * unit(self.seed, 4, (utc_secs / 300) as u64);
        base * winter * noise * self.load_scale * if weekend { 1.08 } else { 1.0 }
    }

    /// Rooftop PV output (W) at a UTC instant.
    pub fn pv_w(&self, utc_secs: i64) -> f64 {
        if self.pv_kwp <= 0.0 {
            return 0.0;
        }
        let days = utc_secs.div_euclid(86_400);
        let doy = f64::from(day_of_year(days));
        let decl = 23.44f64.to_radians() * (2.0 * PI * (284.0 + doy) / 365.0).sin();
        let lat = 52.1f64.to_radians();
        // Solar time at 5° E: UTC + 20 minutes.
        let solar_hour = utc_secs.rem_euclid(86_400) as f64 / 3_600.0 + 5.0 / 15.0;
        let hour_angle = (15.0 * (solar_hour - 12.0)).to_radians();
        let elevation = (lat.sin() * decl.sin() + lat.cos() * decl.cos() * hour_angle.cos()).asin();
        if elevation <= 0.0 {
            return 0.0;
        }
        // Clear-sky irradiance on the horizontal, times ~1.12 for panels tilted south.
        let clear = 1000.0 * elevation.sin().powf(1.15) * 1.12;
        // Day-to-day cloudiness, with faster variation within the day.
        let day_cloud = 0.25 + 0.75 * unit(self.seed >> 8, 5, days as u64).powf(0.7);
        let passing = 0.7 + 0.3 * unit(self.seed, 6, (utc_secs / 600) as u64);
        self.pv_kwp * clear * day_cloud * passing * 0.86
    }

    /// Import and export over `[start, start + seconds)`, netted minute by minute as a
    /// meter does, in whole Wh.
    pub fn reading(&self, interval_start_ms: i64, seconds: u32) -> IntervalReading {
        let start = interval_start_ms.div_euclid(1000);
        let (mut import, mut export) = (0.0, 0.0);
        for m in 0..i64::from(seconds / 60) {
            let t = start + m * 60 + 30;
            let net = self.load_w(t) - self.pv_w(t);
            if net >= 0.0 {
                import += net / 60.0;
            } else {
                export -= net / 60.0;
            }
        }
        IntervalReading {
            interval_start: interval_start_ms,
            import_wh: import.round() as u64,
            export_wh: export.round() as u64,
        }
    }
}

/// Simulated meters of several regions: `<region>-m0001`, ...
pub fn fleet(regions: &[String], meters_per_region: usize, seed: u64) -> Vec<SimulatedMeter> {
    regions
        .iter()
        .enumerate()
        .flat_map(|(r, region)| {
            (0..meters_per_region).map(move |i| {
                SimulatedMeter::new(
                    format!("{region}-m{:04}", i + 1),
                    region.clone(),
                    mix(seed ^ mix((r as u64) << 32 | i as u64)),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::civil::days_from_civil;

    fn day_kwh(m: &SimulatedMeter, day: i64) -> (f64, f64) {
        let (mut i, mut e) = (0u64, 0u64);
        for k in 0..96 {
            let r = m.reading((day * 86_400 + k * 900) * 1000, 900);
            i += r.import_wh;
            e += r.export_wh;
        }
        (i as f64 / 1000.0, e as f64 / 1000.0)
    }

    #[test]
    fn consumption_is_dutch_household_sized() {
        let fleet = fleet(&["R".to_string()], 40, 1);
        let start = days_from_civil(2020, 1, 1);
        let mut total = 0.0;
        let mut n = 0.0;
        for m in &fleet {
            for d in (0..365).step_by(14) {
                let t = (start + d) * 86_400;
                total += (0..96)
                    .map(|k| m.load_w(t + k * 900 + 450) * 0.25)
                    .sum::<f64>()
                    / 1000.0;
                n += 1.0;
            }
        }
        let per_day = total / n;
        assert!((6.0..=10.0).contains(&per_day), "{per_day:.2} kWh/day");
    }

    #[test]
    fn solar_yield_is_plausible_for_the_netherlands() {
        let m = SimulatedMeter {
            pv_kwp: 1.0,
            ..SimulatedMeter::new("pv", "R", 7)
        };
        let start = days_from_civil(2020, 1, 1) * 86_400;
        let kwh: f64 = (0..366 * 24 * 4)
            .map(|k| m.pv_w(start + k * 900 + 450) * 0.25 / 1000.0)
            .sum();
        assert!(
            (750.0..=1100.0).contains(&kwh),
            "{kwh:.0} kWh per kWp per year"
        );
        let july = days_from_civil(2020, 7, 1) * 86_400 + 12 * 3600;
        let midnight = days_from_civil(2020, 7, 1) * 86_400;
        assert!(m.pv_w(july) > 200.0 && m.pv_w(midnight) == 0.0);
    }

    #[test]
    fn deterministic_finite_and_prosumers_export_at_noon() {
        let f1 = fleet(&["A".to_string(), "B".to_string()], 30, 9);
        let f2 = fleet(&["A".to_string(), "B".to_string()], 30, 9);
        assert_eq!(f1, f2);
        let day = days_from_civil(2020, 7, 1);
        for (a, b) in f1.iter().zip(&f2) {
            assert_eq!(day_kwh(a, day), day_kwh(b, day));
        }
        let prosumer = f1.iter().find(|m| m.pv_kwp > 4.0).expect("some large PV");
        let (_, exported) = day_kwh(prosumer, day);
        assert!(exported > 0.0);
        assert_ne!(
            fleet(&["A".to_string()], 5, 1),
            fleet(&["A".to_string()], 5, 2)
        );
        assert_eq!(f1[0].meter_id, "A-m0001");
    }
}
