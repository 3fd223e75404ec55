//! `zeal audit`: replay the topics with its own consumer group and re-verify every round from
//! the log alone, without any secret key; compare the verified totals with what the totals topic
//! and ClickHouse hold.

use crate::ServiceError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::{KafkaConfig, Replay, TopicNames};
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::audit::{RoundAudit, RoundLog, audit_round};
use zeal_protocol::round::crypto::AggregatorPublic;
use zeal_protocol::round::directory::Directory;
use zeal_schemas::{AnyMessage, RoundStatus, decode_any};

/// What to audit.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    /// The audit's own consumer group (it never commits).
    pub group_id: String,
    pub protocol: ProtocolConfig,
    /// Rounds whose interval starts in `[from, to]` (ms since the epoch).
    pub from: i64,
    pub to: i64,
    pub region: Option<String>,
    /// Aggregator keys expected on control messages (empty: signatures not checked).
    pub trusted: Vec<AggregatorPublic>,
}

/// The audit's findings.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub rounds: Vec<RoundAudit>,
    /// Carry-forward accounting problems.
    pub carry: Vec<String>,
    /// Deferred intervals not yet carried into a published total (not an error).
    pub pending_carry: Vec<(String, i64)>,
    /// Differences between the verified totals and ClickHouse.
    pub clickhouse: Vec<String>,
    /// Whether ClickHouse was compared.
    pub clickhouse_checked: bool,
    /// Dead letters by reason.
    pub dead_letters: BTreeMap<String, u64>,
    /// Messages read.
    pub messages: u64,
}

