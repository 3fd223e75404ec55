//! `zeal migrate` against the real ClickHouse: it brings a new database up to date once, says
//! what it did, finds nothing to do the second time, and names the server it cannot reach.

mod common;

#[test]
fn zeal_migrate_brings_a_database_up_to_date_once_and_says_so() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (url, warehouse) = runtime.block_on(zeal_tests::fresh_database_url("zt_migrate"));
    let migrate = |url: &str| {
        let out = common::zeal()
            .args(["migrate", "--clickhouse", url])
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let n = zeal_tables::MIGRATIONS.len();
    let (status, said) = migrate(&url);
    assert!(status.success(), "{said}");
    assert!(
        said.contains("applied 0017_grid_balance_utc_monthly"),
        "{said}"
    );
    assert!(
        said.contains(&format!("migrations applied {n}, already applied 0,")),
        "{said}"
    );
    let tables = runtime
        .block_on(warehouse.query_text(
            "SELECT count() FROM system.tables WHERE database = currentDatabase() \
             AND partition_key = 'toYYYYMM(interval_start)'",
        ))
        .unwrap();
    assert_eq!(
        tables.trim(),
        "3",
        "region_totals, round_events, grid_balance"
    );

    let (status, said) = migrate(&url);
    assert!(status.success(), "{said}");
    assert!(
        said.contains(&format!("migrations applied 0, already applied {n},")),
        "{said}"
    );

    let (status, said) = migrate("http://127.0.0.1:1/zeal");
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(said.contains("connecting to http://127.0.0.1:1"), "{said}");
}
