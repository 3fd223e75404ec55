//! `zeal aggregate`: the aggregator state machine on Kafka.
//!
//! One consumer-group member over the shares and partials topics. It owns the regions whose
//! partition it is assigned (all region-keyed topics share partition count and partitioner), opens
//! their rounds interval by interval once each interval is over, feeds bundles and partials to
//! the state machine, and publishes what it decides: RoundOpen, Redistribution, RoundOutcome and
//! QuarantineEvent to the control topic, totals to the totals topic, refused input to the
//! dead-letter topic. Offsets are committed after the outputs of a message are acknowledged.

use crate::metrics::Metrics;
use crate::registry::RegistryFollower;
use crate::{LAG_EVERY, ServiceError, Shutdown, dlq, now_ms, stopping, update_lag};
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
    /// Counts closed rounds, for progress displays.
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Where this instance counts rounds, folds, dead letters and lag.
    pub metrics: Metrics,
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

    /// Runs until `shutdown` turns true, or, when the run is bounded, until every interval up
    /// to `last_interval` is closed in the regions this instance owns (an instance that owns no
    /// region keeps running until shutdown).
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
            dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
        }
        let partitions = admin::partition_count(&s.kafka, &s.topics.shares).await?;
        let step = i64::from(s.protocol.interval_seconds)
            * 1000
            * i64::from(s.protocol.intervals_per_round);
        let mut agg = Aggregator::new(self.key, s.protocol.clone());
        // Decisions already on the log (by this deployment's key): adopt them, never repeat them.
        let restored = restore(&s, &id, &mut agg, &mut dir, &|_| true).await?;
        let mut next: BTreeMap<String, i64> = restored.next_interval(step);
        // Where the input topics ended when this instance started: records before these are
        // re-deliveries, and deadlines wait until they are all read again.
        let mut startup_ends = BTreeMap::new();
        let probe = zeal_connectors::kafka::AssignedConsumer::new(&s.kafka, &s.group_id)?;
        for topic in [&s.topics.shares, &s.topics.partials] {
            for p in 0..partitions {
                let (_, high) = tokio::task::block_in_place(|| probe.watermarks(topic, p))?;
                startup_ends.insert((topic.clone(), p), high);
            }
        }
        drop(probe);
        let consumer = GroupConsumer::subscribe(
            &s.kafka,
            &s.group_id,
            &[&s.topics.shares, &s.topics.partials],
        )?;
        let mut catch_up = CatchUp::new(startup_ends);
        // Partitions owned at the previous iteration (None: not assigned yet).
        let mut last_owned: Option<BTreeSet<i32>> = None;
        let mut inflight = Inflight::default();
        let mut last_commit = std::time::Instant::now();
        let mut report = AggregatorReport::default();
        let progress = s.progress.clone();
        let mut last_lag = std::time::Instant::now();
        let mut out = Outbox {
            progress,
            metrics: &s.metrics,
            opened_at: BTreeMap::new(),
            producer: &producer,
            topics: &s.topics,
            id: &id,
            report: &mut report,
            logged: restored.logged,
        };
        if !restored.adopted.is_empty() {
            tracing::info!(rounds = ?restored.adopted, "adopted open rounds from the control topic");
        }
        tracing::info!(aggregator = %id, group = %s.group_id, "aggregator started");
        loop {
            if stopping(&shutdown) {
                break;
            }
            match registry.poll(&mut dir, Duration::from_millis(1)).await {
                Ok(letters) => {
                    for letter in letters {
                        out.dead_letter(&letter).await?;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "registry read failed; retrying"),
            }
            // Open every due round of the regions this instance owns.
            let now = now_ms();
            let assignment = consumer.assignment().unwrap_or_default();
            let owned: BTreeSet<i32> = assignment
                .iter()
                .filter(|(t, _)| *t == s.topics.shares)
                .map(|(_, p)| *p)
                .collect();
            let changed = match &last_owned {
                None => !owned.is_empty(),
                Some(before) => *before != owned,
            };
            if changed {
                let before = last_owned.replace(owned.clone());
                if let Some(before) = before {
                    // A rebalance. Regions that left are another instance's now: drop their
                    // rounds (never close them here). Regions that arrived may have rounds the
                    // previous owner opened: adopt them from the log, then re-read their input.
                    let part = |region: &str| partition_for_key(region.as_bytes(), partitions);
                    for round in agg.active_rounds() {
                        if !owned.contains(&part(&round.region)) {
                            agg.forget_region(&round.region);
                        }
                    }
                    inflight.keep_partitions(&owned);
                    let gained: BTreeSet<i32> = owned.difference(&before).copied().collect();
                    if !gained.is_empty() {
                        let adopt = |region: &str| gained.contains(&part(region));
                        let r = restore(&s, &id, &mut agg, &mut dir, &adopt).await?;
                        out.logged.extend(r.logged.iter().cloned());
                        for (region, n) in r.next_interval(step) {
                            let e = next.entry(region).or_insert(n);
                            *e = (*e).max(n);
                        }
                        let mut ends = BTreeMap::new();
                        for topic in [&s.topics.shares, &s.topics.partials] {
                            for p in &gained {
                                let (_, high) =
                                    tokio::task::block_in_place(|| consumer.watermarks(topic, *p))?;
                                ends.insert((topic.clone(), *p), high);
                            }
                        }
                        tracing::info!(partitions = ?gained, adopted = ?r.adopted, "rebalance: took over regions");
                        catch_up.expect(ends);
                    }
                }
            }
            let was_caught_up = catch_up.done;
            let caught_up = catch_up.check(&consumer, &assignment)?;
            if caught_up && !was_caught_up {
                for round in agg.active_rounds() {
                    if !owned.contains(&partition_for_key(round.region.as_bytes(), partitions)) {
                        agg.forget_region(&round.region);
                    }
                }
            }
            let mut bounded_done = s.last_interval.is_some() && caught_up;
            // An instance that owns no known region is never done on its own: its partitions
            // may be the ones the next rebalance hands it.
            let mut owns_a_region = false;
            for region in dir.regions() {
                if !caught_up {
                    break;
                }
                if !owned.contains(&partition_for_key(region.as_bytes(), partitions)) {
                    continue;
                }
                owns_a_region = true;
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
            if bounded_done && owns_a_region && agg.open_rounds() == 0 {
                tracing::info!("every interval of the bounded run is closed");
                break;
            }
            let received = match consumer.recv(s.tick).await {
                Ok(r) => r,
                Err(e) => {
                    // The broker may be restarting: librdkafka reconnects; keep going.
                    tracing::warn!(error = %e, "consume failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    None
                }
            };
            if let Some(record) = received {
                let now = now_ms();
                catch_up.seen(&record);
                let redelivered = catch_up.is_redelivery(&record);
                let mut round_of = None;
                let mut outputs = match decode_any(&record.payload) {
                    Ok(AnyMessage::ShareBundle(b)) => {
                        round_of = Some((b.region.clone(), b.interval_start));
                        let ciphertexts = b.shares.len() as u64;
                        let outputs = agg.on_share_bundle(&mut dir, b, &record.payload, now);
                        if !outputs.iter().any(|o| matches!(o, Output::Reject(_))) {
                            s.metrics.folded(ciphertexts);
                        }
                        outputs
                    }
                    Ok(AnyMessage::Partial(p)) => {
                        round_of = Some((p.region.clone(), p.interval_start));
                        agg.on_partial(&mut dir, p, &record.payload, now)
                    }
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
                let rejected = outputs.iter().any(|o| matches!(o, Output::Reject(_)));
                if redelivered {
                    // Re-reading what an earlier instance already judged: no second dead letter.
                    outputs.retain(|o| {
                        !matches!(o, Output::Reject(r) if matches!(r.reason, RejectReason::Replay | RejectReason::Late))
                    });
                }
                match round_of {
                    Some(round) if !rejected => inflight.hold(&record, round),
                    _ => inflight.pass(&record),
                }
                inflight.release_closed(&outputs);
                out.publish(outputs, Some(&record)).await?;
            }
            if caught_up {
                let outputs = agg.on_tick(&mut dir, now_ms());
                inflight.release_closed(&outputs);
                out.publish(outputs, None).await?;
            }
            if last_lag.elapsed() >= LAG_EVERY {
                update_lag(&s.metrics, tokio::task::block_in_place(|| consumer.lag()));
                last_lag = std::time::Instant::now();
            }
            if last_commit.elapsed() >= Duration::from_millis(250) {
                let safe = inflight.safe_offsets();
                if !safe.is_empty() {
                    let refs: Vec<&Record> = safe.iter().collect();
                    if let Err(e) = consumer.commit_all(&refs).await {
                        tracing::warn!(error = %e, "commit failed; will retry");
                    }
                }
                last_commit = std::time::Instant::now();
            }
        }
        let safe = inflight.safe_offsets();
        let refs: Vec<&Record> = safe.iter().collect();
        if !refs.is_empty() {
            consumer.commit_all(&refs).await?;
        }
        tracing::info!(?report, "aggregator stopped");
        Ok(report)
    }
}

struct Outbox<'a> {
    progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    metrics: &'a Metrics,
    /// When this instance opened each round attempt it has in progress (latency histogram).
    opened_at: BTreeMap<(String, i64), std::time::Instant>,
    producer: &'a KeyedProducer,
    topics: &'a TopicNames,
    id: &'a str,
    report: &'a mut AggregatorReport,
    /// Decisions already on the log (found at startup): not published again.
    logged: BTreeSet<String>,
}

/// The identity of a decision on the log: at most one of each is ever published.
fn identity(o: &Output) -> Option<String> {
    Some(match o {
        Output::Open(m) => format!("open/{}/{}/{}", m.region, m.interval_start, m.attempt),
        Output::Redistribute(m) => format!(
            "redistribute/{}/{}/{}/{}",
            m.region, m.interval_start, m.attempt, m.recipient
        ),
        Output::Outcome(m) => format!("outcome/{}/{}/{}", m.region, m.interval_start, m.attempt),
        Output::Total(m) => format!("total/{}/{}", m.region, m.interval_start),
        Output::Quarantine(m) => format!(
            "quarantine/{}/{}/{}/{}",
            m.region, m.meter_id, m.interval_start, m.attempt
        ),
        Output::Reject(_) => return None,
    })
}

impl Outbox<'_> {
    async fn dead_letter(&mut self, letter: &zeal_schemas::DeadLetter) -> Result<(), ServiceError> {
        self.report.dead_letters += 1;
        dlq::publish(self.producer, &self.topics.dlq, letter, self.metrics).await?;
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
            if let Some(id) = identity(&o)
                && !self.logged.insert(id)
            {
                continue; // already on the log
            }
            let (topic, region, bytes) = match &o {
                Output::Open(m) => {
                    self.report.rounds_opened += 1;
                    self.metrics.round_opened();
                    self.opened_at.insert(
                        (m.region.clone(), m.interval_start),
                        std::time::Instant::now(),
                    );
                    (&topics.control, m.region.clone(), encode(m))
                }
                Output::Redistribute(m) => (&topics.control, m.region.clone(), encode(m)),
                Output::Outcome(m) => {
                    if m.status != zeal_schemas::RoundStatus::Reopened
                        && let Some(p) = &self.progress
                    {
                        p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let opened = self.opened_at.remove(&(m.region.clone(), m.interval_start));
                    self.metrics
                        .round_closed(m.status, opened.map(|t| t.elapsed().as_secs_f64()));
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
                    self.metrics.quarantined();
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
                    self.metrics.dead_letter(r.reason);
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

/// What the control and totals topics say this deployment already decided.
struct Restored {
    logged: BTreeSet<String>,
    adopted: Vec<String>,
    /// Per region, the latest interval opened.
    latest: BTreeMap<String, i64>,
}

impl Restored {
    fn next_interval(&self, step: i64) -> BTreeMap<String, i64> {
        self.latest
            .iter()
            .map(|(r, i)| (r.clone(), i + step))
            .collect()
    }
}

/// Reads the control and totals topics up to their current end and adopts every decision
/// signed by this deployment's aggregator id.
/// Only rounds of regions for which `adopt` is true are adopted (a rebalance adopts the regions
/// it brought); every decision on the log counts as logged.
async fn restore(
    s: &AggregatorSettings,
    id: &str,
    agg: &mut Aggregator,
    dir: &mut Directory,
    adopt: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Restored, ServiceError> {
    let mut restored = Restored {
        logged: BTreeSet::new(),
        adopted: Vec::new(),
        latest: BTreeMap::new(),
    };
    let mut replay = zeal_connectors::kafka::Replay::start(
        &s.kafka,
        &format!("{}-restore", s.group_id),
        &[&s.topics.control, &s.topics.totals],
        0,
        i64::MAX,
    )
    .await?;
    while let Some(record) = replay.next().await? {
        let Ok(msg) = decode_any(&record.payload) else {
            continue;
        };
        let output = match msg {
            AnyMessage::RoundOpen(m) if m.aggregator_id == id && !adopt(&m.region) => {
                Output::Open(m)
            }
            AnyMessage::RoundOutcome(m) if m.aggregator_id == id && !adopt(&m.region) => {
                Output::Outcome(m)
            }
            AnyMessage::RoundOpen(m) if m.aggregator_id == id => {
                let latest = restored.latest.entry(m.region.clone()).or_insert(i64::MIN);
                *latest = (*latest).max(m.interval_start);
                agg.adopt_open(m.clone());
                Output::Open(m)
            }
            AnyMessage::Redistribution(m) if m.aggregator_id == id => Output::Redistribute(m),
            AnyMessage::RoundOutcome(m) if m.aggregator_id == id => {
                agg.adopt_outcome(&m);
                Output::Outcome(m)
            }
            AnyMessage::RegionTotal(m) if m.aggregator_id == id => Output::Total(m),
            AnyMessage::QuarantineEvent(m) if m.aggregator_id == id => {
                dir.quarantine(&m.meter_id);
                Output::Quarantine(m)
            }
            _ => continue,
        };
        if let Some(key) = identity(&output) {
            restored.logged.insert(key);
        }
    }
    restored.adopted = agg
        .active_rounds()
        .iter()
        .filter(|k| adopt(&k.region))
        .map(|k| k.to_string())
        .collect();
    Ok(restored)
}

/// Deadlines and new rounds wait until the input topics are read up to where they ended at
/// startup: a replacement must see again every bundle and partial of the rounds it adopted
/// before it judges who is missing.
struct CatchUp {
    ends: BTreeMap<(String, i32), i64>,
    positions: BTreeMap<(String, i32), i64>,
    done: bool,
}

impl CatchUp {
    fn new(ends: BTreeMap<(String, i32), i64>) -> Self {
        CatchUp {
            ends,
            positions: BTreeMap::new(),
            done: false,
        }
    }

    /// Also wait for these partitions to be read up to these offsets (after a rebalance).
    fn expect(&mut self, ends: BTreeMap<(String, i32), i64>) {
        for (key, end) in ends {
            self.positions.remove(&key);
            self.ends.insert(key, end);
        }
        self.done = false;
    }

    fn seen(&mut self, r: &Record) {
        self.positions
            .insert((r.topic.clone(), r.partition), r.offset + 1);
    }

    fn is_redelivery(&self, r: &Record) -> bool {
        self.ends
            .get(&(r.topic.clone(), r.partition))
            .is_some_and(|end| r.offset < *end)
    }

    fn check(
        &mut self,
        consumer: &GroupConsumer,
        assignment: &[(String, i32)],
    ) -> Result<bool, ServiceError> {
        if self.done {
            return Ok(true);
        }
        if assignment.is_empty() {
            return Ok(false);
        }
        for (topic, p) in assignment {
            let key = (topic.clone(), *p);
            let end = self.ends.get(&key).copied().unwrap_or(0);
            if end == 0 {
                continue;
            }
            let position = match self.positions.get(&key) {
                Some(p) => *p,
                None => {
                    let committed =
                        tokio::task::block_in_place(|| consumer.committed_offset(topic, *p))?
                            .unwrap_or(0);
                    self.positions.insert(key.clone(), committed);
                    committed
                }
            };
            if position < end {
                return Ok(false);
            }
        }
        tracing::info!("caught up with the input topics");
        self.done = true;
        Ok(true)
    }
}

/// Offsets that are safe to commit: never past a record of a round still open, so a
/// replacement re-reads every bundle and partial of the rounds it adopts.
#[derive(Default)]
struct Inflight {
    held: BTreeMap<(String, i32), BTreeMap<i64, (String, i64)>>,
    last: BTreeMap<(String, i32), Record>,
}

impl Inflight {
    fn hold(&mut self, r: &Record, round: (String, i64)) {
        self.held
            .entry((r.topic.clone(), r.partition))
            .or_default()
            .insert(r.offset, round);
        self.pass(r);
    }

    fn pass(&mut self, r: &Record) {
        let mut light = r.clone();
        light.payload = Vec::new();
        light.key = None;
        self.last.insert((r.topic.clone(), r.partition), light);
    }

    /// Forgets partitions of the shares and partials topics this instance no longer owns.
    fn keep_partitions(&mut self, owned: &BTreeSet<i32>) {
        self.held.retain(|(_, p), _| owned.contains(p));
        self.last.retain(|(_, p), _| owned.contains(p));
    }

    fn release_closed(&mut self, outputs: &[Output]) {
        for o in outputs {
            let closed = match o {
                Output::Outcome(m) if m.status != zeal_schemas::RoundStatus::Reopened => {
                    (m.region.clone(), m.interval_start)
                }
                _ => continue,
            };
            for held in self.held.values_mut() {
                held.retain(|_, round| *round != closed);
            }
        }
    }

    /// Per partition, a record whose offset + 1 is the position to commit.
    fn safe_offsets(&self) -> Vec<Record> {
        self.last
            .iter()
            .map(|(key, last)| {
                let mut r = last.clone();
                if let Some((first, _)) = self.held.get(key).and_then(|h| h.iter().next()) {
                    r.offset = first - 1;
                }
                r
            })
            .filter(|r| r.offset >= 0)
            .collect()
    }
}