impl AuditReport {
    /// Whether nothing is wrong.
    pub fn ok(&self) -> bool {
        self.rounds.iter().all(RoundAudit::ok)
            && self.carry.is_empty()
            && self.clickhouse.is_empty()
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ChTotal {
    region: String,
    interval_start: u32,
    channel: String,
    total: i64,
}

/// Runs the audit.
pub async fn run_audit(
    s: &AuditSettings,
    warehouse: Option<&Warehouse>,
) -> Result<AuditReport, ServiceError> {
    let mut report = AuditReport::default();
    let mut dir = Directory::new(s.protocol.key_bits.min(2048));
    for r in Replay::start(&s.kafka, &s.group_id, &[&s.topics.registry], 0, i64::MAX)
        .await?
        .collect()
        .await?
    {
        report.messages += 1;
        if let Ok(AnyMessage::MeterEnrolment(e)) = decode_any(&r.payload) {
            let _ = dir.enrol(&e);
        }
    }
    let mut rounds: BTreeMap<(String, i64), RoundLog> = BTreeMap::new();
    let mut replay = Replay::start(
        &s.kafka,
        &s.group_id,
        &[
            &s.topics.control,
            &s.topics.shares,
            &s.topics.partials,
            &s.topics.totals,
            &s.topics.dlq,
        ],
        0,
        i64::MAX,
    )
    .await?;
    let wanted = |region: &str, interval: i64| {
        (s.from..=s.to).contains(&interval) && s.region.as_deref().is_none_or(|r| r == region)
    };
    while let Some(r) = replay.next().await? {
        report.messages += 1;
        let Ok(msg) = decode_any(&r.payload) else {
            continue;
        };
        let key = match &msg {
            AnyMessage::RoundOpen(m) => (m.region.clone(), m.interval_start),
            AnyMessage::ShareBundle(m) => (m.region.clone(), m.interval_start),
            AnyMessage::Redistribution(m) => (m.region.clone(), m.interval_start),
            AnyMessage::Partial(m) => (m.region.clone(), m.interval_start),
            AnyMessage::RoundOutcome(m) => (m.region.clone(), m.interval_start),
            AnyMessage::RegionTotal(m) => (m.region.clone(), m.interval_start),
            AnyMessage::QuarantineEvent(m) => (m.region.clone(), m.interval_start),
            AnyMessage::DeadLetter(d) => {
                if d.region
                    .as_deref()
                    .is_none_or(|reg| s.region.as_deref().is_none_or(|w| w == reg))
                {
                    *report
                        .dead_letters
                        .entry(format!("{:?}", d.reason))
                        .or_default() += 1;
                }
                continue;
            }
            _ => continue,
        };
        if !wanted(&key.0, key.1) {
            continue;
        }
        let log = rounds.entry(key).or_default();
        match msg {
            AnyMessage::RoundOpen(m) => log.opens.push(m),
            AnyMessage::ShareBundle(m) => log.bundles.push(m),
            AnyMessage::Redistribution(m) => log.redistributions.push(m),
            AnyMessage::Partial(m) => log.partials.push(m),
            AnyMessage::RoundOutcome(m) => log.outcomes.push(m),
            AnyMessage::RegionTotal(m) => log.totals.push(m),
            AnyMessage::QuarantineEvent(m) => log.quarantines.push(m),
            _ => {}
        }
    }
    for log in rounds.values() {
        report
            .rounds
            .push(audit_round(log, &dir, &s.protocol, &s.trusted));
    }
    // Carry-forward accounting, region by region in interval order.
    let mut deferred: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for ((region, interval), log) in &rounds {
        let d = deferred.entry(region.clone()).or_default();
        let status = log
            .opens
            .iter()
            .max_by_key(|o| o.attempt)
            .and_then(|o| log.outcomes.iter().find(|x| x.attempt == o.attempt))
            .map(|o| o.status);
        let carried: Vec<i64> = log
            .opens
            .iter()
            .max_by_key(|o| o.attempt)
            .map(|o| o.carried_intervals.clone())
            .unwrap_or_default();
        for c in &carried {
            if (s.from..=s.to).contains(c) && !d.remove(c) {
                report.carry.push(format!(
                    "{region} @{interval} carries {c}, which was not a pending deferred interval"
                ));
            }
        }
        match status {
            Some(RoundStatus::Deferred) | Some(RoundStatus::Abandoned) => {
                d.insert(*interval);
                d.extend(carried);
            }
            _ => {}
        }
    }
    for (region, set) in deferred {
        report
            .pending_carry
            .extend(set.into_iter().map(|i| (region.clone(), i)));
    }
    // ClickHouse against the verified totals.
    if let Some(w) = warehouse {
        report.clickhouse_checked = true;
        let rows: Vec<ChTotal> = w
            .fetch_all(&format!(
                "SELECT region, toUInt32(interval_start) AS interval_start, channel, total \
                 FROM region_totals FINAL WHERE interval_start >= toDateTime({}) AND interval_start <= toDateTime({})",
                s.from / 1000,
                s.to / 1000
            ))
            .await?;
        let mut stored: BTreeMap<(String, i64, String), i64> = rows
            .into_iter()
            .filter(|r| s.region.as_deref().is_none_or(|w| w == r.region))
            .map(|r| {
                (
                    (r.region, i64::from(r.interval_start) * 1000, r.channel),
                    r.total,
                )
            })
            .collect();
        for ((region, interval), log) in &rounds {
            let (Some(open), Some(a)) = (
                log.opens.iter().max_by_key(|o| o.attempt),
                report
                    .rounds
                    .iter()
                    .find(|a| &a.region == region && a.interval_start == *interval),
            ) else {
                continue;
            };
            let Some(verified) = &a.recomputed else {
                continue;
            };
            let channels = open.channels.len().max(1);
            for (i, v) in verified.iter().enumerate() {
                let t = interval + (i / channels) as i64 * i64::from(open.interval_seconds) * 1000;
                let key = (region.clone(), t, open.channels[i % channels].clone());
                match stored.remove(&key) {
                    Some(x) if x == *v => {}
                    Some(x) => report.clickhouse.push(format!(
                        "{region} @{t} {}: ClickHouse has {x}, the verified total is {v}",
                        key.2
                    )),
                    None => report.clickhouse.push(format!(
                        "{region} @{t} {}: missing in ClickHouse (verified total {v})",
                        key.2
                    )),
                }
            }
        }
        for ((region, t, channel), x) in stored {
            report.clickhouse.push(format!(
                "{region} @{t} {channel}: ClickHouse has {x} but no verified round produced it"
            ));
        }
    }
    Ok(report)
}
