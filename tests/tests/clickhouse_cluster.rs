//! The tables on a ClickHouse cluster (`?cluster=zeal` in the URL) against the test cluster
//! tests/run.sh starts: ZooKeeper and two servers, the two replicas of one shard. Every
//! migration, the added column included, makes replicated local tables under `Distributed`
//! ones, once for the whole cluster; the rebuilds keep the rows written before them; rows
//! written through one server reach the other; a
//! replica stops mid-run and the other goes on taking rows and answering, and the one that
//! returns catches up, with nothing lost and no key doubled after `FINAL`; a household's
//! erasure leaves both replicas.

use std::time::{Duration, Instant};
use zeal_connectors::clickhouse::{ClickHouseConfig, Migration, Warehouse, migrate};
use zeal_tables::{DailyRow, Destination, Store};
use zeal_tests::clickhouse_server::TestClickHouse;
use zeal_tests::unique;

/// The replica's client for database `db` of cluster `zeal`.
async fn on(replica: &TestClickHouse, db: &str) -> Warehouse {
    let config = ClickHouseConfig::from_url(&format!("{}/{db}?cluster=zeal", replica.url()))
        .expect("a cluster URL");
    Warehouse::connect(&config)
        .await
        .expect("the replica answers")
}

/// `n` days of households `h-0` … `h-9`, computed at `at` (a later `at`: a newer version).
fn days(from: u16, n: u16, at: u32) -> Vec<DailyRow> {
    (0..10)
        .flat_map(|h| (from..from + n).map(move |day| (h, day)))
        .map(|(h, day)| DailyRow {
            household_id: format!("h-{h}"),
            region: "NL-A".into(),
            day,
            import_kwh: f64::from(day % 7) + f64::from(h),
            export_kwh: 0.0,
            generation_kwh: f64::NAN,
            self_consumption: f64::NAN,
            self_sufficiency: f64::NAN,
            peak_kwh: 1.0,
            solar_hours_kwh: 0.5,
            baseline_kwh: 8.0,
            savings_kwh: 0.0,
            region_average_kwh: 9.0,
            efficient_kwh: 7.0,
            computed_at: at,
        })
        .collect()
}

