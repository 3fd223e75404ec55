//! What the pages show, computed from table rows (pure: no I/O, unit-tested).
//!
//! The household page's numbers are the README's SQL, done in Rust over the same rows: points are
//! `sum(points)` of the household's `gamification_events`, the level `points / 100 + 1`, the stage
//! the latest `stage` event (`aware` before any), today is the household's latest day in
//! `household_daily` and the month that day's calendar month.

use zeal_civil::{civil_from_days, days_from_civil};
pub use zeal_game::HouseholdDay;
use zeal_game::day::{self_consumption, self_sufficiency};
pub use zeal_game::engine::GameEvent;
use zeal_game::engine::level_of;
use zeal_game::journey::{Criterion, Stage};

mod balance;
pub use balance::{
    AlertRun, BALANCE_INTERVAL, BALANCE_WINDOW, Balance, BalanceRow, RegionBalance, alert_runs,
    open_alerts,
};

/// A household that joined the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub household_id: String,
    pub region: String,
    pub display_name: String,
    /// Consent to use the meter's readings (the game and the device breakdown need them).
    pub share_readings: bool,
    /// Named on the region's leaderboard.
    pub leaderboard: bool,
}

fn flag(s: &str) -> Option<bool> {
    match s {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// A day number from `YYYY-MM-DD…` (ClickHouse) or epoch milliseconds (embedded store).
pub fn parse_day(s: &str) -> Option<i64> {
    if s.len() >= 10 && s.as_bytes()[4] == b'-' {
        let y = s.get(0..4)?.parse().ok()?;
        let m = s.get(5..7)?.parse().ok()?;
        let d = s.get(8..10)?.parse().ok()?;
        Some(days_from_civil(y, m, d))
    } else {
        Some(s.parse::<i64>().ok()?.div_euclid(86_400_000))
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Epoch seconds from `YYYY-MM-DD hh:mm:ss` (ClickHouse, UTC server) or milliseconds.
pub fn parse_time_secs(s: &str) -> Option<i64> {
    if s.len() >= 19 && s.as_bytes()[4] == b'-' {
        let day = parse_day(s)?;
        let h: i64 = s.get(11..13)?.parse().ok()?;
        let m: i64 = s.get(14..16)?.parse().ok()?;
        let sec: i64 = s.get(17..19)?.parse().ok()?;
        Some(day * 86_400 + h * 3_600 + m * 60 + sec)
    } else {
        Some(s.parse::<i64>().ok()?.div_euclid(1000))
    }
}

/// `YYYY-MM-DD hh:mm` UTC of epoch seconds.
pub fn format_time(secs: i64) -> String {
    let day = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}",
        format_day(day),
        rem / 3_600,
        (rem % 3_600) / 60
    )
}

fn num(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

fn known(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Profile {
    /// From `household_id, region, display_name, share_readings, leaderboard`.
    pub fn from_cells(c: &[String]) -> Option<Profile> {
        Some(Profile {
            household_id: c.first()?.clone(),
            region: c.get(1)?.clone(),
            display_name: c.get(2)?.clone(),
            share_readings: flag(c.get(3)?)?,
            leaderboard: flag(c.get(4)?)?,
        })
    }
}

/// A household's day from a `household_daily` row: `day, region, import, export, peak,
/// solar_hours, baseline, region_average, efficient, generation` (NaN: not known; a missing or
/// empty generation cell, as in rows written before the column existed, too).
pub fn day_from_cells(household_id: &str, c: &[String]) -> Option<HouseholdDay> {
    Some(HouseholdDay {
        household_id: household_id.to_string(),
        day: parse_day(c.first()?)?,
        region: c.get(1)?.clone(),
        import_kwh: num(c.get(2)?)?,
        export_kwh: num(c.get(3)?)?,
        peak_kwh: num(c.get(4)?)?,
        solar_hours_kwh: num(c.get(5)?)?,
        baseline_kwh: num(c.get(6)?).and_then(known),
        region_average_kwh: num(c.get(7)?).and_then(known),
        efficient_kwh: num(c.get(8)?).and_then(known),
        generation_kwh: c.get(9).and_then(|g| num(g)).and_then(known),
    })
}

/// An award from a `gamification_events` row: `household_id, day, kind, code, points, reason`.
pub fn event_from_cells(c: &[String]) -> Option<GameEvent> {
    Some(GameEvent {
        household_id: c.first()?.clone(),
        day: parse_day(c.get(1)?)?,
        kind: c.get(2)?.clone(),
        code: c.get(3)?.clone(),
        points: c.get(4)?.parse().ok()?,
        reason: c.get(5)?.clone(),
    })
}

/// Whether a day's estimate is sure enough to show its energy. Compared as the Float32 the
/// column stores: 0.8 read back as f64 is below `f64::from(0.8f32)`.
pub fn confident(confidence: f64) -> bool {
    confidence as f32 >= zeal_tables::appliance_usage::CONFIDENT
}

/// One row of `appliance_usage`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub day: i64,
    pub appliance: String,
    pub energy_wh: f64,
    pub on_intervals: u32,
    pub confidence: f64,
}

impl UsageRow {
    /// From `day, appliance, energy_wh, on_intervals, confidence`.
    pub fn from_cells(c: &[String]) -> Option<UsageRow> {
        Some(UsageRow {
            day: parse_day(c.first()?)?,
            appliance: c.get(1)?.clone(),
            energy_wh: num(c.get(2)?)?,
            on_intervals: c.get(3)?.parse().ok()?,
            confidence: num(c.get(4)?)?,
        })
    }
}

/// Points, level and stage from a household's events (the README's SQL).
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub points: u32,
    pub level: u32,
    pub stage: Stage,
}

impl Standing {
    /// Over the events of one household.
    pub fn of(events: &[GameEvent]) -> Standing {
        let points = events.iter().map(|e| e.points).sum();
        let stage = events
            .iter()
            .filter(|e| e.kind == "stage")
            .max_by_key(|e| e.day)
            .and_then(|e| Stage::from_name(&e.code))
            .unwrap_or(Stage::Aware);
        Standing {
            points,
            level: level_of(points),
            stage,
        }
    }
}

/// Own use against the neighbours over a span of days (kWh). The region columns are summed
/// over the days where they are known; `days_compared` says how many.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub days: usize,
    pub own_kwh: f64,
    pub export_kwh: f64,
    pub solar_hours_kwh: f64,
    pub average_kwh: Option<f64>,
    pub efficient_kwh: Option<f64>,
    /// Own generation over the days where the inverter reported it.
    pub generation_kwh: Option<f64>,
    /// Self-consumption over those days: 1 - export / generation.
    pub self_consumption: Option<f64>,
    /// Self-sufficiency over those days: self-used generation / (import + self-used generation).
    pub self_sufficiency: Option<f64>,
}

impl Comparison {
    /// Over `rows`.
    pub fn over(rows: &[&HouseholdDay]) -> Comparison {
        let sum_known = |f: &dyn Fn(&HouseholdDay) -> Option<f64>| {
            let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
            (!v.is_empty()).then(|| v.iter().sum())
        };
        // Over the days the inverter reported only.
        let generation = sum_known(&|r| r.generation_kwh);
        let exported = sum_known(&|r| r.generation_kwh.map(|_| r.export_kwh));
        let imported = sum_known(&|r| r.generation_kwh.map(|_| r.import_kwh));
        Comparison {
            days: rows.len(),
            own_kwh: rows.iter().map(|r| r.import_kwh).sum(),
            export_kwh: rows.iter().map(|r| r.export_kwh).sum(),
            solar_hours_kwh: rows.iter().map(|r| r.solar_hours_kwh).sum(),
            average_kwh: sum_known(&|r| r.region_average_kwh),
            efficient_kwh: sum_known(&|r| r.efficient_kwh),
            generation_kwh: generation,
            self_consumption: generation
                .zip(exported)
                .and_then(|(g, e)| self_consumption(g, e)),
            self_sufficiency: imported
                .zip(sum_known(&|r| r.self_used_kwh()))
                .and_then(|(i, own)| self_sufficiency(i, own)),
        }
    }
}

/// Energy per appliance on one day, largest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    pub day: i64,
    pub appliances: Vec<(String, f64, f64)>,
}

