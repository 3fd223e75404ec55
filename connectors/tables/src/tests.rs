//! The two stores must describe the same tables: these tests read the DDL and compare it with
//! the embedded specs, so a column or key added to one and not the other fails here.

use super::*;
use std::collections::BTreeMap;
use zeal_embedded::store::{ColumnKind, Values};

/// A table's columns (name, ClickHouse type) and ORDER BY, as its migrations leave it.
#[derive(Debug, Default)]
struct Ddl {
    created_by: Vec<&'static str>,
    columns: Vec<(String, String)>,
    order_by: Vec<String>,
    added: Vec<(String, String)>,
    /// The columns the table had before each rebuild.
    rebuilt_from: Vec<Vec<String>>,
    partition_by: Option<String>,
}

/// The first word after `prefix` in `sql`.
fn word_after<'a>(sql: &'a str, prefix: &str) -> Option<&'a str> {
    let i = sql.find(prefix)? + prefix.len();
    sql[i..].split_whitespace().next()
}

fn parse_all() -> BTreeMap<String, Ddl> {
    let mut tables: BTreeMap<String, Ddl> = BTreeMap::new();
    for m in MIGRATIONS {
        let sql = m.sql;
        if let Some(name) = word_after(sql, "CREATE TABLE IF NOT EXISTS ") {
            let t = tables.entry(name.to_string()).or_default();
            if m.rebuild {
                let before: Vec<String> = t
                    .columns
                    .iter()
                    .chain(&t.added)
                    .map(|c| c.0.clone())
                    .collect();
                t.rebuilt_from.push(before);
                t.added.clear();
            } else {
                t.created_by.push(m.id);
            }
            t.partition_by = sql.find("PARTITION BY ").map(|i| {
                sql[i + 13..]
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            });
            let open = sql.find('(').expect("column list");
            let close = sql.find(") ENGINE").expect("engine after the columns");
            t.columns = sql[open + 1..close]
                .split(",\n")
                .map(|c| {
                    let mut parts = c.split_whitespace();
                    let name = parts.next().expect("column name").to_string();
                    (name, parts.next().expect("column type").to_string())
                })
                .collect();
            let order = &sql[sql.find("ORDER BY ").expect("ORDER BY") + 9..];
            let order = order.trim().trim_start_matches('(').trim_end_matches(')');
            t.order_by = order.split(',').map(|c| c.trim().to_string()).collect();
        } else if let Some(name) = word_after(sql, "ALTER TABLE ") {
            let t = tables.entry(name.to_string()).or_default();
            for clause in sql.split("ADD COLUMN ").skip(1) {
                let mut parts = clause.split_whitespace();
                let col = parts.next().expect("column name").to_string();
                let ty = parts.next().expect("column type").to_string();
                t.added.push((col, ty));
            }
        } else {
            panic!("{}: neither CREATE TABLE nor ALTER TABLE", m.id);
        }
    }
    tables
}

#[test]
fn migration_ids_are_unique_ascending_and_one_statement_each() {
    let numbers: Vec<u32> = MIGRATIONS
        .iter()
        .map(|m| {
            let (n, name) = m.id.split_once('_').expect("NNNN_name");
            assert_eq!(n.len(), 4, "{}", m.id);
            assert!(!name.is_empty(), "{}", m.id);
            assert!(
                !m.sql.contains(';'),
                "{}: one statement per migration",
                m.id
            );
            n.parse().expect("a number")
        })
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "ids must be strictly ascending (applied in this order): {numbers:?}"
    );
}

