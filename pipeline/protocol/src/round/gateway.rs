//! A meter's side of a round (DESIGN §4, steps 2, 4 and 5).
//!
//! The privacy of a household rests on what this state machine refuses:
//! - a roster below `min_roster` (its own configured minimum, not the aggregator's claim);
//! - decrypting anything but a product it recomputed itself from ciphertexts signed for this
//!   round and for this meter by every other roster member — otherwise a malicious aggregator
//!   could hand it a single sender's share to decrypt;
//! - revealing a second partial for the same interval, whatever the attempt;
//! - carrying an interval forward twice.

use super::crypto::{
    AggregatorPublic, Ciphertext, MeterSecrets, decrypt_to_bytes, recover_randomness_bytes,
    sign_message, split_shares, verify_aggregator, verify_share,
};
use super::directory::Directory;
use super::verify::{check_open, fold_column, layout_for, round_key, values_per_meter};
use crate::config::ProtocolConfig;
use rand::{CryptoRng, RngCore};
use std::collections::{BTreeMap, BTreeSet};
use zeal_schemas::{
    Accusation, EncryptedShare, Partial, Redistribution, RoundOpen, RoundOutcome, RoundStatus,
    ShareBundle,
};

/// Why a meter refused to act on a message. Each is evidence against the aggregator or another
/// meter, and is logged and counted by the gateway service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("round rejected: {0}")]
    BadRound(String),
    #[error("control message not signed by a trusted aggregator")]
    UntrustedAggregator,
    #[error("roster member {0} is not enrolled")]
    UnknownMember(String),
    #[error("a partial for interval {0} was already revealed")]
    AlreadyRevealed(i64),
    #[error("interval {0} cannot be carried: {1}")]
    BadCarry(i64, String),
    #[error("no open round of ours matches {0}")]
    UnknownRound(String),
    #[error(
        "redistributed column is not exactly one signed ciphertext per other roster member: {0}"
    )]
    IncompleteColumn(String),
    #[error("product for index {0} differs from the one recomputed from the signed ciphertexts")]
    ProductMismatch(usize),
}

#[derive(Debug, Clone)]
struct SharedRound {
    open: RoundOpen,
    retained: Vec<u64>,
    /// Intervals whose readings this round carries (its own and the carried ones).
    included: Vec<i64>,
}

/// One meter's protocol state.
pub struct MeterAgent {
    meter_id: String,
    region: String,
    secrets: MeterSecrets,
    config: ProtocolConfig,
    trusted: Vec<AggregatorPublic>,
    /// Readings (one value per channel) not yet part of a published total.
    readings: BTreeMap<i64, Vec<u64>>,
    /// Interval -> the round (by its interval start) currently carrying it.
    claimed: BTreeMap<i64, i64>,
    /// Rounds this meter has shared in, by interval start.
    rounds: BTreeMap<i64, SharedRound>,
    /// Round intervals for which this meter revealed a partial (never twice).
    revealed: BTreeSet<i64>,
    /// Intervals known to be in a published total.
    completed: BTreeSet<i64>,
    /// Rounds starting before this are refused: state about them may have been forgotten.
    horizon: i64,
}

impl MeterAgent {
    /// A meter with its secrets, trusting control messages signed by `trusted` aggregators.
    pub fn new(
        meter_id: impl Into<String>,
        region: impl Into<String>,
        secrets: MeterSecrets,
        config: ProtocolConfig,
        trusted: Vec<AggregatorPublic>,
    ) -> Self {
        MeterAgent {
            meter_id: meter_id.into(),
            region: region.into(),
            secrets,
            config,
            trusted,
            readings: BTreeMap::new(),
            claimed: BTreeMap::new(),
            rounds: BTreeMap::new(),
            revealed: BTreeSet::new(),
            completed: BTreeSet::new(),
            horizon: i64::MIN,
        }
    }

    /// The meter's id.
    pub fn meter_id(&self) -> &str {
        &self.meter_id
    }

    /// The meter's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The meter's secrets (for its key store).
    pub fn secrets(&self) -> &MeterSecrets {
        &self.secrets
    }

