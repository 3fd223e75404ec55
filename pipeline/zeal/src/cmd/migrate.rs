//! `zeal migrate`: brings a ClickHouse deployment's tables up to date, the rebuilds of large
//! tables included (a service starting refuses to copy more than
//! [`zeal_tables::SERVICE_REBUILD_ROWS`] rows and says to run this).

use super::say::say;
use anyhow::Context;
use clap::Args;
use zeal_connectors::clickhouse::{ClickHouseConfig, Warehouse};

#[derive(Args)]
pub struct MigrateArgs {
    /// ClickHouse HTTP URL, e.g. http://user:password@127.0.0.1:8123/zeal (`?cluster=NAME`:
    /// the whole cluster, from this one server).
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: String,
}

/// Applies every migration not yet recorded and says what it did.
pub fn run(a: MigrateArgs) -> anyhow::Result<()> {
    let config = ClickHouseConfig::from_url(&a.clickhouse)?;
    super::runtime()?.block_on(async {
        let warehouse = Warehouse::connect(&config)
            .await
            .with_context(|| format!("connecting to {}", config.endpoint))?;
        let started = std::time::Instant::now();
        let report = zeal_tables::migrate_all(&warehouse)
            .await
            .with_context(|| format!("migrating {}", config.endpoint))?;
        for id in &report.applied {
            say!("applied {id}");
        }
        for id in &report.skipped_for_server {
            say!(
                "skipped {id}: ClickHouse {} is too old for it",
                warehouse.version()
            );
        }
        say!(
            "database {} on {}: migrations applied {}, already applied {}, skipped {}, in {:.1} s",
            config.database,
            config.endpoint,
            report.applied.len(),
            report.already_applied.len(),
            report.skipped_for_server.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    })
}
