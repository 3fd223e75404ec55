//! A household's erasure, end to end: `zeal serve` as a process over the real broker and each
//! store (the test ClickHouse, and the embedded one). The household signs in from its portal
//! link and asks for erasure; afterwards no household table holds a row of it, its neighbour's
//! rows and the region totals are unchanged, its gateway was told to stop sharing (a signed
//! withdrawal on `zeal.consent.v1`, published before the rows left), the signed record on
//! `zeal.erasure.v1` names what left which table and nothing else, and its session is over.
//! A form post without the session's CSRF token erases nothing. `zeal erase` does the same on the
//! operator's command for a household that cannot sign in any more.

mod common;

use common::{OnBroker, ok, portal_link, zeal};
use zeal_embedded::store::ParquetStore;
use zeal_schemas::consent::{ConsentEvent, ErasureEvent};
use zeal_tables::{
    DailyRow, Destination, GameEventRow, HOUSEHOLD_TABLES, ProfileRow, ReadTotals, Store, TotalRow,
    UsageRow,
};
use zeal_tests::http::{Agent, csrf_of};

const REGION: &str = "NL-ER-01";
const ERASED: &str = "NL-ER-01-m0001";
const NEIGHBOUR: &str = "NL-ER-01-m0002";
const DAY: u16 = 18_500;

/// One household's rows in every household table: a profile, two days, two game events and
/// two appliance days, written in two inserts (two parts in the embedded store).
async fn seed(store: &Store, household: &str) {
    store
        .write(&[ProfileRow {
            household_id: household.into(),
            region: REGION.into(),
            display_name: format!("Familie {household}"),
            share_readings: 1,
            leaderboard: 1,
            joined_at: 1_700_000_000,
        }])
        .await
        .unwrap();
    for day in [DAY, DAY + 1] {
        store
            .write(&[DailyRow {
                household_id: household.into(),
                region: REGION.into(),
                day,
                import_kwh: 9.5,
                export_kwh: 3.25,
                generation_kwh: f64::NAN,
                self_consumption: f64::NAN,
                self_sufficiency: f64::NAN,
                peak_kwh: 1.5,
                solar_hours_kwh: 2.0,
                baseline_kwh: 10.0,
                savings_kwh: 0.5,
                region_average_kwh: 11.0,
                efficient_kwh: 8.0,
                computed_at: 1_700_000_000,
            }])
            .await
            .unwrap();
        store
            .write(&[GameEventRow {
                household_id: household.into(),
                day,
                kind: "points".into(),
                code: "below_baseline".into(),
                points: 10,
                reason: "Used less than your usual day".into(),
                computed_at: 1_700_000_000,
            }])
            .await
            .unwrap();
        store
            .write(&[UsageRow {
                household_id: household.into(),
                region: REGION.into(),
                day,
                appliance: "washing_machine".into(),
                energy_wh: 800.0,
                on_intervals: 4,
                confidence: 0.9,
                model_version: "test".into(),
                computed_at: 1_700_000_000,
            }])
            .await
            .unwrap();
    }
}

/// Rows of `household` in `table`, as stored.
async fn rows_of(store: &Store, table: &str, household: &str) -> u64 {
    let sql = format!("SELECT count(*) AS n FROM {table} WHERE household_id = '{household}'");
    match store {
        Store::ClickHouse(w) => w.query_text(&sql).await.unwrap().trim().parse().unwrap(),
        Store::Embedded(p) => {
            if !p.has_rows(table) {
                return 0;
            }
            let spec = zeal_tables::embedded(table).unwrap();
            let df = p.query(&sql, &[spec]).unwrap();
            df.column("n")
                .unwrap()
                .get(0)
                .unwrap()
                .to_string()
                .parse()
                .unwrap()
        }
    }
}

