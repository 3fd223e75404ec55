//! Checks on public data, shared by the aggregator, the gateways and the audit.
//!
//! Every function here is a pure function of published messages and public keys, so an auditor
//! replaying the log reaches exactly the aggregator's verdicts.

use super::crypto::{Ciphertext, SlotLayout, fold, verify_decryption, verify_share};
use super::directory::Directory;
use super::{Rejection, RoundKey};
use std::collections::{BTreeMap, BTreeSet};
use zeal_schemas::{Accusation, Partial, RejectReason, RoundOpen, ShareBundle};

/// The key of the attempt a RoundOpen opens.
pub fn round_key(open: &RoundOpen) -> RoundKey {
    RoundKey {
        region: open.region.clone(),
        interval_start: open.interval_start,
        attempt: open.attempt,
    }
}

/// Values per meter in a round: channels × intervals.
pub fn values_per_meter(open: &RoundOpen) -> usize {
    open.channels.len() * open.intervals.max(0) as usize
}

/// The slot layout of a recipient's plaintexts in this round.
pub fn layout_for(open: &RoundOpen, modulus_bits: u32) -> SlotLayout {
    SlotLayout::new(
        modulus_bits,
        open.value_bits as u32,
        open.roster.len(),
        values_per_meter(open),
    )
}

/// Structural checks of a RoundOpen that every party applies before acting on it.
pub fn check_open(open: &RoundOpen, min_roster: usize) -> Result<(), String> {
    if open.roster.len() < min_roster {
        return Err(format!(
            "roster of {} is below the minimum of {min_roster}",
            open.roster.len()
        ));
    }
    if open.min_roster < min_roster as i32 {
        return Err(format!(
            "round declares min_roster {} below ours ({min_roster})",
            open.min_roster
        ));
    }
    if open.roster.windows(2).any(|w| w[0] >= w[1]) {
        return Err("roster is not sorted and unique".into());
    }
    if !(1..=62).contains(&open.value_bits) {
        return Err(format!("value_bits {} outside 1..=62", open.value_bits));
    }
    if open.channels.is_empty() || open.intervals < 1 || open.attempt < 1 {
        return Err("no channels, no intervals or attempt < 1".into());
    }
    if open.share_deadline > open.partial_deadline {
        return Err("share deadline after partial deadline".into());
    }
    Ok(())
}

/// A share bundle that passed every check, with its ciphertexts parsed, by recipient and index.
#[derive(Debug, Clone)]
pub struct CheckedBundle {
    pub sender: String,
    pub shares: BTreeMap<String, Vec<CheckedShare>>,
}

