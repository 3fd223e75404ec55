//! ClickHouse connector: client from a URL, server version detection, idempotent migrations and
//! batched inserts.
//!
//! The `clickhouse` crate validates rows against the server's schema using the
//! `RowBinaryWithNamesAndTypes` format, which old servers (Debian's 18.16, used in tests) do not
//! have; [`Warehouse::connect`] switches validation off for them. With validation off, a Rust row
//! whose field types differ from the table's can corrupt data silently, so every row type has a
//! test comparing it with `DESCRIBE TABLE` ([`Warehouse::describe`]).

pub mod cluster;
pub mod migrations;
pub mod rebuild;

pub use migrations::{Migration, MigrationReport, migrate};

use serde::Deserialize;
use std::fmt;

/// Errors of the ClickHouse connector.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// The URL could not be parsed.
    #[error("invalid ClickHouse URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The server answered with an error or could not be reached.
    #[error("clickhouse {op}: {source}")]
    Client {
        op: String,
        #[source]
        source: clickhouse::error::Error,
    },
    /// The server's version string could not be understood.
    #[error("cannot parse ClickHouse server version {0:?}")]
    BadVersion(String),
    /// A migration that cannot be applied as configured (e.g. on a cluster).
    #[error("migration {id}: {reason}")]
    Migration { id: &'static str, reason: String },
}

fn ch_err(op: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> ClickHouseError {
    let op = op.into();
    move |source| ClickHouseError::Client { op, source }
}

/// Where and as whom to connect.
#[derive(Clone, PartialEq, Eq)]
pub struct ClickHouseConfig {
    /// HTTP endpoint, e.g. `http://127.0.0.1:8123`.
    pub endpoint: String,
    pub user: String,
    pub password: String,
    pub database: String,
    /// The cluster the tables live on (`?cluster=NAME`): replicated tables under `Distributed`
    /// ones ([`cluster`]); `None` for a single server.
    pub cluster: Option<String>,
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("endpoint", &self.endpoint)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("database", &self.database)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl ClickHouseConfig {
    /// Parses `http[s]://[user[:password]@]host:port[/database][?cluster=NAME]`. User defaults
    /// to `default`, database to `default`; credentials may be percent-encoded; `cluster` names
    /// the cluster (in the servers' `remote_servers`) the tables are made on.
    pub fn from_url(url: &str) -> Result<Self, ClickHouseError> {
        let bad = |reason: &str| ClickHouseError::BadUrl {
            url: redact(url),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad(
                "scheme must be http or https (the HTTP interface, not native TCP)",
            ));
        }
        let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| bad("no port"))?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let user = match parsed.username() {
            "" => "default".to_string(),
            u => decode(u),
        };
        let password = parsed.password().map(decode).unwrap_or_default();
        let database = parsed.path().trim_matches('/');
        if database.contains('/') {
            return Err(bad("path must be a single database name"));
        }
        let mut cluster = None;
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "cluster" if cluster::is_identifier(&v) => cluster = Some(v.into_owned()),
                "cluster" => return Err(bad("cluster must be a name (letters, digits, _)")),
                other => return Err(bad(&format!("unknown parameter {other:?} (only cluster)"))),
            }
        }
        if cluster.is_some() && !cluster::is_identifier(database.trim()) && !database.is_empty() {
            return Err(bad(
                "on a cluster the database must be a name (letters, digits, _)",
            ));
        }
        Ok(ClickHouseConfig {
            endpoint: format!("{}://{host}:{port}", parsed.scheme()),
            user,
            password,
            database: if database.is_empty() {
                "default".into()
            } else {
                database.into()
            },
            cluster,
        })
    }

    /// The same settings with other credentials (e.g. the read-only user).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.user = user.into();
        self.password = password.into();
        self
    }
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A ClickHouse server version, e.g. 18.16.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// The oldest server the `clickhouse` crate's row validation works with.
    pub const VALIDATION: ServerVersion = ServerVersion {
        major: 24,
        minor: 10,
        patch: 0,
    };

    /// Parses `SELECT version()` output such as `18.16.1` or `24.8.4.13`.
    pub fn parse(s: &str) -> Result<Self, ClickHouseError> {
        let mut parts = s.trim().split('.').map(|p| p.parse::<u32>());
        let mut next = || {
            parts
                .next()
                .transpose()
                .map_err(|_| ClickHouseError::BadVersion(s.to_string()))
        };
        let major = next()?.ok_or_else(|| ClickHouseError::BadVersion(s.to_string()))?;
        let minor = next()?.unwrap_or(0);
        let patch = next()?.unwrap_or(0);
        Ok(ServerVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One column of `DESCRIBE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq, clickhouse::Row, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
}

/// The HTTP(S) connector: plain HTTP for `http://`, TLS (rustls with ring) for `https://`,
/// verified against the system's CA certificates (`SSL_CERT_FILE` and `SSL_CERT_DIR` are
/// honoured, as OpenSSL does, so an operator points at their own CA). With no certificate
/// found the store is empty: `http://` still works and `https://` fails on the certificate,
/// never falling back to an unverified connection.
fn connector() -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "a CA certificate could not be loaded");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "CA certificates for HTTPS to ClickHouse");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_keepalive(Some(std::time::Duration::from_secs(60)));
    http.enforce_http(false);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// A connected ClickHouse client that knows its server.
