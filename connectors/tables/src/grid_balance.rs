//! `grid_balance`: each region's 15-minute verified total against its feeder meter, as
//! `zeal jobs balance` judged it (rewritten when the job runs again over the same intervals).

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// One region and interval.
    pub struct GridBalanceRow in "grid_balance", key [region, interval_start] {
        pub region: String => Text,
        pub interval_start: u32 => Seconds,
        /// The published total, import minus export, Wh.
        pub total_wh: i64 => Int,
        /// The feeder meter's energy into the region, Wh.
        pub feeder_wh: f64 => Float,
        /// Technical losses the region's fitted model expects at this load, Wh.
        pub expected_loss_wh: f64 => Float,
        /// What neither explains (beyond the feeder meter's class), Wh.
        pub unexplained_wh: f64 => Float,
        /// The same in standard deviations of the model's scatter.
        pub z: f64 => Float,
        /// 1: the interval is part of an alert.
        pub alert: u8 => Count,
        pub computed_at: u32 => Seconds,
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0009_grid_balance",
    sql: "CREATE TABLE IF NOT EXISTS grid_balance (
            region String,
            interval_start DateTime,
            total_wh Int64,
            feeder_wh Float64,
            expected_loss_wh Float64,
            unexplained_wh Float64,
            z Float64,
            alert UInt8,
            computed_at DateTime
        ) ENGINE = ReplacingMergeTree(computed_at)
        ORDER BY (region, interval_start)",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone, and one partition per month.
pub const UTC_MONTHLY: Migration = Migration {
    id: "0017_grid_balance_utc_monthly",
    sql: "CREATE TABLE IF NOT EXISTS grid_balance (
            region String,
            interval_start DateTime('UTC'),
            total_wh Int64,
            feeder_wh Float64,
            expected_loss_wh Float64,
            unexplained_wh Float64,
            z Float64,
            alert UInt8,
            computed_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(computed_at)
        PARTITION BY toYYYYMM(interval_start)
        ORDER BY (region, interval_start)",
    min_server: None,
    rebuild: true,
};