/// Everything on a household's page.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdView {
    pub profile: Profile,
    pub standing: Standing,
    /// The next stage and its criteria, with the household's progress (none for a hero).
    pub next: Option<(Stage, Vec<Criterion>)>,
    /// The latest day and its comparison.
    pub today: Option<(i64, Comparison)>,
    /// The latest day's calendar month (`YYYY-MM`) and its comparison.
    pub month: Option<(String, Comparison)>,
    /// The last 14 days (oldest first) for the chart.
    pub recent: Vec<HouseholdDay>,
    pub breakdown: Option<Breakdown>,
    /// Badges earned (the `badge` events).
    pub badges: Vec<GameEvent>,
    /// The latest events, newest first.
    pub latest: Vec<GameEvent>,
}

impl HouseholdView {
    /// The page of `profile` from its rows.
    pub fn build(
        profile: Profile,
        daily: &[HouseholdDay],
        events: &[GameEvent],
        usage: &[UsageRow],
    ) -> HouseholdView {
        let standing = Standing::of(events);
        let last = daily.iter().map(|d| d.day).max();
        let next = standing
            .stage
            .next()
            .map(|s| (s, s.criteria(daily, last.unwrap_or(0), standing.level)));
        let today = last.map(|day| {
            let rows: Vec<&HouseholdDay> = daily.iter().filter(|d| d.day == day).collect();
            (day, Comparison::over(&rows))
        });
        let month = last.map(|day| {
            let (y, m, _) = civil_from_days(day);
            let rows: Vec<&HouseholdDay> = daily
                .iter()
                .filter(|d| {
                    let (yy, mm, _) = civil_from_days(d.day);
                    (yy, mm) == (y, m)
                })
                .collect();
            (format!("{y:04}-{m:02}"), Comparison::over(&rows))
        });
        let recent: Vec<HouseholdDay> = daily
            .iter()
            .filter(|d| last.is_some_and(|l| d.day > l - 14))
            .cloned()
            .collect();
        let breakdown = usage.iter().map(|u| u.day).max().map(|day| {
            let mut appliances: Vec<(String, f64, f64)> = usage
                .iter()
                // Devices it found, and those it cannot tell about ("not sure").
                .filter(|u| u.day == day && (u.energy_wh > 0.0 || !confident(u.confidence)))
                .map(|u| (u.appliance.clone(), u.energy_wh / 1000.0, u.confidence))
                .collect();
            appliances.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            Breakdown { day, appliances }
        });
        let badges = events
            .iter()
            .filter(|e| e.kind == "badge")
            .cloned()
            .collect();
        let mut latest: Vec<GameEvent> = events.to_vec();
        latest.sort_by(|a, b| (b.day, &a.kind, &a.code).cmp(&(a.day, &b.kind, &b.code)));
        latest.truncate(12);
        HouseholdView {
            profile,
            standing,
            next,
            today,
            month,
            recent,
            breakdown,
            badges,
            latest,
        }
    }
}

