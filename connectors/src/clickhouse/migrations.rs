//! Idempotent schema migrations.
//!
//! Each migration has a stable id and is applied at most once per database, recorded in
//! `zeal_schema_migrations`. Statements are written to be harmless when re-run (`IF NOT EXISTS`),
//! so two processes migrating at once converge. Steps that old servers cannot run (DESIGN §6:
//! 18.16 has no TTL, CODEC, ...) declare `min_server` and are skipped, with a log line, below it.
//! On a cluster (`?cluster=NAME`) each migration runs as [`super::cluster::statements`], `ON
//! CLUSTER`, and the ledger is replicated. A migration marked `rebuild` recreates a table with
//! its rows ([`super::rebuild`]).

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
    /// `sql` is the whole new definition of a table that exists (`CREATE TABLE IF NOT EXISTS
    /// t …`): the table is rebuilt into it, its rows kept ([`super::rebuild`]), for what `ALTER`
    /// cannot change.
    pub rebuild: bool,
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

/// Applies every migration not yet recorded, in order. A rebuild copies a table's rows:
/// `max_rebuild_rows` refuses one that would copy more (an error naming the table and its
/// rows, nothing changed), so a service starting does not copy a large table (`None`: any).
pub async fn migrate(
    warehouse: &Warehouse,
    migrations: &[Migration],
    max_rebuild_rows: Option<u64>,
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
        if m.rebuild {
            rebuild(warehouse, m, max_rebuild_rows).await?;
        } else {
            for sql in &statements(warehouse, m, &schema)? {
                match warehouse.execute_ddl(sql).await {
                    // A column an earlier, interrupted run (or a process racing this one) added.
                    Err(e) if sql.contains("ADD COLUMN") && e.to_string().contains("Code: 44") => {
                        tracing::info!(id = m.id, "the column is there already");
                    }
                    other => other?,
                }
            }
        }
        record(warehouse, m).await?;
        report.applied.push(m.id);
    }
    Ok(report)
}

/// `m`'s statements: its SQL on one server, [`super::cluster::statements`] on a cluster.
fn statements(
    warehouse: &Warehouse,
    m: &Migration,
    schema: &[&str],
) -> Result<Vec<String>, ClickHouseError> {
    let config = warehouse.config();
    match &config.cluster {
        None => Ok(vec![m.sql.to_string()]),
        Some(cluster) => super::cluster::statements(m.sql, cluster, &config.database, schema)
            .map_err(unsupported(m.id)),
    }
}

/// A migration this deployment cannot run, as the error that names it.
fn unsupported(id: &'static str) -> impl Fn(super::cluster::Unsupported) -> ClickHouseError {
    move |e| ClickHouseError::Migration {
        id,
        reason: e.to_string(),
    }
}

async fn record(warehouse: &Warehouse, m: &Migration) -> Result<(), ClickHouseError> {
    warehouse
        .execute(&format!(
            "INSERT INTO zeal_schema_migrations (id, applied_at) VALUES ('{}', now())",
            m.id.replace('\'', "")
        ))
        .await?;
    tracing::info!(id = m.id, "migration applied");
    Ok(())
}

/// Rebuilds the table `m` defines into that definition ([`super::rebuild`]), going on from
/// wherever an earlier, interrupted run left it. Processes starting at once on one database
/// race through the same steps (one swaps, one finds its table gone): a step that fails is
/// tried again from the state it left, unless another process has recorded the rebuild.
async fn rebuild(
    warehouse: &Warehouse,
    m: &Migration,
    max_rows: Option<u64>,
) -> Result<(), ClickHouseError> {
    let mut attempt = 1;
    loop {
        let e = match rebuild_once(warehouse, m, max_rows).await {
            Ok(()) => return Ok(()),
            Err(e @ ClickHouseError::Migration { .. }) => return Err(e),
            Err(e) => e,
        };
        let recorded = warehouse
            .query_text(&format!(
                "SELECT count() FROM zeal_schema_migrations WHERE id = '{}'",
                m.id.replace('\'', "")
            ))
            .await?;
        if recorded.trim() != "0" {
            return Ok(());
        }
        if attempt == 3 {
            return Err(e);
        }
        tracing::info!(id = m.id, error = %e, "rebuild: trying again (another process may be at it)");
        tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
        attempt += 1;
    }
}

