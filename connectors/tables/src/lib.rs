//! Every table of the pipeline in one place: its ClickHouse migrations and its embedded-store
//! spec. Adding a column is one migration here (`ALTER TABLE … ADD COLUMN`) plus the column in
//! the table's [`TableSpec::added`] (rows written before it read null in the embedded store) and
//! in the row type that writes it; the tests below check that the two stores agree.
//!
//! Migrations have stable, ascending ids and are applied at most once per database, in order
//! ([`zeal_connectors::clickhouse::migrate`], recorded in `zeal_schema_migrations`). Every
//! process that writes or reads ClickHouse applies all of them ([`migrate`]), so no table is
//! created by one service and read by another before it exists. DDL is what ClickHouse 18.16
//! accepts. Tables use ReplacingMergeTree on their natural key, the embedded store's
//! [`TableSpec::key`] (last write wins on read).

use zeal_connectors::clickhouse::{ClickHouseError, Migration, MigrationReport, Warehouse};
use zeal_embedded::store::{ColumnKind, StoreError, TableSpec};

pub mod region_totals;

pub use region_totals::TotalsRow;

/// Why a table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A row that does not have the table's shape (never skipped silently).
    #[error("{table}: {detail}")]
    Malformed { table: &'static str, detail: String },
}

/// Verified region totals (written by the v2 audit only).
pub const REGION_TOTALS: TableSpec = TableSpec {
    name: "region_totals",
    key: &["region", "interval_start", "channel"],
    added: &[],
};

/// The rounds' outcomes and exclusions (written by the v2 audit only).
pub const ROUND_EVENTS: TableSpec = TableSpec {
    name: "round_events",
    key: &["region", "interval_start", "attempt", "event", "meter_id"],
    added: &[],
};

/// Every service's rejected messages (`zeal sink clickhouse`).
pub const DEAD_LETTERS: TableSpec = TableSpec {
    name: "dead_letters",
    key: &["topic", "partition", "offset", "rejected_by", "reason"],
    added: &[],
};

/// The disaggregation job's daily energy per household and appliance.
pub const APPLIANCE_USAGE: TableSpec = TableSpec {
    name: "appliance_usage",
    key: &["household_id", "day", "appliance"],
    added: &[],
};

/// The game job's daily metrics per household.
pub const HOUSEHOLD_DAILY: TableSpec = TableSpec {
    name: "household_daily",
    key: &["household_id", "day"],
    added: &[
        ("generation_kwh", ColumnKind::F64),
        ("self_consumption", ColumnKind::F64),
        ("self_sufficiency", ColumnKind::F64),
    ],
};

/// The game job's points, badges and journey events.
pub const GAMIFICATION_EVENTS: TableSpec = TableSpec {
    name: "gamification_events",
    key: &["household_id", "day", "kind", "code"],
    added: &[],
};

/// The web app's household profiles (consent, leaderboard name).
pub const HOUSEHOLDS: TableSpec = TableSpec {
    name: "households",
    key: &["household_id"],
    added: &[],
};

/// Every table, as the embedded store reads it.
pub const EMBEDDED: &[TableSpec] = &[
    REGION_TOTALS,
    ROUND_EVENTS,
    DEAD_LETTERS,
    APPLIANCE_USAGE,
    HOUSEHOLD_DAILY,
    GAMIFICATION_EVENTS,
    HOUSEHOLDS,
];

/// The embedded store's spec of `table`.
pub fn embedded(table: &str) -> Option<TableSpec> {
    EMBEDDED.iter().find(|t| t.name == table).copied()
}

/// Every ClickHouse schema change, in the order they are applied.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
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
    },
    Migration {
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
    },
    Migration {
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
    },
    Migration {
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
    },
    Migration {
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
    },
    Migration {
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
    },
    // Prosumers' own generation (HouseholdReading v2) and what follows from it. Rows written
    // before read NaN: unknown, like a household without an inverter.
    Migration {
        id: "0008_household_daily_generation",
        sql: "ALTER TABLE household_daily
            ADD COLUMN generation_kwh Float64 DEFAULT nan AFTER export_kwh,
            ADD COLUMN self_consumption Float64 DEFAULT nan AFTER generation_kwh,
            ADD COLUMN self_sufficiency Float64 DEFAULT nan AFTER self_consumption",
        min_server: None,
    },
];

/// Creates or updates every table (idempotent; safe from several processes at once).
pub async fn migrate(warehouse: &Warehouse) -> Result<MigrationReport, ClickHouseError> {
    zeal_connectors::clickhouse::migrate(warehouse, MIGRATIONS).await
}

#[cfg(test)]
mod tests;
