//! Rebuilding a table into a new definition, for the changes `ALTER` cannot make on ClickHouse
//! 18.16 (a key column's type, the partitioning): the new table is created empty beside the old
//! one, one `RENAME` swaps their names, the old rows are copied into the new table by column
//! name and the old table is dropped. Writers need not stop: a write before the swap lands in the
//! old table and is copied, a write after it lands in the new one; every table keeps a version
//! column, so a copied row never outranks a newer write of its key.
//!
//! The old table under its `__before_NNNN` name marks a rebuild under way: a process that finds
//! it (an interrupted run, or another process migrating at once) goes on from the copy. Copying
//! twice is harmless (the copies share their key and version and collapse under `FINAL`).
//!
//! On a cluster the replicated local tables are swapped `ON CLUSTER` (the new one under its own
//! ZooKeeper path), the `Distributed` table is recreated over the new local table when their
//! columns differ, and the copy reads the old rows through a `Distributed` table over the old
//! local tables, so every shard's rows are copied once, from one server.
//!
//! Pure: [`plan`] names the tables and writes the statements;
//! [`super::migrations::migrate`] runs them.

use super::cluster::{self, Unsupported};

/// The tables and statements of one table's rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuild {
    /// The table the rows live in: `t`, or `db.t_local` on a cluster.
    pub live: String,
    /// The old table after the swap, until its rows are copied; its existence marks a rebuild
    /// under way.
    pub before: String,
    /// Create the new, empty table beside the live one (`IF NOT EXISTS`).
    pub create: Vec<String>,
    /// Swaps the names: `live` becomes `before`, the new table becomes `live`.
    pub swap: String,
    /// Create `live` as defined: when there is no table to rebuild, and when a swap was left
    /// half done (`RENAME` of two tables is two steps, and a process racing this one may drop
    /// the new table between them).
    pub recreate: Vec<String>,
    /// On a cluster, the `Distributed` tables over the new and the old local tables.
    pub distributed: Option<Redistribute>,
    /// What the copy reads (the old rows) and where it writes.
    pub source: String,
    pub target: String,
    /// Drop the old table, and a new one a process racing this one left unswapped.
    pub finish: Vec<String>,
}

/// The `Distributed` tables of a rebuild on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redistribute {
    /// The `Distributed` table the services use (`db.t`).
    pub table: String,
    /// Drops it: run only when its columns differ from the new local table's (dropping a
    /// `Distributed` table drops the rows it still queues for other shards).
    pub drop: String,
    /// Create it over the new local table and the old rows' one over the old local tables
    /// (`IF NOT EXISTS`).
    pub create: Vec<String>,
}

impl Rebuild {
    /// The copy of the old rows' `columns` (those the old table has) into the new table.
    pub fn copy(&self, columns: &[String]) -> String {
        let columns = columns.join(", ");
        format!(
            "INSERT INTO {} ({columns}) SELECT {columns} FROM {}",
            self.target, self.source
        )
    }
}

