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

/// Erases `household` from `store`'s household tables and posts the record of it on `topic`,
/// signed with `app`, as the web app does (`/erase`); returns what each table lost.
pub async fn erase_and_record(
    store: &zeal_tables::Store,
    kafka: &KafkaConfig,
    topic: &str,
    household: &str,
    region: &str,
    app: &zeal_protocol::ed25519_dalek::SigningKey,
) -> Vec<(&'static str, u64)> {
    let gone = zeal_tables::erase_household(store, household)
        .await
        .expect("the household's rows are erased");
    post_erasure_record(kafka, topic, household, region, &gone, app).await;
    gone
}

/// Posts a record that `household`'s rows left `gone`'s tables (now), signed with `key`.
pub async fn post_erasure_record(
    kafka: &KafkaConfig,
    topic: &str,
    household: &str,
    region: &str,
    gone: &[(&str, u64)],
    key: &zeal_protocol::ed25519_dalek::SigningKey,
) {
    let now = zeal_connectors::now_ms();
    let mut record = zeal_schemas::consent::ErasureEvent {
        household_id: household.to_string(),
        region: region.to_string(),
        requested_at: now,
        erased_at: now,
        tables: gone
            .iter()
            .map(|(t, n)| zeal_schemas::consent::ErasedTable {
                table: t.to_string(),
                rows: *n as i64,
            })
            .collect(),
        event_id: unique("erasure"),
        source: "zeal-tests".into(),
        signature: vec![],
    };
    zeal_protocol::erasure::sign(key, &mut record);
    zeal_connectors::kafka::KeyedProducer::new(kafka)
        .expect("a producer")
        .send_message(topic, household.as_bytes(), &record)
        .await
        .expect("the record is posted");
}
