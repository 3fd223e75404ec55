//! A gateway's view of `zeal.consent.v1`: the consent state of the households it serves, folded
//! from the log with `zeal_protocol::consent` (the rules live there; this is the I/O).
//!
//! [`ConsentLog::catch_up`] reads the log up to its end *as of the call* (the partition's high
//! watermark, fetched first), so a decision the broker acknowledged before a reading arrived is
//! applied before that reading is judged: a withdrawal takes effect for every reading after it.
//! Events for other households are other gateways' business and are skipped; refused events
//! for a served household go to the dead-letter topic with the reason.

use crate::ServiceError;
use crate::dlq;
use crate::log_tail::LogTail;
use crate::metrics::Metrics;
use std::collections::BTreeMap;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer};
use zeal_protocol::consent::{Consent, ConsentRefused, Decision};
use zeal_protocol::ed25519_dalek::{SigningKey, VerifyingKey};
use zeal_schemas::RejectReason;
use zeal_schemas::consent::ConsentEvent;

/// The consent of the households one gateway serves.
pub struct ConsentLog {
    tail: LogTail,
    apps: Vec<VerifyingKey>,
    households: BTreeMap<String, (SigningKey, Consent)>,
}

/// What one [`ConsentLog::catch_up`] did.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// Accepted decisions, in log order.
    pub decisions: Vec<(String, Decision)>,
    /// Refused events of served households (each dead-lettered).
    pub refused: Vec<(String, ConsentRefused)>,
}

impl ConsentLog {
    /// Follows `topic` (partition 0, from the beginning) for `households` (meter id → identity
    /// key), trusting consent events signed by `apps`. Nothing is read until
    /// [`Self::catch_up`].
    pub fn new(
        config: &KafkaConfig,
        topic: &str,
        households: BTreeMap<String, SigningKey>,
        apps: Vec<VerifyingKey>,
    ) -> Result<Self, ServiceError> {
        Ok(ConsentLog {
            tail: LogTail::new(config, topic, "zeal-consent")?,
            apps,
            households: households
                .into_iter()
                .map(|(m, k)| (m, (k, Consent::default())))
                .collect(),
        })
    }

    /// The consent of `household` as applied so far (`None`: not served here).
    pub fn consent(&self, household: &str) -> Option<&Consent> {
        self.households.get(household).map(|(_, c)| c)
    }

    /// The pairing code `household`'s next grant of `scope` needs (`None`: not served here).
    pub fn pairing_code(&self, household: &str, scope: &str) -> Option<String> {
        self.households
            .get(household)
            .map(|(key, c)| c.code_for(key, household, scope))
    }

    /// Applies every event up to the log's end as of now; refused events of served households
    /// are dead-lettered on `dlq_topic`.
    pub async fn catch_up(
        &mut self,
        producer: &KeyedProducer,
        dlq_topic: &str,
        metrics: &Metrics,
    ) -> Result<CatchUp, ServiceError> {
        let mut done = CatchUp::default();
        for record in self.tail.until_end().await? {
            let now = crate::now_ms();
            let event: ConsentEvent = match zeal_schemas::decode(&record.payload) {
                Ok(e) => e,
                Err(e) => {
                    let letter = dlq::undecodable(&record, &e, "gateway-consent", now);
                    dlq::publish(producer, dlq_topic, &letter, metrics).await?;
                    continue;
                }
            };
            let Some((identity, consent)) = self.households.get_mut(&event.household_id) else {
                continue;
            };
            match consent.apply(&event, &event.household_id, identity, &self.apps, now) {
                Ok(d) => {
                    tracing::info!(household = %event.household_id, decision = ?d, "consent applied");
                    done.decisions.push((event.household_id.clone(), d));
                }
                Err(why) => {
                    let reason = match why {
                        ConsentRefused::Signature => RejectReason::BadSignature,
                        _ => RejectReason::Other,
                    };
                    let letter = dlq::letter(
                        &record,
                        reason,
                        format!("consent refused: {why}"),
                        Some(event.household_id.clone()),
                        Some(event.region.clone()),
                        "gateway-consent",
                        now,
                    );
                    dlq::publish(producer, dlq_topic, &letter, metrics).await?;
                    done.refused.push((event.household_id.clone(), why));
                }
            }
        }
        Ok(done)
    }
}
