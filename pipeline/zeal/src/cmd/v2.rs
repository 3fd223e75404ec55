//! `zeal keys|gateway|aggregate|audit`: protocol v2's parties of one region and day as
//! separate processes. Each derives the day from the registry topic alone (certificates, the
//! authority's Cutoff, the beacon round: `services::v2::registry::load_day`), sets the seats up
//! on the round log, and runs its part of the rounds (`services::v2::RegionNode`). What a
//! process must be given beforehand is public: the authority's key, the beacon chain's anchor
//! and the aggregator's key; secrets (identity keys, the aggregator key) stay in its files.

use super::common::{
    KafkaArgs, MetricsArgs, format_time, load_or_create_seed, parse_time, public_key,
    publish_public_key, shutdown_on_signals,
};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeal_connectors::keystore::SeatKeyStore;
use zeal_protocol::ed25519_dalek::{SigningKey, VerifyingKey};
use zeal_protocol::v2::crypto::paillier::SeatSecretKey;
use zeal_protocol::v2::day::{RegionDay, key_context};
use zeal_protocol::v2::enrolment::{MAX_ID_BYTES, key_to_hex};
use zeal_protocol::v2::params::{DAY_SECONDS, Params};
use zeal_protocol::v2::round::log::Outcome;
use zeal_services::metrics::{Metrics, Role};
use zeal_services::v2::audit_log::read_window;
use zeal_services::v2::registry::load_day;
use zeal_services::v2::{LogWindow, Party, RegionNode, RegionSettings, audit_window};

#[derive(Subcommand)]
pub enum PartyCommand {
    /// Create (or show) the identity keys of a gateway's meters (mode 0600, never overwritten)
    /// and print `<meter> <public key>` per meter, for `zeal enrol --identity`.
    Keys(KeysArgs),
    /// Act for meters (deal, commit, reveal) and hold the seats among them, for the rounds of
    /// the readings given; exits when those rounds are decided.
    Gateway(GatewayArgs),
    /// Run the region's aggregator: close the day's keys and every phase, fold, post totals.
    Aggregate(AggregateArgs),
    /// Re-verify a region's day from the round log (and the bundles topic, if still there);
    /// exit 0 when every round has a verified total and no evidence, 1 on any evidence or a
    /// round without a verified total (a marker that only lost a race with records landing
    /// while the aggregator wrote it is printed, not evidence), 2 when it could not run.
    Audit(AuditArgs),
    /// DRILL, for the attack tests only: a rogue meter's gateway as its own process. It copies
    /// a target's commitment as its own, reveals the target's notice relabelled, and forges a
    /// Withdraw in the target's name and a FinalSet in the aggregator's. None of it may count.
    #[command(hide = true)]
    DrillRogue(RogueArgs),
}

#[derive(Args)]
pub struct RogueArgs {
    #[command(flatten)]
    day: DayArgs,
    /// The aggregator's public key (to read the log).
    #[arg(long)]
    aggregator: String,
    /// The rogue's identity key directory (`zeal keys`).
    #[arg(long)]
    state_dir: PathBuf,
    /// The rogue meter (certified).
    #[arg(long)]
    meter: String,
    /// The honest meter whose bundle it copies.
    #[arg(long)]
    target: String,
    /// The round's start.
    #[arg(long)]
    round: String,
    /// `copy`: commit to the target's commitment, reveal its notice relabelled, forge a
    /// Withdraw and a FinalSet. `late-commit`: once the target revealed, commit to a bundle
    /// built from the target's revealed public part and reveal it (cancellation needs exactly
    /// this: a bundle chosen after the honest ones are known).
    #[arg(long, default_value = "copy", value_parser = ["copy", "late-commit"])]
    attack: String,
}

#[derive(Args)]
pub struct KeysArgs {
    /// Directory of the identity keys (`<meter>.key`).
    #[arg(long)]
    state_dir: PathBuf,
    /// Meter ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    meters: Vec<String>,
}

/// What every v2 process needs to derive the region's day.
#[derive(Args)]
pub struct DayArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The region.
    #[arg(long)]
    region: String,
    /// The day: 2020-07-01.
    #[arg(long)]
    day: String,
    /// The enrolment authority's public key (64 hex digits) or a file holding it.
    #[arg(long)]
    authority: String,
    /// The beacon chain's anchor (64 hex digits, or a file holding them), printed by `zeal
    /// authority beacon`.
    #[arg(long)]
    beacon_anchor: String,
    /// The protocol file (TOML of `v2::params::Params`; defaults for what it leaves out).
    #[arg(long)]
    protocol_file: Option<PathBuf>,
    /// Seconds the aggregator waits per phase before closing it with what the log holds.
    #[arg(long, default_value_t = 30)]
    phase_secs: u64,
}

