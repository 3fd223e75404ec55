//! The jobs' view of `zeal.erasure.v1`: which households were erased and when, folded with
//! `zeal_protocol::erasure` (the rule lives there; this is the I/O). A job catches up before it
//! judges readings or writes rows, so a household erased before a replay stays erased in it.
//! Refused events (not signed by a trusted app) go to the dead-letter topic with the reason.

use crate::ServiceError;
use crate::dlq;
use crate::log_tail::LogTail;
use crate::metrics::Metrics;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer};
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_protocol::erasure::Erasures;
use zeal_schemas::RejectReason;
use zeal_schemas::consent::ErasureEvent;

/// The erasures applied so far.
pub struct ErasureLog {
    tail: LogTail,
    apps: Vec<VerifyingKey>,
    erasures: Erasures,
    /// Who dead-letters refused events (`rejected_by`).
    role: String,
}

impl ErasureLog {
    /// Follows `topic`, trusting erasures signed by `apps` (every erasure when empty: see
    /// [`Erasures::apply`]).
    pub fn new(
        config: &KafkaConfig,
        topic: &str,
        apps: Vec<VerifyingKey>,
        role: &str,
    ) -> Result<Self, ServiceError> {
        if apps.is_empty() {
            tracing::warn!(
                topic,
                "no consent app key given: every erasure on the topic is honoured unchecked"
            );
        }
        Ok(ErasureLog {
            tail: LogTail::new(config, topic, &format!("zeal-erasure-{role}"))?,
            apps,
            erasures: Erasures::default(),
            role: role.to_string(),
        })
    }

    /// Applies every event up to the log's end as of now.
    pub async fn catch_up(
        &mut self,
        producer: &KeyedProducer,
        dlq_topic: &str,
        metrics: &Metrics,
    ) -> Result<&Erasures, ServiceError> {
        for record in self.tail.until_end().await? {
            let now = crate::now_ms();
            let by = format!("{}-erasure", self.role);
            let event: ErasureEvent = match zeal_schemas::decode(&record.payload) {
                Ok(e) => e,
                Err(e) => {
                    let letter = dlq::undecodable(&record, &e, &by, now);
                    dlq::publish(producer, dlq_topic, &letter, metrics).await?;
                    continue;
                }
            };
            if let Err(why) = self.erasures.apply(&event, &self.apps) {
                let letter = dlq::letter(
                    &record,
                    RejectReason::BadSignature,
                    format!("erasure refused: {why}"),
                    Some(event.household_id.clone()),
                    Some(event.region.clone()),
                    &by,
                    now,
                );
                dlq::publish(producer, dlq_topic, &letter, metrics).await?;
            }
        }
        Ok(&self.erasures)
    }
}
