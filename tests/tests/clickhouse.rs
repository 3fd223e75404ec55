//! The ClickHouse connector against the real server: version detection, idempotent migrations,
//! batched inserts, re-delivery that changes nothing, row types that match the table, and the
//! read-only user.

use serde::{Deserialize, Serialize};
use zeal_connectors::clickhouse::{Migration, Warehouse, migrate};
use zeal_tables::{Destination, TableRow};
use zeal_tests::{clickhouse, clickhouse_reader, unique};

#[derive(Debug, Clone, PartialEq, clickhouse::Row, Serialize, Deserialize)]
struct Reading {
    household_id: String,
    interval_start: u32,
    import_wh: u64,
    export_wh: u64,
    quality: f64,
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS readings_test (\
     household_id String, interval_start DateTime, import_wh UInt64, export_wh UInt64, \
     quality Float64) ENGINE = ReplacingMergeTree ORDER BY (household_id, interval_start)";

/// A fresh database per test, so runs never see each other's rows.
async fn fresh_database() -> (Warehouse, String) {
    let admin = Warehouse::connect(&clickhouse()).await.unwrap();
    let db = unique("zt");
    admin
        .execute(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
        .await
        .unwrap();
    let mut cfg = clickhouse();
    cfg.database = db.clone();
    (Warehouse::connect(&cfg).await.unwrap(), db)
}

fn rows(n: u32) -> Vec<Reading> {
    (0..n)
        .map(|i| Reading {
            household_id: format!("h-{:04}", i % 250),
            interval_start: 1_593_561_600 + (i / 250) * 900,
            import_wh: u64::from(i % 997),
            export_wh: u64::from(i % 13),
            quality: f64::from(i) / 4.0,
        })
        .collect()
}

#[tokio::test]
async fn server_version_is_detected() {
    let w = Warehouse::connect(&clickhouse()).await.unwrap();
    assert!(w.version().major >= 18, "{}", w.version());
}

#[tokio::test]
async fn migrations_apply_once() {
    let (w, _) = fresh_database().await;
    let steps = [
        Migration {
            id: "0001_readings_test",
            sql: CREATE,
            min_server: None,
            rebuild: false,
        },
        Migration {
            id: "0002_future_only",
            sql: "ALTER TABLE readings_test MODIFY TTL interval_start + INTERVAL 1 YEAR",
            min_server: Some(zeal_connectors::clickhouse::ServerVersion {
                major: 999,
                minor: 0,
                patch: 0,
            }),
            rebuild: false,
        },
    ];
    let first = migrate(&w, &steps, None).await.unwrap();
    assert_eq!(first.applied, vec!["0001_readings_test"]);
    assert_eq!(first.skipped_for_server, vec!["0002_future_only"]);
    let second = migrate(&w, &steps, None).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, vec!["0001_readings_test"]);
}

#[tokio::test]
async fn batched_inserts_are_exact_and_redelivery_is_harmless() {
    let (mut w, _) = fresh_database().await;
    w.execute(CREATE).await.unwrap();
    w.batch_rows = 4_000; // several INSERT statements
    let data = rows(10_000);
    assert_eq!(w.insert_rows("readings_test", &data).await.unwrap(), 10_000);
    // Re-deliver the first half, as a sink restarted before its commit would.
    w.insert_rows("readings_test", &data[..5_000])
        .await
        .unwrap();

    #[derive(Debug, clickhouse::Row, Deserialize)]
    struct Sums {
        n: u64,
        import: u64,
        export: u64,
    }
    let got: Vec<Sums> = w
        .fetch_all(
            "SELECT count() AS n, sum(import_wh) AS import, sum(export_wh) AS export \
             FROM readings_test FINAL",
        )
        .await
        .unwrap();
    let expect_import: u64 = data.iter().map(|r| r.import_wh).sum();
    let expect_export: u64 = data.iter().map(|r| r.export_wh).sum();
    assert_eq!(got[0].n, 10_000);
    assert_eq!(got[0].import, expect_import);
    assert_eq!(got[0].export, expect_export);

    let back: Vec<Reading> = w
        .fetch_all(
            "SELECT household_id, toUInt32(interval_start) AS interval_start, import_wh, \
             export_wh, quality FROM readings_test FINAL \
             WHERE household_id = 'h-0007' ORDER BY interval_start",
        )
        .await
        .unwrap();
    let expect: Vec<Reading> = data
        .iter()
        .filter(|r| r.household_id == "h-0007")
        .cloned()
        .collect();
    assert_eq!(back, expect);
}

#[tokio::test]
async fn row_struct_matches_the_table() {
    let (w, _) = fresh_database().await;
    w.execute(CREATE).await.unwrap();
    let cols: Vec<(String, String)> = w
        .describe("readings_test")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.type_))
        .collect();
    let expected = [
        ("household_id", "String"),
        ("interval_start", "DateTime"),
        ("import_wh", "UInt64"),
        ("export_wh", "UInt64"),
        ("quality", "Float64"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(cols, expected);
}

#[tokio::test]
async fn reader_user_can_read_but_not_write() {
    let (w, db) = fresh_database().await;
    w.execute(CREATE).await.unwrap();
    w.insert_rows("readings_test", &rows(10)).await.unwrap();
    let (user, password) = clickhouse_reader();
    let mut cfg = clickhouse().with_credentials(&user, &password);
    cfg.database = db;
    let reader = Warehouse::connect(&cfg).await.unwrap();
    #[derive(Debug, clickhouse::Row, Deserialize)]
    struct N {
        n: u64,
    }
    let n: Vec<N> = reader
        .fetch_all("SELECT count() AS n FROM readings_test")
        .await
        .unwrap();
    assert_eq!(n[0].n, 10);
    let err = reader
        .execute("CREATE TABLE sneaky (x UInt8) ENGINE = Memory")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("readonly"), "{err}");
}