#[derive(Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    day: DayArgs,
    /// The aggregator's public key (64 hex digits) or a file holding it.
    #[arg(long)]
    aggregator: String,
    /// Identity keys (from `zeal keys`) and the meters' ledgers.
    #[arg(long)]
    state_dir: PathBuf,
    /// Readings CSV: `meter,interval_start,import_wh,export_wh[,generation_wh]` (interval_start
    /// as 2020-07-01T10:00Z or milliseconds; generation, where an inverter reports it, travels
    /// only with a shared reading); every interval of a round is needed.
    #[arg(long)]
    readings: PathBuf,
    /// The daily edge deployment (`--protocol-file docs/edge-daily.toml`): the readings are
    /// 15-minute ones, and this gateway runs the disaggregation model on each meter's complete
    /// days and shares the day's energy per appliance category and its consumption bucket.
    #[arg(long)]
    edge: bool,
    /// The model for --edge (file stem of `zeal train`); the embedded one by default.
    #[arg(long, requires = "edge")]
    model: Option<PathBuf>,
    /// DRILL, for the fault tests only: exit right after posting the first commitments, as a
    /// gateway that crashes between commit and reveal (its bundles are lost, its ledger is not).
    #[arg(long, hide = true)]
    drill_crash_after_commit: bool,
    #[command(flatten)]
    metrics: MetricsArgs,
}

#[derive(Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    day: DayArgs,
    /// The aggregator's signing key (created with mode 0600 if absent; public key next to it).
    #[arg(long)]
    key_file: PathBuf,
    /// Rounds to wait for (their starts: 2020-07-01T10:00Z or ms), repeatable; it serves every
    /// round it sees and exits once these are decided.
    #[arg(long = "round", required = true)]
    rounds: Vec<String>,
    #[command(flatten)]
    metrics: MetricsArgs,
}

#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    day: DayArgs,
    /// The aggregator's public key (64 hex digits) or a file holding it.
    #[arg(long)]
    aggregator: String,
    /// Store the day's verified totals and round events in this ClickHouse (HTTP URL; creates
    /// the tables): the only way a v2 total reaches `region_totals`. Re-running replaces the
    /// same rows.
    #[arg(long)]
    clickhouse: Option<String>,
    /// Log time to start reading at (when the records were written, by the producers' clocks:
    /// 2020-07-01T00:00Z or ms; default: the log's beginning). It must come before the day's
    /// set-up: a day's rounds are verified together, from its first record on.
    #[arg(long)]
    from: Option<String>,
    /// Log time of the last rounds to audit (rounds begun later are left out; default: all).
    #[arg(long)]
    to: Option<String>,
    /// Seconds read on past --to, so rounds running at --to are complete.
    #[arg(long, default_value_t = 900)]
    grace_secs: u64,
}

impl AuditArgs {
    /// The log window from --from, --to and --grace-secs.
    fn window(&self) -> anyhow::Result<LogWindow> {
        let time = |flag: &str, v: &Option<String>, default: i64| -> anyhow::Result<i64> {
            v.as_deref()
                .map(|t| parse_time(t).with_context(|| format!("{flag} {t:?}")))
                .transpose()
                .map(|t| t.unwrap_or(default))
        };
        let from_ms = time("--from", &self.from, LogWindow::ALL.from_ms)?;
        let to_ms = time("--to", &self.to, LogWindow::ALL.to_ms)?;
        if to_ms < from_ms {
            bail!(
                "--to {} is before --from {}",
                format_time(to_ms),
                format_time(from_ms)
            );
        }
        let grace_ms = i64::try_from(self.grace_secs)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .context("--grace-secs is too large")?;
        Ok(LogWindow {
            from_ms,
            to_ms,
            grace_ms,
        })
    }
}

/// Runs one party's command (`zeal keys|gateway|aggregate|audit`, the hidden drill).
pub fn run(c: PartyCommand) -> anyhow::Result<()> {
    match c {
        PartyCommand::Keys(a) => keys(a),
        PartyCommand::Gateway(a) => gateway(a),
        PartyCommand::Aggregate(a) => aggregate(a),
        PartyCommand::Audit(a) => audit(a),
        PartyCommand::DrillRogue(a) => rogue(a),
    }
}

