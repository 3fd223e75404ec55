//! Reading a one-partition log (consent, erasure) up to its end *as of the call*: the
//! partition's high watermark is fetched first, so everything the broker acknowledged before
//! the call is read before it returns.

use crate::ServiceError;
use std::time::Duration;
use zeal_connectors::kafka::{AssignedConsumer, KafkaConfig, Record, StartAt};

/// Longest wait for the next record of a log known to hold more.
const STALL: Duration = Duration::from_secs(30);

/// Partition 0 of a topic, read from the beginning in order.
pub struct LogTail {
    consumer: AssignedConsumer,
    topic: String,
    /// The next offset to read.
    position: i64,
}

impl LogTail {
    /// Follows `topic` from its beginning (a private consumer: `group` names it in the broker's
    /// logs only). Nothing is read until [`Self::until_end`].
    pub fn new(config: &KafkaConfig, topic: &str, group: &str) -> Result<Self, ServiceError> {
        let consumer = AssignedConsumer::new(config, &format!("{group}-{}", std::process::id()))?;
        consumer.assign(&[(topic, 0, StartAt::Beginning)])?;
        Ok(LogTail {
            consumer,
            topic: topic.to_string(),
            position: 0,
        })
    }

    /// The topic followed.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Every record after the last call, up to the log's end as of now.
    pub async fn until_end(&mut self) -> Result<Vec<Record>, ServiceError> {
        let (_, end) = self.consumer.watermarks(&self.topic, 0)?;
        let mut out = Vec::new();
        while self.position < end {
            let Some(record) = self.consumer.recv(STALL).await? else {
                return Err(ServiceError::Stalled(format!(
                    "{} holds offsets up to {end} but nothing arrived after {} within {STALL:?}",
                    self.topic, self.position
                )));
            };
            self.position = record.offset + 1;
            out.push(record);
        }
        Ok(out)
    }
}
