//! The utility's own measurements on the wire, signed: its feeder meters' readings and its
//! meters' billing-register deltas, each signed by the utility's metering key (Ed25519) over a
//! transcript of every field but the signature, bound to the message's kind.
//!
//! What this stops: anyone who can write to the feeder or billing topic (a household's gateway,
//! the aggregator, a compromised job) forging a feeder reading that hides a theft (a lower
//! reading) or frames a region (a higher one), or billing registers that clear or flag a region.
//! Checked by `verify_*` before anything is counted; a refusal is dead-lettered by the job.

use zeal_protocol::ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeal_protocol::v2::encoding::hash_fields;
use zeal_schemas::grid::{BillingRegister, FeederReading};

/// The intervals a feeder reading may cover, seconds: the private totals' 15 minutes.
pub const INTERVAL_SECONDS: i32 = 900;

/// Why a feeder reading or billing register is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The signature does not verify under the utility's metering key.
    #[error("the signature does not verify under the utility's metering key")]
    BadSignature,
    /// A field is out of its range; the text says which.
    #[error("{0}")]
    Invalid(String),
}

/// What the metering key signs of a feeder reading.
pub fn feeder_signing_bytes(r: &FeederReading) -> [u8; 32] {
    hash_fields(&[
        b"zebra-zeal/grid/feeder-reading",
        r.feeder_id.as_bytes(),
        r.region.as_bytes(),
        &r.interval_start.to_be_bytes(),
        &r.interval_seconds.to_be_bytes(),
        &r.energy_wh.to_be_bytes(),
    ])
    .0
}

/// What the metering key signs of a billing register.
pub fn billing_signing_bytes(b: &BillingRegister) -> [u8; 32] {
    hash_fields(&[
        b"zebra-zeal/grid/billing-register",
        b.meter_id.as_bytes(),
        b.region.as_bytes(),
        &b.period_start.to_be_bytes(),
        &b.period_end.to_be_bytes(),
        &b.import_wh.to_be_bytes(),
        &b.export_wh.to_be_bytes(),
    ])
    .0
}

/// Signs a feeder reading with the utility's metering key.
pub fn sign_feeder(key: &SigningKey, r: &mut FeederReading) {
    r.signature = key.sign(&feeder_signing_bytes(r)).to_bytes().to_vec();
}

/// Signs a billing register with the utility's metering key.
pub fn sign_billing(key: &SigningKey, b: &mut BillingRegister) {
    b.signature = key.sign(&billing_signing_bytes(b)).to_bytes().to_vec();
}

/// A feeder reading of one 15-minute interval, signed.
pub fn signed_feeder(
    key: &SigningKey,
    feeder_id: &str,
    region: &str,
    interval_start: i64,
    energy_wh: i64,
) -> FeederReading {
    let mut r = FeederReading {
        feeder_id: feeder_id.to_string(),
        region: region.to_string(),
        interval_start,
        interval_seconds: INTERVAL_SECONDS,
        energy_wh,
        signature: vec![],
    };
    sign_feeder(key, &mut r);
    r
}

/// One meter's billing registers over `period`, signed.
pub fn signed_billing(
    key: &SigningKey,
    meter_id: &str,
    region: &str,
    period: (i64, i64),
    (import_wh, export_wh): (i64, i64),
) -> BillingRegister {
    let mut b = BillingRegister {
        meter_id: meter_id.to_string(),
        region: region.to_string(),
        period_start: period.0,
        period_end: period.1,
        import_wh,
        export_wh,
        signature: vec![],
    };
    sign_billing(key, &mut b);
    b
}

fn check_signature(key: &VerifyingKey, bytes: &[u8; 32], signature: &[u8]) -> Result<(), Refused> {
    let sig = Signature::from_slice(signature).map_err(|_| Refused::BadSignature)?;
    key.verify_strict(bytes, &sig)
        .map_err(|_| Refused::BadSignature)
}

/// A feeder reading signed by `key`, of one 15-minute interval that starts on the quarter hour,
/// naming a feeder and a region.
pub fn verify_feeder(key: &VerifyingKey, r: &FeederReading) -> Result<(), Refused> {
    check_signature(key, &feeder_signing_bytes(r), &r.signature)?;
    if r.interval_seconds != INTERVAL_SECONDS
        || r.interval_start
            .rem_euclid(i64::from(INTERVAL_SECONDS) * 1000)
            != 0
    {
        return Err(Refused::Invalid(format!(
            "a feeder reading covers one 900 s interval on the quarter hour, not {} s from {}",
            r.interval_seconds, r.interval_start
        )));
    }
    if r.region.is_empty() || r.feeder_id.is_empty() {
        return Err(Refused::Invalid("empty region or feeder id".into()));
    }
    Ok(())
}

