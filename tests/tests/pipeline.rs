//! End to end through the real broker (tansu) into the real ClickHouse: gateways, aggregator and
//! sink as they run in production, each test in its own topic namespace and database.

use rand::SeedableRng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use zeal_connectors::kafka::{TopicNames, ensure_topics};
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::AggregatorKey;
use zeal_services::aggregator::{AggregatorReport, AggregatorService, AggregatorSettings};
use zeal_services::gateway::{GatewayService, GatewaySettings};
use zeal_services::sink::{ClickHouseSink, SinkSettings};
use zeal_tests::{kafka, unique};

const T0: i64 = 1_593_561_600_000; // 2020-07-01T00:00Z
const STEP: i64 = 900_000;

fn protocol() -> ProtocolConfig {
    ProtocolConfig {
        share_deadline: Duration::from_secs(4),
        partial_deadline: Duration::from_secs(4),
        ..Default::default()
    }
}

struct Scenario {
    regions: Vec<String>,
    meters_per_region: usize,
    intervals: i64,
    /// (meter index in region, region index) that never records a reading for interval 0.
    silent: Vec<(usize, usize)>,
}

/// Deterministic readings: (import, export) for meter i of region r at interval k.
fn reading(r: usize, i: usize, k: i64) -> Vec<u64> {
    let k = k as u64;
    vec![
        80 + (r as u64 * 101 + i as u64 * 37 + k * 13) % 700,
        (i as u64 * 17 + k * 5) % 90,
    ]
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Row {
    region: String,
    interval_start: u32,
    channel: String,
    total: i64,
    contributors: u32,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Event {
    region: String,
    interval_start: u32,
    event: String,
}

struct Outcome {
    totals: Vec<Row>,
    events: Vec<Event>,
    report: AggregatorReport,
}

async fn run(sc: &Scenario) -> Outcome {
    let kafka = kafka();
    let prefix = format!("{}.", unique("zt"));
    let topics = TopicNames::with_prefix(&prefix);
    ensure_topics(&kafka, &topics.specs(3, 1)).await.unwrap();

    let warehouse = zeal_tests::fresh_database("zt_e2e").await;

    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let key = AggregatorKey::generate("agg-e2e", &mut rng);
    let state = std::env::temp_dir().join(unique("zeal-gw"));
    let meters: Vec<(String, String)> = sc
        .regions
        .iter()
        .flat_map(|r| (0..sc.meters_per_region).map(move |i| (format!("{r}-m{i:03}"), r.clone())))
        .collect();
    let mut gateway = GatewayService::new(
        GatewaySettings {
            kafka: kafka.clone(),
            topics: topics.clone(),
            gateway_id: unique("gw"),
            protocol: protocol(),
            trusted: vec![key.public()],
            state_dir: state.clone(),
            drill: Default::default(),
            metrics: zeal_services::metrics::Metrics::new(zeal_services::metrics::Role::Gateway),
        },
        &meters,
    )
    .unwrap();
    for (ri, region) in sc.regions.iter().enumerate() {
        for i in 0..sc.meters_per_region {
            for k in 0..sc.intervals {
                if k == 0 && sc.silent.contains(&(i, ri)) {
                    continue;
                }
                gateway.record_reading(
                    &format!("{region}-m{i:03}"),
                    T0 + k * STEP,
                    reading(ri, i, k),
                );
            }
        }
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let gw = tokio::spawn(gateway.run(stop.clone()));
    // Let the enrolments land before the aggregator reads the registry.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sink = ClickHouseSink::new(
        SinkSettings {
            kafka: kafka.clone(),
            topics: topics.clone(),
            group_id: unique("sink"),
            batch_rows: 10_000,
            max_delay: Duration::from_millis(300),
            metrics: zeal_services::metrics::Metrics::new(zeal_services::metrics::Role::Sink),
        },
        warehouse.clone(),
    )
    .await
    .unwrap();
    let sink = tokio::spawn(sink.run(stop.clone()));
    let aggregator = AggregatorService::new(
        AggregatorSettings {
            kafka: kafka.clone(),
            topics: topics.clone(),
            group_id: unique("agg"),
            protocol: protocol(),
            first_interval: T0,
            last_interval: Some(T0 + (sc.intervals - 1) * STEP),
            grace: Duration::ZERO,
            max_open_per_region: 2,
            tick: Duration::from_millis(100),
            progress: None,
            metrics: zeal_services::metrics::Metrics::new(zeal_services::metrics::Role::Aggregator),
        },
        key,
    )
    .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(120), aggregator.run(stop.clone()))
        .await
        .expect("the bounded run finishes within 2 minutes")
        .unwrap();
    // Give the sink time to flush the last rows, then stop everything.
    let expected_rows = sc.regions.len() * sc.intervals as usize * 2;
    let mut totals = Vec::new();
    for _ in 0..100 {
        totals = warehouse
            .fetch_all::<Row>(
                "SELECT region, toUInt32(interval_start) AS interval_start, channel, total, \
                 contributors FROM region_totals FINAL ORDER BY region, interval_start, channel",
            )
            .await
            .unwrap();
        if totals.len() >= expected_rows {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = warehouse
        .fetch_all::<Event>(
            "SELECT region, toUInt32(interval_start) AS interval_start, event FROM round_events \
             FINAL ORDER BY region, interval_start, attempt, event",
        )
        .await
        .unwrap();
    stop_tx.send(true).unwrap();
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(state);
    Outcome {
        totals,
        events,
        report,
    }
}

fn expected(sc: &Scenario) -> BTreeMap<(String, u32, String), (i64, u32)> {
    let mut out = BTreeMap::new();
    for (ri, region) in sc.regions.iter().enumerate() {
        for k in 0..sc.intervals {
            let members: Vec<usize> = (0..sc.meters_per_region)
                .filter(|i| !(k == 0 && sc.silent.contains(&(*i, ri))))
                .collect();
            for (c, channel) in ["import_wh", "export_wh"].iter().enumerate() {
                let sum: u64 = members.iter().map(|i| reading(ri, *i, k)[c]).sum();
                out.insert(
                    (
                        region.clone(),
                        ((T0 + k * STEP) / 1000) as u32,
                        channel.to_string(),
                    ),
                    (sum as i64, members.len() as u32),
                );
            }
        }
    }
    out
}

fn actual(rows: &[Row]) -> BTreeMap<(String, u32, String), (i64, u32)> {
    rows.iter()
        .map(|r| {
            (
                (r.region.clone(), r.interval_start, r.channel.clone()),
                (r.total, r.contributors),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_regions_publish_exact_totals_to_clickhouse() {
    let sc = Scenario {
        regions: vec!["NL-UT-01".into(), "NL-GR-02".into(), "NL-ZH-03".into()],
        meters_per_region: 6,
        intervals: 2,
        silent: vec![],
    };
    let out = run(&sc).await;
    assert_eq!(
        actual(&out.totals),
        expected(&sc),
        "ClickHouse holds exactly the plaintext sums"
    );
    assert_eq!(out.report.totals, 6);
    assert_eq!(out.report.dead_letters, 0);
    let completed = out.events.iter().filter(|e| e.event == "COMPLETED").count();
    assert_eq!(completed, 6, "{:?}", out.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_meter_missing_at_the_share_deadline_is_left_out_of_a_reopened_round() {
    let sc = Scenario {
        regions: vec!["NL-UT-01".into(), "NL-GR-02".into()],
        meters_per_region: 6,
        intervals: 2,
        silent: vec![(2, 0)],
    };
    let out = run(&sc).await;
    assert_eq!(actual(&out.totals), expected(&sc));
    let reopened: Vec<&Event> = out
        .events
        .iter()
        .filter(|e| e.event == "REOPENED")
        .collect();
    assert_eq!(reopened.len(), 1, "{:?}", out.events);
    assert_eq!(reopened[0].region, "NL-UT-01");
    assert_eq!(reopened[0].interval_start, (T0 / 1000) as u32);
    assert_eq!(out.report.reopened, 1);
}