/// Inserts one row of `R` (all defaults) and reads it back under `FINAL`: the row type's
/// fields, widths and order are what the server's table takes.
async fn one_row_round_trips<R: TableRow + Default>(w: &Warehouse) {
    let name = R::TABLE.name;
    let n = w
        .write(&[R::default()])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(n, 1, "{name}");
    let count = w
        .query_text(&format!("SELECT count() FROM {name} FINAL"))
        .await
        .unwrap();
    assert_eq!(count.trim(), "1", "{name}");
}

#[tokio::test]
async fn every_table_is_created_in_order_once_with_its_rows_columns_and_takes_its_row() {
    // The whole list on the real server (18.16 here): every migration runs, in id order (0008
    // alters a table 0004 creates), a second run applies nothing, each table has exactly its
    // row type's columns, and a row of each type goes in and comes back.
    let (w, _) = fresh_database().await;
    let first = zeal_tables::migrate(&w).await.unwrap();
    let ids: Vec<&str> = zeal_tables::MIGRATIONS.iter().map(|m| m.id).collect();
    assert_eq!(first.applied, ids);
    let second = zeal_tables::migrate(&w).await.unwrap();
    assert!(
        second.applied.is_empty(),
        "applied twice: {:?}",
        second.applied
    );
    assert_eq!(second.already_applied, ids);
    for spec in zeal_tables::EMBEDDED {
        let mut cols: Vec<String> = w
            .describe(spec.name)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name))
            .into_iter()
            .map(|c| c.name)
            .collect();
        let mut want: Vec<String> = spec.columns.iter().map(|(c, _)| c.to_string()).collect();
        cols.sort();
        want.sort();
        assert_eq!(cols, want, "{}", spec.name);
    }
    one_row_round_trips::<zeal_tables::TotalRow>(&w).await;
    one_row_round_trips::<zeal_tables::RoundEventRow>(&w).await;
    one_row_round_trips::<zeal_tables::LetterRow>(&w).await;
    one_row_round_trips::<zeal_tables::UsageRow>(&w).await;
    one_row_round_trips::<zeal_tables::DailyRow>(&w).await;
    one_row_round_trips::<zeal_tables::GameEventRow>(&w).await;
    one_row_round_trips::<zeal_tables::ProfileRow>(&w).await;
    one_row_round_trips::<zeal_tables::GridBalanceRow>(&w).await;
}

