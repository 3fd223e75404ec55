//! Dead letters: every input a service refuses, with its origin and the reason.

use crate::metrics::Metrics;
use zeal_connectors::kafka::{KafkaError, KeyedProducer, Record};
use zeal_schemas::{DeadLetter, DecodeError, RejectReason};

/// A dead letter for a record that could not be decoded.
pub fn undecodable(record: &Record, err: &DecodeError, by: &str, now: i64) -> DeadLetter {
    let reason = match err {
        DecodeError::UnknownFingerprint { .. } => RejectReason::UnknownSchema,
        _ => RejectReason::Malformed,
    };
    letter(record, reason, err.to_string(), None, None, by, now)
}

/// A dead letter with every field given.
pub fn letter(
    record: &Record,
    reason: RejectReason,
    detail: String,
    origin: Option<String>,
    region: Option<String>,
    by: &str,
    now: i64,
) -> DeadLetter {
    DeadLetter {
        topic: record.topic.clone(),
        partition: record.partition,
        offset: record.offset,
        key: record.key.clone(),
        payload: record.payload.clone(),
        reason,
        detail,
        origin,
        region,
        rejected_at: now,
        rejected_by: by.to_string(),
    }
}

/// Publishes a dead letter, keyed by region when known, and counts it by reason.
pub async fn publish(
    producer: &KeyedProducer,
    topic: &str,
    letter: &DeadLetter,
    metrics: &Metrics,
) -> Result<(), KafkaError> {
    let key = letter
        .region
        .clone()
        .or_else(|| {
            letter
                .key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned())
        })
        .unwrap_or_default();
    metrics.dead_letter(letter.reason);
    tracing::warn!(
        reason = ?letter.reason, origin = ?letter.origin, topic = %letter.topic,
        offset = letter.offset, detail = %letter.detail, "dead letter"
    );
    producer
        .send_message(topic, key.as_bytes(), letter)
        .await
        .map(|_| ())
}