#[derive(Clone)]
pub struct Warehouse {
    client: clickhouse::Client,
    version: ServerVersion,
    config: ClickHouseConfig,
    /// Rows per INSERT statement.
    pub batch_rows: usize,
}

impl Warehouse {
    /// Connects, asks the server its version and configures row validation accordingly.
    pub async fn connect(config: &ClickHouseConfig) -> Result<Self, ClickHouseError> {
        let base = clickhouse::Client::with_http_client(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                // Below the server's keep-alive (3 s before 23.11, 10 s after), as the crate's.
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build(connector()),
        )
        .with_url(&config.endpoint)
        .with_user(&config.user)
        .with_password(&config.password)
        .with_database(&config.database);
        let raw: String = base
            .clone()
            .with_validation(false)
            .query("SELECT version()")
            .fetch_one()
            .await
            .map_err(ch_err(format!("connect to {}", config.endpoint)))?;
        let version = ServerVersion::parse(&raw)?;
        let client = base.with_validation(version >= ServerVersion::VALIDATION);
        Ok(Warehouse {
            client,
            version,
            config: config.clone(),
            batch_rows: 100_000,
        })
    }

    /// The server's version.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// The settings this client was made from.
    pub fn config(&self) -> &ClickHouseConfig {
        &self.config
    }

    /// The underlying client, for queries this module does not wrap.
    pub fn client(&self) -> &clickhouse::Client {
        &self.client
    }

    /// Runs a statement that returns no rows (DDL, `OPTIMIZE`, ...).
    pub async fn execute(&self, sql: &str) -> Result<(), ClickHouseError> {
        self.client
            .query(sql)
            .execute()
            .await
            .map_err(ch_err(first_line(sql)))
    }

    /// Runs a schema statement. On a cluster an `ON CLUSTER` statement waits up to 30 s for
    /// every server; a server that is down applies it when it returns (ClickHouse's
    /// distributed DDL queue), so that wait ending is logged, not an error.
    pub async fn execute_ddl(&self, sql: &str) -> Result<(), ClickHouseError> {
        if self.config.cluster.is_none() {
            return self.execute(sql).await;
        }
        let answer = self
            .client
            .query(sql)
            .with_setting("distributed_ddl_task_timeout", "30")
            .execute()
            .await;
        match answer {
            Err(e) if e.to_string().contains("Code: 159") => {
                tracing::warn!(statement = %first_line(sql), error = %e, "a server of the cluster has not applied the statement yet: it will when it is back");
                Ok(())
            }
            other => other.map_err(ch_err(first_line(sql))),
        }
    }

    /// The replicated table under `table` on a cluster (`<database>.<table>_local`), where
    /// mutations (`ALTER … DELETE`) run; `table` itself on a single server.
    pub fn local_table(&self, table: &str) -> String {
        match &self.config.cluster {
            Some(_) => cluster::local_table(&self.config.database, table),
            None => table.to_string(),
        }
    }

    /// `ON CLUSTER <name>` on a cluster, else nothing (for statements written once for both).
    pub fn on_cluster(&self) -> String {
        self.config
            .cluster
            .as_ref()
            .map_or_else(String::new, |c| format!(" ON CLUSTER {c}"))
    }

