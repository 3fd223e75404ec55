//! Arguments and helpers shared by the service subcommands.

use anyhow::{Context, bail};
use clap::Args;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use zeal_connectors::kafka::{self, KafkaConfig, TopicNames};

/// Where the broker is and which topics to use.
#[derive(Args, Debug, Clone)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "ZEAL_KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// Prefix of every topic name (several deployments on one cluster).
    #[arg(long, env = "ZEAL_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// A librdkafka property for every Kafka client of the command, as kcat takes it
    /// (repeatable; applied last): `-X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN`.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = kafka::parse_property)]
    pub property: Vec<(String, String)>,
    /// A file of librdkafka properties (`key=value` lines, `#` comments), applied before `-X`;
    /// keep it 0600 when it holds a password.
    #[arg(long, env = "ZEAL_KAFKA_CONFIG", value_name = "FILE", value_parser = read_properties)]
    pub kafka_config: Option<Properties>,
}

/// The properties of a `--kafka-config` file.
#[derive(Debug, Clone)]
pub struct Properties(Vec<(String, String)>);

fn read_properties(path: &str) -> Result<Properties, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let props = kafka::parse_properties(&text).map_err(|e| format!("{path}:{e}"))?;
    Ok(Properties(props))
}

impl KafkaArgs {
    /// The client settings, with the operator's librdkafka properties (file, then `-X`).
    pub fn config(&self, client: &str) -> KafkaConfig {
        let mut config = KafkaConfig::new(&self.bootstrap, client);
        config.extra = (self.kafka_config.iter().flat_map(|p| p.0.iter().cloned()))
            .chain(self.property.iter().cloned())
            .collect();
        config
    }

    pub fn topics(&self) -> TopicNames {
        TopicNames::with_prefix(&self.topic_prefix)
    }

    /// The deployment these flags name, as Kafka client `client`.
    pub fn deployment(&self, client: &str) -> zeal_services::deployment::Deployment {
        zeal_services::deployment::Deployment::new(self.config(client), self.topics())
    }

    /// The consent app's channel to the gateways and jobs (its decisions and the records of
    /// erasures), signing with `key`, as Kafka client `client`.
    pub fn consent_sink(
        &self,
        client: &str,
        key: zeal_protocol::ed25519_dalek::SigningKey,
    ) -> anyhow::Result<zeal_web::ConsentSink> {
        let producer = zeal_connectors::kafka::KeyedProducer::new(&self.config(client))?;
        let topics = self.topics();
        Ok(zeal_web::ConsentSink {
            producer: std::sync::Arc::new(producer),
            topic: topics.consent,
            erasure_topic: topics.erasure,
            key,
        })
    }
}

/// Parses `2020-07-01T00:00Z`, `2020-07-01T00:00:00Z`, `2020-07-01` (UTC) or milliseconds since
/// the epoch.
pub fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let usage =
        || format!("{s:?} is not a time: use 2020-07-01T00:00Z or milliseconds since the epoch");
    let text = s.trim_end_matches('Z');
    let (date, time) = text.split_once('T').unwrap_or((text, "00:00"));
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || !(2..=3).contains(&t.len()) {
        bail!(usage());
    }
    let num = |x: &str, max: u32| match x.parse::<u32>() {
        Ok(n) if n <= max && !x.starts_with('+') => Ok(n),
        _ => Err(anyhow::anyhow!(usage())),
    };
    let year = num(d[0], 9999)?;
    let days = zeal_civil::checked_days_from_civil(year.into(), num(d[1], 12)?, num(d[2], 31)?)
        .with_context(|| format!("{date:?} is not a date in the calendar"))?;
    let second = t.get(2).map(|x| num(x, 59)).transpose()?.unwrap_or(0);
    let secs = i64::from(num(t[0], 23)? * 3600 + num(t[1], 59)? * 60 + second);
    Ok((days * 86_400 + secs) * 1000)
}

/// Formats milliseconds since the epoch as `2020-07-01T00:15Z`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = zeal_civil::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}Z", s / 3600, s % 3600 / 60)
}

/// A shutdown signal that turns true on SIGTERM or Ctrl-C.
pub fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: finishing the message in hand and committing offsets");
        let _ = tx.send(true);
    });
    rx
}

