//! `zeal jobs balance --follow`: the grid-balance job on the broker. It reads the utility's
//! feeder readings (`zeal.feeder.v1`) and billing registers (`zeal.billing.v1`) from the
//! beginning of the topics, checks each against the utility's metering key (refusals are
//! dead-lettered), reads the verified private totals of the same intervals from the store, and
//! judges them with `zeal_grid::ledger`: `grid_balance` rows to the store, alert events on
//! `zeal.grid-alerts.v1` (key = region), the open alerts as a metric.
//!
//! Each turn reads from the store only the intervals that still lack a total and judges only
//! the regions with new input (`Ledger::wanted`, `Ledger::judge`).
//!
//! The job keeps no offsets: its state is a function of the two topics and the store, rebuilt
//! from them on every start (the feeder topic's retention must cover the loss model's history).
//! A restart therefore publishes the alerts it finds again; an alert's identity is its region,
//! kind, state and `detected_at`, and consumers deduplicate on it.

use crate::driver::{Backoff, Handler, Inbox, Turn};
use crate::metrics::Metrics;
use crate::{ServiceError, Shutdown, dlq, now_ms};
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{
    AssignedConsumer, KafkaConfig, KeyedProducer, Record, StartAt, TopicNames, admin,
};
use zeal_grid::billing::Tolerance;
use zeal_grid::ledger::{Conflict, Judgement, Ledger, Published};
use zeal_grid::metering;
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_schemas::grid::{GridAlert, GridAlertKind, GridAlertState};
use zeal_schemas::{AnyMessage, RejectReason, decode_any};
use zeal_tables::{Destination, GridBalanceRow, ReadTotals};

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct BalanceSettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    pub group_id: String,
    /// The utility's metering key: feeder readings and billing registers verify under it.
    pub metering_key: VerifyingKey,
    /// Days each region's loss model is fitted on (its first days with data).
    pub history_days: u32,
    /// How often the totals are read again and everything new is judged.
    pub judge_every: Duration,
    /// Stop after a last judgement once no input has arrived for this long (replays, tests,
    /// the demo). `None`: run until stopped.
    pub idle_exit: Option<Duration>,
    pub metrics: Metrics,
}

/// What the job did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BalanceReport {
    pub feeder_readings: u64,
    pub billing_registers: u64,
    pub dead_letters: u64,
    pub rows: u64,
    /// Every alert event published, in order.
    pub alerts: Vec<GridAlert>,
    /// Why regions or billing periods were not judged at the last judgement.
    pub waiting: Vec<(String, String)>,
}

/// The job.
pub struct BalanceJob<S> {
    settings: BalanceSettings,
    store: S,
}

impl<S: Destination + ReadTotals> BalanceJob<S> {
    /// A job judging against the totals in `store` and writing its rows there.
    pub fn new(settings: BalanceSettings, store: S) -> Self {
        BalanceJob { settings, store }
    }

    /// Runs until `shutdown`, or until idle when `idle_exit` is set.
    pub async fn run(self, shutdown: Shutdown) -> Result<BalanceReport, ServiceError> {
        let s = &self.settings;
        let producer = KeyedProducer::new(&s.kafka)?;
        let consumer = AssignedConsumer::new(&s.kafka, &s.group_id)?;
        let mut spec = Vec::new();
        for topic in [&s.topics.feeder, &s.topics.billing] {
            for p in 0..admin::partition_count(&s.kafka, topic).await? {
                spec.push((topic.as_str(), p, StartAt::Beginning));
            }
        }
        consumer.assign(&spec)?;
        tracing::info!(history_days = s.history_days, "grid-balance job started");
        let mut handler = Balance {
            job: &self,
            shutdown: shutdown.clone(),
            producer,
            ledger: Ledger::new(s.history_days, Tolerance::default()),
            report: BalanceReport::default(),
            last_input: Instant::now(),
            judged: None,
            inserts: Backoff::new("insert"),
        };
        Inbox::new(&consumer, s.metrics.clone())
            .drive(&shutdown, &mut handler)
            .await?;
        let report = handler.report;
        tracing::info!(
            feeder = report.feeder_readings,
            billing = report.billing_registers,
            rows = report.rows,
            alerts = report.alerts.len(),
            "grid-balance job stopped"
        );
        Ok(report)
    }
}

struct Balance<'a, S> {
    job: &'a BalanceJob<S>,
    shutdown: Shutdown,
    producer: KeyedProducer,
    ledger: Ledger,
    report: BalanceReport,
    last_input: Instant,
    /// When the ledger was last judged (with the input it had then).
    judged: Option<Instant>,
    inserts: Backoff,
}

