//! Where the tables live: a ClickHouse database (its tables created, [`crate::migrate`]) or the
//! embedded Parquet store. Writers and readers take either through [`Destination`] and
//! [`ReadTotals`], so a deployment picks its store once.

use crate::region_totals::{from_clickhouse, from_embedded};
use crate::{Destination, TableRow, TablesError, TotalsRow};
use std::ops::Range;
use std::sync::Arc;
use zeal_connectors::clickhouse::Warehouse;
use zeal_embedded::store::ParquetStore;

/// A deployment's store.
pub enum Store {
    ClickHouse(Box<Warehouse>),
    Embedded(ParquetStore),
}

impl Destination for Store {
    async fn write<R: TableRow>(&self, rows: &[R]) -> Result<u64, TablesError> {
        match self {
            Store::ClickHouse(w) => w.write(rows).await,
            Store::Embedded(p) => p.write(rows).await,
        }
    }
}

impl<D: Destination> Destination for Arc<D> {
    async fn write<R: TableRow>(&self, rows: &[R]) -> Result<u64, TablesError> {
        self.as_ref().write(rows).await
    }
}

/// A store the verified region totals are read from.
pub trait ReadTotals: Send + Sync {
    /// Every total whose interval starts in `starts` (ms; `None`: all), one per key.
    fn region_totals(
        &self,
        starts: Option<Range<i64>>,
    ) -> impl std::future::Future<Output = Result<Vec<TotalsRow>, TablesError>> + Send;
}

impl<R: ReadTotals> ReadTotals for Arc<R> {
    async fn region_totals(
        &self,
        starts: Option<Range<i64>>,
    ) -> Result<Vec<TotalsRow>, TablesError> {
        self.as_ref().region_totals(starts).await
    }
}

impl ReadTotals for Warehouse {
    async fn region_totals(
        &self,
        starts: Option<Range<i64>>,
    ) -> Result<Vec<TotalsRow>, TablesError> {
        from_clickhouse(self, starts).await
    }
}

impl ReadTotals for ParquetStore {
    async fn region_totals(
        &self,
        starts: Option<Range<i64>>,
    ) -> Result<Vec<TotalsRow>, TablesError> {
        from_embedded(self, starts)
    }
}

impl ReadTotals for Store {
    async fn region_totals(
        &self,
        starts: Option<Range<i64>>,
    ) -> Result<Vec<TotalsRow>, TablesError> {
        match self {
            Store::ClickHouse(w) => w.region_totals(starts).await,
            Store::Embedded(p) => p.region_totals(starts).await,
        }
    }
}
