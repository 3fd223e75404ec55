//! Reading what an audit covers: the round log and the bundles topic between two log times
//! ([`LogWindow`]), each partition sought by time and stopped at the window's end (plus its
//! grace), so auditing a day reads that day's messages, not the retained log.

use super::audit::LogWindow;
use crate::ServiceError;
use zeal_connectors::kafka::{KafkaConfig, Record, Replay};

/// The messages of a window, and how many were read to get them.
#[derive(Debug, Default)]
pub struct WindowMessages {
    /// The round log's messages (partition order).
    pub log: Vec<Record>,
    /// The bundles topic's messages (partition order).
    pub parts: Vec<Record>,
    /// Messages read from the broker (both topics).
    pub read: u64,
}

/// Reads the round log `rounds` and the bundles topic `bundles` over `window` (to its end plus
/// grace), as the never-committing group `group`. `progress(read, total)` is called as messages
/// arrive (`total`: what the window holds when the read began).
pub async fn read_window(
    kafka: &KafkaConfig,
    group: &str,
    rounds: &str,
    bundles: &str,
    window: &LogWindow,
    mut progress: impl FnMut(u64, u64),
) -> Result<WindowMessages, ServiceError> {
    let until = window.read_until();
    let mut log = Replay::start(kafka, group, &[rounds], window.from_ms, until).await?;
    let mut parts = Replay::start(kafka, group, &[bundles], window.from_ms, until).await?;
    let total = log.progress().total + parts.progress().total;
    let mut out = WindowMessages::default();
    progress(0, total);
    while let Some(r) = log.next().await? {
        out.log.push(r);
        progress(log.progress().read, total);
    }
    let before = log.progress().read;
    while let Some(r) = parts.next().await? {
        out.parts.push(r);
        progress(before + parts.progress().read, total);
    }
    out.read = before + parts.progress().read;
    progress(out.read, total);
    Ok(out)
}
