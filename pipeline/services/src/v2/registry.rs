//! Protocol v2's registry topic (DESIGN §3, §4 "Enrolment"): the authority's certificates, its
//! Cutoff(D) records and the beacon rounds it relays, in one ordered partition that is never
//! compacted. Every party folds the partition from its start into a [`RegistryLog`] and derives
//! a region's day from it ([`RegistryLog::region_day`]); whatever the fold refuses comes back
//! with a dead-letter reason.

use crate::metrics::Metrics;
use crate::{ServiceError, dlq, now_ms};
use zeal_connectors::kafka::TopicNames;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, Record as KafkaRecord, Replay};
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_protocol::v2::day::RegionDay;
use zeal_protocol::v2::day::RegistryLog;
use zeal_protocol::v2::enrolment::{BeaconRound, Certificate, Cutoff, EnrolmentRefused};
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::wire;
use zeal_schemas::{AnyMessage, RejectReason, decode_any, encode};

/// A registry message the fold refused: the message, the dead-letter reason and why.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The refused message as read.
    pub record: KafkaRecord,
    /// Its dead-letter reason.
    pub reason: RejectReason,
    /// Why, for the letter.
    pub detail: String,
    /// The meter the certificate names, if it parsed.
    pub meter: Option<String>,
}

/// The dead-letter reason of a refused certificate.
pub fn reason(e: &EnrolmentRefused) -> RejectReason {
    match e {
        EnrolmentRefused::NotCertified => RejectReason::BadSignature,
        EnrolmentRefused::Conflict => RejectReason::Duplicate,
        EnrolmentRefused::Malformed(_) => RejectReason::Malformed,
    }
}

/// Posts a certificate on the registry topic (key = meter id).
pub async fn publish_certificate(
    producer: &KeyedProducer,
    topic: &str,
    cert: &Certificate,
) -> Result<(), ServiceError> {
    let bytes = encode(&wire::certificate_to_wire(cert))?;
    producer
        .send(topic, cert.meter.as_bytes(), &bytes, None)
        .await?;
    Ok(())
}

/// Posts the authority's Cutoff(D) on the registry topic (key = `cutoff/<day>`).
pub async fn publish_cutoff(
    producer: &KeyedProducer,
    topic: &str,
    cutoff: &Cutoff,
) -> Result<(), ServiceError> {
    let bytes = encode(&wire::cutoff_to_wire(cutoff))?;
    let key = format!("cutoff/{}", cutoff.day);
    producer.send(topic, key.as_bytes(), &bytes, None).await?;
    Ok(())
}

/// Relays a beacon round on the registry topic (key = `beacon/<round>`).
pub async fn publish_beacon(
    producer: &KeyedProducer,
    topic: &str,
    beacon: &BeaconRound,
) -> Result<(), ServiceError> {
    let bytes = encode(&wire::beacon_to_wire(beacon))?;
    let key = format!("beacon/{}", beacon.round);
    producer.send(topic, key.as_bytes(), &bytes, None).await?;
    Ok(())
}

/// Folds registry messages, in partition order, into `log`; returns what it refused.
pub fn fold(log: &mut RegistryLog, messages: &[KafkaRecord]) -> Vec<Refused> {
    let mut refused = Vec::new();
    let mut refuse = |m: &KafkaRecord, reason, detail: String, meter| {
        refused.push(Refused {
            record: m.clone(),
            reason,
            detail,
            meter,
        })
    };
    for m in messages {
        match decode_any(&m.payload) {
            Ok(AnyMessage::Certificate(c)) => match wire::certificate_from_wire(&c) {
                Ok(cert) => {
                    let meter = cert.meter.clone();
                    if let Err(e) = log.certificate(cert) {
                        refuse(m, reason(&e), e.to_string(), Some(meter));
                    }
                }
                Err(e) => refuse(m, RejectReason::Malformed, e.to_string(), Some(c.meter_id)),
            },
            Ok(AnyMessage::Cutoff(c)) => match wire::cutoff_from_wire(&c) {
                Ok(cutoff) => log.cutoff(cutoff),
                Err(e) => refuse(m, RejectReason::Malformed, e.to_string(), None),
            },
            Ok(AnyMessage::BeaconRound(b)) => match wire::beacon_from_wire(&b) {
                Ok(beacon) => log.beacon(beacon),
                Err(e) => refuse(m, RejectReason::Malformed, e.to_string(), None),
            },
            Ok(other) => refuse(
                m,
                RejectReason::UnknownSchema,
                format!("{:?} on the registry topic", other.kind()),
                None,
            ),
            Err(e) => refuse(m, RejectReason::Malformed, e.to_string(), None),
        }
    }
    refused
}

/// Reads the whole registry partition as it stands and folds it (a fresh consumer group each
/// time: reading never commits).
pub async fn read(
    kafka: &KafkaConfig,
    topic: &str,
    group: &str,
    log: &mut RegistryLog,
) -> Result<Vec<Refused>, ServiceError> {
    let messages = Replay::start(kafka, group, &[topic], 0, i64::MAX)
        .await?
        .collect()
        .await?;
    Ok(fold(log, &messages))
}

/// The region's day as a party derives it from the registry topic: the partition read and
/// folded, the day derived (`RegistryLog::region_day`), and — when `dead_letters` names the
/// writer (the aggregator: one letter per refused message) — every refused message written to
/// the dead-letter topic with its reason. Returns the day and what was refused.
#[allow(clippy::too_many_arguments)]
pub async fn load_day(
    kafka: &KafkaConfig,
    topics: &TopicNames,
    params: &Params,
    region: &str,
    day: i64,
    authority: &VerifyingKey,
    anchor: &[u8; 32],
    dead_letters: Option<(&str, &Metrics)>,
) -> Result<(RegionDay, Vec<Refused>), ServiceError> {
    let mut log = RegistryLog::new(*authority);
    let group = format!("registry-{region}-{day}-{}", now_ms());
    let refused = read(kafka, &topics.registry_v2, &group, &mut log).await?;
    if let Some((by, metrics)) = dead_letters {
        let producer = KeyedProducer::new(kafka)?;
        for r in &refused {
            let letter = dlq::letter(
                &r.record,
                r.reason,
                r.detail.clone(),
                r.meter.clone(),
                None,
                by,
                now_ms(),
            );
            dlq::publish(&producer, &topics.dlq, &letter, metrics).await?;
        }
    }
    let day = log.region_day(params, region, day, authority, anchor)?;
    Ok((day, refused))
}
