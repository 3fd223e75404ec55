//! Aggregated learning at the edge, end to end on the real broker and ClickHouse, on protocol
//! v2: each household's gateway runs the disaggregation model on its own day and contributes the
//! day's energy per appliance category and a one-hot vector of its consumption bucket as the 16
//! channels of the daily deployment (`docs/edge-daily.toml`, one range proof over all 16). The
//! audit re-verifies every round from the topics alone; ClickHouse gets each region's appliance
//! mix and its private consumption histogram, equal to the sums of what the meters computed.
//! (What the aggregator and up to d seats see is independent of a household's values: the
//! protocol crate's privacy tests, attack 5 of docs/protocol.md.)

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::time::Duration;
use zeal_civil::days_from_civil;
use zeal_connectors::kafka::{TopicNames, ensure_topics};
use zeal_disaggregation::Disaggregator;
use zeal_protocol::v2::local::LocalRegion;
use zeal_protocol::v2::params::{Params, Ratio};
use zeal_protocol::v2::round::log::Outcome;
use zeal_services::deployment::Deployment;
use zeal_services::edge::{channels, daily_params, daily_values};
use zeal_services::metrics::Role;
use zeal_services::v2::audit::rows;
use zeal_services::v2::{Party, RegionNode, RegionSettings, audit_day};
use zeal_tests::{kafka, unique};

