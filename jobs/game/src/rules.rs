//! Every rule that awards points, in one table: what it rewards, how many points, and the reason
//! shown to the household. Points reward real savings against the household's own baseline and
//! moving use out of the evening peak; comparisons with neighbours use private aggregates only.

use crate::day::HouseholdDay;

/// One point rule.
pub struct Rule {
    /// Stable code (part of the event key).
    pub code: &'static str,
    /// What the household reads.
    pub reason: &'static str,
    /// Points the day earns under this rule (0: not earned).
    pub points: fn(&HouseholdDay) -> u32,
}

/// Points per 0.1 kWh saved against the baseline, and the daily cap.
pub const SAVING_POINTS_PER_100_WH: u32 = 1;
pub const SAVING_CAP: u32 = 20;
/// A "low-peak" day uses at most this share of its energy in the evening peak.
pub const LOW_PEAK_SHARE: f64 = 0.20;

fn saving(d: &HouseholdDay) -> u32 {
    match d.savings_kwh() {
        Some(s) if s > 0.0 => {
            ((s * 10.0).floor() as u32 * SAVING_POINTS_PER_100_WH).min(SAVING_CAP)
        }
        _ => 0,
    }
}

fn low_peak(d: &HouseholdDay) -> u32 {
    if d.import_kwh > 0.5 && d.peak_share() <= LOW_PEAK_SHARE {
        5
    } else {
        0
    }
}

fn below_average(d: &HouseholdDay) -> u32 {
    if d.below_average() { 5 } else { 0 }
}

fn efficient(d: &HouseholdDay) -> u32 {
    if d.efficient() { 10 } else { 0 }
}

fn solar_hours(d: &HouseholdDay) -> u32 {
    // Using energy while the sun shines (own or the neighbours' PV): at least a quarter of
    // the day's import between 11:00 and 15:00.
    if d.import_kwh > 0.5 && d.solar_hours_kwh / d.import_kwh >= 0.25 {
        3
    } else {
        0
    }
}

/// The rules, in the order their events are listed.
pub const RULES: &[Rule] = &[
    Rule {
        code: "saving",
        reason: "1 point per 0.1 kWh below your own 4-week average (up to 20 a day)",
        points: saving,
    },
    Rule {
        code: "low_peak",
        reason: "at most 20 % of your energy between 17:00 and 21:00",
        points: low_peak,
    },
    Rule {
        code: "solar_hours",
        reason: "a quarter of your energy used between 11:00 and 15:00, when the sun shines",
        points: solar_hours,
    },
    Rule {
        code: "below_average",
        reason: "less than the average household in your region",
        points: below_average,
    },
    Rule {
        code: "efficient_neighbour",
        reason: "among the most efficient 20 % of your region",
        points: efficient,
    },
];

/// Points per level.
pub const POINTS_PER_LEVEL: u32 = 100;
