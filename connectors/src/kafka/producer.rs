//! The keyed producer: idempotent (no duplicates or reordering on retry), acks from all
//! replicas, and the murmur2 partitioner so keys land where [`super::partition_for_key`] says.

use super::{KafkaConfig, KafkaError, client_err};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::time::Duration;
use zeal_schemas::{WireMessage, encode};

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// An idempotent producer of keyed messages.
#[derive(Clone)]
pub struct KeyedProducer {
    inner: FutureProducer,
}

impl KeyedProducer {
    /// Creates the producer; no connection is made until the first send.
    pub fn new(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let mut c = config.client_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "60000");
        for (k, v) in &config.extra {
            c.set(k, v);
        }
        let inner = c.create().map_err(client_err("create producer"))?;
        Ok(KeyedProducer { inner })
    }

    /// Sends raw bytes and waits for the broker's acknowledgement.
    pub async fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        timestamp_ms: Option<i64>,
    ) -> Result<Delivered, KafkaError> {
        let mut record = FutureRecord::to(topic).key(key).payload(payload);
        if let Some(ts) = timestamp_ms {
            record = record.timestamp(ts);
        }
        match self.inner.send(record, Duration::from_secs(60)).await {
            Ok(d) => Ok(Delivered {
                partition: d.partition,
                offset: d.offset,
            }),
            Err((source, _)) => Err(KafkaError::Delivery {
                topic: topic.to_string(),
                source,
            }),
        }
    }

    /// Encodes a wire message (Avro single object) and sends it.
    pub async fn send_message<T: WireMessage>(
        &self,
        topic: &str,
        key: &[u8],
        message: &T,
    ) -> Result<Delivered, KafkaError> {
        let payload = encode(message)?;
        self.send(topic, key, &payload, None).await
    }

    /// Waits until every queued message is delivered (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.inner.flush(timeout).map_err(client_err("flush"))
    }
}
