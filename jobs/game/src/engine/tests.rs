//! Every rule, badge, challenge, level and stage, on hand-made histories.

use super::*;
use crate::rules::RULES;

fn day(d: i64, import: f64) -> HouseholdDay {
    HouseholdDay {
        household_id: "hh-1".into(),
        region: "R".into(),
        day: d,
        import_kwh: import,
        export_kwh: 0.0,
        generation_kwh: None,
        peak_kwh: import * 0.35,
        solar_hours_kwh: import * 0.1,
        baseline_kwh: None,
        region_average_kwh: None,
        efficient_kwh: None,
    }
}

fn points(d: &HouseholdDay, code: &str) -> u32 {
    let rule = RULES.iter().find(|r| r.code == code).expect("rule exists");
    (rule.points)(d)
}

#[test]
fn saving_earns_a_point_per_100_wh_up_to_20() {
    let mut d = day(0, 8.55);
    assert_eq!(points(&d, "saving"), 0, "no baseline yet, no savings");
    d.baseline_kwh = Some(10.0);
    assert_eq!(points(&d, "saving"), 14);
    d.import_kwh = 5.0;
    assert_eq!(points(&d, "saving"), 20, "capped");
    d.import_kwh = 11.0;
    assert_eq!(points(&d, "saving"), 0, "using more earns nothing");
}

#[test]
fn shifting_and_solar_hours_and_neighbours_earn_their_points() {
    let mut d = day(0, 8.0);
    assert_eq!(points(&d, "low_peak"), 0, "35 % in the peak");
    d.peak_kwh = 1.0;
    assert_eq!(points(&d, "low_peak"), 5);
    d.import_kwh = 0.4;
    assert_eq!(points(&d, "low_peak"), 0, "an empty house is not shifting");
    let mut d = day(0, 8.0);
    assert_eq!(points(&d, "solar_hours"), 0);
    d.solar_hours_kwh = 2.0;
    assert_eq!(points(&d, "solar_hours"), 3);
    d.region_average_kwh = Some(9.0);
    assert_eq!(points(&d, "below_average"), 5);
    d.region_average_kwh = Some(7.0);
    assert_eq!(points(&d, "below_average"), 0);
    d.efficient_kwh = Some(8.0);
    assert_eq!(points(&d, "efficient_neighbour"), 10, "at the mark counts");
    d.efficient_kwh = Some(7.9);
    assert_eq!(points(&d, "efficient_neighbour"), 0);
}

#[test]
fn levels_come_every_100_points_once() {
    assert_eq!(level_of(0), 1);
    assert_eq!(level_of(99), 1);
    assert_eq!(level_of(100), 2);
    // 20 (saving) + 5 (below average) + 10 (efficient) = 35 a day: level 2 on day 3.
    let history: Vec<HouseholdDay> = (0..4)
        .map(|k| HouseholdDay {
            baseline_kwh: Some(10.0),
            region_average_kwh: Some(9.0),
            efficient_kwh: Some(6.0),
            ..day(k, 5.0)
        })
        .collect();
    let (events, st) = all_events(&history);
    let levels: Vec<&GameEvent> = events.iter().filter(|e| e.kind == "level").collect();
    assert_eq!(levels.len(), 1);
    assert_eq!((levels[0].day, levels[0].code.as_str()), (2, "level_2"));
    assert_eq!(
        st.points,
        4 * 35 + CHALLENGE_POINTS * u32::from(events.iter().any(|e| e.kind == "challenge"))
    );
    assert_eq!(st.level, level_of(st.points));
}

