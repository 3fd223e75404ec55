//! The registry as one party sees it: which meters are enrolled in which region, their public
//! keys, and which are quarantined. Built from `zeal.registry.v1` and quarantine events.

use super::Rejection;
use super::crypto::{MeterPublicKeys, verify_message};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use zeal_schemas::{MeterEnrolment, MeterStatus, RejectReason};

/// An enrolled meter's public identity.
#[derive(Debug)]
pub struct EnrolledMeter {
    pub meter_id: String,
    pub region: String,
    pub status: MeterStatus,
    pub keys: MeterPublicKeys,
    /// The enrolment as published (for audits).
    pub enrolment: MeterEnrolment,
}

/// Enrolled meters by id, plus the quarantine list.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    meters: BTreeMap<String, Arc<EnrolledMeter>>,
    quarantined: BTreeSet<String>,
    min_key_bits: u32,
}

impl Directory {
    /// An empty directory that refuses Paillier moduli under `min_key_bits`.
    pub fn new(min_key_bits: u32) -> Self {
        Directory {
            min_key_bits,
            ..Default::default()
        }
    }

    /// Adds or replaces a meter from its registry entry after checking the entry: self-signature
    /// (proof of possession of the signing key), key sizes, a well-formed Paillier key.
    pub fn enrol(&mut self, e: &MeterEnrolment) -> Result<(), Rejection> {
        let reject = |reason, detail: String| {
            Rejection::new(reason, Some(&e.meter_id), Some(&e.region), detail)
        };
        if e.meter_id.is_empty() || e.region.is_empty() {
            return Err(reject(
                RejectReason::Malformed,
                "empty meter id or region".into(),
            ));
        }
        let keys = MeterPublicKeys::from_enrolment(e, self.min_key_bits)
            .map_err(|detail| reject(RejectReason::WeakKey, detail))?;
        if !verify_message(&keys, e) {
            return Err(reject(
                RejectReason::BadSignature,
                "enrolment is not signed by the enrolled signing key".into(),
            ));
        }
        self.meters.insert(
            e.meter_id.clone(),
            Arc::new(EnrolledMeter {
                meter_id: e.meter_id.clone(),
                region: e.region.clone(),
                status: e.status,
                keys,
                enrolment: e.clone(),
            }),
        );
        Ok(())
    }

    /// A meter by id.
    pub fn get(&self, meter_id: &str) -> Option<&Arc<EnrolledMeter>> {
        self.meters.get(meter_id)
    }

    /// Marks a meter as quarantined: it is left out of later rosters.
    pub fn quarantine(&mut self, meter_id: &str) {
        self.quarantined.insert(meter_id.to_string());
    }

    /// Whether a meter is quarantined.
    pub fn is_quarantined(&self, meter_id: &str) -> bool {
        self.quarantined.contains(meter_id)
    }

    /// Active, non-quarantined meters of a region, sorted: the roster of its next round.
    pub fn roster_for(&self, region: &str) -> Vec<String> {
        self.meters
            .values()
            .filter(|m| {
                m.region == region
                    && m.status == MeterStatus::Active
                    && !self.quarantined.contains(&m.meter_id)
            })
            .map(|m| m.meter_id.clone())
            .collect()
    }

    /// Regions with at least one enrolled meter, sorted.
    pub fn regions(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.meters.values().map(|m| m.region.as_str()).collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// Number of enrolled meters.
    pub fn len(&self) -> usize {
        self.meters.len()
    }

    /// Whether no meter is enrolled.
    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }
}
