//! The schema on a ClickHouse cluster (`?cluster=NAME` in the URL): every table a migration
//! creates becomes a replicated table `<table>_local` on every server (`ON CLUSTER`, a
//! `Replicated*MergeTree` whose replicas ZooKeeper keeps in step) and a `Distributed` table
//! `<table>` over them, which the services read and write by the table's own name. A write
//! lands on the local replica (ClickHouse's `prefer_localhost_replica`) and reaches the others
//! through replication; a read through `<table>` asks one live replica of each shard, so a
//! server can stop without losing or doubling a row (`FINAL` still collapses each key: rows of
//! one key share a shard, the sharding key being a hash of the table's first key column).
//!
//! Pure: these functions turn the migrations written for one server into the statements for a
//! cluster; [`super::migrations::migrate`] runs them. Written for what ClickHouse 18.16 accepts:
//! the database is named literally (`currentDatabase()` inside `ON CLUSTER` is the server's
//! default database), and a `Distributed` table cannot be altered `ON CLUSTER` when its shards
//! are replicated, so a column added to `<table>_local` is followed by recreating `<table>`
//! (it holds no rows).

/// The replicated table under the `Distributed` table `table`.
pub fn local_table(database: &str, table: &str) -> String {
    format!("{database}.{table}_local")
}

/// Why a migration cannot be run on a cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot run on a cluster: {0}")]
pub struct Unsupported(pub String);

/// Whether `s` can be a cluster, database or table name as written here.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

/// The migrations ledger, replicated across the whole cluster (every shard and replica reads
/// the same list, so a migration runs once wherever a service starts).
pub fn ledger(cluster: &str, database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {database}.zeal_schema_migrations ON CLUSTER {cluster} \
         (id String, applied_at DateTime) \
         ENGINE = ReplicatedReplacingMergeTree('/clickhouse/{database}/zeal_schema_migrations', \
         '{{shard}}-{{replica}}') ORDER BY id"
    )
}

/// The statements that apply `sql`, a migration written for one server (`CREATE TABLE IF NOT
/// EXISTS t (…) ENGINE = …MergeTree(…) [PARTITION BY …] ORDER BY …` or `ALTER TABLE t ADD
/// COLUMN …`), on `cluster`. `schema` holds every migration's SQL (an `ALTER` finds the
/// table's sharding key in the table's `CREATE`).
pub fn statements(
    sql: &str,
    cluster: &str,
    database: &str,
    schema: &[&str],
) -> Result<Vec<String>, Unsupported> {
    let sql = sql.trim();
    if let Some(rest) = sql.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
        let (table, rest) = name(rest)?;
        let (local, shard_key) = create(table, rest, cluster, database)?;
        Ok(vec![
            local,
            distributed(table, &shard_key, cluster, database),
        ])
    } else if let Some(rest) = sql.strip_prefix("ALTER TABLE ") {
        let (table, ops) = name(rest)?;
        let ops = ops.trim();
        if !ops.starts_with("ADD COLUMN") {
            return Err(Unsupported(format!("ALTER TABLE {table} {ops}")));
        }
        let shard_key = schema
            .iter()
            .filter_map(|m| m.trim().strip_prefix("CREATE TABLE IF NOT EXISTS "))
            .filter_map(|rest| name(rest).ok())
            .find(|(t, _)| *t == table)
            .map(|(_, rest)| create(table, rest, cluster, database))
            .transpose()?
            .map(|(_, key)| key)
            .ok_or_else(|| Unsupported(format!("ALTER TABLE {table}: no migration creates it")))?;
        Ok(vec![
            format!(
                "ALTER TABLE {} ON CLUSTER {cluster} {ops}",
                local_table(database, table)
            ),
            format!("DROP TABLE IF EXISTS {database}.{table} ON CLUSTER {cluster}"),
            distributed(table, &shard_key, cluster, database),
        ])
    } else {
        Err(Unsupported(first_words(sql)))
    }
}

