//! A household's day from its own 15-minute readings and its region's *private aggregates*.
//!
//! The signature is the privacy argument: [`household_day`] receives the household's own
//! readings, its own earlier daily totals and a [`RegionDay`] — the region's total import and
//! contributor count (from the private 15-minute rounds) and the region's consumption histogram
//! (from the private daily round). Nothing else about any other household exists here to be
//! read; the tests check the result depends on the neighbours only through those aggregates.

use crate::day::{HouseholdDay, PEAK_HOURS, SOLAR_HOURS, baseline, efficient_mark};
use zeal_civil::amsterdam_offset;

/// What the private rounds publish about a region for one day.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionDay {
    /// Sum over the day's intervals of the region's private import totals (Wh).
    pub import_wh: f64,
    /// Mean number of contributors per interval (the households behind the totals).
    pub contributors: f64,
    /// Households per consumption bucket (private daily round); empty when not run.
    pub histogram: Vec<u64>,
}

impl RegionDay {
    /// The average household's import (kWh) for the day.
    pub fn average_kwh(&self) -> Option<f64> {
        (self.contributors > 0.0).then(|| self.import_wh / self.contributors / 1000.0)
    }
}

/// One of a household's own interval readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnReading {
    /// Interval start, ms since the epoch (UTC).
    pub interval_start: i64,
    pub import_wh: u64,
    pub export_wh: u64,
    /// PV generation where an inverter reports it.
    pub generation_wh: Option<u64>,
}

/// One household's day: `readings` are its own readings (those of UTC day `day` are used);
/// `history` its own earlier daily imports `(day, kWh)`. The day's generation is known only
/// when every reading of the day carries it (a partial day of inverter data would understate
/// it and overstate self-consumption).
pub fn household_day(
    household_id: &str,
    region: &str,
    day: i64,
    readings: &[OwnReading],
    history: &[(i64, f64)],
    neighbours: Option<&RegionDay>,
) -> HouseholdDay {
    let todays: Vec<&OwnReading> = readings
        .iter()
        .filter(|r| r.interval_start.div_euclid(86_400_000) == day)
        .collect();
    // `None` as soon as one reading lacks it; nothing known of a day without readings.
    let generation_wh: Option<u64> = todays.iter().map(|r| r.generation_wh).sum();
    let (mut import, mut export, mut peak, mut solar) = (0.0, 0.0, 0.0, 0.0);
    for r in todays.iter() {
        let kwh = r.import_wh as f64 / 1000.0;
        import += kwh;
        export += r.export_wh as f64 / 1000.0;
        let secs = r.interval_start.div_euclid(1000);
        let local_hour = ((secs + amsterdam_offset(secs)).rem_euclid(86_400) / 3_600) as u32;
        if PEAK_HOURS.contains(&local_hour) {
            peak += kwh;
        }
        if SOLAR_HOURS.contains(&local_hour) {
            solar += kwh;
        }
    }
    HouseholdDay {
        household_id: household_id.to_string(),
        region: region.to_string(),
        day,
        import_kwh: import,
        export_kwh: export,
        generation_kwh: generation_wh
            .filter(|_| !todays.is_empty())
            .map(|wh| wh as f64 / 1000.0),
        peak_kwh: peak,
        solar_hours_kwh: solar,
        baseline_kwh: baseline(history, day),
        region_average_kwh: neighbours.and_then(RegionDay::average_kwh),
        efficient_kwh: neighbours.and_then(|n| efficient_mark(&n.histogram)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(day: i64, wh: u64) -> Vec<OwnReading> {
        (0..96)
            .map(|k| OwnReading {
                interval_start: day * 86_400_000 + k * 900_000,
                import_wh: wh,
                export_wh: 0,
                generation_wh: None,
            })
            .collect()
    }

    #[test]
    fn peak_and_solar_hours_follow_amsterdam_time() {
        let day = 18_444; // 2020-07-01, UTC+2
        let mut r = own(day, 0);
        r[15 * 4].import_wh = 1_000; // 15:00 UTC = 17:00 local: peak
        r[10 * 4].import_wh = 500; // 10:00 UTC = 12:00 local: solar hours
        let d = household_day("h", "R", day, &r, &[], None);
        assert_eq!(d.import_kwh, 1.5);
        assert_eq!(d.peak_kwh, 1.0);
        assert_eq!(d.solar_hours_kwh, 0.5);
        assert_eq!(d.baseline_kwh, None);
        assert_eq!(d.generation_kwh, None);
    }

    #[test]
    fn generation_is_known_only_for_a_day_the_inverter_reported_whole() {
        let day = 18_444;
        let mut r = own(day, 100);
        for (k, x) in r.iter_mut().enumerate() {
            x.generation_wh = Some(if (40..56).contains(&k) { 500 } else { 0 });
            x.export_wh = if (40..56).contains(&k) { 200 } else { 0 };
        }
        // The next day's readings are not this day's.
        r.extend(own(day + 1, 7).into_iter().map(|x| OwnReading {
            generation_wh: Some(9_999),
            ..x
        }));
        let d = household_day("h", "R", day, &r, &[], None);
        assert_eq!(d.generation_kwh, Some(8.0));
        assert!((d.export_kwh - 3.2).abs() < 1e-9);
        assert!((d.self_consumption().unwrap() - 0.6).abs() < 1e-9);
        // One interval without inverter data: the day's generation is unknown, not understated.
        r[3].generation_wh = None;
        let d = household_day("h", "R", day, &r, &[], None);
        assert_eq!((d.generation_kwh, d.self_consumption()), (None, None));
        // No readings that day: nothing is known.
        assert_eq!(
            household_day("h", "R", day + 5, &r, &[], None).generation_kwh,
            None
        );
    }

    #[test]
    fn neighbours_matter_only_through_the_private_aggregates() {
        let day = 18_444;
        let mine = own(day, 80); // 7.68 kWh
        let history: Vec<(i64, f64)> = (1..=10).map(|k| (day - k, 9.0)).collect();
        let mut hist = vec![0; crate::day::BUCKETS];
        hist[4] = 3;
        hist[5] = 7;
        let region = RegionDay {
            import_wh: 90_000.0,
            contributors: 10.0,
            histogram: hist,
        };
        let a = household_day("h", "R", day, &mine, &history, Some(&region));
        assert_eq!(a.region_average_kwh, Some(9.0));
        assert_eq!(a.efficient_kwh, Some(crate::day::bucket_edge(4)));
        assert_eq!(a.baseline_kwh, Some(9.0));
        // Any two neighbourhoods with the same aggregates give the same day, whatever their
        // households used individually: the function cannot see them.
        let same = RegionDay { ..region.clone() };
        assert_eq!(
            household_day("h", "R", day, &mine, &history, Some(&same)),
            a
        );
        // Different aggregates, different comparison.
        let richer = RegionDay {
            import_wh: 60_000.0,
            ..region
        };
        let b = household_day("h", "R", day, &mine, &history, Some(&richer));
        assert_eq!(b.region_average_kwh, Some(6.0));
        assert!(a.below_average() && !b.below_average());
    }
}
