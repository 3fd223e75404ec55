use super::*;
use zeal_civil::days_from_civil;
use zeal_grid::detect::Detector;

fn profile(id: &str, name: &str, named: bool) -> Profile {
    Profile {
        household_id: id.into(),
        region: "R".into(),
        display_name: name.into(),
        share_readings: true,
        leaderboard: named,
    }
}

fn event(h: &str, day: i64, kind: &str, code: &str, points: u32) -> GameEvent {
    GameEvent {
        household_id: h.into(),
        day,
        kind: kind.into(),
        code: code.into(),
        points,
        reason: format!("{kind} {code}"),
    }
}

fn daily(day: i64, import: f64, avg: Option<f64>, eff: Option<f64>, export: f64) -> HouseholdDay {
    HouseholdDay {
        household_id: "a".into(),
        day,
        region: "R".into(),
        import_kwh: import,
        export_kwh: export,
        generation_kwh: None,
        peak_kwh: import * 0.1,
        solar_hours_kwh: import * 0.3,
        baseline_kwh: Some(import + 1.0),
        region_average_kwh: avg,
        efficient_kwh: eff,
    }
}

#[test]
fn days_and_times_parse_from_both_stores() {
    let d = days_from_civil(2020, 7, 14);
    assert_eq!(parse_day("2020-07-14"), Some(d));
    assert_eq!(parse_day(&(d * 86_400_000 + 5).to_string()), Some(d));
    assert_eq!(parse_day("junk"), None);
    assert_eq!(format_day(d), "2020-07-14");
    assert_eq!(
        parse_time_secs("2020-07-14 01:15:00"),
        Some(d * 86_400 + 4_500)
    );
    assert_eq!(format_time(d * 86_400 + 4_500), "2020-07-14 01:15");
    let row: Vec<String> = [
        "2020-07-14",
        "R",
        "5.5",
        "0",
        "1",
        "2",
        "nan",
        "7.25",
        "NaN",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let r = day_from_cells("a", &row).unwrap();
    assert_eq!(
        (r.baseline_kwh, r.region_average_kwh, r.efficient_kwh),
        (None, Some(7.25), None)
    );
}

#[test]
fn standing_is_the_readme_sql() {
    let events = vec![
        event("a", 1, "points", "saving", 60),
        event("a", 2, "challenge", "shift", 25),
        event("a", 2, "stage", "saver", 0),
        event("a", 9, "stage", "shifter", 0),
        event("a", 9, "points", "low_peak", 30),
    ];
    let s = Standing::of(&events);
    assert_eq!((s.points, s.level, s.stage), (115, 2, Stage::Shifter));
    assert_eq!(Standing::of(&[]).stage, Stage::Aware);
}

#[test]
fn the_leaderboard_names_only_those_who_opted_in_best_first() {
    let profiles = vec![
        profile("a", "Anna", true),
        profile("b", "Bram", false),
        profile("c", "Cor", true),
    ];
    let events = vec![
        event("a", 1, "points", "saving", 10),
        event("b", 1, "points", "saving", 99),
        event("c", 1, "points", "saving", 40),
    ];
    let rows = leaderboard(&profiles, &events);
    let names: Vec<&str> = rows.iter().map(|r| r.display_name.as_str()).collect();
    assert_eq!(names, ["Cor", "Anna"]);
    assert_eq!(rows[0].standing.points, 40);
}

#[test]
fn today_and_month_compare_with_the_neighbours_where_known() {
    let jul31 = days_from_civil(2020, 7, 31);
    let rows = vec![
        daily(jul31, 9.0, Some(10.0), None, 0.0),
        daily(jul31 + 1, 4.0, Some(8.0), Some(5.0), 2.0),
        daily(jul31 + 2, 6.0, None, Some(5.5), 1.0),
    ];
    let usage = vec![
        UsageRow {
            day: jul31 + 2,
            appliance: "ev".into(),
            energy_wh: 3000.0,
            on_intervals: 8,
            confidence: 0.9,
        },
        UsageRow {
            day: jul31 + 2,
            appliance: "dryer".into(),
            energy_wh: 0.0,
            on_intervals: 0,
            confidence: 0.5,
        },
        UsageRow {
            day: jul31 + 2,
            appliance: "oven".into(),
            energy_wh: 0.0,
            on_intervals: 0,
            confidence: 0.95,
        },
        UsageRow {
            day: jul31 + 2,
            appliance: "heat_pump".into(),
            energy_wh: 4500.0,
            on_intervals: 20,
            confidence: 0.8,
        },
        UsageRow {
            day: jul31,
            appliance: "ev".into(),
            energy_wh: 1.0,
            on_intervals: 1,
            confidence: 0.9,
        },
    ];
    let v = HouseholdView::build(profile("a", "Anna", true), &rows, &[], &usage);
    let (day, today) = v.today.clone().unwrap();
    assert_eq!(day, jul31 + 2);
    assert_eq!(
        (today.own_kwh, today.average_kwh, today.efficient_kwh),
        (6.0, None, Some(5.5))
    );
    let (month, m) = v.month.clone().unwrap();
    assert_eq!(month, "2020-08");
    assert_eq!(m.days, 2, "July 31 is another month");
    assert_eq!(
        (m.own_kwh, m.average_kwh, m.efficient_kwh, m.export_kwh),
        (10.0, Some(8.0), Some(10.5), 3.0)
    );
    let b = v.breakdown.unwrap();
    let names: Vec<&str> = b.appliances.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        names,
        ["heat_pump", "ev", "dryer"],
        "largest first, surely not run left out, not sure kept, latest day only"
    );
    let sure: Vec<bool> = b.appliances.iter().map(|a| confident(a.2)).collect();
    assert_eq!(sure, [true, true, false], "0.8 is confident, 0.5 is not");
    assert_eq!(v.recent.len(), 3);
    let (next, criteria) = v.next.unwrap();
    assert_eq!(next, Stage::Saver);
    assert_eq!(
        (criteria[0].have, criteria[0].need),
        (3, 5),
        "three days below baseline"
    );
}