/// One line of a region's leaderboard.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderboardRow {
    pub display_name: String,
    pub household_id: String,
    pub standing: Standing,
}

/// The named households of a region by points (ties by name); those that did not opt in to be
/// named are left out entirely.
pub fn leaderboard(profiles: &[Profile], events: &[GameEvent]) -> Vec<LeaderboardRow> {
    let mut rows: Vec<LeaderboardRow> = profiles
        .iter()
        .filter(|p| p.leaderboard)
        .map(|p| {
            let own: Vec<GameEvent> = events
                .iter()
                .filter(|e| e.household_id == p.household_id)
                .cloned()
                .collect();
            LeaderboardRow {
                display_name: p.display_name.clone(),
                household_id: p.household_id.clone(),
                standing: Standing::of(&own),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.standing
            .points
            .cmp(&a.standing.points)
            .then_with(|| a.display_name.cmp(&b.display_name))
    });
    rows
}

/// The operator page's numbers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OperatorData {
    /// Per region: round outcomes by event (COMPLETED, DEFERRED, ...) and quarantines.
    pub regions: Vec<(String, Vec<(String, u64)>)>,
    /// Latest deferred rounds: (region, interval start secs, attempt, reason).
    pub deferred: Vec<(String, i64, u32, String)>,
    /// Latest quarantines: (region, meter, interval start secs, reason).
    pub quarantined: Vec<(String, String, i64, String)>,
    /// Dead letters by reason.
    pub dead_letters: Vec<(String, u64)>,
    /// Each region's grid balance and the open alerts (empty before `zeal jobs balance` ran).
    pub balance: Balance,
}

impl OperatorData {
    /// From the operator queries' cells.
    pub fn from_cells(
        counts: &[Vec<String>],
        deferred: &[Vec<String>],
        quarantined: &[Vec<String>],
        letters: &[Vec<String>],
        balance: &[Vec<String>],
    ) -> OperatorData {
        let mut regions: Vec<(String, Vec<(String, u64)>)> = Vec::new();
        for c in counts {
            let (Some(region), Some(event), Some(n)) =
                (c.first(), c.get(1), c.get(2).and_then(|n| n.parse().ok()))
            else {
                continue;
            };
            match regions.iter_mut().find(|(r, _)| r == region) {
                Some((_, v)) => v.push((event.clone(), n)),
                None => regions.push((region.clone(), vec![(event.clone(), n)])),
            }
        }
        let deferred = deferred
            .iter()
            .filter_map(|c| {
                Some((
                    c.first()?.clone(),
                    parse_time_secs(c.get(1)?)?,
                    c.get(2)?.parse().ok()?,
                    c.get(3)?.clone(),
                ))
            })
            .collect();
        let quarantined = quarantined
            .iter()
            .filter_map(|c| {
                Some((
                    c.first()?.clone(),
                    c.get(1)?.clone(),
                    parse_time_secs(c.get(2)?)?,
                    c.get(3)?.clone(),
                ))
            })
            .collect();
        let dead_letters = letters
            .iter()
            .filter_map(|c| Some((c.first()?.clone(), c.get(1)?.parse().ok()?)))
            .collect();
        OperatorData {
            regions,
            deferred,
            quarantined,
            dead_letters,
            balance: Balance::from_cells(balance),
        }
    }
}

#[cfg(test)]
mod tests;
