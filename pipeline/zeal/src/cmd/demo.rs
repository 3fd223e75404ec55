//! `zeal demo`: the whole pipeline in one process on embedded defaults — an in-process
//! Kafka-protocol broker, simulated households in several regions over a simulated day,
//! gateways, the aggregator, and the Parquet store — then every private total checked against
//! the plaintext sum the simulator knows. `--kafka` / `--clickhouse` use real servers instead.

use super::common::{format_time, parse_time};
use super::demo_daily::{DailyReport, DailyRound};
use super::demo_grid::GridStudy;
use super::demo_v2::{Households, PrivateTotals, tally};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, TopicNames, ensure_topics};
use zeal_disaggregation::Disaggregator;
use zeal_embedded::broker::EmbeddedBroker;
use zeal_meters::IntervalReading;
use zeal_meters::sim::SimulatedMeter;
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::params::Params;
use zeal_services::ServiceError;
use zeal_services::deployment::Deployment;
use zeal_services::disaggregate::{DisaggregateJob, DisaggregateReport, DisaggregateSettings};
use zeal_services::gamify::{GamifyReport, run_gamify};
use zeal_services::metrics::{Metrics, Role};
use zeal_services::sink::{Sink, SinkReport, SinkSettings};
use zeal_services::v2::readings::publish as share;
use zeal_tables::{ReadTotals, Store};

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
    let sim = Simulation::new(&a)?;
    fresh_data_dir(&a.data_dir)?;
    sim.announce();
    super::runtime()?.block_on(async move {
        let began = Instant::now();
        let site = Site::start(&a).await?;
        let (stop_tx, stop) = watch::channel(false);
        let sink = site.spawn_sink(stop.clone());
        // The enrolment authority and every household's identity key: the authority certifies
        // them on each deployment's registry topic.
        let households = Households::generate(sim.fleet.iter().map(|m| &m.meter_id));
        let v2 = sim.private_totals(&site, &households).await?;
        sim.share_opted_in(&site, &households).await?;
        let usage = sim.disaggregate(&site, &households, stop).await?;
        let _ = stop_tx.send(true);
        sink.await??;
        // Only the totals the audit verified are stored.
        v2.batch.write_to(&*site.store).await?;
        let daily = sim.daily_round(&site, &households).await?;
        let game = sim.game(&site, &households).await?;
        let check = Check::against(&sim.plain, &site.store).await?;
        let metering = a.data_dir.join("metering.key");
        let metering = SigningKey::from_bytes(&super::common::load_or_create_seed(&metering)?.0);
        let grid =
            super::demo_grid::run(&site.deployment, &site.store, &metering, sim.start).await?;
        let summary = Summary {
            sim: &sim,
            v2: &v2,
            check: &check,
            usage,
            daily: &daily,
            game,
            grid: &grid,
        };
        summary.print(&a, began.elapsed());
        drop(site); // every client is gone: the in-process broker stops
        if !check.bad.is_empty() {
            bail!(
                "{} private totals differ from the plaintext sums",
                check.bad.len()
            );
        }
        if let Some(d) = daily.as_ref().filter(|d| !d.mismatches.is_empty()) {
            bail!(
                "{} daily edge totals differ from the households' plaintext sums",
                d.mismatches.len()
            );
        }
        serve_or_say_how(&a).await
    })
}

/// The simulated day: households, their readings, and the plaintext sums the simulator knows
/// to check every private total against.
struct Simulation {
    params: Params,
    start: i64,
    hours: u32,
    /// 15-minute intervals simulated.
    intervals: i64,
    regions: Vec<String>,
    fleet: Vec<SimulatedMeter>,
    /// Each meter's readings, in `fleet` order.
    readings: Vec<Vec<IntervalReading>>,
    /// Per (region, interval start): import and export, Wh.
    plain: BTreeMap<(String, i64), [u64; 2]>,
    /// Households that share their readings.
    opt_in: BTreeSet<String>,
}

