//! `zeal jobs gamify`: the game's daily metrics and awards, written to `household_daily` and
//! `gamification_events`.
//!
//! For a range of days it reads the opted-in households' readings (verified against the
//! registry, like the disaggregation job) and the region's *private aggregates* from
//! `region_totals` — the 15-minute totals and contributors, and the daily round's consumption
//! histogram — computes each household's day with `zeal_game::metrics::household_day` (which
//! sees nothing of any other household), and the game's events over its whole history. Both
//! tables are ReplacingMergeTree on their natural key: recomputing a day replaces its rows.

use crate::dlq;
use crate::erasure::ErasureLog;
use crate::metrics::Metrics;
use crate::registry::RegistryFollower;
use crate::{ServiceError, now_ms};
use std::collections::BTreeMap;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, Replay, TopicNames};
use zeal_game::day::{BASELINE_DAYS, BUCKETS};
use zeal_game::metrics::{OwnReading, RegionDay, household_day};
use zeal_game::{HouseholdDay, engine::all_events};
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_protocol::v2::day::RegistryLog;
use zeal_tables::{DailyRow, Destination, GameEventRow, ReadTotals, TotalsRow};

fn daily_row(d: &HouseholdDay, now: u32) -> DailyRow {
    DailyRow {
        household_id: d.household_id.clone(),
        region: d.region.clone(),
        day: d.day.clamp(0, i64::from(u16::MAX)) as u16,
        import_kwh: d.import_kwh,
        export_kwh: d.export_kwh,
        generation_kwh: d.generation_kwh.unwrap_or(f64::NAN),
        self_consumption: d.self_consumption().unwrap_or(f64::NAN),
        self_sufficiency: d.self_sufficiency().unwrap_or(f64::NAN),
        peak_kwh: d.peak_kwh,
        solar_hours_kwh: d.solar_hours_kwh,
        baseline_kwh: d.baseline_kwh.unwrap_or(f64::NAN),
        savings_kwh: d.savings_kwh().unwrap_or(f64::NAN),
        region_average_kwh: d.region_average_kwh.unwrap_or(f64::NAN),
        efficient_kwh: d.efficient_kwh.unwrap_or(f64::NAN),
        computed_at: now,
    }
}

