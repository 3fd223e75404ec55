//! The game job end to end on the real broker and ClickHouse: two opted-in households' readings
//! and the region's private aggregates (15-minute totals of four households, the daily
//! consumption histogram) become `household_daily` rows and `gamification_events`. The other two
//! households' readings exist nowhere — not on any topic, not in any table — yet every household
//! is compared with the region's average and its efficient neighbours: the comparison needs only
//! the aggregates. Re-running adds no rows; after one household's erasure, re-running leaves it
//! out although its readings are still on the topic.

use serde::Deserialize;
use std::time::Duration;
use zeal_civil::days_from_civil;
use zeal_connectors::kafka::KeyedProducer;
use zeal_game::day::{BUCKETS, bucket_of, efficient_mark};
use zeal_meters::household::{Archetype, Household};
use zeal_meters::sim::SimulatedMeter;
use zeal_schemas::AnyMessage;
use zeal_services::gamify::run_gamify;
use zeal_services::v2::readings::signed_message;
use zeal_tables::TotalRow;
use zeal_tests::certified::Certified;
use zeal_tests::env::Env;

const REGION: &str = "NL-UT-01";
const DAYS: i64 = 10;

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Daily {
    household_id: String,
    day: u16,
    import_kwh: f64,
    baseline_kwh: f64,
    region_average_kwh: f64,
    efficient_kwh: f64,
    export_kwh: f64,
    generation_kwh: f64,
    self_consumption: f64,
    self_sufficiency: f64,
}

