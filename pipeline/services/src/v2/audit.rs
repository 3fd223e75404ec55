//! The v2 audit (DESIGN §4, "Guarantees"): a region's day re-verified from its round log and
//! bundles topic alone, with no party's secrets — the same wire reader and the same replay every
//! party uses, rounds in order (suspensions and disqualifications carry to the day's later
//! rounds). It names the evidence (invalid or second markers, invalid complaints and partials,
//! products that differ from the fold of the log), counts every meter's exclusions (the
//! differencing risk the protocol does not stop: an aggregator that leaves one meter out of
//! alternate rounds), and gives the rows of the verified totals: only a total the replay accepts
//! is ever stored.

use super::parts::PartStore;
use super::topics::{Contexts, Incoming, read_part, read_record};
use crate::sink::{Batch, EventRow, TotalRow};
use std::collections::BTreeMap;
use zeal_connectors::kafka::Record as KafkaRecord;
use zeal_protocol::v2::day::{DayRecord, day_seats_of};
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::log::{
    Answer, Author, Directory, Entry, Evidence, Outcome, Replay, Verified,
};
use zeal_protocol::v2::round::markers;

/// Why a roster meter is not in a round's final set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exclusion {
    /// No commitment before the first valid CommitClosed (offline, or dropped by the broker's
    /// operator: the log cannot tell).
    NoCommit,
    /// Committed, but left out of the first valid CommitClosed.
    NotListed,
    /// Withdrew.
    Withdrew,
    /// Its notice did not open its commitment or its proofs failed.
    Refused,
    /// Listed, but no answer before RevealClosed.
    NoAnswer,
    /// Validly accused (a seat's or the aggregator's complaint).
    Accused,
    /// Revealed, but a seat claimed its part missing and nobody posted it on the log before
    /// FinalSet (the meter withheld it, or the part was lost: the log cannot tell which).
    PartMissing,
    /// Suspended earlier in the day.
    Suspended,
}

/// One round as the audit sees it.
#[derive(Debug, Clone)]
pub struct RoundAudit {
    /// Round start (unix seconds).
    pub start: i64,
    /// The outcome the log determines.
    pub outcome: Outcome,
    /// The first valid final set.
    pub final_set: Vec<String>,
    /// Roster meters outside the final set, and why (only for rounds that reached a final set).
    pub excluded: BTreeMap<String, Exclusion>,
    /// What the replay found against the aggregator or seats.
    pub evidence: Vec<Evidence>,
    /// Seats whose partials were interpolated.
    pub contributors: Vec<String>,
}

/// A region's day, audited.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// Rounds by start.
    pub rounds: BTreeMap<i64, RoundAudit>,
    /// Per meter, the rounds with a final set it was left out of.
    pub exclusions: BTreeMap<String, u32>,
    /// Messages the wire reader refused (they are on the dead-letter topic too).
    pub refused: usize,
    /// The day's seats, in rank order (given, or from the first valid KeysClosed).
    pub seats: Vec<String>,
    /// Invalid or second KeysClosed signed by the aggregator (`day::day_seats`).
    pub day_evidence: Vec<Evidence>,
}