fn check_id(what: &str, id: &str) -> anyhow::Result<()> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.contains(['/', '@', ',']) {
        bail!("{what} must be 1 to {MAX_ID_BYTES} bytes without '/', '@' or ',', got {id:?}");
    }
    Ok(())
}

pub(super) fn identity(state_dir: &Path, meter: &str) -> anyhow::Result<(SigningKey, bool)> {
    check_id("a meter id", meter)?;
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let (seed, created) = load_or_create_seed(&state_dir.join(format!("{meter}.key")))?;
    Ok((SigningKey::from_bytes(&seed), created))
}

fn hex32(what: &str, s: &str) -> anyhow::Result<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        bail!("--{what} must be 64 hex digits or a file holding them");
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
            .with_context(|| format!("--{what} must be 64 hex digits or a file holding them"))?;
    }
    Ok(out)
}

fn keys(a: KeysArgs) -> anyhow::Result<()> {
    for m in &a.meters {
        let (key, _) = identity(&a.state_dir, m)?;
        println!("{m} {}", key_to_hex(&key.verifying_key()));
    }
    Ok(())
}

impl DayArgs {
    fn params(&self) -> anyhow::Result<Params> {
        let params: Params = match &self.protocol_file {
            None => Params::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
        };
        params.validate().context("the protocol file")?;
        Ok(params)
    }

    fn day(&self) -> anyhow::Result<i64> {
        Ok(parse_time(&self.day)
            .with_context(|| format!("--day {:?}", self.day))?
            .div_euclid(1000 * DAY_SECONDS))
    }

    /// The region's day from the registry topic; the aggregator dead-letters what it refuses.
    async fn load(&self, aggregator: Option<&Metrics>) -> anyhow::Result<RegionDay> {
        check_id("--region", &self.region)?;
        let params = self.params()?;
        let day = self.day()?;
        let authority = public_key("authority", &self.authority)?;
        let anchor = std::fs::read_to_string(&self.beacon_anchor)
            .unwrap_or_else(|_| self.beacon_anchor.clone());
        let anchor = hex32("beacon-anchor", &anchor)?;
        let kafka = self.kafka.config("zeal-v2");
        let topics = self.kafka.topics();
        let (derived, refused) = load_day(
            &kafka,
            &topics,
            &params,
            &self.region,
            day,
            &authority,
            &anchor,
            aggregator.map(|m| ("aggregator", m)),
        )
        .await
        .with_context(|| {
            format!(
                "deriving {} on {} from {}",
                self.region,
                format_time(day * DAY_SECONDS * 1000),
                topics.registry_v2
            )
        })?;
        tracing::info!(
            region = %self.region,
            roster = derived.ctx.roster.len(),
            seats = derived.ctx.committee.len(),
            refused = refused.len(),
            "day derived from the registry"
        );
        Ok(derived)
    }

    fn settings(
        &self,
        day: &RegionDay,
        aggregator: VerifyingKey,
        name: &str,
        state_dir: PathBuf,
        metrics: Metrics,
    ) -> RegionSettings {
        let mut directory = day.directory.clone();
        directory.aggregator = Some(aggregator);
        RegionSettings {
            state_dir,
            phase: Duration::from_secs(self.phase_secs),
            metrics,
            ..self
                .kafka
                .deployment(name)
                .region(name, Role::Gateway, day.ctx.clone(), directory)
        }
    }
}

/// One CSV reading: (meter, interval start in seconds, import_wh, export_wh).
pub(super) type CsvReading = (String, i64, u64, u64, Option<u64>);

/// The readings CSV (`meter,interval_start,import_wh,export_wh[,generation_wh]`), each interval
/// start checked to be aligned to `step` seconds. The optional PV generation (where an inverter
/// reports it; empty when not) is never a round channel: it travels only with a shared reading.
fn parse_readings(path: &Path, step: i64) -> anyhow::Result<Vec<CsvReading>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), n + 1);
        if let Some(r) = parse_reading_line(line, step).with_context(at)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// One line of a readings CSV (`meter,interval_start,import_wh,export_wh[,generation_wh]`);
