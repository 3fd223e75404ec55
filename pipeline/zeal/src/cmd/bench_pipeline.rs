//! `zeal bench pipeline`: aggregator throughput and round latency through a real broker.
//!
//! The aggregator runs as a child process (`zeal aggregate`, the production code path) so its
//! CPU time is measured alone; this process plays the broker (in-process tansu unless
//! `--kafka`) and the meters. Share bundles are generated before the clock starts, then
//! replayed into the broker at once; meters answer redistributions with real decryptions.
//! The baseline, measured in the same run, is the protocol core doing the aggregator's work
//! for the same roster in-process with no broker: the ratio is the cost of the Kafka path.

use super::common::{format_time, load_or_create_seed};
use anyhow::{Context, bail};
use clap::Args;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{
    AssignedConsumer, KafkaConfig, KeyedProducer, StartAt, TopicNames, ensure_topics,
};
use zeal_embedded::broker::EmbeddedBroker;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::aggregator::Aggregator;
use zeal_protocol::round::crypto::{AggregatorKey, MeterSecrets};
use zeal_protocol::round::directory::Directory;
use zeal_protocol::round::gateway::MeterAgent;
use zeal_protocol::round::local::LocalRegion;
use zeal_schemas::{AnyMessage, ShareBundle, decode_any};

#[derive(Args)]
pub struct PipelineArgs {
    /// Meters per region (the roster of every round).
    #[arg(long, default_value_t = 50)]
    roster: usize,
    /// Regions (one round per region and interval).
    #[arg(long, default_value_t = 4)]
    regions: usize,
    /// Rounds per region (consecutive 15-minute intervals).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Use this Kafka cluster instead of the in-process broker.
    #[arg(long)]
    kafka: Option<String>,
    /// Working directory (broker log, aggregator key, child log); replaced on every run.
    #[arg(long, default_value = "zeal-bench")]
    data_dir: PathBuf,
    /// Seed of the readings.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
}

const T0: i64 = 1_593_561_600_000; // 2020-07-01T00:00Z
const STEP: i64 = 900_000;
const AGGREGATOR_ID: &str = "bench-aggregator";

/// The bench's broker: `kafka` if given, else an in-process tansu in `data_dir/broker` (kept
/// alive by the returned handle). Returns the handle and the bootstrap address.
/// Fails now, not after the dealing, when the in-process broker could not store under
/// `data_dir`.
pub(crate) fn check_broker_dir(kafka: Option<&str>, data_dir: &Path) -> anyhow::Result<()> {
    if kafka.is_none() {
        EmbeddedBroker::storage_dir(&data_dir.join("broker"))
            .context("--data-dir must lie under the working directory")?;
    }
    Ok(())
}