#[test]
fn operator_counts_group_by_region() {
    let cells = |rows: &[&[&str]]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect()
    };
    let d = OperatorData::from_cells(
        &cells(&[
            &["R1", "COMPLETED", "40"],
            &["R1", "DEFERRED", "2"],
            &["R2", "COMPLETED", "48"],
        ]),
        &cells(&[&["R1", "2020-07-01 00:15:00", "1", "missing m3"]]),
        &cells(&[&["R1", "m7", "1593562500000", "InvalidPartial: bad"]]),
        &cells(&[&["bad_signature", "3"]]),
        &[],
    );
    assert_eq!(d.regions.len(), 2);
    assert_eq!(
        d.regions[0].1,
        vec![("COMPLETED".to_string(), 40), ("DEFERRED".to_string(), 2)]
    );
    assert_eq!(d.deferred[0].1, days_from_civil(2020, 7, 1) * 86_400 + 900);
    assert_eq!(d.quarantined[0].2, 1_593_562_500);
    assert_eq!(d.dead_letters, vec![("bad_signature".to_string(), 3)]);
    assert_eq!(
        d.balance,
        Balance::default(),
        "no grid_balance rows: nothing to show"
    );
}

/// A `grid_balance` row `k` intervals after 2020-07-01 00:00 UTC.
fn bal(region: &str, k: i64, wh: f64, z: f64, alert: bool) -> BalanceRow {
    BalanceRow {
        region: region.into(),
        start: days_from_civil(2020, 7, 1) * 86_400 + k * BALANCE_INTERVAL,
        unexplained_wh: wh,
        z,
        alert,
    }
}

