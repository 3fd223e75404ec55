//! The demo's private totals on protocol v2: per region, the day's committee and seat keys, an
//! aggregator node and a gateway node for its households (meters and seats), rounds through the
//! broker; then the audit re-verifies every round from the topics alone and only its verified
//! totals are stored.
//!
//! The enrolment authority certifies every household's identity key on the deployment's registry
//! topic, signs the day's Cutoff, and a local beacon (standing in for a public one) posts its
//! round; each region's day (roster, identity keys, committee) is derived from that topic alone
//! (`services::v2::registry::load_day`). The seats' daily keys are generated here, in the one
//! process that plays every household; their announcements, the aggregator's KeysClosed and the
//! rounds run on the broker, and every node and the audit take the day's seats from the log.

use anyhow::Context;
use rand::{RngCore, SeedableRng};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{KeyedProducer, Replay};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::crypto::paillier::SeatSecretKey;
use zeal_protocol::v2::day::{RegistryLog, key_context};
use zeal_protocol::v2::enrolment::{BeaconRound, Certificate, Cutoff, Status, beacon_round_of};
use zeal_protocol::v2::params::{DAY_SECONDS, Params};
use zeal_protocol::v2::round::log::Outcome;
use zeal_services::deployment::Deployment;
use zeal_services::metrics::Role;
use zeal_services::sink::Batch;
use zeal_services::v2::audit::rows;
use zeal_services::v2::registry::{load_day, publish_beacon, publish_certificate, publish_cutoff};
use zeal_services::v2::{AuditReport, Party, RegionNode, RegionSettings, audit_day};

/// One meter's reading: (meter id, region, interval start ms, [import, export]).
pub type Reading = (String, String, i64, Vec<u64>);

/// The enrolment authority and every household's identity key (its gateway's).
pub struct Households {
    pub authority: SigningKey,
    pub identities: BTreeMap<String, SigningKey>,
}

impl Households {
    /// Fresh keys for the authority and for each of `meters`.
    pub fn generate<'a>(meters: impl IntoIterator<Item = &'a String>) -> Households {
        let mut rng = rand_chacha::ChaCha20Rng::from_os_rng();
        let mut key = || {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            SigningKey::from_bytes(&seed)
        };
        Households {
            authority: key(),
            identities: meters.into_iter().map(|m| (m.clone(), key())).collect(),
        }
    }
}

/// What the v2 rounds did.
pub struct PrivateTotals {
    /// Rows of the verified totals and round events, to store.
    pub batch: Batch,
    /// The audit of every region's day.
    pub audits: BTreeMap<String, AuditReport>,
    /// Dead letters the nodes wrote.
    pub dead_letters: usize,
    /// Seconds the rounds took (after the keys).
    pub seconds: f64,
    /// CPU seconds of the aggregators' thread.
    pub aggregator_cpu: f64,
    /// Meter-rounds dealt.
    pub meter_rounds: u64,
}