async fn erasure_leaves_no_row_of_the_household(on_clickhouse: bool) {
    let kafka = zeal_tests::kafka();
    let broker = OnBroker::new("erasure");
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-erasure"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    ok(zeal()
        .args(["portal", "init", "--key-file", &p("portal.key")])
        .output()
        .unwrap());

    // The store, with both households' rows and the region's totals.
    let (store, clickhouse_url) = if on_clickhouse {
        let (url, warehouse) = zeal_tests::fresh_database_url("zt_erasure").await;
        zeal_tables::migrate(&warehouse).await.unwrap();
        (Store::ClickHouse(Box::new(warehouse)), Some(url))
    } else {
        let store = ParquetStore::open(dir.join("data/store")).unwrap();
        (Store::Embedded(store), None)
    };
    seed(&store, ERASED).await;
    seed(&store, NEIGHBOUR).await;
    for (i, totals) in [(4_000, 1_000), (5_000, 0)].into_iter().enumerate() {
        let start = i64::from(DAY) * 86_400_000 + i as i64 * 900_000;
        store
            .write(&TotalRow::energy(REGION, start, totals, 2, "agg-test"))
            .await
            .unwrap();
    }
    let totals_before = store.region_totals(None).await.unwrap();
    assert_eq!(totals_before.len(), 4);
    let mut seeded = Vec::new();
    for t in HOUSEHOLD_TABLES {
        let n = rows_of(&store, t.name, ERASED).await;
        assert!(n > 0, "{} has rows of the household before", t.name);
        seeded.push((t.name.to_string(), n));
    }

    // The app, publishing consent and erasures signed with its key.
    let extra: Vec<&str> = match &clickhouse_url {
        Some(url) => vec!["--clickhouse", url],
        None => Vec::new(),
    };
    let (_app, addr) = broker.serve(&dir, &extra).await;

    // The household signs in and sees its page, with the way to erasure.
    let link = |household: &str| portal_link(&p("portal.key"), addr, household, REGION);
    let mut household = Agent::new(addr);
    assert_eq!(household.get(&link(ERASED)).await.status, 303);
    let page = household.get(&format!("/household/{ERASED}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"erase-link\""), "{}", page.body);
    let form = household.get("/erase").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("id=\"erase-form\""), "{}", form.body);

    // A post without the session's token (another site's form) erases nothing.
    let forged = household.post("/erase", "").await;
    assert_eq!(forged.status, 403);
    let forged = household.post("/erase", "csrf=0123456789abcdef").await;
    assert_eq!(forged.status, 403);
    assert_eq!(rows_of(&store, "household_daily", ERASED).await, 2);

    // The household erases its data.
    let erased = household
        .post("/erase", &format!("csrf={}", csrf_of(&form.body)))
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert!(
        erased.body.contains("Your data was erased"),
        "{}",
        erased.body
    );
    assert!(
        erased.header("set-cookie").contains("Max-Age=0"),
        "{:?}",
        erased.headers
    );
    for t in HOUSEHOLD_TABLES {
        assert_eq!(
            rows_of(&store, t.name, ERASED).await,
            0,
            "{} still holds it",
            t.name
        );
        let kept = seeded.iter().find(|(n, _)| n == t.name).unwrap().1;
        assert_eq!(
            rows_of(&store, t.name, NEIGHBOUR).await,
            kept,
            "the neighbour's {} rows stay",
            t.name
        );
    }
    assert_eq!(
        store.region_totals(None).await.unwrap(),
        totals_before,
        "region totals are aggregates: they stay"
    );
    // The session is over: the page is not served to it any more.
    assert_ne!(
        household.get(&format!("/household/{ERASED}")).await.status,
        200
    );
    // The neighbour's page still works over the store the erasure changed.
    let mut neighbour = Agent::new(addr);
    assert_eq!(neighbour.get(&link(NEIGHBOUR)).await.status, 303);
    let page = neighbour.get(&format!("/household/{NEIGHBOUR}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("Familie {NEIGHBOUR}")));

    // The record: signed by the app, naming what left which table, and no data.
    let app = zeal_protocol::v2::enrolment::key_from_hex(
        std::fs::read_to_string(dir.join("consent.pub"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let records = || async {
        zeal_tests::read_topic(&kafka, &broker.topic("zeal.erasure.v1"))
            .await
            .iter()
            .map(|r| zeal_schemas::decode::<ErasureEvent>(&r.payload).unwrap())
            .collect::<Vec<_>>()
    };
    let first = records().await;
    assert_eq!(first.len(), 1, "{first:?}");
    let record = &first[0];
    assert!(zeal_protocol::erasure::signed_by(record, &[app]));
    assert_eq!(record.household_id, ERASED);
    let listed: Vec<(String, u64)> = record
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows as u64))
        .collect();
    assert_eq!(listed, seeded);
    assert!(record.requested_at <= record.erased_at);
    // The gateway was told first: a signed withdrawal, decided before the rows left.
    let decisions: Vec<ConsentEvent> =
        zeal_tests::read_topic(&kafka, &broker.topic("zeal.consent.v1"))
            .await
            .iter()
            .map(|r| zeal_schemas::decode(&r.payload).unwrap())
            .collect();
    let withdrawal = decisions
        .iter()
        .find(|e| e.household_id == ERASED && !e.granted)
        .expect("a withdrawal before the erasure");
    assert!(zeal_protocol::consent::signed_by(withdrawal, &[app]));
    assert!(withdrawal.decided_at <= record.erased_at);

    // The neighbour moved away and wrote to the utility: the operator erases it.
    let mut c = broker.zeal();
    c.args(["erase", "--household", NEIGHBOUR, "--region", REGION])
        .args(["--consent-key", &p("consent.key"), "--sweep-after", "0"]);
    match &clickhouse_url {
        Some(url) => c.args(["--clickhouse", url]),
        None => c.args(["--data-dir", &p("data")]),
    };
    let out = ok(c.output().unwrap());
    assert!(out.contains("household_daily: 2 rows deleted"), "{out}");
    for t in HOUSEHOLD_TABLES {
        assert_eq!(rows_of(&store, t.name, NEIGHBOUR).await, 0, "{}", t.name);
    }
    assert_eq!(store.region_totals(None).await.unwrap(), totals_before);
    let records = records().await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].household_id, NEIGHBOUR);
    assert!(zeal_protocol::erasure::signed_by(&records[1], &[app]));
    // A household id that is not one is refused before anything is touched.
    let bad = broker
        .zeal()
        .args(["erase", "--household", "x' OR 1=1", "--region", REGION])
        .args(["--consent-key", &p("consent.key"), "--data-dir", &p("data")])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--household"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_on_clickhouse_leaves_no_row_of_the_household() {
    erasure_leaves_no_row_of_the_household(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_on_the_embedded_store_leaves_no_row_of_the_household() {
    erasure_leaves_no_row_of_the_household(false).await;
}
