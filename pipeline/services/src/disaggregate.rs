//! `zeal jobs disaggregate`: opted-in households' readings (`zeal.readings.v1`) to
//! `appliance_usage`, one row per household, day and appliance.
//!
//! Readings are checked against the registry (enrolled meter, its region, its signature); refused
//! ones are dead-lettered. A day is disaggregated once all 96 of its intervals and all of the
//! next day's are in (its feature window reaches across midnight), or at the end of a bounded
//! run, so the same input always gives the same rows. Rows are keyed by (household, day,
//! appliance) in a ReplacingMergeTree: re-running the job replaces rows instead of adding any.
//! Offsets are committed only up to the oldest reading still buffered.

use crate::driver::{Backoff, Handler, Inbox, Turn};
use crate::erasure::ErasureLog;
use crate::metrics::Metrics;
use crate::registry::RegistryFollower;
use crate::{ServiceError, Shutdown, dlq, now_ms};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{GroupConsumer, KafkaConfig, KeyedProducer, Record, TopicNames};
use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::appliances::PREDICTED;
use zeal_disaggregation::eval::day_confidence;
use zeal_disaggregation::features::{Day, PER_DAY, day_features};
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_protocol::v2::day::RegistryLog;
use zeal_protocol::v2::enrolment::Registry;
use zeal_schemas::{AnyMessage, HouseholdReading, RejectReason, decode_any};
use zeal_tables::{Destination, UsageRow};

/// Per-day rows from a model's predictions for the day's 96 intervals.
pub fn usage_rows(
    model: &Disaggregator,
    household: &str,
    region: &str,
    prev: Option<&Day>,
    day: &Day,
    next: Option<&Day>,
    now_ms: i64,
) -> Result<Vec<UsageRow>, zeal_disaggregation::DisaggError> {
    let features = day_features(prev, day, next)?;
    let estimates = model.predict(&features)?;
    Ok(PREDICTED
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let (mut energy, mut on) = (0f64, 0u16);
            for e in &estimates {
                if e[k].on_probability >= 0.5 {
                    energy += f64::from(e[k].energy_wh);
                    on += 1;
                }
            }
            // How sure the model is that the appliance did or did not run today (calibration
            // measured by `zeal eval`).
            let ran =
                model.ran_probability(k, estimates.iter().map(|e| f64::from(e[k].on_probability)));
            UsageRow {
                household_id: household.to_string(),
                region: region.to_string(),
                day: day.day.clamp(0, i64::from(u16::MAX)) as u16,
                appliance: a.name().to_string(),
                energy_wh: energy.round(),
                on_intervals: on,
                confidence: day_confidence(ran) as f32,
                model_version: model.meta.version.clone(),
                computed_at: (now_ms / 1000) as u32,
            }
        })
        .collect())
}

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct DisaggregateSettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    pub group_id: String,
    /// Stop (after disaggregating every buffered day, complete or not) once no reading has
    /// arrived for this long: replays, tests, the demo. `None`: run until stopped.
    pub idle_exit: Option<Duration>,
    /// The enrolment authority: readings verify under the identity keys it certified
    /// (`zeal.registry.v2`).
    pub authority: VerifyingKey,
    /// The consent apps whose erasures count (`zeal.erasure.v1`); empty: every erasure.
    pub consent_apps: Vec<VerifyingKey>,
    pub metrics: Metrics,
}

/// What the job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisaggregateReport {
    pub readings: u64,
    pub days: u64,
    pub rows: u64,
    pub dead_letters: u64,
    /// Days left out because intervals were missing when the run ended.
    pub incomplete_days: u64,
    /// Days left out because their household was erased after them.
    pub erased_days: u64,
}

/// A household's buffered readings, by day.
#[derive(Default)]
struct Household {
    region: String,
    days: BTreeMap<i64, Day>,
    /// Intervals present per day.
    filled: BTreeMap<i64, [bool; PER_DAY]>,
    /// Days already disaggregated (kept one day back as the next day's neighbour).
    done: BTreeMap<i64, Day>,
}

impl Household {
    fn complete(&self, day: i64) -> bool {
        self.filled.get(&day).is_some_and(|f| f.iter().all(|x| *x))
    }
}