/// Reads a 32-byte secret seed, creating it (mode 0600) when absent.
pub fn load_or_create_seed(path: &Path) -> anyhow::Result<([u8; 32], bool)> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by others (mode {mode:o}): chmod 600 it",
                    path.display()
                );
            }
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()))?;
            Ok((seed, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(
                &mut <rand_chacha::ChaCha20Rng as rand::SeedableRng>::from_os_rng(),
                &mut seed,
            );
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            std::io::Write::write_all(&mut f, &seed)?;
            f.sync_all()?;
            Ok((seed, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `text` to `path`, created or truncated with mode 0600 (households' readings are
/// private).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes `public` (hex) to `<key_file>.pub` and says whether the key was created or kept. The
/// file is left alone when it already says so, and otherwise replaced by a rename: readers
/// started beside this process (gateways reading the aggregator's `.pub`) never see it empty.
pub fn publish_public_key(
    what: &str,
    key_file: &Path,
    public: &str,
    created: bool,
) -> anyhow::Result<()> {
    let pub_path = key_file.with_extension("pub");
    let text = format!("{public}\n");
    if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(text.as_str()) {
        let tmp = key_file.with_extension("pub.tmp");
        std::fs::write(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, &pub_path))
            .with_context(|| format!("writing {}", pub_path.display()))?;
    }
    super::say::say!(
        "{} {what} key {}; public key {public} in {}",
        if created {
            "created"
        } else {
            "kept the existing"
        },
        key_file.display(),
        pub_path.display()
    );
    Ok(())
}

/// Creates (or keeps) the Ed25519 signing key in `key_file` and publishes its public key to
/// `<key_file>.pub` ([`publish_public_key`]): every `… init` command and key flag that makes its
/// key when absent.
pub fn init_signing_key(
    what: &str,
    key_file: &Path,
) -> anyhow::Result<zeal_protocol::ed25519_dalek::SigningKey> {
    let (seed, created) = load_or_create_seed(key_file)?;
    let key = zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = zeal_protocol::v2::enrolment::key_to_hex(&key.verifying_key());
    publish_public_key(what, key_file, &public, created)?;
    Ok(key)
}

/// The Ed25519 signing key in `key_file`, which must exist (`init`: the command that makes it,
/// e.g. `zeal authority init`).
pub fn existing_signing_key(
    key_file: &Path,
    init: &str,
) -> anyhow::Result<zeal_protocol::ed25519_dalek::SigningKey> {
    if !key_file.exists() {
        bail!(
            "{} does not exist: create it with `{init} --key-file {}`",
            key_file.display(),
            key_file.display()
        );
    }
    let (seed, _) = load_or_create_seed(key_file)?;
    Ok(zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&seed))
}

/// Where a service serves its Prometheus metrics.
#[derive(Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on http://ADDR/metrics (and /healthz), e.g. 0.0.0.0:9464.
    #[arg(long, env = "ZEAL_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

impl MetricsArgs {
    /// Serves `metrics` until `shutdown` when an address is set. Call inside the runtime.
    pub async fn serve(
        &self,
        metrics: &zeal_services::metrics::Metrics,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        if let Some(addr) = self.metrics_addr {
            let bound = zeal_services::metrics::serve(addr, metrics.clone(), shutdown)
                .await
                .with_context(|| format!("serving metrics on {addr}"))?;
            super::say::say!("metrics on http://{bound}/metrics");
        }
        Ok(())
    }
}

/// An Ed25519 public key given as 64 hex digits or as a file holding them (`--what`).
pub fn public_key(
    what: &str,
    s: &str,
) -> anyhow::Result<zeal_protocol::ed25519_dalek::VerifyingKey> {
    let text = std::fs::read_to_string(s).unwrap_or_else(|_| s.to_string());
    zeal_protocol::v2::enrolment::key_from_hex(text.trim())
        .map_err(|e| anyhow::anyhow!("--{what} must be 64 hex digits or a file holding them: {e}"))
}

/// [`public_key`] for each of a repeatable flag's values.
pub fn public_keys(
    what: &str,
    keys: &[String],
) -> anyhow::Result<Vec<zeal_protocol::ed25519_dalek::VerifyingKey>> {
    keys.iter().map(|k| public_key(what, k)).collect()
}

/// Connects to the ClickHouse at `url` and creates or updates every table (`zeal_tables`), the
/// way every command that reads or writes ClickHouse starts.
pub async fn clickhouse(url: &str) -> anyhow::Result<zeal_connectors::clickhouse::Warehouse> {
    let config = zeal_connectors::clickhouse::ClickHouseConfig::from_url(url)?;
    let warehouse = zeal_connectors::clickhouse::Warehouse::connect(&config)
        .await
        .with_context(|| format!("connecting to {}", config.endpoint))?;
    zeal_tables::migrate(&warehouse)
        .await
        .with_context(|| format!("creating the tables on {}", config.endpoint))?;
    Ok(warehouse)
}

/// The store a command writes or reads: the ClickHouse at `clickhouse` (tables created), else
/// the embedded store in `store_dir` (created if absent).
pub async fn store(
    clickhouse: Option<&str>,
    store_dir: &std::path::Path,
) -> anyhow::Result<zeal_tables::Store> {
    Ok(match clickhouse {
        Some(url) => zeal_tables::Store::ClickHouse(Box::new(self::clickhouse(url).await?)),
        None => zeal_tables::Store::Embedded(
            zeal_embedded::store::ParquetStore::open(store_dir)
                .with_context(|| format!("opening the store in {}", store_dir.display()))?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2020-02-31` used to become 2020-03-02, hour 25 the next day: a typo in an audit range or a
    /// cutoff day now fails instead of silently naming another time.
    #[test]
    fn times_that_do_not_exist_are_refused() {
        assert_eq!(parse_time("2020-07-01T00:15Z").unwrap(), 1_593_562_500_000);
        assert_eq!(parse_time("2020-07-01").unwrap(), 1_593_561_600_000);
        assert_eq!(
            parse_time("2020-02-29T23:59:59Z").unwrap(),
            1_583_020_799_000
        );
        assert_eq!(parse_time("1593561600000").unwrap(), 1_593_561_600_000);
        for bad in [
            "2020-02-31",
            "2021-02-29",
            "2020-13-01",
            "2020-00-10",
            "2020-07-00",
            "2020-07-01T24:00Z",
            "2020-07-01T12:60Z",
            "2020-07-01T12:00:60Z",
            "2020-07-01T12Z",
            "2020-07-01T-1:00Z",
            "2020-+7-01",
            "2020-07-01T12:00:00:00Z",
            "yesterday",
        ] {
            let err = parse_time(bad).expect_err(bad).to_string();
            assert!(err.contains(bad.trim_end_matches('Z')), "{bad}: {err}");
        }
    }

    /// Found by the deploy test (a gateway started beside `zeal aggregate` read the aggregator's
    /// `.pub` empty, failed, and left the aggregator waiting forever): the aggregator rewrote the
    /// file in place on every start. An unchanged file is now not touched, a changed one is
    /// replaced whole.
    #[test]
    fn the_public_key_file_is_never_rewritten_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("zeal-pub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("aggregator.key");
        let public = dir.join("aggregator.pub");
        publish_public_key("aggregator", &key, "aa", true).unwrap();
        let first = std::fs::metadata(&public).unwrap();
        publish_public_key("aggregator", &key, "aa", false).unwrap();
        let again = std::fs::metadata(&public).unwrap();
        assert_eq!(
            (first.ino(), first.mtime_nsec()),
            (again.ino(), again.mtime_nsec())
        );
        publish_public_key("aggregator", &key, "bb", true).unwrap();
        assert_eq!(std::fs::read_to_string(&public).unwrap(), "bb\n");
        assert_ne!(
            std::fs::metadata(&public).unwrap().ino(),
            first.ino(),
            "renamed in"
        );
        assert!(!dir.join("aggregator.pub.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn times_parse_and_format() {
        assert_eq!(parse_time("2020-07-01T00:00Z").unwrap(), 1_593_561_600_000);
        assert_eq!(parse_time("2020-07-01").unwrap(), 1_593_561_600_000);
        assert_eq!(parse_time("1593561600000").unwrap(), 1_593_561_600_000);
        assert_eq!(format_time(1_593_562_500_000), "2020-07-01T00:15Z");
        assert!(parse_time("tomorrow").is_err());
    }
}