impl Simulation {
    fn new(a: &DemoArgs) -> anyhow::Result<Simulation> {
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
        let regions: Vec<String> = (1..=a.regions).map(|i| format!("NL-R{i:02}")).collect();
        let fleet = zeal_meters::sim::fleet(&regions, a.meters, a.seed);
        let mut plain: BTreeMap<(String, i64), [u64; 2]> = BTreeMap::new();
        let mut readings = Vec::with_capacity(fleet.len());
        for m in &fleet {
            let own = m.readings(start, start + intervals * step);
            for r in &own {
                let e = plain
                    .entry((m.region.clone(), r.interval_start))
                    .or_default();
                e[0] += r.import_wh;
                e[1] += r.export_wh;
            }
            readings.push(own);
        }
        let opt_in = fleet
            .iter()
            .enumerate()
            .filter(|(i, _)| a.opt_in_every > 0 && i % a.opt_in_every == 0)
            .map(|(_, m)| m.meter_id.clone())
            .collect();
        Ok(Simulation {
            params,
            start,
            hours: a.hours,
            intervals,
            regions,
            fleet,
            readings,
            plain,
            opt_in,
        })
    }

    fn rounds(&self) -> i64 {
        self.regions.len() as i64 * self.intervals / i64::from(self.params.intervals_per_round)
    }

    fn announce(&self) {
        println!(
            "Zebra-Zeal demo: {} households in {} regions, {} hours from {} ({} rounds of {} intervals)",
            self.fleet.len(),
            self.regions.len(),
            self.hours,
            format_time(self.start),
            self.rounds(),
            self.params.intervals_per_round
        );
    }

    /// Every region's 15-minute rounds on protocol v2 through the broker, audited.
    async fn private_totals(
        &self,
        site: &Site,
        households: &Households,
    ) -> anyhow::Result<PrivateTotals> {
        let readings: Vec<super::demo_v2::Reading> = self
            .fleet
            .iter()
            .zip(&self.readings)
            .flat_map(|(m, own)| {
                own.iter().map(|r| {
                    (
                        m.meter_id.clone(),
                        m.region.clone(),
                        r.interval_start,
                        vec![r.import_wh, r.export_wh],
                    )
                })
            })
            .collect();
        super::demo_v2::private_totals(
            &site.deployment,
            &self.params,
            &self.regions,
            &readings,
            households,
        )
        .await
    }

    /// The opted-in households' gateways share their readings, signed with the identity key
    /// the authority certified (the jobs count only readings that verify under it).
    async fn share_opted_in(&self, site: &Site, households: &Households) -> anyhow::Result<()> {
        let producer = KeyedProducer::new(&site.deployment.kafka)?;
        let metrics = Metrics::new(Role::Gateway);
        let mut shared = 0;
        let sharing = self.fleet.iter().zip(&self.readings);
        for (m, own) in sharing.filter(|(m, _)| self.opt_in.contains(&m.meter_id)) {
            let identity = &households.identities[&m.meter_id];
            shared += share(
                &producer,
                &site.deployment.topics.readings,
                &m.meter_id,
                &m.region,
                identity,
                own,
                &metrics,
            )
            .await?;
        }
        eprintln!(
            "{shared} readings of {} opted-in households shared",
            self.opt_in.len()
        );
        Ok(())
    }