async fn count(w: &Warehouse, sql: &str) -> u64 {
    w.query_text(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Waits (up to a minute) until `sql` on `w` counts `want`.
async fn until(w: &Warehouse, sql: &str, want: u64) {
    let started = Instant::now();
    loop {
        let have = w
            .query_text(sql)
            .await
            .ok()
            .and_then(|t| t.trim().parse().ok());
        if have == Some(want) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{sql}: {have:?}, not {want}, after a minute"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_on_a_cluster_survive_a_replica_stopping_with_nothing_lost_or_doubled() {
    let (r1, r2) = (TestClickHouse::replica(1), TestClickHouse::replica(2));
    let db = unique("zcluster");
    let admin = Warehouse::connect(&ClickHouseConfig::from_url(&r1.url()).unwrap())
        .await
        .unwrap();
    admin
        .execute(&format!(
            "CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER zeal"
        ))
        .await
        .unwrap();
    let (w1, w2) = (on(&r1, &db).await, on(&r2, &db).await);

    // Every migration once for the whole cluster: the ledger replicates, and the second
    // replica finds them applied. The tables are first as 0001–0009 made them and take rows;
    // the rebuilds (0010–0017: UTC times, monthly partitions) keep them.
    let (before, rebuilds): (Vec<Migration>, Vec<Migration>) =
        zeal_tables::MIGRATIONS.iter().partition(|m| !m.rebuild);
    let first = migrate(&w1, &before, None).await.unwrap();
    assert_eq!(first.applied.len(), before.len(), "{first:?}");
    let store1 = Store::ClickHouse(Box::new(w1.clone()));
    store1.write(&days(18_444, 20, 1_000)).await.unwrap();
    let rebuilt = zeal_tables::migrate(&w1).await.unwrap();
    assert_eq!(rebuilt.applied.len(), rebuilds.len(), "{rebuilt:?}");
    let n = zeal_tables::MIGRATIONS.len();
    until(
        &w2,
        "SELECT count(DISTINCT id) FROM zeal_schema_migrations",
        n as u64,
    )
    .await;
    let second = zeal_tables::migrate(&w2).await.unwrap();
    assert!(second.applied.is_empty(), "{second:?}");
    let engine = |table: &str| {
        format!("SELECT engine FROM system.tables WHERE database = '{db}' AND name = '{table}'")
    };
    for w in [&w1, &w2] {
        for table in zeal_tables::EMBEDDED {
            let name = table.name;
            assert_eq!(
                w.query_text(&engine(name)).await.unwrap().trim(),
                "Distributed"
            );
            assert!(
                w.query_text(&engine(&format!("{name}_local")))
                    .await
                    .unwrap()
                    .trim()
                    .starts_with("Replicated"),
                "{name}_local"
            );
        }
        // The added column (0008) is on the local tables and the Distributed ones alike.
        let columns = |table: &str| {
            format!(
                "SELECT count() FROM system.columns WHERE database = '{db}' AND table = '{table}' \
                 AND name IN ('generation_kwh', 'self_consumption', 'self_sufficiency')"
            )
        };
        assert_eq!(count(w, &columns("household_daily_local")).await, 3);
        assert_eq!(count(w, &columns("household_daily")).await, 3);
        // The rebuilt tables on every replica, and nothing of the rebuilds left.
        for table in ["household_daily", "household_daily_local"] {
            assert_eq!(
                w.query_text(&format!(
                    "SELECT type FROM system.columns WHERE database = '{db}' \
                     AND table = '{table}' AND name = 'computed_at'"
                ))
                .await
                .unwrap()
                .trim(),
                "DateTime(\\'UTC\\')",
                "{table}"
            );
        }
        assert_eq!(
            w.query_text(&format!(
                "SELECT partition_key FROM system.tables WHERE database = '{db}' \
                 AND name = 'household_daily_local'"
            ))
            .await
            .unwrap()
            .trim(),
            "toYYYYMM(day)"
        );
        assert_eq!(
            count(
                w,
                &format!(
                    "SELECT count() FROM system.tables WHERE database = '{db}' \
                     AND name LIKE '%\\\\_\\\\_%'"
                )
            )
            .await,
            0
        );
    }

    // The rows written before the rebuild are in the rebuilt tables, and reach the other
    // replica.
    let local = "SELECT count() FROM household_daily_local FINAL";
    let all = "SELECT count() FROM household_daily FINAL";
    until(&w2, local, 200).await;

    // Replica 2 stops mid-run: replica 1 goes on taking rows (new days and newer versions of
    // old ones) and answering.
    r2.stop();
    store1.write(&days(18_464, 10, 1_000)).await.unwrap();
    store1.write(&days(18_444, 5, 2_000)).await.unwrap();
    assert_eq!(count(&w1, all).await, 300, "no key doubled after FINAL");
    assert_eq!(
        count(
            &w1,
            "SELECT count() FROM household_daily FINAL WHERE computed_at = 2000"
        )
        .await,
        50,
        "the newest version wins"
    );
    // It returns and catches up.
    r2.start();
    let w2 = on(&r2, &db).await;
    until(&w2, local, 300).await;

    // Now replica 1 stops: replica 2 answers for the cluster and takes rows.
    r1.stop();
    assert_eq!(count(&w2, all).await, 300);
    let store2 = Store::ClickHouse(Box::new(w2.clone()));
    store2.write(&days(18_474, 3, 1_000)).await.unwrap();
    assert_eq!(count(&w2, all).await, 330);
    r1.start();
    let w1 = on(&r1, &db).await;
    until(&w1, local, 330).await;

    // A household's erasure leaves both replicas.
    let erased = zeal_tables::erase_household(&Store::ClickHouse(Box::new(w1.clone())), "h-3")
        .await
        .unwrap();
    // Its 33 days, with the versions not merged away yet.
    assert!(
        erased
            .iter()
            .any(|(t, rows)| *t == "household_daily" && (33..=38).contains(rows)),
        "{erased:?}"
    );
    let held = "SELECT count() FROM household_daily_local WHERE household_id = 'h-3'";
    until(&w1, held, 0).await;
    until(&w2, held, 0).await;
    assert_eq!(count(&w2, all).await, 297);

    admin
        .execute(&format!("DROP DATABASE IF EXISTS {db} ON CLUSTER zeal"))
        .await
        .unwrap();
}