    /// Records the meter's values (one per channel, each below 2^b) for an interval.
    pub fn record_reading(&mut self, interval_start: i64, values: Vec<u64>) {
        let mask = (1u64 << self.config.value_bits) - 1;
        self.readings.insert(
            interval_start,
            values.into_iter().map(|v| v & mask).collect(),
        );
    }

    /// Intervals whose readings are not yet part of a published total.
    pub fn pending_intervals(&self) -> Vec<i64> {
        self.readings.keys().copied().collect()
    }

    fn trusted(&self, msg: &impl zeal_schemas::codec::Signed) -> bool {
        self.trusted.iter().any(|a| verify_aggregator(a, msg))
    }

    /// A round was opened. Returns the share bundle to publish, `None` when the round does not
    /// concern this meter or it has no reading for it, or why it refuses.
    pub fn on_round_open<R: RngCore + CryptoRng>(
        &mut self,
        dir: &Directory,
        open: &RoundOpen,
        now: i64,
        rng: &mut R,
    ) -> Result<Option<ShareBundle>, Refusal> {
        if open.region != self.region || open.roster.binary_search(&self.meter_id).is_err() {
            return Ok(None);
        }
        if !self.trusted(open) {
            return Err(Refusal::UntrustedAggregator);
        }
        check_open(open, self.config.min_roster).map_err(Refusal::BadRound)?;
        if open.value_bits as u32 != self.config.value_bits || open.channels != self.config.channels
        {
            return Err(Refusal::BadRound(
                "value bits or channels differ from this meter's configuration".into(),
            ));
        }
        if self.revealed.contains(&open.interval_start) {
            return Err(Refusal::AlreadyRevealed(open.interval_start));
        }
        if open.interval_start < self.horizon
            || open.carried_intervals.iter().any(|c| *c < self.horizon)
        {
            return Err(Refusal::BadRound(
                "interval older than this meter's memory horizon".into(),
            ));
        }
        // The round's own intervals, then the carried ones.
        let step = i64::from(open.interval_seconds) * 1000;
        let own: Vec<i64> = (0..i64::from(open.intervals))
            .map(|i| open.interval_start + i * step)
            .collect();
        for &c in &open.carried_intervals {
            if own.contains(&c) {
                return Err(Refusal::BadCarry(c, "carried into its own round".into()));
            }
            if self.completed.contains(&c) {
                return Err(Refusal::BadCarry(c, "already in a published total".into()));
            }
        }
        for &i in own.iter().chain(&open.carried_intervals) {
            if let Some(&other) = self.claimed.get(&i)
                && other != open.interval_start
            {
                return Err(Refusal::BadCarry(
                    i,
                    format!("already carried by the round of {other}"),
                ));
            }
        }
        let channels = self.config.channels.len();
        let mut values = Vec::with_capacity(values_per_meter(open));
        for i in &own {
            match self.readings.get(i) {
                Some(v) if v.len() == channels => values.extend_from_slice(v),
                _ => return Ok(None), // no reading: the meter sits this round out
            }
        }
        let mask = (1u64 << self.config.value_bits) - 1;
        for c in &open.carried_intervals {
            if let Some(v) = self.readings.get(c) {
                for (slot, x) in values.iter_mut().zip(v) {
                    *slot = (*slot + x) & mask;
                }
            }
        }
        let others: Vec<&String> = open
            .roster
            .iter()
            .filter(|m| **m != self.meter_id)
            .collect();
        let mut recipients = Vec::with_capacity(others.len());
        for m in &others {
            let Some(e) = dir.get(m) else {
                return Err(Refusal::UnknownMember((*m).clone()));
            };
            recipients.push(e);
        }
        let (shares, retained) = split_shares(&values, others.len(), self.config.value_bits, rng);
        let key = round_key(open);
        let mut encrypted = Vec::new();
        for (recipient, share) in recipients.iter().zip(&shares) {
            let layout = layout_for(open, recipient.keys.modulus_bits());
            for (index, plaintext) in layout.pack(share).iter().enumerate() {
                let c = recipient.keys.encrypt(plaintext, rng);
                let bytes = c.to_bytes(&recipient.keys);
                let signature = self.secrets.sign_share(
                    &key,
                    &self.meter_id,
                    &recipient.meter_id,
                    index as i32,
                    &bytes,
                );
                encrypted.push(EncryptedShare {
                    recipient: recipient.meter_id.clone(),
                    index: index as i32,
                    ciphertext: bytes,
                    signature,
                });
            }
        }
        let mut bundle = ShareBundle {
            region: open.region.clone(),
            interval_start: open.interval_start,
            attempt: open.attempt,
            sender: self.meter_id.clone(),
            shares: encrypted,
            sent_at: now,
            signature: Vec::new(),
        };
        sign_message(&self.secrets, &mut bundle);
        let included: Vec<i64> = own.iter().chain(&open.carried_intervals).copied().collect();
        for &i in &included {
            self.claimed.insert(i, open.interval_start);
        }
        self.rounds.insert(
            open.interval_start,
            SharedRound {
                open: open.clone(),
                retained,
                included,
            },
        );
        Ok(Some(bundle))
    }

