//! `gamification_events`: the game job's points, badges and journey events.

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// One award or journey step of a household's day.
    pub struct GameEventRow in "gamification_events", key [household_id, day, kind, code] {
        pub household_id: String => Text,
        /// Days since 1970-01-01 (ClickHouse `Date`).
        pub day: u16 => Days,
        pub kind: String => Text,
        pub code: String => Text,
        pub points: u32 => Count,
        pub reason: String => Text,
        pub computed_at: u32 => Seconds,
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0005_gamification_events",
    sql: "CREATE TABLE IF NOT EXISTS gamification_events (
            household_id String,
            day Date,
            kind String,
            code String,
            points UInt32,
            reason String,
            computed_at DateTime
        ) ENGINE = ReplacingMergeTree(computed_at)
        ORDER BY (household_id, day, kind, code)",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone, and one partition per month.
pub const UTC_MONTHLY: Migration = Migration {
    id: "0014_gamification_events_utc_monthly",
    sql: "CREATE TABLE IF NOT EXISTS gamification_events (
            household_id String,
            day Date,
            kind String,
            code String,
            points UInt32,
            reason String,
            computed_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(computed_at)
        PARTITION BY toYYYYMM(day)
        ORDER BY (household_id, day, kind, code)",
    min_server: None,
    rebuild: true,
};