/// `None` for blank lines, comments and the header.
pub(super) fn parse_reading_line(line: &str, step: i64) -> anyhow::Result<Option<CsvReading>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.starts_with("meter,") {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    let (meter, start, import, export, generation) = match f[..] {
        [m, s, i, e] => (m, s, i, e, ""),
        [m, s, i, e, g] => (m, s, i, e, g),
        _ => bail!("want meter,interval_start,import_wh,export_wh[,generation_wh]"),
    };
    let t = parse_time(start)?.div_euclid(1000);
    if t.rem_euclid(step) != 0 {
        bail!("{start} is not the start of a {step} s interval");
    }
    let generation = match generation {
        "" => None,
        g => Some(g.parse::<u64>().context("generation_wh")?),
    };
    Ok(Some((
        meter.to_string(),
        t,
        import.parse::<u64>().context("import_wh")?,
        export.parse::<u64>().context("export_wh")?,
        generation,
    )))
}

/// Readings by round start and meter, each round's values in the protocol file's order
/// (interval-major, then channel). `--edge`: the CSV holds 15-minute readings and each meter's
/// gateway computes its daily values (`services::edge::daily_values`) for the daily protocol.
fn read_readings(
    path: &Path,
    params: &Params,
    edge: Option<&zeal_disaggregation::Disaggregator>,
) -> anyhow::Result<BTreeMap<i64, BTreeMap<String, Vec<u64>>>> {
    // (meter, interval start s, the interval's values in channel order)
    let values: Vec<(String, i64, Vec<u64>)> = match edge {
        Some(model) => {
            zeal_services::edge::check_params(params).map_err(|e| anyhow::anyhow!(e))?;
            let mut per_meter: BTreeMap<String, Vec<(i64, u64, u64)>> = BTreeMap::new();
            for (m, t, i, e, _) in parse_readings(path, 900)? {
                per_meter.entry(m).or_default().push((t * 1000, i, e));
            }
            let mut out = Vec::new();
            for (m, mut series) in per_meter {
                series.sort_unstable();
                if series.windows(2).any(|w| w[0].0 == w[1].0) {
                    bail!("{m}: two readings of one 15-minute interval");
                }
                for (day_ms, v) in zeal_services::edge::daily_values(model, &series)? {
                    out.push((m.clone(), day_ms / 1000, v));
                }
            }
            super::say::say!(
                "edge categories: {} meter-days computed locally (model {})",
                out.len(),
                model.meta.version
            );
            out
        }
        None => {
            if params.channels.len() != 2 {
                bail!(
                    "the readings CSV carries import_wh and export_wh: the protocol file must have \
                     those two channels (or give --edge with docs/edge-daily.toml)"
                );
            }
            parse_readings(path, i64::from(params.interval_seconds))?
                .into_iter()
                .map(|(m, t, i, e, _)| (m, t, vec![i, e]))
                .collect()
        }
    };
    let step = i64::from(params.interval_seconds);
    let per_round = params.intervals_per_round as usize;
    let mut slots: BTreeMap<(i64, String), Vec<Option<Vec<u64>>>> = BTreeMap::new();
    for (meter, t, v) in values {
        let round = t - t.rem_euclid(params.round_seconds());
        let i = ((t - round) / step) as usize;
        let row = slots
            .entry((round, meter.clone()))
            .or_insert_with(|| vec![None; per_round]);
        if row[i].replace(v).is_some() {
            bail!("a second reading of {meter} at {}", format_time(t * 1000));
        }
    }
    let mut out: BTreeMap<i64, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
    for ((round, meter), row) in slots {
        let Some(values) = row.into_iter().collect::<Option<Vec<_>>>() else {
            bail!(
                "{meter}: the round at {} lacks an interval's reading",
                format_time(round * 1000)
            );
        };
        out.entry(round).or_default().insert(meter, values.concat());
    }
    if out.is_empty() {
        bail!(
            "{}: no readings (or, with --edge, no complete day)",
            path.display()
        );
    }
    Ok(out)
}

fn print_outcomes(who: &str, outcomes: &BTreeMap<i64, Outcome>) {
    for (start, outcome) in outcomes {
        let what = match outcome {
            Outcome::Total(v) => format!("total {v:?}"),
            other => format!("{other:?}"),
        };
        println!("{who}: round {}: {what}", format_time(start * 1000));
    }
}

