//! `appliance_usage`: the disaggregation job's daily energy per household and appliance.

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// A household's day for one appliance.
    pub struct UsageRow in "appliance_usage", key [household_id, day, appliance] {
        pub household_id: String => Text,
        pub region: String => Text,
        /// Days since 1970-01-01 (ClickHouse `Date`).
        pub day: u16 => Days,
        pub appliance: String => Text,
        /// Energy in the intervals the model judged the appliance on, Wh.
        pub energy_wh: f64 => Float,
        /// Intervals judged on.
        pub on_intervals: u16 => Count,
        /// How sure the model is whether the appliance ran that day: max(p, 1 - p) of the
        /// probability of its most probable interval, 0.5..1. Below [`CONFIDENT`] the app says
        /// "not sure" instead of showing the energy.
        pub confidence: f32 => Float,
        pub model_version: String => Text,
        pub computed_at: u32 => Seconds,
    }
}

/// Confidence at or above which a day's energy is shown (`zeal eval` reports the days above
/// it and their error; the disaggregation crate's `eval::CONFIDENT` is the same number).
pub const CONFIDENT: f32 = 0.8;

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0003_appliance_usage",
    sql: "CREATE TABLE IF NOT EXISTS appliance_usage (
            household_id String,
            region String,
            day Date,
            appliance String,
            energy_wh Float64,
            on_intervals UInt16,
            confidence Float32,
            model_version String,
            computed_at DateTime
        ) ENGINE = ReplacingMergeTree(computed_at)
        ORDER BY (household_id, day, appliance)",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone, and one partition per month.
pub const UTC_MONTHLY: Migration = Migration {
    id: "0012_appliance_usage_utc_monthly",
    sql: "CREATE TABLE IF NOT EXISTS appliance_usage (
            household_id String,
            region String,
            day Date,
            appliance String,
            energy_wh Float64,
            on_intervals UInt16,
            confidence Float32,
            model_version String,
            computed_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(computed_at)
        PARTITION BY toYYYYMM(day)
        ORDER BY (household_id, day, appliance)",
    min_server: None,
    rebuild: true,
};
