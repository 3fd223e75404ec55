//! Opted-in readings (DESIGN §3, the readings topic) under v2 enrolment: a household that opts
//! in shares its 15-minute readings in the clear with the jobs that serve it (disaggregation,
//! the game), and each reading is signed by the meter's certified identity key — the key its
//! authority certificate names as of the reading's interval. Only the meter's own gateway can
//! speak for it: a self-chosen key, a meter id taken over, a retired or moved meter are refused
//! (v1 checked readings against its open enrolment, where any gateway could re-key a meter).

use super::encoding::hash_fields;
use super::enrolment::{Registry, Status};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeal_schemas::HouseholdReading;

/// Why a reading is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingRefused {
    /// No certificate of the meter covers the reading's interval.
    #[error("{0} has no certificate covering the reading's interval")]
    NotCertified(String),
    /// The meter's certificate as of the interval retires it.
    #[error("{0} is retired as of the reading's interval")]
    Retired(String),
    /// The reading names another region than the meter's certificate.
    #[error("{meter} is certified in {certified}, not {claimed}")]
    WrongRegion {
        /// The meter.
        meter: String,
        /// Its certified region.
        certified: String,
        /// The region the reading names.
        claimed: String,
    },
    /// The signature does not verify under the certified identity key.
    #[error("the reading's signature does not verify under {0}'s certified identity key")]
    BadSignature(String),
}

/// What the meter's identity key signs: every field of the reading but the signature.
pub fn signing_bytes(r: &HouseholdReading) -> [u8; 32] {
    let generation = match r.generation_wh {
        Some(g) => [&[1u8][..], &g.to_be_bytes()].concat(),
        None => vec![0u8],
    };
    hash_fields(&[
        b"zebra-zeal/v2/reading",
        r.household_id.as_bytes(),
        r.region.as_bytes(),
        &r.interval_start.to_be_bytes(),
        &r.interval_seconds.to_be_bytes(),
        &r.import_wh.to_be_bytes(),
        &r.export_wh.to_be_bytes(),
        &generation,
    ])
    .0
}

/// Signs a reading with the meter's identity key (its gateway).
pub fn sign(identity: &SigningKey, r: &mut HouseholdReading) {
    r.signature = identity.sign(&signing_bytes(r)).to_bytes().to_vec();
}

/// Checks a reading against the registry: the meter's certificate as of the interval's start
/// (everything the registry holds), active, in the reading's region, and the signature under its
/// identity key (strict Ed25519).
pub fn verify(registry: &Registry, r: &HouseholdReading) -> Result<(), ReadingRefused> {
    let meter = &r.household_id;
    let at = r.interval_start.div_euclid(1000);
    let Some(cert) = registry.certificate_at(meter, at, registry.len()) else {
        return Err(ReadingRefused::NotCertified(meter.clone()));
    };
    if cert.status == Status::Retired {
        return Err(ReadingRefused::Retired(meter.clone()));
    }
    if cert.region != r.region {
        return Err(ReadingRefused::WrongRegion {
            meter: meter.clone(),
            certified: cert.region.clone(),
            claimed: r.region.clone(),
        });
    }
    let key = VerifyingKey::from_bytes(&cert.identity)
        .map_err(|_| ReadingRefused::NotCertified(meter.clone()))?;
    let signature = Signature::from_slice(&r.signature)
        .map_err(|_| ReadingRefused::BadSignature(meter.clone()))?;
    key.verify_strict(&signing_bytes(r), &signature)
        .map_err(|_| ReadingRefused::BadSignature(meter.clone()))
}