#[test]
fn alert_runs_are_consecutive_alert_intervals_per_region() {
    let rows = vec![
        bal("A", 0, 10.0, 0.5, false),
        bal("A", 1, 300.0, 4.0, true),
        bal("A", 3, 200.0, 6.0, true), // out of order: sorted by time
        bal("A", 2, 250.0, 5.0, true),
        bal("A", 4, 5.0, 0.1, false), // ends the run
        bal("A", 5, 400.0, 7.5, true),
        bal("A", 7, 100.0, 3.0, true), // interval 6 missing: a gap, a new run
        // Region B's alert right after A's is not part of A's run.
        bal("B", 4, 90.0, 3.5, true),
    ];
    let runs = alert_runs(&rows);
    let summary: Vec<(&str, i64, i64, u32)> = runs
        .iter()
        .map(|r| (r.region.as_str(), r.first, r.end(), r.intervals))
        .collect();
    let t = |k: i64| rows[0].start + k * BALANCE_INTERVAL;
    assert_eq!(
        summary,
        vec![
            ("A", t(1), t(4), 3),
            ("A", t(5), t(6), 1),
            ("A", t(7), t(8), 1),
            ("B", t(4), t(5), 1),
        ]
    );
    assert_eq!(runs[0].unexplained_wh, 750.0);
    assert_eq!(runs[0].max_z, 6.0);
    assert!(alert_runs(&[bal("A", 0, 1.0, 1.0, false)]).is_empty());
}

#[test]
fn a_run_stays_open_until_four_quiet_intervals_follow_it_as_the_job_closes_it() {
    let quiet = |region: &str, k: i64| bal(region, k, 0.0, 0.3, false);
    // A: closed by four quiet intervals, even with a loud one (z > k) before them.
    let mut rows = vec![
        bal("A", 0, 500.0, 9.0, true),
        bal("A", 1, 400.0, 2.0, false),
    ];
    rows.extend((2..6).map(|k| quiet("A", k)));
    // B: three quiet, a loud one, three quiet: the count starts again, still open. Its run is
    // the newest, so it is listed first.
    let mut b_rows = vec![bal("B", 10, 80.0, 4.0, true)];
    b_rows.extend((11..14).map(|k| quiet("B", k)));
    b_rows.push(bal("B", 14, 50.0, 1.5, false));
    b_rows.extend((15..18).map(|k| quiet("B", k)));
    rows.extend(b_rows);
    // C: its run is the region's newest row; D's quiet rows do not close C's run.
    rows.push(bal("C", 3, 80.0, 4.0, true));
    rows.extend((4..10).map(|k| quiet("D", k)));
    // Exactly k is quiet (the detector counts `z <= k`).
    rows.push(bal("E", 0, 80.0, 4.0, true));
    rows.extend((1..5).map(|k| bal("E", k, 1.0, Detector::K, false)));
    let b = Balance::build(rows.clone());
    let open: Vec<(&str, bool)> = b
        .regions
        .iter()
        .flat_map(|r| r.runs.iter().map(|run| (run.region.as_str(), run.open)))
        .collect();
    assert_eq!(
        open,
        vec![("A", false), ("B", true), ("C", true), ("E", false)]
    );
    let listed: Vec<&str> = b.open.iter().map(|r| r.region.as_str()).collect();
    assert_eq!(listed, vec!["B", "C"], "newest first");
    assert_eq!(b.open, open_alerts(&b.regions));
    // One quiet interval fewer and A's run is open.
    rows.retain(|r| !(r.region == "A" && r.start == bal("A", 5, 0.0, 0.0, false).start));
    assert!(Balance::build(rows).regions[0].runs[0].open);
    assert!(Balance::build(Vec::new()).open.is_empty());
}

#[test]
fn a_regions_balance_is_its_last_seven_days_summed_per_hour() {
    let week = BALANCE_WINDOW / BALANCE_INTERVAL;
    let mut rows = vec![
        bal("A", 0, 1_000.0, 9.0, true), // 7 days before the newest row: left out
        bal("A", 1, 7.0, 0.1, false),    // one interval later: kept
    ];
    // The last six intervals, 23:30 .. 00:00 seven days later, the newest an alert.
    for j in 0..6 {
        rows.push(bal("A", week - 5 + j, 10.0 * (j + 1) as f64, 1.0, j == 5));
    }
    let b = Balance::build(rows);
    let a = &b.regions[0];
    assert_eq!(a.newest, rows_start(week));
    assert_eq!(a.rows.len(), 7);
    assert_eq!(a.window(), (rows_start(1), rows_start(week + 1)));
    assert_eq!(a.runs.len(), 1, "the old alert is outside the window");
    assert_eq!(b.open.len(), 1);
    assert_eq!(
        a.hourly(),
        vec![
            (rows_start(0), 7.0, false),
            (rows_start(week - 8), 10.0, false),
            (rows_start(week - 4), 20.0 + 30.0 + 40.0 + 50.0, false),
            (rows_start(week), 60.0, true),
        ]
    );
}

