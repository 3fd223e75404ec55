//! Simulated meters for gateways and the demo: each meter is an appliance-level
//! [`Household`](crate::household::Household) (fridge cycles, washes, cooking, heating with the
//! weather, EV charging, rooftop PV, ...) read the way a smart meter reads it: import and export
//! per 15-minute interval, in whole Wh. Deterministic: any meter and interval is a pure function
//! of (seed, meter), so gateways, tests and the demo agree on every value without storing them.
//! A fleet shares one seed, hence one region's weather.

use crate::IntervalReading;
use crate::household::{Household, INTERVALS};

/// One simulated meter.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedMeter {
    pub meter_id: String,
    pub region: String,
    /// The household behind the meter (archetype, appliances, PV).
    pub household: Household,
}

/// Interval length the household simulator produces.
const STEP_MS: i64 = 900_000;

impl SimulatedMeter {
    /// A meter for household `index` of a fleet seeded with `seed`.
    pub fn new(
        meter_id: impl Into<String>,
        region: impl Into<String>,
        seed: u64,
        index: u64,
    ) -> Self {
        SimulatedMeter {
            meter_id: meter_id.into(),
            region: region.into(),
            household: Household::new(seed, index),
        }
    }

    /// Readings of every 15-minute interval in `[from_ms, to_ms)` (15-minute aligned), each day
    /// simulated once.
    pub fn readings(&self, from_ms: i64, to_ms: i64) -> Vec<IntervalReading> {
        let mut out = Vec::new();
        let mut t = from_ms - from_ms.rem_euclid(STEP_MS);
        let mut cached: Option<(i64, crate::household::DayTrace)> = None;
        while t < to_ms {
            let day = t.div_euclid(86_400_000);
            if cached.as_ref().is_none_or(|(d, _)| *d != day) {
                cached = Some((day, self.household.simulate_day(day)));
            }
            let (_, trace) = cached.as_ref().expect("simulated");
            let k = (t.rem_euclid(86_400_000) / STEP_MS) as usize % INTERVALS;
            let iv = &trace.intervals[k];
            out.push(IntervalReading {
                interval_start: t,
                import_wh: iv.import_wh.round() as u64,
                export_wh: iv.export_wh.round() as u64,
                generation_wh: (self.household.pv_kwp > 0.0).then(|| iv.solar_wh.round() as u64),
            });
            t += STEP_MS;
        }
        out
    }

    /// Import and export over `[start, start + seconds)` (whole 15-minute intervals).
    pub fn reading(&self, interval_start_ms: i64, seconds: u32) -> IntervalReading {
        let end = interval_start_ms + i64::from(seconds.max(900)) * 1000;
        let parts = self.readings(interval_start_ms, end);
        IntervalReading {
            interval_start: interval_start_ms,
            import_wh: parts.iter().map(|r| r.import_wh).sum(),
            export_wh: parts.iter().map(|r| r.export_wh).sum(),
            generation_wh: parts.iter().map(|r| r.generation_wh).sum(),
        }
    }
}

/// Simulated meters of several regions: `<region>-m0001`, ...; one weather for the fleet.
pub fn fleet(regions: &[String], meters_per_region: usize, seed: u64) -> Vec<SimulatedMeter> {
    regions
        .iter()
        .enumerate()
        .flat_map(|(r, region)| {
            (0..meters_per_region).map(move |i| {
                SimulatedMeter::new(
                    format!("{region}-m{:04}", i + 1),
                    region.clone(),
                    seed,
                    (r as u64) << 32 | i as u64,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeal_civil::days_from_civil;

    #[test]
    fn readings_are_the_households_intervals_in_whole_wh() {
        let m = &fleet(&["R".to_string()], 3, 1)[2];
        let day = days_from_civil(2020, 7, 1);
        let trace = m.household.simulate_day(day);
        let rs = m.readings(day * 86_400_000, (day + 1) * 86_400_000);
        assert_eq!(rs.len(), 96);
        for (r, iv) in rs.iter().zip(&trace.intervals) {
            assert_eq!(r.import_wh, iv.import_wh.round() as u64);
            assert_eq!(r.export_wh, iv.export_wh.round() as u64);
        }
        // An hour is the sum of its four intervals.
        let hour = m.reading(rs[40].interval_start, 3600);
        assert_eq!(
            hour.import_wh,
            rs[40..44].iter().map(|r| r.import_wh).sum::<u64>()
        );
    }

    #[test]
    fn deterministic_and_distinct_per_meter_and_seed() {
        let f1 = fleet(&["A".to_string(), "B".to_string()], 30, 9);
        let f2 = fleet(&["A".to_string(), "B".to_string()], 30, 9);
        assert_eq!(f1, f2);
        assert_eq!(f1[0].meter_id, "A-m0001");
        assert_ne!(f1[0].household, f1[1].household);
        assert_ne!(
            fleet(&["A".to_string()], 5, 1),
            fleet(&["A".to_string()], 5, 2)
        );
        let day = days_from_civil(2020, 7, 1) * 86_400_000;
        let exported: u64 = f1
            .iter()
            .flat_map(|m| m.readings(day, day + 86_400_000))
            .map(|r| r.export_wh)
            .sum();
        assert!(exported > 0, "some prosumers export on a July day");
    }

    #[test]
    fn pv_households_report_generation_and_export_only_what_they_generate() {
        let day = days_from_civil(2020, 7, 1) * 86_400_000;
        let fleet = fleet(&["A".to_string()], 40, 3);
        let (pv, plain): (Vec<_>, Vec<_>) = fleet.iter().partition(|m| m.household.pv_kwp > 0.0);
        assert!(!pv.is_empty() && !plain.is_empty());
        for m in plain {
            assert!(
                m.readings(day, day + 86_400_000)
                    .iter()
                    .all(|r| r.generation_wh.is_none())
            );
        }
        for m in pv {
            let rs = m.readings(day, day + 86_400_000);
            let generated: u64 = rs.iter().map(|r| r.generation_wh.expect("PV")).sum();
            assert!(
                generated > 1_000,
                "{} generated {generated} Wh in July",
                m.meter_id
            );
            for r in &rs {
                // Netted minute by minute, export never exceeds generation (1 Wh rounding).
                assert!(r.export_wh <= r.generation_wh.unwrap() + 1, "{r:?}");
            }
            let hour = m.reading(rs[48].interval_start, 3600);
            assert_eq!(
                hour.generation_wh,
                Some(rs[48..52].iter().map(|r| r.generation_wh.unwrap()).sum())
            );
        }
    }
}
