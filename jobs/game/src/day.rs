//! One household's day as the game sees it: its own energy, when it was used, its own baseline,
//! and how it compares with its neighbours through private aggregates only.

use serde::{Deserialize, Serialize};

/// Local hours (Europe/Amsterdam) of the evening peak, when the grid is most stressed.
pub const PEAK_HOURS: std::ops::Range<u32> = 17..21;
/// Local hours when rooftop PV produces most: using energy then is "solar-hour" use.
pub const SOLAR_HOURS: std::ops::Range<u32> = 11..15;
/// Least generation (kWh) of a day for its self-consumption to mean anything (below it, a
/// cloudy day's few watt-hours make the share noise).
pub const MIN_GENERATION_KWH: f64 = 0.1;
/// Days of history in a household's baseline (its own trailing average).
pub const BASELINE_DAYS: usize = 28;
/// Fewest days of history before a baseline (and savings) exist.
pub const BASELINE_MIN_DAYS: usize = 7;

/// One household's day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HouseholdDay {
    pub household_id: String,
    pub region: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub import_kwh: f64,
    pub export_kwh: f64,
    /// Own PV generation, when an inverter reported every interval of the day (prosumers with
    /// one); `None` when unknown: a smart meter alone sees only the net flow.
    #[serde(default)]
    pub generation_kwh: Option<f64>,
    /// Import during [`PEAK_HOURS`].
    pub peak_kwh: f64,
    /// Import during [`SOLAR_HOURS`].
    pub solar_hours_kwh: f64,
    /// The household's own trailing average import (kWh/day), when it has enough history.
    pub baseline_kwh: Option<f64>,
    /// The region's private total import / contributors for the day.
    pub region_average_kwh: Option<f64>,
    /// Upper edge of the consumption bucket that holds the region's best 20 %, from the
    /// region's private histogram.
    pub efficient_kwh: Option<f64>,
}

impl HouseholdDay {
    /// Energy saved against the household's own baseline (negative: used more).
    pub fn savings_kwh(&self) -> Option<f64> {
        self.baseline_kwh.map(|b| b - self.import_kwh)
    }

    /// Share of the day's import used in the evening peak.
    pub fn peak_share(&self) -> f64 {
        if self.import_kwh > 0.0 {
            self.peak_kwh / self.import_kwh
        } else {
            0.0
        }
    }

    /// Whether the household fed energy to the grid (a producer).
    pub fn produced(&self) -> bool {
        self.export_kwh >= 0.5
    }

    /// Own generation used at home (generation - export, kWh); `None` without known generation.
    pub fn self_used_kwh(&self) -> Option<f64> {
        self.generation_kwh.map(|g| (g - self.export_kwh).max(0.0))
    }

    /// The day's [`self_consumption`]; `None` without known generation.
    pub fn self_consumption(&self) -> Option<f64> {
        self_consumption(self.generation_kwh?, self.export_kwh)
    }

    /// The day's [`self_sufficiency`]; `None` without known generation.
    pub fn self_sufficiency(&self) -> Option<f64> {
        self_sufficiency(self.import_kwh, self.self_used_kwh()?)
    }

    /// At or below the region's efficient-neighbour mark.
    pub fn efficient(&self) -> bool {
        self.efficient_kwh.is_some_and(|e| self.import_kwh <= e)
    }

    /// Below the region's average household.
    pub fn below_average(&self) -> bool {
        self.region_average_kwh.is_some_and(|a| self.import_kwh < a)
    }
}

/// Self-consumption: the share (0-1) of `generation` kWh used at home rather than exported;
/// `None` below [`MIN_GENERATION_KWH`].
pub fn self_consumption(generation: f64, export: f64) -> Option<f64> {
    (generation >= MIN_GENERATION_KWH).then(|| ((generation - export) / generation).clamp(0.0, 1.0))
}

/// Self-sufficiency: the share (0-1) of the household's use covered by its own generation,
/// `self_used` kWh of it used at home next to `import` kWh from the grid; `None` when nothing
/// was used.
pub fn self_sufficiency(import: f64, self_used: f64) -> Option<f64> {
    let used = import + self_used;
    (used > 0.0).then(|| (self_used / used).clamp(0.0, 1.0))
}

/// The baseline for `day` from the household's earlier days (its trailing [`BASELINE_DAYS`]).
pub fn baseline(history: &[(i64, f64)], day: i64) -> Option<f64> {
    let window: Vec<f64> = history
        .iter()
        .filter(|(d, _)| *d < day && *d >= day - BASELINE_DAYS as i64)
        .map(|(_, kwh)| *kwh)
        .collect();
    (window.len() >= BASELINE_MIN_DAYS).then(|| window.iter().sum::<f64>() / window.len() as f64)
}

/// Log-spaced daily-consumption buckets (kWh) of the private histogram: edges 1, 1.5, 2.25, ...
/// up to ~58 kWh; bucket i holds [edge(i-1), edge(i)), the last one everything above.
pub const BUCKETS: usize = 12;

/// Upper edge of bucket `i` (kWh/day); `f64::INFINITY` for the last.
pub fn bucket_edge(i: usize) -> f64 {
    if i + 1 >= BUCKETS {
        f64::INFINITY
    } else {
        1.5f64.powi(i as i32)
    }
}