/// One checked ciphertext with the sender's signature over it.
#[derive(Debug, Clone)]
pub struct CheckedShare {
    pub ciphertext: Ciphertext,
    pub bytes: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Checks a bundle against its round: known sender in the roster, valid bundle signature,
/// exactly one ciphertext per other roster member and plaintext index, each a valid ciphertext
/// for its recipient's key and signed on its own by the sender.
pub fn check_bundle(
    open: &RoundOpen,
    dir: &Directory,
    bundle: &ShareBundle,
) -> Result<CheckedBundle, Rejection> {
    let key = round_key(open);
    let reject = |reason, detail: String| {
        Rejection::new(reason, Some(&bundle.sender), Some(&open.region), detail)
    };
    let Some(sender) = dir.get(&bundle.sender) else {
        return Err(reject(
            RejectReason::UnknownSender,
            format!("{} is not enrolled", bundle.sender),
        ));
    };
    if open.roster.binary_search(&bundle.sender).is_err() {
        return Err(reject(
            RejectReason::NotInRoster,
            format!("{} is not in the roster of {key}", bundle.sender),
        ));
    }
    if !super::crypto::verify_message(&sender.keys, bundle) {
        return Err(reject(
            RejectReason::BadSignature,
            "bundle signature does not verify".into(),
        ));
    }
    let mut expected: BTreeSet<(&str, i32)> = BTreeSet::new();
    let mut layouts = BTreeMap::new();
    for r in open.roster.iter().filter(|r| **r != bundle.sender) {
        let Some(m) = dir.get(r) else {
            return Err(reject(
                RejectReason::UnknownSender,
                format!("roster member {r} is not enrolled"),
            ));
        };
        let layout = layout_for(open, m.keys.modulus_bits());
        for idx in 0..layout.plaintexts() as i32 {
            expected.insert((r.as_str(), idx));
        }
        layouts.insert(r.as_str(), m);
    }
    let mut shares: BTreeMap<String, Vec<CheckedShare>> = BTreeMap::new();
    for s in &bundle.shares {
        if !expected.remove(&(s.recipient.as_str(), s.index)) {
            return Err(reject(
                RejectReason::Malformed,
                format!(
                    "unexpected or repeated share for {} index {}",
                    s.recipient, s.index
                ),
            ));
        }
        let recipient = layouts[s.recipient.as_str()];
        let ciphertext = Ciphertext::parse(&recipient.keys, &s.ciphertext).map_err(|e| {
            reject(
                RejectReason::InvalidCiphertext,
                format!("share for {} index {}: {e}", s.recipient, s.index),
            )
        })?;
        if !verify_share(
            &sender.keys,
            &key,
            &bundle.sender,
            &s.recipient,
            s.index,
            &s.ciphertext,
            &s.signature,
        ) {
            return Err(reject(
                RejectReason::BadSignature,
                format!(
                    "share for {} index {} is not signed by the sender",
                    s.recipient, s.index
                ),
            ));
        }
        let column = shares.entry(s.recipient.clone()).or_default();
        column.push(CheckedShare {
            ciphertext,
            bytes: s.ciphertext.clone(),
            signature: s.signature.clone(),
        });
    }
    if let Some((r, idx)) = expected.first() {
        return Err(reject(
            RejectReason::Malformed,
            format!(
                "{} shares missing, first for {r} index {idx}",
                expected.len()
            ),
        ));
    }
    // Shares were checked in bundle order; index order is what folding needs.
    for (recipient, column) in shares.iter_mut() {
        let order: Vec<i32> = bundle
            .shares
            .iter()
            .filter(|s| &s.recipient == recipient)
            .map(|s| s.index)
            .collect();
        let mut indexed: Vec<(i32, CheckedShare)> =
            order.into_iter().zip(column.drain(..)).collect();
        indexed.sort_by_key(|(i, _)| *i);
        column.extend(indexed.into_iter().map(|(_, s)| s));
    }
    Ok(CheckedBundle {
        sender: bundle.sender.clone(),
        shares,
    })
}

/// Folds a recipient's column: per plaintext index, the product of every sender's ciphertext.
/// `column` holds, per sender, the ciphertexts by index.
pub fn fold_column<'a>(
    keys: &super::crypto::MeterPublicKeys,
    column: impl IntoIterator<Item = &'a [Ciphertext]>,
    plaintexts: usize,
) -> Vec<Ciphertext> {
    let mut per_index: Vec<Vec<&Ciphertext>> = vec![Vec::new(); plaintexts];
    for sender in column {
        for (idx, c) in sender.iter().enumerate() {
            per_index[idx].push(c);
        }
    }
    per_index.iter().map(|cs| fold(keys, cs)).collect()
}

/// What a partial proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartialVerdict {
    /// Correct decryption, column sum in range: the recipient's contribution to the total.
    Valid {
        column: Vec<u64>,
        retained: Vec<u64>,
    },
    /// Correct decryption of an out-of-range column sum: some sender cheated. The accusations
    /// that check out name them; `false_accusations` lists senders wrongly accused.
    OutOfRange {
        slot: usize,
        proven_culprits: Vec<String>,
        false_accusations: Vec<String>,
    },
    /// The partial does not prove a correct decryption, or is malformed: its sender is at fault.
    Invalid(String),
}

