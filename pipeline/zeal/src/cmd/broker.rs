//! `zeal broker`: the Kafka-protocol broker `zeal demo` runs in-process (tansu 0.6 with sqlite
//! storage), as its own process in the foreground, for a laptop deployment or the test suite
//! (`tests/run.sh` starts it, and kills and restarts it in the broker-crash tests). It restarts
//! its own broker when a broker task panics (tansu's storage on a full disk).

use anyhow::Context;
use clap::Args;
use zeal_embedded::broker::{Url, serve};

#[derive(Args)]
pub struct BrokerArgs {
    /// Where Kafka clients connect, e.g. tcp://127.0.0.1:9092.
    #[arg(long)]
    listener_url: Url,
    /// The address the broker gives clients in metadata (default: the listener's).
    #[arg(long)]
    advertised_listener_url: Option<Url>,
    /// Where the log is kept: sqlite://<file>, resolved against the working directory (an
    /// absolute path too: run it where the file should be).
    #[arg(long, default_value = "sqlite://zeal-broker.db")]
    storage_engine: Url,
}

pub fn run(a: BrokerArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.listener_url.scheme() == "tcp",
        "--listener-url must be tcp://host:port, not {}",
        a.listener_url
    );
    let advertised = a
        .advertised_listener_url
        .unwrap_or_else(|| a.listener_url.clone());
    super::say::say!(
        "zeal broker: listening on {}, advertised as {advertised}, log in {}",
        a.listener_url,
        a.storage_engine
    );
    serve(a.listener_url, advertised, a.storage_engine, true).context("the broker stopped")
}
