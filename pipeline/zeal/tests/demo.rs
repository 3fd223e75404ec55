//! `zeal demo` and `zeal sql` as a user runs them: one process, nothing installed, a simulated
//! day with every private total checked against the plaintext sum and the opted-in households
//! disaggregated, then queried with SQL.

mod common;

use common::{ok, run, run_in, workdir};

#[test]
fn the_demo_checks_every_total_and_sql_reads_them() {
    let dir = workdir("demo-test");
    let stdout = ok(run_in(
        &dir,
        &[
            "demo",
            "--regions",
            "2",
            "--meters",
            "5",
            "--hours",
            "24",
            "--start",
            "2020-07-01T00:00Z",
            "--opt-in-every",
            "2",
        ],
    ));
    assert!(stdout.contains("384 of 384 region totals"), "{stdout}");
    assert!(stdout.contains("every private total is exact"), "{stdout}");
    assert!(
        stdout.contains("protocol v2 rounds completed 48, lapsed 0, void 0, abandoned 0, open 0; meter-rounds excluded 0"),
        "{stdout}"
    );

    let table = ok(run_in(
        &dir,
        &[
            "sql",
            "SELECT region, count(*) AS n, sum(total) AS wh FROM region_totals WHERE interval_seconds = 900 GROUP BY region ORDER BY region",
        ],
    ));
    assert!(
        table.contains("NL-R01") && table.contains("NL-R02"),
        "{table}"
    );
    assert!(
        table.contains("┆ 192 "),
        "96 intervals × 2 channels per region: {table}"
    );
    // The grid-balance study beside the protocol's regions: the theft of 2020-06-26 20:00 to
    // 02:00 raised and closed (give or take one interval), the under-reporting meter's region
    // flagged for its billing week, nothing else.
    let alerts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("ALERT"))
        .collect();
    assert_eq!(alerts.len(), 3, "{stdout}");
    assert!(
        alerts[..2]
            .iter()
            .any(|l| l.contains("ALERT NL-GRID Feeder Raised 2020-06-26T")),
        "{stdout}"
    );
    assert!(
        alerts[..2]
            .iter()
            .any(|l| l.contains("ALERT NL-GRID Feeder Closed 2020-06-26T")),
        "{stdout}"
    );
    assert!(
        alerts[2].contains("ALERT NL-GRID Billing Closed 2020-06-24T00:00Z .. 2020-07-01T00:00Z"),
        "{stdout}"
    );
    // Five opted-in households, one complete day, nine appliances each.
    assert!(
        stdout.contains("5 household-days of 5 opted-in households -> 45 appliance_usage rows"),
        "{stdout}"
    );
    assert!(
        stdout.contains("game: 5 household-days of 5 households -> household_daily"),
        "{stdout}"
    );
    // The daily edge round (v2): both regions learn their appliance mix and consumption
    // histogram, audited and equal to the households' own daily values.
    assert!(
        stdout.contains("daily edge round (protocol v2): 10 households' appliance categories and consumption buckets -> 2 of 2 audited region-day totals (1 day(s)) equal the households' plaintext sum"),
        "{stdout}"
    );
    let hist = ok(run_in(
        &dir,
        &[
            "sql",
            "SELECT region, sum(total) AS households FROM region_totals WHERE interval_seconds = 86400 AND channel LIKE 'bucket_%' GROUP BY region ORDER BY region",
        ],
    ));
    assert!(
        hist.contains("NL-R01") && hist.matches("┆ 5 ").count() == 2,
        "every household in exactly one bucket: {hist}"
    );
    // Run from a script (no terminal), the demo ends and says how to serve the web app.
    assert!(
        stdout.contains(
            "zeal serve --data-dir zeal-data --portal-key zeal-data/portal.pub \
             --operator-token-file zeal-data/operator.token"
        ) && stdout.contains("zeal portal link --key-file zeal-data/portal.key"),
        "{stdout}"
    );
    let usage = ok(run_in(
        &dir,
        &[
            "sql",
            "SELECT appliance, count(*) AS n FROM appliance_usage GROUP BY appliance ORDER BY appliance",
        ],
    ));
    assert!(
        usage.contains("heat_pump") && usage.contains("┆ 5 "),
        "every appliance has a row per opted-in household: {usage}"
    );

    let missing = run(&["sql", "SELECT 1", "--data-dir", "/nonexistent"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("run `zeal demo` first"));
    std::fs::remove_dir_all(&dir).unwrap();
}
