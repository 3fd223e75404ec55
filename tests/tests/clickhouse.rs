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
        },
        Migration {
            id: "0002_future_only",
            sql: "ALTER TABLE readings_test MODIFY TTL interval_start + INTERVAL 1 YEAR",
            min_server: Some(zeal_connectors::clickhouse::ServerVersion {
                major: 999,
                minor: 0,
                patch: 0,
            }),
        },
    ];
    let first = migrate(&w, &steps).await.unwrap();
    assert_eq!(first.applied, vec!["0001_readings_test"]);
    assert_eq!(first.skipped_for_server, vec!["0002_future_only"]);
    let second = migrate(&w, &steps).await.unwrap();
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
