//! `zeal gateway`: meter agents on Kafka.
//!
//! A gateway acts for a set of meters: it keeps their keys in a key store, enrols them in the
//! registry, reads the control topic of its regions' partitions (manual assignment, its own
//! group id for committed positions), and answers RoundOpen with share bundles and
//! Redistribution with partials. Reveal marks are appended and synced to a state file *before*
//! a partial is published, so a restart never reveals a second partial for an interval.

use crate::metrics::Metrics;
use crate::registry::RegistryFollower;
use crate::{LAG_EVERY, ServiceError, Shutdown, dlq, now_ms, stopping, update_lag};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use zeal_connectors::kafka::{
    AssignedConsumer, KafkaConfig, KeyedProducer, StartAt, TopicNames, admin, partition_for_key,
};
use zeal_connectors::keystore::KeyStore;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::{AggregatorPublic, MeterSecrets};
use zeal_protocol::round::directory::Directory;
use zeal_protocol::round::gateway::MeterAgent;
use zeal_schemas::{AnyMessage, RejectReason, decode_any};

/// Settings of one gateway.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    /// Names this gateway to the broker (committed control-topic positions).
    pub gateway_id: String,
    pub protocol: ProtocolConfig,
    /// Aggregator keys whose control messages are trusted.
    pub trusted: Vec<AggregatorPublic>,
    /// Key store and reveal log live here.
    pub state_dir: PathBuf,
    /// Deliberate faults for drills (alarms, runbooks) and tests; empty in production.
    pub drill: Drill,
    /// Where this gateway counts what it publishes and refuses.
    pub metrics: Metrics,
}

/// Faults a gateway can inject on purpose, to check that the pipeline detects, attributes and
/// contains them (`zeal gateway --drill ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drill {
    /// These meters publish partials whose decryption proof is wrong.
    pub wrong_partials: BTreeSet<String>,
    /// These meters send their first recipient an out-of-range share (validly signed).
    pub out_of_range_shares: BTreeSet<String>,
    /// Every share bundle is published twice.
    pub replay_bundles: bool,
}

impl Drill {
    /// Whether any fault is enabled.
    pub fn is_active(&self) -> bool {
        !self.wrong_partials.is_empty()
            || !self.out_of_range_shares.is_empty()
            || self.replay_bundles
    }
}

/// Replaces the bundle's shares to its first recipient with an encryption of a value far
/// outside the slot bound, re-signed by the sender (an attributable fault).
fn drill_out_of_range(
    bundle: &mut zeal_schemas::ShareBundle,
    secrets: &MeterSecrets,
    dir: &Directory,
    open: &zeal_schemas::RoundOpen,
    rng: &mut ChaCha20Rng,
) {
    use zeal_protocol::round::crypto::{Plaintext, sign_message};
    use zeal_protocol::round::verify::{layout_for, round_key};
    let Some(first) = bundle.shares.first().map(|s| s.recipient.clone()) else {
        return;
    };
    let Some(recipient) = dir.get(&first) else {
        return;
    };
    let layout = layout_for(open, recipient.keys.modulus_bits());
    let huge = Plaintext(power_of_two(layout.slot_bits - 1));
    let key = round_key(open);
    for s in bundle.shares.iter_mut().filter(|s| s.recipient == first) {
        s.ciphertext = recipient.keys.encrypt(&huge, rng).to_bytes(&recipient.keys);
        s.signature =
            secrets.sign_share(&key, &bundle.sender, &s.recipient, s.index, &s.ciphertext);
    }
    sign_message(secrets, bundle);
}

fn power_of_two(bits: u32) -> zeal_protocol::round::crypto::Integer {
    zeal_protocol::round::crypto::Integer::from(1u32) << bits
}

/// What a gateway did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayReport {
    pub bundles: u64,
    pub partials: u64,
    pub refusals: u64,
    pub dead_letters: u64,
}

/// The gateway service.
pub struct GatewayService {
    settings: GatewaySettings,
    agents: BTreeMap<String, MeterAgent>,
    reveal_log: PathBuf,
}

