//! `zeal serve`: the Energenies web app over ClickHouse or the embedded store.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use zeal_web::store::Store;
use zeal_web::{WebSettings, serve};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ZEAL_WEB_ADDR")]
    addr: SocketAddr,
    /// Read from (and record joins in) this ClickHouse; otherwise the embedded store.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// The embedded store's directory (as written by `zeal demo`).
    #[arg(long, default_value = "zeal-data", env = "ZEAL_DATA_DIR")]
    data_dir: PathBuf,
    /// Demo mode: joining without a meter id picks a simulated, opted-in household.
    #[arg(long)]
    demo: bool,
}

/// Opens the store the flags name for the web app (an embedded one must exist: the app only
/// reads it, apart from the households who join).
pub async fn open_store(
    clickhouse: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Store> {
    let dir = data_dir.join("store");
    anyhow::ensure!(
        clickhouse.is_some() || dir.exists(),
        "no embedded store at {}: run `zeal demo` first (or pass --data-dir / --clickhouse)",
        dir.display()
    );
    Ok(Store::from(super::common::store(clickhouse, &dir).await?))
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    super::runtime()?.block_on(async move {
        let store = open_store(a.clickhouse.as_deref(), &a.data_dir).await?;
        let stop = super::common::shutdown_on_signals();
        let addr = serve(a.addr, store, WebSettings { demo: a.demo }, stop.clone()).await?;
        println!("Energenies at http://{addr}/ (Ctrl-C to stop)");
        zeal_services::stopped(stop).await;
        anyhow::Ok(())
    })
}
