//! `round_events`: the rounds' outcomes and exclusions (written by the v2 audit only).

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// A round's outcome (`meter_id` empty) or a meter's exclusion from it.
    pub struct RoundEventRow in "round_events", key [region, interval_start, attempt, event, meter_id] {
        pub region: String => Text,
        pub interval_start: u32 => Seconds,
        pub attempt: u16 => Count,
        pub event: String => Text,
        pub meter_id: String => Text,
        pub reason: String => Text,
        pub roster_size: u32 => Count,
        pub missing: Vec<String> => List,
        pub culprits: Vec<String> => List,
        pub decided_at: u32 => Seconds,
        pub aggregator_id: String => Text,
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0002_round_events",
    sql: "CREATE TABLE IF NOT EXISTS round_events (
            region String,
            interval_start DateTime,
            attempt UInt16,
            event String,
            meter_id String,
            reason String,
            roster_size UInt32,
            missing Array(String),
            culprits Array(String),
            decided_at DateTime,
            aggregator_id String
        ) ENGINE = ReplacingMergeTree(decided_at)
        ORDER BY (region, interval_start, attempt, event, meter_id)",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone, and one partition per month.
pub const UTC_MONTHLY: Migration = Migration {
    id: "0011_round_events_utc_monthly",
    sql: "CREATE TABLE IF NOT EXISTS round_events (
            region String,
            interval_start DateTime('UTC'),
            attempt UInt16,
            event String,
            meter_id String,
            reason String,
            roster_size UInt32,
            missing Array(String),
            culprits Array(String),
            decided_at DateTime('UTC'),
            aggregator_id String
        ) ENGINE = ReplacingMergeTree(decided_at)
        PARTITION BY toYYYYMM(interval_start)
        ORDER BY (region, interval_start, attempt, event, meter_id)",
    min_server: None,
    rebuild: true,
};