/// Audits one region's day from the messages of its round log and bundles topic (any order
/// across topics; each topic's in partition order). Other regions' messages are skipped. When
/// `day` holds no seats, they are derived from the day's records on the log (seat keys and the
/// first valid KeysClosed), as every node derives them.
pub fn audit_day(
    day: &RoundContext,
    directory: &Directory,
    log_messages: &[KafkaRecord],
    part_messages: &[KafkaRecord],
) -> AuditReport {
    let mut report = AuditReport::default();
    let mut contexts = Contexts::default();
    let mut day = day.clone();
    if day.seats.is_empty() {
        let records: Vec<DayRecord> = log_messages
            .iter()
            .filter_map(|m| match read_record(&mut contexts, &day, directory, m) {
                Incoming::Day(d) => Some(d),
                _ => None,
            })
            .collect();
        let setup = day_seats_of(&day, directory, &records);
        day.seats = setup.seats;
        report.day_evidence = setup.evidence;
    }
    report.seats = day.seats.iter().map(|s| s.meter.clone()).collect();
    let day = &day;
    let mut logs: BTreeMap<i64, Vec<Verified>> = BTreeMap::new();
    for m in log_messages {
        match read_record(&mut contexts, day, directory, m) {
            Incoming::Record(start, r) => logs.entry(start).or_default().push(r),
            Incoming::Refused(..) => report.refused += 1,
            _ => {}
        }
    }
    let mut parts: BTreeMap<i64, PartStore> = BTreeMap::new();
    let mut ctx = day.clone();
    for m in part_messages {
        match read_part(&mut contexts, day, m) {
            Incoming::Part(start, sender, seat, p) => {
                ctx.start = start;
                // As a node keeps them: copies and parts past the cap are not read.
                parts
                    .entry(start)
                    .or_default()
                    .insert(&ctx, sender, seat, p);
            }
            Incoming::Refused(..) => report.refused += 1,
            _ => {}
        }
    }
    // Parts posted on the log (answers to claims, complaints' parts): with them the log alone
    // judges every complaint, whatever the bundles topic still holds.
    for (start, log) in &logs {
        ctx.start = *start;
        for r in log {
            if let Entry::PartPosted { sender, seat, part } = &r.record().entry {
                parts.entry(*start).or_default().insert_posted(
                    &ctx,
                    r.record().author == Author::Aggregator,
                    sender.clone(),
                    seat.clone(),
                    part.clone(),
                );
            }
        }
    }
    let mut suspended_before = day.suspended.clone();
    let mut disqualified_before = day.disqualified.clone();
    for (start, log) in &logs {
        ctx.start = *start;
        ctx.suspended = suspended_before.clone();
        ctx.disqualified = disqualified_before.clone();
        let empty = PartStore::default();
        let chosen = parts.get(start).unwrap_or(&empty).choose(&ctx, log);
        let mut replay = Replay::new();
        let view = replay.advance_verified(&ctx, directory, log, &chosen);
        let mut excluded = BTreeMap::new();
        let final_set = view
            .final_set
            .as_ref()
            .map(|(_, m, _)| m.clone())
            .unwrap_or_default();
        if view.final_set.is_some() {
            let listed: Vec<&String> = view
                .commit_closed
                .as_ref()
                .map(|(_, l)| l.iter().map(|(m, _)| m).collect())
                .unwrap_or_default();
            let unanswered = view.unanswered();
            for m in &ctx.roster {
                if final_set.contains(m) {
                    continue;
                }
                let why = if ctx.suspended.contains(m) {
                    Exclusion::Suspended
                } else if view.accused.contains_key(m) {
                    Exclusion::Accused
                } else if unanswered.contains(m) {
                    Exclusion::PartMissing
                } else if !view.commits.iter().any(|(c, _)| c == m) {
                    Exclusion::NoCommit
                } else if !listed.contains(&m) {
                    Exclusion::NotListed
                } else {
                    match view.answers.get(m) {
                        Some(Answer::Withdrew(_)) => Exclusion::Withdrew,
                        Some(Answer::Refused(_)) => Exclusion::Refused,
                        _ => Exclusion::NoAnswer,
                    }
                };
                *report.exclusions.entry(m.clone()).or_default() += 1;
                excluded.insert(m.clone(), why);
            }
        }
        let contributors = log
            .iter()
            .rev()
            .find_map(|r| match &r.record().entry {
                zeal_protocol::v2::round::log::Entry::RegionTotal { contributors, .. }
                    if matches!(view.outcome, Outcome::Total(_)) =>
                {
                    Some(contributors.clone())
                }
                _ => None,
            })
            .unwrap_or_default();
        // Products that differ from the fold of the log: signed evidence against the
        // aggregator (no seat decrypts them; they change no total).
        let mut evidence = view.evidence.clone();
        evidence.extend(markers::wrong_products(
            &ctx,
            view,
            &chosen,
            log.iter().map(Verified::record),
        ));
        suspended_before.extend(view.suspended());
        disqualified_before.extend(view.disqualified.keys().cloned());
        report.rounds.insert(
            *start,
            RoundAudit {
                start: *start,
                outcome: view.outcome.clone(),
                final_set,
                excluded,
                evidence,
                contributors,
            },
        );
    }
    report
}

/// The rows of an audited day: `region_totals` for every verified total (one per interval and
/// channel of the round), `round_events` for every decided round (events named as v1's:
/// COMPLETED, LAPSED, VOID, ABANDONED; excluded meters as missing, accused ones as culprits).
/// A v2 round has one attempt, numbered 1 as v1 numbers its first.
pub fn rows(day: &RoundContext, report: &AuditReport, aggregator_id: &str, now_ms: i64) -> Batch {
    let p = &day.params;
    let channels = &p.channels;
    let secs = |ms: i64| (ms / 1000) as u32;
    let mut batch = Batch::default();
    for (start, r) in &report.rounds {
        let event = match &r.outcome {
            Outcome::Open => continue,
            Outcome::Total(values) => {
                for (i, v) in values.iter().enumerate() {
                    let interval = i / channels.len();
                    batch.totals.push(TotalRow {
                        region: day.region.clone(),
                        interval_start: (*start + interval as i64 * i64::from(p.interval_seconds))
                            as u32,
                        interval_seconds: p.interval_seconds,
                        channel: channels[i % channels.len()].clone(),
                        total: *v as i64,
                        contributors: r.final_set.len() as u32,
                        attempt: 1,
                        carried_intervals: Vec::new(),
                        published_at: secs(now_ms),
                        aggregator_id: aggregator_id.to_string(),
                    });
                }
                "COMPLETED"
            }
            Outcome::Lapsed => "LAPSED",
            Outcome::Void => "VOID",
            Outcome::Abandoned => "ABANDONED",
        };
        batch.events.push(EventRow {
            region: day.region.clone(),
            interval_start: *start as u32,
            attempt: 1,
            event: event.into(),
            meter_id: String::new(),
            reason: String::new(),
            roster_size: day.roster.len() as u32,
            missing: r.excluded.keys().cloned().collect(),
            culprits: r
                .excluded
                .iter()
                .filter(|(_, why)| **why == Exclusion::Accused)
                .map(|(m, _)| m.clone())
                .collect(),
            decided_at: secs(now_ms),
            aggregator_id: aggregator_id.to_string(),
        });
    }
    batch
}
