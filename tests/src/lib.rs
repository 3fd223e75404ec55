//! Shared support for the tests that need real services.
//!
//! `tests/run.sh` installs and starts tansu and ClickHouse on free loopback ports and exports
//! their addresses. A test that needs a service and does not find its variable fails with a
//! message saying how to run it; it never passes silently. The web app's browser tests drive
//! headless Chromium ([`browser`]; `ZEAL_TEST_CHROMIUM`, also installed by run.sh).

pub mod broker;
pub mod browser;
pub mod certified;
pub mod clickhouse_server;
pub mod env;
pub mod fault_proxy;
pub mod http;
pub mod region;

use std::sync::atomic::{AtomicU32, Ordering};
use zeal_connectors::clickhouse::ClickHouseConfig;
use zeal_connectors::kafka::KafkaConfig;

pub(crate) fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set: this test needs the real services. Run the suite with \
             `bash tests/run.sh` (it starts tansu and ClickHouse and sets {var}), or \
             `bash tests/run.sh -- cargo test -p zeal-tests` for these tests alone."
        ),
    }
}

/// Kafka settings for the test broker (`ZEAL_TEST_KAFKA_BOOTSTRAP`).
pub fn kafka() -> KafkaConfig {
    KafkaConfig::new(required("ZEAL_TEST_KAFKA_BOOTSTRAP"), "zeal-tests")
}

/// ClickHouse settings for the test server as its admin user (`ZEAL_TEST_CLICKHOUSE_URL`,
/// `ZEAL_TEST_CLICKHOUSE_USER`, `ZEAL_TEST_CLICKHOUSE_PASSWORD`).
pub fn clickhouse() -> ClickHouseConfig {
    let url = required("ZEAL_TEST_CLICKHOUSE_URL");
    let user = std::env::var("ZEAL_TEST_CLICKHOUSE_USER").unwrap_or_else(|_| "default".into());
    let password = std::env::var("ZEAL_TEST_CLICKHOUSE_PASSWORD").unwrap_or_default();
    ClickHouseConfig::from_url(&url)
        .expect("ZEAL_TEST_CLICKHOUSE_URL is a valid URL")
        .with_credentials(&user, &password)
}

/// A ClickHouse database no other test has used (`<prefix>_<unique>`), created on the test
/// server, and a client bound to it.
pub async fn fresh_database(prefix: &str) -> zeal_connectors::clickhouse::Warehouse {
    fresh_database_url(prefix).await.1
}

/// [`fresh_database`], with the URL a `zeal … --clickhouse URL` flag takes for it.
pub async fn fresh_database_url(prefix: &str) -> (String, zeal_connectors::clickhouse::Warehouse) {
    use zeal_connectors::clickhouse::Warehouse;
    let admin = Warehouse::connect(&clickhouse())
        .await
        .expect("the test ClickHouse answers");
    let db = unique(prefix);
    admin
        .execute(&format!("CREATE DATABASE {db}"))
        .await
        .expect("CREATE DATABASE");
    let url = format!(
        "{}/{db}",
        required("ZEAL_TEST_CLICKHOUSE_URL").trim_end_matches('/')
    );
    let mut ch = clickhouse();
    ch.database = db;
    let warehouse = Warehouse::connect(&ch)
        .await
        .expect("the new database answers");
    (url, warehouse)
}

/// The read-only user's credentials (`ZEAL_TEST_CLICKHOUSE_READER_USER` / `_PASSWORD`).
pub fn clickhouse_reader() -> (String, String) {
    (
        required("ZEAL_TEST_CLICKHOUSE_READER_USER"),
        std::env::var("ZEAL_TEST_CLICKHOUSE_READER_PASSWORD").unwrap_or_default(),
    )
}

/// A name no other test or earlier run has used: `<prefix>_<pid>_<millis>_<n>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    format!(
        "{prefix}_{}_{millis}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every message of `topic` on the test broker, in partition order (a fresh reader each call).
pub async fn read_topic(kafka: &KafkaConfig, topic: &str) -> Vec<zeal_connectors::kafka::Record> {
    zeal_connectors::kafka::Replay::start(kafka, &unique("zt-read"), &[topic], 0, i64::MAX)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}
