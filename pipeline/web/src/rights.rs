//! Households' data rights as messages: their consent decisions (`zeal.consent.v1`) and their
//! erasures (`zeal.erasure.v1`), signed with the consent app's key. [`erase`] is the whole
//! erasure — withdraw, delete, record — for the app's `/erase` and for `zeal erase` (a request
//! that reached the utility another way, e.g. from a household that moved away).

use crate::WebError;
use crate::session;
use crate::store::Store;
use std::sync::Arc;
use zeal_connectors::kafka::KafkaError;
use zeal_schemas::consent::SCOPE_READINGS;

/// The consent topic and the key this app signs households' decisions with (gateways trust its
/// public key: `zeal share --consent-app`).
#[derive(Clone)]
pub struct ConsentSink {
    pub producer: Arc<zeal_connectors::kafka::KeyedProducer>,
    pub topic: String,
    /// Where the records of erasures go (`zeal.erasure.v1`).
    pub erasure_topic: String,
    pub key: ed25519_dalek::SigningKey,
}

impl ConsentSink {
    /// Signs and publishes one decision of `household` about `scope` (a grant carries its
    /// pairing code); returns once the broker acknowledged it.
    pub async fn publish(
        &self,
        household: &str,
        region: &str,
        scope: &str,
        granted: bool,
        code: &str,
    ) -> Result<(), KafkaError> {
        let mut e = zeal_schemas::consent::ConsentEvent {
            household_id: household.to_string(),
            region: region.to_string(),
            scope: scope.to_string(),
            granted,
            decided_at: zeal_connectors::now_ms(),
            event_id: session::random_hex()[..32].to_string(),
            pairing_code: code.to_string(),
            source: "energenies-web".to_string(),
            signature: Vec::new(),
        };
        zeal_protocol::consent::sign(&self.key, &mut e);
        self.producer
            .send_message(&self.topic, household.as_bytes(), &e)
            .await
            .map(|_| ())
    }

    /// Signs and publishes the record that `household`'s rows left `tables` (what and when, no
    /// data); returns once the broker acknowledged it.
    async fn publish_erasure(
        &self,
        household: &str,
        region: &str,
        requested_at: i64,
        tables: &[(&str, u64)],
    ) -> Result<(), KafkaError> {
        let mut e = zeal_schemas::consent::ErasureEvent {
            household_id: household.to_string(),
            region: region.to_string(),
            requested_at,
            erased_at: zeal_connectors::now_ms(),
            tables: tables
                .iter()
                .map(|(t, n)| zeal_schemas::consent::ErasedTable {
                    table: t.to_string(),
                    rows: i64::try_from(*n).unwrap_or(i64::MAX),
                })
                .collect(),
            event_id: session::random_hex()[..32].to_string(),
            source: "energenies-web".to_string(),
            signature: Vec::new(),
        };
        zeal_protocol::erasure::sign(&self.key, &mut e);
        self.producer
            .send_message(&self.erasure_topic, household.as_bytes(), &e)
            .await
            .map(|_| ())
    }
}

/// Why an erasure stopped (each step is idempotent: run it again).
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("the withdrawal could not be published: {0}")]
    Withdraw(#[source] KafkaError),
    #[error("the rows could not all be deleted: {0}")]
    Delete(#[source] WebError),
    #[error("the rows are deleted, but the record could not be published: {0}")]
    Record(#[source] KafkaError),
}

/// Erases `household`: its gateway is told to stop sharing first (a signed withdrawal), then its
/// rows leave every household table, then the signed record of what left is published (without
/// `sink`, the app is not connected to the gateways: only the rows are deleted). Returns each
/// table with the rows it lost.
pub async fn erase(
    store: &Store,
    sink: Option<&ConsentSink>,
    household: &str,
    region: &str,
) -> Result<Vec<(&'static str, u64)>, EraseError> {
    let requested_at = zeal_connectors::now_ms();
    if let Some(sink) = sink {
        sink.publish(household, region, SCOPE_READINGS, false, "")
            .await
            .map_err(EraseError::Withdraw)?;
    }
    let tables = store.erase(household).await.map_err(EraseError::Delete)?;
    if let Some(sink) = sink {
        sink.publish_erasure(household, region, requested_at, &tables)
            .await
            .map_err(EraseError::Record)?;
    }
    tracing::info!(household, tables = ?tables, "household erased");
    Ok(tables)
}

/// Deletes `household`'s rows once more after `after`: rows a job wrote between its last look
/// at the erasure log and the record's arrival. Returns how many rows it found.
pub async fn sweep(
    store: &Store,
    household: &str,
    after: std::time::Duration,
) -> Result<u64, WebError> {
    tokio::time::sleep(after).await;
    let swept = store.erase(household).await?;
    let rows = swept.iter().map(|(_, n)| n).sum();
    if rows > 0 {
        tracing::warn!(household, tables = ?swept, "rows written during an erasure were swept");
    }
    Ok(rows)
}
