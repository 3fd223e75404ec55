//! Consumers: a consumer-group member that scales by partitions (aggregators, sinks, jobs) and a
//! manually assigned consumer that reads exactly the partitions it is given (gateways, replay).
//!
//! Both disable auto-commit: offsets are committed after a message's effects are durable.

use super::{KafkaConfig, KafkaError, REQUEST_TIMEOUT, Record, client_err};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

fn consumer_config(config: &KafkaConfig, group_id: &str) -> rdkafka::ClientConfig {
    config.client_config_with(&[
        ("group.id", group_id),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("enable.partition.eof", "false"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
    ])
}

async fn recv_timeout(
    consumer: &StreamConsumer,
    timeout: Duration,
) -> Result<Option<Record>, KafkaError> {
    match tokio::time::timeout(timeout, consumer.recv()).await {
        Err(_) => Ok(None),
        Ok(Ok(m)) => Ok(Some(Record::from_message(&m))),
        Ok(Err(e)) => Err(KafkaError::Client {
            op: "consume",
            source: e,
        }),
    }
}

/// A consumer group's committed offset for one partition, if any.
fn committed_offset(
    consumer: &StreamConsumer,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let tpl = consumer
        .committed_offsets(tpl, REQUEST_TIMEOUT)
        .map_err(client_err("fetch committed offsets"))?;
    Ok(tpl
        .find_partition(topic, partition)
        .and_then(|p| match p.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }))
}

/// (low, high) watermarks of a partition: `high` is the offset the next message will get.
fn watermarks(
    consumer: &StreamConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), KafkaError> {
    use rdkafka::types::RDKafkaErrorCode as Code;
    consumer
        .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
        .map_err(|e| match e.rdkafka_error_code() {
            // A deployment upgraded without `zeal topics create`: say so, not "unknown topic".
            Some(Code::UnknownTopicOrPartition | Code::UnknownTopic | Code::UnknownPartition) => {
                KafkaError::MissingTopic {
                    topic: topic.to_string(),
                }
            }
            _ => client_err("fetch watermarks")(e),
        })
}

/// Per assigned partition, (topic, partition, messages between the position and the end).
fn lag(consumer: &StreamConsumer) -> Result<Vec<(String, i32, i64)>, KafkaError> {
    let positions = consumer.position().map_err(client_err("position"))?;
    let mut out = Vec::new();
    for e in positions.elements() {
        let (low, high) = watermarks(consumer, e.topic(), e.partition())?;
        // Nothing fetched yet: count from the start (an over-estimate, never an under-estimate).
        let position = match e.offset() {
            Offset::Offset(o) => o,
            _ => low,
        };
        out.push((
            e.topic().to_string(),
            e.partition(),
            (high - position).max(0),
        ));
    }
    Ok(out)
}

fn commit_list(records: &[&Record]) -> Result<TopicPartitionList, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for r in records {
        tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.offset + 1))
            .map_err(client_err("build commit list"))?;
    }
    Ok(tpl)
}

/// A consumer whose offsets are a consumer group's: a member the group balances partitions
/// across ([`GroupConsumer::subscribe`]), or one reader of every partition that only keeps its
/// offsets in the group ([`GroupConsumer::assign`]).
pub struct GroupConsumer {
    inner: StreamConsumer,
    group_id: String,
}

impl GroupConsumer {
    /// Joins `group_id` and subscribes to `topics`; new groups start at the earliest offset.
    pub fn subscribe(
        config: &KafkaConfig,
        group_id: &str,
        topics: &[&str],
    ) -> Result<Self, KafkaError> {
        let inner: StreamConsumer = consumer_config(config, group_id)
            .create()
            .map_err(client_err("create group consumer"))?;
        inner.subscribe(topics).map_err(client_err("subscribe"))?;
        Ok(GroupConsumer {
            inner,
            group_id: group_id.to_string(),
        })
    }

    /// Reads every partition of each `(topic, partition count)` itself, with no group
    /// membership: from `group_id`'s committed offsets (the earliest where it has none), and
    /// [`GroupConsumer::commit`] commits into that group. For a single reader that must resume
    /// at once after a crash: tansu 0.6's coordinator can leave a member that replaces a
    /// SIGKILLed one with an empty assignment for good (docs/decisions.md). Partitions added to
    /// a topic later are read after a restart.
    pub fn assign(
        config: &KafkaConfig,
        group_id: &str,
        topics: &[(&str, i32)],
    ) -> Result<Self, KafkaError> {
        let inner: StreamConsumer = consumer_config(config, group_id)
            .create()
            .map_err(client_err("create group consumer"))?;
        let mut tpl = TopicPartitionList::new();
        for (topic, partitions) in topics {
            for p in 0..*partitions {
                tpl.add_partition_offset(topic, p, Offset::Stored)
                    .map_err(client_err("build assignment"))?;
            }
        }
        inner.assign(&tpl).map_err(client_err("assign"))?;
        Ok(GroupConsumer {
            inner,
            group_id: group_id.to_string(),
        })
    }

