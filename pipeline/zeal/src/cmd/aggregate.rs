//! `zeal aggregate`: run an aggregator instance (a consumer-group member).

use super::common::{
    KafkaArgs, MetricsArgs, ProtocolArgs, load_or_create_seed, millis, parse_time,
    shutdown_on_signals,
};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use zeal_protocol::round::crypto::AggregatorKey;
use zeal_services::aggregator::{AggregatorService, AggregatorSettings};
use zeal_services::metrics::Role;

#[derive(Args)]
pub struct AggregateArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    protocol: ProtocolArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
    /// The deployment's aggregator signing key (32 bytes, mode 0600); created if absent. Every
    /// instance of a deployment uses the same key and id.
    #[arg(long, env = "ZEAL_AGGREGATOR_KEY")]
    key_file: PathBuf,
    /// The aggregator's id, written into every decision it signs.
    #[arg(long, env = "ZEAL_AGGREGATOR_ID", default_value = "aggregator")]
    id: String,
    /// Consumer group of the aggregator instances.
    #[arg(long, default_value = "zeal-aggregators")]
    group: String,
    /// First interval to aggregate (e.g. 2020-07-01T00:00Z).
    #[arg(long)]
    from: String,
    /// Last interval start to aggregate; without it the aggregator runs until stopped.
    #[arg(long)]
    to: Option<String>,
    /// Milliseconds after an interval ends before its round opens.
    #[arg(long, default_value_t = 30_000)]
    grace_ms: u64,
    /// Rounds open at once per region.
    #[arg(long, default_value_t = 4)]
    max_open: usize,
}

pub fn run(a: AggregateArgs) -> anyhow::Result<()> {
    let protocol = a.protocol.load()?;
    let (seed, created) = load_or_create_seed(&a.key_file)?;
    let key = AggregatorKey::from_seed(&a.id, &seed);
    let public = key.public().to_hex();
    if created {
        let pub_path = a.key_file.with_extension("pub");
        std::fs::write(&pub_path, format!("{public}\n"))
            .with_context(|| format!("writing {}", pub_path.display()))?;
        eprintln!(
            "created aggregator key {}; public key in {}",
            a.key_file.display(),
            pub_path.display()
        );
    }
    eprintln!(
        "aggregator {} public key {public} (give it to gateways with --trust)",
        a.id
    );
    let settings = AggregatorSettings {
        kafka: a.kafka.config(&a.id),
        topics: a.kafka.topics(),
        group_id: a.group,
        protocol,
        first_interval: parse_time(&a.from)?,
        last_interval: a.to.as_deref().map(parse_time).transpose()?,
        grace: millis(a.grace_ms),
        max_open_per_region: a.max_open.max(1),
        tick: millis(200),
        progress: None,
        metrics: zeal_services::metrics::Metrics::new(Role::Aggregator),
    };
    super::runtime()?.block_on(async move {
        let shutdown = shutdown_on_signals();
        a.metrics.serve(&settings.metrics, shutdown.clone()).await?;
        let report = AggregatorService::new(settings, key)?.run(shutdown).await?;
        eprintln!(
            "rounds opened {}, totals {}, reopened {}, deferred {}, abandoned {}, quarantined {}, dead letters {}",
            report.rounds_opened, report.totals, report.reopened, report.deferred,
            report.abandoned, report.quarantined, report.dead_letters
        );
        anyhow::Ok(())
    })
}