#[test]
fn badges_are_awarded_once_and_streaks_break_on_a_gap() {
    let mut history: Vec<HouseholdDay> = (0..10)
        .map(|k| HouseholdDay {
            baseline_kwh: Some(10.0),
            ..day(k, 9.0)
        })
        .collect();
    history[8].day = 20; // a gap: days 8 and 9 are not consecutive with day 7
    history[9].day = 21;
    let (events, st) = all_events(&history);
    let badges: Vec<(&str, i64)> = events
        .iter()
        .filter(|e| e.kind == "badge")
        .map(|e| (e.code.as_str(), e.day))
        .collect();
    assert_eq!(badges, vec![("first_saving", 0), ("week_streak", 6)]);
    assert_eq!(st.streak, 2, "the streak restarted after the gap");
    let mut d = day(30, 4.0);
    d.export_kwh = 3.0;
    d.efficient_kwh = Some(5.0);
    history.push(d);
    let (events, _) = all_events(&history);
    assert!(
        events
            .iter()
            .any(|e| e.code == "first_export" && e.day == 30)
    );
    assert!(
        events
            .iter()
            .any(|e| e.code == "efficient_neighbour" && e.day == 30)
    );
}

#[test]
fn a_weekly_challenge_pays_once_when_completed() {
    // Find a week whose challenge is shifting, then shift on every day of it.
    let w = (2_700..2_703)
        .find(|w| challenge_of(*w).0 == "shift_week")
        .unwrap();
    let monday = w * 7 - 3;
    let history: Vec<HouseholdDay> = (0..7)
        .map(|k| HouseholdDay {
            peak_kwh: 0.5,
            ..day(monday + k, 8.0)
        })
        .collect();
    let (events, _) = all_events(&history);
    let ch: Vec<&GameEvent> = events.iter().filter(|e| e.kind == "challenge").collect();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].day, monday + 3, "completed on the 4th low-peak day");
    assert_eq!(ch[0].points, CHALLENGE_POINTS);
    assert_eq!(week_of(monday), w);
    assert_eq!(week_of(monday + 6), w);
    assert_eq!(week_of(monday + 7), w + 1);
}

#[test]
fn the_journey_advances_stage_by_stage_and_never_back() {
    let mut history = Vec::new();
    // 5 saving days -> saver; then 5 low-peak saving days -> shifter; 7 exporting -> producer.
    for k in 0..5 {
        history.push(HouseholdDay {
            baseline_kwh: Some(10.0),
            ..day(k, 9.0)
        });
    }
    for k in 5..10 {
        history.push(HouseholdDay {
            baseline_kwh: Some(10.0),
            peak_kwh: 1.0,
            ..day(k, 9.0)
        });
    }
    for k in 10..17 {
        history.push(HouseholdDay {
            export_kwh: 2.0,
            generation_kwh: None,
            ..day(k, 9.0)
        });
    }
    let (events, st) = all_events(&history);
    let stages: Vec<(&str, i64)> = events
        .iter()
        .filter(|e| e.kind == "stage")
        .map(|e| (e.code.as_str(), e.day))
        .collect();
    assert_eq!(stages, vec![("saver", 4), ("shifter", 9), ("producer", 16)]);
    // A bad month later: the stage stays.
    for k in 60..70 {
        history.push(day(k, 20.0));
    }
    let (_, later) = all_events(&history);
    assert_eq!(later.stage, Stage::Producer);
    assert_eq!(st.stage, Stage::Producer);
    // Hero needs efficient days and level 5 on top.
    assert_eq!(stage_at(&history[..17], 16, 1), Stage::Producer);
}

#[test]
fn recomputing_a_day_gives_the_same_events() {
    let history: Vec<HouseholdDay> = (0..30)
        .map(|k| HouseholdDay {
            baseline_kwh: (k >= 7).then_some(10.0),
            region_average_kwh: Some(9.5),
            efficient_kwh: Some(7.0),
            peak_kwh: if k % 3 == 0 { 1.0 } else { 3.0 },
            ..day(k, 6.0 + (k % 5) as f64)
        })
        .collect();
    let (all, _) = all_events(&history);
    for d in [0, 7, 15, 29] {
        let a = events_for_day(&history, d);
        let b = events_for_day(&history, d);
        assert_eq!(a, b);
        let from_all: Vec<GameEvent> = all.iter().filter(|e| e.day == d).cloned().collect();
        assert_eq!(
            a, from_all,
            "day {d}: alone or in the whole history, the same events"
        );
        // Keys are unique within a day: a ReplacingMergeTree keeps each exactly once.
        let mut keys: Vec<(&str, &str)> = a
            .iter()
            .map(|e| (e.kind.as_str(), e.code.as_str()))
            .collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }
}
