//! What writes the pipeline's tables `region_totals`, `round_events` and `dead_letters` (defined
//! in `zeal_tables`): [`Destination`] (ClickHouse or the embedded store). Totals and round events
//! are written only by the v2 audit, after it re-verified them from the log
//! ([`crate::v2::audit`]); `zeal sink clickhouse` ([`Sink`]) writes the dead letters of every
//! service.
//!
//! Tables use ReplacingMergeTree on their natural key, so a message delivered twice (a sink
//! restarted before its commit) leaves one row after merges and under `FINAL`; offsets are
//! committed only after the rows are inserted.

use crate::metrics::Metrics;
use crate::{LAG_EVERY, ServiceError, Shutdown, now_ms, stopping, update_lag};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::admin::partition_count;
use zeal_connectors::kafka::{GroupConsumer, KafkaConfig, Record, TopicNames};
use zeal_embedded::store::{ParquetStore, Values};
use zeal_schemas::{DeadLetter, decode};

/// One row of `region_totals`: a region's total for one interval and channel.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct TotalRow {
    pub region: String,
    pub interval_start: u32,
    pub interval_seconds: u32,
    pub channel: String,
    pub total: i64,
    pub contributors: u32,
    pub attempt: u16,
    pub carried_intervals: Vec<u32>,
    pub published_at: u32,
    pub aggregator_id: String,
}

/// One row of `round_events`: a round outcome (meter_id empty) or a quarantine.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct EventRow {
    pub region: String,
    pub interval_start: u32,
    pub attempt: u16,
    pub event: String,
    pub meter_id: String,
    pub reason: String,
    pub roster_size: u32,
    pub missing: Vec<String>,
    pub culprits: Vec<String>,
    pub decided_at: u32,
    pub aggregator_id: String,
}

/// One row of `dead_letters`: an input a service refused (the payload stays on the topic).
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Serialize, Deserialize)]
pub struct LetterRow {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
    pub detail: String,
    pub origin: String,
    pub region: String,
    pub rejected_by: String,
    pub rejected_at: u32,
}

/// The row of a dead letter; `reason` is the lower-case name the metrics use too.
pub fn letter_row(l: &DeadLetter) -> LetterRow {
    LetterRow {
        topic: l.topic.clone(),
        partition: l.partition,
        offset: l.offset,
        reason: crate::metrics::symbol(&l.reason),
        detail: l.detail.clone(),
        origin: l.origin.clone().unwrap_or_default(),
        region: l.region.clone().unwrap_or_default(),
        rejected_by: l.rejected_by.clone(),
        rejected_at: secs(l.rejected_at),
    }
}

fn secs(ms: i64) -> u32 {
    (ms.max(0) / 1000) as u32
}

/// Settings of the sink.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    pub group_id: String,
    /// Rows buffered before an insert.
    pub batch_rows: usize,
    /// Longest time a row waits before it is inserted.
    pub max_delay: Duration,
    /// Where the sink counts rows written, dead letters and lag.
    pub metrics: Metrics,
}

/// What the sink wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Dead letters written.
    pub letter_rows: u64,
}

/// Rows waiting for one insert.
#[derive(Debug, Default)]
pub struct Batch {
    pub totals: Vec<TotalRow>,
    pub events: Vec<EventRow>,
    pub letters: Vec<LetterRow>,
}

impl Batch {
    fn len(&self) -> usize {
        self.totals.len() + self.events.len() + self.letters.len()
    }
}

/// Where a sink writes rows.
pub trait Destination: Send + Sync {
    /// Writes every kind of row; returns how many of each (totals, events, letters).
    fn write(
        &self,
        batch: &Batch,
    ) -> impl std::future::Future<Output = Result<(u64, u64, u64), ServiceError>> + Send;
}

impl Destination for Warehouse {
    async fn write(&self, batch: &Batch) -> Result<(u64, u64, u64), ServiceError> {
        let t = self.insert_rows("region_totals", &batch.totals).await?;
        let e = self.insert_rows("round_events", &batch.events).await?;
        let l = self.insert_rows("dead_letters", &batch.letters).await?;
        Ok((t, e, l))
    }
}

fn joined<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

fn strs<T>(rows: &[T], f: impl Fn(&T) -> String) -> Values {
    Values::Str(rows.iter().map(f).collect())
}

fn millis<T>(rows: &[T], f: impl Fn(&T) -> u32) -> Values {
    Values::Millis(rows.iter().map(|r| i64::from(f(r)) * 1000).collect())
}

fn u32s<T>(rows: &[T], f: impl Fn(&T) -> u32) -> Values {
    Values::U32(rows.iter().map(f).collect())
}

