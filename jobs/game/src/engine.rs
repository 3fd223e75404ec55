//! From a household's daily history to its game events. One pass over the days in order keeps
//! running totals (points, streaks, counts, stage); each day's events depend only on the days up
//! to it, so recomputing any day gives the same events, keyed by (household, day, kind, code).
//!
//! Badges (each awarded once, on the day it is earned):
//!
//! | code | earned when |
//! |---|---|
//! | `first_saving` | the first day below the household's own baseline |
//! | `week_streak` | 7 consecutive saving days |
//! | `month_streak` | 28 consecutive saving days |
//! | `peak_shaver` | the 5th low-peak day |
//! | `first_export` | the first day the household fed energy to the grid |
//! | `efficient_neighbour` | the first day among the region's most efficient 20 % |
//!
//! Weekly challenges (Monday-Sunday, rotating by week number; 25 points when completed):
//! `shift_week` (4 low-peak days), `save_week` (5 kWh saved in the week), `sun_week` (3 days with a
//! quarter of the energy in solar hours).

use crate::day::HouseholdDay;
use crate::journey::{Stage, stage_at};
use crate::rules::{LOW_PEAK_SHARE, POINTS_PER_LEVEL, RULES};
use serde::{Deserialize, Serialize};

/// One award, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameEvent {
    pub household_id: String,
    pub day: i64,
    /// `points`, `badge`, `challenge`, `level` or `stage`.
    pub kind: String,
    /// The rule, badge, challenge (`<week>:<name>`), level (`level_<n>`) or stage.
    pub code: String,
    pub points: u32,
    pub reason: String,
}

/// Level for a points total: level 1 from 0 points, one more every [`POINTS_PER_LEVEL`].
pub fn level_of(points: u32) -> u32 {
    points / POINTS_PER_LEVEL + 1
}

/// Points of a completed weekly challenge.
pub const CHALLENGE_POINTS: u32 = 25;

/// Monday-based week number of a day (1970-01-01 was a Thursday).
pub fn week_of(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// The challenge of a week: (code, description).
pub fn challenge_of(week: i64) -> (&'static str, &'static str) {
    match week.rem_euclid(3) {
        0 => (
            "shift_week",
            "4 days this week with at most 20 % of your energy in 17:00-21:00",
        ),
        1 => ("save_week", "save 5 kWh this week against your own average"),
        _ => (
            "sun_week",
            "3 days this week with a quarter of your energy used in 11:00-15:00",
        ),
    }
}

/// Standing after a day (what the household page shows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing {
    pub points: u32,
    pub level: u32,
    pub stage: Stage,
    /// Consecutive saving days up to this day.
    pub streak: u32,
    pub badges: Vec<String>,
}

/// Every event of every day of `history` (sorted by day, one household), and the standing after
/// the last day.
pub fn all_events(history: &[HouseholdDay]) -> (Vec<GameEvent>, Standing) {
    let mut out = Vec::new();
    let mut st = Standing {
        points: 0,
        level: 1,
        stage: Stage::Aware,
        streak: 0,
        badges: Vec::new(),
    };
    let mut low_peak_days = 0;
    // This week's progress: (week, low-peak days, kWh saved, solar days, completed).
    let mut week = (i64::MIN, 0u32, 0.0f64, 0u32, false);
    for (i, d) in history.iter().enumerate() {
        let ev = |kind: &str, code: String, points: u32, reason: String| GameEvent {
            household_id: d.household_id.clone(),
            day: d.day,
            kind: kind.to_string(),
            code,
            points,
            reason,
        };
        let mut day_points = 0;
        for rule in RULES {
            let p = (rule.points)(d);
            if p > 0 {
                day_points += p;
                out.push(ev("points", rule.code.into(), p, rule.reason.into()));
            }
        }
        let saved = d.savings_kwh().filter(|s| *s > 0.0);
        let consecutive = i > 0 && history[i - 1].day == d.day - 1;
        st.streak = match saved {
            Some(_) if consecutive || st.streak == 0 => st.streak + 1,
            Some(_) => 1,
            None => 0,
        };
        let low_peak = d.import_kwh > 0.5 && d.peak_share() <= LOW_PEAK_SHARE;
        if low_peak {
            low_peak_days += 1;
        }
        let mut badge = |code: &str, reason: String, st: &mut Standing| {
            if !st.badges.iter().any(|b| b == code) {
                st.badges.push(code.to_string());
                out.push(ev("badge", code.into(), 0, reason));
            }
        };
        if saved.is_some() {
            badge(
                "first_saving",
                "your first day below your own average".into(),
                &mut st,
            );
        }
        if st.streak >= 7 {
            badge("week_streak", "7 saving days in a row".into(), &mut st);
        }
        if st.streak >= 28 {
            badge("month_streak", "28 saving days in a row".into(), &mut st);
        }
        if low_peak_days >= 5 {
            badge(
                "peak_shaver",
                "5 days with a quiet evening peak".into(),
                &mut st,
            );
        }
        if d.produced() {
            badge("first_export", "you fed energy to the grid".into(), &mut st);
        }
        if d.efficient() {
            badge(
                "efficient_neighbour",
                "among the most efficient 20 % of your region".into(),
                &mut st,
            );
        }
        // Weekly challenge.
        let w = week_of(d.day);
        if w != week.0 {
            week = (w, 0, 0.0, 0, false);
        }
        week.1 += u32::from(low_peak);
        week.2 += saved.unwrap_or(0.0);
        week.3 += u32::from(d.import_kwh > 0.5 && d.solar_hours_kwh / d.import_kwh >= 0.25);
        let (code, text) = challenge_of(w);
        let done = match code {
            "shift_week" => week.1 >= 4,
            "save_week" => week.2 >= 5.0,
            _ => week.3 >= 3,
        };
        if done && !week.4 {
            week.4 = true;
            day_points += CHALLENGE_POINTS;
            out.push(ev(
                "challenge",
                format!("{w}:{code}"),
                CHALLENGE_POINTS,
                format!("weekly challenge: {text}"),
            ));
        }
        // Levels and stage.
        let before = st.level;
        st.points += day_points;
        st.level = level_of(st.points);
        for l in before + 1..=st.level {
            out.push(ev(
                "level",
                format!("level_{l}"),
                0,
                format!("reached level {l} ({} points)", (l - 1) * POINTS_PER_LEVEL),
            ));
        }
        let stage = stage_at(&history[..=i], d.day, st.level);
        if stage > st.stage {
            st.stage = stage;
            out.push(ev(
                "stage",
                stage.name().into(),
                0,
                format!(
                    "you are now a {}; next: {}",
                    stage.name(),
                    stage.next_goal()
                ),
            ));
        }
    }
    (out, st)
}

/// The events of one day (recomputed from the history up to it).
pub fn events_for_day(history: &[HouseholdDay], day: i64) -> Vec<GameEvent> {
    let upto: Vec<HouseholdDay> = history.iter().filter(|d| d.day <= day).cloned().collect();
    all_events(&upto)
        .0
        .into_iter()
        .filter(|e| e.day == day)
        .collect()
}

#[cfg(test)]
mod tests;