#[test]
fn every_clickhouse_table_has_its_embedded_spec_with_the_same_key() {
    let tables = parse_all();
    for (name, ddl) in &tables {
        assert_eq!(ddl.created_by.len(), 1, "{name} created once");
        let spec = embedded(name).unwrap_or_else(|| panic!("{name}: no embedded spec"));
        assert_eq!(
            spec.key, ddl.order_by,
            "{name}: the embedded store's key is ClickHouse's ORDER BY (the replacing key)"
        );
        for k in spec.key {
            assert!(
                ddl.columns.iter().any(|(c, _)| c == k),
                "{name}: key column {k} not created"
            );
        }
    }
    for spec in EMBEDDED {
        assert!(
            tables.contains_key(spec.name),
            "{}: no migration",
            spec.name
        );
    }
    let mut names: Vec<_> = EMBEDDED.iter().map(|t| t.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EMBEDDED.len(), "a table listed twice");
}

/// The embedded type a ClickHouse column is stored as.
fn stored(clickhouse_type: &str) -> ColumnKind {
    match clickhouse_type {
        "String" => ColumnKind::Str,
        t if t.starts_with("Array(") => ColumnKind::Str,
        "DateTime" | "DateTime('UTC')" | "Date" => ColumnKind::Millis,
        "UInt8" | "UInt16" | "UInt32" => ColumnKind::U32,
        "Int32" | "Int64" => ColumnKind::I64,
        "Float32" | "Float64" => ColumnKind::F64,
        other => panic!("no embedded type for ClickHouse's {other}"),
    }
}

#[test]
fn each_row_type_has_exactly_its_tables_columns_with_matching_types() {
    // A field added to a row without its migration (or the reverse) fails here: ClickHouse
    // inserts by column name and the embedded store null-fills the spec's columns.
    let tables = parse_all();
    for spec in EMBEDDED {
        let ddl = &tables[spec.name];
        for (c, _) in &ddl.added {
            assert!(
                !ddl.columns.iter().any(|(d, _)| d == c),
                "{}: {c} both created and added",
                spec.name
            );
        }
        let mut want: Vec<(String, ColumnKind)> = ddl
            .columns
            .iter()
            .chain(&ddl.added)
            .map(|(c, t)| (c.clone(), stored(t)))
            .collect();
        let mut have: Vec<(String, ColumnKind)> = spec
            .columns
            .iter()
            .map(|(c, k)| (c.to_string(), *k))
            .collect();
        want.sort_by(|a, b| a.0.cmp(&b.0));
        have.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(have, want, "{}: row fields against the DDL", spec.name);
    }
}

#[test]
fn a_rebuild_keeps_every_column_and_every_time_is_utc_and_time_keyed_tables_are_monthly() {
    let tables = parse_all();
    for (name, ddl) in &tables {
        for before in &ddl.rebuilt_from {
            for c in before {
                assert!(
                    ddl.columns.iter().any(|(d, _)| d == c),
                    "{name}: a rebuild drops column {c} (and its rows' values)"
                );
            }
        }
        for (c, t) in ddl.columns.iter().chain(&ddl.added) {
            assert!(
                !t.contains("DateTime") || t.contains("DateTime('UTC')"),
                "{name}.{c}: {t} reads in the server's time zone"
            );
        }
        // Rows of one key must share a partition (ReplacingMergeTree collapses within one):
        // the partition is a month of a key column.
        let time_key = ddl.order_by.iter().find(|k| {
            ddl.columns
                .iter()
                .any(|(c, t)| c == *k && (t.starts_with("DateTime") || t == "Date"))
        });
        match time_key {
            Some(k) => assert_eq!(
                ddl.partition_by.as_deref(),
                Some(format!("toYYYYMM({k})").as_str()),
                "{name}"
            ),
            None => assert_eq!(ddl.partition_by, None, "{name}: partitioned off its key"),
        }
    }
    assert_eq!(tables["household_daily"].rebuilt_from[0].len(), 15);
    assert_eq!(
        tables["region_totals"].partition_by.as_deref(),
        Some("toYYYYMM(interval_start)")
    );
}

