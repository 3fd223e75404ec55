//! Time-range replay: read every message of some topics whose timestamp lies in
//! `[from_ms, to_ms]`, using `offsets_for_times` to find where to start and where to stop (the
//! first message after `to_ms`, or the high watermark taken at the start), so a replay reads the
//! range's messages and not the log around them, and a replay of a live topic terminates.

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

/// Per partition (of `marks`: partition -> (low, high) watermarks), the first offset stamped at
/// or after `ts`, `None` when there is none yet. tansu 0.6 answers a time past a partition's
/// last message with the partition's first offset, where Kafka answers "none": an answer at the
/// low watermark is therefore checked against that message's own timestamp (one fetch).
async fn first_at_or_after(
    config: &KafkaConfig,
    group_id: &str,
    consumer: &AssignedConsumer,
    topic: &str,
    marks: &HashMap<i32, (i64, i64)>,
    ts: i64,
) -> Result<HashMap<i32, Option<i64>>, KafkaError> {
    let partitions: Vec<i32> = marks.keys().copied().collect();
    let found = tokio::task::block_in_place(|| consumer.offsets_for_time(topic, &partitions, ts))?;
    let mut out = HashMap::new();
    for (p, offset) in found {
        let (low, high) = marks[&p];
        let offset = match offset {
            Some(o) if o == low && o < high => {
                let stamped = timestamp_at(config, group_id, topic, p, o).await?;
                Some(o).filter(|_| stamped.is_none_or(|t| t >= ts))
            }
            other => other,
        };
        out.insert(p, offset);
    }
    Ok(out)
}

/// The timestamp of the message at `offset` of a partition (`None`: it has none, or it did
/// not arrive within the replay's stall timeout).
async fn timestamp_at(
    config: &KafkaConfig,
    group_id: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<i64>, KafkaError> {
    let peek = AssignedConsumer::new(config, group_id)?;
    peek.assign(&[(topic, partition, StartAt::Offset(offset))])?;
    Ok(peek
        .recv(Duration::from_secs(30))
        .await?
        .and_then(|r| r.timestamp_ms))
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
    /// `group_id` (a replay never commits, so it does not disturb live consumers). Each
    /// partition is read from its first message stamped at or after `from_ms` to the last before
    /// the first stamped after `to_ms`: timestamps are the producers' clocks, so a message
    /// written after one stamped past the range is not read even if its own stamp is inside
    /// (callers that must not miss such stragglers widen the range by a margin).
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
            let mut marks = HashMap::new();
            for p in &partitions {
                let m = tokio::task::block_in_place(|| consumer.watermarks(topic, *p))?;
                marks.insert(*p, m);
            }
            let at = |ts: i64| first_at_or_after(config, group_id, &consumer, topic, &marks, ts);
            // Kafka timestamps are not negative: a range from 0 starts at each partition's
            // first message, with no query.
            let starts = if from_ms <= 0 {
                marks.iter().map(|(p, (low, _))| (*p, Some(*low))).collect()
            } else {
                at(from_ms).await?
            };
            // Where the range ends: the first message stamped after it (none yet: the end of
            // the log as it is now).
            let ends = match to_ms.checked_add(1) {
                Some(after) => at(after).await?,
                None => HashMap::new(),
            };
            for (partition, (_, high)) in &marks {
                let end = ends
                    .get(partition)
                    .copied()
                    .flatten()
                    .map_or(*high, |e| e.min(*high));
                if let Some(start) = starts
                    .get(partition)
                    .copied()
                    .flatten()
                    .filter(|s| *s < end)
                {
                    pending.insert((topic.to_string(), *partition), end);
                    assignment.push((topic.to_string(), *partition, start));
                    total += (end - start) as u64;
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