/// Runs every region's rounds of the demo's day on protocol v2.
pub async fn private_totals(
    deployment: &Deployment,
    params: &Params,
    regions: &[String],
    readings: &[Reading],
    households: &Households,
) -> anyhow::Result<PrivateTotals> {
    let (kafka, topics) = (&deployment.kafka, &deployment.topics);
    let (authority, identities) = (&households.authority, &households.identities);
    let round_ms = params.round_seconds() * 1000;
    let step_ms = i64::from(params.interval_seconds) * 1000;
    let channels = params.channels.len();
    let per_round = params.values_per_round();
    // Per region, meter and round start (s): the round's values, interval-major.
    let mut values: BTreeMap<&str, BTreeMap<&str, BTreeMap<i64, Vec<u64>>>> = BTreeMap::new();
    for (meter, region, t, v) in readings {
        let start = t.div_euclid(round_ms) * round_ms;
        let slot = ((t - start) / step_ms) as usize * channels;
        let round = values
            .entry(region.as_str())
            .or_default()
            .entry(meter.as_str())
            .or_default()
            .entry(start / 1000)
            .or_insert_with(|| vec![0; per_round]);
        round[slot..slot + channels].copy_from_slice(&v[..channels]);
    }
    let first = readings.iter().map(|r| r.2).min().context("no readings")? / 1000;
    let last = readings.iter().map(|r| r.2).max().context("no readings")? / 1000;
    anyhow::ensure!(
        Params::day_of(first) == Params::day_of(last),
        "protocol v2 draws a committee per region and UTC day: keep --start/--hours within one day"
    );

    // The registry: the authority certifies every household's identity key on this
    // deployment's registry topic, signs the day's Cutoff, and the beacon stand-in posts its
    // round; each region's day is then derived from that topic alone, as every party does.
    let day = Params::day_of(first);
    let authority_key = authority.verifying_key();
    let mut registry = RegistryLog::new(authority_key);
    let producer = KeyedProducer::new(kafka)?;
    let home_regions: BTreeMap<&str, &str> = readings
        .iter()
        .map(|(m, r, _, _)| (m.as_str(), r.as_str()))
        .collect();
    for (meter, region) in &home_regions {
        let identity = identities
            .get(*meter)
            .with_context(|| format!("no identity key for {meter}"))?;
        let cert = Certificate::issue(
            authority,
            meter,
            region,
            &identity.verifying_key(),
            (day - 1) * DAY_SECONDS,
            Status::Active,
        );
        registry
            .certificate(cert.clone())
            .map_err(|e| anyhow::anyhow!("{meter}: {e}"))?;
        publish_certificate(&producer, &topics.registry_v2, &cert).await?;
    }
    let cutoff = Cutoff::issue(authority, &registry.registry, day);
    publish_cutoff(&producer, &topics.registry_v2, &cutoff).await?;
    let mut beacon_seed = [0u8; 32];
    rand_chacha::ChaCha20Rng::from_os_rng().fill_bytes(&mut beacon_seed);
    let anchor = BeaconRound::anchor(&beacon_seed);
    publish_beacon(
        &producer,
        &topics.registry_v2,
        &BeaconRound::produce(&beacon_seed, beacon_round_of(day)),
    )
    .await?;
    drop(producer);
    let mut derived = Vec::new();
    for region in regions.iter().filter(|r| values.contains_key(r.as_str())) {
        let (d, refused) = load_day(
            kafka,
            topics,
            params,
            region,
            day,
            &authority_key,
            &anchor,
            None,
        )
        .await
        .with_context(|| format!("region {region}: the day from the registry topic"))?;
        // The demo's own certificates: a refusal is a bug, not an attack to dead-letter.
        anyhow::ensure!(
            refused.is_empty(),
            "region {region}: {} registry messages refused: {:?}",
            refused.len(),
            refused.iter().map(|r| &r.detail).collect::<Vec<_>>()
        );
        derived.push(d);
    }

    // The seats' daily keys (2048-bit with their proofs: the slow part), regions in parallel.
    let seats_done = Arc::new(AtomicU64::new(0));
    let seats_total: u64 = derived
        .iter()
        .map(|d| d.ctx.committee.seats().len() as u64)
        .sum();
    let mut jobs = Vec::new();
    for d in derived {
        let done = seats_done.clone();
        jobs.push(tokio::task::spawn_blocking(move || {
            let mut rng = rand_chacha::ChaCha20Rng::from_os_rng();
            let seats: BTreeMap<String, SeatSecretKey> = d
                .ctx
                .committee
                .seats()
                .iter()
                .map(|s| {
                    let context = key_context(&d.ctx.region, day, s, &d.ctx.cutoff);
                    let sk = SeatSecretKey::generate(d.ctx.params.modulus_bits, &context, &mut rng);
                    done.fetch_add(1, Ordering::Relaxed);
                    (s.clone(), sk)
                })
                .collect();
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            (d, seats, SigningKey::from_bytes(&seed))
        }));
    }
    let mut days = Vec::new();
    let mut pending = jobs;
    let mut shown = super::progress::Progress::new("committees", "seat keys", seats_total);
    while !pending.is_empty() {
        shown.set(seats_done.load(Ordering::Relaxed), seats_total);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (done, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|j| j.is_finished());
        for j in done {
            let (mut d, seats, aggregator) = j.await?;
            d.directory.aggregator = Some(aggregator.verifying_key());
            days.push((d, seats, aggregator));
        }
        pending = rest;
    }
    shown.set(seats_done.load(Ordering::Relaxed), seats_total);
    shown.finish();

    let t = Instant::now();
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let progress = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    let mut aggregators = Vec::new();
    let mut total_rounds = 0u64;
    for (day, seats, aggregator) in &days {
        let region = day.ctx.region.clone();
        // Nodes know the committee, not the keys: the seats announce them on the log and the
        // aggregator closes them (the day's set-up on the log).
        let settings = |name: &str, role: Role| RegionSettings {
            progress: Some(progress.clone()),
            ..deployment.region(
                &format!("{name}-{region}"),
                role,
                day.ctx.clone(),
                day.directory.clone(),
            )
        };
        let party = Party {
            meters: day
                .ctx
                .roster
                .iter()
                .map(|m| (m.clone(), identities[m].clone()))
                .collect(),
            seats: seats.clone(),
            aggregator: None,
        };
        let mut gateway = RegionNode::new(settings("demo-gateway", Role::Gateway), party);
        let mut aggregator = RegionNode::new(
            settings("demo-aggregator", Role::Aggregator),
            Party {
                aggregator: Some(aggregator.clone()),
                ..Party::default()
            },
        );
        if let Some(meters) = values.get(region.as_str()) {
            for (meter, rounds) in meters {
                for (start, v) in rounds {
                    gateway.submit(*start, meter, v.clone());
                    aggregator.expect(*start);
                }
            }
            total_rounds += meters
                .values()
                .flat_map(|r| r.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u64;
        }
        handles.push(tokio::spawn(gateway.run(stop.clone())));
        aggregators.push(aggregator);
    }
    // The aggregators on a thread of their own, so its CPU time is the aggregators' alone (their
    // Kafka clients' I/O threads excluded).
    let agg_stop = stop.clone();
    let agg_thread = std::thread::spawn(move || -> anyhow::Result<(usize, f64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let reports = rt.block_on(futures::future::join_all(
            aggregators.into_iter().map(|a| a.run(agg_stop.clone())),
        ));
        let mut letters = 0;
        for r in reports {
            letters += r?.dead_letters;
        }
        Ok((letters, thread_cpu_seconds()?))
    });
    let mut dead_letters = 0;
    let mut pending = handles;
    let mut shown = super::progress::Progress::new("rounds", "decided", total_rounds);
    while !pending.is_empty() {
        shown.set(progress.load(Ordering::Relaxed), total_rounds);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (done, rest): (Vec<_>, Vec<_>) = pending.into_iter().partition(|j| j.is_finished());
        for j in done {
            dead_letters += j.await??.dead_letters;
        }
        pending = rest;
    }
    while !agg_thread.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (letters, aggregator_cpu) = agg_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the aggregator thread panicked"))??;
    dead_letters += letters;
    let seconds = t.elapsed().as_secs_f64();
    shown.set(progress.load(Ordering::Relaxed), total_rounds);
    shown.finish();
    let _ = stop_tx.send(true);

    // The audit: every round re-verified from the topics alone; only verified totals stored.
    let read = |topic: String| {
        let kafka = kafka.clone();
        async move {
            Replay::start(&kafka, "demo-audit", &[topic.as_str()], 0, i64::MAX)
                .await?
                .collect()
                .await
        }
    };
    let log = read(topics.rounds.clone()).await?;
    let parts = read(topics.bundles.clone()).await?;
    let mut batch = Batch::default();
    let mut audits = BTreeMap::new();
    let now = zeal_services::now_ms();
    for (day, seats, _) in &days {
        // The audit derives the day's seats from the log too.
        let report = audit_day(&day.ctx, &day.directory, &log, &parts);
        anyhow::ensure!(
            report.seats.len() == seats.len(),
            "region {}: {} of {} seats' keys closed on the log",
            day.ctx.region,
            report.seats.len(),
            seats.len()
        );
        let b = rows(&day.ctx, &report, "demo-aggregator", now);
        batch.totals.extend(b.totals);
        batch.events.extend(b.events);
        audits.insert(day.ctx.region.clone(), report);
    }
    let meter_rounds = values
        .values()
        .flat_map(|m| m.values())
        .map(|r| r.len() as u64)
        .sum();
    Ok(PrivateTotals {
        batch,
        audits,
        dead_letters,
        seconds,
        aggregator_cpu,
        meter_rounds,
    })
}

/// User + system CPU seconds of the calling thread (Linux `/proc/thread-self/stat`, clock ticks
/// of 1/100 s).
fn thread_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")
        .context("reading /proc/thread-self/stat (Linux only)")?;
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).context("utime")?.parse()?;
    let stime: f64 = f.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / 100.0)
}

/// Counts of the audited rounds: (completed, lapsed, void, abandoned, open, excluded meter-rounds).
pub fn tally(audits: &BTreeMap<String, AuditReport>) -> [usize; 6] {
    let mut out = [0; 6];
    for a in audits.values() {
        for r in a.rounds.values() {
            let i = match r.outcome {
                Outcome::Total(_) => 0,
                Outcome::Lapsed => 1,
                Outcome::Void => 2,
                Outcome::Abandoned => 3,
                Outcome::Open => 4,
            };
            out[i] += 1;
            out[5] += r.excluded.len();
        }
    }
    out
}