/// The totals of `n` intervals 12 hours apart from 2020-07-01 (four months), version `at`.
fn totals(n: u32, at: u32) -> Vec<zeal_tables::TotalRow> {
    (0..n)
        .map(|i| {
            let start = 1_593_561_600 + i * 43_200;
            zeal_tables::TotalRow {
                region: "NL-A".into(),
                interval_start: start,
                interval_seconds: 900,
                channel: "import_wh".into(),
                total: i64::from(i) * 10 + i64::from(at),
                contributors: 7,
                attempt: 1,
                carried_intervals: vec![start - 900],
                published_at: at,
                aggregator_id: "agg".into(),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_rebuild_keeps_every_row_and_goes_on_after_an_interruption() {
    // The tables as 0001–0009 left them (`DateTime` in the server's zone, one partition), with
    // rows; then the rebuilds (0010–0017), one of them interrupted after its swap as a crash
    // would leave it, and a write landing between the swap and the copy.
    let (w, db) = fresh_database().await;
    let (before, rebuilds): (Vec<Migration>, Vec<Migration>) =
        zeal_tables::MIGRATIONS.iter().partition(|m| !m.rebuild);
    assert!(rebuilds.len() >= 8, "{rebuilds:?}");
    migrate(&w, &before, None).await.unwrap();
    w.write(&totals(200, 1_000)).await.unwrap();
    let daily: Vec<zeal_tables::DailyRow> = (0..50)
        .map(|d| zeal_tables::DailyRow {
            household_id: format!("h-{}", d % 5),
            day: 18_444 + d,
            generation_kwh: f64::from(d) / 2.0,
            computed_at: 5,
            ..zeal_tables::DailyRow::default()
        })
        .collect();
    w.write(&daily).await.unwrap();

    // A service starting copies small tables only: 200 rows are too many for a limit of 100,
    // and nothing changes.
    let refused = migrate(&w, zeal_tables::MIGRATIONS, Some(100))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("its 200 rows") && refused.contains("zeal migrate"),
        "{refused}"
    );
    let rebuilt = w
        .query_text("SELECT count() FROM zeal_schema_migrations WHERE id >= '0010'")
        .await
        .unwrap();
    assert_eq!(rebuilt.trim(), "0");
    let totals_rebuild = rebuilds
        .iter()
        .find(|m| m.sql.contains("region_totals ("))
        .unwrap();
    let plan = zeal_connectors::clickhouse::rebuild::plan(
        totals_rebuild.id,
        totals_rebuild.sql,
        None,
        &db,
    )
    .unwrap();
    for sql in &plan.create {
        w.execute(sql).await.unwrap();
    }
    w.execute(&plan.swap).await.unwrap();
    let count = |sql: String| {
        let w = w.clone();
        async move { w.query_text(&sql).await.unwrap().trim().to_string() }
    };
    assert_eq!(count("SELECT count() FROM region_totals".into()).await, "0");
    // A newer version of interval 0, written after the swap: the copy must not undo it.
    w.write(&totals(1, 2_000)).await.unwrap();

    let report = migrate(&w, zeal_tables::MIGRATIONS, None).await.unwrap();
    let ids: Vec<&str> = rebuilds.iter().map(|m| m.id).collect();
    assert_eq!(report.applied, ids);
    let mut want = totals(200, 1_000);
    want[0] = totals(1, 2_000).remove(0);
    let want: String = want
        .iter()
        .map(|t| {
            format!(
                "{}\t{}\t[{}]\t{}\n",
                t.interval_start, t.total, t.carried_intervals[0], t.published_at
            )
        })
        .collect();
    assert_eq!(
        count(
            "SELECT toUInt32(interval_start), total, arrayMap(t -> toUInt32(t), \
             carried_intervals), toUInt32(published_at) FROM region_totals FINAL \
             ORDER BY interval_start"
                .into()
        )
        .await
            + "\n",
        want,
        "every total once, the newest version of each"
    );
    assert_eq!(
        count("SELECT count(), sum(generation_kwh) FROM household_daily FINAL".into()).await,
        "50\t612.5"
    );
    // The new definitions: UTC times, a partition per month of the key's time.
    let column = |table: &str, name: &str| {
        format!(
            "SELECT type FROM system.columns WHERE database = '{db}' AND table = '{table}' \
             AND name = '{name}'"
        )
    };
    assert_eq!(
        count(column("region_totals", "interval_start")).await,
        "DateTime(\\'UTC\\')"
    );
    assert_eq!(
        count(column("households", "joined_at")).await,
        "DateTime(\\'UTC\\')"
    );
    assert_eq!(
        count(format!(
            "SELECT partition_key FROM system.tables WHERE database = '{db}' AND name = 'household_daily'"
        ))
        .await,
        "toYYYYMM(day)"
    );
    assert_eq!(
        count(format!(
            "SELECT uniqExact(partition) FROM system.parts WHERE database = '{db}' \
             AND table = 'region_totals' AND active"
        ))
        .await,
        "4",
        "July to October"
    );
    assert_eq!(
        count(format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE '%\\\\_\\\\_%'"
        ))
        .await,
        "0",
        "no table of a rebuild left behind"
    );
    let again = zeal_tables::migrate(&w).await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_starting_at_once_all_migrate_and_keep_every_row() {
    // Four processes bring one database through the rebuilds at the same moment (services of
    // a deployment starting together): one swaps each table, the others find it swapped or
    // gone and go on; none fails and every row is there once after FINAL.
    let (w, db) = fresh_database().await;
    let before: Vec<Migration> = zeal_tables::MIGRATIONS
        .iter()
        .filter(|m| !m.rebuild)
        .copied()
        .collect();
    migrate(&w, &before, None).await.unwrap();
    w.write(&totals(200, 1_000)).await.unwrap();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move { zeal_tables::migrate(&w).await })
        })
        .collect();
    for start in starts {
        let report = start.await.unwrap().unwrap();
        assert!(report.skipped_for_server.is_empty(), "{report:?}");
    }
    let text = w
        .query_text(
            "SELECT count(), sum(total), uniqExact(interval_start) FROM region_totals FINAL",
        )
        .await
        .unwrap();
    let want: i64 = totals(200, 1_000).iter().map(|t| t.total).sum();
    assert_eq!(text.trim(), format!("200\t{want}\t200"));
    let left = w
        .query_text(&format!(
            "SELECT count() FROM system.tables WHERE database = '{db}' AND name LIKE '%\\\\_\\\\_%'"
        ))
        .await
        .unwrap();
    assert_eq!(left.trim(), "0", "no table of a rebuild left behind");
}
