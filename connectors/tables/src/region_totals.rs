//! `region_totals`: verified region totals, written by the v2 audit only, and read the same from
//! either store by the game job and the demo's final check.

use crate::row::table;
use crate::{REGION_TOTALS, TablesError};
use serde::Deserialize;
use std::ops::Range;
use zeal_connectors::clickhouse::{Migration, Warehouse};
use zeal_embedded::store::{ParquetStore, StoreError};

table! {
    /// A region's total for one interval and channel, as the audit writes it.
    pub struct TotalRow in "region_totals", key [region, interval_start, channel] {
        pub region: String => Text,
        pub interval_start: u32 => Seconds,
        pub interval_seconds: u32 => Count,
        pub channel: String => Text,
        pub total: i64 => Int,
        pub contributors: u32 => Count,
        pub attempt: u16 => Count,
        pub carried_intervals: Vec<u32> => List,
        pub published_at: u32 => Seconds,
        pub aggregator_id: String => Text,
    }
}

impl TotalRow {
    /// The two rows (`import_wh`, `export_wh`) of one 15-minute interval of `region` starting at
    /// `start_ms`, as the audit stores them (first attempt, nothing carried).
    pub fn energy(
        region: &str,
        start_ms: i64,
        (import_wh, export_wh): (i64, i64),
        contributors: u32,
        aggregator_id: &str,
    ) -> [TotalRow; 2] {
        [("import_wh", import_wh), ("export_wh", export_wh)].map(|(channel, total)| TotalRow {
            region: region.to_string(),
            interval_start: (start_ms / 1000) as u32,
            interval_seconds: 900,
            channel: channel.to_string(),
            total,
            contributors,
            attempt: 1,
            carried_intervals: vec![],
            published_at: 0,
            aggregator_id: aggregator_id.to_string(),
        })
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0001_region_totals",
    sql: "CREATE TABLE IF NOT EXISTS region_totals (
            region String,
            interval_start DateTime,
            interval_seconds UInt32,
            channel String,
            total Int64,
            contributors UInt32,
            attempt UInt16,
            carried_intervals Array(DateTime),
            published_at DateTime,
            aggregator_id String
        ) ENGINE = ReplacingMergeTree(published_at)
        ORDER BY (region, interval_start, channel)",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone, and one partition per month.
pub const UTC_MONTHLY: Migration = Migration {
    id: "0010_region_totals_utc_monthly",
    sql: "CREATE TABLE IF NOT EXISTS region_totals (
            region String,
            interval_start DateTime('UTC'),
            interval_seconds UInt32,
            channel String,
            total Int64,
            contributors UInt32,
            attempt UInt16,
            carried_intervals Array(DateTime('UTC')),
            published_at DateTime('UTC'),
            aggregator_id String
        ) ENGINE = ReplacingMergeTree(published_at)
        PARTITION BY toYYYYMM(interval_start)
        ORDER BY (region, interval_start, channel)",
    min_server: None,
    rebuild: true,
};

/// One verified total as its readers use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsRow {
    pub region: String,
    /// Interval start, milliseconds since the Unix epoch.
    pub interval_start_ms: i64,
    pub interval_seconds: u32,
    /// `import_wh`, `export_wh`, or a daily deployment's channel.
    pub channel: String,
    /// The total (Wh for the energy channels).
    pub total: i64,
    /// Meters in the round's final set.
    pub contributors: u32,
}

#[derive(clickhouse::Row, Deserialize)]
struct Fetched {
    region: String,
    interval_start: u32,
    interval_seconds: u32,
    channel: String,
    total: i64,
    contributors: u32,
}

/// Every total whose interval starts in `starts` (ms; `None`: all), deduplicated on the table's
/// key (`FINAL`), from ClickHouse.
pub async fn from_clickhouse(
    w: &Warehouse,
    starts: Option<Range<i64>>,
) -> Result<Vec<TotalsRow>, TablesError> {
    // The column holds whole seconds: the WHERE clause keeps the seconds the range touches, and
    // the exact millisecond range is applied to the rows after that.
    let filter = match &starts {
        Some(r) => format!(
            " WHERE interval_start >= toDateTime({}) AND interval_start < toDateTime({})",
            r.start.div_euclid(1000).max(0),
            (r.end.saturating_add(999))
                .div_euclid(1000)
                .clamp(0, i64::from(u32::MAX))
        ),
        None => String::new(),
    };
    let rows: Vec<Fetched> = w
        .fetch_all(&format!(
            "SELECT region, toUInt32(interval_start) AS interval_start, interval_seconds, channel, \
             total, contributors FROM {} FINAL{filter}",
            REGION_TOTALS.name
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|f| TotalsRow {
            region: f.region,
            interval_start_ms: i64::from(f.interval_start) * 1000,
            interval_seconds: f.interval_seconds,
            channel: f.channel,
            total: f.total,
            contributors: f.contributors,
        })
        .filter(|r| {
            starts
                .as_ref()
                .is_none_or(|s| s.contains(&r.interval_start_ms))
        })
        .collect())
}

/// The same from the embedded store (empty when no total was ever written). A row with a
/// missing value is an error, never skipped.
pub fn from_embedded(
    store: &ParquetStore,
    starts: Option<Range<i64>>,
) -> Result<Vec<TotalsRow>, TablesError> {
    if !store.dir().join(REGION_TOTALS.name).exists() {
        return Ok(Vec::new());
    }
    let df = store.query(
        "SELECT region, interval_start, interval_seconds, channel, total, contributors \
         FROM region_totals",
        &[REGION_TOTALS],
    )?;
    let polars = |e| TablesError::Store(StoreError::Polars(e));
    let region = df.column("region").and_then(|c| c.str().cloned());
    let start = df
        .column("interval_start")
        .and_then(|c| c.datetime().map(|d| d.physical().clone()));
    let secs = df.column("interval_seconds").and_then(|c| c.u32().cloned());
    let channel = df.column("channel").and_then(|c| c.str().cloned());
    let total = df.column("total").and_then(|c| c.i64().cloned());
    let contributors = df.column("contributors").and_then(|c| c.u32().cloned());
    let (region, start, secs, channel, total, contributors) = (
        region.map_err(polars)?,
        start.map_err(polars)?,
        secs.map_err(polars)?,
        channel.map_err(polars)?,
        total.map_err(polars)?,
        contributors.map_err(polars)?,
    );
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let row = (|| {
            Some(TotalsRow {
                region: region.get(i)?.to_string(),
                interval_start_ms: start.get(i)?,
                interval_seconds: secs.get(i)?,
                channel: channel.get(i)?.to_string(),
                total: total.get(i)?,
                contributors: contributors.get(i)?,
            })
        })()
        .ok_or_else(|| TablesError::Malformed {
            table: REGION_TOTALS.name,
            detail: format!("row {i} has a missing value"),
        })?;
        if starts
            .as_ref()
            .is_none_or(|s| s.contains(&row.interval_start_ms))
        {
            out.push(row);
        }
    }
    Ok(out)
}