const REGIONS: [&str; 2] = ["NL-EDGE-01", "NL-EDGE-02"];
const METERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regions_learn_their_appliance_mix_from_values_computed_at_the_edge() {
    // A small committee (k = 5, d = 1) so the test generates few seat keys.
    let params = daily_params(&Params {
        committee_size: 5,
        threshold: 1,
        min_roster: 3,
        participation: Ratio { num: 1, den: 2 },
        ..Params::default()
    });
    params.validate().unwrap();
    let model = Disaggregator::embedded().unwrap();
    let day0 = days_from_civil(2020, 1, 13) * 86_400_000;
    let regions: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    let fleet = zeal_meters::sim::fleet(&regions, METERS, 11);
    // What each gateway computes on its own meter, and the plaintext sums to check against.
    let mut values: BTreeMap<&str, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    for m in &fleet {
        let rs: Vec<(i64, u64, u64)> = m
            .readings(day0, day0 + 86_400_000)
            .iter()
            .map(|r| (r.interval_start, r.import_wh, r.export_wh))
            .collect();
        let days = daily_values(&model, &rs).unwrap();
        assert_eq!(days.len(), 1, "one complete day per meter");
        let (day, v) = days.into_iter().next().unwrap();
        assert_eq!(day, day0);
        for (c, name) in channels().iter().enumerate() {
            *want.entry((m.region.clone(), name.clone())).or_default() += v[c] as i64;
        }
        let region = REGIONS.iter().find(|r| **r == m.region).unwrap();
        values
            .entry(region)
            .or_default()
            .insert(m.meter_id.clone(), v);
    }
    let heating: i64 = want
        .iter()
        .filter(|(k, _)| k.1 == "heating_wh")
        .map(|(_, v)| v)
        .sum();
    assert!(heating > 0, "January: some homes heat electrically");

    let kafka = kafka();
    let topics = TopicNames::with_prefix(&format!("{}.", unique("edge")));
    ensure_topics(&kafka, &topics.specs(2, 1)).await.unwrap();
    let state = std::env::temp_dir().join(unique("zeal-edge"));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let start = day0 / 1000;
    let mut days = Vec::new();
    let mut nodes = Vec::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let roster: Vec<String> = values[region].keys().cloned().collect();
        let day = LocalRegion::with_roster(
            params.clone(),
            region,
            roster,
            start,
            b"edge beacon",
            &mut ChaCha20Rng::seed_from_u64(i as u64),
            |_| {},
        )
        .unwrap();
        let deployment = Deployment::new(kafka.clone(), topics.clone()).with_state_dir(&state);
        let settings = |name: &str, role: Role| RegionSettings {
            phase: Duration::from_secs(20),
            ..deployment.region(
                &format!("{name}-{region}"),
                role,
                day.ctx.clone(),
                day.directory.clone(),
            )
        };
        let party = Party::meters_of(&day, &day.ctx.roster);
        let mut gateway = RegionNode::new(settings("edge-gateway", Role::Gateway), party);
        for (m, v) in &values[region] {
            gateway.submit(start, m, v.clone());
        }
        let mut aggregator = RegionNode::new(
            settings("edge-aggregator", Role::Aggregator),
            Party::aggregator_of(&day),
        );
        aggregator.expect(start);
        nodes.push(gateway);
        nodes.push(aggregator);
        days.push(day);
    }
    let handles: Vec<_> = nodes
        .into_iter()
        .map(|n| {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(300), n.run(stop))
                    .await
                    .expect("the daily round closes within 5 minutes")
                    .expect("node ran")
            })
        })
        .collect();
    for h in handles {
        let report = h.await.unwrap();
        assert_eq!(report.dead_letters, 0);
    }

    // The audit re-verifies each region's day from the topics; only its totals are stored.
    let log = zeal_tests::read_topic(&kafka, &topics.rounds).await;
    let parts = zeal_tests::read_topic(&kafka, &topics.bundles).await;
    let warehouse = zeal_tests::fresh_database("zt_edge").await;
    zeal_tables::migrate(&warehouse).await.unwrap();
    for day in &days {
        let report = audit_day(&day.ctx, &day.directory, &log, &parts);
        assert_eq!(report.refused, 0);
        assert!(report.exclusions.is_empty(), "{:?}", report.exclusions);
        let audited = &report.rounds[&start];
        assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
        assert!(
            matches!(audited.outcome, Outcome::Total(_)),
            "{:?}",
            audited.outcome
        );
        let (totals, events, _) = rows(&day.ctx, &report, "edge-e2e", 0)
            .write_to(&warehouse)
            .await
            .unwrap();
        assert_eq!((totals, events), (16, 1), "16 channels, one round event");
    }

    #[derive(Debug, serde::Deserialize, clickhouse::Row)]
    struct Row {
        region: String,
        interval_start: u32,
        channel: String,
        total: i64,
        interval_seconds: u32,
    }
    let stored = warehouse
        .fetch_all::<Row>(
            "SELECT region, toUInt32(interval_start) AS interval_start, channel, total, \
             interval_seconds FROM region_totals FINAL",
        )
        .await
        .unwrap();
    let got: BTreeMap<(String, String), i64> = stored
        .iter()
        .map(|r| {
            assert_eq!(
                (r.interval_start as i64, r.interval_seconds),
                (start, 86_400)
            );
            ((r.region.clone(), r.channel.clone()), r.total)
        })
        .collect();
    assert_eq!(
        got, want,
        "each region's daily appliance mix and histogram is the sum of its meters' values"
    );
    // The private histogram: every household of the region counted once, and the
    // efficient-neighbour mark follows from the counts alone.
    for region in &regions {
        let counts: Vec<u64> = (0..zeal_game::day::BUCKETS)
            .map(|i| got[&(region.clone(), format!("bucket_{i:02}"))] as u64)
            .collect();
        assert_eq!(counts.iter().sum::<u64>(), METERS as u64, "{region}");
        let mark = zeal_game::day::efficient_mark(&counts).expect("a mark");
        let below = fleet
            .iter()
            .filter(|m| &m.region == region)
            .map(|m| {
                m.readings(day0, day0 + 86_400_000)
                    .iter()
                    .map(|r| r.import_wh)
                    .sum::<u64>() as f64
                    / 1000.0
            })
            .filter(|kwh| *kwh < mark)
            .count();
        assert!(
            below * 5 >= METERS,
            "{region}: the mark covers at least the best fifth"
        );
    }
    let _ = std::fs::remove_dir_all(&state);
}
