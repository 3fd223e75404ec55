//! `zeal demo` and `zeal sql` as a user runs them: one process, nothing installed, every private
//! total checked against the plaintext sum, then queried with SQL.

use std::process::Command;

#[test]
fn the_demo_checks_every_total_and_sql_reads_them() {
    let dir = std::env::temp_dir().join(format!("zeal-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zeal = env!("CARGO_BIN_EXE_zeal");
    let out = Command::new(zeal)
        .args([
            "demo",
            "--regions",
            "2",
            "--meters",
            "5",
            "--hours",
            "2",
            "--start",
            "2020-07-01T10:00Z",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("32 of 32 region totals"), "{stdout}");
    assert!(stdout.contains("every private total is exact"), "{stdout}");
    assert!(
        stdout.contains("rounds completed 4, deferred 0"),
        "{stdout}"
    );

    let sql = Command::new(zeal)
        .args(["sql", "SELECT region, count(*) AS n, sum(total) AS wh FROM region_totals GROUP BY region ORDER BY region"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&sql.stdout);
    assert!(
        sql.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    assert!(
        table.contains("NL-R01") && table.contains("NL-R02"),
        "{table}"
    );
    assert!(
        table.contains("┆ 16 "),
        "8 intervals × 2 channels per region: {table}"
    );

    let missing = Command::new(zeal)
        .args(["sql", "SELECT 1", "--data-dir", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("run `zeal demo` first"));
    std::fs::remove_dir_all(&dir).unwrap();
}
