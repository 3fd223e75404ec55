//! Aggregated learning at the edge, end to end on the real broker and ClickHouse: gateways run
//! the disaggregation model on their own meters and contribute daily energy per category as the
//! channels of a private daily round; ClickHouse gets each region's appliance mix, equal to the
//! sum of what the meters computed, with the region's private consumption histogram in the same
//! round; no household's values appear on any topic in the clear.

use std::collections::BTreeMap;
use std::time::Duration;
use zeal_connectors::kafka::KeyedProducer;
use zeal_disaggregation::Disaggregator;
use zeal_meters::civil::days_from_civil;
use zeal_services::aggregator::{AggregatorService, AggregatorSettings};
use zeal_services::edge::{channels, daily_protocol, daily_values};
use zeal_services::gateway::{GatewayService, GatewaySettings};
use zeal_services::metrics::{Metrics, Role};
use zeal_tests::pipeline::{Env, REGIONS, protocol};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regions_learn_their_appliance_mix_from_values_computed_at_the_edge() {
    let env = Env::new().await;
    let config = daily_protocol(&protocol(20));
    let model = Disaggregator::embedded().unwrap();
    let day0 = days_from_civil(2020, 1, 13) * 86_400_000;
    let regions: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    let fleet = zeal_meters::sim::fleet(&regions, 6, 11);
    let mut values = Vec::new();
    let mut want: BTreeMap<(String, u32, String), i64> = BTreeMap::new();
    for m in &fleet {
        let rs: Vec<(i64, u64, u64)> = m
            .readings(day0, day0 + 2 * 86_400_000)
            .iter()
            .map(|r| (r.interval_start, r.import_wh, r.export_wh))
            .collect();
        for (day, v) in daily_values(&model, &rs).unwrap() {
            for (c, name) in channels().iter().enumerate() {
                *want
                    .entry((m.region.clone(), (day / 1000) as u32, name.clone()))
                    .or_default() += v[c] as i64;
            }
            values.push((m.meter_id.clone(), day, v));
        }
    }
    assert_eq!(values.len(), fleet.len() * 2, "two complete days per meter");
    let heating: i64 = want
        .iter()
        .filter(|(k, _)| k.2 == "heating_wh")
        .map(|(_, v)| v)
        .sum();
    assert!(heating > 0, "January: some homes heat electrically");

    let meters: Vec<(String, String)> = fleet
        .iter()
        .map(|m| (m.meter_id.clone(), m.region.clone()))
        .collect();
    let mut gateway = GatewayService::new(
        GatewaySettings {
            kafka: env.kafka.clone(),
            topics: env.topics.clone(),
            gateway_id: "gw-edge".into(),
            protocol: config.clone(),
            trusted: vec![env.key().public()],
            state_dir: env.state.clone(),
            drill: Default::default(),
            readings_opt_in: Default::default(),
            metrics: Metrics::new(Role::Gateway),
        },
        &meters,
    )
    .unwrap();
    for (id, day, v) in &values {
        gateway.record_reading(id, *day, v.clone(), None);
    }
    gateway
        .enrol(&KeyedProducer::new(&env.kafka).unwrap())
        .await
        .unwrap();
    let sink = env.sink().await;
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let aggregator = AggregatorService::new(
        AggregatorSettings {
            kafka: env.kafka.clone(),
            topics: env.topics.clone(),
            group_id: env.group.clone(),
            protocol: config,
            first_interval: day0,
            last_interval: Some(day0 + 86_400_000),
            grace: Duration::ZERO,
            max_open_per_region: 2,
            tick: Duration::from_millis(100),
            progress: None,
            metrics: Metrics::new(Role::Aggregator),
        },
        env.key(),
    )
    .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(120), aggregator.run(env.stop.clone()))
        .await
        .expect("both daily rounds of both regions close")
        .unwrap();
    assert_eq!(report.totals, 4, "{report:?}");

    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Row {
        region: String,
        interval_start: u32,
        channel: String,
        total: i64,
        interval_seconds: u32,
    }
    let mut got = BTreeMap::new();
    for _ in 0..100 {
        let rows = env
            .warehouse
            .fetch_all::<Row>(
                "SELECT region, toUInt32(interval_start) AS interval_start, channel, total, interval_seconds \
                 FROM region_totals FINAL",
            )
            .await
            .unwrap();
        got = rows
            .iter()
            .map(|r| {
                assert_eq!(r.interval_seconds, 86_400);
                (
                    (r.region.clone(), r.interval_start, r.channel.clone()),
                    r.total,
                )
            })
            .collect();
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The private histogram: every household of the region counted once per day, and the
    // efficient-neighbour mark follows from the counts alone.
    for region in &regions {
        for day in [day0, day0 + 86_400_000] {
            let counts: Vec<u64> = (0..zeal_game::day::BUCKETS)
                .map(|i| {
                    got[&(
                        region.clone(),
                        (day / 1000) as u32,
                        format!("bucket_{i:02}"),
                    )] as u64
                })
                .collect();
            assert_eq!(counts.iter().sum::<u64>(), 6, "{region}: six households");
            let mark = zeal_game::day::efficient_mark(&counts).expect("a mark");
            let at_or_below = fleet
                .iter()
                .filter(|m| &m.region == region)
                .map(|m| {
                    m.readings(day, day + 86_400_000)
                        .iter()
                        .map(|r| r.import_wh)
                        .sum::<u64>() as f64
                        / 1000.0
                })
                .filter(|kwh| *kwh < mark)
                .count();
            assert!(
                at_or_below * 5 >= 6,
                "{region}: the mark covers at least the best fifth"
            );
        }
    }
    assert_eq!(
        got, want,
        "each region's daily appliance mix is the sum of its meters' values"
    );
    assert!(
        env.read(&env.topics.readings).await.is_empty(),
        "nothing in the clear"
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}
