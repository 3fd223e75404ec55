//! Idempotent schema migrations.
//!
//! Each migration has a stable id and is applied at most once per database, recorded in
//! `zeal_schema_migrations`. Statements are written to be harmless when re-run (`IF NOT EXISTS`),
//! so two processes migrating at once converge. Steps that old servers cannot run (DESIGN §6:
//! 18.16 has no TTL, CODEC, ...) declare `min_server` and are skipped, with a log line, below it.
//! On a cluster (`?cluster=NAME`) each migration runs as [`super::cluster::statements`], `ON
//! CLUSTER`, and the ledger is replicated.

use super::{ClickHouseError, ServerVersion, Warehouse};
use serde::Deserialize;

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Stable identifier, never reused, e.g. `0001_region_totals`.
    pub id: &'static str,
    /// The statement.
    pub sql: &'static str,
    /// Skip on servers older than this.
    pub min_server: Option<ServerVersion>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Applied {
    id: String,
}

/// What [`migrate`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<&'static str>,
    pub already_applied: Vec<&'static str>,
    pub skipped_for_server: Vec<&'static str>,
}

/// Applies every migration not yet recorded, in order.
pub async fn migrate(
    warehouse: &Warehouse,
    migrations: &[Migration],
) -> Result<MigrationReport, ClickHouseError> {
    let config = warehouse.config();
    let database = config.database.as_str();
    match &config.cluster {
        None => {
            warehouse
                .execute(
                    "CREATE TABLE IF NOT EXISTS zeal_schema_migrations \
                     (id String, applied_at DateTime) ENGINE = ReplacingMergeTree ORDER BY id",
                )
                .await?
        }
        Some(cluster) => {
            warehouse
                .execute_ddl(&super::cluster::ledger(cluster, database))
                .await?
        }
    }
    let schema: Vec<&str> = migrations.iter().map(|m| m.sql).collect();
    let done: Vec<Applied> = warehouse
        .fetch_all("SELECT DISTINCT id FROM zeal_schema_migrations")
        .await?;
    let done: std::collections::HashSet<String> = done.into_iter().map(|a| a.id).collect();
    let mut report = MigrationReport::default();
    for m in migrations {
        if done.contains(m.id) {
            report.already_applied.push(m.id);
            continue;
        }
        if m.min_server.is_some_and(|min| warehouse.version() < min) {
            tracing::info!(id = m.id, server = %warehouse.version(), "migration skipped: server too old");
            report.skipped_for_server.push(m.id);
            continue;
        }
        let statements = match &config.cluster {
            None => vec![m.sql.to_string()],
            Some(cluster) => super::cluster::statements(m.sql, cluster, database, &schema)
                .map_err(|e| ClickHouseError::Migration {
                    id: m.id,
                    reason: e.to_string(),
                })?,
        };
        for sql in &statements {
            match warehouse.execute_ddl(sql).await {
                // A column an earlier, interrupted run (or a process racing this one) added.
                Err(e) if sql.contains("ADD COLUMN") && e.to_string().contains("Code: 44") => {
                    tracing::info!(id = m.id, "the column is there already");
                }
                other => other?,
            }
        }
        warehouse
            .execute(&format!(
                "INSERT INTO zeal_schema_migrations (id, applied_at) VALUES ('{}', now())",
                m.id.replace('\'', "")
            ))
            .await?;
        tracing::info!(id = m.id, "migration applied");
        report.applied.push(m.id);
    }
    Ok(report)
}