impl<S: Destination + ReadTotals> Balance<'_, S> {
    /// Folds one record into the ledger, or returns its dead letter.
    fn fold(&mut self, r: &Record) -> Result<(), Box<zeal_schemas::DeadLetter>> {
        let key = &self.job.settings.metering_key;
        let reject = |reason, detail: String, region: Option<String>| {
            Box::new(dlq::letter(
                r,
                reason,
                detail,
                None,
                region,
                "balance",
                now_ms(),
            ))
        };
        let refused = |e: metering::Refused, region: &str| {
            let reason = match e {
                metering::Refused::BadSignature => RejectReason::BadSignature,
                metering::Refused::Invalid(_) => RejectReason::Malformed,
            };
            reject(reason, e.to_string(), Some(region.to_string()))
        };
        let duplicate = |c: Conflict, region: &str| {
            reject(
                RejectReason::Duplicate,
                c.to_string(),
                Some(region.to_string()),
            )
        };
        match decode_any(&r.payload) {
            Ok(AnyMessage::FeederReading(f)) if r.topic == self.job.settings.topics.feeder => {
                metering::verify_feeder(key, &f).map_err(|e| refused(e, &f.region))?;
                self.ledger
                    .feeder(&f.region, f.interval_start, f.energy_wh)
                    .map_err(|c| duplicate(c, &f.region))?;
                self.report.feeder_readings += 1;
                Ok(())
            }
            Ok(AnyMessage::BillingRegister(b)) if r.topic == self.job.settings.topics.billing => {
                metering::verify_billing(key, &b).map_err(|e| refused(e, &b.region))?;
                let period = (b.period_start, b.period_end);
                self.ledger
                    .billed(&b.region, &b.meter_id, period, b.import_wh, b.export_wh)
                    .map_err(|c| duplicate(c, &b.region))?;
                self.report.billing_registers += 1;
                Ok(())
            }
            Ok(other) => Err(reject(
                RejectReason::Malformed,
                format!("a {} does not belong on {}", other.kind(), r.topic),
                None,
            )),
            Err(e) => Err(Box::new(dlq::undecodable(r, &e, "balance", now_ms()))),
        }
    }

    /// Reads the totals the ledger still lacks, judges what changed, writes the rows, publishes
    /// the alerts.
    async fn judge(&mut self) -> Result<(), ServiceError> {
        let s = &self.job.settings;
        let mut totals = Vec::new();
        for range in self.ledger.wanted() {
            totals.extend(self.job.store.region_totals(Some(range)).await?);
        }
        let mut published = std::collections::BTreeMap::new();
        for t in totals.iter().filter(|t| t.interval_seconds == 900) {
            let p = published
                .entry((t.region.clone(), t.interval_start_ms))
                .or_insert((None, None, u64::MAX));
            match t.channel.as_str() {
                "import_wh" => p.0 = Some(t.total),
                "export_wh" => p.1 = Some(t.total),
                _ => continue,
            }
            p.2 = p.2.min(u64::from(t.contributors));
        }
        for ((region, start), (import, export, contributors)) in published {
            let (Some(import_wh), Some(export_wh)) = (import, export) else {
                continue;
            };
            let p = Published {
                import_wh,
                export_wh,
                contributors,
            };
            if let Err(c) = self.ledger.total(&region, start, p) {
                tracing::warn!(conflict = %c, "a published total changed; the first is kept");
            }
        }
        let Judgement {
            rows,
            events,
            open,
            waiting,
            ..
        } = self.ledger.judge();
        let now = (now_ms() / 1000) as u32;
        let rows: Vec<GridBalanceRow> = rows
            .into_iter()
            .map(|j| GridBalanceRow {
                region: j.region,
                interval_start: (j.interval.start_ms / 1000) as u32,
                total_wh: j.interval.total_wh as i64,
                feeder_wh: j.interval.feeder_wh,
                expected_loss_wh: j.expected_loss_wh,
                unexplained_wh: j.unexplained_wh,
                z: j.z,
                alert: u8::from(j.alert),
                computed_at: now,
            })
            .collect();
        self.report.rows += self
            .inserts
            .write(
                &self.job.store,
                &rows,
                "grid_balance",
                &s.metrics,
                &self.shutdown,
            )
            .await?;
        for e in events {
            tracing::warn!(region = %e.region, kind = ?e.kind, state = ?e.state, from = e.first_interval, to = e.end, wh = e.unexplained_wh, "grid alert");
            self.producer
                .send_message(&s.topics.grid_alerts, e.region.as_bytes(), &e)
                .await?;
            s.metrics.grid_alert(alert_label(&e));
            self.report.alerts.push(e);
        }
        s.metrics
            .open_grid_alerts(open.values().sum::<usize>() as i64);
        self.report.waiting = waiting;
        Ok(())
    }
}

/// The alert counter's label: `feeder_raised`, `feeder_closed`, `billing`.
fn alert_label(e: &GridAlert) -> &'static str {
    match (e.kind, e.state) {
        (GridAlertKind::Feeder, GridAlertState::Raised) => "feeder_raised",
        (GridAlertKind::Feeder, _) => "feeder_closed",
        (GridAlertKind::Billing, _) => "billing",
        (GridAlertKind::Unknown, _) => "unknown",
    }
}

impl<S: Destination + ReadTotals> Handler for Balance<'_, S> {
    const DRAIN: usize = 500;

    fn wait(&self) -> Duration {
        Duration::from_millis(200)
    }

    async fn record(&mut self, r: Record) -> Result<(), ServiceError> {
        self.last_input = Instant::now();
        if let Err(letter) = self.fold(&r) {
            self.report.dead_letters += 1;
            let s = &self.job.settings;
            dlq::publish(&self.producer, &s.topics.dlq, &letter, &s.metrics).await?;
        }
        Ok(())
    }

    async fn turn(&mut self, stop: bool) -> Result<Turn, ServiceError> {
        if stop {
            return Ok(Turn::Done);
        }
        let s = &self.job.settings;
        let due = self.judged.is_none_or(|at| at.elapsed() >= s.judge_every);
        let idle = s.idle_exit.is_some_and(|d| self.last_input.elapsed() >= d);
        if due || idle {
            self.judge().await?;
            self.judged = Some(Instant::now());
        }
        // Idle: the last judgement above saw every input (none arrived for `idle_exit`).
        Ok(if idle { Turn::Done } else { Turn::Continue })
    }
}
