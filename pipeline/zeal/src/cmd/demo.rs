//! `zeal demo`: the whole pipeline in one process on embedded defaults — an in-process
//! Kafka-protocol broker, simulated households in several regions over a simulated day,
//! gateways, the aggregator, and the Parquet store — then every private total checked against
//! the plaintext sum the simulator knows. `--kafka` / `--clickhouse` use real servers instead.

use super::common::{format_time, parse_time};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, TopicNames, ensure_topics};
use zeal_disaggregation::Disaggregator;
use zeal_embedded::broker::EmbeddedBroker;
use zeal_protocol::v2::params::Params;
use zeal_services::deployment::Deployment;
use zeal_services::disaggregate::{DisaggregateJob, DisaggregateSettings};
use zeal_services::gamify::run_gamify;
use zeal_services::sink::{Sink, SinkSettings};
use zeal_services::v2::readings::{Reading, publish as share};
use zeal_tables::ReadTotals;

#[derive(Args)]
pub struct DemoArgs {
    /// Regions to simulate.
    #[arg(long, default_value_t = 4)]
    regions: usize,
    /// Meters per region. Protocol v2 uses every meter of a region below 21 as a committee
    /// seat (d = meters - 2), and one process deals every household's bundle, so the default is
    /// small: a utility's meters each deal their own.
    #[arg(long, default_value_t = 10)]
    meters: usize,
    /// Simulated hours, from --start.
    #[arg(long, default_value_t = 24)]
    hours: u32,
    /// Start of the simulated day.
    #[arg(long, default_value = "2020-07-01T00:00Z")]
    start: String,
    /// 15-minute intervals batched per round (hourly rounds by default: same privacy, a
    /// quarter of the cryptographic work).
    #[arg(long, default_value_t = 4)]
    intervals_per_round: u32,
    /// Seed of the simulated households.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Data directory (broker log, keys, Parquet store); replaced on every run.
    #[arg(long, default_value = "zeal-data")]
    data_dir: PathBuf,
    /// Use this Kafka cluster instead of the in-process broker.
    #[arg(long)]
    kafka: Option<String>,
    /// Write to this ClickHouse (HTTP URL) instead of the Parquet store.
    #[arg(long)]
    clickhouse: Option<String>,
    /// Every Nth household opts in to share its readings (disaggregated into
    /// `appliance_usage` at the end); 0: nobody.
    #[arg(long, default_value_t = 5)]
    opt_in_every: usize,
    /// Serve the Energenies web app here at the end (demo mode), until Ctrl-C. Without it the
    /// app is served on 127.0.0.1:8080 when the demo runs in a terminal, and not at all when
    /// it runs from a script (the summary ends with the `zeal serve` command instead).
    #[arg(long)]
    web: Option<std::net::SocketAddr>,
    /// End after the summary instead of serving the web app.
    #[arg(long)]
    no_web: bool,
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.regions >= 1 && a.meters >= 5,
        "at least one region of at least 5 meters"
    );
    let params = Params {
        intervals_per_round: a.intervals_per_round,
        ..Default::default()
    };
    params.validate().context("protocol v2 parameters")?;
    let start = parse_time(&a.start)?;
    let step = i64::from(params.interval_seconds) * 1000;
    let intervals = i64::from(a.hours) * 3_600_000 / step;
    anyhow::ensure!(
        intervals % i64::from(a.intervals_per_round) == 0,
        "--hours must cover whole rounds"
    );
    // A fresh run: the demo's data directory is replaced.
    for sub in ["broker", "store", "gateway-v2", "gateway-daily"] {
        let p = a.data_dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(&a.data_dir)?;

    let regions: Vec<String> = (1..=a.regions).map(|i| format!("NL-R{i:02}")).collect();
    let fleet = zeal_meters::sim::fleet(&regions, a.meters, a.seed);
    // Plaintext sums the simulator knows, to check every private total against.
    let mut plain: BTreeMap<(String, i64), [u64; 2]> = BTreeMap::new();
    let mut readings = Vec::new();
    for m in &fleet {
        for r in m.readings(start, start + intervals * step) {
            let t = r.interval_start;
            let e = plain.entry((m.region.clone(), t)).or_default();
            e[0] += r.import_wh;
            e[1] += r.export_wh;
            readings.push((
                m.meter_id.clone(),
                m.region.clone(),
                t,
                vec![r.import_wh, r.export_wh],
                r.generation_wh,
            ));
        }
    }
    println!(
        "Zebra-Zeal demo: {} households in {} regions, {} hours from {} ({} rounds of {} intervals)",
        fleet.len(),
        regions.len(),
        a.hours,
        format_time(start),
        regions.len() as i64 * intervals / i64::from(a.intervals_per_round),
        a.intervals_per_round
    );
    super::runtime()?.block_on(async move {
        let began = Instant::now();
        let broker = match &a.kafka {
            Some(_) => None,
            None => Some(EmbeddedBroker::start(&a.data_dir.join("broker")).await?),
        };
        let bootstrap = a.kafka.clone().unwrap_or_else(|| broker.as_ref().expect("started").bootstrap().to_string());
        println!("broker: {} ({})", bootstrap, if broker.is_some() { "in-process tansu, sqlite storage" } else { "external" });
        let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let kafka = KafkaConfig::new(&bootstrap, "zeal-demo");
        let deployment = Deployment::new(kafka.clone(), TopicNames::with_prefix(&format!("demo{run_id}."))).with_state_dir(a.data_dir.join("gateway-v2"));
        let topics = deployment.topics.clone();
        ensure_topics(&kafka, &topics.specs(4, 1)).await?;

        let opt_in: std::collections::BTreeSet<String> = fleet
            .iter()
            .enumerate()
            .filter(|(i, _)| a.opt_in_every > 0 && i % a.opt_in_every == 0)
            .map(|(_, m)| m.meter_id.clone())
            .collect();
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let sink_settings = SinkSettings {
            group_id: "demo-sink".into(),
            batch_rows: 20_000,
            max_delay: Duration::from_millis(500),
            ..deployment.sink()
        };
        let store = Arc::new(super::common::store(a.clickhouse.as_deref(), &a.data_dir.join("store")).await?);
        let sink = tokio::spawn(Sink::new(sink_settings, store.clone()).run(stop.clone()));
        let v2_readings: Vec<super::demo_v2::Reading> = readings
            .iter()
            .map(|(id, region, t, v, _)| (id.clone(), region.clone(), *t, v.clone()))
            .collect();
        // The enrolment authority and every household's identity key: the authority certifies
        // them on each deployment's registry topic.
        let households = super::demo_v2::Households::generate(fleet.iter().map(|m| &m.meter_id));
        let v2 = super::demo_v2::private_totals(&deployment, &params, &regions, &v2_readings, &households).await?;
        let elapsed = Duration::from_secs_f64(v2.seconds);
        // The opted-in households' gateways share their readings, signed with the identity key
        // the authority certified (the jobs below count only readings that verify under it).
        let producer = KeyedProducer::new(&kafka)?;
        let gateway_metrics = zeal_services::metrics::Metrics::new(zeal_services::metrics::Role::Gateway);
        let mut shared = 0;
        for m in fleet.iter().filter(|m| opt_in.contains(&m.meter_id)) {
            let own: Vec<Reading> = readings
                .iter()
                .filter(|r| r.0 == m.meter_id)
                .map(|(_, _, t, v, generation)| Reading { interval_start: *t, import_wh: v[0], export_wh: v[1], generation_wh: *generation })
                .collect();
            shared += share(&producer, &topics.readings, &m.meter_id, &m.region, &households.identities[&m.meter_id], &own, &gateway_metrics).await?;
        }
        drop(producer); // every client must be gone before the in-process broker stops
        eprintln!("{shared} readings of {} opted-in households shared", opt_in.len());
        // Opted-in households' readings: per-appliance daily usage (complete UTC days only).
        let usage = if opt_in.is_empty() {
            None
        } else {
            eprint!("disaggregating {} opted-in households ...", opt_in.len());
            let settings = DisaggregateSettings {
                group_id: "demo-disaggregate".into(),
                idle_exit: Some(Duration::from_secs(2)),
                ..deployment.disaggregate(households.authority.verifying_key())
            };
            let model = Disaggregator::embedded()?;
            let report = DisaggregateJob::new(settings, model, store.clone()).run(stop.clone()).await?;
            eprintln!(" {} household-days, {} rows", report.days, report.rows);
            Some(report)
        };
        let _ = stop_tx.send(true);
        sink.await??;
        // Only the totals the audit verified are stored.
        v2.batch.write_to(&*store).await?;
        // The daily edge round (protocol v2, its own topics): every household's appliance
        // categories and consumption bucket, aggregated privately per region (the game's
        // efficient-neighbour mark). Its audited totals are stored beside the 15-minute ones.
        eprintln!("daily edge round of {} households:", fleet.len());
        let mut per_meter: BTreeMap<String, Vec<(i64, u64, u64)>> = BTreeMap::new();
        for (id, _, t, v, _) in &readings {
            per_meter.entry(id.clone()).or_default().push((*t, v[0], v[1]));
        }
        let daily = super::demo_daily::run(super::demo_daily::DailyRound {
            deployment: Deployment::new(kafka.clone(), TopicNames::with_prefix(&format!("demo{run_id}-daily."))).with_state_dir(a.data_dir.join("gateway-daily")),
            base: &params,
            meters: fleet.iter().map(|m| (m.meter_id.clone(), m.region.clone())).collect(),
            readings: per_meter,
            households: &households,
        })
        .await;
        let daily = match daily {
            Ok(d) => {
                d.rounds.batch.write_to(&*store).await?;
                Some(d)
            }
            Err(e) => {
                eprintln!("daily edge round skipped: {e:#}");
                None
            }
        };
        let rows: BTreeMap<(String, i64, String), i64> = store
            .region_totals(None)
            .await?
            .into_iter()
            .map(|r| ((r.region, r.interval_start_ms, r.channel), r.total))
            .collect();
        // The game's day for every opted-in household, compared with the private totals.
        let game = if opt_in.is_empty() {
            None
        } else {
            let settings = deployment.gamify(
                households.authority.verifying_key(),
                start.div_euclid(86_400_000),
                (start + intervals * step - 1).div_euclid(86_400_000),
            );
            Some(run_gamify(&settings, &*store).await?)
        };

        // Every private total against the plaintext sum.
        let mut ok = 0usize;
        let mut bad = Vec::new();
        for ((region, t), sums) in &plain {
            for (c, channel) in ["import_wh", "export_wh"].iter().enumerate() {
                match rows.get(&(region.clone(), *t, channel.to_string())) {
                    Some(v) if *v as u64 == sums[c] => ok += 1,
                    other => bad.push(format!("{region} {} {channel}: private {other:?}, plaintext {}", format_time(*t), sums[c])),
                }
            }
        }
        println!("\n{:<10} {:>9} {:>14} {:>14}", "region", "intervals", "import kWh", "export kWh");
        for r in &regions {
            let (mut i, mut e, mut n) = (0u64, 0u64, 0);
            for ((reg, _), s) in plain.iter().filter(|((reg, _), _)| reg == r) {
                let _ = reg;
                i += s[0];
                e += s[1];
                n += 1;
            }
            println!("{r:<10} {n:>9} {:>14.1} {:>14.1}", i as f64 / 1000.0, e as f64 / 1000.0);
        }
        let [completed, lapsed, void, abandoned, open, excluded] = super::demo_v2::tally(&v2.audits);
        println!(
            "\nprotocol v2 rounds completed {completed}, lapsed {lapsed}, void {void}, abandoned {abandoned}, open {open}; meter-rounds excluded {excluded}; dead letters {}",
            v2.dead_letters
        );
        println!(
            "aggregator CPU per meter-round: {:.2} ms ({:.1} s of the aggregators' thread for {} meter-rounds, range proofs included)",
            v2.aggregator_cpu * 1e3 / v2.meter_rounds.max(1) as f64,
            v2.aggregator_cpu,
            v2.meter_rounds
        );
        println!(
            "{ok} of {} region totals (region × interval × channel) equal the plaintext sum{}",
            plain.len() * 2,
            if bad.is_empty() { ": every private total is exact." } else { ":" }
        );
        for b in bad.iter().take(10) {
            println!("  MISMATCH {b}");
        }
        println!(
            "throughput: {:.0} meter-intervals/s on this machine ({} meter-intervals in {:.1} s of rounds; {:.1} s in all)",
            (fleet.len() as i64 * intervals) as f64 / elapsed.as_secs_f64(),
            fleet.len() as i64 * intervals, elapsed.as_secs_f64(), began.elapsed().as_secs_f64()
        );
        if a.clickhouse.is_none() {
            let d = a.data_dir.display();
            println!("\nQuery the results (Parquet in {d}/store):");
            println!("  zeal sql --data-dir {d} \"SELECT region, channel, sum(total) AS wh FROM region_totals GROUP BY region, channel ORDER BY region, channel\"");
            println!("  zeal sql --data-dir {d} \"SELECT event, count(*) AS n FROM round_events GROUP BY event\"");
            println!("  zeal sql --data-dir {d} \"SELECT * FROM region_totals WHERE region = 'NL-R01' ORDER BY interval_start LIMIT 8\"");
            if usage.as_ref().is_some_and(|u| u.rows > 0) {
                println!("  zeal sql --data-dir {d} \"SELECT appliance, round(sum(energy_wh) / 1000, 1) AS kwh, count(*) AS households FROM appliance_usage WHERE on_intervals > 0 GROUP BY appliance ORDER BY kwh DESC\"");
            }
        }
        if let Some(u) = &usage {
            println!(
                "disaggregation: {} household-days of {} opted-in households -> {} appliance_usage rows ({} incomplete days skipped)",
                u.days, opt_in.len(), u.rows, u.incomplete_days
            );
        }
        if let Some(d) = &daily {
            let [completed, _, _, _, _, excluded] = super::demo_v2::tally(&d.rounds.audits);
            println!(
                "daily edge round (protocol v2): {} households' appliance categories and consumption buckets -> {} of {completed} audited region-day totals ({} day(s)) equal the households' plaintext sum; meter-rounds excluded {excluded}",
                d.households, d.totals, d.days
            );
            for m in d.mismatches.iter().take(10) {
                println!("  MISMATCH daily {m}");
            }
        }
        if let Some(g) = &game {
            println!(
                "game: {} household-days of {} households -> household_daily, {} gamification_events",
                g.days, g.households, g.events
            );
        }
        drop(broker);
        if !bad.is_empty() {
            bail!("{} private totals differ from the plaintext sums", bad.len());
        }
        if let Some(d) = daily.as_ref().filter(|d| !d.mismatches.is_empty()) {
            bail!("{} daily edge totals differ from the households' plaintext sums", d.mismatches.len());
        }
        let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
        if a.no_web || (a.web.is_none() && !interactive) {
            let store = match &a.clickhouse {
                Some(url) => format!("--clickhouse {url}"),
                None => format!("--data-dir {}", a.data_dir.display()),
            };
            println!("\nThe Energenies web app over these results: zeal serve --demo {store}");
        } else {
            let web = a.web.unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
            let store = super::serve::open_store(a.clickhouse.as_deref(), &a.data_dir).await?;
            let stop = super::common::shutdown_on_signals();
            let addr = zeal_web::serve(web, store, zeal_web::WebSettings { demo: true }, stop.clone())
                .await
                .with_context(|| format!("starting the web app on {web} (--web ADDR to move it, --no-web to skip it)"))?;
            println!("\nEnergenies web app: http://{addr}/  (join leaves the meter id empty to pick a simulated household; Ctrl-C to stop)");
            std::io::stdout().flush()?;
            zeal_services::stopped(stop).await;
        }
        anyhow::Ok(())
    })
}
