//! Per-interval features of a household's day: the raw window around the interval, time of
//! day and season, the day's level and spread, and the day's singular spectrum — SSA
//! reconstructions of the leading eigentriples (L = 6 h) and SSD components grouped into
//! slow (> 12 h), medium (2-12 h) and fast (< 2 h) bands.

use crate::DisaggError;
use std::f64::consts::PI;
use zeal_civil::{amsterdam_offset, day_of_year};
use zeal_spectrum::{Ssa, SsdOptions, decompose};

/// Intervals per day.
pub const PER_DAY: usize = 96;
/// Intervals on each side of the one described.
const HALF_WINDOW: usize = 4;
/// SSA window: six hours.
const SSA_WINDOW: usize = 24;
/// Features per interval.
pub const DIM: usize = 34;

/// One UTC day of a meter: 96 intervals of import and export (Wh).
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// Days since 1970-01-01.
    pub day: i64,
    pub import_wh: [f64; PER_DAY],
    pub export_wh: [f64; PER_DAY],
}

impl Day {
    /// A simulated day as its meter reads it (whole Wh).
    pub fn from_trace(trace: &zeal_meters::household::DayTrace) -> Day {
        let mut d = Day {
            day: trace.day,
            import_wh: [0.0; PER_DAY],
            export_wh: [0.0; PER_DAY],
        };
        for (k, iv) in trace.intervals.iter().enumerate() {
            d.import_wh[k] = iv.import_wh.round();
            d.export_wh[k] = iv.export_wh.round();
        }
        d
    }
}

/// Groups 15-minute readings `(interval_start_ms, import_wh, export_wh)` into UTC days: the
/// complete days (all 96 intervals) in order, and how many days were incomplete.
pub fn complete_days(readings: impl IntoIterator<Item = (i64, f64, f64)>) -> (Vec<Day>, usize) {
    let mut days: std::collections::BTreeMap<i64, (Day, [bool; PER_DAY])> = Default::default();
    for (t, import, export) in readings {
        let day = t.div_euclid(86_400_000);
        let slot = (t.rem_euclid(86_400_000) / 900_000) as usize;
        let e = days.entry(day).or_insert_with(|| {
            (
                Day {
                    day,
                    import_wh: [0.0; PER_DAY],
                    export_wh: [0.0; PER_DAY],
                },
                [false; PER_DAY],
            )
        });
        e.0.import_wh[slot] = import;
        e.0.export_wh[slot] = export;
        e.1[slot] = true;
    }
    let total = days.len();
    let complete: Vec<Day> = days
        .into_values()
        .filter(|(_, filled)| filled.iter().all(|x| *x))
        .map(|(d, _)| d)
        .collect();
    let incomplete = total - complete.len();
    (complete, incomplete)
}

/// The days either side of `days[i]`, when they are the calendar neighbours.
pub fn neighbours(days: &[Day], i: usize) -> (Option<&Day>, Option<&Day>) {
    let d = days[i].day;
    let prev = i
        .checked_sub(1)
        .map(|j| &days[j])
        .filter(|p| p.day == d - 1);
    let next = days.get(i + 1).filter(|n| n.day == d + 1);
    (prev, next)
}

/// Names of the features, in order (model metadata, debugging).
pub fn names() -> Vec<String> {
    let mut n: Vec<String> = (0..=2 * HALF_WINDOW)
        .map(|k| format!("import_t{:+}", k as i64 - HALF_WINDOW as i64))
        .collect();
    n.extend(
        [
            "export_t",
            "hour_sin",
            "hour_cos",
            "weekend",
            "season_sin",
            "season_cos",
            "day_import",
            "day_min",
            "day_max",
            "day_export",
            "day_std",
            "ssa_trend",
            "ssa_pair1",
            "ssa_pair2",
            "ssa_share0",
            "ssa_share1",
            "ssa_share2",
            "ssa_share3",
            "ssa_share4",
            "ssd_slow",
            "ssd_medium",
            "ssd_fast",
            "ssd_residual",
            "diff_prev",
            "diff_next",
        ]
        .map(String::from),
    );
    n
}

