//! End-to-end faults through the real broker and ClickHouse: an aggregator killed mid-round and
//! replaced, and rogue input (garbage, a forged bundle) that must end up in the dead-letter
//! topic with its reason while every total stays exact.

use rand::SeedableRng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::{
    KafkaConfig, KeyedProducer, Record, Replay, TopicNames, ensure_topics,
};
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::{AggregatorKey, MeterSecrets, sign_message};
use zeal_schemas::{AnyMessage, DeadLetter, RejectReason, ShareBundle, decode, decode_any};
use zeal_services::aggregator::{AggregatorService, AggregatorSettings};
use zeal_services::gateway::{Drill, GatewayService, GatewaySettings};
use zeal_services::sink::{ClickHouseSink, SinkSettings};
use zeal_tests::{clickhouse, kafka, unique};

const T0: i64 = 1_593_561_600_000;
const STEP: i64 = 900_000;
const REGIONS: [&str; 2] = ["NL-UT-01", "NL-GR-02"];
const METERS: usize = 6;
const INTERVALS: i64 = 2;

fn protocol(share_secs: u64) -> ProtocolConfig {
    ProtocolConfig {
        share_deadline: Duration::from_secs(share_secs),
        partial_deadline: Duration::from_secs(5),
        ..Default::default()
    }
}

fn reading(r: usize, i: usize, k: i64) -> Vec<u64> {
    vec![
        50 + (r as u64 * 71 + i as u64 * 29 + k as u64 * 7) % 500,
        (i as u64 + k as u64) % 40,
    ]
}

struct Env {
    kafka: KafkaConfig,
    topics: TopicNames,
    warehouse: Warehouse,
    key_seed: u64,
    group: String,
    state: std::path::PathBuf,
    stop_tx: tokio::sync::watch::Sender<bool>,
    stop: tokio::sync::watch::Receiver<bool>,
    drill: Drill,
    intervals: i64,
    max_open: usize,
}

impl Env {
    async fn new() -> Env {
        let kafka = kafka();
        let topics = TopicNames::with_prefix(&format!("{}.", unique("zt")));
        ensure_topics(&kafka, &topics.specs(3, 1)).await.unwrap();
        let admin = Warehouse::connect(&clickhouse()).await.unwrap();
        let db = unique("zt_faults");
        admin
            .execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let mut ch = clickhouse();
        ch.database = db;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        Env {
            kafka,
            topics,
            warehouse: Warehouse::connect(&ch).await.unwrap(),
            key_seed: 99,
            group: unique("agg"),
            state: std::env::temp_dir().join(unique("zeal-gw")),
            stop_tx,
            stop,
            drill: Drill::default(),
            intervals: INTERVALS,
            max_open: 2,
        }
    }

    fn key(&self) -> AggregatorKey {
        AggregatorKey::generate(
            "agg-e2e",
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(self.key_seed),
        )
    }

    fn gateway(&self, share_secs: u64) -> GatewayService {
        let meters: Vec<(String, String)> = REGIONS
            .iter()
            .flat_map(|r| (0..METERS).map(move |i| (format!("{r}-m{i:03}"), r.to_string())))
            .collect();
        let mut g = GatewayService::new(
            GatewaySettings {
                kafka: self.kafka.clone(),
                topics: self.topics.clone(),
                gateway_id: "gw-e2e".into(),
                protocol: protocol(share_secs),
                trusted: vec![self.key().public()],
                state_dir: self.state.clone(),
                drill: self.drill.clone(),
            },
            &meters,
        )
        .unwrap();
        for (ri, r) in REGIONS.iter().enumerate() {
            for i in 0..METERS {
                for k in 0..self.intervals {
                    g.record_reading(&format!("{r}-m{i:03}"), T0 + k * STEP, reading(ri, i, k));
                }
            }
        }
        g
    }

    fn aggregator(&self, share_secs: u64) -> AggregatorService {
        AggregatorService::new(
            AggregatorSettings {
                kafka: self.kafka.clone(),
                topics: self.topics.clone(),
                group_id: self.group.clone(),
                protocol: protocol(share_secs),
                first_interval: T0,
                last_interval: Some(T0 + (self.intervals - 1) * STEP),
                grace: Duration::ZERO,
                max_open_per_region: self.max_open,
                tick: Duration::from_millis(100),
            },
            self.key(),
        )
        .unwrap()
    }