pub(crate) async fn start_broker(
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Generates keys for every meter on all cores; returns (meter id, region, secrets).
fn generate_meters(
    regions: &[String],
    roster: usize,
    key_bits: u32,
) -> Vec<(String, String, MeterSecrets)> {
    let ids: Vec<(String, String)> = regions
        .iter()
        .flat_map(|r| (0..roster).map(move |i| (format!("{r}-m{i:04}"), r.clone())))
        .collect();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = ids.len().div_ceil(workers);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = ids.len();
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| {
                let done = &done;
                s.spawn(move || {
                    let mut rng = ChaCha20Rng::from_os_rng();
                    part.iter()
                        .map(|(id, region)| {
                            let secrets = MeterSecrets::generate(key_bits, &mut rng)
                                .expect("validated key size");
                            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            eprint!("\rgenerating meter keys: {n}/{total}");
                            let _ = std::io::stderr().flush();
                            (id.clone(), region.clone(), secrets)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let out: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("key generation thread"))
            .collect();
        eprintln!();
        out
    })
}

fn reading(meter: usize, k: usize, rng: &mut ChaCha20Rng) -> Vec<u64> {
    use rand::Rng;
    vec![
        rng.random_range(20..400) + (meter % 7) as u64,
        if k.is_multiple_of(3) {
            rng.random_range(0..120)
        } else {
            0
        },
    ]
}

/// Aggregator CPU per meter for one roster, in-process (no broker): the baseline.
fn baseline_ms_per_meter(
    agents: Vec<MeterAgent>,
    dir: Directory,
    key: AggregatorKey,
    config: &ProtocolConfig,
    rng: &mut ChaCha20Rng,
) -> anyhow::Result<f64> {
    let region = agents[0].region().to_string();
    let mut local = LocalRegion {
        region,
        dir,
        aggregator: Aggregator::new(key, config.clone()),
        meters: agents,
    };
    let interval = T0 - 24 * 3_600_000; // a day earlier than the broker run's intervals
    for (i, m) in local.meters.iter_mut().enumerate() {
        m.record_reading(interval, reading(i, 0, rng));
    }
    let round = local.run_round(interval, interval + STEP, rng);
    anyhow::ensure!(round.total.is_some(), "the baseline round failed");
    let aggregator = round.times.check_and_fold + round.times.verify;
    Ok(aggregator.as_secs_f64() * 1e3 / local.meters.len() as f64)
}

pub fn run(a: PipelineArgs) -> anyhow::Result<()> {
    let config = ProtocolConfig {
        // Long deadlines: bundles are generated after the rounds open, before the clock starts.
        share_deadline: Duration::from_secs(3_600),
        partial_deadline: Duration::from_secs(600),
        ..Default::default()
    };
    config.validate()?;
    anyhow::ensure!(
        a.roster >= config.min_roster && a.regions >= 1 && a.rounds >= 1,
        "need a roster of at least {} meters, one region and one round",
        config.min_roster
    );
    check_broker_dir(a.kafka.as_deref(), &a.data_dir)?;
    if a.data_dir.exists() {
        std::fs::remove_dir_all(&a.data_dir)
            .with_context(|| format!("clearing {}", a.data_dir.display()))?;
    }
    std::fs::create_dir_all(&a.data_dir)?;
    let regions: Vec<String> = (1..=a.regions).map(|i| format!("NL-B{i:02}")).collect();
    let key_file = a.data_dir.join("aggregator.key");
    let (seed, _) = load_or_create_seed(&key_file)?;
    let key = AggregatorKey::from_seed(AGGREGATOR_ID, &seed);
    let mut rng = ChaCha20Rng::seed_from_u64(a.seed);

    println!(
        "zeal bench pipeline: {} regions x {} meters, {} rounds each, {}-bit keys, verification on",
        a.regions, a.roster, a.rounds, config.key_bits
    );
    let meters = generate_meters(&regions, a.roster, config.key_bits);
    let mut dir = Directory::new(config.key_bits.min(2048));
    let enrolments: Vec<_> = meters
        .iter()
        .map(|(id, region, s)| s.enrolment(id, region, T0))
        .collect();
    for e in &enrolments {
        dir.enrol(e)
            .map_err(|r| anyhow::anyhow!("enrolment refused: {}", r.detail))?;
    }
    let agent = |(id, region, secrets): &(String, String, MeterSecrets)| {
        MeterAgent::new(
            id.clone(),
            region.clone(),
            secrets.clone(),
            config.clone(),
            vec![key.public()],
        )
    };

    // Baseline: the same work in-process, first region's roster, an earlier interval.
    eprintln!("baseline: one in-process round of {} meters ...", a.roster);
    let first: Vec<MeterAgent> = meters[..a.roster].iter().map(agent).collect();
    let baseline = baseline_ms_per_meter(
        first,
        dir.clone(),
        AggregatorKey::from_seed(AGGREGATOR_ID, &seed),
        &config,
        &mut rng,
    )?;

    let mut agents: BTreeMap<String, MeterAgent> = BTreeMap::new();
    let mut plain: Plain = BTreeMap::new();
    for (i, m) in meters.iter().enumerate() {
        let mut ag = agent(m);
        for k in 0..a.rounds {
            let t = T0 + k as i64 * STEP;
            let r = reading(i, k, &mut rng);
            let sum = plain
                .entry((m.1.clone(), t))
                .or_insert_with(|| vec![0; r.len()]);
            for (s, v) in sum.iter_mut().zip(&r) {
                *s += *v as i64;
            }
            ag.record_reading(t, r);
        }
        agents.insert(m.0.clone(), ag);
    }

    super::runtime()?.block_on(async {
        let (broker, bootstrap) = start_broker(a.kafka.as_deref(), &a.data_dir).await?;
        let kafka = KafkaConfig::new(&bootstrap, "zeal-bench");
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let prefix = format!("bench{run_id}.");
        let topics = TopicNames::with_prefix(&prefix);
        ensure_topics(&kafka, &topics.specs(4, 1)).await?;
        let producer = KeyedProducer::new(&kafka)?;
        for e in &enrolments {
            producer
                .send_message(&topics.registry, e.meter_id.as_bytes(), e)
                .await?;
        }
        let run = Run { kafka: &kafka, topics: &topics, producer: &producer, dir: &dir, plain: &plain };
        let result = measure(&a, &config, &run, &mut agents, &bootstrap, &prefix, &key_file).await;
        drop(producer);
        drop(broker); // after every client is gone
        let m = result?;
        let metered = (a.regions * a.rounds * a.roster) as f64;
        let per_meter_ms = m.cpu * 1e3 / metered;
        println!("\nrounds completed          {} of {} (every total checked against the plaintext sum)", m.totals, a.regions * a.rounds);
        println!("meters x rounds           {metered:.0}");
        println!("aggregator CPU            {:.2} s (child process, from the first bundle to the last total)", m.cpu);
        println!("wall time                 {:.2} s", m.wall);
        println!("round latency             p50 {:.0} ms, p99 {:.0} ms (first bundle published -> total on the topic)", m.p50 * 1e3, m.p99 * 1e3);
        println!("\n{:<44} {:>12} {:>12}", "aggregator cost per meter and round", "ms CPU", "meters/s/core");
        println!("{:<44} {:>12.2} {:>12.0}", "baseline: protocol core in-process", baseline, 1e3 / baseline);
        println!("{:<44} {:>12.2} {:>12.0}", "through the broker (zeal aggregate)", per_meter_ms, 1e3 / per_meter_ms);
        println!("ratio (broker path / in-process)            {:>12.2}x", per_meter_ms / baseline);
        let per_second = 1_000_000.0 / 900.0;
        let cores = per_second * per_meter_ms / 1e3;
        println!(
            "\nprojection: 1,000,000 meters at 15-minute rounds = {per_second:.0} meter-rounds/s -> {cores:.1} aggregator cores \
             ({:.1} with 4 intervals per round)",
            cores / 4.0
        );
        anyhow::Ok(())
    })
}

/// Plaintext sums per (region, interval), to check every private total against.
type Plain = BTreeMap<(String, i64), Vec<i64>>;

/// What the measurement needs from the set-up.
struct Run<'a> {
    kafka: &'a KafkaConfig,
    topics: &'a TopicNames,
    producer: &'a KeyedProducer,
    dir: &'a Directory,
    plain: &'a Plain,
}

struct Measured {
    cpu: f64,
    wall: f64,
    p50: f64,
    p99: f64,
    totals: usize,
}

async fn measure(
    a: &PipelineArgs,
    config: &ProtocolConfig,
    run: &Run<'_>,
    agents: &mut BTreeMap<String, MeterAgent>,
    bootstrap: &str,
    prefix: &str,
    key_file: &Path,
) -> anyhow::Result<Measured> {
    let protocol_file = a.data_dir.join("protocol.toml");
    std::fs::write(
        &protocol_file,
        format!(
            "share_deadline = {}\npartial_deadline = {}\n",
            config.share_deadline.as_millis(),
            config.partial_deadline.as_millis()
        ),
    )?;
    let log = std::fs::File::create(a.data_dir.join("aggregator.log"))?;
    let last = T0 + (a.rounds as i64 - 1) * STEP;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "aggregate",
            "--bootstrap",
            bootstrap,
            "--topic-prefix",
            prefix,
        ])
        .arg("--protocol")
        .arg(&protocol_file)
        .arg("--key-file")
        .arg(key_file)
        .args(["--id", AGGREGATOR_ID, "--group", "bench-aggregators"])
        .args(["--from", &format_time(T0), "--to", &format_time(last)])
        .args(["--grace-ms", "0", "--max-open", &a.rounds.to_string()])
        .env("ZEAL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting `zeal aggregate`")?;
    let pid = child.id();
    let result = drive(a, run, agents, pid).await;
    if result.is_err() {
        let _ = child.kill();
    }
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    let m = result?;
    if !status.success() {
        bail!(
            "`zeal aggregate` failed ({status}); see {}",
            a.data_dir.join("aggregator.log").display()
        );
    }
    Ok(m)
}

