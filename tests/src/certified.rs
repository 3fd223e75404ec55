//! Households certified by a test enrolment authority on `zeal.registry.v2`: what the readings
//! jobs check opted-in readings against.

use std::collections::BTreeMap;
use zeal_connectors::kafka::{KafkaConfig, KeyedProducer, TopicNames};
use zeal_protocol::ed25519_dalek::{SigningKey, VerifyingKey};
use zeal_protocol::v2::enrolment::{Certificate, Status};
use zeal_schemas::HouseholdReading;
use zeal_services::v2::registry::publish_certificate;

/// A test authority and the identity keys it certified.
pub struct Certified {
    pub authority: SigningKey,
    /// Identity key by meter id.
    pub identities: BTreeMap<String, SigningKey>,
}

impl Certified {
    /// Certifies `(meter, region)` pairs from the start of time, with identity keys derived
    /// from `seed`, and posts the certificates on the registry topic.
    pub async fn post(
        kafka: &KafkaConfig,
        topics: &TopicNames,
        households: &[(String, String)],
        seed: u8,
    ) -> Certified {
        let authority = SigningKey::from_bytes(&[seed; 32]);
        let producer = KeyedProducer::new(kafka).unwrap();
        let mut identities = BTreeMap::new();
        for (i, (meter, region)) in households.iter().enumerate() {
            let mut bytes = [seed.wrapping_add(1); 32];
            bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let identity = SigningKey::from_bytes(&bytes);
            let cert = Certificate::issue(
                &authority,
                meter,
                region,
                &identity.verifying_key(),
                0,
                Status::Active,
            );
            publish_certificate(&producer, &topics.registry_v2, &cert)
                .await
                .unwrap();
            identities.insert(meter.clone(), identity);
        }
        Certified {
            authority,
            identities,
        }
    }

    /// The authority's public key (what the jobs are given).
    pub fn authority_key(&self) -> VerifyingKey {
        self.authority.verifying_key()
    }

    /// Signs `r` with its meter's certified identity key.
    pub fn sign(&self, r: &mut HouseholdReading) {
        zeal_protocol::v2::readings::sign(&self.identities[&r.household_id], r);
    }
}