#[test]
fn a_rows_parquet_columns_follow_its_spec() {
    let rows = [DailyRow {
        household_id: "h".into(),
        day: 3,
        generation_kwh: 1.5,
        computed_at: 7,
        ..DailyRow::default()
    }];
    let cols = DailyRow::columns(&rows);
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let spec: Vec<&str> = HOUSEHOLD_DAILY.columns.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, spec);
    let get = |name: &str| &cols.iter().find(|(n, _)| *n == name).unwrap().1;
    assert!(matches!(get("day"), Values::Millis(v) if v == &[3 * 86_400_000]));
    assert!(matches!(get("computed_at"), Values::Millis(v) if v == &[7_000]));
    assert!(matches!(get("generation_kwh"), Values::F64(v) if v == &[1.5]));
    let lists = RoundEventRow::columns(&[RoundEventRow {
        missing: vec!["m1".into(), "m2".into()],
        ..RoundEventRow::default()
    }]);
    assert!(matches!(&lists[7], ("missing", Values::Str(v)) if v == &["m1,m2"]));
}

#[test]
fn the_parser_sees_a_mismatch() {
    // The checks above are only as good as the parsing: a table whose ORDER BY differs from
    // its key must be seen as different.
    let ddl = parse_all();
    let totals = &ddl["region_totals"];
    assert_eq!(totals.order_by, ["region", "interval_start", "channel"]);
    assert!(
        totals
            .columns
            .iter()
            .any(|(c, t)| c == "total" && t == "Int64")
    );
    assert_ne!(ROUND_EVENTS.key, totals.order_by.as_slice());
    assert_eq!(
        ddl["household_daily"].rebuilt_from[0].len(),
        15,
        "0008 adds three columns to 0004's twelve"
    );
}

mod region_totals_embedded {
    use crate::TotalRow;
    use crate::region_totals::from_embedded;
    use zeal_embedded::store::ParquetStore;

    /// Appends totals as the audit does: (region, start ms, channel, total).
    fn append(store: &ParquetStore, rows: &[(&str, i64, &str, i64)], published_at: u32) {
        let rows: Vec<TotalRow> = rows
            .iter()
            .map(|r| TotalRow {
                region: r.0.into(),
                interval_start: (r.1 / 1000) as u32,
                interval_seconds: 900,
                channel: r.2.into(),
                total: r.3,
                contributors: 7,
                attempt: 1,
                published_at,
                aggregator_id: "agg".into(),
                ..TotalRow::default()
            })
            .collect();
        crate::row::append(store, &rows).unwrap();
    }

    #[test]
    fn reads_each_total_once_within_the_range_and_nothing_from_an_empty_store() {
        let dir = std::env::temp_dir().join(format!("zeal-tables-totals-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = ParquetStore::open(&dir).unwrap();
        assert_eq!(from_embedded(&store, None).unwrap(), vec![]);
        const H: i64 = 3_600_000;
        append(
            &store,
            &[
                ("NL-R01", 0, "import_wh", 10),
                ("NL-R01", H, "import_wh", 20),
            ],
            1,
        );
        // The same key written again (a redelivered total): one row, the later one.
        append(
            &store,
            &[
                ("NL-R01", H, "import_wh", 21),
                ("NL-R02", 2 * H, "export_wh", 5),
            ],
            2,
        );
        let mut all = from_embedded(&store, None).unwrap();
        all.sort_by_key(|r| (r.region.clone(), r.interval_start_ms));
        let got: Vec<_> = all
            .iter()
            .map(|r| {
                (
                    r.region.as_str(),
                    r.interval_start_ms,
                    r.channel.as_str(),
                    r.total,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("NL-R01", 0, "import_wh", 10),
                ("NL-R01", H, "import_wh", 21),
                ("NL-R02", 2 * H, "export_wh", 5)
            ]
        );
        assert!(
            all.iter()
                .all(|r| r.interval_seconds == 900 && r.contributors == 7)
        );
        let hour: Vec<i64> = from_embedded(&store, Some(H..2 * H))
            .unwrap()
            .iter()
            .map(|r| r.total)
            .collect();
        assert_eq!(hour, [21], "the range is [start, end)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