/// Per (region, day): the private aggregates the game may use.
pub fn region_days(rows: &[TotalsRow]) -> BTreeMap<(String, i64), RegionDay> {
    let mut out: BTreeMap<(String, i64), RegionDay> = BTreeMap::new();
    for r in rows {
        let day = r.interval_start_ms.div_euclid(86_400_000);
        let e = out
            .entry((r.region.clone(), day))
            .or_insert_with(|| RegionDay {
                import_wh: 0.0,
                contributors: 0.0,
                histogram: Vec::new(),
            });
        if r.interval_seconds == 900 && r.channel == "import_wh" && r.contributors > 0 {
            // The average household's day is the sum of each interval's average.
            e.import_wh += r.total as f64 / f64::from(r.contributors);
            e.contributors = 1.0;
        } else if r.interval_seconds == 86_400
            && let Some(i) = r
                .channel
                .strip_prefix("bucket_")
                .and_then(|n| n.parse::<usize>().ok())
            && i < BUCKETS
        {
            if e.histogram.is_empty() {
                e.histogram = vec![0; BUCKETS];
            }
            e.histogram[i] = r.total.max(0) as u64;
        }
    }
    out
}

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct GamifySettings {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    /// Days (since 1970-01-01) to compute, inclusive.
    pub from_day: i64,
    pub to_day: i64,
    /// The enrolment authority: readings verify under the identity keys it certified.
    pub authority: VerifyingKey,
    /// The consent apps whose erasures count (`zeal.erasure.v1`); empty: every erasure.
    pub consent_apps: Vec<VerifyingKey>,
    pub metrics: Metrics,
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GamifyReport {
    pub readings: u64,
    pub households: u64,
    pub days: u64,
    pub events: u64,
    pub dead_letters: u64,
    /// Readings left out because their household was erased after them.
    pub erased: u64,
}

/// Computes and writes the game for the range.
pub async fn run_gamify<S: Destination + ReadTotals>(
    s: &GamifySettings,
    store: &S,
) -> Result<GamifyReport, ServiceError> {
    let mut report = GamifyReport::default();
    let producer = KeyedProducer::new(&s.kafka)?;
    let mut dir = RegistryLog::new(s.authority);
    let mut registry = RegistryFollower::start(
        &s.kafka,
        &s.topics.registry_v2,
        "zeal-gamify-registry",
        "gamify",
    )
    .await?;
    for letter in registry.catch_up(&mut dir).await? {
        dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
    }
    // Erased households' past stays out, however often the days are recomputed.
    let mut erasures = ErasureLog::new(
        &s.kafka,
        &s.topics.erasure,
        s.consent_apps.clone(),
        "gamify",
    )?;
    let erased = erasures
        .catch_up(&producer, &s.topics.dlq, &s.metrics)
        .await?
        .clone();
    // Every reading up to the range's end: points and levels accumulate over the whole history,
    // so a day recomputed later gives the same events. (Baselines need BASELINE_DAYS of it.)
    let first = 0;
    let end = (s.to_day + 1) * 86_400_000;
    let _ = BASELINE_DAYS;
    let mut replay =
        Replay::start(&s.kafka, "zeal-gamify", &[&s.topics.readings], 0, i64::MAX).await?;
    // household -> (region, its 15-minute readings by interval start). The topic is at least
    // once (a producer's retry; a gateway restarted under a grant with its history shares again):
    // a reading seen twice counts once, the later copy standing.
    type Readings = BTreeMap<i64, OwnReading>;
    let mut homes: BTreeMap<String, (String, Readings)> = BTreeMap::new();
    while let Some(r) = replay.next().await? {
        match crate::disaggregate::verify_reading(&r, &dir.registry, "gamify") {
            Ok(m) if erased.erased(&m.household_id, m.interval_start) => report.erased += 1,
            Ok(m) if (first..end).contains(&m.interval_start) => {
                report.readings += 1;
                let e = homes
                    .entry(m.household_id.clone())
                    .or_insert_with(|| (m.region.clone(), BTreeMap::new()));
                // verify_reading refused negative energy.
                e.1.insert(
                    m.interval_start,
                    OwnReading {
                        interval_start: m.interval_start,
                        import_wh: m.import_wh as u64,
                        export_wh: m.export_wh as u64,
                        generation_wh: m.generation_wh.map(|g| g as u64),
                    },
                );
            }
            Ok(_) => {}
            Err(letter) => {
                report.dead_letters += 1;
                dlq::publish(&producer, &s.topics.dlq, &letter, &s.metrics).await?;
            }
        }
    }
    let regions = region_days(&store.region_totals(Some(first..end)).await?);
    let now = (now_ms() / 1000) as u32;
    let (mut daily, mut events) = (Vec::new(), Vec::new());
    for (id, (region, readings)) in &homes {
        report.households += 1;
        let readings: Vec<OwnReading> = readings.values().cloned().collect();
        // Own daily imports, for baselines (complete days only).
        let mut per_day: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
        for r in &readings {
            let e = per_day
                .entry(r.interval_start.div_euclid(86_400_000))
                .or_default();
            e.0 += r.import_wh as f64 / 1000.0;
            e.1 += 1;
        }
        let history: Vec<(i64, f64)> = per_day
            .iter()
            .filter(|(_, (_, n))| *n == 96)
            .map(|(d, (kwh, _))| (*d, *kwh))
            .collect();
        let days: Vec<HouseholdDay> = history
            .iter()
            .map(|(d, _)| {
                household_day(
                    id,
                    region,
                    *d,
                    &readings,
                    &history,
                    regions.get(&(region.clone(), *d)),
                )
            })
            .collect();
        let (all, _) = all_events(&days);
        for d in days
            .iter()
            .filter(|d| (s.from_day..=s.to_day).contains(&d.day))
        {
            daily.push(daily_row(d, now));
            report.days += 1;
        }
        for e in all
            .into_iter()
            .filter(|e| (s.from_day..=s.to_day).contains(&e.day))
        {
            events.push(GameEventRow {
                household_id: e.household_id,
                day: e.day.clamp(0, i64::from(u16::MAX)) as u16,
                kind: e.kind,
                code: e.code,
                points: e.points,
                reason: e.reason,
                computed_at: now,
            });
        }
    }
    // Again just before writing: a household erased while this run read and computed (which
    // takes a while over the whole history) is not written back.
    let erased = erasures
        .catch_up(&producer, &s.topics.dlq, &s.metrics)
        .await?;
    let day_ms = |day: u16| i64::from(day) * 86_400_000;
    daily.retain(|r| !erased.erased(&r.household_id, day_ms(r.day)));
    events.retain(|r| !erased.erased(&r.household_id, day_ms(r.day)));
    report.days = daily.len() as u64;
    report.events = events.len() as u64;
    if !daily.is_empty() || !events.is_empty() {
        store.write(&daily).await?;
        store.write(&events).await?;
        s.metrics
            .rows_written("household_daily", daily.len() as u64);
        s.metrics
            .rows_written("gamification_events", events.len() as u64);
    }
    Ok(report)
}
