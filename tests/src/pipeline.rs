//! The end-to-end harness: one deployment (its own topic namespace and ClickHouse database)
//! with a gateway of simulated meters, an aggregator and the ClickHouse sink, plus helpers to
//! read topics and ClickHouse back.

use crate::{kafka, unique};
use rand::SeedableRng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::{KafkaConfig, Record, Replay, TopicNames, ensure_topics};
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::AggregatorKey;
use zeal_schemas::{AnyMessage, decode_any};
use zeal_services::aggregator::{AggregatorService, AggregatorSettings};
use zeal_services::gateway::{Drill, GatewayService, GatewaySettings};
use zeal_services::metrics::{Metrics, Role};
use zeal_services::sink::{ClickHouseSink, SinkSettings};

pub const T0: i64 = 1_593_561_600_000;
pub const STEP: i64 = 900_000;
pub const REGIONS: [&str; 2] = ["NL-UT-01", "NL-GR-02"];
pub const METERS: usize = 6;
pub const INTERVALS: i64 = 2;

pub fn protocol(share_secs: u64) -> ProtocolConfig {
    ProtocolConfig {
        share_deadline: Duration::from_secs(share_secs),
        partial_deadline: Duration::from_secs(5),
        ..Default::default()
    }
}

pub fn reading(r: usize, i: usize, k: i64) -> Vec<u64> {
    vec![
        50 + (r as u64 * 71 + i as u64 * 29 + k as u64 * 7) % 500,
        (i as u64 + k as u64) % 40,
    ]
}

pub struct Env {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    pub warehouse: Warehouse,
    pub key_seed: u64,
    pub group: String,
    pub state: std::path::PathBuf,
    pub stop_tx: tokio::sync::watch::Sender<bool>,
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub drill: Drill,
    pub intervals: i64,
    pub max_open: usize,
    /// Shared by every instance of a role this Env starts (counts add up across instances).
    pub gateway_metrics: Metrics,
    pub aggregator_metrics: Metrics,
    pub sink_metrics: Metrics,
}

impl Env {
    pub async fn new() -> Env {
        let kafka = kafka();
        let topics = TopicNames::with_prefix(&format!("{}.", unique("zt")));
        ensure_topics(&kafka, &topics.specs(3, 1)).await.unwrap();
        let warehouse = crate::fresh_database("zt_faults").await;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        Env {
            kafka,
            topics,
            warehouse,
            key_seed: 99,
            group: unique("agg"),
            state: std::env::temp_dir().join(unique("zeal-gw")),
            stop_tx,
            stop,
            drill: Drill::default(),
            intervals: INTERVALS,
            max_open: 2,
            gateway_metrics: Metrics::new(Role::Gateway),
            aggregator_metrics: Metrics::new(Role::Aggregator),
            sink_metrics: Metrics::new(Role::Sink),
        }
    }

    pub fn key(&self) -> AggregatorKey {
        AggregatorKey::generate(
            "agg-e2e",
            &mut rand_chacha::ChaCha20Rng::seed_from_u64(self.key_seed),
        )
    }

    pub fn gateway(&self, share_secs: u64) -> GatewayService {
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
                metrics: self.gateway_metrics.clone(),
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

    pub fn aggregator(&self, share_secs: u64) -> AggregatorService {
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
                progress: None,
                metrics: self.aggregator_metrics.clone(),
            },
            self.key(),
        )
        .unwrap()
    }

    pub async fn sink(
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
                metrics: self.sink_metrics.clone(),
            },
            self.warehouse.clone(),
        )
        .await
        .unwrap();
        tokio::spawn(sink.run(self.stop.clone()))
    }

    pub async fn read(&self, topic: &str) -> Vec<Record> {
        Replay::start(&self.kafka, &unique("zt-read"), &[topic], 0, i64::MAX)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
    }

    pub async fn wait_for(
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

    pub async fn clickhouse_totals(&self) -> BTreeMap<(String, u32, String), i64> {
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

    /// GETs `path` from an HTTP server on loopback (metrics endpoints) and returns the body.
    pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_string()
    }

    pub async fn finish(self) {
        self.stop_tx.send(true).unwrap();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

pub fn expected() -> BTreeMap<(String, u32, String), i64> {
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

pub fn count_kind(
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
