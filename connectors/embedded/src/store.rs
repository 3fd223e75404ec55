//! The embedded store: tables as directories of Parquet files, queried with SQL through polars.
//!
//! Each write appends an immutable part (`<dir>/<table>/part-<time>-<seq>.parquet`, written to
//! a temporary name and renamed, so readers never see half a file). Reads deduplicate on the
//! table's natural key, keeping the last write — the same semantics as ClickHouse's
//! ReplacingMergeTree with `FINAL`, so a message delivered twice changes nothing.

use polars::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Polars(#[from] PolarsError),
}

/// A column of values to append.
#[derive(Debug, Clone)]
pub enum Values {
    Str(Vec<String>),
    I64(Vec<i64>),
    U32(Vec<u32>),
    F64(Vec<f64>),
    /// Milliseconds since the epoch, stored as a UTC datetime.
    Millis(Vec<i64>),
}

/// A table: its columns and the ones that identify a row.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    pub key: &'static [&'static str],
    /// Every column and its stored type. A part written before a column was added reads it as
    /// null, even when no part of the table has it yet.
    pub columns: &'static [(&'static str, ColumnKind)],
}

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Str,
    I64,
    U32,
    F64,
    /// [`Values::Millis`]: a UTC datetime in milliseconds.
    Millis,
}

impl ColumnKind {
    fn dtype(self) -> DataType {
        match self {
            ColumnKind::Str => DataType::String,
            ColumnKind::I64 => DataType::Int64,
            ColumnKind::U32 => DataType::UInt32,
            ColumnKind::F64 => DataType::Float64,
            ColumnKind::Millis => DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)),
        }
    }
}