impl GatewayService {
    /// Loads (or creates and stores) the keys of `meters` as (meter id, region) and restores
    /// their reveal marks.
    pub fn new(
        settings: GatewaySettings,
        meters: &[(String, String)],
    ) -> Result<Self, ServiceError> {
        settings
            .protocol
            .validate()
            .map_err(|e| ServiceError::Settings(e.to_string()))?;
        if settings.trusted.is_empty() {
            return Err(ServiceError::Settings(
                "a gateway needs at least one trusted aggregator key".into(),
            ));
        }
        let store = KeyStore::open(settings.state_dir.join("keys"))?;
        let mut rng = ChaCha20Rng::from_os_rng();
        let reveal_log = settings.state_dir.join("revealed.log");
        let revealed = read_reveals(&reveal_log)?;
        let mut agents = BTreeMap::new();
        for (id, region) in meters {
            let secrets = match store.load(id)? {
                Some(s) => s,
                None => {
                    let s = MeterSecrets::generate(settings.protocol.key_bits, &mut rng)
                        .map_err(|e| ServiceError::Settings(e.to_string()))?;
                    store.save(id, &s)?;
                    s
                }
            };
            let mut agent = MeterAgent::new(
                id.clone(),
                region.clone(),
                secrets,
                settings.protocol.clone(),
                settings.trusted.clone(),
            );
            agent.restore_revealed(revealed.get(id).into_iter().flatten().copied());
            agents.insert(id.clone(), agent);
        }
        Ok(GatewayService {
            settings,
            agents,
            reveal_log,
        })
    }

    /// Records a meter's values for an interval (one value per channel). Opted-in households
    /// share their readings from a v2 gateway (`zeal v2 gateway --share-readings`), signed with
    /// their certified identity keys; v1 publishes none.
    pub fn record_reading(&mut self, meter_id: &str, interval_start: i64, values: Vec<u64>) {
        if let Some(a) = self.agents.get_mut(meter_id) {
            a.record_reading(interval_start, values);
        }
    }

    /// Meter ids this gateway acts for.
    pub fn meters(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }

    /// Publishes every meter's enrolment to the registry (idempotent: the topic is compacted
    /// by meter id and an enrolment with the same keys changes nothing).
    pub async fn enrol(&self, producer: &KeyedProducer) -> Result<(), ServiceError> {
        let now = now_ms();
        for a in self.agents.values() {
            let e = a.secrets().enrolment(a.meter_id(), a.region(), now);
            producer
                .send_message(&self.settings.topics.registry, a.meter_id().as_bytes(), &e)
                .await?;
            self.settings.metrics.published("enrolment");
        }
        Ok(())
    }

    fn persist_reveal(&self, meter: &str, interval: i64) -> Result<(), ServiceError> {
        let err = |source| ServiceError::State {
            path: self.reveal_log.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.reveal_log)
            .map_err(err)?;
        writeln!(f, "{meter} {interval}").map_err(err)?;
        f.sync_all().map_err(err)
    }