    /// Runs a query and returns every row.
    pub async fn fetch_all<T>(&self, sql: &str) -> Result<Vec<T>, ClickHouseError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        self.client
            .query(sql)
            .fetch_all::<T>()
            .await
            .map_err(ch_err(first_line(sql)))
    }

    /// Inserts rows in batches of [`Warehouse::batch_rows`]; returns how many were written.
    pub async fn insert_rows<T>(&self, table: &str, rows: &[T]) -> Result<u64, ClickHouseError>
    where
        T: clickhouse::RowWrite + for<'a> clickhouse::Row<Value<'a> = T>,
    {
        let op = || format!("insert into {table}");
        for chunk in rows.chunks(self.batch_rows.max(1)) {
            let mut insert = self.client.insert::<T>(table).await.map_err(ch_err(op()))?;
            for row in chunk {
                insert.write(row).await.map_err(ch_err(op()))?;
            }
            insert.end().await.map_err(ch_err(op()))?;
        }
        Ok(rows.len() as u64)
    }

    /// The columns of a table, in order, from `DESCRIBE TABLE` (read as TabSeparated: newer
    /// servers return more columns than 18.16, and 18.16's `system.columns` has no position),
    /// types as written in DDL (`DateTime('UTC')`).
    pub async fn describe(&self, table: &str) -> Result<Vec<ColumnInfo>, ClickHouseError> {
        let sql = format!("DESCRIBE TABLE {}", table.replace(['`', ';', ' '], ""));
        let op = || first_line(&sql);
        let bytes = self
            .client
            .query(&sql)
            .fetch_bytes("TabSeparated")
            .map_err(ch_err(op()))?
            .collect()
            .await
            .map_err(ch_err(op()))?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                Some(ColumnInfo {
                    name: unescape_tsv(fields.next()?),
                    type_: unescape_tsv(fields.next()?),
                })
            })
            .collect())
    }

    /// Runs a query and returns its TabSeparated output as text (reports, ad-hoc queries).
    pub async fn query_text(&self, sql: &str) -> Result<String, ClickHouseError> {
        let bytes = self
            .client
            .query(sql)
            .fetch_bytes("TabSeparated")
            .map_err(ch_err(first_line(sql)))?
            .collect()
            .await
            .map_err(ch_err(first_line(sql)))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether `table` exists in the database (a table may predate its migration).
    pub async fn table_exists(&self, table: &str) -> Result<bool, ClickHouseError> {
        let answer = self.query_text(&format!("EXISTS TABLE {table}")).await?;
        Ok(answer.trim() == "1")
    }
}

/// A TabSeparated field as the text it stands for (`\'` is `'`, `\t` a tab, ...).
pub fn unescape_tsv(field: &str) -> String {
    let mut text = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => text.push('\t'),
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some('0') => text.push('\0'),
            Some(other) => text.push(other),
            None => text.push('\\'),
        }
    }
    text
}

fn first_line(sql: &str) -> String {
    let line = sql.trim().lines().next().unwrap_or_default();
    line.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_separated_fields_are_unescaped() {
        assert_eq!(unescape_tsv(r"DateTime(\'UTC\')"), "DateTime('UTC')");
        assert_eq!(unescape_tsv(r"a\tb\\c\n"), "a\tb\\c\n");
        assert_eq!(unescape_tsv("Array(String)"), "Array(String)");
    }

    #[test]
    fn url_with_credentials_and_database() {
        let c = ClickHouseConfig::from_url("http://reader:p%40ss@127.0.0.1:18123/zeal").unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:18123");
        assert_eq!(c.user, "reader");
        assert_eq!(c.password, "p@ss");
        assert_eq!(c.database, "zeal");
        assert!(
            !format!("{c:?}").contains("p@ss"),
            "password leaked in Debug"
        );
    }

    #[test]
    fn url_with_a_cluster() {
        let c = ClickHouseConfig::from_url("http://127.0.0.1:8123/zdb?cluster=zeal").unwrap();
        assert_eq!(
            (c.database.as_str(), c.cluster.as_deref()),
            ("zdb", Some("zeal"))
        );
        assert_eq!(
            ClickHouseConfig::from_url("http://h:1").unwrap().cluster,
            None
        );
        for bad in [
            "http://h:1/?cluster=a-b",
            "http://h:1/?cluster=",
            "http://h:1/?custer=zeal",
            "http://h:1/my-db?cluster=zeal",
        ] {
            assert!(ClickHouseConfig::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_defaults() {
        let c = ClickHouseConfig::from_url("http://localhost:8123").unwrap();
        assert_eq!(
            (c.user.as_str(), c.database.as_str()),
            ("default", "default")
        );
        assert_eq!(c.password, "");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_passwords() {
        for url in ["tcp://h:9000", "not a url", "http://u:secret@h:1/a/b"] {
            let err = ClickHouseConfig::from_url(url).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn versions_parse_and_order() {
        let old = ServerVersion::parse("18.16.1").unwrap();
        let new = ServerVersion::parse("24.10.2.80").unwrap();
        assert!(old < ServerVersion::VALIDATION && new >= ServerVersion::VALIDATION);
        assert!(ServerVersion::parse("banana").is_err());
        assert_eq!(old.to_string(), "18.16.1");
    }
}