/// The table name at the start of `s`, and what follows it.
pub(super) fn name(s: &str) -> Result<(&str, &str), Unsupported> {
    let end = s
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(s.len());
    let table = &s[..end];
    if !is_identifier(table) {
        return Err(Unsupported(format!("table name {table:?}")));
    }
    Ok((table, &s[end..]))
}

/// The replicated local table's `CREATE` (`<database>.<table>_local`, ZooKeeper path
/// `…/<database>/<table>`), and the sharding key.
fn create(
    table: &str,
    rest: &str,
    cluster: &str,
    database: &str,
) -> Result<(String, String), Unsupported> {
    create_named(
        &local_table(database, table),
        table,
        rest,
        cluster,
        database,
    )
}

/// The `CREATE` of the replicated table `local` (`database.name`) defined by `rest` (what
/// follows the table's name in its single-server `CREATE`), its replicas at ZooKeeper path
/// `…/<database>/<table>`, and the sharding key.
pub(super) fn create_named(
    local: &str,
    table: &str,
    rest: &str,
    cluster: &str,
    database: &str,
) -> Result<(String, String), Unsupported> {
    let at = rest
        .find("ENGINE = ")
        .ok_or_else(|| Unsupported(format!("{table}: no ENGINE = clause")))?;
    let (columns, engine) = (rest[..at].trim(), &rest[at + "ENGINE = ".len()..]);
    let open = engine
        .find(|c: char| c == '(' || c.is_whitespace())
        .unwrap_or(engine.len());
    let kind = &engine[..open];
    if !kind.ends_with("MergeTree") || kind.starts_with("Replicated") {
        return Err(Unsupported(format!("{table}: engine {kind}")));
    }
    let (args, after) = match engine[open..].strip_prefix('(') {
        Some(inner) => {
            let close = inner
                .find(')')
                .ok_or_else(|| Unsupported(format!("{table}: unclosed engine arguments")))?;
            (inner[..close].trim(), &inner[close + 1..])
        }
        None => ("", &engine[open..]),
    };
    let after = after.trim();
    let key = after
        .find("ORDER BY")
        .map(|at| after[at + "ORDER BY".len()..].trim())
        .ok_or_else(|| Unsupported(format!("{table}: no ORDER BY after the engine")))?;
    let args = if args.is_empty() {
        String::new()
    } else {
        format!(", {args}")
    };
    Ok((
        format!(
            "CREATE TABLE IF NOT EXISTS {local} ON CLUSTER {cluster} {columns} \
             ENGINE = Replicated{kind}('/clickhouse/tables/{{shard}}/{database}/{table}', \
             '{{replica}}'{args}) {after}"
        ),
        shard_key_of(key),
    ))
}

/// The `Distributed` table `table` over its replicated local tables, sharded by `shard_key`.
fn distributed(table: &str, shard_key: &str, cluster: &str, database: &str) -> String {
    distributed_over(
        &format!("{database}.{table}"),
        &local_table(database, table),
        shard_key,
        cluster,
    )
}

/// The `Distributed` table `table` (`database.name`) over the replicated tables `local`
/// (`database.name`), sharded by `shard_key`.
pub(super) fn distributed_over(table: &str, local: &str, shard_key: &str, cluster: &str) -> String {
    let (database, local_name) = local.split_once('.').unwrap_or(("", local));
    format!(
        "CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {cluster} AS {local} \
         ENGINE = Distributed({cluster}, '{database}', {local_name}, {shard_key})"
    )
}

