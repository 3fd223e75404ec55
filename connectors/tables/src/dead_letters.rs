//! `dead_letters`: every service's rejected messages (written by `zeal sink clickhouse`; the
//! payload stays on the topic).

use crate::row::table;
use zeal_connectors::clickhouse::Migration;

table! {
    /// An input a service refused.
    pub struct LetterRow in "dead_letters", key [topic, partition, offset, rejected_by, reason] {
        pub topic: String => Text,
        pub partition: i32 => Int,
        pub offset: i64 => Int,
        /// The lower-case reason, as the metrics name it.
        pub reason: String => Text,
        pub detail: String => Text,
        pub origin: String => Text,
        pub region: String => Text,
        pub rejected_by: String => Text,
        pub rejected_at: u32 => Seconds,
    }
}

/// Creates the table.
pub const CREATE: Migration = Migration {
    id: "0006_dead_letters",
    sql: "CREATE TABLE IF NOT EXISTS dead_letters (
            topic String,
            partition Int32,
            offset Int64,
            reason String,
            detail String,
            origin String,
            region String,
            rejected_by String,
            rejected_at DateTime
        ) ENGINE = ReplacingMergeTree(rejected_at)
        ORDER BY (topic, partition, offset, rejected_by, reason)",
    min_server: None,
    rebuild: false,
};

/// Rebuilt: times in UTC whatever the server's time zone. Not partitioned by time: a message
/// refused again later (a fold log re-read) must collapse with its first refusal, and
/// `ReplacingMergeTree` collapses rows within a partition only.
pub const UTC: Migration = Migration {
    id: "0015_dead_letters_utc",
    sql: "CREATE TABLE IF NOT EXISTS dead_letters (
            topic String,
            partition Int32,
            offset Int64,
            reason String,
            detail String,
            origin String,
            region String,
            rejected_by String,
            rejected_at DateTime('UTC')
        ) ENGINE = ReplacingMergeTree(rejected_at)
        ORDER BY (topic, partition, offset, rejected_by, reason)",
    min_server: None,
    rebuild: true,
};
