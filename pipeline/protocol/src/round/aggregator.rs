//! The aggregator's side of a round: open, check and fold shares, redistribute, verify partials,
//! publish the total — or reopen, defer and quarantine (DESIGN §4).
//!
//! Deterministic: no randomness, time only through the `now` of each input. Memory is bounded:
//! state is kept for open rounds, plus a small tombstone per recently closed round to tell
//! replays from late messages.

use super::crypto::{AggregatorKey, Ciphertext, sign_message};
use super::directory::Directory;
use super::verify::{
    CheckedBundle, PartialVerdict, check_bundle, check_open, fold_column, layout_for, region_total,
    round_key, values_per_meter, verify_partial,
};
use super::{Rejection, RoundKey};
use crate::config::ProtocolConfig;
use std::collections::{BTreeMap, BTreeSet};
use zeal_schemas::{
    FoldedShare, Partial, QuarantineEvent, QuarantineReason, Redistribution, RegionTotal,
    RejectReason, RoundOpen, RoundOutcome, RoundStatus, ShareBundle,
};

/// Something the aggregator publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Open(RoundOpen),
    Redistribute(Redistribution),
    Outcome(RoundOutcome),
    Total(RegionTotal),
    Quarantine(QuarantineEvent),
    /// Refused input, for the dead-letter topic.
    Reject(Rejection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sharing,
    Decrypting,
}

#[derive(Debug)]
struct ActiveRound {
    open: RoundOpen,
    phase: Phase,
    /// Accepted bundles and their raw bytes.
    bundles: BTreeMap<String, (CheckedBundle, Vec<u8>)>,
    /// Per recipient, the folded products by index.
    products: BTreeMap<String, Vec<Ciphertext>>,
    /// Per partial sender: the verdict and the raw bytes (evidence).
    verdicts: BTreeMap<String, (PartialVerdict, Vec<u8>)>,
}

impl ActiveRound {
    /// A round just opened: sharing, nothing received yet.
    fn new(open: RoundOpen) -> Self {
        ActiveRound {
            open,
            phase: Phase::Sharing,
            bundles: BTreeMap::new(),
            products: BTreeMap::new(),
            verdicts: BTreeMap::new(),
        }
    }
}

/// A one-output refusal of a message from `sender` about `region`.
fn refuse(reason: RejectReason, sender: &str, region: &str, detail: &str) -> Vec<Output> {
    vec![Output::Reject(Rejection::new(
        reason,
        Some(sender),
        Some(region),
        detail,
    ))]
}

/// Why a second `what` from one sender is refused: the same bytes again are a replay, other bytes
/// a duplicate (`verb`: what happened to the first).
fn repeat(prev: &[u8], raw: &[u8], what: &str, verb: &str) -> (RejectReason, String) {
    if prev == raw {
        (RejectReason::Replay, format!("{what} already {verb}"))
    } else {
        (
            RejectReason::Duplicate,
            format!("a different {what} from this sender was already {verb}"),
        )
    }
}

#[derive(Debug, Clone)]
struct ClosedRound {
    attempt: i32,
    bundles: BTreeSet<String>,
    partials: BTreeSet<String>,
}

/// How many closed rounds per region are remembered (for replay detection).
pub const CLOSED_ROUNDS_KEPT: usize = 192;

/// The aggregator. One instance owns a set of regions (its Kafka partitions).
pub struct Aggregator {
    key: AggregatorKey,
    config: ProtocolConfig,
    active: BTreeMap<(String, i64), ActiveRound>,
    closed: BTreeMap<(String, i64), ClosedRound>,
    /// Per region: deferred intervals not yet claimed by an open round.
    deferred: BTreeMap<String, BTreeSet<i64>>,
}

impl Aggregator {
    /// An aggregator signing with `key`.
    pub fn new(key: AggregatorKey, config: ProtocolConfig) -> Self {
        Aggregator {
            key,
            config,
            active: BTreeMap::new(),
            closed: BTreeMap::new(),
            deferred: BTreeMap::new(),
        }
    }

    /// This aggregator's id.
    pub fn id(&self) -> &str {
        self.key.id()
    }

    /// Number of rounds in progress (state held in memory).
    pub fn open_rounds(&self) -> usize {
        self.active.len()
    }

