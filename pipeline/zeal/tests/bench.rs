//! `zeal bench pipeline` as an operator runs it: protocol v2 through an in-process broker with
//! the aggregator as its own process, every total checked, and bad input refused up front.

mod common;

use common::{ok, run, run_in, workdir, zeal};

#[test]
fn the_pipeline_bench_checks_its_totals_and_reports_the_aggregators_cpu() {
    let dir = workdir("bench-run");
    let stdout = ok(run_in(
        &dir,
        &[
            "bench",
            "pipeline",
            "--roster",
            "12",
            "--regions",
            "1",
            "--phase-secs",
            "5",
            "--data-dir",
            "data",
        ],
    ));
    assert!(
        stdout.contains("totals exact              1 of 1"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let ms: f64 = last
        .strip_prefix("aggregator CPU per meter-round: ")
        .and_then(|v| v.strip_suffix(" ms"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("last line: {last}"));
    assert!(ms > 0.0, "{last}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_data_dir_the_broker_cannot_use_is_refused_before_any_dealing() {
    let dir = workdir("bench-cwd");
    let outside = workdir("bench-outside");
    let out = zeal()
        .args(["bench", "pipeline", "--roster", "12", "--regions", "1"])
        .arg("--data-dir")
        .arg(&outside)
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("--data-dir must lie under the working directory"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("dealing"),
        "refused only after dealing: {stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&outside).ok();
}

#[test]
fn the_grid_bench_prints_its_table() {
    let stdout = ok(run(&[
        "bench", "grid", "--homes", "20", "--weeks", "1", "--watts", "5000",
    ]));
    // A 5 kW theft in 20 homes is found; a week of losses alone raises nothing.
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("20 "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..3], ["20", "0.00", "1/1"], "{stdout}");
}
