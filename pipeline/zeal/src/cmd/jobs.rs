//! `zeal jobs ...`: downstream jobs over the pipeline's topics.

use super::common::{KafkaArgs, MetricsArgs, shutdown_on_signals};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zeal_connectors::clickhouse::{ClickHouseConfig, Warehouse};
use zeal_disaggregation::Disaggregator;
use zeal_embedded::store::ParquetStore;
use zeal_services::disaggregate::{DisaggregateJob, DisaggregateSettings, migrate_clickhouse};
use zeal_services::metrics::{Metrics, Role};

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Opted-in households' readings to per-appliance daily usage (`appliance_usage`).
    Disaggregate(DisaggregateJobArgs),
}

#[derive(Args)]
pub struct DisaggregateJobArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
    /// Write to this ClickHouse (HTTP URL); otherwise to the embedded store in --data-dir.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// The embedded store's directory (as written by `zeal demo`).
    #[arg(long, default_value = "zeal-data")]
    data_dir: PathBuf,
    /// Model stem (STEM.safetensors + STEM.json); the shipped model when absent.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Consumer group.
    #[arg(long, default_value = "zeal-disaggregate")]
    group: String,
    /// Stop once no reading has arrived for this many milliseconds (replays); runs until
    /// stopped when absent.
    #[arg(long)]
    idle_exit_ms: Option<u64>,
}

pub fn run(cmd: JobsCommand) -> anyhow::Result<()> {
    let JobsCommand::Disaggregate(a) = cmd;
    let model = match &a.model {
        Some(stem) => Disaggregator::load(stem)?,
        None => Disaggregator::embedded()?,
    };
    eprintln!("model {}", model.meta.version);
    super::runtime()?.block_on(async move {
        let shutdown = shutdown_on_signals();
        let metrics = Metrics::new(Role::Sink);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let settings = DisaggregateSettings {
            kafka: a.kafka.config("zeal-disaggregate"),
            topics: a.kafka.topics(),
            group_id: a.group,
            idle_exit: a.idle_exit_ms.map(std::time::Duration::from_millis),
            metrics,
        };
        let report = match &a.clickhouse {
            Some(url) => {
                let config = ClickHouseConfig::from_url(url)?;
                let w = Warehouse::connect(&config)
                    .await
                    .with_context(|| format!("connecting to {}", config.endpoint))?;
                migrate_clickhouse(&w).await?;
                DisaggregateJob::new(settings, model, w)
                    .run(shutdown)
                    .await?
            }
            None => {
                let store = ParquetStore::open(a.data_dir.join("store"))?;
                DisaggregateJob::new(settings, model, store)
                    .run(shutdown)
                    .await?
            }
        };
        eprintln!(
            "readings {}, days disaggregated {}, rows {}, dead letters {}, incomplete days {}",
            report.readings, report.days, report.rows, report.dead_letters, report.incomplete_days
        );
        anyhow::Ok(())
    })
}
