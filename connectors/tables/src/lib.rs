//! Every table of the pipeline in one place: one module per table holds its row type (which is
//! both its ClickHouse row and, through the `table!` macro of [`row`], its embedded-store
//! columns) and its
//! ClickHouse migrations. Adding a column is one field in the table's row plus one migration
//! (`ALTER TABLE … ADD COLUMN`) appended to [`MIGRATIONS`]; the tests below check that the
//! rows and the DDL agree, and rows written before the column read it as null in the embedded
//! store (ClickHouse fills its default).
//!
//! Migrations have stable, ascending ids and are applied at most once per database, in order
//! ([`zeal_connectors::clickhouse::migrate`], recorded in `zeal_schema_migrations`). Every
//! process that writes or reads ClickHouse applies all of them ([`migrate`]), so no table is
//! created by one service and read by another before it exists. DDL is what ClickHouse 18.16
//! accepts. Tables use ReplacingMergeTree on their natural key, the embedded store's
//! [`TableSpec::key`] (last write wins on read), times are `DateTime('UTC')` and time-keyed
//! tables have one partition per month. A change `ALTER` cannot make (a key column's type, the
//! partitioning) is a migration marked `rebuild` holding the table's whole new definition: the
//! table is recreated and its rows copied (0010–0017 did this for the time zone and partitions).

use zeal_connectors::clickhouse::{ClickHouseError, Migration, MigrationReport, Warehouse};
use zeal_embedded::store::{StoreError, TableSpec};

pub mod appliance_usage;
pub mod dead_letters;
pub mod erase;
pub mod gamification_events;
pub mod grid_balance;
pub mod household_daily;
pub mod households;
pub mod region_totals;
pub mod round_events;
pub mod row;
pub mod store;

pub use appliance_usage::UsageRow;
pub use dead_letters::LetterRow;
pub use erase::{HOUSEHOLD_TABLES, erase_embedded, erase_household, sql_string};
pub use gamification_events::GameEventRow;
pub use grid_balance::GridBalanceRow;
pub use household_daily::DailyRow;
pub use households::ProfileRow;
pub use region_totals::{TotalRow, TotalsRow};
pub use round_events::RoundEventRow;
pub use row::{Destination, TableRow};
pub use store::{ReadTotals, Store};

/// Why a table could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TablesError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A row that does not have the table's shape (never skipped silently).
    #[error("{table}: {detail}")]
    Malformed { table: &'static str, detail: String },
    /// A household's erasure that did not complete (retry: erasing is idempotent).
    #[error("erasing from {table}: {detail}")]
    Unfinished { table: &'static str, detail: String },
}

/// Verified region totals (written by the v2 audit only).
pub const REGION_TOTALS: TableSpec = TotalRow::TABLE;
/// The rounds' outcomes and exclusions (written by the v2 audit only).
pub const ROUND_EVENTS: TableSpec = RoundEventRow::TABLE;
/// Every service's rejected messages (`zeal sink clickhouse`).
pub const DEAD_LETTERS: TableSpec = LetterRow::TABLE;
/// The disaggregation job's daily energy per household and appliance.
pub const APPLIANCE_USAGE: TableSpec = UsageRow::TABLE;
/// The game job's daily metrics per household.
pub const HOUSEHOLD_DAILY: TableSpec = DailyRow::TABLE;
/// The game job's points, badges and journey events.
pub const GAMIFICATION_EVENTS: TableSpec = GameEventRow::TABLE;
/// The web app's household profiles (consent, leaderboard name).
pub const HOUSEHOLDS: TableSpec = ProfileRow::TABLE;
/// Each region's total against its feeder meter (`zeal jobs balance`).
pub const GRID_BALANCE: TableSpec = GridBalanceRow::TABLE;

/// Every table, as the embedded store reads it.
pub const EMBEDDED: &[TableSpec] = &[
    REGION_TOTALS,
    ROUND_EVENTS,
    DEAD_LETTERS,
    APPLIANCE_USAGE,
    HOUSEHOLD_DAILY,
    GAMIFICATION_EVENTS,
    HOUSEHOLDS,
    GRID_BALANCE,
];

/// The embedded store's spec of `table`.
pub fn embedded(table: &str) -> Option<TableSpec> {
    EMBEDDED.iter().find(|t| t.name == table).copied()
}

/// Every ClickHouse schema change, in the order they are applied (append only: a released
/// migration is never edited).
pub const MIGRATIONS: &[Migration] = &[
    region_totals::CREATE,
    round_events::CREATE,
    appliance_usage::CREATE,
    household_daily::CREATE,
    gamification_events::CREATE,
    dead_letters::CREATE,
    households::CREATE,
    household_daily::ADD_GENERATION,
    grid_balance::CREATE,
    region_totals::UTC_MONTHLY,
    round_events::UTC_MONTHLY,
    appliance_usage::UTC_MONTHLY,
    household_daily::UTC_MONTHLY,
    gamification_events::UTC_MONTHLY,
    dead_letters::UTC,
    households::UTC,
    grid_balance::UTC_MONTHLY,
];

/// The most rows a rebuild copies when a service starts ([`migrate`]); a larger table is
/// rebuilt by `zeal migrate` ([`migrate_all`]).
pub const SERVICE_REBUILD_ROWS: u64 = 1_000_000;

/// Creates or updates every table, as every service does when it starts (idempotent; safe
/// from several processes at once). A rebuild that would copy more than
/// [`SERVICE_REBUILD_ROWS`] rows is refused with an error that says to run `zeal migrate`.
pub async fn migrate(warehouse: &Warehouse) -> Result<MigrationReport, ClickHouseError> {
    zeal_connectors::clickhouse::migrate(warehouse, MIGRATIONS, Some(SERVICE_REBUILD_ROWS)).await
}

/// Creates or updates every table whatever the rebuilds copy (`zeal migrate`).
pub async fn migrate_all(warehouse: &Warehouse) -> Result<MigrationReport, ClickHouseError> {
    zeal_connectors::clickhouse::migrate(warehouse, MIGRATIONS, None).await
}

#[cfg(test)]
mod tests;