    /// Opted-in households' readings: per-appliance daily usage (complete UTC days only).
    async fn disaggregate(
        &self,
        site: &Site,
        households: &Households,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<DisaggregateReport>> {
        if self.opt_in.is_empty() {
            return Ok(None);
        }
        eprint!(
            "disaggregating {} opted-in households ...",
            self.opt_in.len()
        );
        let settings = DisaggregateSettings {
            group_id: "demo-disaggregate".into(),
            idle_exit: Some(Duration::from_secs(2)),
            ..site
                .deployment
                .disaggregate(households.authority.verifying_key())
        };
        let model = Disaggregator::embedded()?;
        let report = DisaggregateJob::new(settings, model, site.store.clone())
            .run(stop)
            .await?;
        eprintln!(" {} household-days, {} rows", report.days, report.rows);
        Ok(Some(report))
    }

    /// The daily edge round (protocol v2, its own topics): every household's appliance
    /// categories and consumption bucket, aggregated privately per region (the game's
    /// efficient-neighbour mark); its audited totals stored beside the 15-minute ones. A failed
    /// daily round is reported and skipped.
    async fn daily_round(
        &self,
        site: &Site,
        households: &Households,
    ) -> anyhow::Result<Option<DailyReport>> {
        eprintln!("daily edge round of {} households:", self.fleet.len());
        let per_meter: BTreeMap<String, Vec<(i64, u64, u64)>> = self
            .fleet
            .iter()
            .zip(&self.readings)
            .map(|(m, own)| {
                let own = own
                    .iter()
                    .map(|r| (r.interval_start, r.import_wh, r.export_wh));
                (m.meter_id.clone(), own.collect())
            })
            .collect();
        let daily = super::demo_daily::run(DailyRound {
            deployment: site.daily.clone(),
            base: &self.params,
            meters: self
                .fleet
                .iter()
                .map(|m| (m.meter_id.clone(), m.region.clone()))
                .collect(),
            readings: per_meter,
            households,
        })
        .await;
        match daily {
            Ok(d) => {
                d.rounds.batch.write_to(&*site.store).await?;
                Ok(Some(d))
            }
            Err(e) => {
                eprintln!("daily edge round skipped: {e:#}");
                Ok(None)
            }
        }
    }

    /// The game's day for every opted-in household, compared with the private totals.
    async fn game(
        &self,
        site: &Site,
        households: &Households,
    ) -> anyhow::Result<Option<GamifyReport>> {
        if self.opt_in.is_empty() {
            return Ok(None);
        }
        let end = self.start + self.intervals * i64::from(self.params.interval_seconds) * 1000;
        let settings = site.deployment.gamify(
            households.authority.verifying_key(),
            self.start.div_euclid(86_400_000),
            (end - 1).div_euclid(86_400_000),
        );
        Ok(Some(run_gamify(&settings, &*site.store).await?))
    }
}

/// A fresh run: the demo's data directory is replaced.
fn fresh_data_dir(dir: &Path) -> anyhow::Result<()> {
    for sub in ["broker", "store", "gateway-v2", "gateway-daily"] {
        let p = dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
        }
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Where the demo runs: the broker (in-process unless `--kafka`), the 15-minute and the daily
/// deployments on their own topics, and the store (Parquet unless `--clickhouse`).
struct Site {
    deployment: Deployment,
    daily: Deployment,
    store: Arc<Store>,
    /// Dropped last: the in-process broker stops with it.
    _broker: Option<EmbeddedBroker>,
}

impl Site {
    async fn start(a: &DemoArgs) -> anyhow::Result<Site> {
        let broker = match &a.kafka {
            Some(_) => None,
            None => Some(EmbeddedBroker::start(&a.data_dir.join("broker")).await?),
        };
        let bootstrap = match (&a.kafka, &broker) {
            (Some(k), _) => k.clone(),
            (None, b) => b.as_ref().expect("started").bootstrap().to_string(),
        };
        let kind = if broker.is_some() {
            "in-process tansu, sqlite storage"
        } else {
            "external"
        };
        println!("broker: {bootstrap} ({kind})");
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let kafka = KafkaConfig::new(&bootstrap, "zeal-demo");
        let deployment = Deployment::new(
            kafka.clone(),
            TopicNames::with_prefix(&format!("demo{run_id}.")),
        )
        .with_state_dir(a.data_dir.join("gateway-v2"));
        ensure_topics(&kafka, &deployment.topics.specs(4, 1)).await?;
        let daily = Deployment::new(
            kafka,
            TopicNames::with_prefix(&format!("demo{run_id}-daily.")),
        )
        .with_state_dir(a.data_dir.join("gateway-daily"));
        let store = Arc::new(
            super::common::store(a.clickhouse.as_deref(), &a.data_dir.join("store")).await?,
        );
        Ok(Site {
            deployment,
            daily,
            store,
            _broker: broker,
        })
    }

    /// The dead-letter sink, until `stop`.
    fn spawn_sink(
        &self,
        stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<Result<SinkReport, ServiceError>> {
        let settings = SinkSettings {
            group_id: "demo-sink".into(),
            batch_rows: 20_000,
            max_delay: Duration::from_millis(500),
            ..self.deployment.sink()
        };
        tokio::spawn(Sink::new(settings, self.store.clone()).run(stop))
    }
}

/// Every stored private total against the plaintext sum.
struct Check {
    ok: usize,
    bad: Vec<String>,
}

impl Check {
    async fn against(
        plain: &BTreeMap<(String, i64), [u64; 2]>,
        store: &Store,
    ) -> anyhow::Result<Check> {
        let rows: BTreeMap<(String, i64, String), i64> = store
            .region_totals(None)
            .await?
            .into_iter()
            .map(|r| ((r.region, r.interval_start_ms, r.channel), r.total))
            .collect();
        let mut check = Check {
            ok: 0,
            bad: Vec::new(),
        };
        for ((region, t), sums) in plain {
            for (c, channel) in ["import_wh", "export_wh"].iter().enumerate() {
                match rows.get(&(region.clone(), *t, channel.to_string())) {
                    Some(v) if *v as u64 == sums[c] => check.ok += 1,
                    other => check.bad.push(format!(
                        "{region} {} {channel}: private {other:?}, plaintext {}",
                        format_time(*t),
                        sums[c]
                    )),
                }
            }
        }
        Ok(check)
    }
}

/// What the demo prints at the end.
struct Summary<'a> {
    sim: &'a Simulation,
    v2: &'a PrivateTotals,
    check: &'a Check,
    usage: Option<DisaggregateReport>,
    daily: &'a Option<DailyReport>,
    game: Option<GamifyReport>,
    grid: &'a GridStudy,
}

impl Summary<'_> {
    fn print(&self, a: &DemoArgs, elapsed: Duration) {
        let (sim, v2, check) = (self.sim, self.v2, self.check);
        println!(
            "\n{:<10} {:>9} {:>14} {:>14}",
            "region", "intervals", "import kWh", "export kWh"
        );
        for r in &sim.regions {
            let (mut i, mut e, mut n) = (0u64, 0u64, 0);
            for s in sim
                .plain
                .iter()
                .filter(|((reg, _), _)| reg == r)
                .map(|(_, s)| s)
            {
                i += s[0];
                e += s[1];
                n += 1;
            }
            println!(
                "{r:<10} {n:>9} {:>14.1} {:>14.1}",
                i as f64 / 1000.0,
                e as f64 / 1000.0
            );
        }
        let [completed, lapsed, void, abandoned, open, excluded] = tally(&v2.audits);
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
            "{} of {} region totals (region × interval × channel) equal the plaintext sum{}",
            check.ok,
            sim.plain.len() * 2,
            if check.bad.is_empty() {
                ": every private total is exact."
            } else {
                ":"
            }
        );
        for b in check.bad.iter().take(10) {
            println!("  MISMATCH {b}");
        }
        let meter_intervals = sim.fleet.len() as i64 * sim.intervals;
        println!(
            "throughput: {:.0} meter-intervals/s on this machine ({meter_intervals} meter-intervals in {:.1} s of rounds; {:.1} s in all)",
            meter_intervals as f64 / v2.seconds,
            v2.seconds,
            elapsed.as_secs_f64()
        );
        if a.clickhouse.is_none() {
            let d = a.data_dir.display();
            println!("\nQuery the results (Parquet in {d}/store):");
            println!(
                "  zeal sql --data-dir {d} \"SELECT region, channel, sum(total) AS wh FROM region_totals GROUP BY region, channel ORDER BY region, channel\""
            );
            println!(
                "  zeal sql --data-dir {d} \"SELECT event, count(*) AS n FROM round_events GROUP BY event\""
            );
            println!(
                "  zeal sql --data-dir {d} \"SELECT * FROM region_totals WHERE region = 'NL-R01' ORDER BY interval_start LIMIT 8\""
            );
            if self.usage.as_ref().is_some_and(|u| u.rows > 0) {
                println!(
                    "  zeal sql --data-dir {d} \"SELECT appliance, round(sum(energy_wh) / 1000, 1) AS kwh, count(*) AS households FROM appliance_usage WHERE on_intervals > 0 GROUP BY appliance ORDER BY kwh DESC\""
                );
            }
        }
        if let Some(u) = &self.usage {
            println!(
                "disaggregation: {} household-days of {} opted-in households -> {} appliance_usage rows ({} incomplete days skipped)",
                u.days,
                sim.opt_in.len(),
                u.rows,
                u.incomplete_days
            );
        }
        if let Some(d) = self.daily {
            let [completed, _, _, _, _, excluded] = tally(&d.rounds.audits);
            println!(
                "daily edge round (protocol v2): {} households' appliance categories and consumption buckets -> {} of {completed} audited region-day totals ({} day(s)) equal the households' plaintext sum; meter-rounds excluded {excluded}",
                d.households, d.totals, d.days
            );
            for m in d.mismatches.iter().take(10) {
                println!("  MISMATCH daily {m}");
            }
        }
        if let Some(g) = &self.game {
            println!(
                "game: {} household-days of {} households -> household_daily, {} gamification_events",
                g.days, g.households, g.events
            );
        }
        let (grid, theft) = (&self.grid.report, &self.grid.theft);
        println!(
            "grid balance ({}, a feeder study of 50 simulated households beside the protocol's regions; {} kW drawn past the meters from {} for {} h, one meter reporting 70 % of its import): {} feeder readings, {} billing registers -> {} grid_balance rows",
            super::demo_grid::REGION,
            theft.watts / 1000.0,
            format_time(theft.start_ms),
            theft.hours,
            grid.feeder_readings,
            grid.billing_registers,
            grid.rows
        );
        for e in &grid.alerts {
            println!(
                "  ALERT {} {:?} {:?} {} .. {} ({} intervals): {:.0} Wh unexplained",
                e.region,
                e.kind,
                e.state,
                format_time(e.first_interval),
                format_time(e.end),
                e.intervals,
                e.unexplained_wh
            );
        }
    }
}

