//! The demo's daily edge round: a second deployment of the same pipeline (own topics, the daily
//! protocol of `docs/edge-daily.toml`) in which every household's gateway runs the model on its
//! own day and contributes the day's energy per appliance category and a one-hot vector of its
//! consumption bucket. Each region learns its appliance mix and its consumption histogram (the
//! game's efficient-neighbour mark); nobody learns one household's values.

use anyhow::Context;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, TopicNames, ensure_topics};
use zeal_connectors::keystore::KeyStore;
use zeal_disaggregation::Disaggregator;
use zeal_embedded::store::ParquetStore;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::AggregatorKey;
use zeal_services::aggregator::{AggregatorService, AggregatorSettings};
use zeal_services::edge::{daily_protocol, daily_values};
use zeal_services::gateway::{GatewayService, GatewaySettings};
use zeal_services::metrics::{Metrics, Role};
use zeal_services::sink::{ClickHouseSink, Sink, SinkSettings};

/// What the daily round needs from the demo.
pub struct DailyRound<'a> {
    pub kafka: &'a KafkaConfig,
    pub topic_prefix: String,
    pub base: &'a ProtocolConfig,
    /// `(meter_id, region)` of every household.
    pub meters: Vec<(String, String)>,
    /// Each meter's `(interval_start, import_wh, export_wh)`.
    pub readings: BTreeMap<String, Vec<(i64, u64, u64)>>,
    /// Key stores of the demo's gateways (the meters' keys are reused, not generated again).
    pub key_stores: Vec<PathBuf>,
    pub state_dir: PathBuf,
    pub warehouse: Option<&'a Warehouse>,
    pub store_dir: &'a Path,
}

/// What it did.
pub struct DailyReport {
    pub households: usize,
    pub days: usize,
    pub totals: u64,
}

/// Runs the daily round for every complete day and waits until its totals are stored.
pub async fn run(r: DailyRound<'_>) -> anyhow::Result<DailyReport> {
    let protocol = daily_protocol(r.base);
    let model = Disaggregator::embedded()?;
    let mut values = Vec::new();
    for (id, rs) in &r.readings {
        for (day, v) in daily_values(&model, rs)? {
            values.push((id.clone(), day, v));
        }
    }
    let days: std::collections::BTreeSet<i64> = values.iter().map(|v| v.1).collect();
    let (Some(&first), Some(&last)) = (days.first(), days.last()) else {
        anyhow::bail!("no complete day to aggregate");
    };
    let topics = TopicNames::with_prefix(&r.topic_prefix);
    ensure_topics(r.kafka, &topics.specs(4, 1)).await?;
    // The same meters, the same keys: copy them into this deployment's key store.
    let keys = KeyStore::open(r.state_dir.join("keys"))?;
    let sources: Vec<KeyStore> = r
        .key_stores
        .iter()
        .filter(|p| p.exists())
        .map(KeyStore::open)
        .collect::<Result<_, _>>()?;
    for (id, _) in &r.meters {
        for s in &sources {
            if let Some(secrets) = s.load(id)? {
                keys.save(id, &secrets)?;
                break;
            }
        }
    }
    let key = AggregatorKey::generate(
        "demo-daily-aggregator",
        &mut rand_chacha::ChaCha20Rng::from_os_rng(),
    );
    let settings = GatewaySettings {
        kafka: r.kafka.clone(),
        topics: topics.clone(),
        gateway_id: "demo-daily-gateway".into(),
        protocol: protocol.clone(),
        trusted: vec![key.public()],
        state_dir: r.state_dir.clone(),
        drill: Default::default(),
        readings_opt_in: Default::default(),
        metrics: Metrics::new(Role::Gateway),
    };
    let meters = r.meters.clone();
    let mut gateway =
        tokio::task::spawn_blocking(move || GatewayService::new(settings, &meters)).await??;
    for (id, day, v) in &values {
        gateway.record_reading(id, *day, v.clone(), None);
    }
    let producer = KeyedProducer::new(r.kafka)?;
    gateway.enrol(&producer).await?;
    drop(producer);

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let sink_settings = SinkSettings {
        kafka: r.kafka.clone(),
        topics: topics.clone(),
        group_id: "demo-daily-sink".into(),
        batch_rows: 20_000,
        max_delay: Duration::from_millis(300),
        metrics: Metrics::new(Role::Sink),
    };
    let sink = match r.warehouse {
        Some(w) => tokio::spawn(
            ClickHouseSink::new(sink_settings, w.clone())
                .await?
                .run(stop.clone()),
        ),
        None => tokio::spawn(
            Sink::parquet(sink_settings, ParquetStore::open(r.store_dir)?).run(stop.clone()),
        ),
    };
    let gw = tokio::spawn(gateway.run(stop.clone()));
    let aggregator = AggregatorService::new(
        AggregatorSettings {
            kafka: r.kafka.clone(),
            topics: topics.clone(),
            group_id: "demo-daily-aggregators".into(),
            protocol,
            first_interval: first,
            last_interval: Some(last),
            grace: Duration::ZERO,
            max_open_per_region: 2,
            tick: Duration::from_millis(100),
            progress: None,
            metrics: Metrics::new(Role::Aggregator),
        },
        key,
    )?;
    let report = tokio::time::timeout(Duration::from_secs(600), aggregator.run(stop.clone()))
        .await
        .context("the daily round did not finish within 10 minutes")??;
    // Wait until the sink has stored what the aggregator published.
    let regions: std::collections::BTreeSet<&String> = r.meters.iter().map(|m| &m.1).collect();
    let want = (regions.len() * days.len()) as u64;
    for _ in 0..120 {
        if stored_daily_totals(r.warehouse, r.store_dir).await? >= want.min(report.totals) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop_tx.send(true);
    gw.await??;
    sink.await??;
    Ok(DailyReport {
        households: r.meters.len(),
        days: days.len(),
        totals: report.totals,
    })
}

/// How many (region, day) daily totals the store holds.
async fn stored_daily_totals(
    warehouse: Option<&Warehouse>,
    store_dir: &Path,
) -> anyhow::Result<u64> {
    let sql = "SELECT count(*) AS n FROM region_totals WHERE interval_seconds = 86400 AND channel = 'bucket_00'";
    Ok(match warehouse {
        Some(w) => w
            .query_text(&sql.replace("region_totals", "region_totals FINAL"))
            .await?
            .trim()
            .parse()
            .unwrap_or(0),
        None => {
            if !store_dir.join("region_totals").exists() {
                return Ok(0);
            }
            // Only the table the query reads: the store loads every part of each table it is given.
            let totals = &zeal_services::sink::EMBEDDED_TABLES[..1];
            debug_assert_eq!(totals[0].name, "region_totals");
            let df = ParquetStore::open(store_dir)?.query(sql, totals)?;
            df.column("n")?
                .get(0)
                .ok()
                .and_then(|v| v.extract::<u64>())
                .unwrap_or(0)
        }
    })
}
