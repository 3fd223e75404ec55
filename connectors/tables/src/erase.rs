//! Erasure: a household's rows leave every table that holds rows per household
//! ([`HOUSEHOLD_TABLES`]). Aggregates (`region_totals`, `round_events`, `grid_balance`) hold no
//! household's data and stay.
//!
//! On ClickHouse each table gets a mutation (`ALTER TABLE … DELETE WHERE household_id = …`,
//! which 18.16 runs asynchronously); [`erase_household`] waits until every mutation of the
//! table is done and then checks that no row is left. On the embedded store the parts holding
//! the household's rows are rewritten without them
//! ([`zeal_embedded::store::ParquetStore::delete_rows`]).

use crate::{
    APPLIANCE_USAGE, GAMIFICATION_EVENTS, HOUSEHOLD_DAILY, HOUSEHOLDS, Store, TablesError,
};
use std::time::{Duration, Instant};
use zeal_connectors::clickhouse::Warehouse;
use zeal_embedded::store::{ParquetStore, TableSpec};

/// The tables that hold rows per household (each has a `household_id` column).
pub const HOUSEHOLD_TABLES: &[TableSpec] = &[
    HOUSEHOLDS,
    HOUSEHOLD_DAILY,
    GAMIFICATION_EVENTS,
    APPLIANCE_USAGE,
];

/// Longest wait for ClickHouse to finish a table's delete.
const MUTATION_WAIT: Duration = Duration::from_secs(120);

/// A string literal for both SQL dialects (ClickHouse and polars).
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Deletes every row of `household` from [`HOUSEHOLD_TABLES`]; returns each table with the rows
/// it lost (as stored, before deduplication). Idempotent: erasing again deletes nothing.
pub async fn erase_household(
    store: &Store,
    household: &str,
) -> Result<Vec<(&'static str, u64)>, TablesError> {
    match store {
        Store::ClickHouse(w) => {
            let mut erased = Vec::with_capacity(HOUSEHOLD_TABLES.len());
            for table in HOUSEHOLD_TABLES {
                erased.push((
                    table.name,
                    erase_on_clickhouse(w, table.name, household).await?,
                ));
            }
            Ok(erased)
        }
        Store::Embedded(p) => erase_embedded(p, household),
    }
}

/// [`erase_household`] on the embedded store (blocking file I/O, for callers on a blocking
/// thread).
pub fn erase_embedded(
    store: &ParquetStore,
    household: &str,
) -> Result<Vec<(&'static str, u64)>, TablesError> {
    HOUSEHOLD_TABLES
        .iter()
        .map(|t| {
            Ok((
                t.name,
                store.delete_rows(t.name, "household_id", household)? as u64,
            ))
        })
        .collect()
}

async fn count(w: &Warehouse, sql: &str, table: &'static str) -> Result<u64, TablesError> {
    let text = w.query_text(sql).await?;
    text.trim().parse().map_err(|_| TablesError::Malformed {
        table,
        detail: format!("a count that is not a number: {text:?}"),
    })
}

async fn erase_on_clickhouse(
    w: &Warehouse,
    table: &'static str,
    household: &str,
) -> Result<u64, TablesError> {
    if !w.table_exists(table).await? {
        return Ok(0);
    }
    let held = format!(
        "SELECT count() FROM {table} WHERE household_id = {}",
        sql_string(household)
    );
    let rows = count(w, &held, table).await?;
    if rows == 0 {
        return Ok(0);
    }
    // On a cluster the mutation runs on the replicated tables under the Distributed one, on
    // every shard; ZooKeeper carries it to each replica (one that is down applies it when back).
    let target = w.local_table(table);
    w.execute_ddl(&format!(
        "ALTER TABLE {target}{} DELETE WHERE household_id = {}",
        w.on_cluster(),
        sql_string(household)
    ))
    .await?;
    let mutated = target.rsplit('.').next().unwrap_or(table);
    let pending = format!(
        "SELECT count() FROM system.mutations WHERE database = {} \
         AND table = '{mutated}' AND is_done = 0",
        sql_string(&w.config().database)
    );
    let started = Instant::now();
    while count(w, &pending, table).await? > 0 {
        if started.elapsed() > MUTATION_WAIT {
            return Err(TablesError::Unfinished {
                table,
                detail: format!("the delete did not finish within {MUTATION_WAIT:?}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = count(w, &held, table).await?;
    if left > 0 {
        return Err(TablesError::Unfinished {
            table,
            detail: format!("{left} rows are still there after the delete"),
        });
    }
    Ok(rows)
}
