//! The registry topic (`zeal.registry.v2`) followed into memory: read every partition from the
//! beginning, then follow new entries, folding them into a [`RegistryLog`] (authority
//! certificates: what the readings jobs check readings against).

use crate::dlq;
use std::time::Duration;
use zeal_connectors::kafka::{AssignedConsumer, KafkaConfig, KafkaError, Record, StartAt, admin};
use zeal_protocol::v2::day::RegistryLog;
use zeal_schemas::DeadLetter;

/// Folds one record in partition order; a refused one comes back as its dead letter.
fn fold(log: &mut RegistryLog, r: &Record, by: &str) -> Option<DeadLetter> {
    crate::v2::registry::fold(log, std::slice::from_ref(r))
        .pop()
        .map(|x| dlq::letter(r, x.reason, x.detail, x.meter, None, by, crate::now_ms()))
}

/// Follows a registry topic.
pub struct RegistryFollower {
    consumer: AssignedConsumer,
    topic: String,
    partitions: Vec<i32>,
    by: String,
}

impl RegistryFollower {
    /// Assigns every partition of `topic` from the beginning.
    pub async fn start(
        kafka: &KafkaConfig,
        topic: &str,
        group_id: &str,
        by: &str,
    ) -> Result<Self, KafkaError> {
        let consumer = AssignedConsumer::new(kafka, group_id)?;
        let n = admin::partition_count(kafka, topic).await?;
        let partitions: Vec<i32> = (0..n).collect();
        let spec: Vec<(&str, i32, StartAt)> = partitions
            .iter()
            .map(|p| (topic, *p, StartAt::Beginning))
            .collect();
        consumer.assign(&spec)?;
        Ok(RegistryFollower {
            consumer,
            topic: topic.to_string(),
            partitions,
            by: by.to_string(),
        })
    }

    /// Reads until the high watermarks of every partition as of now. Returns dead letters for
    /// entries that were refused (the caller publishes them).
    pub async fn catch_up(&mut self, dir: &mut RegistryLog) -> Result<Vec<DeadLetter>, KafkaError> {
        let mut ends = Vec::new();
        for p in &self.partitions {
            let (_, high) =
                tokio::task::block_in_place(|| self.consumer.watermarks(&self.topic, *p))?;
            ends.push((*p, high));
        }
        let mut letters = Vec::new();
        let mut positions: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
        let done = |pos: &std::collections::HashMap<i32, i64>| {
            ends.iter()
                .all(|(p, high)| *high == 0 || pos.get(p).is_some_and(|o| *o + 1 >= *high))
        };
        while !done(&positions) {
            match self.consumer.recv(Duration::from_secs(30)).await? {
                Some(r) => {
                    positions.insert(r.partition, r.offset);
                    letters.extend(fold(dir, &r, &self.by));
                }
                None => break,
            }
        }
        Ok(letters)
    }

    /// Applies whatever arrived, waiting at most `wait`.
    pub async fn poll(
        &mut self,
        dir: &mut RegistryLog,
        wait: Duration,
    ) -> Result<Vec<DeadLetter>, KafkaError> {
        let mut letters = Vec::new();
        let mut wait = wait;
        while let Some(r) = self.consumer.recv(wait).await? {
            letters.extend(fold(dir, &r, &self.by));
            wait = Duration::from_millis(1);
        }
        Ok(letters)
    }
}