/// The job.
pub struct DisaggregateJob<S> {
    settings: DisaggregateSettings,
    model: Disaggregator,
    store: S,
}

impl<S: Destination> DisaggregateJob<S> {
    /// A job writing `model`'s estimates to `store`.
    pub fn new(settings: DisaggregateSettings, model: Disaggregator, store: S) -> Self {
        DisaggregateJob {
            settings,
            model,
            store,
        }
    }

    /// Runs until `shutdown`, or until idle when `idle_exit` is set.
    pub async fn run(self, shutdown: Shutdown) -> Result<DisaggregateReport, ServiceError> {
        let s = &self.settings;
        let producer = KeyedProducer::new(&s.kafka)?;
        let mut dir = RegistryLog::new(s.authority);
        let mut registry = RegistryFollower::start(
            &s.kafka,
            &s.topics.registry_v2,
            &format!("{}-registry", s.group_id),
            "disaggregate",
        )
        .await?;
        for letter in registry.catch_up(&mut dir).await? {
            dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
        }
        let erasures = ErasureLog::new(
            &s.kafka,
            &s.topics.erasure,
            s.consent_apps.clone(),
            "disaggregate",
        )?;
        let consumer = GroupConsumer::subscribe(&s.kafka, &s.group_id, &[&s.topics.readings])?;
        tracing::info!(model = %self.model.meta.version, "disaggregation job started");
        let mut handler = Readings {
            job: &self,
            shutdown: shutdown.clone(),
            producer,
            dir,
            registry,
            erasures,
            consumer: &consumer,
            homes: BTreeMap::new(),
            buffered: BTreeMap::new(),
            last: BTreeMap::new(),
            ready: Vec::new(),
            report: DisaggregateReport::default(),
            last_input: Instant::now(),
            inserts: Backoff::new("insert"),
            last_commit: Instant::now(),
        };
        Inbox::new(&consumer, s.metrics.clone())
            .drive(&shutdown, &mut handler)
            .await?;
        let report = handler.report;
        tracing::info!(?report, "disaggregation job stopped");
        Ok(report)
    }

    fn disaggregate(
        &self,
        homes: &mut BTreeMap<String, Household>,
        ready: &[(String, i64)],
    ) -> Result<Vec<UsageRow>, ServiceError> {
        let now = now_ms();
        let mut rows = Vec::new();
        for (id, day) in ready {
            let Some(home) = homes.get_mut(id) else {
                continue;
            };
            if !home.complete(*day) {
                continue;
            }
            let Some(d) = home.days.remove(day) else {
                continue;
            };
            home.filled.remove(day);
            let prev = home.done.get(&(day - 1));
            let next = home.days.get(&(day + 1)).filter(|_| {
                home.filled
                    .get(&(day + 1))
                    .is_some_and(|f| f.iter().all(|x| *x))
            });
            let out = usage_rows(&self.model, id, &home.region, prev, &d, next, now)?;
            rows.extend(out);
            home.done.insert(*day, d);
            // Keep only yesterday as a neighbour: memory stays bounded per household.
            while home.done.len() > 1 {
                home.done.pop_first();
            }
        }
        homes.retain(|_, h| !h.days.is_empty() || !h.done.is_empty());
        Ok(rows)
    }
}

/// The job's handlers: each reading verified against the registry and buffered in its
/// household's day; complete days disaggregated and written; offsets committed up to the
/// oldest reading still buffered.
struct Readings<'a, S> {
    job: &'a DisaggregateJob<S>,
    shutdown: Shutdown,
    producer: KeyedProducer,
    dir: RegistryLog,
    registry: RegistryFollower,
    /// Checked before each write: an erased household's past is not written again.
    erasures: ErasureLog,
    consumer: &'a GroupConsumer,
    homes: BTreeMap<String, Household>,
    /// Per partition: offsets of buffered readings (commit stays below the oldest).
    buffered: BTreeMap<(String, i32), BTreeMap<i64, (String, i64)>>,
    last: BTreeMap<(String, i32), Record>,
    /// (household, day) ready to disaggregate this turn.
    ready: Vec<(String, i64)>,
    report: DisaggregateReport,
    last_input: Instant,
    inserts: Backoff,
    last_commit: Instant,
}

