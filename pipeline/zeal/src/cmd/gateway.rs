//! `zeal gateway`: act for simulated meters or replay a DSMR export.

use super::common::{
    KafkaArgs, MetricsArgs, ProtocolArgs, format_time, parse_time, shutdown_on_signals,
};
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use zeal_protocol::round::crypto::AggregatorPublic;
use zeal_services::gateway::{GatewayService, GatewaySettings};
use zeal_services::metrics::{Metrics, Role};

#[derive(Args)]
pub struct GatewayArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
    /// Names this gateway (its committed control-topic positions).
    #[arg(long, default_value = "gateway")]
    id: String,
    /// Key store and reveal log (created with owner-only permissions).
    #[arg(long)]
    state_dir: PathBuf,
    /// Trusted aggregator public key (64 hex digits), or a file holding it; repeatable.
    #[arg(long, required = true)]
    trust: Vec<String>,
    /// Regions of the simulated meters, comma-separated.
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// Simulated meters per region.
    #[arg(long, default_value_t = 0)]
    meters_per_region: usize,
    /// Seed of the simulated households.
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Replay this DSMR export (one meter) instead of simulating.
    #[arg(long)]
    dsmr: Option<PathBuf>,
    /// Meter id and region of the DSMR meter, as ID@REGION.
    #[arg(long)]
    dsmr_meter: Option<String>,
    /// First interval with readings.
    #[arg(long)]
    from: String,
    /// End (exclusive) of the readings.
    #[arg(long)]
    to: String,
    /// DRILL: this meter publishes wrong partials (repeatable). For testing alarms only.
    #[arg(long)]
    drill_wrong_partial: Vec<String>,
    /// DRILL: this meter sends an out-of-range share (repeatable). For testing alarms only.
    #[arg(long)]
    drill_out_of_range: Vec<String>,
    /// DRILL: publish every share bundle twice.
    #[arg(long)]
    drill_replay: bool,
}

pub fn run(a: GatewayArgs) -> anyhow::Result<()> {
    let protocol = a.protocol.load()?;
    let trusted = a
        .trust
        .iter()
        .map(|t| {
            let hex = std::fs::read_to_string(t).unwrap_or_else(|_| t.clone());
            AggregatorPublic::from_hex("trusted", &hex).with_context(|| format!("--trust {t}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (from, to) = (parse_time(&a.from)?, parse_time(&a.to)?);
    let step = i64::from(protocol.interval_seconds) * 1000;
    // (meter, region, interval start, channel values, PV generation where known)
    type MeterValues = (String, String, i64, Vec<u64>, Option<u64>);
    let mut readings: Vec<MeterValues> = Vec::new();
    if let Some(path) = &a.dsmr {
        let Some((id, region)) = a.dsmr_meter.as_deref().and_then(|m| m.split_once('@')) else {
            bail!("--dsmr needs --dsmr-meter ID@REGION");
        };
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let (regs, stats) = zeal_meters::dsmr::read_registers(file, Default::default())
            .with_context(|| format!("reading {}", path.display()))?;
        let report = zeal_meters::dsmr::to_intervals(&regs, step / 1000)?;
        eprintln!(
            "{}: {} rows, {} intervals ({} estimated over {} gaps, {} register resets)",
            path.display(),
            stats.rows,
            report.readings.len(),
            report.estimated.len(),
            report.gaps,
            report.resets.len()
        );
        for r in report
            .readings
            .iter()
            .filter(|r| (from..to).contains(&r.interval_start))
        {
            readings.push((
                id.into(),
                region.into(),
                r.interval_start,
                vec![r.import_wh, r.export_wh],
                r.generation_wh,
            ));
        }
    } else {
        if a.regions.is_empty() || a.meters_per_region == 0 {
            bail!("give --regions and --meters-per-region, or --dsmr");
        }
        anyhow::ensure!(
            step == 900_000,
            "simulated meters read 15-minute intervals (interval_seconds = 900)"
        );
        for m in zeal_meters::sim::fleet(&a.regions, a.meters_per_region, a.seed) {
            for r in m.readings(from, to) {
                readings.push((
                    m.meter_id.clone(),
                    m.region.clone(),
                    r.interval_start,
                    vec![r.import_wh, r.export_wh],
                    r.generation_wh,
                ));
            }
        }
    }
    let mut meters: Vec<(String, String)> = readings
        .iter()
        .map(|r| (r.0.clone(), r.1.clone()))
        .collect();
    meters.sort();
    meters.dedup();
    eprintln!(
        "{} meters, readings from {} to {}; loading keys (new meters get fresh keys)",
        meters.len(),
        format_time(from),
        format_time(to)
    );
    let settings = GatewaySettings {
        kafka: a.kafka.config(&a.id),
        topics: a.kafka.topics(),
        gateway_id: a.id,
        protocol,
        trusted,
        state_dir: a.state_dir,
        drill: zeal_services::gateway::Drill {
            wrong_partials: a.drill_wrong_partial.into_iter().collect(),
            out_of_range_shares: a.drill_out_of_range.into_iter().collect(),
            replay_bundles: a.drill_replay,
        },
        metrics: Metrics::new(Role::Gateway),
    };
    if settings.drill.is_active() {
        eprintln!("WARNING: fault drill active: {:?}", settings.drill);
    }
    let metrics = settings.metrics.clone();
    let mut gateway = GatewayService::new(settings, &meters)?;
    for (id, _, t, v, _) in readings {
        gateway.record_reading(&id, t, v);
    }
    super::runtime()?.block_on(async move {
        let shutdown = shutdown_on_signals();
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let report = gateway.run(shutdown).await?;
        eprintln!(
            "bundles {}, partials {}, refusals {}, dead letters {}",
            report.bundles, report.partials, report.refusals, report.dead_letters
        );
        anyhow::Ok(())
    })
}