/// Serves the Energenies web app over the results (in a terminal or with `--web`), or, run from
/// a script or with `--no-web`, prints the command that would. Either way the data directory
/// gets the demo portal's key (`portal.key`, `.pub`) and an operator token (`operator.token`),
/// and the summary says how to sign in.
async fn serve_or_say_how(a: &DemoArgs) -> anyhow::Result<()> {
    let portal_file = a.data_dir.join("portal.key");
    let portal = super::common::init_signing_key("demo portal", &portal_file)?;
    let portal_pub = portal_file.with_extension("pub");
    let token_file = a.data_dir.join("operator.token");
    let operator_token = super::portal::operator_token(&token_file, true)?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let link_how = format!(
        "zeal portal link --key-file {} --household ID --region REGION",
        portal_file.display()
    );
    if a.no_web || (a.web.is_none() && !interactive) {
        let store = match &a.clickhouse {
            Some(url) => format!("--clickhouse {url}"),
            None => format!("--data-dir {}", a.data_dir.display()),
        };
        println!(
            "\nThe Energenies web app over these results: zeal serve {store} --portal-key {} \
             --operator-token-file {}\nSign in as a household with a link from: {link_how}",
            portal_pub.display(),
            token_file.display()
        );
        return Ok(());
    }
    let web = a
        .web
        .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    let store = super::serve::open_store(a.clickhouse.as_deref(), &a.data_dir).await?;
    // Two households of each region that shared their readings, to sign in as.
    let mut sample = Vec::new();
    for region in store.regions().await? {
        for h in store
            .households_with_data(&region)
            .await?
            .into_iter()
            .take(2)
        {
            sample.push((h, region.clone()));
        }
    }
    let stop = super::common::shutdown_on_signals();
    let settings = zeal_web::WebSettings {
        portal_key: Some(portal.verifying_key()),
        operator_token: Some(operator_token),
        ..zeal_web::WebSettings::default()
    };
    let addr = zeal_web::serve(web, store, settings, stop.clone())
        .await
        .with_context(|| {
            format!("starting the web app on {web} (--web ADDR to move it, --no-web to skip it)")
        })?;
    let url = format!("http://{addr}");
    println!("\nEnergenies web app: {url}/  (Ctrl-C to stop)");
    println!(
        "Sign in as a household that shares its readings (each link works once, for 5 minutes; \
         more with `{link_how} --url {url}`):"
    );
    for (h, region) in &sample {
        println!(
            "  {h}: {}",
            super::portal::link(&portal, &url, h, region, 300)?
        );
    }
    println!(
        "Operator page: {url}/operator (the token is in {})",
        token_file.display()
    );
    std::io::stdout().flush()?;
    zeal_services::stopped(stop).await;
    Ok(())
}