/// The rebuild of the table `sql` creates (`CREATE TABLE IF NOT EXISTS t (…) ENGINE = …`, the
/// table's whole new definition), as migration `id` (`NNNN_name`: the number names the tables
/// the rebuild uses), on one server (`cluster`: `None`) or on `cluster`.
pub fn plan(
    id: &str,
    sql: &str,
    cluster: Option<&str>,
    database: &str,
) -> Result<Rebuild, Unsupported> {
    let rest = sql
        .trim()
        .strip_prefix("CREATE TABLE IF NOT EXISTS ")
        .ok_or_else(|| Unsupported(format!("{id}: a rebuild is a CREATE TABLE IF NOT EXISTS")))?;
    let (table, definition) = cluster::name(rest)?;
    let n = id
        .split_once('_')
        .map(|(n, _)| n)
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| Unsupported(format!("{id}: not NNNN_name")))?;
    let staged = format!("{table}__{n}");
    let Some(cluster) = cluster else {
        let before = format!("{table}__before_{n}");
        return Ok(Rebuild {
            live: table.to_string(),
            before: before.clone(),
            create: vec![format!("CREATE TABLE IF NOT EXISTS {staged}{definition}")],
            swap: format!("RENAME TABLE {table} TO {before}, {staged} TO {table}"),
            recreate: vec![format!("CREATE TABLE IF NOT EXISTS {table}{definition}")],
            distributed: None,
            source: before.clone(),
            target: table.to_string(),
            finish: vec![
                format!("DROP TABLE IF EXISTS {before}"),
                format!("DROP TABLE IF EXISTS {staged}"),
            ],
        });
    };
    // The new local table is `<staged>_local`, under ZooKeeper path …/<staged>.
    let live = cluster::local_table(database, table);
    let staged_local = cluster::local_table(database, &staged);
    let (create_local, shard_key) =
        cluster::create_named(&staged_local, &staged, definition, cluster, database)?;
    let (recreate_local, _) = cluster::create_named(&live, &staged, definition, cluster, database)?;
    let before_local = format!("{live}__before_{n}");
    let before = format!("{database}.{table}__before_{n}");
    let on = format!("ON CLUSTER {cluster}");
    Ok(Rebuild {
        live: live.clone(),
        before: before_local.clone(),
        create: vec![create_local],
        swap: format!("RENAME TABLE {live} TO {before_local}, {staged_local} TO {live} {on}"),
        recreate: vec![
            recreate_local,
            cluster::distributed_over(&format!("{database}.{table}"), &live, &shard_key, cluster),
        ],
        distributed: Some(Redistribute {
            table: format!("{database}.{table}"),
            drop: format!("DROP TABLE IF EXISTS {database}.{table} {on}"),
            create: vec![
                cluster::distributed_over(
                    &format!("{database}.{table}"),
                    &live,
                    &shard_key,
                    cluster,
                ),
                cluster::distributed_over(&before, &before_local, &shard_key, cluster),
            ],
        }),
        source: before.clone(),
        target: format!("{database}.{table}"),
        finish: vec![
            format!("DROP TABLE IF EXISTS {before} {on}"),
            format!("DROP TABLE IF EXISTS {before_local} {on}"),
            format!("DROP TABLE IF EXISTS {staged_local} {on}"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "CREATE TABLE IF NOT EXISTS grid_balance (
            region String,
            interval_start DateTime('UTC'),
            computed_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(computed_at)
        PARTITION BY toYYYYMM(interval_start)
        ORDER BY (region, interval_start)";

    #[test]
    fn on_one_server_the_new_table_swaps_in_and_takes_the_old_rows() {
        let r = plan("0017_grid_balance_utc", NEW, None, "zdb").unwrap();
        assert_eq!(r.live, "grid_balance");
        assert_eq!(r.before, "grid_balance__before_0017");
        assert_eq!(r.create.len(), 1);
        assert!(
            r.create[0].starts_with("CREATE TABLE IF NOT EXISTS grid_balance__0017 (\n"),
            "{}",
            r.create[0]
        );
        assert!(r.create[0].ends_with(
            "PARTITION BY toYYYYMM(interval_start)\n        ORDER BY (region, interval_start)"
        ));
        assert_eq!(
            r.swap,
            "RENAME TABLE grid_balance TO grid_balance__before_0017, grid_balance__0017 TO grid_balance"
        );
        assert_eq!(r.distributed, None);
        assert_eq!(r.recreate, [NEW]);
        assert_eq!(
            r.copy(&["region".into(), "interval_start".into()]),
            "INSERT INTO grid_balance (region, interval_start) SELECT region, interval_start \
             FROM grid_balance__before_0017"
        );
        assert_eq!(
            r.finish[0],
            "DROP TABLE IF EXISTS grid_balance__before_0017"
        );
    }

    #[test]
    fn on_a_cluster_local_tables_swap_on_every_server_and_the_copy_goes_through_distributed_ones() {
        let r = plan("0017_grid_balance_utc", NEW, Some("zeal"), "zdb").unwrap();
        assert_eq!(r.live, "zdb.grid_balance_local");
        assert_eq!(r.before, "zdb.grid_balance_local__before_0017");
        assert!(
            r.create[0].starts_with(
                "CREATE TABLE IF NOT EXISTS zdb.grid_balance__0017_local ON CLUSTER zeal ("
            ),
            "{}",
            r.create[0]
        );
        // Its own ZooKeeper path: the old replicas still hold theirs until the drop.
        assert!(
            r.create[0].contains(
                "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/zdb/grid_balance__0017', \
                 '{replica}', computed_at) PARTITION BY toYYYYMM(interval_start)"
            ),
            "{}",
            r.create[0]
        );
        assert_eq!(
            r.swap,
            "RENAME TABLE zdb.grid_balance_local TO zdb.grid_balance_local__before_0017, \
             zdb.grid_balance__0017_local TO zdb.grid_balance_local ON CLUSTER zeal"
        );
        assert!(
            r.recreate[0]
                .starts_with("CREATE TABLE IF NOT EXISTS zdb.grid_balance_local ON CLUSTER zeal (")
                && r.recreate[0].contains("'/clickhouse/tables/{shard}/zdb/grid_balance__0017'"),
            "{}",
            r.recreate[0]
        );
        let d = r.distributed.as_ref().unwrap();
        assert_eq!(d.table, "zdb.grid_balance");
        assert_eq!(
            d.create,
            [
                "CREATE TABLE IF NOT EXISTS zdb.grid_balance ON CLUSTER zeal AS \
                 zdb.grid_balance_local ENGINE = Distributed(zeal, 'zdb', grid_balance_local, \
                 cityHash64(region))",
                "CREATE TABLE IF NOT EXISTS zdb.grid_balance__before_0017 ON CLUSTER zeal AS \
                 zdb.grid_balance_local__before_0017 ENGINE = Distributed(zeal, 'zdb', \
                 grid_balance_local__before_0017, cityHash64(region))"
            ]
        );
        assert_eq!(
            r.copy(&["region".into()]),
            "INSERT INTO zdb.grid_balance (region) SELECT region FROM zdb.grid_balance__before_0017"
        );
        assert!(r.finish.iter().all(|s| s.ends_with(" ON CLUSTER zeal")));
    }

    #[test]
    fn only_a_whole_create_with_a_numbered_id_is_a_rebuild() {
        assert!(plan("0017_x", "ALTER TABLE t ADD COLUMN c UInt8", None, "d").is_err());
        assert!(plan("x", NEW, None, "d").is_err());
        assert!(
            plan(
                "0017_x",
                "CREATE TABLE IF NOT EXISTS t; DROP (a UInt8)",
                None,
                "d"
            )
            .is_err()
        );
    }
}