    async fn sink(
        &self,
    ) -> tokio::task::JoinHandle<Result<zeal_services::sink::SinkReport, zeal_services::ServiceError>>
    {
        let sink = ClickHouseSink::new(
            SinkSettings {
                kafka: self.kafka.clone(),
                topics: self.topics.clone(),
                group_id: unique("sink"),
                batch_rows: 10_000,
                max_delay: Duration::from_millis(300),
            },
            self.warehouse.clone(),
        )
        .await
        .unwrap();
        tokio::spawn(sink.run(self.stop.clone()))
    }

    async fn read(&self, topic: &str) -> Vec<Record> {
        Replay::start(&self.kafka, &unique("zt-read"), &[topic], 0, i64::MAX)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    }

    async fn wait_for(
        &self,
        topic: &str,
        what: &str,
        pred: impl Fn(&[Record]) -> bool,
    ) -> Vec<Record> {
        for _ in 0..300 {
            let records = self.read(topic).await;
            if pred(&records) {
                return records;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn clickhouse_totals(&self) -> BTreeMap<(String, u32, String), i64> {
        #[derive(Debug, Deserialize, clickhouse::Row)]
        struct Row {
            region: String,
            interval_start: u32,
            channel: String,
            total: i64,
        }
        let want = REGIONS.len() * INTERVALS as usize * 2;
        let mut rows = Vec::new();
        for _ in 0..100 {
            rows = self
                .warehouse
                .fetch_all::<Row>(
                    "SELECT region, toUInt32(interval_start) AS interval_start, channel, total \
                     FROM region_totals FINAL",
                )
                .await
                .unwrap();
            if rows.len() >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        rows.into_iter()
            .map(|r| ((r.region, r.interval_start, r.channel), r.total))
            .collect()
    }

    async fn finish(self) {
        self.stop_tx.send(true).unwrap();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn expected() -> BTreeMap<(String, u32, String), i64> {
    let mut out = BTreeMap::new();
    for (ri, r) in REGIONS.iter().enumerate() {
        for k in 0..INTERVALS {
            for (c, ch) in ["import_wh", "export_wh"].iter().enumerate() {
                let sum: u64 = (0..METERS).map(|i| reading(ri, i, k)[c]).sum();
                out.insert(
                    (
                        r.to_string(),
                        ((T0 + k * STEP) / 1000) as u32,
                        ch.to_string(),
                    ),
                    sum as i64,
                );
            }
        }
    }
    out
}

fn count_kind(
    records: &[Record],
    pick: impl Fn(&AnyMessage) -> Option<String>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        if let Ok(m) = decode_any(&r.payload)
            && let Some(k) = pick(&m)
        {
            *out.entry(k).or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_aggregator_killed_mid_round_is_replaced_and_each_interval_has_one_total() {
    let env = Env::new().await;
    let share_secs = 30;
    let gateway = env.gateway(share_secs);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;

    // The first instance opens the rounds, then dies before any meter has answered.
    let first = tokio::spawn(env.aggregator(share_secs).run(env.stop.clone()));
    env.wait_for(&env.topics.control, "the first RoundOpens", |rs| {
        count_kind(rs, |m| {
            matches!(m, AnyMessage::RoundOpen(_)).then(|| "open".into())
        })
        .get("open")
        .is_some_and(|n| *n >= REGIONS.len() * INTERVALS as usize)
    })
    .await;
    first.abort();
    let _ = first.await;

    // Meters answer; a replacement with the same key and group adopts the open rounds.
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(share_secs).run(env.stop.clone()),
    )
    .await
    .expect("the replacement finishes the bounded run")
    .unwrap();
    assert_eq!(
        report.rounds_opened, 0,
        "the replacement opens nothing twice: {report:?}"
    );
    assert_eq!(report.totals, REGIONS.len() as u64 * INTERVALS as u64);

    assert_eq!(env.clickhouse_totals().await, expected());
    let totals = env.read(&env.topics.totals).await;
    let per_round = count_kind(&totals, |m| match m {
        AnyMessage::RegionTotal(t) => Some(format!("{}@{}", t.region, t.interval_start)),
        _ => None,
    });
    assert_eq!(per_round.len(), REGIONS.len() * INTERVALS as usize);
    assert!(
        per_round.values().all(|n| *n == 1),
        "exactly one total per interval: {per_round:?}"
    );
    let control = env.read(&env.topics.control).await;
    let opens = count_kind(&control, |m| match m {
        AnyMessage::RoundOpen(o) => {
            Some(format!("{}@{}#{}", o.region, o.interval_start, o.attempt))
        }
        _ => None,
    });
    assert!(
        opens.values().all(|n| *n == 1),
        "no round opened twice: {opens:?}"
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rogue_input_is_dead_lettered_with_its_reason_and_totals_stay_exact() {
    let env = Env::new().await;
    let share_secs = 20;
    let gateway = env.gateway(share_secs);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let aggregator = tokio::spawn(env.aggregator(share_secs).run(env.stop.clone()));
    let control = env
        .wait_for(&env.topics.control, "a RoundOpen", |rs| {
            rs.iter()
                .any(|r| matches!(decode_any(&r.payload), Ok(AnyMessage::RoundOpen(_))))
        })
        .await;
    let open = control
        .iter()
        .find_map(|r| match decode_any(&r.payload) {
            Ok(AnyMessage::RoundOpen(o)) => Some(o),
            _ => None,
        })
        .unwrap();

    // Garbage, and a bundle claiming to come from a roster member, signed by someone else.
    producer
        .send(
            &env.topics.shares,
            open.region.as_bytes(),
            b"not avro at all",
            None,
        )
        .await
        .unwrap();
    let impostor =
        MeterSecrets::generate(2048, &mut rand_chacha::ChaCha20Rng::seed_from_u64(5)).unwrap();
    let mut forged = ShareBundle {
        region: open.region.clone(),
        interval_start: open.interval_start,
        attempt: open.attempt,
        sender: open.roster[0].clone(),
        shares: vec![],
        sent_at: 0,
        signature: vec![],
    };
    sign_message(&impostor, &mut forged);
    producer
        .send_message(&env.topics.shares, open.region.as_bytes(), &forged)
        .await
        .unwrap();

    // The real meters answer; every round completes.
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(Duration::from_secs(120), aggregator)
        .await
        .expect("bounded run ends")
        .unwrap()
        .unwrap();
    assert_eq!(
        report.totals,
        REGIONS.len() as u64 * INTERVALS as u64,
        "{report:?}"
    );
    assert_eq!(env.clickhouse_totals().await, expected());

    let letters: Vec<DeadLetter> = env
        .read(&env.topics.dlq)
        .await
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).unwrap())
        .collect();
    let reasons: Vec<(RejectReason, Option<String>)> = letters
        .iter()
        .map(|l| (l.reason, l.origin.clone()))
        .collect();
    assert!(
        reasons.contains(&(RejectReason::Malformed, None)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(RejectReason::BadSignature, Some(open.roster[0].clone()))),
        "{reasons:?}"
    );
    let garbage = letters
        .iter()
        .find(|l| l.reason == RejectReason::Malformed)
        .unwrap();
    assert_eq!(
        garbage.payload, b"not avro at all",
        "the original bytes are kept"
    );
    assert_eq!(garbage.topic, env.topics.shares);
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_passes_an_untouched_log_and_names_a_tampered_total() {
    use zeal_services::audit::{AuditSettings, run_audit};
    let env = Env::new().await;
    let gateway = env.gateway(20);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(20).run(env.stop.clone()),
    )
    .await
    .expect("bounded run ends")
    .unwrap();
    assert_eq!(env.clickhouse_totals().await, expected());
    let settings = AuditSettings {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        group_id: unique("audit"),
        protocol: protocol(20),
        from: T0,
        to: T0 + (INTERVALS - 1) * STEP,
        region: None,
        trusted: vec![env.key().public()],
    };
    let clean = run_audit(&settings, Some(&env.warehouse)).await.unwrap();
    assert!(
        clean.ok(),
        "untouched log: {:?} {:?}",
        clean.rounds,
        clean.clickhouse
    );
    assert_eq!(clean.rounds.len(), REGIONS.len() * INTERVALS as usize);
    assert!(clean.clickhouse_checked);

    // Someone writes a different total for NL-UT-01's first interval into the totals topic.
    let totals = env.read(&env.topics.totals).await;
    let mut forged = totals
        .iter()
        .find_map(|r| match decode_any(&r.payload) {
            Ok(AnyMessage::RegionTotal(t)) if t.region == REGIONS[0] && t.interval_start == T0 => {
                Some(t)
            }
            _ => None,
        })
        .unwrap();
    forged.totals[0] += 5_000;
    forged.published_at += 1_000;
    let rogue =
        AggregatorKey::generate("agg-e2e", &mut rand_chacha::ChaCha20Rng::seed_from_u64(666));
    sign_message(&rogue, &mut forged);
    producer
        .send_message(&env.topics.totals, REGIONS[0].as_bytes(), &forged)
        .await
        .unwrap();
    // The sink writes it like any total (ReplacingMergeTree keeps the newest).
    for _ in 0..50 {
        if env.clickhouse_totals().await != expected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tampered = run_audit(&settings, Some(&env.warehouse)).await.unwrap();
    assert!(!tampered.ok());
    let bad: Vec<_> = tampered.rounds.iter().filter(|r| !r.ok()).collect();
    assert_eq!(bad.len(), 1, "only the tampered round is named: {bad:?}");
    assert_eq!(
        (bad[0].region.as_str(), bad[0].interval_start),
        (REGIONS[0], T0)
    );
    let checks: Vec<&str> = bad[0].findings.iter().map(|f| f.check).collect();
    assert!(
        checks.contains(&"one-total") && checks.contains(&"signature"),
        "{checks:?}"
    );
    assert!(
        tampered
            .clickhouse
            .iter()
            .any(|c| c.contains(REGIONS[0]) && c.contains("import_wh")),
        "ClickHouse now disagrees with the verified total: {:?}",
        tampered.clickhouse
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_partials_out_of_range_shares_and_replays_are_caught_and_contained() {
    use zeal_services::audit::{AuditSettings, run_audit};
    let mut env = Env::new().await;
    let liar = format!("{}-m001", REGIONS[0]);
    let cheat = format!("{}-m002", REGIONS[1]);
    env.drill = Drill {
        wrong_partials: [liar.clone()].into(),
        out_of_range_shares: [cheat.clone()].into(),
        replay_bundles: true,
    };
    env.intervals = 2;
    env.max_open = 1; // the second round opens after the first is decided, and carries it
    let gateway = env.gateway(20);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(20).run(env.stop.clone()),
    )
    .await
    .expect("bounded run ends")
    .unwrap();
    assert_eq!(
        (report.deferred, report.quarantined, report.totals),
        (2, 2, 2),
        "{report:?}"
    );

    // Interval 0 is deferred in both regions; interval 1 carries it, without the culprit.
    let culprit = [1usize, 2];
    let mut want = BTreeMap::new();
    for (ri, r) in REGIONS.iter().enumerate() {
        for (c, ch) in ["import_wh", "export_wh"].iter().enumerate() {
            let sum: u64 = (0..METERS)
                .filter(|i| *i != culprit[ri])
                .map(|i| reading(ri, i, 0)[c] + reading(ri, i, 1)[c])
                .sum();
            want.insert(
                (r.to_string(), ((T0 + STEP) / 1000) as u32, ch.to_string()),
                sum as i64,
            );
        }
    }
    let mut got = BTreeMap::new();
    for _ in 0..50 {
        got = env.clickhouse_totals().await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        got, want,
        "exact totals over the honest meters, carried energy included"
    );

    #[derive(Debug, Deserialize, clickhouse::Row)]
    struct Ev {
        #[allow(dead_code)] // selected to show in failure messages
        event: String,
        meter_id: String,
        reason: String,
    }
    let events: Vec<Ev> = env
        .warehouse
        .fetch_all("SELECT event, meter_id, reason FROM round_events FINAL WHERE event = 'QUARANTINE' ORDER BY meter_id")
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let reason_of = |m: &str| {
        events
            .iter()
            .find(|e| e.meter_id == m)
            .map(|e| e.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason_of(&liar).starts_with("InvalidPartial"), "{events:?}");
    assert!(
        reason_of(&cheat).starts_with("OutOfRangeShares"),
        "{events:?}"
    );

    let letters: Vec<DeadLetter> = env
        .read(&env.topics.dlq)
        .await
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).unwrap())
        .collect();
    assert!(
        letters.iter().any(|l| l.reason == RejectReason::Replay),
        "replays are dead-lettered"
    );
    assert!(
        letters
            .iter()
            .any(|l| l.reason == RejectReason::InvalidPartial
                && l.origin.as_deref() == Some(liar.as_str()))
    );

    let audit = run_audit(
        &AuditSettings {
            kafka: env.kafka.clone(),
            topics: env.topics.clone(),
            group_id: unique("audit"),
            protocol: protocol(20),
            from: T0,
            to: T0 + STEP,
            region: None,
            trusted: vec![env.key().public()],
        },
        Some(&env.warehouse),
    )
    .await
    .unwrap();
    assert!(
        audit.ok(),
        "deferrals, quarantines and carries all check out: {:?} {:?} {:?}",
        audit.rounds,
        audit.carry,
        audit.clickhouse
    );
    assert!(audit.pending_carry.is_empty());
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}