    /// The group this consumer belongs to.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Next message, or `None` when nothing arrives within `timeout`.
    pub async fn recv(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        recv_timeout(&self.inner, timeout).await
    }

    /// Commits that everything up to and including `record` is processed, and waits for the
    /// broker to acknowledge it.
    pub async fn commit(&self, record: &Record) -> Result<(), KafkaError> {
        self.commit_all(&[record]).await
    }

    /// Commits several positions at once (one per partition is enough: the newest).
    pub async fn commit_all(&self, records: &[&Record]) -> Result<(), KafkaError> {
        let tpl = commit_list(records)?;
        // The synchronous commit blocks on a broker round trip; keep it off the async workers.
        tokio::task::block_in_place(|| self.inner.commit(&tpl, CommitMode::Sync))
            .map_err(client_err("commit"))
    }

    /// The group's committed offset for a partition, if any.
    pub fn committed_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError> {
        committed_offset(&self.inner, topic, partition)
    }

    /// Consumer lag per assigned partition (blocking: one watermark request per partition).
    pub fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError> {
        lag(&self.inner)
    }

    /// (low, high) watermarks of a partition: `high` is the offset the next message will get.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError> {
        watermarks(&self.inner, topic, partition)
    }

    /// Partitions currently assigned to this member, as (topic, partition).
    pub fn assignment(&self) -> Result<Vec<(String, i32)>, KafkaError> {
        let tpl = self.inner.assignment().map_err(client_err("assignment"))?;
        Ok(tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect())
    }
}

/// Where an assigned consumer starts reading a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
    Offset(i64),
}

impl StartAt {
    fn offset(self) -> Offset {
        match self {
            StartAt::Beginning => Offset::Beginning,
            StartAt::End => Offset::End,
            StartAt::Offset(o) => Offset::Offset(o),
        }
    }
}

/// A consumer that reads exactly the partitions it is assigned, with no group rebalancing.
pub struct AssignedConsumer {
    inner: StreamConsumer,
}

impl AssignedConsumer {
    /// Creates the consumer. `group_id` names it to the broker (for offsets it may commit); it
    /// never joins a rebalancing group.
    pub fn new(config: &KafkaConfig, group_id: &str) -> Result<Self, KafkaError> {
        let inner: StreamConsumer = consumer_config(config, group_id)
            .create()
            .map_err(client_err("create assigned consumer"))?;
        Ok(AssignedConsumer { inner })
    }

    /// Replaces the assignment with these (topic, partition, start) triples.
    pub fn assign(&self, partitions: &[(&str, i32, StartAt)]) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, start) in partitions {
            tpl.add_partition_offset(topic, *partition, start.offset())
                .map_err(client_err("build assignment"))?;
        }
        self.inner.assign(&tpl).map_err(client_err("assign"))
    }

    /// Moves the read position of an assigned partition.
    pub fn seek(&self, topic: &str, partition: i32, offset: i64) -> Result<(), KafkaError> {
        self.inner
            .seek(topic, partition, Offset::Offset(offset), REQUEST_TIMEOUT)
            .map_err(client_err("seek"))
    }

    /// Next message, or `None` when nothing arrives within `timeout`.
    pub async fn recv(&self, timeout: Duration) -> Result<Option<Record>, KafkaError> {
        recv_timeout(&self.inner, timeout).await
    }

    /// Consumer lag per assigned partition (blocking: one watermark request per partition).
    pub fn lag(&self) -> Result<Vec<(String, i32, i64)>, KafkaError> {
        lag(&self.inner)
    }

    /// (low, high) watermarks of a partition: `high` is the offset the next message will get.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError> {
        watermarks(&self.inner, topic, partition)
    }

    /// For each partition, the first offset whose timestamp is at or after `timestamp_ms`
    /// (`None`: no such message yet).
    pub fn offsets_for_time(
        &self,
        topic: &str,
        partitions: &[i32],
        timestamp_ms: i64,
    ) -> Result<Vec<(i32, Option<i64>)>, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(topic, *p, Offset::Offset(timestamp_ms))
                .map_err(client_err("build time query"))?;
        }
        let found = self
            .inner
            .offsets_for_times(tpl, REQUEST_TIMEOUT)
            .map_err(client_err("offsets for times"))?;
        Ok(partitions
            .iter()
            .map(|p| {
                let off = found
                    .find_partition(topic, *p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) if o >= 0 => Some(o),
                        _ => None,
                    });
                (*p, off)
            })
            .collect())
    }

    /// This consumer's group's committed offset for a partition, if any.
    pub fn committed_offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError> {
        committed_offset(&self.inner, topic, partition)
    }

    /// Commits a position for this consumer's group id (gateways resume from it).
    pub fn commit(&self, record: &Record) -> Result<(), KafkaError> {
        let tpl = commit_list(&[record])?;
        self.inner
            .commit(&tpl, CommitMode::Sync)
            .map_err(client_err("commit"))
    }
}
