//! `zeal aggregate`: the aggregator state machine on Kafka.
//!
//! One consumer-group member over the shares and partials topics. It owns the regions whose
//! partition it is assigned (all region-keyed topics share partition count and partitioner), opens
//! their rounds interval by interval once each interval is over, feeds bundles and partials to
//! the state machine, and publishes what it decides: RoundOpen, Redistribution, RoundOutcome and
//! QuarantineEvent to the control topic, totals to the totals topic, refused input to the
//! dead-letter topic. Offsets are committed after the outputs of a message are acknowledged.

use crate::registry::RegistryFollower;
use crate::{ServiceError, Shutdown, dlq, now_ms, stopping};
use futures::future::try_join_all;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use zeal_connectors::kafka::{
    GroupConsumer, KafkaConfig, KeyedProducer, Record, TopicNames, admin, partition_for_key,
};
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::aggregator::{Aggregator, Output};
use zeal_protocol::round::crypto::AggregatorKey;
use zeal_protocol::round::directory::Directory;
use zeal_schemas::{AnyMessage, RejectReason, decode_any, encode};

/// Settings of one aggregator instance.
#[derive(Debug, Clone)]
pub struct AggregatorSettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    /// Consumer group shared by all aggregator instances.
    pub group_id: String,
    pub protocol: ProtocolConfig,
    /// Start of the first interval to aggregate (ms since the epoch).
    pub first_interval: i64,
    /// Start of the last interval to aggregate, if the run is bounded (demo, tests).
    pub last_interval: Option<i64>,
    /// How long after an interval ends its round is opened (late readings).
    pub grace: Duration,
    /// Rounds open at once per region (bounds memory when catching up on history).
    pub max_open_per_region: usize,
    /// How often deadlines are checked.
    pub tick: Duration,
}

/// What an aggregator did, for logs, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggregatorReport {
    pub rounds_opened: u64,
    pub totals: u64,
    pub deferred: u64,
    pub abandoned: u64,
    pub reopened: u64,
    pub quarantined: u64,
    pub dead_letters: u64,
}

/// The aggregator service.
pub struct AggregatorService {
    settings: AggregatorSettings,
    key: AggregatorKey,
}

impl AggregatorService {
    /// An aggregator signing with `key` (shared by the instances of one deployment, so that a
    /// replacement publishes byte-identical decisions).
    pub fn new(settings: AggregatorSettings, key: AggregatorKey) -> Result<Self, ServiceError> {
        settings
            .protocol
            .validate()
            .map_err(|e| ServiceError::Settings(e.to_string()))?;
        Ok(AggregatorService { settings, key })
    }