/// Verifies a partial against the products the aggregator folded for its sender:
/// `C == (1 + S n) r^n mod n^2` for every index, retained share in range, column sum in range.
/// `shares_to_sender` gives, per sender, the ciphertexts it sent to this partial's sender (by
/// index), to check accusations.
pub fn verify_partial(
    open: &RoundOpen,
    dir: &Directory,
    products: &[Ciphertext],
    partial: &Partial,
    shares_to_sender: &BTreeMap<String, Vec<Ciphertext>>,
) -> PartialVerdict {
    let Some(me) = dir.get(&partial.sender) else {
        return PartialVerdict::Invalid("sender not enrolled".into());
    };
    let layout = layout_for(open, me.keys.modulus_bits());
    let values = values_per_meter(open);
    let bound = 1u64 << open.value_bits;
    if partial.plaintexts.len() != products.len() || partial.randomness.len() != products.len() {
        return PartialVerdict::Invalid(format!(
            "{} plaintexts and {} randomness values for {} products",
            partial.plaintexts.len(),
            partial.randomness.len(),
            products.len()
        ));
    }
    if partial.retained.len() != values {
        return PartialVerdict::Invalid(format!(
            "{} retained values, expected {values}",
            partial.retained.len()
        ));
    }
    if let Some(v) = partial
        .retained
        .iter()
        .find(|v| !(0..bound as i64).contains(*v))
    {
        return PartialVerdict::Invalid(format!(
            "retained value {v} outside 0..2^{}",
            open.value_bits
        ));
    }
    for (idx, c) in products.iter().enumerate() {
        if !verify_decryption(
            &me.keys,
            c,
            &partial.plaintexts[idx],
            &partial.randomness[idx],
        ) {
            return PartialVerdict::Invalid(format!(
                "decryption proof fails for index {idx}: C != (1 + S n) r^n mod n^2"
            ));
        }
    }
    let column_bound = (open.roster.len() as u64 - 1) * bound;
    match layout.unpack_checked(&partial.plaintexts, column_bound) {
        Ok(column) => PartialVerdict::Valid {
            column,
            retained: partial.retained.iter().map(|v| *v as u64).collect(),
        },
        Err(slot) => {
            let mut proven = Vec::new();
            let mut false_acc = Vec::new();
            for a in &partial.accusations {
                match check_accusation(open, dir, &partial.sender, a, shares_to_sender) {
                    Ok(()) => proven.push(a.sender.clone()),
                    Err(_) => false_acc.push(a.sender.clone()),
                }
            }
            proven.sort();
            proven.dedup();
            PartialVerdict::OutOfRange {
                slot,
                proven_culprits: proven,
                false_accusations: false_acc,
            }
        }
    }
}

/// Checks an accusation: the accused sender's signed ciphertext to the accuser decrypts (with
/// the given randomness, which anyone can verify) to a plaintext with a slot of 2^b or more.
pub fn check_accusation(
    open: &RoundOpen,
    dir: &Directory,
    accuser: &str,
    accusation: &Accusation,
    shares_to_accuser: &BTreeMap<String, Vec<Ciphertext>>,
) -> Result<(), String> {
    let me = dir.get(accuser).ok_or("accuser not enrolled")?;
    let cts = shares_to_accuser
        .get(&accusation.sender)
        .ok_or("accused sender sent no share to the accuser")?;
    let c = cts
        .get(accusation.index.max(0) as usize)
        .ok_or("no ciphertext at that index")?;
    if !verify_decryption(&me.keys, c, &accusation.plaintext, &accusation.randomness) {
        return Err("accusation's decryption proof fails".into());
    }
    let layout = layout_for(open, me.keys.modulus_bits());
    let single_bound = 1u64 << open.value_bits;
    match layout.check_bound(&accusation.plaintext, single_bound) {
        Ok(()) => Err("the accused share is in range".into()),
        Err(_) => Ok(()),
    }
}

/// The region total: per value, the sum of every column sum and retained share, mod 2^b.
pub fn region_total(contributions: &[(Vec<u64>, Vec<u64>)], value_bits: u32) -> Vec<u64> {
    let mask = if value_bits >= 64 {
        u64::MAX
    } else {
        (1u64 << value_bits) - 1
    };
    let len = contributions.first().map_or(0, |(c, _)| c.len());
    let mut total = vec![0u64; len];
    for (column, retained) in contributions {
        for (t, (c, r)) in total.iter_mut().zip(column.iter().zip(retained)) {
            *t = t.wrapping_add(*c).wrapping_add(*r) & mask;
        }
    }
    total
}
