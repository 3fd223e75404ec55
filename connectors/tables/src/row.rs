//! A table's row type, declared once: [`table!`] gives the struct (a ClickHouse row), its
//! embedded-store spec and its Parquet columns from one list of fields, so a column cannot be in
//! one store and not the other. [`Destination`] writes rows of any table to either store.

use crate::TablesError;
use zeal_connectors::clickhouse::Warehouse;
use zeal_embedded::store::{ColumnKind, ParquetStore, TableSpec, Values};

/// The row type of one table.
pub trait TableRow:
    clickhouse::RowWrite + for<'a> clickhouse::Row<Value<'a> = Self> + Sized + Send + Sync + 'static
{
    /// The table: its name, key and every column with its embedded type.
    const TABLE: TableSpec;
    /// The rows as Parquet columns, in [`TableRow::TABLE`]'s column order.
    fn columns(rows: &[Self]) -> Vec<(&'static str, Values)>;
}

/// How a field is stored in Parquet (ClickHouse takes the field as it is).
pub trait Stored<T> {
    /// The column's type in the embedded store.
    const KIND: ColumnKind;
    /// The column's values.
    fn values<'a>(v: impl Iterator<Item = &'a T>) -> Values
    where
        T: 'a;
}

/// `String`.
pub struct Text;
/// `Array(…)`: stored in the embedded store as its items joined with commas.
pub struct List;
/// `DateTime` (whole seconds in ClickHouse's RowBinary).
pub struct Seconds;
/// `Date` (days since 1970-01-01).
pub struct Days;
/// Unsigned integers up to 32 bits.
pub struct Count;
/// Signed integers.
pub struct Int;
/// Floating point.
pub struct Float;

impl Stored<String> for Text {
    const KIND: ColumnKind = ColumnKind::Str;
    fn values<'a>(v: impl Iterator<Item = &'a String>) -> Values {
        Values::Str(v.cloned().collect())
    }
}

impl<T: ToString> Stored<Vec<T>> for List {
    const KIND: ColumnKind = ColumnKind::Str;
    fn values<'a>(v: impl Iterator<Item = &'a Vec<T>>) -> Values
    where
        T: 'a,
    {
        Values::Str(
            v.map(|items| items.iter().map(T::to_string).collect::<Vec<_>>().join(","))
                .collect(),
        )
    }
}

impl Stored<u32> for Seconds {
    const KIND: ColumnKind = ColumnKind::Millis;
    fn values<'a>(v: impl Iterator<Item = &'a u32>) -> Values {
        Values::Millis(v.map(|s| i64::from(*s) * 1000).collect())
    }
}

impl Stored<u16> for Days {
    const KIND: ColumnKind = ColumnKind::Millis;
    fn values<'a>(v: impl Iterator<Item = &'a u16>) -> Values {
        Values::Millis(v.map(|d| i64::from(*d) * 86_400_000).collect())
    }
}

impl<T: Copy + Into<u32>> Stored<T> for Count {
    const KIND: ColumnKind = ColumnKind::U32;
    fn values<'a>(v: impl Iterator<Item = &'a T>) -> Values
    where
        T: 'a,
    {
        Values::U32(v.map(|x| (*x).into()).collect())
    }
}

impl<T: Copy + Into<i64>> Stored<T> for Int {
    const KIND: ColumnKind = ColumnKind::I64;
    fn values<'a>(v: impl Iterator<Item = &'a T>) -> Values
    where
        T: 'a,
    {
        Values::I64(v.map(|x| (*x).into()).collect())
    }
}

impl<T: Copy + Into<f64>> Stored<T> for Float {
    const KIND: ColumnKind = ColumnKind::F64;
    fn values<'a>(v: impl Iterator<Item = &'a T>) -> Values
    where
        T: 'a,
    {
        Values::F64(v.map(|x| (*x).into()).collect())
    }
}

/// Declares a table's row: `pub struct Name in "table", key [a, b] { pub a: T => Kind, … }`.
/// The fields are ClickHouse's columns (inserted by name) and, through each field's
/// [`Stored`] kind, the embedded store's.
macro_rules! table {
    (
        $(#[$meta:meta])*
        pub struct $row:ident in $table:literal, key [$($key:ident),+ $(,)?] {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty => $kind:ident, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Default, clickhouse::Row, serde::Serialize, serde::Deserialize,
        )]
        pub struct $row {
            $( $(#[$fmeta])* pub $field: $ty, )+
        }

        impl $crate::row::TableRow for $row {
            const TABLE: zeal_embedded::store::TableSpec = zeal_embedded::store::TableSpec {
                name: $table,
                key: &[$(stringify!($key)),+],
                columns: &[$((
                    stringify!($field),
                    <$crate::row::$kind as $crate::row::Stored<$ty>>::KIND,
                )),+],
            };

            fn columns(rows: &[Self]) -> Vec<(&'static str, zeal_embedded::store::Values)> {
                vec![$((
                    stringify!($field),
                    <$crate::row::$kind as $crate::row::Stored<$ty>>::values(
                        rows.iter().map(|r| &r.$field),
                    ),
                )),+]
            }
        }
    };
}
pub(crate) use table;

/// Where rows are written: ClickHouse or the embedded store.
pub trait Destination: Send + Sync {
    /// Writes rows of one table; returns how many.
    fn write<R: TableRow>(
        &self,
        rows: &[R],
    ) -> impl std::future::Future<Output = Result<u64, TablesError>> + Send;
}

impl Destination for Warehouse {
    async fn write<R: TableRow>(&self, rows: &[R]) -> Result<u64, TablesError> {
        if rows.is_empty() {
            return Ok(0);
        }
        Ok(self.insert_rows(R::TABLE.name, rows).await?)
    }
}

impl Destination for ParquetStore {
    async fn write<R: TableRow>(&self, rows: &[R]) -> Result<u64, TablesError> {
        append(self, rows)
    }
}

/// Appends rows to the embedded store (blocking file I/O; [`Destination::write`] without the
/// future, for callers on a blocking thread).
pub fn append<R: TableRow>(store: &ParquetStore, rows: &[R]) -> Result<u64, TablesError> {
    Ok(store.append(R::TABLE.name, R::columns(rows))? as u64)
}
