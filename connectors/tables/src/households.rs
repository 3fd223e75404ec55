//! `households`: the web app's household profiles (consent, leaderboard name).

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// A household's profile (the last one saved counts).
    pub struct ProfileRow in "households", key [household_id] {
        pub household_id: String => Text,
        pub region: String => Text,
        pub display_name: String => Text,
        /// 1: the household shares its readings with the downstream jobs.
        pub share_readings: u8 => Count,
        /// 1: the household is named on its region's leaderboard.
        pub leaderboard: u8 => Count,
        pub joined_at: u32 => Seconds,
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0007_households",
    sql: "CREATE TABLE IF NOT EXISTS households (
            household_id String,
            region String,
            display_name String,
            share_readings UInt8,
            leaderboard UInt8,
            joined_at DateTime
        ) ENGINE = ReplacingMergeTree(joined_at)
        ORDER BY household_id",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone (profiles are not time-based: one
/// partition).
pub const UTC: Migration = Migration {
    id: "0016_households_utc",
    sql: "CREATE TABLE IF NOT EXISTS households (
            household_id String,
            region String,
            display_name String,
            share_readings UInt8,
            leaderboard UInt8,
            joined_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(joined_at)
        ORDER BY household_id",
    min_server: None,
    rebuild: true,
};
