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
    /// The utility portal's Ed25519 public key (64 hex digits, as `zeal portal init` writes
    /// `<key>.pub`): households sign in with links it signed. Without it nobody can sign in.
    #[arg(long, env = "ZEAL_PORTAL_PUBLIC_KEY")]
    portal_key: Option<PathBuf>,
    /// Longest lifetime of a sign-in link accepted, in seconds.
    #[arg(long, default_value_t = zeal_web::portal::DEFAULT_MAX_LIFETIME)]
    max_link_age: i64,
    /// The operator token (a file, mode 0600, at least 32 characters): `/operator` asks for
    /// it. Without it the operator page is off.
    #[arg(long, env = "ZEAL_OPERATOR_TOKEN_FILE")]
    operator_token_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key (mode 0600 advised).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Publish households' consent decisions on the consent topic (`zeal.consent.v1`) of the
    /// broker below, signed with this key (created if absent, mode 0600; its public key in
    /// `<key>.pub` for the gateways' `zeal share --consent-app`). Joining then asks for the
    /// pairing code the household's gateway shows.
    #[arg(long, env = "ZEAL_CONSENT_KEY")]
    consent_key: Option<PathBuf>,
    #[command(flatten)]
    kafka: super::common::KafkaArgs,
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
    anyhow::ensure!(
        (1..=86_400).contains(&a.max_link_age),
        "--max-link-age must be 1 to 86400 seconds, got {}",
        a.max_link_age
    );
    let settings = WebSettings {
        portal_key: a
            .portal_key
            .as_deref()
            .map(|f| super::common::public_key("portal-key", &f.to_string_lossy()))
            .transpose()?,
        max_link_lifetime: a.max_link_age,
        operator_token: a
            .operator_token_file
            .as_deref()
            .map(|f| super::portal::operator_token(f, false))
            .transpose()?,
        tls: match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(zeal_web::tls::server_config(cert, key)?),
            _ => None,
        },
        consent: None,
        ..WebSettings::default()
    };
    if settings.portal_key.is_none() {
        tracing::warn!("no --portal-key: no household can sign in");
    }
    let scheme = if settings.tls.is_some() {
        "https"
    } else {
        "http"
    };
    super::runtime()?.block_on(async move {
        let mut settings = settings;
        if let Some(file) = &a.consent_key {
            let key = super::common::init_signing_key("consent", file)?;
            settings.consent = Some(a.kafka.consent_sink("zeal-web", key)?);
        }
        let store = open_store(a.clickhouse.as_deref(), &a.data_dir).await?;
        let stop = super::common::shutdown_on_signals();
        let addr = serve(a.addr, store, settings, stop.clone()).await?;
        println!("Energenies at {scheme}://{addr}/ (Ctrl-C to stop)");
        zeal_services::stopped(stop).await;
        anyhow::Ok(())
    })
}