/// Features of every interval of `day`; `prev` and `next` (when known) extend the window
/// across midnight, otherwise the day's edge value is repeated.
pub fn day_features(
    prev: Option<&Day>,
    day: &Day,
    next: Option<&Day>,
) -> Result<Vec<[f32; DIM]>, DisaggError> {
    let x = &day.import_wh;
    let kwh = |v: f64| v / 1000.0;
    let at = |t: i64| -> f64 {
        if t < 0 {
            prev.map_or(x[0], |p| p.import_wh[(PER_DAY as i64 + t) as usize])
        } else if t >= PER_DAY as i64 {
            next.map_or(x[PER_DAY - 1], |n| {
                n.import_wh[(t - PER_DAY as i64) as usize]
            })
        } else {
            x[t as usize]
        }
    };
    let total: f64 = x.iter().sum();
    let mean = total / PER_DAY as f64;
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    let max = x.iter().copied().fold(0.0, f64::max);
    let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / PER_DAY as f64).sqrt();
    let exported: f64 = day.export_wh.iter().sum();

    let ssa = Ssa::new(x, SSA_WINDOW)?;
    let trend = ssa.reconstruct(&[0]);
    let pair1 = ssa.reconstruct(&[1, 2]);
    let pair2 = ssa.reconstruct(&[3, 4]);
    let share = ssa.contribution();

    let ssd = decompose(
        x,
        &SsdOptions {
            max_components: 6,
            ..SsdOptions::default()
        },
    )?;
    let mut bands = [[0.0f64; PER_DAY]; 3];
    for c in &ssd.components {
        // Cycles per 15-minute sample: 1/48 is a 12-hour period, 1/8 a 2-hour one.
        let band = match c.dominant_frequency {
            f if f < 1.0 / 48.0 => 0,
            f if f <= 1.0 / 8.0 => 1,
            _ => 2,
        };
        for (b, v) in bands[band].iter_mut().zip(&c.series) {
            *b += v;
        }
    }

    let offset_h = amsterdam_offset(day.day * 86_400) as f64 / 3600.0;
    let weekend = matches!((day.day + 4).rem_euclid(7), 0 | 6);
    let season = 2.0 * PI * f64::from(day_of_year(day.day)) / 365.25;
    let mut out = Vec::with_capacity(PER_DAY);
    for t in 0..PER_DAY {
        let mut f = [0f32; DIM];
        let mut i = 0;
        let mut push = |v: f64| {
            f[i] = v as f32;
            i += 1;
        };
        for k in -(HALF_WINDOW as i64)..=HALF_WINDOW as i64 {
            push(kwh(at(t as i64 + k)));
        }
        push(kwh(day.export_wh[t]));
        let hour = (t as f64 / 4.0 + offset_h).rem_euclid(24.0);
        push((2.0 * PI * hour / 24.0).sin());
        push((2.0 * PI * hour / 24.0).cos());
        push(if weekend { 1.0 } else { 0.0 });
        push(season.sin());
        push(season.cos());
        push(kwh(total) / 10.0);
        push(kwh(min));
        push(kwh(max));
        push(kwh(exported) / 10.0);
        push(kwh(std));
        push(kwh(trend[t]));
        push(kwh(pair1[t]));
        push(kwh(pair2[t]));
        for s in 0..5 {
            push(share.get(s).copied().unwrap_or(0.0));
        }
        for band in &bands {
            push(kwh(band[t]));
        }
        push(kwh(ssd.residual[t]));
        push(kwh(x[t] - at(t as i64 - 1)));
        push(kwh(at(t as i64 + 1) - x[t]));
        debug_assert_eq!(i, DIM);
        out.push(f);
    }
    Ok(out)
}

/// Features of consecutive days (each day's neighbours extend its window).
pub fn series_features(days: &[Day]) -> Result<Vec<[f32; DIM]>, DisaggError> {
    let mut out = Vec::with_capacity(days.len() * PER_DAY);
    for (i, d) in days.iter().enumerate() {
        let (prev, next) = neighbours(days, i);
        out.extend(day_features(prev, d, next)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_is_named_and_finite() {
        assert_eq!(names().len(), DIM);
        let mut d = Day {
            day: 18_500,
            import_wh: [0.0; PER_DAY],
            export_wh: [0.0; PER_DAY],
        };
        for t in 0..PER_DAY {
            d.import_wh[t] = 60.0 + if (70..74).contains(&t) { 900.0 } else { 0.0 };
        }
        let f = day_features(None, &d, None).unwrap();
        assert_eq!(f.len(), PER_DAY);
        assert!(f.iter().flatten().all(|v| v.is_finite()));
        // The raw window is centred: at t = 70 the "t+0" feature is the spike.
        assert!((f[70][HALF_WINDOW] - 0.96).abs() < 1e-6);
        assert!((f[66][2 * HALF_WINDOW] - 0.96).abs() < 1e-6);
        // An all-zero day (meter off) still has features.
        let z = Day {
            day: 18_500,
            import_wh: [0.0; PER_DAY],
            export_wh: [0.0; PER_DAY],
        };
        assert!(
            day_features(None, &z, None)
                .unwrap()
                .iter()
                .flatten()
                .all(|v| v.is_finite())
        );
    }
}
