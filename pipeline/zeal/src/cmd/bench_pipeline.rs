//! `zeal bench pipeline`: protocol v2's aggregator through a real broker.
//!
//! The aggregator of each region runs as a child process (`zeal aggregate`, the production
//! path, deriving its day from the registry topic) so its CPU time is measured alone. This
//! process plays the enrolment authority, the beacon, the committee seats (one
//! [`RegionNode`] per region holding every seat) and the meters. Meters' bundles are dealt before
//! the aggregators start (about a second of CPU each: a utility's meters deal their own), then
//! committed, revealed and aggregated through the broker; every total is checked against the
//! plaintext sum. The baseline, measured in the same run on the same bundles, is the protocol
//! core doing the aggregator's work in-process (`v2::bench::aggregator_costs`).

use super::common::load_or_create_seed;
use anyhow::{Context, bail};
use clap::Args;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, Replay, TopicNames, ensure_topics};
use zeal_embedded::broker::EmbeddedBroker;
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::bench::aggregator_costs;
use zeal_protocol::v2::crypto::paillier::SeatSecretKey;
use zeal_protocol::v2::day::{DayRecord, RegistryLog, key_context};
use zeal_protocol::v2::enrolment::{
    BeaconRound, Certificate, Cutoff, Status, beacon_round_of, key_to_hex,
};
use zeal_protocol::v2::params::{DAY_SECONDS, Params};
use zeal_protocol::v2::round::bundle::{Bundle, make_bundle};
use zeal_protocol::v2::round::log::{Author, Directory, Entry, Outcome, Record, sign};
use zeal_protocol::v2::round::{RoundContext, Seat};
use zeal_services::deployment::Deployment;
use zeal_services::metrics::Role;
use zeal_services::v2::registry::{publish_beacon, publish_certificate, publish_cutoff};
use zeal_services::v2::topics::{Contexts, Incoming, post_part, post_record, read_record};
use zeal_services::v2::{Party, RegionNode, RegionSettings};

/// Fails now, not after the dealing, when the in-process broker could not store under
/// `data_dir`.
fn check_broker_dir(kafka: Option<&str>, data_dir: &Path) -> anyhow::Result<()> {
    if kafka.is_none() {
        EmbeddedBroker::storage_dir(&data_dir.join("broker"))
            .context("--data-dir must lie under the working directory")?;
    }
    Ok(())
}

/// The bench's broker: `kafka` if given, else an in-process tansu in `data_dir/broker` (kept
/// alive by the returned handle). Returns the handle and the bootstrap address.
async fn start_broker(
    kafka: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<(Option<EmbeddedBroker>, String)> {
    Ok(match kafka {
        Some(k) => (None, k.to_string()),
        None => {
            let b = EmbeddedBroker::start(&data_dir.join("broker")).await?;
            let bootstrap = b.bootstrap().to_string();
            (Some(b), bootstrap)
        }
    })
}

/// User + system CPU seconds of a running process (Linux `/proc`, clock ticks of 1/100 s).
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat (Linux only)"))?;
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11).context("utime")?.parse()?;
    let stime: f64 = f.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / 100.0)
}

#[derive(Args)]
pub struct PipelineArgs {
    /// Meters per region (the roster of every round).
    #[arg(long, default_value_t = 100)]
    roster: usize,
    /// Regions (one aggregator process each).
    #[arg(long, default_value_t = 2)]
    regions: usize,
    /// Hourly rounds per region.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Use this Kafka cluster instead of the in-process broker.
    #[arg(long)]
    kafka: Option<String>,
    /// Working directory (broker log, keys, node state); replaced on every run.
    #[arg(long, default_value = "zeal-bench")]
    data_dir: PathBuf,
    /// Seed of the readings and keys.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// The aggregators' phase deadline in seconds. FinalSet waits one whole phase after the
    /// reveals close (seats say nothing when their check passes), so this is mostly latency;
    /// every meter's parts and notice must be posted within one phase of CommitClosed.
    #[arg(long, default_value_t = 20)]
    phase_secs: u64,
}

/// 2020-07-01T00:00Z, seconds: the day of every round.
const DAY_START: i64 = 1_593_561_600;
/// The first round: 10:00 that day.
const FIRST_ROUND: i64 = DAY_START + 10 * 3600;

/// One region's parties as this process plays them.
struct Region {
    ctx: RoundContext,
    directory: Directory,
    identities: BTreeMap<String, SigningKey>,
    seat_secrets: Vec<SeatSecretKey>,
}