async fn drive(
    a: &PipelineArgs,
    run: &Run<'_>,
    agents: &mut BTreeMap<String, MeterAgent>,
    pid: u32,
) -> anyhow::Result<Measured> {
    let Run {
        kafka,
        topics,
        producer,
        dir,
        plain,
    } = *run;
    let rounds = a.regions * a.rounds;
    let consumer = AssignedConsumer::new(kafka, "bench-meters")?;
    let partitions = zeal_connectors::kafka::admin::partition_count(kafka, &topics.control).await?;
    let mut spec = Vec::new();
    for topic in [&topics.control, &topics.totals] {
        for p in 0..partitions {
            spec.push((topic.as_str(), p, StartAt::Beginning));
        }
    }
    consumer.assign(&spec)?;
    let mut rng = ChaCha20Rng::from_os_rng();
    let mut opens = Vec::new();
    let waited = Instant::now();
    eprint!("waiting for the aggregator to open {rounds} rounds ...");
    while opens.len() < rounds {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(300),
            "the aggregator opened {} of {rounds} rounds in 5 minutes",
            opens.len()
        );
        if let Some(r) = consumer.recv(Duration::from_millis(500)).await?
            && let Ok(AnyMessage::RoundOpen(o)) = decode_any(&r.payload)
        {
            opens.push(o);
        }
    }
    eprintln!(" done");
    // Pre-generate every share bundle (the meters' work; not part of the measurement).
    let mut bundles: Vec<(ShareBundle, (String, i64))> = Vec::new();
    let generating = Instant::now();
    for (i, open) in opens.iter().enumerate() {
        for ag in agents.values_mut().filter(|g| g.region() == open.region) {
            if let Some(b) = ag
                .on_round_open(dir, open, zeal_services::now_ms(), &mut rng)
                .map_err(|e| anyhow::anyhow!("meter refused the round: {e}"))?
            {
                bundles.push((b, (open.region.clone(), open.interval_start)));
            }
        }
        eprint!("\rpre-generating share bundles: round {}/{rounds}", i + 1);
        let _ = std::io::stderr().flush();
    }
    eprintln!(" ({:.1} s)", generating.elapsed().as_secs_f64());

    // The clock starts: replay every bundle into the broker.
    let cpu_before = cpu_seconds(pid)?;
    let started = Instant::now();
    let mut first_sent: BTreeMap<(String, i64), Instant> = BTreeMap::new();
    let sends = bundles.iter().map(|(b, round)| {
        first_sent.entry(round.clone()).or_insert_with(Instant::now);
        producer.send_message(&topics.shares, b.region.as_bytes(), b)
    });
    futures::future::try_join_all(sends).await?;
    let mut latencies = Vec::new();
    let mut closed = 0;
    let mut completed = 0;
    let mut totals = 0;
    let mut cpu_after = cpu_before;
    // Outcomes (control topic) and totals (totals topic) arrive independently: wait for both.
    while closed < rounds || totals < completed {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "only {closed} of {rounds} rounds closed in 15 minutes"
        );
        let Some(r) = consumer.recv(Duration::from_millis(500)).await? else {
            continue;
        };
        match decode_any(&r.payload) {
            Ok(AnyMessage::Redistribution(rd)) => {
                if let Some(ag) = agents.get_mut(&rd.recipient)
                    && let Some(p) = ag
                        .on_redistribution(dir, &rd)
                        .map_err(|e| anyhow::anyhow!("meter refused to decrypt: {e}"))?
                {
                    producer
                        .send_message(&topics.partials, p.region.as_bytes(), &p)
                        .await?;
                }
            }
            Ok(AnyMessage::RegionTotal(t)) => {
                let at = Instant::now();
                let want = plain.get(&(t.region.clone(), t.interval_start));
                anyhow::ensure!(
                    want == Some(&t.totals),
                    "the private total of {} at {} is {:?}, the plaintext sum {want:?}",
                    t.region,
                    format_time(t.interval_start),
                    t.totals
                );
                if let Some(sent) = first_sent.get(&(t.region.clone(), t.interval_start)) {
                    latencies.push((at - *sent).as_secs_f64());
                }
                totals += 1;
                cpu_after = cpu_seconds(pid).unwrap_or(cpu_after);
            }
            Ok(AnyMessage::RoundOutcome(o)) if o.status != zeal_schemas::RoundStatus::Reopened => {
                closed += 1;
                if o.status == zeal_schemas::RoundStatus::Completed {
                    completed += 1;
                }
                cpu_after = cpu_seconds(pid).unwrap_or(cpu_after);
                eprint!("\rrounds closed: {closed}/{rounds}");
                let _ = std::io::stderr().flush();
            }
            _ => {}
        }
    }
    eprintln!();
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(totals == rounds, "{totals} totals for {rounds} rounds");
    latencies.sort_by(f64::total_cmp);
    Ok(Measured {
        cpu: cpu_after - cpu_before,
        wall,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        totals,
    })
}