impl Destination for ParquetStore {
    async fn write(&self, batch: &Batch) -> Result<(u64, u64, u64), ServiceError> {
        let (totals, events, letters) = (&batch.totals, &batch.events, &batch.letters);
        let t = self.append(
            "region_totals",
            vec![
                ("region", strs(totals, |r| r.region.clone())),
                ("interval_start", millis(totals, |r| r.interval_start)),
                ("interval_seconds", u32s(totals, |r| r.interval_seconds)),
                ("channel", strs(totals, |r| r.channel.clone())),
                (
                    "total",
                    Values::I64(totals.iter().map(|r| r.total).collect()),
                ),
                ("contributors", u32s(totals, |r| r.contributors)),
                ("attempt", u32s(totals, |r| u32::from(r.attempt))),
                (
                    "carried_intervals",
                    strs(totals, |r| joined(&r.carried_intervals)),
                ),
                ("published_at", millis(totals, |r| r.published_at)),
                ("aggregator_id", strs(totals, |r| r.aggregator_id.clone())),
            ],
        )?;
        let e = self.append(
            "round_events",
            vec![
                ("region", strs(events, |r| r.region.clone())),
                ("interval_start", millis(events, |r| r.interval_start)),
                ("attempt", u32s(events, |r| u32::from(r.attempt))),
                ("event", strs(events, |r| r.event.clone())),
                ("meter_id", strs(events, |r| r.meter_id.clone())),
                ("reason", strs(events, |r| r.reason.clone())),
                ("roster_size", u32s(events, |r| r.roster_size)),
                ("missing", strs(events, |r| joined(&r.missing))),
                ("culprits", strs(events, |r| joined(&r.culprits))),
                ("decided_at", millis(events, |r| r.decided_at)),
                ("aggregator_id", strs(events, |r| r.aggregator_id.clone())),
            ],
        )?;
        let l = self.append(
            "dead_letters",
            vec![
                ("topic", strs(letters, |r| r.topic.clone())),
                (
                    "partition",
                    Values::I64(letters.iter().map(|r| i64::from(r.partition)).collect()),
                ),
                (
                    "offset",
                    Values::I64(letters.iter().map(|r| r.offset).collect()),
                ),
                ("reason", strs(letters, |r| r.reason.clone())),
                ("detail", strs(letters, |r| r.detail.clone())),
                ("origin", strs(letters, |r| r.origin.clone())),
                ("region", strs(letters, |r| r.region.clone())),
                ("rejected_by", strs(letters, |r| r.rejected_by.clone())),
                ("rejected_at", millis(letters, |r| r.rejected_at)),
            ],
        )?;
        Ok((t as u64, e as u64, l as u64))
    }
}

/// The dead-letter sink: `zeal.dlq.v1` into a [`Destination`].
pub struct Sink<D> {
    settings: SinkSettings,
    dest: D,
}

/// The ClickHouse sink.
pub type ClickHouseSink = Sink<Warehouse>;

impl Sink<Warehouse> {
    /// Creates the tables (idempotent) and returns the sink.
    pub async fn new(settings: SinkSettings, warehouse: Warehouse) -> Result<Self, ServiceError> {
        zeal_tables::migrate(&warehouse).await?;
        Ok(Sink {
            settings,
            dest: warehouse,
        })
    }
}

impl Sink<ParquetStore> {
    /// A sink into the embedded store.
    pub fn parquet(settings: SinkSettings, store: ParquetStore) -> Self {
        Sink {
            settings,
            dest: store,
        }
    }
}

impl<D: Destination> Sink<D> {
    /// Consumes the dead-letter topic until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) -> Result<SinkReport, ServiceError> {
        let s = &self.settings;
        // Every partition, offsets in the group (not a group member): a sink replacing a
        // crashed one resumes at once (see `GroupConsumer::assign`).
        let partitions = partition_count(&s.kafka, &s.topics.dlq).await?;
        let consumer =
            GroupConsumer::assign(&s.kafka, &s.group_id, &[(&s.topics.dlq, partitions)])?;
        let mut batch = Batch::default();
        let mut pending: Vec<Record> = Vec::new();
        let mut oldest: Option<Instant> = None;
        let mut report = SinkReport::default();
        let mut last_lag = Instant::now();
        loop {
            let stop = stopping(&shutdown);
            if last_lag.elapsed() >= LAG_EVERY {
                update_lag(&s.metrics, tokio::task::block_in_place(|| consumer.lag()));
                last_lag = Instant::now();
            }
            let received = if stop {
                None
            } else {
                match consumer.recv(Duration::from_millis(200)).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "consume failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        None
                    }
                }
            };
            if let Some(r) = received {
                match decode::<DeadLetter>(&r.payload) {
                    Ok(l) => batch.letters.push(letter_row(&l)),
                    // An unreadable dead letter is not dead-lettered again (no loops): logged.
                    Err(e) => {
                        tracing::warn!(offset = r.offset, partition = r.partition, error = %e, "undecodable dead letter")
                    }
                }
                pending.push(r);
                oldest.get_or_insert_with(Instant::now);
            }
            let due = oldest.is_some_and(|t| t.elapsed() >= s.max_delay)
                || batch.len() >= s.batch_rows
                || stop;
            if due && !pending.is_empty() {
                let inserted = self.dest.write(&batch).await;
                match inserted {
                    Ok((_, _, l)) => {
                        report.letter_rows += l;
                        s.metrics.rows_written("dead_letters", l);
                    }
                    Err(e) if !stop => {
                        // Keep the rows and the offsets; re-delivery is harmless (ReplacingMergeTree).
                        tracing::warn!(error = %e, "insert failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                batch = Batch::default();
                // The newest record of each partition commits everything before it.
                let mut newest: std::collections::BTreeMap<(String, i32), &Record> =
                    Default::default();
                for r in &pending {
                    newest.insert((r.topic.clone(), r.partition), r);
                }
                let refs: Vec<&Record> = newest.into_values().collect();
                if let Err(e) = consumer.commit_all(&refs).await {
                    tracing::warn!(error = %e, "commit failed; rows may be re-delivered (harmless)");
                }
                pending.clear();
                oldest = None;
                tracing::debug!(?report, at = now_ms(), "sink flushed");
            }
            if stop {
                break;
            }
        }
        Ok(report)
    }
}