/// A directory of tables.
pub struct ParquetStore {
    dir: PathBuf,
    seq: AtomicU64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ParquetStore {
    /// Opens (creating) the store at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(ParquetStore {
            dir,
            seq: AtomicU64::new(0),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends rows (given column by column, all of one length) to a table.
    pub fn append(&self, table: &str, columns: Vec<(&str, Values)>) -> Result<usize, StoreError> {
        let mut cols = Vec::with_capacity(columns.len());
        for (name, values) in columns {
            let series = match values {
                Values::Str(v) => Series::new(name.into(), v),
                Values::I64(v) => Series::new(name.into(), v),
                Values::U32(v) => Series::new(name.into(), v),
                Values::F64(v) => Series::new(name.into(), v),
                Values::Millis(v) => {
                    Series::new(name.into(), v).cast(&ColumnKind::Millis.dtype())?
                }
            };
            cols.push(Column::from(series));
        }
        let mut df = DataFrame::new_infer_height(cols)?;
        let rows = df.height();
        if rows == 0 {
            return Ok(0);
        }
        let table_dir = self.dir.join(table);
        std::fs::create_dir_all(&table_dir).map_err(io(&table_dir))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "part-{stamp}-{}.parquet",
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = table_dir.join(format!(".{name}.tmp"));
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        ParquetWriter::new(file).finish(&mut df)?;
        let dest = table_dir.join(&name);
        std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
        Ok(rows)
    }

    /// Every row of a table, deduplicated on its key (last write wins); `None` when empty.
    ///
    /// Parts written before a column was added (a newer release's writer) read it as null, the
    /// way ClickHouse fills an added column's default: tables may gain columns, never lose them.
    pub fn table(&self, spec: &TableSpec) -> Result<Option<LazyFrame>, StoreError> {
        let dir = self.dir.join(spec.name);
        let mut parts: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&dir)(e)),
        };
        parts.sort();
        let mut frames = Vec::with_capacity(parts.len());
        for p in &parts {
            let file = std::fs::File::open(p).map_err(io(p))?;
            frames.push(ParquetReader::new(file).finish()?);
        }
        if frames.is_empty() {
            return Ok(None);
        }
        // Every column any part has, in first-seen order, then the spec's columns no part has.
        let mut columns: Vec<(PlSmallStr, DataType)> = Vec::new();
        let added = spec
            .columns
            .iter()
            .map(|(name, kind)| (PlSmallStr::from(*name), kind.dtype()));
        for (name, dtype) in frames
            .iter()
            .flat_map(|df| {
                df.columns()
                    .iter()
                    .map(|c| (c.name().clone(), c.dtype().clone()))
            })
            .chain(added)
        {
            if !columns.iter().any(|(n, _)| *n == name) {
                columns.push((name, dtype));
            }
        }
        let mut aligned = Vec::with_capacity(frames.len());
        for mut df in frames {
            for (name, dtype) in &columns {
                if df.column(name).is_err() {
                    let nulls = Series::full_null(name.clone(), df.height(), dtype);
                    df.with_column(Column::from(nulls))?;
                }
            }
            aligned.push(df.select(columns.iter().map(|(n, _)| n.clone()))?.lazy());
        }
        let all = concat(aligned, UnionArgs::default())?;
        let key: Vec<Expr> = spec.key.iter().map(|k| col(*k)).collect();
        Ok(Some(all.unique_stable_generic(
            Some(key),
            UniqueKeepStrategy::Last,
        )))
    }

    /// Whether `table` has any part (a table never written, or whose every row was deleted,
    /// has none and cannot be queried).
    pub fn has_rows(&self, table: &str) -> bool {
        std::fs::read_dir(self.dir.join(table)).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet")))
        })
    }

    /// Deletes every row of `table` whose string `column` equals `value` (an erasure): each part
    /// holding such rows is rewritten without them under the same name (written aside and
    /// renamed over it, so readers see the old part or the new one, never half of one), or
    /// removed when nothing is left. Returns the rows deleted, as stored (before deduplication).
    pub fn delete_rows(&self, table: &str, column: &str, value: &str) -> Result<usize, StoreError> {
        let dir = self.dir.join(table);
        let mut parts: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&dir)(e)),
        };
        parts.sort();
        let mut deleted = 0;
        for part in parts {
            let file = std::fs::File::open(&part).map_err(io(&part))?;
            let df = ParquetReader::new(file).finish()?;
            if df.column(column).is_err() {
                continue;
            }
            let keep = df
                .clone()
                .lazy()
                .filter(col(column).neq(lit(value)))
                .collect()?;
            let gone = df.height() - keep.height();
            if gone == 0 {
                continue;
            }
            deleted += gone;
            if keep.height() == 0 {
                std::fs::remove_file(&part).map_err(io(&part))?;
                continue;
            }
            let name = part.file_name().and_then(|n| n.to_str()).unwrap_or("part");
            let tmp = dir.join(format!(".{name}.erase.tmp"));
            let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            ParquetWriter::new(file).finish(&mut keep.clone())?;
            std::fs::rename(&tmp, &part).map_err(io(&part))?;
        }
        Ok(deleted)
    }

    /// Runs SQL over the given tables (each registered under its name).
    pub fn query(&self, sql: &str, tables: &[TableSpec]) -> Result<DataFrame, StoreError> {
        let mut ctx = polars::sql::SQLContext::new();
        for spec in tables {
            if let Some(lf) = self.table(spec)? {
                ctx.register(spec.name, lf);
            }
        }
        Ok(ctx.execute(sql)?.collect()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TableSpec = TableSpec {
        name: "totals",
        key: &["region", "interval_start"],
        columns: &[
            ("region", ColumnKind::Str),
            ("interval_start", ColumnKind::Millis),
            ("total", ColumnKind::I64),
            ("generation_kwh", ColumnKind::F64),
        ],
    };

    #[test]
    fn parts_written_before_a_column_was_added_read_it_as_null() {
        let dir = std::env::temp_dir().join(format!("zeal-store-cols-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = ParquetStore::open(&dir).unwrap();
        let key = |r: &str, t: i64| {
            vec![
                ("region", Values::Str(vec![r.into()])),
                ("interval_start", Values::Millis(vec![t])),
            ]
        };
        store.append("totals", key("A", 0)).unwrap();
        // Only parts from before the column: it reads as null all the same.
        let df = store
            .query("SELECT generation_kwh FROM totals", &[T])
            .unwrap();
        assert_eq!(df.column("generation_kwh").unwrap().null_count(), 1);
        let mut newer = key("B", 0);
        newer.push(("generation_kwh", Values::F64(vec![2.5])));
        store.append("totals", newer).unwrap();
        let df = store
            .query(
                "SELECT region, generation_kwh FROM totals ORDER BY region",
                &[T],
            )
            .unwrap();
        let g = df.column("generation_kwh").unwrap().f64().unwrap().clone();
        assert_eq!((g.get(0), g.get(1)), (None, Some(2.5)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deleted_rows_leave_every_part_and_the_rest_stays() {
        let dir = std::env::temp_dir().join(format!("zeal-store-erase-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = ParquetStore::open(&dir).unwrap();
        let rows = |regions: &[&str], t: i64| {
            vec![
                (
                    "region",
                    Values::Str(regions.iter().map(|r| r.to_string()).collect()),
                ),
                ("interval_start", Values::Millis(vec![t; regions.len()])),
                ("total", Values::I64(vec![7; regions.len()])),
            ]
        };
        store.append("totals", rows(&["A", "B"], 0)).unwrap();
        store.append("totals", rows(&["A"], 900_000)).unwrap();
        store.append("totals", rows(&["B", "C"], 900_000)).unwrap();
        let parts = || std::fs::read_dir(dir.join("totals")).unwrap().count();
        assert_eq!(parts(), 3);
        assert_eq!(store.delete_rows("totals", "region", "A").unwrap(), 2);
        assert_eq!(parts(), 2, "the part that held only A is gone");
        assert!(store.has_rows("totals"));
        let df = store
            .query(
                "SELECT region, count(*) AS n FROM totals GROUP BY region ORDER BY region",
                &[T],
            )
            .unwrap();
        let regions: Vec<String> = df
            .column("region")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|r| r.unwrap().to_string())
            .collect();
        assert_eq!(regions, ["B", "C"]);
        assert_eq!(store.delete_rows("totals", "region", "A").unwrap(), 0);
        assert_eq!(store.delete_rows("nothing", "region", "A").unwrap(), 0);
        store.delete_rows("totals", "region", "B").unwrap();
        store.delete_rows("totals", "region", "C").unwrap();
        assert!(!store.has_rows("totals"), "every part is gone");
        assert!(!store.has_rows("nothing"));
        // No temporary file is left behind.
        assert!(std::fs::read_dir(dir.join("totals")).unwrap().all(|e| {
            e.unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "parquet")
        }));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn appended_rows_are_queryable_and_redelivery_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("zeal-store-{}", std::process::id()));
        let store = ParquetStore::open(&dir).unwrap();
        let write = |totals: Vec<i64>| {
            store
                .append(
                    "totals",
                    vec![
                        ("region", Values::Str(vec!["A".into(), "B".into()])),
                        (
                            "interval_start",
                            Values::Millis(vec![1_593_561_600_000, 1_593_561_600_000]),
                        ),
                        ("total", Values::I64(totals)),
                    ],
                )
                .unwrap()
        };
        assert_eq!(write(vec![10, 20]), 2);
        assert_eq!(write(vec![10, 20]), 2); // re-delivered
        let df = store
            .query("SELECT region, total FROM totals ORDER BY region", &[T])
            .unwrap();
        assert_eq!(df.height(), 2);
        let totals: Vec<i64> = df
            .column("total")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(totals, vec![10, 20]);
        let sum = store
            .query("SELECT sum(total) AS s FROM totals", &[T])
            .unwrap();
        assert_eq!(sum.column("s").unwrap().i64().unwrap().get(0), Some(30));
        assert!(store.query("SELECT * FROM nope", &[T]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