/// The sharding expression for a table ordered by `key` (`(a, b, …)` or `a`): a hash of its
/// first column, so that every version of a row lands on the same shard and `FINAL` sees them
/// together.
fn shard_key_of(key: &str) -> String {
    let first = key
        .trim_start_matches('(')
        .split([',', ')'])
        .next()
        .unwrap_or("")
        .trim();
    format!("cityHash64({first})")
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(4).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CREATE TABLE IF NOT EXISTS dead_letters (
            topic String,
            rejected_at DateTime
        ) ENGINE = ReplacingMergeTree(rejected_at)
        ORDER BY (topic, partition, offset)";

    #[test]
    fn a_table_becomes_replicated_local_tables_under_a_distributed_one() {
        let s = statements(CREATE, "zeal", "zdb", &[]).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].starts_with(
            "CREATE TABLE IF NOT EXISTS zdb.dead_letters_local ON CLUSTER zeal (\n            topic String,"
        ), "{}", s[0]);
        assert!(
            s[0].contains(
                "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/zdb/dead_letters', \
                 '{replica}', rejected_at) ORDER BY (topic, partition, offset)"
            ),
            "{}",
            s[0]
        );
        assert_eq!(
            s[1],
            "CREATE TABLE IF NOT EXISTS zdb.dead_letters ON CLUSTER zeal AS zdb.dead_letters_local \
             ENGINE = Distributed(zeal, 'zdb', dead_letters_local, cityHash64(topic))"
        );
        let plain = "CREATE TABLE IF NOT EXISTS t (id String) ENGINE = MergeTree ORDER BY id";
        let s = statements(plain, "c", "default", &[]).unwrap();
        assert!(
            s[0].contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/default/t', '{replica}') ORDER BY id"),
            "{}",
            s[0]
        );
        assert!(s[1].ends_with("cityHash64(id))"));
    }

    #[test]
    fn an_added_column_reaches_the_local_tables_and_the_distributed_one() {
        let created = "CREATE TABLE IF NOT EXISTS household_daily (household_id String, day Date) \
                       ENGINE = ReplacingMergeTree ORDER BY (household_id, day)";
        let alter =
            "ALTER TABLE household_daily\n ADD COLUMN g Float64 DEFAULT nan AFTER export_kwh";
        let s = statements(alter, "zeal", "default", &[CREATE, created, alter]).unwrap();
        assert_eq!(
            s,
            [
                "ALTER TABLE default.household_daily_local ON CLUSTER zeal ADD COLUMN g Float64 DEFAULT nan AFTER export_kwh",
                "DROP TABLE IF EXISTS default.household_daily ON CLUSTER zeal",
                "CREATE TABLE IF NOT EXISTS default.household_daily ON CLUSTER zeal AS default.household_daily_local \
                 ENGINE = Distributed(zeal, 'default', household_daily_local, cityHash64(household_id))",
            ]
        );
    }

    #[test]
    fn what_it_cannot_place_on_a_cluster_is_refused_not_guessed() {
        for sql in [
            "DROP TABLE x",
            "ALTER TABLE t DELETE WHERE 1",
            "CREATE TABLE IF NOT EXISTS t (a String) ENGINE = Memory",
            "CREATE TABLE IF NOT EXISTS t (a String) ENGINE = ReplicatedMergeTree('p', 'r') ORDER BY a",
            "CREATE TABLE IF NOT EXISTS `t; DROP` (a String) ENGINE = MergeTree ORDER BY a",
            "ALTER TABLE never_created ADD COLUMN a String",
        ] {
            assert!(statements(sql, "c", "default", &[]).is_err(), "{sql}");
        }
        let partitioned = "CREATE TABLE IF NOT EXISTS t (a DateTime) ENGINE = MergeTree \
                           PARTITION BY toYYYYMM(a) ORDER BY a";
        let s = statements(partitioned, "c", "default", &[]).unwrap();
        assert!(
            s[0].ends_with("PARTITION BY toYYYYMM(a) ORDER BY a")
                && s[1].ends_with("cityHash64(a))")
        );
        assert!(is_identifier("zeal_2") && !is_identifier("2x") && !is_identifier("a-b"));
        assert!(ledger("zeal", "default").contains("'{shard}-{replica}'"));
    }
}