/// Meter `i`'s values of round `k` (Wh per interval and channel, interval-major).
fn values(i: usize, k: usize, per_round: usize, rng_seed: u64) -> Vec<u64> {
    let mut rng = ChaCha20Rng::seed_from_u64(rng_seed ^ ((i as u64) << 20) ^ k as u64);
    (0..per_round)
        .map(|v| {
            if v % 2 == 0 {
                50 + rng.next_u64() % 400
            } else {
                rng.next_u64() % 150
            }
        })
        .collect()
}

fn progress(what: &str, done: usize, total: usize, t: Instant) {
    eprint!(
        "\r{what}: {done}/{total} ({:.0} s)",
        t.elapsed().as_secs_f64()
    );
    let _ = std::io::stderr().flush();
}

/// Deals every (region, round, meter) bundle on all cores.
fn deal_all(
    regions: &[Region],
    rounds: usize,
    seed: u64,
) -> anyhow::Result<Vec<Vec<BTreeMap<String, Bundle>>>> {
    let per_round = regions[0].ctx.params.values_per_round();
    let mut jobs = Vec::new();
    for (r, region) in regions.iter().enumerate() {
        for k in 0..rounds {
            for (i, m) in region.ctx.roster.iter().enumerate() {
                jobs.push((r, k, i, m.clone()));
            }
        }
    }
    let total = jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let dealt: Vec<(usize, usize, String, Bundle)> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(total.div_ceil(workers))
            .map(|part| {
                let done = &done;
                s.spawn(move || -> anyhow::Result<Vec<_>> {
                    let mut out = Vec::new();
                    for (r, k, i, m) in part {
                        let mut ctx = regions[*r].ctx.clone();
                        ctx.start = FIRST_ROUND + *k as i64 * ctx.params.round_seconds();
                        let mut rng =
                            ChaCha20Rng::seed_from_u64(seed ^ (*r as u64) << 40 ^ *i as u64);
                        let b = make_bundle(&ctx, m, &values(*i, *k, per_round, seed), &mut rng)
                            .map_err(|e| anyhow::anyhow!("{m} cannot deal: {e}"))?;
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        out.push((*r, *k, m.clone(), b));
                    }
                    Ok(out)
                })
            })
            .collect();
        while handles.iter().any(|h| !h.is_finished()) {
            progress(
                "dealing bundles",
                done.load(std::sync::atomic::Ordering::Relaxed),
                total,
                t,
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a dealing thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    progress("dealing bundles", total, total, t);
    eprintln!();
    let mut out: Vec<Vec<BTreeMap<String, Bundle>>> = regions
        .iter()
        .map(|_| (0..rounds).map(|_| BTreeMap::new()).collect())
        .collect();
    for (r, k, m, b) in dealt {
        out[r][k].insert(m, b);
    }
    Ok(out)
}

/// Waits until the region's round log holds a record `found` accepts.
async fn wait_for(
    kafka: &KafkaConfig,
    topics: &TopicNames,
    ctx: &RoundContext,
    directory: &Directory,
    what: &str,
    found: impl Fn(&Incoming) -> bool,
) -> anyhow::Result<()> {
    let t = Instant::now();
    loop {
        let log = Replay::start(
            kafka,
            &format!("bench-wait-{}", zeal_services::now_ms()),
            &[topics.rounds.as_str()],
            0,
            i64::MAX,
        )
        .await?
        .collect()
        .await?;
        let mut contexts = Contexts::default();
        if log
            .iter()
            .any(|m| found(&read_record(&mut contexts, ctx, directory, m)))
        {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(600) {
            bail!(
                "{}: no {what} on the round log after 10 minutes",
                ctx.region
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn run(a: PipelineArgs) -> anyhow::Result<()> {
    let params = Params::default();
    params.validate()?;
    anyhow::ensure!(
        a.regions >= 1 && a.rounds >= 1 && a.rounds <= 12,
        "need at least one region and 1 to 12 hourly rounds (one day from 10:00)"
    );
    check_broker_dir(a.kafka.as_deref(), &a.data_dir)?;
    if a.data_dir.exists() {
        std::fs::remove_dir_all(&a.data_dir)
            .with_context(|| format!("clearing {}", a.data_dir.display()))?;
    }
    std::fs::create_dir_all(&a.data_dir)?;
    let mut rng = ChaCha20Rng::seed_from_u64(a.seed);
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let authority = SigningKey::from_bytes(&seed);
    rng.fill_bytes(&mut seed);
    let beacon_seed = seed;
    let anchor = BeaconRound::anchor(&beacon_seed);
    let beacon = BeaconRound::produce(&beacon_seed, beacon_round_of(DAY_START / DAY_SECONDS));
    let day = DAY_START / DAY_SECONDS;
    let names: Vec<String> = (1..=a.regions).map(|i| format!("NL-BENCH{i:02}")).collect();
    let shape = params
        .committee_shape(a.roster)
        .with_context(|| format!("--roster {}", a.roster))?;
    println!(
        "zeal bench pipeline (protocol v2): {} regions x {} meters, {} hourly rounds of {} values; \
         k = {}, d = {}, {}-bit seat keys",
        a.regions,
        a.roster,
        a.rounds,
        params.values_per_round(),
        shape.seats,
        shape.degree,
        params.modulus_bits
    );

    // The registry: every meter certified, the day's Cutoff, the beacon round.
    let mut registry = RegistryLog::new(authority.verifying_key());
    let mut certificates = Vec::new();
    let mut identities = BTreeMap::new();
    for region in &names {
        for i in 0..a.roster {
            let meter = format!("{region}-m{i:04}");
            rng.fill_bytes(&mut seed);
            let key = SigningKey::from_bytes(&seed);
            let cert = Certificate::issue(
                &authority,
                &meter,
                region,
                &key.verifying_key(),
                DAY_START - DAY_SECONDS,
                Status::Active,
            );
            registry
                .certificate(cert.clone())
                .map_err(|e| anyhow::anyhow!("{meter}: {e}"))?;
            certificates.push(cert);
            identities.insert(meter, key);
        }
    }
    let cutoff = Cutoff::issue(&authority, &registry.registry, day);
    registry.cutoff(cutoff.clone());
    registry.beacon(beacon.clone());

    // Each region's day as every party derives it, and its seats' keys (made here, announced on
    // the log by the seat node).
    let t = Instant::now();
    let bits = params.modulus_bits;
    let mut regions = Vec::new();
    for region in &names {
        let derived =
            registry.region_day(&params, region, day, &authority.verifying_key(), &anchor)?;
        let mut ctx = derived.ctx;
        let seats: Vec<(usize, String)> =
            ctx.committee.seats().iter().cloned().enumerate().collect();
        let secrets: Vec<SeatSecretKey> = std::thread::scope(|s| {
            let handles: Vec<_> = seats
                .iter()
                .map(|(i, meter)| {
                    let context = key_context(region, day, meter, &ctx.cutoff);
                    let seed = a.seed ^ (*i as u64) << 8;
                    s.spawn(move || {
                        SeatSecretKey::generate(
                            bits,
                            &context,
                            &mut ChaCha20Rng::seed_from_u64(seed),
                        )
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("key generation"))
                .collect()
        });
        ctx.seats = seats
            .iter()
            .zip(&secrets)
            .map(|((i, meter), sk)| Seat {
                meter: meter.clone(),
                rank: *i as u64 + 1,
                key: sk.public().clone(),
            })
            .collect();
        let ids = ctx
            .roster
            .iter()
            .map(|m| (m.clone(), identities[m].clone()))
            .collect();
        regions.push(Region {
            ctx,
            directory: derived.directory,
            identities: ids,
            seat_secrets: secrets,
        });
        progress("seat keys (regions)", regions.len(), names.len(), t);
    }
    eprintln!();
    let bundles = deal_all(&regions, a.rounds, a.seed)?;
    let deal_seconds = t.elapsed().as_secs_f64();

    // The in-process baseline on the first region's first round: the same bundles, signed.
    let base = {
        let r = &regions[0];
        let mut ctx = r.ctx.clone();
        ctx.start = FIRST_ROUND;
        let mut log: Vec<Record> = Vec::new();
        for (m, b) in &bundles[0][0] {
            let key = &r.identities[m];
            log.push(sign(
                &ctx,
                key,
                Author::Meter(m.clone()),
                Entry::Commit(b.public.commitment(&ctx)),
            ));
            log.push(sign(
                &ctx,
                key,
                Author::Meter(m.clone()),
                Entry::Notice(Box::new(b.public.clone())),
            ));
        }
        aggregator_costs(&ctx, &r.directory, &log, &bundles[0][0])
    };

    let exe = std::env::current_exe().context("locating the zeal executable")?;
    let authority_hex = key_to_hex(&authority.verifying_key());
    let anchor_hex: String = anchor.iter().map(|b| format!("{b:02x}")).collect();
    let round_starts: Vec<i64> = (0..a.rounds)
        .map(|k| FIRST_ROUND + k as i64 * params.round_seconds())
        .collect();

    super::runtime()?.block_on(async {
        let (broker, bootstrap) = start_broker(a.kafka.as_deref(), &a.data_dir).await?;
        let kafka = KafkaConfig::new(&bootstrap, "zeal-bench");
        let prefix = format!("bench{}.", zeal_services::now_ms());
        let topics = TopicNames::with_prefix(&prefix);
        ensure_topics(&kafka, &topics.specs(a.regions.max(2) as i32, 1)).await?;
        let producer = KeyedProducer::new(&kafka)?;
        for cert in &certificates {
            publish_certificate(&producer, &topics.registry_v2, cert).await?;
        }
        publish_cutoff(&producer, &topics.registry_v2, &cutoff).await?;
        publish_beacon(&producer, &topics.registry_v2, &beacon).await?;

        // One aggregator process per region.
        let mut children: Vec<(Child, PathBuf)> = Vec::new();
        let mut aggregator_keys = Vec::new();
        for region in &names {
            let key_file = a.data_dir.join(format!("aggregator-{region}.key"));
            let (seed, _) = load_or_create_seed(&key_file)?;
            aggregator_keys.push(SigningKey::from_bytes(&seed).verifying_key());
            let log = a.data_dir.join(format!("aggregator-{region}.log"));
            let mut cmd = Command::new(&exe);
            cmd.args(["aggregate", "--bootstrap", &bootstrap, "--topic-prefix", &prefix])
                .args(["--region", region, "--day", "2020-07-01", "--authority", &authority_hex])
                .args(["--beacon-anchor", &anchor_hex, "--phase-secs", &a.phase_secs.to_string()])
                .arg("--key-file")
                .arg(&key_file);
            for start in &round_starts {
                cmd.args(["--round", &(start * 1000).to_string()]);
            }
            let out = std::fs::File::create(&log)?;
            let child = cmd
                .stdout(out.try_clone()?)
                .stderr(out)
                .stdin(Stdio::null())
                .spawn()
                .context("starting zeal aggregate")?;
            children.push((child, log));
        }

        // The seats of each region: one node per region holding every seat of its committee.
        // Each region's day as the nodes start it (no seat keys yet) and its directory with the
        // aggregator's key.
        let days: Vec<(RoundContext, Directory)> = regions
            .iter()
            .zip(&aggregator_keys)
            .map(|(r, agg)| {
                let mut directory = r.directory.clone();
                directory.aggregator = Some(*agg);
                let mut day = r.ctx.clone();
                day.seats.clear();
                (day, directory)
            })
            .collect();
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut seat_nodes = Vec::new();
        for (r, (day, directory)) in regions.iter().zip(&days) {
            let mut party = Party::default();
            for (seat, sk) in r.ctx.seats.iter().zip(&r.seat_secrets) {
                party.meters.insert(seat.meter.clone(), r.identities[&seat.meter].clone());
                party.seats.insert(seat.meter.clone(), sk.clone());
            }
            let settings = RegionSettings {
                state_dir: a.data_dir.join(format!("seats-{}", r.ctx.region)),
                phase: Duration::from_secs(a.phase_secs),
                ..Deployment::new(kafka.clone(), topics.clone()).region(
                    &format!("bench-seats-{}", r.ctx.region),
                    Role::Gateway,
                    day.clone(),
                    directory.clone(),
                )
            };
            let mut node = RegionNode::new(settings, party);
            for start in &round_starts {
                node.expect(*start);
            }
            seat_nodes.push(tokio::spawn(node.run(stop.clone())));
        }

        // The day's keys close on the log; the aggregators' CPU so far is their set-up.
        for (day, directory) in &days {
            wait_for(&kafka, &topics, day, directory, "KeysClosed", |i| {
                matches!(i, Incoming::Day(DayRecord::KeysClosed(_)))
            })
            .await?;
        }
        let mut setup_cpu = 0.0;
        for (child, _) in &children {
            setup_cpu += cpu_seconds(child.id())?;
        }

        // Rounds: every meter commits; once the commits close, parts then notices.
        let t = Instant::now();
        for (k, start) in round_starts.iter().enumerate() {
            for (r, region) in regions.iter().enumerate() {
                let mut ctx = region.ctx.clone();
                ctx.start = *start;
                for (m, b) in &bundles[r][k] {
                    let record = sign(&ctx, &region.identities[m], Author::Meter(m.clone()), Entry::Commit(b.public.commitment(&ctx)));
                    post_record(&producer, &topics.rounds, &ctx, &record).await?;
                }
            }
            for (r, region) in regions.iter().enumerate() {
                let mut ctx = region.ctx.clone();
                ctx.start = *start;
                wait_for(&kafka, &topics, &ctx, &days[r].1, "CommitClosed", |i| {
                    matches!(i, Incoming::Record(s, v) if s == start
                        && v.record().author == Author::Aggregator
                        && matches!(v.record().entry, Entry::CommitClosed(_)))
                })
                .await?;
                for (m, b) in &bundles[r][k] {
                    futures::future::try_join_all(ctx.seats.iter().zip(&b.parts).map(|(seat, part)| {
                        post_part(&producer, &topics.bundles, &ctx, m, &seat.meter, part)
                    }))
                    .await?;
                    let record = sign(&ctx, &region.identities[m], Author::Meter(m.clone()), Entry::Notice(Box::new(b.public.clone())));
                    post_record(&producer, &topics.rounds, &ctx, &record).await?;
                }
            }
            eprint!("\rrounds posted: {}/{}", k + 1, a.rounds);
        }
        eprintln!();

        // Every total from the seats' view, checked against the plaintext sums.
        let per_round = params.values_per_round();
        let mut exact = 0;
        for (r, node) in seat_nodes.into_iter().enumerate() {
            let report = tokio::time::timeout(Duration::from_secs(1800), node)
                .await
                .context("the seats did not finish within 30 minutes")??
                .with_context(|| format!("the seats of {}", names[r]))?;
            for (k, start) in round_starts.iter().enumerate() {
                let mut sum = vec![0u64; per_round];
                for i in 0..a.roster {
                    for (s, v) in sum.iter_mut().zip(values(i, k, per_round, a.seed)) {
                        *s += v;
                    }
                }
                match report.outcomes.get(start) {
                    Some(Outcome::Total(t)) if *t == sum => exact += 1,
                    other => bail!("{} round {start}: {other:?}, expected the total {sum:?}", names[r]),
                }
            }
        }
        let rounds_wall = t.elapsed().as_secs_f64();
        let mut total_cpu = 0.0;
        for (mut child, log) in children {
            let status = tokio::task::block_in_place(|| child.wait())?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if !status.success() {
                bail!("zeal aggregate failed ({status}); its log:\n{text}");
            }
            let cpu = text
                .lines()
                .find_map(|l| l.strip_prefix("aggregator process CPU: "))
                .and_then(|v| v.trim_end_matches(" s").parse::<f64>().ok())
                .with_context(|| format!("no CPU line in {}", log.display()))?;
            total_cpu += cpu;
        }
        drop(producer);
        drop(broker);

        let meter_rounds = (a.regions * a.rounds * a.roster) as f64;
        let rounds_cpu = total_cpu - setup_cpu;
        let per_meter = rounds_cpu * 1e3 / meter_rounds;
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / a.roster as f64;
        let (verify, range, fold) = (ms(base.verify), ms(base.range), ms(base.fold));
        println!("dealing                   {deal_seconds:.1} s wall for {meter_rounds:.0} bundles (all cores, before the clock)");
        println!("totals exact              {exact} of {} (each checked against the plaintext sum)", a.regions * a.rounds);
        println!("rounds                    {rounds_wall:.1} s wall from the first commitment to the last total");
        println!("aggregator processes      {total_cpu:.2} s CPU, of which the day's set-up {setup_cpu:.2} s (registry, seat keys)");
        println!("\n{:<52} {:>10}", "aggregator CPU per meter-round", "ms");
        println!("{:<52} {:>10.3}", "in-process baseline: signatures + opening proofs", verify);
        println!("{:<52} {:>10.3}", "in-process baseline: part hashes + folds", fold);
        println!("{:<52} {:>10.3}", "in-process baseline: range proofs (batched)", range);
        let single = ms(base.range_single);
        println!("{:<52} {:>10.3}  ({:.1}x the batch)", "  the same proofs one by one (crate's verifier)", single, single / range);
        println!("{:<52} {:>10.3}", "in-process baseline, without range proofs", verify + fold);
        println!("{:<52} {:>10.3}", "through the broker (zeal aggregate, all of it)", per_meter);
        println!("{:<52} {:>10.3}", "through the broker, less the baseline's range proofs", per_meter - range);
        println!("ratio (broker path / in-process, with range proofs) {:>9.2}x", per_meter / (verify + fold + range));
        let hourly = 1_000_000.0 / 3600.0;
        println!(
            "\nprojection: 1,000,000 meters at hourly rounds = {hourly:.0} meter-rounds/s -> {:.2} aggregator cores",
            hourly * per_meter / 1e3
        );
        println!("aggregator CPU per meter-round: {per_meter:.3} ms");
        anyhow::Ok(())
    })
}
