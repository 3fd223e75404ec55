//! `zeal serve`: the Energenies web app (axum), served from ClickHouse or the embedded store.
//!
//! - `GET /signin?token=…` the utility portal's sign-in link ([`portal`]): a short-lived,
//!   single-use EdDSA JWT naming the household and its region starts a session ([`session`]).
//! - `GET /join`, `POST /join` the signed-in household joins (display name, consent to use its
//!   readings, leaderboard opt-in) or changes its settings; `POST /signout`.
//! - `GET /household/{id}` the signed-in household's own page: journey stage and progress,
//!   points and level, badges, today's and this month's use against the region's average
//!   household and its efficient neighbours (both from private aggregates only), solar, the
//!   device breakdown, an SVG chart. Another household's page is refused.
//! - `GET /leaderboard/{region}` the households of the region that chose to be named (a
//!   household sees its own region's; the operator every region's).
//! - `GET /erase`, `POST /erase` the signed-in household's data erased ([`rights::erase`]).
//! - `GET /operator`, `POST /operator/signin` rounds per region by outcome, deferred rounds,
//!   quarantined meters, dead letters by reason, grid balance and alerts, behind the operator
//!   token (a form, or `Authorization: Bearer` for scripts).
//!
//! - `GET /language/{en|nl}?back=…` the switch on every page: pages are Dutch or English
//!   ([`lang`]: the switch's cookie, else `Accept-Language`, else English).
//!
//! Every bad input gets a page saying what was wrong (400 / 401 / 403 / 404), never a stack
//! trace; store failures are logged and answered with a 503 page. Forms carry a CSRF token.
//! Pages are plain HTML and inline SVG: nothing is loaded from elsewhere. `--tls-cert/--tls-key`
//! serve HTTPS ([`tls`]).

pub mod app;
pub mod html;
pub mod lang;
pub mod metrics;
/// The join form and the form decoding (the pure, fuzzed `zeal-web-forms` crate).
pub use zeal_web_forms as join;
pub mod model;
pub mod portal;
pub mod rights;
pub mod session;
pub mod store;
pub mod svg;
pub mod tls;
pub mod words;

pub use app::{WebSettings, serve};
pub use rights::ConsentSink;

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
