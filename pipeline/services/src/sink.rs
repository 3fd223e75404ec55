//! What writes the pipeline's tables `region_totals`, `round_events` and `dead_letters` (defined
//! in `zeal_tables`): [`Destination`] (ClickHouse or the embedded store). Totals and round events
//! are written only by the v2 audit, after it re-verified them from the log
//! ([`crate::v2::audit`]); `zeal sink clickhouse` ([`Sink`]) writes the dead letters of every
//! service.
//!
//! Tables use ReplacingMergeTree on their natural key, so a message delivered twice (a sink
//! restarted before its commit) leaves one row after merges and under `FINAL`; offsets are
//! committed only after the rows are inserted.

use crate::driver::{Backoff, Handler, Inbox, Turn};
use crate::metrics::Metrics;
use crate::{ServiceError, Shutdown, now_ms};
use std::time::{Duration, Instant};
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::admin::partition_count;
use zeal_connectors::kafka::{GroupConsumer, KafkaConfig, Record, TopicNames};
use zeal_schemas::{DeadLetter, decode};
use zeal_tables::Destination;
use zeal_tables::{LetterRow, RoundEventRow, TotalRow};

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
    pub events: Vec<RoundEventRow>,
    pub letters: Vec<LetterRow>,
}

impl Batch {
    fn len(&self) -> usize {
        self.totals.len() + self.events.len() + self.letters.len()
    }
}

impl Batch {
    /// Writes every kind of row; returns how many of each (totals, events, letters).
    pub async fn write_to<D: Destination>(
        &self,
        dest: &D,
    ) -> Result<(u64, u64, u64), ServiceError> {
        Ok((
            dest.write(&self.totals).await?,
            dest.write(&self.events).await?,
            dest.write(&self.letters).await?,
        ))
    }
}

/// The dead-letter sink: `zeal.dlq.v1` into a [`Destination`].
pub struct Sink<D> {
    settings: SinkSettings,
    dest: D,
}

/// The ClickHouse sink.
pub type ClickHouseSink = Sink<Warehouse>;

impl<D: Destination> Sink<D> {
    /// A sink into `dest` (a ClickHouse one with its tables created: `zeal_tables::migrate`).
    pub fn new(settings: SinkSettings, dest: D) -> Self {
        Sink { settings, dest }
    }

    /// Consumes the dead-letter topic until `shutdown`.
    pub async fn run(self, shutdown: Shutdown) -> Result<SinkReport, ServiceError> {
        let s = &self.settings;
        // Every partition, offsets in the group (not a group member): a sink replacing a
        // crashed one resumes at once (see `GroupConsumer::assign`).
        let partitions = partition_count(&s.kafka, &s.topics.dlq).await?;
        let consumer =
            GroupConsumer::assign(&s.kafka, &s.group_id, &[(&s.topics.dlq, partitions)])?;
        let mut handler = Letters {
            settings: s,
            dest: &self.dest,
            consumer: &consumer,
            inserts: Backoff::new("insert"),
            batch: Batch::default(),
            pending: Vec::new(),
            oldest: None,
            report: SinkReport::default(),
        };
        Inbox::new(&consumer, s.metrics.clone())
            .drive(&shutdown, &mut handler)
            .await?;
        Ok(handler.report)
    }
}

/// The sink's handlers: dead letters batched into rows, inserted when the batch is full, old
/// enough or the sink stops, and their offsets committed after the insert.
struct Letters<'a, D> {
    settings: &'a SinkSettings,
    dest: &'a D,
    consumer: &'a GroupConsumer,
    inserts: Backoff,
    batch: Batch,
    /// Records whose rows are in `batch` (their offsets are committed after the insert).
    pending: Vec<Record>,
    oldest: Option<Instant>,
    report: SinkReport,
}

impl<D: Destination> Handler for Letters<'_, D> {
    fn wait(&self) -> Duration {
        Duration::from_millis(200)
    }

    async fn record(&mut self, r: Record) -> Result<(), ServiceError> {
        match decode::<DeadLetter>(&r.payload) {
            Ok(l) => self.batch.letters.push(letter_row(&l)),
            // An unreadable dead letter is not dead-lettered again (no loops): logged.
            Err(e) => {
                tracing::warn!(offset = r.offset, partition = r.partition, error = %e, "undecodable dead letter")
            }
        }
        self.pending.push(r);
        self.oldest.get_or_insert_with(Instant::now);
        Ok(())
    }

    async fn turn(&mut self, stop: bool) -> Result<Turn, ServiceError> {
        let s = self.settings;
        let due = self.oldest.is_some_and(|t| t.elapsed() >= s.max_delay)
            || self.batch.len() >= s.batch_rows
            || stop;
        if !due || self.pending.is_empty() {
            return Ok(Turn::Continue);
        }
        match self.batch.write_to(self.dest).await {
            Ok((_, _, l)) => {
                self.inserts.succeeded();
                self.report.letter_rows += l;
                s.metrics.rows_written("dead_letters", l);
            }
            Err(e) if !stop => {
                // Keep the rows and the offsets; re-delivery is harmless (ReplacingMergeTree).
                self.inserts.failed(&s.metrics, &e).await;
                return Ok(Turn::Continue);
            }
            Err(e) => return Err(e),
        }
        self.batch = Batch::default();
        // The newest record of each partition commits everything before it.
        let mut newest: std::collections::BTreeMap<(String, i32), &Record> = Default::default();
        for r in &self.pending {
            newest.insert((r.topic.clone(), r.partition), r);
        }
        let refs: Vec<&Record> = newest.into_values().collect();
        if let Err(e) = self.consumer.commit_all(&refs).await {
            tracing::warn!(error = %e, "commit failed; rows may be re-delivered (harmless)");
        }
        self.pending.clear();
        self.oldest = None;
        tracing::debug!(report = ?self.report, at = now_ms(), "sink flushed");
        Ok(Turn::Continue)
    }
}