impl<S: Destination> Handler for Readings<'_, S> {
    async fn before(&mut self) -> Result<Turn, ServiceError> {
        if let Err(e) = self
            .registry
            .poll(&mut self.dir, Duration::from_millis(1))
            .await
        {
            tracing::warn!(error = %e, "registry read failed; retrying");
        }
        Ok(Turn::Continue)
    }

    fn wait(&self) -> Duration {
        Duration::from_millis(200)
    }

    async fn record(&mut self, r: Record) -> Result<(), ServiceError> {
        let s = &self.job.settings;
        self.last_input = Instant::now();
        let key = (r.topic.clone(), r.partition);
        match verify_reading(&r, &self.dir.registry, "disaggregate") {
            Ok(reading) => {
                self.report.readings += 1;
                let day = reading.interval_start.div_euclid(86_400_000);
                let slot = (reading.interval_start.rem_euclid(86_400_000) / 900_000) as usize;
                let home = self.homes.entry(reading.household_id.clone()).or_default();
                home.region = reading.region.clone();
                let d = home.days.entry(day).or_insert_with(|| Day {
                    day,
                    import_wh: [0.0; PER_DAY],
                    export_wh: [0.0; PER_DAY],
                });
                d.import_wh[slot] = reading.import_wh as f64;
                d.export_wh[slot] = reading.export_wh as f64;
                home.filled.entry(day).or_insert([false; PER_DAY])[slot] = true;
                // A day is done once it and the next day are complete (its window reaches
                // into the next day); the last day waits for the run's end.
                for d in [day - 1, day] {
                    if home.complete(d) && home.complete(d + 1) {
                        self.ready.push((reading.household_id.clone(), d));
                    }
                }
                self.buffered
                    .entry(key.clone())
                    .or_default()
                    .insert(r.offset, (reading.household_id, day));
            }
            Err(letter) => {
                self.report.dead_letters += 1;
                dlq::publish(&self.producer, &s.topics.dlq, &letter, &s.metrics).await?;
            }
        }
        let mut light = r;
        light.payload.clear();
        self.last.insert(key, light);
        Ok(())
    }

    async fn turn(&mut self, stop: bool) -> Result<Turn, ServiceError> {
        if stop {
            return Ok(Turn::Done);
        }
        let s = &self.job.settings;
        let idle = s
            .idle_exit
            .is_some_and(|d| self.last_input.elapsed() >= d && !self.last.is_empty());
        if idle {
            for (id, home) in &self.homes {
                for (day, filled) in &home.filled {
                    if filled.iter().all(|x| *x) {
                        self.ready.push((id.clone(), *day));
                    } else {
                        self.report.incomplete_days += 1;
                        tracing::warn!(household = %id, day, missing = filled.iter().filter(|x| !**x).count(), "day incomplete at the end of the run; not disaggregated");
                    }
                }
            }
        }
        let ready = std::mem::take(&mut self.ready);
        if !ready.is_empty() {
            let mut rows = self.job.disaggregate(&mut self.homes, &ready)?;
            let erased = self
                .erasures
                .catch_up(&self.producer, &s.topics.dlq, &s.metrics)
                .await?;
            // A day whose first interval predates the household's erasure is its erased past.
            self.report.erased_days += ready
                .iter()
                .filter(|(h, d)| erased.erased(h, d * 86_400_000))
                .count() as u64;
            rows.retain(|r| !erased.erased(&r.household_id, i64::from(r.day) * 86_400_000));
            self.report.rows += self
                .inserts
                .write(
                    &self.job.store,
                    &rows,
                    "appliance_usage",
                    &s.metrics,
                    &self.shutdown,
                )
                .await?;
            self.report.days += ready.len() as u64;
            for b in self.buffered.values_mut() {
                b.retain(|_, hd| !ready.contains(hd));
            }
        }
        if self.last_commit.elapsed() >= Duration::from_millis(500) || idle {
            let safe: Vec<Record> = self
                .last
                .iter()
                .filter_map(|(key, r)| {
                    let mut r = r.clone();
                    if let Some((first, _)) = self.buffered.get(key).and_then(|b| b.iter().next()) {
                        r.offset = first - 1;
                    }
                    (r.offset >= 0).then_some(r)
                })
                .collect();
            let refs: Vec<&Record> = safe.iter().collect();
            if !refs.is_empty()
                && let Err(e) = self.consumer.commit_all(&refs).await
            {
                tracing::warn!(error = %e, "commit failed; will retry");
            }
            self.last_commit = Instant::now();
        }
        Ok(if idle { Turn::Done } else { Turn::Continue })
    }
}