async fn rebuild_once(
    warehouse: &Warehouse,
    m: &Migration,
    max_rows: Option<u64>,
) -> Result<(), ClickHouseError> {
    let config = warehouse.config();
    let plan = super::rebuild::plan(m.id, m.sql, config.cluster.as_deref(), &config.database)
        .map_err(unsupported(m.id))?;
    let under_way = warehouse.table_exists(&plan.before).await?;
    let live = warehouse.table_exists(&plan.live).await?;
    let rows = match (under_way, live) {
        (true, _) => count(warehouse, m.id, &plan.source).await?,
        (false, true) => count(warehouse, m.id, &plan.target).await?,
        (false, false) => 0,
    };
    if let Some(max) = max_rows.filter(|max| rows > *max) {
        return Err(ClickHouseError::Migration {
            id: m.id,
            reason: format!(
                "rebuilding {} copies its {rows} rows, more than the {max} a service copies \
                 when it starts: run `zeal migrate --clickhouse URL` once (the services may \
                 keep running)",
                plan.target
            ),
        });
    }
    if !under_way {
        if !live {
            // Nothing to rebuild: the table is created as defined.
            for sql in &plan.recreate {
                warehouse.execute_ddl(sql).await?;
            }
            return Ok(());
        }
        for sql in &plan.create {
            warehouse.execute_ddl(sql).await?;
        }
        if let Err(e) = warehouse.execute_ddl(&plan.swap).await {
            // Another process swapped them first: go on from its swap.
            if !warehouse.table_exists(&plan.before).await? {
                return Err(e);
            }
        }
    }
    if !warehouse.table_exists(&plan.live).await? {
        // A swap half done (a `RENAME` of two tables is two steps: another process dropped
        // the new table between them): the new table is made again and the copy fills it.
        for sql in &plan.recreate {
            warehouse.execute_ddl(sql).await?;
        }
    }
    if let Some(d) = &plan.distributed {
        let columns = |c: Vec<super::ColumnInfo>| -> Vec<(String, String)> {
            c.into_iter().map(|c| (c.name, c.type_)).collect()
        };
        if warehouse.table_exists(&d.table).await?
            && columns(warehouse.describe(&d.table).await?)
                != columns(warehouse.describe(&plan.live).await?)
        {
            warehouse.execute_ddl(&d.drop).await?;
        }
        for sql in &d.create {
            warehouse.execute_ddl(sql).await?;
        }
    }
    let columns: Vec<String> = warehouse
        .describe(&plan.before)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    tracing::info!(id = m.id, table = %plan.target, rows, "rebuilding: copying the rows");
    let copy = plan.copy(&columns);
    warehouse
        .client()
        .query(&copy)
        // On a cluster: written to every shard before the old rows are dropped.
        .with_setting("insert_distributed_sync", "1")
        .execute()
        .await
        .map_err(super::ch_err(super::first_line(&copy)))?;
    for sql in &plan.finish {
        warehouse.execute_ddl(sql).await?;
    }
    Ok(())
}

/// The rows of `table`.
async fn count(
    warehouse: &Warehouse,
    id: &'static str,
    table: &str,
) -> Result<u64, ClickHouseError> {
    let text = warehouse
        .query_text(&format!("SELECT count() FROM {table}"))
        .await?;
    text.trim().parse().map_err(|_| ClickHouseError::Migration {
        id,
        reason: format!("SELECT count() FROM {table} answered {text:?}"),
    })
}
