//! `zeal serve`: the Energenies web app (axum), served from ClickHouse or the embedded store.
//!
//! - `GET /` start page; `GET /join`, `POST /join` a household joins (region, display name,
//!   meter, consent to use its readings, leaderboard opt-in; in demo mode a simulated,
//!   opted-in household of the region is picked when no meter is given).
//! - `GET /household/{id}` journey stage and progress, points and level, badges, today's and
//!   this month's use against the region's average household and its efficient neighbours
//!   (both from private aggregates only), solar, the device breakdown, an SVG chart.
//! - `GET /leaderboard`, `GET /leaderboard/{region}` the households that chose to be named.
//! - `GET /operator` rounds per region by outcome, deferred rounds, quarantined meters, dead
//!   letters by reason, each region's grid balance over its last 7 days (an SVG chart) and the
//!   open grid-balance alerts.
//!
//! Every bad input gets a page saying what was wrong (400 / 404), never a stack trace; store
//! failures are logged and answered with a 503 page. Pages are plain HTML and inline SVG:
//! nothing is loaded from elsewhere.

pub mod app;
pub mod html;
pub mod metrics;
/// The join form and the form decoding (the pure, fuzzed `zeal-web-forms` crate).
pub use zeal_web_forms as join;
pub mod model;
pub mod store;
pub mod svg;

pub use app::{WebSettings, serve};

/// Errors of the web app's store.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(transparent)]
    ClickHouse(#[from] zeal_connectors::clickhouse::ClickHouseError),
    #[error(transparent)]
    Store(#[from] zeal_embedded::store::StoreError),
    #[error(transparent)]
    Tables(#[from] zeal_tables::TablesError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