    /// The aggregator handed this meter its folded column. Returns the partial to publish.
    pub fn on_redistribution(
        &mut self,
        dir: &Directory,
        r: &Redistribution,
    ) -> Result<Option<Partial>, Refusal> {
        if r.recipient != self.meter_id || r.region != self.region {
            return Ok(None);
        }
        if !self.trusted(r) {
            return Err(Refusal::UntrustedAggregator);
        }
        if self.revealed.contains(&r.interval_start) {
            return Err(Refusal::AlreadyRevealed(r.interval_start));
        }
        let Some(round) = self
            .rounds
            .get(&r.interval_start)
            .filter(|s| s.open.attempt == r.attempt)
        else {
            return Err(Refusal::UnknownRound(format!(
                "{} @{} attempt {}",
                r.region, r.interval_start, r.attempt
            )));
        };
        let open = &round.open;
        let key = round_key(open);
        let my_keys = self.secrets.public_keys();
        let layout = layout_for(open, my_keys.modulus_bits());
        let k = layout.plaintexts();
        // Exactly one ciphertext per (other roster member, index), each signed for us.
        let mut column: BTreeMap<&str, Vec<Option<Ciphertext>>> = open
            .roster
            .iter()
            .filter(|m| **m != self.meter_id)
            .map(|m| (m.as_str(), vec![None; k]))
            .collect();
        for f in &r.folded {
            let Some(slots) = column.get_mut(f.sender.as_str()) else {
                return Err(Refusal::IncompleteColumn(format!(
                    "{} is not another member of the roster",
                    f.sender
                )));
            };
            let idx = usize::try_from(f.index)
                .ok()
                .filter(|i| *i < k)
                .ok_or_else(|| {
                    Refusal::IncompleteColumn(format!("index {} out of range", f.index))
                })?;
            if slots[idx].is_some() {
                return Err(Refusal::IncompleteColumn(format!(
                    "two ciphertexts from {} at index {idx}",
                    f.sender
                )));
            }
            let sender = dir
                .get(&f.sender)
                .ok_or_else(|| Refusal::UnknownMember(f.sender.clone()))?;
            if !verify_share(
                &sender.keys,
                &key,
                &f.sender,
                &self.meter_id,
                f.index,
                &f.ciphertext,
                &f.signature,
            ) {
                return Err(Refusal::IncompleteColumn(format!(
                    "ciphertext from {} index {idx} is not signed by it for this round and \
                     this recipient",
                    f.sender
                )));
            }
            let c = Ciphertext::parse(my_keys, &f.ciphertext).map_err(|e| {
                Refusal::IncompleteColumn(format!("invalid ciphertext from {}: {e}", f.sender))
            })?;
            slots[idx] = Some(c);
        }
        let mut per_sender: Vec<(String, Vec<Ciphertext>)> = Vec::new();
        for (sender, slots) in column {
            let cts: Option<Vec<Ciphertext>> = slots.into_iter().collect();
            match cts {
                Some(cts) => per_sender.push((sender.to_string(), cts)),
                None => {
                    return Err(Refusal::IncompleteColumn(format!(
                        "missing ciphertexts from {sender}"
                    )));
                }
            }
        }
        let products = fold_column(my_keys, per_sender.iter().map(|(_, c)| c.as_slice()), k);
        if r.products.len() != k {
            return Err(Refusal::ProductMismatch(r.products.len().min(k)));
        }
        for (idx, p) in products.iter().enumerate() {
            if p.to_bytes(my_keys) != r.products[idx] {
                return Err(Refusal::ProductMismatch(idx));
            }
        }
        // Decrypt our own recomputation, never the aggregator's bytes.
        let plaintexts: Vec<Vec<u8>> = products
            .iter()
            .map(|c| decrypt_to_bytes(&self.secrets, c))
            .collect();
        let randomness: Vec<Vec<u8>> = products
            .iter()
            .map(|c| recover_randomness_bytes(&self.secrets, c))
            .collect();
        let bound = 1u64 << open.value_bits;
        let column_bound = (open.roster.len() as u64 - 1) * bound;
        let mut accusations = Vec::new();
        if layout.unpack_checked(&plaintexts, column_bound).is_err() {
            for (sender, cts) in &per_sender {
                for (index, c) in cts.iter().enumerate() {
                    let pt = decrypt_to_bytes(&self.secrets, c);
                    if layout.check_bound(&pt, bound).is_err() {
                        accusations.push(Accusation {
                            sender: sender.clone(),
                            index: index as i32,
                            plaintext: pt,
                            randomness: recover_randomness_bytes(&self.secrets, c),
                        });
                    }
                }
            }
        }
        let mut partial = Partial {
            region: open.region.clone(),
            interval_start: open.interval_start,
            attempt: open.attempt,
            sender: self.meter_id.clone(),
            plaintexts,
            randomness,
            retained: round.retained.iter().map(|v| *v as i64).collect(),
            accusations,
            signature: Vec::new(),
        };
        sign_message(&self.secrets, &mut partial);
        self.revealed.insert(open.interval_start);
        Ok(Some(partial))
    }