/// Decodes and checks a reading: the meter's authority certificate as of the interval (active,
/// its region), its signature under the certified identity key (`v2::readings::verify`), a
/// 15-minute interval of non-negative energy. A refusal is the dead letter to publish (`by`
/// names the job).
pub fn verify_reading(
    r: &Record,
    registry: &Registry,
    by: &str,
) -> Result<HouseholdReading, Box<zeal_schemas::DeadLetter>> {
    let now = now_ms();
    let reject = |reason, detail: String, origin: Option<String>| {
        Box::new(dlq::letter(r, reason, detail, origin, None, by, now))
    };
    let reading = match decode_any(&r.payload) {
        Ok(AnyMessage::HouseholdReading(m)) => m,
        Ok(other) => {
            return Err(reject(
                RejectReason::Malformed,
                format!("a {} does not belong on the readings topic", other.kind()),
                None,
            ));
        }
        Err(e) => return Err(Box::new(dlq::undecodable(r, &e, by, now))),
    };
    let origin = Some(reading.household_id.clone());
    if let Err(e) = zeal_protocol::v2::readings::verify(registry, &reading) {
        use zeal_protocol::v2::readings::ReadingRefused as R;
        let reason = match e {
            R::NotCertified(_) => RejectReason::UnknownSender,
            R::BadSignature(_) => RejectReason::BadSignature,
            R::Retired(_) | R::WrongRegion { .. } => RejectReason::Other,
        };
        return Err(reject(reason, e.to_string(), origin));
    }
    if reading.interval_seconds != 900
        || reading.import_wh < 0
        || reading.export_wh < 0
        || reading.generation_wh.is_some_and(|g| g < 0)
    {
        return Err(reject(
            RejectReason::Malformed,
            format!(
                "expected a 900 s interval with non-negative energy, got {} s, {} / {} / {:?} Wh \
                 (import / export / generation)",
                reading.interval_seconds,
                reading.import_wh,
                reading.export_wh,
                reading.generation_wh
            ),
            origin,
        ));
    }
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app's threshold and the one `zeal eval` measures are one number.
    #[test]
    fn the_app_shows_what_the_evaluation_calls_confident() {
        let (app, eval) = (
            f64::from(zeal_tables::appliance_usage::CONFIDENT),
            zeal_disaggregation::eval::CONFIDENT,
        );
        assert!((app - eval).abs() < 1e-6, "{app} vs {eval}");
    }

    /// The game job shares this check: its dead letters must name it, not the disaggregation job.
    #[test]
    fn a_refused_reading_names_the_job_that_refused_it() {
        let reading = HouseholdReading {
            household_id: "NL-R01-m0001".into(),
            region: "NL-R01".into(),
            interval_start: 1_593_561_600_000,
            interval_seconds: 900,
            import_wh: 120,
            export_wh: 0,
            generation_wh: None,
            signature: vec![0; 64],
        };
        let record = Record {
            topic: "zeal.readings.v1".into(),
            partition: 0,
            offset: 7,
            key: None,
            payload: zeal_schemas::encode(&reading).unwrap(),
            timestamp_ms: None,
        };
        let authority = zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let log = RegistryLog::new(authority.verifying_key());
        for by in ["gamify", "disaggregate"] {
            let letter = verify_reading(&record, &log.registry, by).unwrap_err();
            assert_eq!(letter.rejected_by, by);
            assert_eq!(letter.reason, RejectReason::UnknownSender, "not certified");
        }
    }
}
