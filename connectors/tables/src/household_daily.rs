//! `household_daily`: the game job's daily metrics per household (NaN where a comparison is not
//! available yet).

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// A household's day.
    pub struct DailyRow in "household_daily", key [household_id, day] {
        pub household_id: String => Text,
        pub region: String => Text,
        /// Days since 1970-01-01 (ClickHouse `Date`).
        pub day: u16 => Days,
        pub import_kwh: f64 => Float,
        pub export_kwh: f64 => Float,
        /// Own PV generation (NaN: unknown, no inverter data).
        pub generation_kwh: f64 => Float,
        /// Share of the generation used at home, 0-1 (NaN: unknown).
        pub self_consumption: f64 => Float,
        /// Share of the use covered by own generation, 0-1 (NaN: unknown).
        pub self_sufficiency: f64 => Float,
        pub peak_kwh: f64 => Float,
        pub solar_hours_kwh: f64 => Float,
        pub baseline_kwh: f64 => Float,
        pub savings_kwh: f64 => Float,
        pub region_average_kwh: f64 => Float,
        pub efficient_kwh: f64 => Float,
        pub computed_at: u32 => Seconds,
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0004_household_daily",
    sql: "CREATE TABLE IF NOT EXISTS household_daily (
            household_id String,
            region String,
            day Date,
            import_kwh Float64,
            export_kwh Float64,
            peak_kwh Float64,
            solar_hours_kwh Float64,
            baseline_kwh Float64,
            savings_kwh Float64,
            region_average_kwh Float64,
            efficient_kwh Float64,
            computed_at DateTime
        ) ENGINE = ReplacingMergeTree(computed_at)
        ORDER BY (household_id, day)",
    min_server: None,
    rebuild: false,
};

/// Prosumers' own generation (HouseholdReading v2) and what follows from it. Rows written
/// before read NaN: unknown, like a household without an inverter.
pub const ADD_GENERATION: Migration = Migration {
    id: "0008_household_daily_generation",
    sql: "ALTER TABLE household_daily
            ADD COLUMN generation_kwh Float64 DEFAULT nan AFTER export_kwh,
            ADD COLUMN self_consumption Float64 DEFAULT nan AFTER generation_kwh,
            ADD COLUMN self_sufficiency Float64 DEFAULT nan AFTER self_consumption",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone, and one partition per month.
pub const UTC_MONTHLY: Migration = Migration {
    id: "0013_household_daily_utc_monthly",
    sql: "CREATE TABLE IF NOT EXISTS household_daily (
            household_id String,
            region String,
            day Date,
            import_kwh Float64,
            export_kwh Float64,
            generation_kwh Float64 DEFAULT nan,
            self_consumption Float64 DEFAULT nan,
            self_sufficiency Float64 DEFAULT nan,
            peak_kwh Float64,
            solar_hours_kwh Float64,
            baseline_kwh Float64,
            savings_kwh Float64,
            region_average_kwh Float64,
            efficient_kwh Float64,
            computed_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(computed_at)
        PARTITION BY toYYYYMM(day)
        ORDER BY (household_id, day)",
    min_server: None,
    rebuild: true,
};