fn gateway(a: GatewayArgs) -> anyhow::Result<()> {
    let params = a.day.params()?;
    let model = match (a.edge, &a.model) {
        (false, _) => None,
        (true, Some(stem)) => Some(zeal_disaggregation::Disaggregator::load(stem)?),
        (true, None) => Some(zeal_disaggregation::Disaggregator::embedded()?),
    };
    let readings = read_readings(&a.readings, &params, model.as_ref())?;
    let aggregator = public_key("aggregator", &a.aggregator)?;
    super::runtime()?.block_on(async {
        let shutdown = shutdown_on_signals();
        let metrics = Metrics::new(Role::Gateway);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let day = a.day.load(None).await?;
        // The seats' daily keys survive a restart (a new key would leave the seat absent for
        // the day); other days' keys are deleted once their deletion time passed.
        let today = a.day.day()?;
        let seat_keys = SeatKeyStore::open(a.state_dir.join("seats"))?;
        let now = zeal_services::now_ms() / 1000;
        for gone in seat_keys.delete_expired(now, params.key_deletion_seconds, today)? {
            super::say::say!("deleted the expired seat key {}", gone.display());
        }
        let mut party = Party::default();
        let meters: std::collections::BTreeSet<&String> =
            readings.values().flat_map(|r| r.keys()).collect();
        for m in meters {
            if !day.ctx.on_roster(m) {
                bail!("{m} is not certified in {} for this day", day.ctx.region);
            }
            let (key, _) = identity(&a.state_dir, m)?;
            if day.directory.meters.get(m.as_str()) != Some(&key.verifying_key()) {
                bail!(
                    "{m}: the identity key in {} is not the certified one",
                    a.state_dir.display()
                );
            }
            if day.ctx.committee.rank(m).is_some() {
                let ctx = key_context(&day.ctx.region, today, m, &day.ctx.cutoff);
                let key = match seat_keys.load(m, today, &ctx)? {
                    Some(key) => key,
                    None => {
                        let key =
                            SeatSecretKey::generate(params.modulus_bits, &ctx, &mut rand::rng());
                        seat_keys.save(m, today, &ctx, &key)?;
                        key
                    }
                };
                party.seats.insert(m.clone(), key);
            }
            party.meters.insert(m.clone(), key);
        }
        let mut settings = a.day.settings(
            &day,
            aggregator,
            "gateway",
            a.state_dir.join("ledgers"),
            metrics,
        );
        settings.crash_after_commit = a.drill_crash_after_commit;
        let mut node = RegionNode::new(settings, party);
        for (start, round) in &readings {
            for (m, values) in round {
                node.submit(*start, m, values.clone());
            }
        }
        let report = node.run(shutdown).await?;
        print_outcomes("gateway", &report.outcomes);
        println!(
            "gateway: {} committed, {} revealed, {} withdrawn, {} carried, {} dropped, {} \
             partials, {} complaints, {} dead letters",
            report.committed,
            report.revealed,
            report.withdrawn,
            report.carried,
            report.dropped,
            report.partials,
            report.complaints,
            report.dead_letters
        );
        Ok(())
    })
}

fn aggregate(a: AggregateArgs) -> anyhow::Result<()> {
    let (seed, created) = load_or_create_seed(&a.key_file)?;
    let key = SigningKey::from_bytes(&seed);
    publish_public_key(
        "aggregator",
        &a.key_file,
        &key_to_hex(&key.verifying_key()),
        created,
    )?;
    let rounds: Vec<i64> = a
        .rounds
        .iter()
        .map(|r| {
            Ok(parse_time(r)
                .with_context(|| format!("--round {r:?}"))?
                .div_euclid(1000))
        })
        .collect::<anyhow::Result<_>>()?;
    super::runtime()?.block_on(async {
        let shutdown = shutdown_on_signals();
        let metrics = Metrics::new(Role::Aggregator);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let day = a.day.load(Some(&metrics)).await?;
        let state = a.key_file.with_extension("state");
        let settings = a
            .day
            .settings(&day, key.verifying_key(), "aggregator", state, metrics);
        let mut node = RegionNode::new(
            settings,
            Party {
                aggregator: Some(key),
                ..Party::default()
            },
        );
        for start in rounds {
            node.expect(start);
        }
        let report = node.run(shutdown).await?;
        print_outcomes("aggregator", &report.outcomes);
        println!(
            "aggregator: {} markers, {} parts posted, {} dead letters",
            report.markers, report.parts_posted, report.dead_letters
        );
        // Read by `zeal bench pipeline`: the whole process (Kafka client threads included).
        println!(
            "aggregator process CPU: {:.3} s",
            super::bench_pipeline::cpu_seconds(std::process::id())?
        );
        Ok(())
    })
}