    /// Enrols the meters, then serves rounds until `shutdown` turns true.
    pub async fn run(mut self, shutdown: Shutdown) -> Result<GatewayReport, ServiceError> {
        let s = self.settings.clone();
        let producer = KeyedProducer::new(&s.kafka)?;
        self.enrol(&producer).await?;
        let mut report = GatewayReport::default();
        let mut dir = Directory::new(s.protocol.key_bits.min(2048));
        let mut registry = RegistryFollower::start(
            &s.kafka,
            &s.topics.registry,
            &format!("{}-registry", s.gateway_id),
            &s.gateway_id,
        )
        .await?;
        for letter in registry.catch_up(&mut dir).await? {
            report.dead_letters += 1;
            dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
        }
        let partitions = admin::partition_count(&s.kafka, &s.topics.control).await?;
        let regions: BTreeSet<String> = self
            .agents
            .values()
            .map(|a| a.region().to_string())
            .collect();
        let mine: BTreeSet<i32> = regions
            .iter()
            .map(|r| partition_for_key(r.as_bytes(), partitions))
            .collect();
        let control = AssignedConsumer::new(&s.kafka, &format!("{}-control", s.gateway_id))?;
        let mut assignment = Vec::new();
        for p in &mine {
            let start =
                match tokio::task::block_in_place(|| committed(&control, &s.topics.control, *p))? {
                    Some(o) => StartAt::Offset(o),
                    None => StartAt::Beginning,
                };
            assignment.push((s.topics.control.as_str(), *p, start));
        }
        control.assign(&assignment)?;
        let mut rng = ChaCha20Rng::from_os_rng();
        let mut last_lag = std::time::Instant::now();
        tracing::info!(gateway = %s.gateway_id, meters = self.agents.len(), ?regions, "gateway started");
        while !stopping(&shutdown) {
            if last_lag.elapsed() >= LAG_EVERY {
                update_lag(&s.metrics, tokio::task::block_in_place(|| control.lag()));
                last_lag = std::time::Instant::now();
            }
            match registry.poll(&mut dir, Duration::from_millis(1)).await {
                Ok(letters) => {
                    for letter in letters {
                        report.dead_letters += 1;
                        dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "registry read failed; retrying"),
            }
            let record = match control.recv(Duration::from_millis(200)).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    // The broker may be restarting: librdkafka reconnects; keep going.
                    tracing::warn!(error = %e, "control read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let now = now_ms();
            match decode_any(&record.payload) {
                Ok(AnyMessage::RoundOpen(open)) => {
                    let mut sends = Vec::new();
                    for agent in self
                        .agents
                        .values_mut()
                        .filter(|a| a.region() == open.region)
                    {
                        match agent.on_round_open(&dir, &open, now, &mut rng) {
                            Ok(Some(mut bundle)) => {
                                if s.drill.out_of_range_shares.contains(agent.meter_id()) {
                                    tracing::warn!(
                                        meter = agent.meter_id(),
                                        "DRILL: out-of-range share"
                                    );
                                    drill_out_of_range(
                                        &mut bundle,
                                        agent.secrets(),
                                        &dir,
                                        &open,
                                        &mut rng,
                                    );
                                }
                                if s.drill.replay_bundles {
                                    sends.push(bundle.clone());
                                }
                                sends.push(bundle)
                            }
                            Ok(None) => {}
                            Err(refusal) => {
                                report.refusals += 1;
                                tracing::warn!(meter = agent.meter_id(), %refusal, "refused a round");
                                let letter = dlq::letter(
                                    &record,
                                    RejectReason::Other,
                                    format!("{} refused: {refusal}", agent.meter_id()),
                                    Some(open.aggregator_id.clone()),
                                    Some(open.region.clone()),
                                    &s.gateway_id,
                                    now,
                                );
                                dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
                            }
                        }
                    }
                    let futs = sends
                        .iter()
                        .map(|b| producer.send_message(&s.topics.shares, b.region.as_bytes(), b));
                    let sent = futures::future::try_join_all(futs).await?.len();
                    report.bundles += sent as u64;
                    for _ in 0..sent {
                        s.metrics.published("share_bundle");
                    }
                }
                Ok(AnyMessage::Redistribution(r)) => {
                    if let Some(agent) = self.agents.get_mut(&r.recipient) {
                        match agent.on_redistribution(&dir, &r) {
                            Ok(Some(mut partial)) => {
                                let meter = agent.meter_id().to_string();
                                if s.drill.wrong_partials.contains(&meter) {
                                    tracing::warn!(%meter, "DRILL: wrong partial");
                                    if let Some(last) = partial.plaintexts[0].last_mut() {
                                        *last ^= 1;
                                    }
                                    zeal_protocol::round::crypto::sign_message(
                                        agent.secrets(),
                                        &mut partial,
                                    );
                                }
                                self.persist_reveal(&meter, partial.interval_start)?;
                                producer
                                    .send_message(
                                        &s.topics.partials,
                                        partial.region.as_bytes(),
                                        &partial,
                                    )
                                    .await?;
                                report.partials += 1;
                                s.metrics.published("partial");
                            }
                            Ok(None) => {}
                            Err(refusal) => {
                                report.refusals += 1;
                                tracing::warn!(meter = %r.recipient, %refusal, "refused to decrypt");
                                let letter = dlq::letter(
                                    &record,
                                    RejectReason::Other,
                                    format!("{} refused: {refusal}", r.recipient),
                                    Some(r.aggregator_id.clone()),
                                    Some(r.region.clone()),
                                    &s.gateway_id,
                                    now,
                                );
                                dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
                            }
                        }
                    }
                }
                Ok(AnyMessage::RoundOutcome(o)) => {
                    for agent in self.agents.values_mut().filter(|a| a.region() == o.region) {
                        if let Err(refusal) = agent.on_outcome(&o) {
                            report.refusals += 1;
                            tracing::warn!(meter = agent.meter_id(), %refusal, "ignored an outcome");
                        }
                    }
                }
                Ok(AnyMessage::QuarantineEvent(q)) => dir.quarantine(&q.meter_id),
                Ok(_) => {}
                Err(e) => {
                    report.dead_letters += 1;
                    dlq::publish(
                        &producer,
                        &s.topics.dlq,
                        &dlq::undecodable(&record, &e, &s.gateway_id, now),
                        &s.metrics,
                    )
                    .await?;
                }
            }
            if let Err(e) = tokio::task::block_in_place(|| control.commit(&record)) {
                tracing::warn!(error = %e, "commit failed; the next commit covers it");
            }
        }
        tracing::info!(?report, "gateway stopped");
        Ok(report)
    }
}

fn committed(
    consumer: &AssignedConsumer,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, zeal_connectors::kafka::KafkaError> {
    consumer.committed_offset(topic, partition)
}

fn read_reveals(path: &PathBuf) -> Result<BTreeMap<String, Vec<i64>>, ServiceError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(ServiceError::State {
                path: path.clone(),
                source,
            });
        }
    };
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        if let (Some(m), Some(i)) = (parts.next(), parts.next().and_then(|i| i.parse().ok())) {
            out.entry(m.to_string()).or_default().push(i);
        }
    }
    Ok(out)
}
