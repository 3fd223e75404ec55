//! One module per subcommand.

pub mod authority;
pub mod balance;
pub mod bench;
pub mod bench_grid;
pub mod bench_pipeline;
pub mod broker;
pub mod common;
pub mod consent;
pub mod decode;
pub mod demo;
pub mod demo_daily;
pub mod demo_grid;
pub mod demo_v2;
pub mod disagg;
pub mod erase;
pub mod grid;
pub mod healthcheck;
pub mod jobs;
pub mod migrate;
pub mod portal;
pub mod progress;
pub mod round;
pub mod say;
pub mod schemas;
pub mod serve;
pub mod share;
pub mod simulate;
pub mod sink;
pub mod sql;
pub mod topics;
pub mod v2;

/// A multi-threaded runtime for subcommands that do network I/O.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