/// A billing register signed by `key`, over a non-empty period of whole 15-minute intervals,
/// with non-negative deltas (registers only count up).
pub fn verify_billing(key: &VerifyingKey, b: &BillingRegister) -> Result<(), Refused> {
    check_signature(key, &billing_signing_bytes(b), &b.signature)?;
    let q = i64::from(INTERVAL_SECONDS) * 1000;
    if b.period_end <= b.period_start
        || b.period_start.rem_euclid(q) != 0
        || b.period_end.rem_euclid(q) != 0
    {
        return Err(Refused::Invalid(format!(
            "a billing period is whole 15-minute intervals, not {} .. {}",
            b.period_start, b.period_end
        )));
    }
    if b.import_wh < 0 || b.export_wh < 0 {
        return Err(Refused::Invalid(format!(
            "register deltas only count up, not {} / {} Wh",
            b.import_wh, b.export_wh
        )));
    }
    if b.region.is_empty() || b.meter_id.is_empty() {
        return Err(Refused::Invalid("empty region or meter id".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utility() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn reading() -> FeederReading {
        let mut r = FeederReading {
            feeder_id: "TR-1".into(),
            region: "NL-A".into(),
            interval_start: 1_593_561_600_000,
            interval_seconds: 900,
            energy_wh: 5_000,
            signature: vec![],
        };
        sign_feeder(&utility(), &mut r);
        r
    }

    /// A gateway or the aggregator lowering the feeder's reading to hide a theft, or moving it
    /// to another region: refused, however it is signed unless by the utility.
    #[test]
    fn a_feeder_reading_changed_or_signed_by_another_key_is_refused() {
        let key = utility().verifying_key();
        assert_eq!(verify_feeder(&key, &reading()), Ok(()));
        let lowered = FeederReading {
            energy_wh: 3_000,
            ..reading()
        };
        assert_eq!(verify_feeder(&key, &lowered), Err(Refused::BadSignature));
        let moved = FeederReading {
            region: "NL-B".into(),
            ..reading()
        };
        assert_eq!(verify_feeder(&key, &moved), Err(Refused::BadSignature));
        let mut forged = FeederReading {
            energy_wh: 3_000,
            ..reading()
        };
        sign_feeder(&SigningKey::from_bytes(&[8; 32]), &mut forged);
        assert_eq!(verify_feeder(&key, &forged), Err(Refused::BadSignature));
        let mut odd = FeederReading {
            interval_start: 1_593_561_600_000 + 60_000,
            ..reading()
        };
        sign_feeder(&utility(), &mut odd);
        assert!(matches!(
            verify_feeder(&key, &odd),
            Err(Refused::Invalid(_))
        ));
    }

    /// A billing register lowered (clearing a region) or a feeder signature replayed as a
    /// billing register: refused.
    #[test]
    fn a_billing_register_changed_or_with_a_bad_period_is_refused() {
        let key = utility().verifying_key();
        let mut b = BillingRegister {
            meter_id: "m-1".into(),
            region: "NL-A".into(),
            period_start: 1_593_561_600_000,
            period_end: 1_593_561_600_000 + 7 * 86_400_000,
            import_wh: 40_000,
            export_wh: 9_000,
            signature: vec![],
        };
        sign_billing(&utility(), &mut b);
        assert_eq!(verify_billing(&key, &b), Ok(()));
        let lowered = BillingRegister {
            import_wh: 28_000,
            ..b.clone()
        };
        assert_eq!(verify_billing(&key, &lowered), Err(Refused::BadSignature));
        let replayed = BillingRegister {
            signature: reading().signature,
            ..b.clone()
        };
        assert_eq!(verify_billing(&key, &replayed), Err(Refused::BadSignature));
        let mut empty = BillingRegister {
            period_end: b.period_start,
            ..b.clone()
        };
        sign_billing(&utility(), &mut empty);
        assert!(matches!(
            verify_billing(&key, &empty),
            Err(Refused::Invalid(_))
        ));
        let mut negative = BillingRegister { import_wh: -1, ..b };
        sign_billing(&utility(), &mut negative);
        assert!(matches!(
            verify_billing(&key, &negative),
            Err(Refused::Invalid(_))
        ));
    }
}