fn audit(a: AuditArgs) -> anyhow::Result<()> {
    let aggregator = public_key("aggregator", &a.aggregator)?;
    let window = a.window()?;
    let report = super::runtime()?.block_on(async {
        let day = a.day.load(None).await?;
        let kafka = a.day.kafka.config("zeal-v2-audit");
        let topics = a.day.kafka.topics();
        let group = format!("zeal-v2-audit-{}", std::process::id());
        let mut progress = super::progress::Progress::new("audit: reading", "messages", 0);
        let messages = read_window(
            &kafka,
            &group,
            &topics.rounds,
            &topics.bundles,
            &window,
            |read, total| progress.set(read, total),
        )
        .await
        .with_context(|| format!("reading {} and {}", topics.rounds, topics.bundles))?;
        progress.finish();
        println!(
            "audit: read {} messages of {} and {} written {}",
            messages.read,
            topics.rounds,
            topics.bundles,
            describe(&window)
        );
        let mut directory = day.directory.clone();
        directory.aggregator = Some(aggregator);
        let report = match audit_window(
            &day.ctx,
            &directory,
            &messages.log,
            &messages.parts,
            &window,
        ) {
            Ok(report) => report,
            // From the log's beginning, a day without a valid set-up is what the log says.
            Err(e) if window.from_ms == LogWindow::ALL.from_ms => {
                return Err(Discrepancy(e.to_string()).into());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(url) = &a.clickhouse {
            let warehouse = super::common::clickhouse(url).await?;
            let batch = zeal_services::v2::audit::rows(
                &day.ctx,
                &report,
                &key_to_hex(&aggregator),
                zeal_services::now_ms(),
            );
            let (totals, events, _) = batch.write_to(&warehouse).await?;
            println!(
                "audit: stored {totals} verified totals and {events} round events in ClickHouse"
            );
        }
        anyhow::Ok(report)
    })?;
    let mut clean = true;
    for (start, r) in &report.rounds {
        let what = match &r.outcome {
            Outcome::Total(v) => format!("total {v:?}"),
            other => {
                clean = false;
                format!("{other:?}")
            }
        };
        println!(
            "audit: round {}: {what}, {} in the final set, {} excluded, {} evidence",
            format_time(start * 1000),
            r.final_set.len(),
            r.excluded.len(),
            r.evidence.len()
        );
        for e in &r.evidence {
            println!("audit:   evidence: {e}");
        }
        for e in &r.raced {
            println!("audit:   raced (ignored; held a few records earlier, not misbehaviour): {e}");
        }
        clean &= r.evidence.is_empty();
    }
    if report.rounds.is_empty() {
        return Err(Discrepancy(format!(
            "no round of {} on that day in the round log read",
            a.day.region
        ))
        .into());
    }
    if !clean {
        return Err(Discrepancy(
            "the audit found evidence or rounds without a verified total".into(),
        )
        .into());
    }
    Ok(())
}

/// The log window in words: `between A and B (+ N s)`, `since A`, or `at any time`.
fn describe(w: &LogWindow) -> String {
    let all = LogWindow::ALL;
    match (w.from_ms == all.from_ms, w.to_ms == all.to_ms) {
        (true, true) => "at any time".into(),
        (false, true) => format!("since {}", format_time(w.from_ms)),
        (from_start, false) => format!(
            "{} {} (rounds begun by then; read on {} s more)",
            if from_start {
                "until".to_string()
            } else {
                format!("between {} and", format_time(w.from_ms))
            },
            format_time(w.to_ms),
            w.grace_ms / 1000
        ),
    }
}

/// What `zeal audit` found wrong with the day (exit status 1; any other failure means it could
/// not run: exit status 2).
#[derive(Debug)]
pub struct Discrepancy(String);

impl std::fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Discrepancy {}

/// The round log's verified records of round `start`, as the rogue reads them.
async fn round_log(
    kafka: &zeal_connectors::kafka::KafkaConfig,
    topic: &str,
    ctx: &zeal_protocol::v2::round::RoundContext,
    directory: &zeal_protocol::v2::round::log::Directory,
) -> anyhow::Result<Vec<zeal_protocol::v2::round::log::Record>> {
    use zeal_services::v2::topics::{Contexts, Incoming, read_record};
    let mut contexts = Contexts::default();
    let group = format!("zeal-v2-rogue-{}", std::process::id());
    let messages = zeal_connectors::kafka::Replay::start(kafka, &group, &[topic], 0, i64::MAX)
        .await?
        .collect()
        .await?;
    // The day's seats first (their keys are on the log), as every node and the audit take them.
    let days: Vec<zeal_protocol::v2::day::DayRecord> = messages
        .iter()
        .filter_map(|m| match read_record(&mut contexts, ctx, directory, m) {
            Incoming::Day(d) => Some(d),
            _ => None,
        })
        .collect();
    let mut ctx = ctx.clone();
    ctx.seats = zeal_protocol::v2::day::day_seats_of(&ctx, directory, &days).seats;
    Ok(messages
        .iter()
        .filter_map(|m| match read_record(&mut contexts, &ctx, directory, m) {
            Incoming::Record(s, r) if s == ctx.start => Some(r.record().clone()),
            _ => None,
        })
        .collect())
}

fn rogue(a: RogueArgs) -> anyhow::Result<()> {
    use zeal_protocol::v2::round::log::{Author, Entry, Record, sign};
    let aggregator = public_key("aggregator", &a.aggregator)?;
    let start = parse_time(&a.round)
        .with_context(|| format!("--round {:?}", a.round))?
        .div_euclid(1000);
    let (key, _) = identity(&a.state_dir, &a.meter)?;
    super::runtime()?.block_on(async {
        let day = a.day.load(None).await?;
        let mut ctx = day.ctx.clone();
        ctx.start = start;
        let mut directory = day.directory.clone();
        directory.aggregator = Some(aggregator);
        let kafka = a.day.kafka.config("zeal-v2-rogue");
        let topics = a.day.kafka.topics();
        let producer = zeal_connectors::kafka::KeyedProducer::new(&kafka)?;
        let post = |r: Record| {
            let bytes = zeal_schemas::encode(&zeal_protocol::v2::wire::record_to_wire(&ctx, &r));
            let producer = &producer;
            let topic = topics.rounds.clone();
            let region = ctx.region.clone();
            async move {
                producer
                    .send(&topic, region.as_bytes(), &bytes?, None)
                    .await?;
                anyhow::Ok(())
            }
        };
        let wait_for = |pick: fn(&Record, &str) -> bool| {
            let (kafka, topic, ctx, directory, target) =
                (&kafka, &topics.rounds, &ctx, &directory, a.target.as_str());
            async move {
                let deadline = std::time::Instant::now() + Duration::from_secs(180);
                loop {
                    let log = round_log(kafka, topic, ctx, directory).await?;
                    if let Some(r) = log.into_iter().find(|r| pick(r, target)) {
                        return anyhow::Ok(r);
                    }
                    if std::time::Instant::now() > deadline {
                        bail!("the target's record never appeared");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let me = Author::Meter(a.meter.clone());
        if a.attack == "late-commit" {
            let notice = wait_for(|r, t| {
                r.author == Author::Meter(t.to_string()) && matches!(r.entry, Entry::Notice(_))
            })
            .await?;
            let Entry::Notice(mut public) = notice.entry else {
                unreachable!("picked a notice")
            };
            public.sender = a.meter.clone();
            let commitment = public.commitment(&ctx);
            post(sign(&ctx, &key, me.clone(), Entry::Commit(commitment))).await?;
            post(sign(&ctx, &key, me.clone(), Entry::Notice(public))).await?;
            println!(
                "rogue: committed after {}'s reveal to a bundle built from it, and revealed it",
                a.target
            );
            producer.flush(Duration::from_secs(10))?;
            return Ok(());
        }
        let commit = wait_for(|r, t| {
            r.author == Author::Meter(t.to_string()) && matches!(r.entry, Entry::Commit(_))
        })
        .await?;
        post(sign(&ctx, &key, me.clone(), commit.entry.clone())).await?;
        println!("rogue: copied {}'s commitment", a.target);
        let notice = wait_for(|r, t| {
            r.author == Author::Meter(t.to_string()) && matches!(r.entry, Entry::Notice(_))
        })
        .await?;
        if let Entry::Notice(mut public) = notice.entry {
            public.sender = a.meter.clone();
            post(sign(&ctx, &key, me.clone(), Entry::Notice(public))).await?;
            println!("rogue: revealed {}'s notice as its own", a.target);
        }
        post(sign(
            &ctx,
            &key,
            Author::Meter(a.target.clone()),
            Entry::Withdraw,
        ))
        .await?;
        post(sign(
            &ctx,
            &key,
            Author::Aggregator,
            Entry::FinalSet(vec![a.target.clone()]),
        ))
        .await?;
        println!("rogue: forged a Withdraw for {} and a FinalSet", a.target);
        producer.flush(Duration::from_secs(10))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readings_csv_takes_an_optional_generation_column() {
        let dir = std::env::temp_dir().join(format!("zeal-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("r.csv");
        std::fs::write(
            &csv,
            "meter,interval_start,import_wh,export_wh,generation_wh\n\
             m1,2020-07-01T10:00Z,120,0,\n\
             m1,2020-07-01T10:15Z,20,80,140\n\
             m2,2020-07-01T10:00Z,50,1\n",
        )
        .unwrap();
        let t = 1_593_597_600;
        assert_eq!(
            parse_readings(&csv, 900).unwrap(),
            vec![
                ("m1".to_string(), t, 120, 0, None),
                ("m1".to_string(), t + 900, 20, 80, Some(140)),
                ("m2".to_string(), t, 50, 1, None),
            ]
        );
        std::fs::write(&csv, "m1,2020-07-01T10:00Z,120,0,-5\n").unwrap();
        let e = format!("{:#}", parse_readings(&csv, 900).unwrap_err());
        assert!(e.contains(":1: generation_wh"), "{e}");
        std::fs::write(&csv, "m1,2020-07-01T10:00Z,120,0,5,6\n").unwrap();
        let e = format!("{:#}", parse_readings(&csv, 900).unwrap_err());
        assert!(e.contains("[,generation_wh]"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_shipped_edge_protocol_file_is_the_one_the_gateway_checks() {
        let p: Params = toml::from_str(include_str!("../../../../docs/edge-daily.toml")).unwrap();
        p.validate().unwrap();
        zeal_services::edge::check_params(&p).unwrap();
    }

    #[test]
    fn an_edge_gateway_shares_each_meters_daily_values_and_refuses_other_files() {
        let model = zeal_disaggregation::Disaggregator::embedded().unwrap();
        let day0 = zeal_civil::days_from_civil(2020, 1, 13) * 86_400_000;
        let fleet = zeal_meters::sim::fleet(&["NL-E".to_string()], 2, 3);
        let dir = std::env::temp_dir().join(format!("zeal-edge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("readings.csv");
        let mut text = String::from("meter,interval_start,import_wh,export_wh\n");
        let mut want: BTreeMap<i64, BTreeMap<String, Vec<u64>>> = BTreeMap::new();
        for m in &fleet {
            // Two complete days and a half: the half day is not shared.
            let rs = m.readings(day0, day0 + 2 * 86_400_000 + 43_200_000);
            for r in &rs {
                text += &format!(
                    "{},{},{},{}\n",
                    m.meter_id, r.interval_start, r.import_wh, r.export_wh
                );
            }
            let series: Vec<(i64, u64, u64)> = rs
                .iter()
                .map(|r| (r.interval_start, r.import_wh, r.export_wh))
                .collect();
            for (day, v) in zeal_services::edge::daily_values(&model, &series).unwrap() {
                want.entry(day / 1000)
                    .or_default()
                    .insert(m.meter_id.clone(), v);
            }
        }
        std::fs::write(&csv, text).unwrap();
        let daily = zeal_services::edge::daily_params(&Params::default());
        let got = read_readings(&csv, &daily, Some(&model)).unwrap();
        assert_eq!(got.len(), 2, "two complete days");
        assert_eq!(got, want);
        for round in got.values() {
            for v in round.values() {
                assert_eq!(v.len(), 16);
                assert_eq!(v[4..].iter().sum::<u64>(), 1, "one histogram bucket a day");
            }
        }
        // --edge with the 15-minute protocol file, or the daily file without --edge: refused.
        let e = read_readings(&csv, &Params::default(), Some(&model)).unwrap_err();
        assert!(format!("{e:#}").contains("docs/edge-daily.toml"), "{e:#}");
        let e = read_readings(&csv, &daily, None).unwrap_err();
        assert!(format!("{e:#}").contains("--edge"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
