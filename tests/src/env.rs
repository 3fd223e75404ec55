//! One deployment of the end-to-end tests: its own topic namespace on the test broker and its
//! own ClickHouse database, with helpers to read topics and
//! metrics endpoints back.

use crate::{kafka, unique};
use zeal_connectors::clickhouse::Warehouse;
use zeal_connectors::kafka::{KafkaConfig, Record, TopicNames, ensure_topics};

/// A deployment's broker, topics, database and shutdown signal.
pub struct Env {
    pub kafka: KafkaConfig,
    pub topics: TopicNames,
    pub warehouse: Warehouse,
    pub stop_tx: tokio::sync::watch::Sender<bool>,
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl Env {
    /// Fresh topics (3 partitions) and a fresh database.
    pub async fn new() -> Env {
        let kafka = kafka();
        let topics = TopicNames::with_prefix(&format!("{}.", unique("zt")));
        ensure_topics(&kafka, &topics.specs(3, 1)).await.unwrap();
        let warehouse = crate::fresh_database("zt_env").await;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        Env {
            kafka,
            topics,
            warehouse,
            stop_tx,
            stop,
        }
    }

    /// The environment as a deployment (the services' settings with their defaults).
    pub fn deployment(&self) -> zeal_services::deployment::Deployment {
        zeal_services::deployment::Deployment::new(self.kafka.clone(), self.topics.clone())
    }

    /// Every message of `topic`, in partition order.
    pub async fn read(&self, topic: &str) -> Vec<Record> {
        crate::read_topic(&self.kafka, topic).await
    }

    /// Stops whatever runs on [`Env::stop`].
    pub async fn finish(self) {
        self.stop_tx.send(true).unwrap();
    }
}

/// GETs `path` from an HTTP server on loopback (metrics endpoints) and returns the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let path = path.to_string();
    let (head, body) = tokio::task::spawn_blocking(move || http_response(addr, &path))
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body
}

/// GETs `path` from an HTTP server on loopback: the response's head and body, or the error of
/// a server that is not (or no longer) answering.
pub fn http_response(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {raw:?}")))?;
    Ok((head.to_string(), body.to_string()))
}

/// Sends SIG`name` (`KILL`, `TERM`, `STOP`, `CONT`, …) to process `pid`; panics when `kill`
/// fails (no such process).
pub fn signal(pid: &str, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// The value of one sample line (`name{labels} value`) in a Prometheus exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