    /// Runs until `shutdown` turns true, or until every interval up to `last_interval` is
    /// closed when the run is bounded.
    pub async fn run(self, shutdown: Shutdown) -> Result<AggregatorReport, ServiceError> {
        let s = self.settings;
        let id = self.key.id().to_string();
        let producer = KeyedProducer::new(&s.kafka)?;
        let mut dir = Directory::new(s.protocol.key_bits.min(2048));
        let mut registry = RegistryFollower::start(
            &s.kafka,
            &s.topics.registry,
            &format!("{}-registry", s.group_id),
            &id,
        )
        .await?;
        for letter in registry.catch_up(&mut dir).await? {
            dlq::publish(&producer, &s.topics.dlq, &letter).await?;
        }
        let partitions = admin::partition_count(&s.kafka, &s.topics.shares).await?;
        let consumer = GroupConsumer::subscribe(
            &s.kafka,
            &s.group_id,
            &[&s.topics.shares, &s.topics.partials],
        )?;
        let mut agg = Aggregator::new(self.key, s.protocol.clone());
        let step = i64::from(s.protocol.interval_seconds)
            * 1000
            * i64::from(s.protocol.intervals_per_round);
        let mut next: BTreeMap<String, i64> = BTreeMap::new();
        let mut report = AggregatorReport::default();
        let mut out = Outbox {
            producer: &producer,
            topics: &s.topics,
            id: &id,
            report: &mut report,
        };
        tracing::info!(aggregator = %id, group = %s.group_id, "aggregator started");
        loop {
            if stopping(&shutdown) {
                break;
            }
            for letter in registry.poll(&mut dir, Duration::from_millis(1)).await? {
                out.dead_letter(&letter).await?;
            }
            // Open every due round of the regions this instance owns.
            let now = now_ms();
            let owned: BTreeSet<i32> = consumer
                .assignment()?
                .into_iter()
                .filter(|(t, _)| *t == s.topics.shares)
                .map(|(_, p)| p)
                .collect();
            let mut bounded_done = s.last_interval.is_some();
            for region in dir.regions() {
                if !owned.contains(&partition_for_key(region.as_bytes(), partitions)) {
                    continue;
                }
                let n = next.entry(region.clone()).or_insert(s.first_interval);
                let open_here = agg
                    .active_rounds()
                    .iter()
                    .filter(|k| k.region == region)
                    .count();
                let mut room = s.max_open_per_region.saturating_sub(open_here);
                while room > 0
                    && *n + step + s.grace.as_millis() as i64 <= now
                    && s.last_interval.is_none_or(|last| *n <= last)
                {
                    let outputs = agg.open_round(&dir, &region, *n, now);
                    out.publish(outputs, None).await?;
                    *n += step;
                    room -= 1;
                }
                if s.last_interval.is_some_and(|last| *n <= last) {
                    bounded_done = false;
                }
            }
            if bounded_done && !owned.is_empty() && agg.open_rounds() == 0 && !next.is_empty() {
                tracing::info!("every interval of the bounded run is closed");
                break;
            }
            if let Some(record) = consumer.recv(s.tick).await? {
                let now = now_ms();
                let outputs = match decode_any(&record.payload) {
                    Ok(AnyMessage::ShareBundle(b)) => {
                        agg.on_share_bundle(&mut dir, b, &record.payload, now)
                    }
                    Ok(AnyMessage::Partial(p)) => agg.on_partial(&mut dir, p, &record.payload, now),
                    Ok(other) => {
                        let letter = dlq::letter(
                            &record,
                            RejectReason::Malformed,
                            format!("a {} does not belong on this topic", other.kind()),
                            None,
                            None,
                            &id,
                            now,
                        );
                        out.dead_letter(&letter).await?;
                        Vec::new()
                    }
                    Err(e) => {
                        out.dead_letter(&dlq::undecodable(&record, &e, &id, now))
                            .await?;
                        Vec::new()
                    }
                };
                out.publish(outputs, Some(&record)).await?;
                consumer.commit(&record).await?;
            }
            let outputs = agg.on_tick(&mut dir, now_ms());
            out.publish(outputs, None).await?;
        }
        tracing::info!(?report, "aggregator stopped");
        Ok(report)
    }
}

struct Outbox<'a> {
    producer: &'a KeyedProducer,
    topics: &'a TopicNames,
    id: &'a str,
    report: &'a mut AggregatorReport,
}

impl Outbox<'_> {
    async fn dead_letter(&mut self, letter: &zeal_schemas::DeadLetter) -> Result<(), ServiceError> {
        self.report.dead_letters += 1;
        dlq::publish(self.producer, &self.topics.dlq, letter).await?;
        Ok(())
    }

    /// Publishes outputs concurrently; per key (region) they keep their order.
    async fn publish(
        &mut self,
        outputs: Vec<Output>,
        source: Option<&Record>,
    ) -> Result<(), ServiceError> {
        let (producer, topics) = (self.producer, self.topics);
        let mut sends = Vec::new();
        for o in outputs {
            let (topic, region, bytes) = match &o {
                Output::Open(m) => {
                    self.report.rounds_opened += 1;
                    (&topics.control, m.region.clone(), encode(m))
                }
                Output::Redistribute(m) => (&topics.control, m.region.clone(), encode(m)),
                Output::Outcome(m) => {
                    match m.status {
                        zeal_schemas::RoundStatus::Deferred => self.report.deferred += 1,
                        zeal_schemas::RoundStatus::Abandoned => self.report.abandoned += 1,
                        zeal_schemas::RoundStatus::Reopened => self.report.reopened += 1,
                        _ => {}
                    }
                    tracing::info!(region = %m.region, interval = m.interval_start, attempt = m.attempt, status = ?m.status, reason = %m.reason, "round outcome");
                    (&topics.control, m.region.clone(), encode(m))
                }
                Output::Quarantine(m) => {
                    self.report.quarantined += 1;
                    (&topics.control, m.region.clone(), encode(m))
                }
                Output::Total(m) => {
                    self.report.totals += 1;
                    (&topics.totals, m.region.clone(), encode(m))
                }
                Output::Reject(r) => {
                    let Some(record) = source else { continue };
                    let letter = dlq::rejected(record, r, self.id, now_ms());
                    self.report.dead_letters += 1;
                    tracing::warn!(reason = ?r.reason, origin = ?r.origin, detail = %r.detail, "rejected");
                    let key = letter.region.clone().unwrap_or_default();
                    (&topics.dlq, key, encode(&letter))
                }
            };
            let bytes = bytes.map_err(zeal_connectors::kafka::KafkaError::from)?;
            sends.push(async move { producer.send(topic, region.as_bytes(), &bytes, None).await });
        }
        try_join_all(sends).await?;
        Ok(())
    }
}
