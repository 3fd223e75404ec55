//! `zeal sql`: SQL over the embedded store (Parquet files written by `zeal demo`).

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use zeal_embedded::store::ParquetStore;

#[derive(Args)]
pub struct SqlArgs {
    /// The query, e.g. "SELECT region, sum(total) FROM region_totals GROUP BY region".
    query: String,
    /// The demo's data directory.
    #[arg(long, default_value = "zeal-data", env = "ZEAL_DATA_DIR")]
    data_dir: PathBuf,
}

pub fn run(a: SqlArgs) -> anyhow::Result<()> {
    let dir = a.data_dir.join("store");
    anyhow::ensure!(
        dir.exists(),
        "no embedded store at {}: run `zeal demo` first (or pass --data-dir)",
        dir.display()
    );
    let store = ParquetStore::open(&dir)?;
    let tables = zeal_tables::EMBEDDED;
    let df = store.query(&a.query, tables).with_context(|| {
        format!(
            "tables: {}",
            tables.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        )
    })?;
    // SAFETY of output size: polars truncates long tables itself.
    unsafe { std::env::set_var("POLARS_FMT_MAX_ROWS", "60") };
    println!("{df}");
    Ok(())
}