/// The bucket a day's import falls in.
pub fn bucket_of(kwh: f64) -> usize {
    (0..BUCKETS)
        .find(|i| kwh < bucket_edge(*i))
        .unwrap_or(BUCKETS - 1)
}

/// The one-hot vector a gateway contributes to the daily round (channels `bucket_00`, ...).
pub fn one_hot(kwh: f64) -> Vec<u64> {
    let mut v = vec![0; BUCKETS];
    v[bucket_of(kwh)] = 1;
    v
}

/// The efficient-neighbour mark from a region's histogram (households per bucket): the upper
/// edge of the bucket in which the cumulative count reaches 20 % of households.
pub fn efficient_mark(histogram: &[u64]) -> Option<f64> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let mut seen = 0;
    for (i, n) in histogram.iter().enumerate() {
        seen += n;
        if seen * 5 >= total {
            return Some(bucket_edge(i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_need_a_week_and_use_four() {
        let history: Vec<(i64, f64)> = (0..40)
            .map(|d| (d, if d < 20 { 10.0 } else { 6.0 }))
            .collect();
        assert_eq!(baseline(&history, 5), None, "five days are not enough");
        assert_eq!(baseline(&history, 7), Some(10.0));
        // Day 40 looks back at days 12..39: 8 days of 10 and 20 of 6.
        let b = baseline(&history, 40).unwrap();
        assert!((b - (8.0 * 10.0 + 20.0 * 6.0) / 28.0).abs() < 1e-12);
    }

    #[test]
    fn buckets_are_log_spaced_and_the_mark_is_the_best_fifth() {
        assert_eq!(bucket_of(0.2), 0);
        assert_eq!(bucket_of(1.2), 1);
        assert_eq!(bucket_of(1_000.0), BUCKETS - 1);
        assert_eq!(one_hot(3.0).iter().sum::<u64>(), 1);
        // 10 households: 1 in bucket 3, 2 in bucket 4, 7 above: 20 % is reached in bucket 4.
        let mut h = vec![0; BUCKETS];
        h[3] = 1;
        h[4] = 2;
        h[6] = 7;
        assert_eq!(efficient_mark(&h), Some(bucket_edge(4)));
        assert_eq!(efficient_mark(&[0; BUCKETS]), None);
    }

    /// 8 kWh imported, 1 exported, 2 in the peak, 1 in solar hours; baseline 10, average 9,
    /// efficient mark 7.6; no inverter data.
    fn sample() -> HouseholdDay {
        HouseholdDay {
            household_id: "h".into(),
            region: "r".into(),
            day: 0,
            import_kwh: 8.0,
            export_kwh: 1.0,
            generation_kwh: None,
            peak_kwh: 2.0,
            solar_hours_kwh: 1.0,
            baseline_kwh: Some(10.0),
            region_average_kwh: Some(9.0),
            efficient_kwh: Some(7.6),
        }
    }

    #[test]
    fn comparisons_and_shares() {
        let d = sample();
        assert_eq!(d.savings_kwh(), Some(2.0));
        assert_eq!(d.peak_share(), 0.25);
        assert!(d.produced() && d.below_average() && !d.efficient());
        assert_eq!((d.self_consumption(), d.self_sufficiency()), (None, None));
    }

    #[test]
    fn self_consumption_and_self_sufficiency() {
        // 5 kWh generated, 1 exported: 4 used at home (80 %); use = 8 imported + 4 = 12.
        let d = HouseholdDay {
            generation_kwh: Some(5.0),
            ..sample()
        };
        assert!((d.self_consumption().unwrap() - 0.8).abs() < 1e-12);
        assert!((d.self_sufficiency().unwrap() - 4.0 / 12.0).abs() < 1e-12);
        // Off grid for the day: all use from own panels.
        let island = HouseholdDay {
            import_kwh: 0.0,
            export_kwh: 2.0,
            ..d.clone()
        };
        assert_eq!(island.self_sufficiency(), Some(1.0));
        assert!((island.self_consumption().unwrap() - 0.6).abs() < 1e-12);
        // Rounding can make export exceed generation by a few Wh: shares stay in 0-1.
        let rounding = HouseholdDay {
            generation_kwh: Some(1.0),
            export_kwh: 1.002,
            ..d.clone()
        };
        assert_eq!(rounding.self_consumption(), Some(0.0));
        assert_eq!(rounding.self_sufficiency(), Some(0.0));
        // A dark day: too little generation for a share, but self-sufficiency is defined.
        let dark = HouseholdDay {
            generation_kwh: Some(0.05),
            export_kwh: 0.0,
            ..d.clone()
        };
        assert_eq!(dark.self_consumption(), None);
        assert!(dark.self_sufficiency().unwrap() < 0.01);
        // Nothing used, nothing generated.
        let empty = HouseholdDay {
            import_kwh: 0.0,
            export_kwh: 0.0,
            generation_kwh: Some(0.0),
            ..d
        };
        assert_eq!(
            (empty.self_consumption(), empty.self_sufficiency()),
            (None, None)
        );
    }
}
