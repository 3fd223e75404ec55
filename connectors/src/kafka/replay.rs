//! Time-range replay: read every message of some topics whose timestamp lies in
//! `[from_ms, to_ms]`, using `offsets_for_times` to find where to start and the high watermark
//! taken at the start as the end, so a replay of a live topic terminates.

use super::admin::partition_count;
use super::consumer::{AssignedConsumer, StartAt};
use super::{KafkaConfig, KafkaError, Record};
use std::collections::HashMap;
use std::time::Duration;

/// How far a replay has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayProgress {
    /// Messages read so far (inside and outside the time range).
    pub read: u64,
    /// Messages read in total when the replay ends.
    pub total: u64,
    /// Messages returned (inside the time range).
    pub returned: u64,
}

/// A bounded replay of a time range.
pub struct Replay {
    consumer: AssignedConsumer,
    /// (topic, partition) -> end offset (exclusive) still to reach.
    pending: HashMap<(String, i32), i64>,
    from_ms: i64,
    to_ms: i64,
    progress: ReplayProgress,
    stall_timeout: Duration,
}

impl Replay {
    /// Prepares a replay of `topics` between two timestamps (inclusive), as consumer group
    /// `group_id` (a replay never commits, so it does not disturb live consumers).
    pub async fn start(
        config: &KafkaConfig,
        group_id: &str,
        topics: &[&str],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Replay, KafkaError> {
        let consumer = AssignedConsumer::new(config, group_id)?;
        let mut pending = HashMap::new();
        let mut assignment: Vec<(String, i32, i64)> = Vec::new();
        let mut total = 0u64;
        for topic in topics {
            let partitions: Vec<i32> = (0..partition_count(config, topic).await?).collect();
            let starts = tokio::task::block_in_place(|| {
                consumer.offsets_for_time(topic, &partitions, from_ms)
            })?;
            for (partition, start) in starts {
                let (_, high) =
                    tokio::task::block_in_place(|| consumer.watermarks(topic, partition))?;
                if let Some(start) = start.filter(|s| *s < high) {
                    pending.insert((topic.to_string(), partition), high);
                    assignment.push((topic.to_string(), partition, start));
                    total += (high - start) as u64;
                }
            }
        }
        let spec: Vec<(&str, i32, StartAt)> = assignment
            .iter()
            .map(|(t, p, o)| (t.as_str(), *p, StartAt::Offset(*o)))
            .collect();
        if !spec.is_empty() {
            consumer.assign(&spec)?;
        }
        Ok(Replay {
            consumer,
            pending,
            from_ms,
            to_ms,
            progress: ReplayProgress {
                total,
                ..Default::default()
            },
            stall_timeout: Duration::from_secs(30),
        })
    }

    /// Progress so far.
    pub fn progress(&self) -> ReplayProgress {
        self.progress
    }

    /// The next message in the range, or `None` when the range is exhausted.
    pub async fn next(&mut self) -> Result<Option<Record>, KafkaError> {
        while !self.pending.is_empty() {
            let Some(record) = self.consumer.recv(self.stall_timeout).await? else {
                let mut pending: Vec<String> = self
                    .pending
                    .iter()
                    .map(|((t, p), end)| format!("{t}[{p}] until offset {end}"))
                    .collect();
                pending.sort();
                return Err(KafkaError::ReplayStalled {
                    seconds: self.stall_timeout.as_secs(),
                    pending,
                });
            };
            let key = (record.topic.clone(), record.partition);
            let Some(&end) = self.pending.get(&key) else {
                continue; // a partition already finished
            };
            if record.offset + 1 >= end {
                self.pending.remove(&key);
            }
            if record.offset >= end {
                continue;
            }
            self.progress.read += 1;
            if record
                .timestamp_ms
                .is_some_and(|ts| ts < self.from_ms || ts > self.to_ms)
            {
                continue;
            }
            self.progress.returned += 1;
            return Ok(Some(record));
        }
        Ok(None)
    }

    /// Reads the whole range into memory (tests and small audits).
    pub async fn collect(mut self) -> Result<Vec<Record>, KafkaError> {
        let mut out = Vec::new();
        while let Some(r) = self.next().await? {
            out.push(r);
        }
        Ok(out)
    }
}
