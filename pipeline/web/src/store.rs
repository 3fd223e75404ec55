//! Where the web app reads from and writes the households' profiles: ClickHouse or the embedded
//! Parquet store. Both answer the same small set of queries with rows of text cells; everything
//! the pages compute from them lives in [`crate::model`] (pure).
//!
//! The app only ever *selects by the household's own id* (its page), by region (the leaderboard:
//! profiles that opted in to be named) or aggregates over round events and reads the regions'
//! grid balance (the operator page): the neighbour comparison comes from `household_daily`,
//! whose region columns the gamify job filled from the private totals.

use crate::WebError;
use crate::model::{
    BALANCE_WINDOW, GameEvent, HouseholdDay, OperatorData, Profile, UsageRow, day_from_cells,
    event_from_cells, format_time, parse_time_secs,
};
use zeal_connectors::clickhouse::unescape_tsv;
use zeal_tables::Store as Tables;
use zeal_tables::{Destination, ProfileRow, sql_string as lit};

/// The app's queries over a deployment's store (a ClickHouse one with every table created:
/// `zeal_tables::migrate`).
pub struct Store(Tables);

impl From<Tables> for Store {
    fn from(tables: Tables) -> Self {
        Store(tables)
    }
}

impl Store {
    /// Runs `sql` over `table` (with `{FINAL}` where ClickHouse needs it) and returns rows of
    /// text cells. The embedded store loads only `table`; one without rows (never written, or
    /// erased) reads as empty.
    async fn rows(&self, table: &str, sql: &str) -> Result<Vec<Vec<String>>, WebError> {
        match &self.0 {
            Tables::ClickHouse(w) => {
                let text = w.query_text(&sql.replace("{FINAL}", "FINAL")).await?;
                Ok(text
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| l.split('\t').map(unescape_tsv).collect())
                    .collect())
            }
            Tables::Embedded(p) => {
                let Some(spec) = zeal_tables::embedded(table).filter(|_| p.has_rows(table)) else {
                    return Ok(Vec::new());
                };
                let sql = sql.replace("{FINAL}", "");
                let df = tokio::task::block_in_place(|| p.query(&sql, &[spec]))?;
                let columns = df.columns();
                let mut out = Vec::with_capacity(df.height());
                for i in 0..df.height() {
                    let mut row = Vec::with_capacity(columns.len());
                    for c in columns {
                        let v = c.get(i).map_err(zeal_embedded::store::StoreError::from)?;
                        row.push(cell(&v));
                    }
                    out.push(row);
                }
                Ok(out)
            }
        }
    }

    /// The profiles whose `column` (`household_id` or `region`) equals `value`.
    async fn profiles(&self, column: &str, value: &str) -> Result<Vec<Profile>, WebError> {
        let rows = self
            .rows(
                "households",
                &format!(
                    "SELECT household_id, region, display_name, share_readings, leaderboard \
                     FROM households {{FINAL}} WHERE {column} = {}",
                    lit(value)
                ),
            )
            .await?;
        Ok(rows.iter().filter_map(|r| Profile::from_cells(r)).collect())
    }

    /// A household's profile.
    pub async fn profile(&self, household_id: &str) -> Result<Option<Profile>, WebError> {
        Ok(self.profiles("household_id", household_id).await?.pop())
    }

    /// Every profile of a region.
    pub async fn profiles_in(&self, region: &str) -> Result<Vec<Profile>, WebError> {
        self.profiles("region", region).await
    }

    /// Saves (or replaces) a profile.
    pub async fn save_profile(&self, p: &Profile, now_secs: u32) -> Result<(), WebError> {
        let row = [ProfileRow {
            household_id: p.household_id.clone(),
            region: p.region.clone(),
            display_name: p.display_name.clone(),
            share_readings: u8::from(p.share_readings),
            leaderboard: u8::from(p.leaderboard),
            joined_at: now_secs,
        }];
        match &self.0 {
            Tables::ClickHouse(w) => w.write(&row).await?,
            Tables::Embedded(s) => {
                tokio::task::block_in_place(|| zeal_tables::row::append(s, &row))?
            }
        };
        Ok(())
    }

    /// Deletes every row of a household's own (`zeal_tables::erase_household`); returns each
    /// table with the rows it lost.
    pub async fn erase(&self, household_id: &str) -> Result<Vec<(&'static str, u64)>, WebError> {
        Ok(match &self.0 {
            Tables::Embedded(p) => {
                tokio::task::block_in_place(|| zeal_tables::erase_embedded(p, household_id))?
            }
            clickhouse => zeal_tables::erase_household(clickhouse, household_id).await?,
        })
    }

    /// A household's daily rows, oldest first.
    pub async fn daily(&self, household_id: &str) -> Result<Vec<HouseholdDay>, WebError> {
        let rows = self
            .rows(
                "household_daily",
                &format!(
                    "SELECT day, region, import_kwh, export_kwh, peak_kwh, solar_hours_kwh, \
                     baseline_kwh, region_average_kwh, efficient_kwh, generation_kwh \
                     FROM household_daily {{FINAL}} WHERE household_id = {}",
                    lit(household_id)
                ),
            )
            .await?;
        let mut out: Vec<HouseholdDay> = rows
            .iter()
            .filter_map(|r| day_from_cells(household_id, r))
            .collect();
        out.sort_by_key(|d| d.day);
        Ok(out)
    }

    /// The game's events of some households.
    pub async fn events(&self, household_ids: &[String]) -> Result<Vec<GameEvent>, WebError> {
        if household_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = household_ids.iter().map(|h| lit(h)).collect();
        let rows = self
            .rows(
                "gamification_events",
                &format!(
                    "SELECT household_id, day, kind, code, points, reason \
                     FROM gamification_events {{FINAL}} WHERE household_id IN ({})",
                    ids.join(", ")
                ),
            )
            .await?;
        let mut out: Vec<GameEvent> = rows.iter().filter_map(|r| event_from_cells(r)).collect();
        out.sort_by(|a, b| (a.day, &a.kind, &a.code).cmp(&(b.day, &b.kind, &b.code)));
        Ok(out)
    }

    /// A household's disaggregated appliance usage.
    pub async fn usage(&self, household_id: &str) -> Result<Vec<UsageRow>, WebError> {
        let rows = self
            .rows(
                "appliance_usage",
                &format!(
                    "SELECT day, appliance, energy_wh, on_intervals, confidence \
                     FROM appliance_usage {{FINAL}} WHERE household_id = {}",
                    lit(household_id)
                ),
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| UsageRow::from_cells(r))
            .collect())
    }

    /// The regions with published totals.
    pub async fn regions(&self) -> Result<Vec<String>, WebError> {
        let rows = self
            .rows(
                "region_totals",
                "SELECT DISTINCT region FROM region_totals ORDER BY region",
            )
            .await?;
        Ok(rows.into_iter().filter_map(|mut r| r.pop()).collect())
    }

    /// Households of a region that have daily game rows (the demo's simulated, opted-in ones).
    pub async fn households_with_data(&self, region: &str) -> Result<Vec<String>, WebError> {
        let rows = self
            .rows(
                "household_daily",
                &format!(
                    "SELECT DISTINCT household_id FROM household_daily WHERE region = {} \
                     ORDER BY household_id",
                    lit(region)
                ),
            )
            .await?;
        Ok(rows.into_iter().filter_map(|mut r| r.pop()).collect())
    }

    /// What the operator page shows.
    pub async fn operator(&self) -> Result<OperatorData, WebError> {
        let counts = self
            .rows(
                "round_events",
                "SELECT region, event, count(*) AS n FROM round_events {FINAL} \
                 GROUP BY region, event ORDER BY region, event",
            )
            .await?;
        let deferred = self
            .rows(
                "round_events",
                "SELECT region, interval_start, attempt, reason FROM round_events {FINAL} \
                 WHERE event = 'DEFERRED' ORDER BY interval_start DESC, region LIMIT 20",
            )
            .await?;
        let quarantined = self
            .rows(
                "round_events",
                "SELECT region, meter_id, interval_start, reason FROM round_events {FINAL} \
                 WHERE event = 'QUARANTINE' ORDER BY interval_start DESC, meter_id LIMIT 50",
            )
            .await?;
        let letters = self
            .rows(
                "dead_letters",
                "SELECT reason, count(*) AS n FROM dead_letters {FINAL} \
                 GROUP BY reason ORDER BY reason",
            )
            .await?;
        let balance = self.balance().await?;
        Ok(OperatorData::from_cells(
            &counts,
            &deferred,
            &quarantined,
            &letters,
            &balance,
        ))
    }

    /// Whether `table` exists: on ClickHouse it may predate its migration (the embedded store
    /// reads a table never written as empty).
    async fn exists(&self, table: &str) -> Result<bool, WebError> {
        match &self.0 {
            Tables::ClickHouse(w) => Ok(w.table_exists(table).await?),
            Tables::Embedded(_) => Ok(true),
        }
    }

    /// Each region's `grid_balance` rows (`region, interval_start, unexplained_wh, z, alert`)
    /// over the 7 days up to its newest row; none before the table exists.
    async fn balance(&self) -> Result<Vec<Vec<String>>, WebError> {
        if !self.exists("grid_balance").await? {
            return Ok(Vec::new());
        }
        let newest = self
            .rows(
                "grid_balance",
                "SELECT region, max(interval_start) AS newest FROM grid_balance \
                 GROUP BY region ORDER BY region",
            )
            .await?;
        // A `YYYY-MM-DD hh:mm:ss` literal compares with the column in both dialects.
        let bounds: Vec<String> = newest
            .iter()
            .filter_map(|c| {
                let since = parse_time_secs(c.get(1)?)? - BALANCE_WINDOW;
                Some(format!(
                    "(region = {} AND interval_start > {})",
                    lit(c.first()?),
                    lit(&format!(
                        "{}:{:02}",
                        format_time(since),
                        since.rem_euclid(60)
                    ))
                ))
            })
            .collect();
        if bounds.is_empty() {
            return Ok(Vec::new());
        }
        self.rows(
            "grid_balance",
            &format!(
                "SELECT region, interval_start, unexplained_wh, z, alert \
                 FROM grid_balance {{FINAL}} WHERE {} ORDER BY region, interval_start",
                bounds.join(" OR ")
            ),
        )
        .await
    }
}

/// A polars value as text: strings bare, datetimes as epoch milliseconds, nulls empty.
fn cell(v: &polars::prelude::AnyValue<'_>) -> String {
    use polars::prelude::{AnyValue, TimeUnit};
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Datetime(t, unit, _) | AnyValue::DatetimeOwned(t, unit, _) => {
            let ms = match unit {
                TimeUnit::Milliseconds => *t,
                TimeUnit::Microseconds => t / 1_000,
                TimeUnit::Nanoseconds => t / 1_000_000,
            };
            ms.to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_tsv_round_trip_awkward_text() {
        assert_eq!(lit("O'Brien\\x"), "'O''Brien\\\\x'");
        assert_eq!(unescape_tsv("a\\tb\\\\c\\nd"), "a\tb\\c\nd");
        assert_eq!(unescape_tsv("plain"), "plain");
    }
}
