//! `zeal sink clickhouse`: dead letters into ClickHouse.

use super::common::{KafkaArgs, MetricsArgs, shutdown_on_signals};
use clap::{Args, Subcommand};
use zeal_services::metrics::{Metrics, Role};
use zeal_services::sink::{Sink, SinkSettings};

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
    /// ClickHouse HTTP URL, e.g. http://user:password@127.0.0.1:8123/zeal; with
    /// `?cluster=NAME` (any command's --clickhouse) the tables are replicated on that cluster.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: String,
    /// Consumer group of the sink.
    #[arg(long, default_value = "zeal-sink-clickhouse")]
    group: String,
}

pub fn run(cmd: SinkCommand) -> anyhow::Result<()> {
    let SinkCommand::Clickhouse(a) = cmd;
    super::runtime()?.block_on(async move {
        let warehouse = super::common::clickhouse(&a.clickhouse).await?;
        super::say::say!("ClickHouse {}", warehouse.version());
        let shutdown = shutdown_on_signals();
        let metrics = Metrics::new(Role::Sink);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let sink = Sink::new(
            SinkSettings {
                group_id: a.group,
                metrics,
                ..a.kafka.deployment("zeal-sink").sink()
            },
            warehouse,
        );
        let report = sink.run(shutdown).await?;
        super::say::say!("wrote {} dead letters", report.letter_rows);
        anyhow::Ok(())
    })
}