/// Every `household_daily` row (FINAL), by household and day.
async fn stored_daily(w: &zeal_connectors::clickhouse::Warehouse) -> Vec<Daily> {
    w.fetch_all::<Daily>(
        "SELECT household_id, day, import_kwh, baseline_kwh, region_average_kwh, efficient_kwh, \
         export_kwh, generation_kwh, self_consumption, self_sufficiency \
         FROM household_daily FINAL ORDER BY household_id, day",
    )
    .await
    .unwrap()
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Count {
    n: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daily_metrics_and_awards_come_from_own_readings_and_private_aggregates_only() {
    let env = Env::new().await;
    zeal_tables::migrate(&env.warehouse).await.unwrap();
    let first = days_from_civil(2020, 3, 2);
    let t0 = first * 86_400_000;
    let t_end = (first + DAYS) * 86_400_000;
    // Four households in the region; only the first two opted in.
    let meters: Vec<SimulatedMeter> = [
        Archetype::FamilyWithChildren,
        Archetype::SingleWorker,
        Archetype::CoupleWorking,
        Archetype::RetiredCouple,
    ]
    .iter()
    .enumerate()
    .map(|(i, a)| {
        let mut household = Household::with_archetype(21, i as u64, *a);
        // The first household has panels and an inverter that reports; the second neither.
        household.pv_kwp = if i == 0 { 4.0 } else { 0.0 };
        SimulatedMeter {
            meter_id: format!("{REGION}-m{i:04}"),
            region: REGION.into(),
            household,
        }
    })
    .collect();
    let readings: Vec<Vec<zeal_meters::IntervalReading>> =
        meters.iter().map(|m| m.readings(t0, t_end)).collect();

    let producer = KeyedProducer::new(&env.kafka).unwrap();
    // The authority certifies the two opted-in households; their gateways sign their readings.
    let opted_in: Vec<(String, String)> = meters
        .iter()
        .take(2)
        .map(|m| (m.meter_id.clone(), REGION.to_string()))
        .collect();
    let certified = Certified::post(&env.kafka, &env.topics, &opted_in, 8).await;
    for (m, rs) in meters.iter().zip(&readings).take(2) {
        for r in rs {
            let h = signed_message(&m.meter_id, REGION, r, &certified.identities[&m.meter_id]);
            producer
                .send_message(&env.topics.readings, m.meter_id.as_bytes(), &h)
                .await
                .unwrap();
        }
    }
    // The readings topic is at least once: a producer's retry, or a gateway restarted under a
    // grant that includes its history, shares a reading again. The first household's day
    // first+8 arrives twice; it counts once.
    let (m, again) = (&meters[0], &readings[0]);
    for r in again
        .iter()
        .filter(|r| r.interval_start.div_euclid(86_400_000) == first + 8)
    {
        let h = signed_message(&m.meter_id, REGION, r, &certified.identities[&m.meter_id]);
        producer
            .send_message(&env.topics.readings, m.meter_id.as_bytes(), &h)
            .await
            .unwrap();
    }
    // What the private rounds would publish: per interval the region's total of all four, and
    // per day the histogram of the four households' buckets.
    let mut rows = Vec::new();
    for k in 0..readings[0].len() {
        let total: u64 = readings.iter().map(|rs| rs[k].import_wh).sum();
        rows.push(TotalRow {
            region: REGION.into(),
            interval_start: (readings[0][k].interval_start / 1000) as u32,
            interval_seconds: 900,
            channel: "import_wh".into(),
            total: total as i64,
            contributors: 4,
            attempt: 1,
            carried_intervals: vec![],
            published_at: 0,
            aggregator_id: "agg".into(),
        });
    }
    let day_kwh = |m: usize, d: i64| -> f64 {
        readings[m]
            .iter()
            .filter(|r| r.interval_start.div_euclid(86_400_000) == d)
            .map(|r| r.import_wh)
            .sum::<u64>() as f64
            / 1000.0
    };
    for d in first..first + DAYS {
        let mut hist = [0i64; BUCKETS];
        for m in 0..4 {
            hist[bucket_of(day_kwh(m, d))] += 1;
        }
        for (i, n) in hist.iter().enumerate() {
            rows.push(TotalRow {
                region: REGION.into(),
                interval_start: (d * 86_400) as u32,
                interval_seconds: 86_400,
                channel: format!("bucket_{i:02}"),
                total: *n,
                contributors: 4,
                attempt: 1,
                carried_intervals: vec![],
                published_at: 0,
                aggregator_id: "agg-daily".into(),
            });
        }
    }
    env.warehouse
        .insert_rows("region_totals", &rows)
        .await
        .unwrap();

    let settings = env
        .deployment()
        .gamify(certified.authority_key(), first + 8, first + 9);
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        run_gamify(&settings, &env.warehouse),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((report.households, report.days), (2, 4));
    assert!(report.events > 0);

    let daily = stored_daily(&env.warehouse).await;
    assert_eq!(daily.len(), 4);
    for row in &daily {
        let m = if row.household_id == meters[0].meter_id {
            0
        } else {
            1
        };
        let d = i64::from(row.day);
        assert!((row.import_kwh - day_kwh(m, d)).abs() < 1e-9, "{row:?}");
        let base: f64 = (first..d).map(|p| day_kwh(m, p)).sum::<f64>() / (d - first) as f64;
        assert!((row.baseline_kwh - base).abs() < 1e-9, "baseline {row:?}");
        let avg = (0..4).map(|j| day_kwh(j, d)).sum::<f64>() / 4.0;
        assert!(
            (row.region_average_kwh - avg).abs() < 1e-6,
            "region average {row:?} vs {avg}"
        );
        let mut hist = vec![0u64; BUCKETS];
        for j in 0..4 {
            hist[bucket_of(day_kwh(j, d))] += 1;
        }
        assert_eq!(Some(row.efficient_kwh), efficient_mark(&hist), "{row:?}");
        // Self-consumption and self-sufficiency from the inverter's generation, for the
        // prosumer only; the other household's are unknown (NaN), not zero.
        let day_wh = |f: &dyn Fn(&zeal_meters::IntervalReading) -> u64| {
            readings[m]
                .iter()
                .filter(|r| r.interval_start.div_euclid(86_400_000) == d)
                .map(f)
                .sum::<u64>() as f64
                / 1000.0
        };
        let export = day_wh(&|r| r.export_wh);
        assert!((row.export_kwh - export).abs() < 1e-9, "{row:?}");
        if m == 0 {
            let generation = day_wh(&|r| r.generation_wh.unwrap());
            assert!(generation > 1.0, "a 4 kWp March day generates: {row:?}");
            assert!((row.generation_kwh - generation).abs() < 1e-9, "{row:?}");
            let own = generation - export;
            assert!(
                (row.self_consumption - own / generation).abs() < 1e-9,
                "{row:?}"
            );
            let sufficiency = own / (row.import_kwh + own);
            assert!((row.self_sufficiency - sufficiency).abs() < 1e-9, "{row:?}");
        } else {
            assert!(
                row.generation_kwh.is_nan() && row.self_consumption.is_nan(),
                "{row:?}"
            );
            assert!(row.self_sufficiency.is_nan(), "{row:?}");
        }
    }
    // Only the opted-in households ever appear on the readings topic.
    let on_topic: std::collections::BTreeSet<String> = env
        .read(&env.topics.readings)
        .await
        .iter()
        .filter_map(|r| match zeal_schemas::decode_any(&r.payload) {
            Ok(AnyMessage::HouseholdReading(h)) => Some(h.household_id),
            _ => None,
        })
        .collect();
    assert_eq!(on_topic.len(), 2);

    let count = |sql: &'static str| {
        let w = env.warehouse.clone();
        async move { w.fetch_all::<Count>(sql).await.unwrap()[0].n }
    };
    let events = count("SELECT count() AS n FROM gamification_events FINAL").await;
    assert_eq!(events, report.events);
    // Again: the same rows replace themselves.
    let again = run_gamify(&settings, &env.warehouse).await.unwrap();
    assert_eq!(again.events, report.events);
    env.warehouse
        .execute("OPTIMIZE TABLE gamification_events FINAL")
        .await
        .unwrap();
    env.warehouse
        .execute("OPTIMIZE TABLE household_daily FINAL")
        .await
        .unwrap();
    assert_eq!(
        count("SELECT count() AS n FROM gamification_events").await,
        report.events
    );
    assert_eq!(count("SELECT count() AS n FROM household_daily").await, 4);

    // The second household asks for erasure: its rows leave the tables and the app records it
    // on zeal.erasure.v1. Its readings are still on the topic (retention), so recomputing the
    // same days would write its rows again; the job reads the record and leaves them out. A
    // record forged without the app's key (to hide the first household's game) is refused.
    let erased = &meters[1].meter_id;
    let store = zeal_tables::Store::ClickHouse(Box::new(env.warehouse.clone()));
    let app = zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let gone = zeal_tests::erase_and_record(
        &store,
        &env.kafka,
        &env.topics.erasure,
        erased,
        REGION,
        &app,
    )
    .await;
    assert!(
        gone.iter().any(|(t, n)| *t == "household_daily" && *n > 0),
        "{gone:?}"
    );
    let mallory = zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
    zeal_tests::post_erasure_record(
        &env.kafka,
        &env.topics.erasure,
        &meters[0].meter_id,
        REGION,
        &gone,
        &mallory,
    )
    .await;
    let settings = zeal_services::gamify::GamifySettings {
        consent_apps: vec![app.verifying_key()],
        ..settings
    };
    let after = run_gamify(&settings, &env.warehouse).await.unwrap();
    assert_eq!((after.households, after.days), (1, 2), "{after:?}");
    assert!(after.erased > 0, "{after:?}");
    let left: Vec<String> = stored_daily(&env.warehouse)
        .await
        .into_iter()
        .map(|d| d.household_id)
        .collect();
    assert_eq!(
        left,
        vec![meters[0].meter_id.clone(); 2],
        "the erased stay erased"
    );
    let refused = env
        .read(&env.topics.dlq)
        .await
        .iter()
        .filter_map(|r| zeal_schemas::decode::<zeal_schemas::DeadLetter>(&r.payload).ok())
        .filter(|l| l.rejected_by == "gamify-erasure")
        .count();
    assert_eq!(refused, 1, "the forged record is a dead letter");
    env.finish().await;
}
