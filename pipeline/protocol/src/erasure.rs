//! Erasure (pure): the signed record that a household's data was erased, and what the
//! downstream jobs do with it (README "Erasure").
//!
//! Erasing deletes the household's rows from the tables, but its readings stay on the readings
//! topic until retention removes them, and the jobs recompute from that topic: without this
//! rule a replay would write the erased rows again. The jobs fold `zeal.erasure.v1` into
//! [`Erasures`] and drop every reading of an erased household whose interval started before
//! its erasure ([`Erasures::erased`]). Readings after it (the household joined again with a
//! fresh code from its gateway) count as new.
//!
//! An erasure event is signed by the consent app that erased (the jobs trust the keys they are
//! given). A forged one could only hide a household's data, never reveal it, but it is refused
//! all the same where the app's key is known.

use crate::consent::signed_by_any;
use crate::v2::encoding::hash_fields;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::collections::BTreeMap;
use zeal_schemas::consent::ErasureEvent;

/// Why an erasure event was not applied (each goes to the dead-letter topic with this reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureRefused {
    #[error("not signed by a consent app this job trusts")]
    Signature,
}

/// What the consent app's key signs: every field but the signature.
pub fn signing_bytes(e: &ErasureEvent) -> [u8; 32] {
    let tables: Vec<Vec<u8>> = e
        .tables
        .iter()
        .flat_map(|t| [t.table.as_bytes().to_vec(), t.rows.to_be_bytes().to_vec()])
        .collect();
    let count = (e.tables.len() as u64).to_be_bytes();
    let mut fields: Vec<&[u8]> = vec![
        b"zebra-zeal/erasure/v1",
        e.household_id.as_bytes(),
        e.region.as_bytes(),
    ];
    let (requested, erased) = (e.requested_at.to_be_bytes(), e.erased_at.to_be_bytes());
    fields.extend([&requested[..], &erased[..], &count[..]]);
    fields.extend(tables.iter().map(Vec::as_slice));
    fields.extend([e.event_id.as_bytes(), e.source.as_bytes()]);
    hash_fields(&fields).0
}

/// Signs `e` with the consent app's key.
pub fn sign(app: &SigningKey, e: &mut ErasureEvent) {
    e.signature = app.sign(&signing_bytes(e)).to_bytes().to_vec();
}

/// Whether `e` carries a valid signature by one of `apps`.
pub fn signed_by(e: &ErasureEvent, apps: &[VerifyingKey]) -> bool {
    signed_by_any(&signing_bytes(e), &e.signature, apps)
}

/// The households erased so far and when (a fold of `zeal.erasure.v1` in log order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasures {
    /// Household → the latest erasure's `erased_at` (ms).
    erased_at: BTreeMap<String, i64>,
}

impl Erasures {
    /// Applies one event: signed by one of `apps`, or by anyone when `apps` is empty (a job
    /// not told the app's key honours every erasure: hiding data is the safe mistake).
    pub fn apply(&mut self, e: &ErasureEvent, apps: &[VerifyingKey]) -> Result<(), ErasureRefused> {
        if !apps.is_empty() && !signed_by(e, apps) {
            return Err(ErasureRefused::Signature);
        }
        let at = self
            .erased_at
            .entry(e.household_id.clone())
            .or_insert(i64::MIN);
        *at = (*at).max(e.erased_at);
        Ok(())
    }

    /// Whether a reading of `household` for the interval starting at `interval_start` (ms) is
    /// erased: it started before the household's latest erasure.
    pub fn erased(&self, household: &str, interval_start: i64) -> bool {
        self.erased_at
            .get(household)
            .is_some_and(|at| interval_start < *at)
    }

    /// Households erased so far.
    pub fn len(&self) -> usize {
        self.erased_at.len()
    }

    /// Whether no household was erased.
    pub fn is_empty(&self) -> bool {
        self.erased_at.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeal_schemas::consent::ErasedTable;

    const T: i64 = 1_800_000_000_000;

    fn app() -> SigningKey {
        SigningKey::from_bytes(&[2; 32])
    }

    fn event(household: &str, at: i64) -> ErasureEvent {
        let mut e = ErasureEvent {
            household_id: household.into(),
            region: "NL-UT-01".into(),
            requested_at: at - 1_000,
            erased_at: at,
            tables: vec![ErasedTable {
                table: "household_daily".into(),
                rows: 31,
            }],
            event_id: format!("erasure-{household}-{at}"),
            source: "energenies-web".into(),
            signature: vec![],
        };
        sign(&app(), &mut e);
        e
    }

    #[test]
    fn an_erased_households_past_stays_out_and_its_new_readings_count() {
        let mut e = Erasures::default();
        e.apply(&event("h1", T), &[app().verifying_key()]).unwrap();
        assert!(
            e.erased("h1", T - 900_000),
            "a reading from before the erasure"
        );
        assert!(!e.erased("h1", T), "a reading after it (joined again)");
        assert!(!e.erased("h2", T - 900_000), "another household");
        // An older erasure replayed later does not move the line back.
        e.apply(&event("h1", T - 86_400_000), &[app().verifying_key()])
            .unwrap();
        assert!(e.erased("h1", T - 1));
        assert_eq!(e.len(), 1);
    }

    /// Someone who can write to the topic but holds no app key tries to hide a household's
    /// data (or alters a genuine record's counts): refused, nothing changes.
    #[test]
    fn a_forged_or_altered_erasure_is_refused() {
        let apps = [app().verifying_key()];
        let mut e = Erasures::default();
        let mut forged = event("h1", T);
        sign(&SigningKey::from_bytes(&[9; 32]), &mut forged);
        assert_eq!(e.apply(&forged, &apps), Err(ErasureRefused::Signature));
        let mut altered = event("h1", T);
        altered.tables[0].rows = 0;
        assert_eq!(e.apply(&altered, &apps), Err(ErasureRefused::Signature));
        let mut moved = event("h1", T);
        moved.erased_at = T + 365 * 86_400_000;
        assert_eq!(e.apply(&moved, &apps), Err(ErasureRefused::Signature));
        let mut unsigned = event("h1", T);
        unsigned.signature.clear();
        assert_eq!(e.apply(&unsigned, &apps), Err(ErasureRefused::Signature));
        assert!(e.is_empty());
        // Without a key to check against, every erasure is honoured.
        e.apply(&forged, &[]).unwrap();
        assert!(e.erased("h1", T - 1));
    }

    #[test]
    fn table_boundaries_are_part_of_what_is_signed() {
        let mut a = event("h1", T);
        a.tables = vec![
            ErasedTable {
                table: "ab".into(),
                rows: 1,
            },
            ErasedTable {
                table: "c".into(),
                rows: 2,
            },
        ];
        let mut b = a.clone();
        b.tables.pop();
        assert_ne!(signing_bytes(&a), signing_bytes(&b));
        let mut c = a.clone();
        c.tables[0].table = "a".into();
        c.tables[1].table = "bc".into();
        assert_ne!(signing_bytes(&a), signing_bytes(&c));
    }
}