    /// Intervals of a region waiting to be carried into its next round.
    pub fn deferred_intervals(&self, region: &str) -> Vec<i64> {
        self.deferred
            .get(region)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether a round for this region and interval was opened (it may be closed by now).
    pub fn knows(&self, region: &str, interval_start: i64) -> bool {
        let k = (region.to_string(), interval_start);
        self.active.contains_key(&k) || self.closed.contains_key(&k)
    }

    fn sign<T: zeal_schemas::codec::Signed>(&self, mut msg: T) -> T {
        sign_message(&self.key, &mut msg);
        msg
    }

    /// Opens the round of `region` for the interval starting at `interval_start`, with the
    /// region's current roster and every deferred interval carried in. Idempotent: a round
    /// already opened is not opened again.
    pub fn open_round(
        &mut self,
        dir: &Directory,
        region: &str,
        interval_start: i64,
        now: i64,
    ) -> Vec<Output> {
        if self.knows(region, interval_start) {
            return Vec::new();
        }
        let carried: Vec<i64> = self
            .deferred
            .remove(region)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        let roster = dir.roster_for(region);
        self.open_attempt(region, interval_start, 1, roster, carried, now)
    }

    fn open_attempt(
        &mut self,
        region: &str,
        interval_start: i64,
        attempt: i32,
        roster: Vec<String>,
        carried: Vec<i64>,
        now: i64,
    ) -> Vec<Output> {
        let share_deadline = now + self.config.share_deadline.as_millis() as i64;
        let open = RoundOpen {
            region: region.to_string(),
            interval_start,
            interval_seconds: self.config.interval_seconds as i32,
            intervals: self.config.intervals_per_round as i32,
            attempt,
            roster,
            channels: self.config.channels.clone(),
            value_bits: self.config.value_bits as i32,
            min_roster: self.config.min_roster as i32,
            carried_intervals: carried,
            share_deadline,
            partial_deadline: share_deadline + self.config.partial_deadline.as_millis() as i64,
            aggregator_id: self.id().to_string(),
            signature: Vec::new(),
        };
        if open.roster.len() < self.config.min_roster {
            let reason = format!(
                "roster of {} is below min_roster {}: not opened",
                open.roster.len(),
                self.config.min_roster
            );
            return self.close(
                &open,
                RoundStatus::Abandoned,
                vec![],
                vec![],
                reason,
                now,
                None,
            );
        }
        let open = self.sign(open);
        self.active.insert(
            (region.to_string(), interval_start),
            ActiveRound::new(open.clone()),
        );
        vec![Output::Open(open)]
    }

    /// Where a message for `(region, interval, attempt)` stands, or why it is refused.
    fn locate(
        &self,
        region: &str,
        interval_start: i64,
        attempt: i32,
        sender: &str,
        partial: bool,
    ) -> Result<(String, i64), Rejection> {
        let k = (region.to_string(), interval_start);
        let reject =
            |reason, detail: String| Rejection::new(reason, Some(sender), Some(region), detail);
        if let Some(round) = self.active.get(&k) {
            if attempt < round.open.attempt {
                return Err(reject(
                    RejectReason::Late,
                    format!("attempt {attempt} was superseded by {}", round.open.attempt),
                ));
            }
            if attempt > round.open.attempt {
                return Err(reject(
                    RejectReason::UnknownRound,
                    format!("attempt {attempt} was never opened"),
                ));
            }
            return Ok(k);
        }
        if let Some(closed) = self.closed.get(&k) {
            let seen = if partial {
                &closed.partials
            } else {
                &closed.bundles
            };
            return Err(if attempt == closed.attempt && seen.contains(sender) {
                reject(RejectReason::Replay, "round already closed".into())
            } else {
                reject(RejectReason::Late, "round already closed".into())
            });
        }
        let oldest = self
            .closed
            .keys()
            .filter(|(r, _)| r == region)
            .map(|(_, i)| *i)
            .min();
        if oldest.is_some_and(|o| interval_start < o) {
            return Err(reject(
                RejectReason::Replay,
                "interval older than every remembered round".into(),
            ));
        }
        Err(reject(
            RejectReason::UnknownRound,
            format!("no round open for {region} @{interval_start}"),
        ))
    }

    /// [`Self::locate`], then the located round itself; a refusal comes as the output to return.
    fn locate_active(
        &mut self,
        region: &str,
        interval_start: i64,
        attempt: i32,
        sender: &str,
        partial: bool,
    ) -> Result<((String, i64), &mut ActiveRound), Vec<Output>> {
        let k = self
            .locate(region, interval_start, attempt, sender, partial)
            .map_err(|r| vec![Output::Reject(r)])?;
        let round = self.active.get_mut(&k).expect("located");
        Ok((k, round))
    }

    /// A share bundle arrived (`raw`: its bytes as received, kept as evidence).
    pub fn on_share_bundle(
        &mut self,
        dir: &mut Directory,
        bundle: ShareBundle,
        raw: &[u8],
        now: i64,
    ) -> Vec<Output> {
        let (k, round) = match self.locate_active(
            &bundle.region,
            bundle.interval_start,
            bundle.attempt,
            &bundle.sender,
            false,
        ) {
            Ok(found) => found,
            Err(out) => return out,
        };
        let reject = |reason, detail: &str| refuse(reason, &bundle.sender, &bundle.region, detail);
        if let Some((_, prev)) = round.bundles.get(&bundle.sender) {
            let (reason, detail) = repeat(prev, raw, "bundle", "accepted");
            return reject(reason, &detail);
        }
        if round.phase != Phase::Sharing || now > round.open.share_deadline {
            return reject(RejectReason::Late, "share deadline has passed");
        }
        match check_bundle(&round.open, dir, &bundle) {
            Err(r) => vec![Output::Reject(r)],
            Ok(checked) => {
                round
                    .bundles
                    .insert(bundle.sender.clone(), (checked, raw.to_vec()));
                if round.bundles.len() == round.open.roster.len() {
                    self.redistribute(dir, &k)
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Every bundle is in: fold each recipient's column and hand it over.
    fn redistribute(&mut self, dir: &Directory, k: &(String, i64)) -> Vec<Output> {
        let round = self.active.get_mut(k).expect("active round");
        round.phase = Phase::Decrypting;
        let mut out = Vec::new();
        let open = round.open.clone();
        for recipient in &open.roster {
            let m = dir.get(recipient).expect("checked in every bundle");
            let plaintexts = layout_for(&open, m.keys.modulus_bits()).plaintexts();
            let columns: Vec<Vec<Ciphertext>> = round
                .bundles
                .values()
                .filter_map(|(b, _)| b.shares.get(recipient))
                .map(|col| col.iter().map(|s| s.ciphertext.clone()).collect())
                .collect();
            let products = fold_column(&m.keys, columns.iter().map(Vec::as_slice), plaintexts);
            let mut folded = Vec::new();
            for (sender, (b, _)) in &round.bundles {
                for (index, s) in b.shares.get(recipient).into_iter().flatten().enumerate() {
                    folded.push(FoldedShare {
                        sender: sender.clone(),
                        index: index as i32,
                        ciphertext: s.bytes.clone(),
                        signature: s.signature.clone(),
                    });
                }
            }
            let msg = Redistribution {
                region: open.region.clone(),
                interval_start: open.interval_start,
                attempt: open.attempt,
                recipient: recipient.clone(),
                products: products.iter().map(|c| c.to_bytes(&m.keys)).collect(),
                folded,
                aggregator_id: self.key.id().to_string(),
                signature: Vec::new(),
            };
            round.products.insert(recipient.clone(), products);
            let mut msg = msg;
            sign_message(&self.key, &mut msg);
            out.push(Output::Redistribute(msg));
        }
        out
    }

    /// A partial arrived.
    pub fn on_partial(
        &mut self,
        dir: &mut Directory,
        partial: Partial,
        raw: &[u8],
        now: i64,
    ) -> Vec<Output> {
        let (k, round) = match self.locate_active(
            &partial.region,
            partial.interval_start,
            partial.attempt,
            &partial.sender,
            true,
        ) {
            Ok(found) => found,
            Err(out) => return out,
        };
        let reject =
            |reason, detail: &str| refuse(reason, &partial.sender, &partial.region, detail);
        if round.phase != Phase::Decrypting {
            return reject(
                RejectReason::UnknownRound,
                "partial before redistribution: nothing to decrypt yet",
            );
        }
        let Some(sender) = dir.get(&partial.sender) else {
            return reject(RejectReason::UnknownSender, "sender is not enrolled");
        };
        if round.open.roster.binary_search(&partial.sender).is_err() {
            return reject(RejectReason::NotInRoster, "sender is not in the roster");
        }
        if !super::crypto::verify_message(&sender.keys, &partial) {
            return reject(
                RejectReason::BadSignature,
                "partial signature does not verify",
            );
        }
        if let Some((_, prev)) = round.verdicts.get(&partial.sender) {
            let (reason, detail) = repeat(prev, raw, "partial", "received");
            return reject(reason, &detail);
        }
        if now > round.open.partial_deadline {
            return reject(RejectReason::Late, "partial deadline has passed");
        }
        let products = &round.products[&partial.sender];
        let shares_to_sender: BTreeMap<String, Vec<Ciphertext>> = round
            .bundles
            .iter()
            .filter_map(|(s, (b, _))| {
                b.shares.get(&partial.sender).map(|col| {
                    (
                        s.clone(),
                        col.iter().map(|c| c.ciphertext.clone()).collect(),
                    )
                })
            })
            .collect();
        let verdict = verify_partial(&round.open, dir, products, &partial, &shares_to_sender);
        let mut out = Vec::new();
        if let PartialVerdict::Invalid(detail) = &verdict {
            out.push(Output::Reject(Rejection::new(
                RejectReason::InvalidPartial,
                Some(&partial.sender),
                Some(&partial.region),
                detail.clone(),
            )));
        }
        round
            .verdicts
            .insert(partial.sender.clone(), (verdict, raw.to_vec()));
        if round.verdicts.len() == round.open.roster.len() {
            out.extend(self.finish(dir, &k, now));
        }
        out
    }

    /// Deadlines: reopen without share-phase dropouts, or defer on missing partials.
    pub fn on_tick(&mut self, dir: &mut Directory, now: i64) -> Vec<Output> {
        let due: Vec<(String, i64)> = self
            .active
            .iter()
            .filter(|(_, r)| match r.phase {
                Phase::Sharing => now > r.open.share_deadline,
                Phase::Decrypting => now > r.open.partial_deadline,
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in due {
            let phase = self.active[&k].phase;
            match phase {
                Phase::Sharing => out.extend(self.share_deadline_passed(&k, now)),
                Phase::Decrypting => out.extend(self.finish(dir, &k, now)),
            }
        }
        out
    }

    fn share_deadline_passed(&mut self, k: &(String, i64), now: i64) -> Vec<Output> {
        let round = self.active.remove(k).expect("due round");
        let missing: Vec<String> = round
            .open
            .roster
            .iter()
            .filter(|m| !round.bundles.contains_key(*m))
            .cloned()
            .collect();
        let remaining: Vec<String> = round
            .open
            .roster
            .iter()
            .filter(|m| round.bundles.contains_key(*m))
            .cloned()
            .collect();
        let can_reopen = (round.open.attempt as usize) < self.config.max_attempts
            && remaining.len() >= self.config.min_roster;
        let mut out = Vec::new();
        if can_reopen {
            let reason = format!(
                "{} of {} meters missing at the share deadline; reopening without them",
                missing.len(),
                round.open.roster.len()
            );
            out.push(Output::Outcome(self.outcome(
                &round.open,
                RoundStatus::Reopened,
                missing,
                vec![],
                reason,
                now,
            )));
            out.extend(self.open_attempt(
                &k.0,
                k.1,
                round.open.attempt + 1,
                remaining,
                round.open.carried_intervals.clone(),
                now,
            ));
        } else {
            let reason = if remaining.len() < self.config.min_roster {
                format!(
                    "{} meters missing at the share deadline leave {} < min_roster {}",
                    missing.len(),
                    remaining.len(),
                    self.config.min_roster
                )
            } else {
                format!(
                    "{} meters missing at the share deadline of the last attempt ({})",
                    missing.len(),
                    self.config.max_attempts
                )
            };
            out.extend(self.close(
                &round.open,
                RoundStatus::Abandoned,
                missing,
                vec![],
                reason,
                now,
                Some(&round),
            ));
        }
        out
    }

    /// All partials are in, or the partial deadline passed: publish the total, or defer.
    fn finish(&mut self, dir: &mut Directory, k: &(String, i64), now: i64) -> Vec<Output> {
        let round = self.active.remove(k).expect("active round");
        let mut culprits: BTreeMap<String, (QuarantineReason, String, Vec<u8>)> = BTreeMap::new();
        let mut missing = Vec::new();
        let mut contributions = Vec::new();
        let mut out_of_range = false;
        for member in &round.open.roster {
            match round.verdicts.get(member) {
                None => {
                    missing.push(member.clone());
                    culprits.insert(
                        member.clone(),
                        (
                            QuarantineReason::MissingPartial,
                            "no partial before the partial deadline".into(),
                            Vec::new(),
                        ),
                    );
                }
                Some((PartialVerdict::Valid { column, retained }, _)) => {
                    contributions.push((column.clone(), retained.clone()));
                }
                Some((PartialVerdict::Invalid(detail), raw)) => {
                    culprits.insert(
                        member.clone(),
                        (
                            QuarantineReason::InvalidPartial,
                            detail.clone(),
                            raw.clone(),
                        ),
                    );
                }
                Some((
                    PartialVerdict::OutOfRange {
                        slot,
                        proven_culprits,
                        false_accusations,
                    },
                    raw,
                )) => {
                    out_of_range = true;
                    for accused in proven_culprits {
                        let evidence = round
                            .bundles
                            .get(accused)
                            .map(|(_, b)| b.clone())
                            .unwrap_or_default();
                        culprits.insert(
                            accused.clone(),
                            (
                                QuarantineReason::OutOfRangeShares,
                                format!(
                                    "share to {member} decrypts out of range (slot {slot}), \
                                     proven by {member}'s accusation"
                                ),
                                evidence,
                            ),
                        );
                    }
                    if !false_accusations.is_empty() {
                        culprits.insert(
                            member.clone(),
                            (
                                QuarantineReason::InvalidPartial,
                                format!("false accusation of {}", false_accusations.join(", ")),
                                raw.clone(),
                            ),
                        );
                    }
                }
            }
        }
        if culprits.is_empty() && !out_of_range {
            let values = values_per_meter(&round.open);
            debug_assert!(
                contributions
                    .iter()
                    .all(|(c, r)| c.len() == values && r.len() == values)
            );
            let totals = region_total(&contributions, round.open.value_bits as u32);
            let total = self.sign(RegionTotal {
                region: round.open.region.clone(),
                interval_start: round.open.interval_start,
                interval_seconds: round.open.interval_seconds,
                intervals: round.open.intervals,
                attempt: round.open.attempt,
                channels: round.open.channels.clone(),
                totals: totals.iter().map(|v| *v as i64).collect(),
                contributors: round.open.roster.len() as i32,
                carried_intervals: round.open.carried_intervals.clone(),
                published_at: now,
                aggregator_id: self.id().to_string(),
                signature: Vec::new(),
            });
            let mut out = vec![Output::Total(total)];
            out.extend(self.close(
                &round.open,
                RoundStatus::Completed,
                vec![],
                vec![],
                "every partial verified".into(),
                now,
                Some(&round),
            ));
            return out;
        }
        let mut out = Vec::new();
        for (meter, (reason, detail, evidence)) in &culprits {
            dir.quarantine(meter);
            out.push(Output::Quarantine(self.sign(QuarantineEvent {
                region: round.open.region.clone(),
                meter_id: meter.clone(),
                interval_start: round.open.interval_start,
                attempt: round.open.attempt,
                reason: *reason,
                detail: detail.clone(),
                evidence: evidence.clone(),
                decided_at: now,
                aggregator_id: self.id().to_string(),
                signature: Vec::new(),
            })));
        }
        let reason = if out_of_range && culprits.is_empty() {
            "a column sum is out of range and nobody proved who sent the bad share".to_string()
        } else {
            format!(
                "{} faulty meters ({}); values carried forward",
                culprits.len(),
                culprits.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        out.extend(self.close(
            &round.open,
            RoundStatus::Deferred,
            missing,
            culprits.keys().cloned().collect(),
            reason,
            now,
            Some(&round),
        ));
        out
    }

    /// The signed outcome of the round `open` opened.
    fn outcome(
        &self,
        open: &RoundOpen,
        status: RoundStatus,
        missing: Vec<String>,
        culprits: Vec<String>,
        reason: String,
        now: i64,
    ) -> RoundOutcome {
        self.sign(RoundOutcome {
            region: open.region.clone(),
            interval_start: open.interval_start,
            attempt: open.attempt,
            status,
            roster: open.roster.clone(),
            missing,
            culprits,
            reason,
            decided_at: now,
            aggregator_id: self.id().to_string(),
            signature: Vec::new(),
        })
    }

    /// Ends a round for good: outcome, tombstone, and the carry-forward bookkeeping.
    #[allow(clippy::too_many_arguments)]
    fn close(
        &mut self,
        open: &RoundOpen,
        status: RoundStatus,
        missing: Vec<String>,
        culprits: Vec<String>,
        reason: String,
        now: i64,
        round: Option<&ActiveRound>,
    ) -> Vec<Output> {
        let outcome = self.outcome(open, status, missing, culprits, reason, now);
        if status != RoundStatus::Completed {
            // Nothing was published: this interval and everything it carried wait for the
            // region's next round.
            self.defer(
                &open.region,
                open.interval_start,
                open.carried_intervals.iter().copied(),
            );
        }
        self.closed.insert(
            (open.region.clone(), open.interval_start),
            ClosedRound {
                attempt: open.attempt,
                bundles: round
                    .map(|r| r.bundles.keys().cloned().collect())
                    .unwrap_or_default(),
                partials: round
                    .map(|r| r.verdicts.keys().cloned().collect())
                    .unwrap_or_default(),
            },
        );
        self.prune_closed(&open.region);
        vec![Output::Outcome(outcome)]
    }

    /// Carries an unpublished interval and what it carried into the region's next round.
    fn defer(&mut self, region: &str, interval_start: i64, carried: impl IntoIterator<Item = i64>) {
        let d = self.deferred.entry(region.to_string()).or_default();
        d.insert(interval_start);
        d.extend(carried);
    }

    fn prune_closed(&mut self, region: &str) {
        let mine: Vec<(String, i64)> = self
            .closed
            .keys()
            .filter(|(r, _)| r == region)
            .cloned()
            .collect();
        if mine.len() > CLOSED_ROUNDS_KEPT {
            for k in &mine[..mine.len() - CLOSED_ROUNDS_KEPT] {
                self.closed.remove(k);
            }
        }
    }

    /// Restores a round opened earlier (by this or a crashed instance) from its RoundOpen on the
    /// control topic. A later attempt replaces an earlier one.
    pub fn adopt_open(&mut self, open: RoundOpen) {
        let k = (open.region.clone(), open.interval_start);
        if self.closed.contains_key(&k) {
            return;
        }
        if let Some(r) = self.active.get(&k)
            && r.open.attempt >= open.attempt
        {
            return;
        }
        if let Some(d) = self.deferred.get_mut(&open.region) {
            for c in &open.carried_intervals {
                d.remove(c);
            }
        }
        self.active.insert(k, ActiveRound::new(open));
    }

    /// Restores how a round ended from its RoundOutcome on the control topic: the round is
    /// closed, and a deferral carries its intervals forward, exactly as when it was decided.
    pub fn adopt_outcome(&mut self, outcome: &RoundOutcome) {
        if outcome.status == RoundStatus::Reopened {
            return;
        }
        let k = (outcome.region.clone(), outcome.interval_start);
        let carried = match self.active.get(&k) {
            Some(r) if r.open.attempt == outcome.attempt => {
                let r = self.active.remove(&k).expect("present");
                r.open.carried_intervals
            }
            Some(_) => return,
            None => Vec::new(),
        };
        if outcome.status != RoundStatus::Completed {
            self.defer(&outcome.region, outcome.interval_start, carried);
        }
        self.closed.insert(
            k,
            ClosedRound {
                attempt: outcome.attempt,
                bundles: BTreeSet::new(),
                partials: BTreeSet::new(),
            },
        );
        self.prune_closed(&outcome.region);
    }

    /// Drops every round and carry of a region (another instance owns it now).
    pub fn forget_region(&mut self, region: &str) {
        self.active.retain(|(r, _), _| r != region);
        self.closed.retain(|(r, _), _| r != region);
        self.deferred.remove(region);
    }

    /// The open round of a region and interval, if any (for services and tests).
    pub fn round_open_message(&self, region: &str, interval_start: i64) -> Option<&RoundOpen> {
        self.active
            .get(&(region.to_string(), interval_start))
            .map(|r| &r.open)
    }

    /// Keys of rounds in progress.
    pub fn active_rounds(&self) -> Vec<RoundKey> {
        self.active.values().map(|r| round_key(&r.open)).collect()
    }
}

/// Checks a RoundOpen the aggregator itself would accept (used by gateways and the audit).
pub fn validate_open(open: &RoundOpen, config: &ProtocolConfig) -> Result<(), String> {
    check_open(open, config.min_roster)
}