fn rows_start(k: i64) -> i64 {
    days_from_civil(2020, 7, 1) * 86_400 + k * BALANCE_INTERVAL
}

#[test]
fn balance_rows_parse_from_both_stores() {
    let cells = |c: &[&str]| -> Vec<String> { c.iter().map(|s| s.to_string()).collect() };
    let t = days_from_civil(2020, 7, 1) * 86_400 + 900;
    let b = Balance::from_cells(&[
        cells(&["NL-A", "2020-07-01 00:15:00", "12.5", "1.5", "1"]),
        cells(&["NL-B", &((t + 900) * 1000).to_string(), "-3", "nan", "0"]),
        cells(&["NL-C", "2020-07-01 00:15:00", "nan", "1", "1"]), // no energy: left out
        cells(&["NL-D", "junk", "1", "1", "1"]),
    ]);
    let rows: Vec<&BalanceRow> = b.regions.iter().flat_map(|r| &r.rows).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].start, rows[0].alert, rows[0].z), (t, true, 1.5));
    assert_eq!((rows[1].start, rows[1].unexplained_wh), (t + 900, -3.0));
    assert!(!rows[1].alert);
}

#[test]
fn generation_shares_use_only_days_the_inverter_reported() {
    let d0 = days_from_civil(2020, 7, 1);
    let with = |day: i64, import: f64, export: f64, generation: Option<f64>| HouseholdDay {
        generation_kwh: generation,
        ..daily(day, import, None, None, export)
    };
    // Day 0: 10 generated, 4 exported, 5 imported. Day 1: no inverter data. Day 2: 6, 3, 9.
    let rows = [
        with(d0, 5.0, 4.0, Some(10.0)),
        with(d0 + 1, 7.0, 2.0, None),
        with(d0 + 2, 9.0, 3.0, Some(6.0)),
    ];
    let refs: Vec<&HouseholdDay> = rows.iter().collect();
    let m = Comparison::over(&refs);
    assert_eq!(m.generation_kwh, Some(16.0));
    // 1 - 7/16 of the generation was used at home; 9 self-used of 9 + 14 imported.
    assert!((m.self_consumption.unwrap() - 9.0 / 16.0).abs() < 1e-12);
    assert!((m.self_sufficiency.unwrap() - 9.0 / 23.0).abs() < 1e-12);
    // One day equals the game's own per-day shares (the household_daily columns).
    let one = Comparison::over(&refs[..1]);
    assert_eq!(one.self_consumption, rows[0].self_consumption());
    assert_eq!(one.self_sufficiency, rows[0].self_sufficiency());
    // Without inverter data nothing is claimed.
    let none = Comparison::over(&refs[1..2]);
    assert_eq!(
        (
            none.generation_kwh,
            none.self_consumption,
            none.self_sufficiency
        ),
        (None, None, None)
    );
    // A row with the generation cell (ClickHouse: nan; embedded store before the column: empty).
    let cells = |g: &str| -> Vec<String> {
        [
            "2020-07-01",
            "R",
            "5",
            "4",
            "1",
            "2",
            "nan",
            "nan",
            "nan",
            g,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    assert_eq!(
        day_from_cells("a", &cells("10.5")).unwrap().generation_kwh,
        Some(10.5)
    );
    assert_eq!(
        day_from_cells("a", &cells("nan")).unwrap().generation_kwh,
        None
    );
    assert_eq!(
        day_from_cells("a", &cells("")).unwrap().generation_kwh,
        None
    );
    assert_eq!(
        day_from_cells("a", &cells("")[..9]).unwrap().generation_kwh,
        None
    );
}
