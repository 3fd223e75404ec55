//! `zeal sink clickhouse`: dead letters into ClickHouse.

use super::common::{KafkaArgs, MetricsArgs, millis, shutdown_on_signals};
use anyhow::Context;
use clap::{Args, Subcommand};
use zeal_connectors::clickhouse::{ClickHouseConfig, Warehouse};
use zeal_services::metrics::{Metrics, Role};
use zeal_services::sink::{ClickHouseSink, SinkSettings};

#[derive(Subcommand)]
pub enum SinkCommand {
    /// Write every service's dead letters to ClickHouse (creates the tables; totals are
    /// written by `zeal audit --clickhouse`, after it re-verified them).
    Clickhouse(ClickHouseArgs),
}

#[derive(Args)]
pub struct ClickHouseArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    #[command(flatten)]
    metrics: MetricsArgs,
    /// ClickHouse HTTP URL, e.g. http://user:password@127.0.0.1:8123/zeal.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: String,
    /// Consumer group of the sink.
    #[arg(long, default_value = "zeal-sink-clickhouse")]
    group: String,
}

pub fn run(cmd: SinkCommand) -> anyhow::Result<()> {
    let SinkCommand::Clickhouse(a) = cmd;
    let config = ClickHouseConfig::from_url(&a.clickhouse)?;
    super::runtime()?.block_on(async move {
        let warehouse = Warehouse::connect(&config)
            .await
            .with_context(|| format!("connecting to {}", config.endpoint))?;
        eprintln!("ClickHouse {} at {}", warehouse.version(), config.endpoint);
        let shutdown = shutdown_on_signals();
        let metrics = Metrics::new(Role::Sink);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let sink = ClickHouseSink::new(
            SinkSettings {
                kafka: a.kafka.config("zeal-sink"),
                topics: a.kafka.topics(),
                group_id: a.group,
                batch_rows: 50_000,
                max_delay: millis(1_000),
                metrics,
            },
            warehouse,
        )
        .await?;
        let report = sink.run(shutdown).await?;
        eprintln!("wrote {} dead letters", report.letter_rows);
        anyhow::Ok(())
    })
}
