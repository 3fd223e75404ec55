//! `zeal jobs balance` as an operator runs it, over the embedded store: three weeks of verified
//! totals of two regions and their feeder meters' CSV; a theft of 2 kW for 6 hours in one region
//! in the judged week is reported with its region and hours, the other region stays quiet. Then
//! the same on the broker: `zeal grid init`, `zeal grid publish` and `zeal jobs balance --follow`.
//! And `zeal grid simulate`, whose files carry a theft and an under-reporting meter on demand.

mod common;

use common::{ok, run_in, workdir, zeal};
use zeal_embedded::store::ParquetStore;
use zeal_grid::sim::{Losses, Rng, Theft, feeder, synthetic_totals};
use zeal_tables::TotalRow;

const DAY: i64 = 86_400_000;
/// 2020-07-01T00:00Z.
const T0: i64 = 18_444 * DAY;

fn rows(region: &str, net: &[(i64, f64)]) -> Vec<TotalRow> {
    net.iter()
        .flat_map(|&(t, wh)| {
            let wh = wh.round() as i64;
            TotalRow::energy(region, t, (wh.max(0), (-wh).max(0)), 50, "agg")
        })
        .collect()
}

/// `zeal jobs balance` over `dir/data` and `dir/feeder`, judging the week of 2020-07-15.
fn balance(dir: &std::path::Path, feeder: &str) -> std::process::Output {
    zeal()
        .args(["jobs", "balance", "--data-dir", "data", "--feeder", feeder])
        .args(["--from", "2020-07-15", "--to", "2020-07-22"])
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Three weeks of verified totals of NL-A and NL-B (50 homes each) in `dir/data`, and their
/// feeder meters' readings as a CSV, with a 2 kW theft for 6 hours in NL-B in the third week.
fn fixture(dir: &std::path::Path) -> String {
    let _ = std::fs::remove_dir_all(dir);
    let store = ParquetStore::open(dir.join("data/store")).unwrap();
    let theft = Theft {
        start_ms: T0 + 16 * DAY + 20 * 3_600_000,
        hours: 6.0,
        watts: 2_000.0,
    };
    let mut csv = String::from("region,interval_start,feeder_wh\n");
    for (i, region) in ["NL-A", "NL-B"].into_iter().enumerate() {
        let mut rng = Rng::new(40 + i as u64);
        let net: Vec<(i64, f64)> = synthetic_totals(50, T0, 21, &mut rng)
            .into_iter()
            .map(|(t, wh)| (t, wh.round()))
            .collect();
        zeal_tables::row::append(&store, &rows(region, &net)).unwrap();
        let losses = Losses::typical(net.iter().map(|n| n.1).sum::<f64>() / net.len() as f64);
        let stolen = (region == "NL-B").then_some(&theft);
        for f in feeder(&net, &losses, stolen, &mut rng) {
            csv.push_str(&format!("{region},{},{:.1}\n", f.start_ms, f.feeder_wh));
        }
    }
    csv
}

#[test]
fn a_theft_in_the_judged_week_is_reported_with_its_region_and_hours() {
    let dir = std::env::temp_dir().join(format!("zeal-balance-{}", std::process::id()));
    let csv = fixture(&dir);
    let store = ParquetStore::open(dir.join("data/store")).unwrap();
    std::fs::write(dir.join("feeder.csv"), csv).unwrap();
    let stdout = ok(balance(&dir, "feeder.csv"));
    let alerts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ALERT")).collect();
    assert_eq!(alerts.len(), 1, "{stdout}");
    // 2020-07-17 20:00 to 2020-07-18 02:00, give or take one 15-minute interval at each end.
    let ok = |from: &str, to: &str| alerts[0].starts_with(&format!("ALERT NL-B {from} .. {to} "));
    let froms = [
        "2020-07-17T19:45Z",
        "2020-07-17T20:00Z",
        "2020-07-17T20:15Z",
    ];
    let tos = [
        "2020-07-18T01:45Z",
        "2020-07-18T02:00Z",
        "2020-07-18T02:15Z",
    ];
    assert!(
        froms.iter().any(|f| tos.iter().any(|t| ok(f, t))),
        "{stdout}"
    );
    assert!(stdout.contains("1 alert(s) in 2 region(s)"), "{stdout}");
    // Every judged interval is in grid_balance, the alert's intervals marked, all in NL-B.
    let df = store
        .query(
            "SELECT region, sum(alert) AS alerts, count(*) AS n FROM grid_balance \
             GROUP BY region ORDER BY region",
            &[zeal_tables::GRID_BALANCE],
        )
        .unwrap();
    let col = |name: &str| -> Vec<i64> {
        df.column(name)
            .unwrap()
            .cast(&polars::prelude::DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    assert_eq!(col("n"), [672, 672], "{df}");
    let alerts = col("alerts");
    assert_eq!(alerts[0], 0, "{df}");
    assert!((23..=26).contains(&alerts[1]), "{df}");

    // A feeder file with a bad line is refused with the line's number.
    std::fs::write(
        dir.join("bad.csv"),
        "region,interval_start,feeder_wh\nNL-A,2020-07-15T00:00Z,12\nNL-A,2020-07-15T00:15Z,x\n",
    )
    .unwrap();
    let out = balance(&dir, "bad.csv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 3: feeder_wh \"x\" is not a number"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The same through the broker, as README's commands run it: the utility's metering key, its
/// feeder CSV signed and posted by `zeal grid publish`, a rogue key's lowered readings for the
/// theft's hours posted first, and `zeal jobs balance --follow` finding the theft anyway (the
/// forgeries dead-lettered).
#[test]
fn the_following_job_finds_the_theft_in_the_posted_feeder_readings() {
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-balance-follow"));
    let csv = fixture(&dir);
    std::fs::write(dir.join("feeder.csv"), &csv).unwrap();
    // The rogue's version: NL-B's readings of 2020-07-17 21:00 to 23:00 lowered by 500 Wh.
    let lowered: String = csv
        .lines()
        .filter(|l| l.starts_with("region") || l.starts_with("NL-B,"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let Ok(t) = f[1].parse::<i64>() else {
                return Some(format!("{l}\n"));
            };
            let night = T0 + 16 * DAY + 21 * 3_600_000;
            (night..night + 2 * 3_600_000)
                .contains(&t)
                .then(|| format!("NL-B,{t},{:.1}\n", f[2].parse::<f64>().unwrap() - 500.0))
        })
        .collect();
    std::fs::write(dir.join("lowered.csv"), lowered).unwrap();
    let kafka = zeal_tests::kafka();
    let prefix = format!("{}.", zeal_tests::unique("balance-cli"));
    let broker = [
        "--bootstrap",
        kafka.bootstrap.as_str(),
        "--topic-prefix",
        prefix.as_str(),
    ];
    let zeal_in = |args: &[&str]| ok(run_in(&dir, args));
    zeal_in(&[&["topics", "create", "--partitions", "2"][..], &broker].concat());
    zeal_in(&["grid", "init", "--key-file", "metering.key"]);
    zeal_in(&["grid", "init", "--key-file", "rogue.key"]);
    let posted = zeal_in(
        &[
            &[
                "grid",
                "publish",
                "--key-file",
                "rogue.key",
                "--feeder",
                "lowered.csv",
            ][..],
            &broker,
        ]
        .concat(),
    );
    assert!(posted.contains("published 8 feeder readings"), "{posted}");
    let posted = zeal_in(
        &[
            &[
                "grid",
                "publish",
                "--key-file",
                "metering.key",
                "--feeder",
                "feeder.csv",
            ][..],
            &broker,
        ]
        .concat(),
    );
    assert!(
        posted.contains(&format!("published {} feeder readings", 2 * 21 * 96)),
        "{posted}"
    );
    let stdout = zeal_in(
        &[
            &[
                "jobs",
                "balance",
                "--follow",
                "--metering-key",
                "metering.pub",
            ][..],
            &[
                "--data-dir",
                "data",
                "--judge-every-ms",
                "500",
                "--idle-exit-ms",
                "2000",
            ],
            &broker,
        ]
        .concat(),
    );
    println!("{stdout}");
    let alerts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ALERT")).collect();
    assert_eq!(alerts.len(), 2, "raised and closed: {stdout}");
    assert!(
        alerts[0].starts_with("ALERT NL-B Feeder Raised 2020-07-17T"),
        "{stdout}"
    );
    assert!(
        alerts[1].starts_with("ALERT NL-B Feeder Closed 2020-07-17T"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "feeder readings {}, billing registers 0, rows {}, alert events 2, dead letters 8",
            2 * 21 * 96,
            2 * 7 * 96
        )),
        "{stdout}"
    );
    // A key file that is not there is named, with the command that makes it.
    let out = run_in(
        &dir,
        &[
            &[
                "grid",
                "publish",
                "--key-file",
                "none.key",
                "--feeder",
                "feeder.csv",
            ][..],
            &broker,
        ]
        .concat(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("zeal grid init --key-file none.key"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The CSV's data lines split into fields.
fn fields(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// `zeal grid simulate` with a theft and a meter under-reporting by 30 %: the meters' readings
/// summed as the protocol publishes them and the simulated feeder give the theft's alert; the
/// billing registers bill the lying meter in full, every other meter as it reported.
#[test]
fn the_simulator_writes_a_theft_and_an_under_reporting_meter_on_demand() {
    use std::os::unix::fs::PermissionsExt;
    let dir = workdir("grid-simulate");
    let stdout = ok(run_in(
        &dir,
        &[
            "grid",
            "simulate",
            "--region",
            "NL-S",
            "--from",
            "2020-07-01",
            "--theft",
            "2020-07-17T20:00Z,6,2000",
            "--under-reporting",
            "17,0.7",
            "--out-dir",
            "sim",
        ],
    ));
    assert!(
        stdout.contains("theft: 2000 W for 6 h from 2020-07-17T20:00Z, on the feeder only"),
        "{stdout}"
    );
    assert!(
        stdout.contains("NL-S-m0017 reports 70 % of its import into the protocol"),
        "{stdout}"
    );
    let read = |f: &str| std::fs::read_to_string(dir.join("sim").join(f)).unwrap();
    for private in ["readings.csv", "billing.csv"] {
        let mode = std::fs::metadata(dir.join("sim").join(private))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "households' energy is private: {private}"
        );
    }
    let readings = read("readings.csv");
    assert!(readings.starts_with("meter,interval_start,import_wh,export_wh,generation_wh\n"));
    let readings = fields(&readings);
    assert_eq!(readings.len(), 50 * 21 * 96);
    // The published totals: the reported readings summed per interval.
    let mut totals = std::collections::BTreeMap::<i64, (i64, i64)>::new();
    // Each meter's reported import in the billing period (the last 7 days by default).
    let billed_from = T0 + 14 * DAY;
    let mut reported = std::collections::BTreeMap::<String, i64>::new();
    for r in &readings {
        let (t, import, export): (i64, i64, i64) = (
            r[1].parse().unwrap(),
            r[2].parse().unwrap(),
            r[3].parse().unwrap(),
        );
        let total = totals.entry(t).or_default();
        *total = (total.0 + import, total.1 + export);
        if t >= billed_from {
            *reported.entry(r[0].clone()).or_default() += import;
        }
    }
    let store = ParquetStore::open(dir.join("data/store")).unwrap();
    let rows: Vec<TotalRow> = totals
        .iter()
        .flat_map(|(&t, &wh)| TotalRow::energy("NL-S", t, wh, 50, "agg"))
        .collect();
    zeal_tables::row::append(&store, &rows).unwrap();
    let billing = fields(&read("billing.csv"));
    assert_eq!(billing.len(), 50);
    for b in &billing {
        assert_eq!(
            (
                b[1].as_str(),
                b[2].parse::<i64>().unwrap(),
                b[3].parse::<i64>().unwrap()
            ),
            ("NL-S", billed_from, T0 + 21 * DAY)
        );
        let (billed, told) = (b[4].parse::<i64>().unwrap() as f64, reported[&b[0]] as f64);
        if b[0] == "NL-S-m0017" {
            assert!((told / billed - 0.7).abs() < 0.01, "{told} of {billed}");
        } else {
            assert_eq!(told, billed, "{}", b[0]);
        }
    }
    let stdout = ok(balance(&dir, "sim/feeder.csv"));
    let alerts: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ALERT")).collect();
    assert_eq!(alerts.len(), 1, "{stdout}");
    assert!(alerts[0].starts_with("ALERT NL-S 2020-07-17T"), "{stdout}");

    // Bad requests are refused, saying what is wrong.
    let refused = |extra: &[&str]| {
        let base = ["grid", "simulate", "--region", "R", "--from", "2020-07-01"];
        let out = run_in(&dir, &[&base[..], extra, &["--out-dir", "bad"]].concat());
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(refused(&["--under-reporting", "51,0.7"]).contains("meter 51 is not one of 1..=50"));
    assert!(refused(&["--theft", "2020-07-17T20:00Z,6"]).contains("expected START,HOURS,WATTS"));
    assert!(refused(&["--theft", "2021-01-01T00:00Z,6,100"]).contains("outside the simulated"));
    assert!(!dir.join("bad").exists(), "nothing written when refused");
    std::fs::remove_dir_all(&dir).ok();
}