    /// How a round ended: completed rounds retire their readings; deferred or abandoned ones
    /// release them to be carried into a later round.
    pub fn on_outcome(&mut self, outcome: &RoundOutcome) -> Result<(), Refusal> {
        if outcome.region != self.region {
            return Ok(());
        }
        if !self.trusted(outcome) {
            return Err(Refusal::UntrustedAggregator);
        }
        let Some(round) = self.rounds.get(&outcome.interval_start) else {
            return Ok(());
        };
        if round.open.attempt != outcome.attempt {
            return Ok(());
        }
        match outcome.status {
            RoundStatus::Completed => {
                let round = self
                    .rounds
                    .remove(&outcome.interval_start)
                    .expect("present");
                for i in round.included {
                    self.readings.remove(&i);
                    self.claimed.remove(&i);
                    self.completed.insert(i);
                }
            }
            RoundStatus::Deferred | RoundStatus::Abandoned => {
                let round = self
                    .rounds
                    .remove(&outcome.interval_start)
                    .expect("present");
                for i in round.included {
                    self.claimed.remove(&i);
                }
            }
            RoundStatus::Reopened | RoundStatus::Unknown => {}
        }
        Ok(())
    }

    /// Round intervals for which this meter revealed a partial. A service persists these (and
    /// restores them with [`MeterAgent::restore_revealed`]) so a restart never reveals twice.
    pub fn revealed_intervals(&self) -> Vec<i64> {
        self.revealed.iter().copied().collect()
    }

    /// Restores reveal marks persisted before a restart.
    pub fn restore_revealed(&mut self, intervals: impl IntoIterator<Item = i64>) {
        self.revealed.extend(intervals);
    }

    /// Forgets state older than `horizon_start` (readings never aggregated, reveal marks) and
    /// from then on refuses rounds that start or carry intervals before it, so forgetting a
    /// reveal mark can never lead to a second partial for the same interval.
    pub fn forget_before(&mut self, horizon_start: i64) {
        self.horizon = self.horizon.max(horizon_start);
        self.readings = self.readings.split_off(&horizon_start);
        self.completed = self.completed.split_off(&horizon_start);
        self.revealed = self.revealed.split_off(&horizon_start);
    }
}
