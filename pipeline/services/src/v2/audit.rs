//! The v2 audit (DESIGN §4, "Guarantees"): a region's day re-verified from its round log and
//! bundles topic alone, with no party's secrets — the same wire reader and the same replay every
//! party uses, rounds in order (suspensions and disqualifications carry to the day's later
//! rounds). It names the evidence (invalid or second markers, invalid complaints and partials,
//! products that differ from the fold of the log) apart from markers that merely lost a race
//! with records landing while the aggregator wrote them, counts every meter's exclusions (the
//! differencing risk the protocol does not stop: an aggregator that leaves one meter out of
//! alternate rounds), and gives the rows of the verified totals: only a total the replay accepts
//! is ever stored.

use super::parts::PartStore;
use super::topics::{Contexts, Incoming, read_part, read_record};
use crate::sink::Batch;
use std::collections::BTreeMap;
use zeal_connectors::kafka::Record as KafkaRecord;
use zeal_protocol::v2::day::{DayRecord, day_seats_of};
use zeal_protocol::v2::round::RoundContext;
use zeal_protocol::v2::round::log::{
    Answer, Author, Directory, Entry, Evidence, Outcome, Parts, Replay, Verified,
};
use zeal_protocol::v2::round::markers;
use zeal_tables::{RoundEventRow, TotalRow};

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
    /// Invalid markers that held at a point shortly before they landed ([`Replay::raced`]): records
    /// landed between the aggregator's read and its write. Ignored by the replay like any
    /// invalid marker, reported, but not misbehaviour.
    pub raced: Vec<Evidence>,
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
        replay.advance_verified(&ctx, directory, log, &chosen);
        let view = replay.view();
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
        let (raced, mut evidence) = split_raced(&replay, &ctx, directory, log, &chosen);
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
                raced,
                contributors,
            },
        );
    }
    report
}

/// The log time an audit reads (producers' timestamps, ms, inclusive) and how far past its end
/// it reads on, so the rounds still running at `to_ms` are complete. Rounds that began (their
/// first record) after `to_ms` are left to the next window.
///
/// A window must begin before the day's set-up: a day's rounds carry suspensions and
/// disqualifications forward, so a round is verified only together with every round of the day
/// before it (an audit of the afternoon alone would accept an aggregator that let a meter
/// suspended in the morning back in). [`audit_window`] refuses a window that holds no valid
/// KeysClosed of the day rather than verify half a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogWindow {
    /// First log time read.
    pub from_ms: i64,
    /// Last log time whose rounds are reported.
    pub to_ms: i64,
    /// Read on this far past `to_ms` to complete rounds running at `to_ms`.
    pub grace_ms: i64,
}

impl LogWindow {
    /// The whole retained log.
    pub const ALL: LogWindow = LogWindow {
        from_ms: 0,
        to_ms: i64::MAX,
        grace_ms: 0,
    };

    /// The last log time read.
    pub fn read_until(&self) -> i64 {
        self.to_ms.saturating_add(self.grace_ms)
    }
}

/// Why a window cannot be audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// The window holds no valid KeysClosed of the day (it begins after the day's set-up, or the
    /// day never set up).
    #[error(
        "the log read holds no valid KeysClosed of {region} for the day: a day's rounds are \
         verified only from its set-up on (suspensions carry from round to round), so the \
         window must begin before the day's first record"
    )]
    NoSetup {
        /// The region audited.
        region: String,
    },
}

/// [`audit_day`] of the messages a [`LogWindow`] read: refuses a window without the day's
/// set-up (when `day` holds no seats) and leaves out the rounds that began after `to_ms` (read
/// only during the grace, so possibly incomplete).
pub fn audit_window(
    day: &RoundContext,
    directory: &Directory,
    log_messages: &[KafkaRecord],
    part_messages: &[KafkaRecord],
    window: &LogWindow,
) -> Result<AuditReport, WindowError> {
    // Each log message's round (none for the day's set-up, other regions, what does not
    // decode), read once; a round began at its first record's log time.
    let rounds: Vec<Option<i64>> = log_messages
        .iter()
        .map(|m| {
            let r: zeal_schemas::v2::RoundRecord = zeal_schemas::decode(&m.payload).ok()?;
            let setup = matches!(
                r.entry,
                zeal_schemas::v2::RoundEntry::SeatKey(_)
                    | zeal_schemas::v2::RoundEntry::KeysClosed(_)
            );
            (r.region == day.region && !setup).then_some(r.round_start)
        })
        .collect();
    let mut began: BTreeMap<i64, i64> = BTreeMap::new();
    for (m, round) in log_messages.iter().zip(&rounds) {
        if let (Some(start), Some(ts)) = (round, m.timestamp_ms) {
            let first = began.entry(*start).or_insert(ts);
            *first = (*first).min(ts);
        }
    }
    let late: std::collections::BTreeSet<i64> = began
        .into_iter()
        .filter(|(_, ts)| *ts > window.to_ms)
        .map(|(start, _)| start)
        .collect();
    let report = if late.is_empty() {
        // Nothing begun after the window (a whole-log audit, most windows): no copies.
        audit_day(day, directory, log_messages, part_messages)
    } else {
        let log: Vec<KafkaRecord> = log_messages
            .iter()
            .zip(&rounds)
            .filter(|(_, round)| round.is_none_or(|s| !late.contains(&s)))
            .map(|(m, _)| m.clone())
            .collect();
        let parts: Vec<KafkaRecord> = part_messages
            .iter()
            .filter(|m| {
                zeal_schemas::decode::<zeal_schemas::v2::SeatPart>(&m.payload).map_or(true, |p| {
                    p.region != day.region || !late.contains(&p.round_start)
                })
            })
            .cloned()
            .collect();
        audit_day(day, directory, &log, &parts)
    };
    if report.seats.is_empty() {
        return Err(WindowError::NoSetup {
            region: day.region.clone(),
        });
    }
    Ok(report)
}

/// How many invalid markers of a round the audit tries as [`Replay::raced`] (each costs up to
/// `log::RACE_WINDOW` trial steps); past them an invalid marker is evidence, raced or not.
pub const RACE_CHECKS: usize = 8;

/// Splits the evidence of `replay` (which read all of `log`) into the invalid markers that lost
/// a race ([`Replay::raced`], reusing its notice judgements) and the rest.
fn split_raced(
    replay: &Replay,
    ctx: &RoundContext,
    directory: &Directory,
    log: &[Verified],
    parts: &Parts<'_>,
) -> (Vec<Evidence>, Vec<Evidence>) {
    let mut tried = 0;
    replay
        .view()
        .evidence
        .iter()
        .cloned()
        .partition(|e| match e {
            Evidence::InvalidMarker(pos, _) if tried < RACE_CHECKS => {
                tried += 1;
                replay.raced(ctx, directory, log, parts, *pos)
            }
            _ => false,
        })
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
        batch.events.push(RoundEventRow {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use zeal_protocol::v2::local::{LocalRegion, LocalRound, small_params};
    use zeal_protocol::v2::round::log::Record;
    use zeal_protocol::v2::wire;
    use zeal_schemas::encode;

    /// Each roster meter's two values (meter i: 10 i + 1, i).
    fn values(r: &LocalRegion) -> BTreeMap<String, Vec<u64>> {
        r.ctx
            .roster
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), vec![10 * i as u64 + 1, i as u64]))
            .collect()
    }

    /// Six meters (five seats) of `name` on 2020-07-01, 10:00.
    fn region(name: &str, g: &mut ChaCha20Rng) -> LocalRegion {
        LocalRegion::generate(small_params(), name, 6, 1_593_597_600, b"b", g, |_| {})
    }

    fn message(topic: &str, offset: usize, payload: Vec<u8>) -> KafkaRecord {
        KafkaRecord {
            topic: topic.into(),
            partition: 0,
            offset: offset as i64,
            key: None,
            payload,
            timestamp_ms: None,
        }
    }

    /// The round's records and parts as the audit reads them off the two topics.
    fn messages(r: &LocalRegion, round: &LocalRound) -> (Vec<KafkaRecord>, Vec<KafkaRecord>) {
        let log = round
            .log
            .iter()
            .enumerate()
            .map(|(i, rec)| {
                let bytes = encode(&wire::record_to_wire(&r.ctx, rec)).unwrap();
                message("rounds", i, bytes)
            })
            .collect();
        let mut parts = Vec::new();
        for (sender, b) in &round.bundles {
            for (seat, part) in r.ctx.seats.iter().zip(&b.parts) {
                let w = wire::part_to_wire(&r.ctx, sender, &seat.meter, part);
                parts.push(message("bundles", parts.len(), encode(&w).unwrap()));
            }
        }
        (log, parts)
    }

    /// A whole round whose reveals the honest aggregator's RevealClosed closes only after
    /// `copies` of `misplaced`, a marker computed before the last notice landed and written
    /// after it (`tamper` may change it first).
    fn round_with(
        r: &LocalRegion,
        copies: usize,
        tamper: impl FnOnce(&mut Vec<String>),
    ) -> (LocalRound, Vec<u64>) {
        let mut g = ChaCha20Rng::seed_from_u64(9);
        let mut round = LocalRound::default();
        let values: Vec<(String, Vec<u64>)> = values(r).into_iter().collect();
        for (m, v) in &values {
            r.commit(&mut round, m, v, &mut g);
        }
        r.close_commits(&mut round);
        let (last, rest) = values.split_last().unwrap();
        for (m, _) in rest {
            assert!(r.reveal(&mut round, m));
        }
        let Entry::RevealClosed(mut list) = markers::reveal_closed(&r.view(&round)) else {
            unreachable!("reveal_closed gives a RevealClosed")
        };
        assert!(r.reveal(&mut round, &last.0));
        tamper(&mut list);
        let misplaced: Record = r.record(Author::Aggregator, Entry::RevealClosed(list));
        round.log.extend(std::iter::repeat_n(misplaced, copies));
        r.close_reveals(&mut round);
        r.range_checks(&mut round);
        let passed = r.seat_checks(&mut round, &mut g);
        r.close_final(&mut round);
        r.partials(&mut round, &passed, &mut g);
        let sum = (0..2)
            .map(|k| values.iter().map(|(_, v)| v[k]).sum())
            .collect();
        (round, sum)
    }

    /// Finding of 2026-12-04 (network faults between the aggregator and the broker): the honest
    /// aggregator's RevealClosed landed after a notice that arrived while it wrote, the audit
    /// named it as an invalid marker and `zeal audit` exited 1. Now the audit reports it as
    /// raced and keeps it out of the evidence; a false marker in the same place (one that drops
    /// an early meter) is still evidence against the aggregator.
    #[test]
    fn a_marker_that_lost_a_race_is_reported_but_not_held_against_the_aggregator() {
        let mut g = ChaCha20Rng::seed_from_u64(3);
        let r = region("NL-T02", &mut g);
        let audit = |round: &mut LocalRound| {
            r.publish_total(round);
            let (log, parts) = messages(&r, round);
            let report = audit_day(&r.ctx, &r.directory, &log, &parts);
            assert_eq!(report.refused, 0);
            report.rounds.into_values().next().expect("one round")
        };

        let (mut round, sum) = round_with(&r, 1, |_| {});
        let stale = audit(&mut round);
        assert_eq!(stale.outcome, Outcome::Total(sum.clone()));
        assert!(stale.evidence.is_empty(), "{:?}", stale.evidence);
        assert!(
            matches!(
                stale.raced[..],
                [Evidence::InvalidMarker(_, "RevealClosed")]
            ),
            "{:?}",
            stale.raced
        );

        let (mut round, _) = round_with(&r, 1, |list| {
            list.remove(0);
        });
        let false_one = audit(&mut round);
        assert_eq!(false_one.outcome, Outcome::Total(sum));
        assert!(false_one.raced.is_empty(), "{:?}", false_one.raced);
        assert!(
            matches!(
                false_one.evidence[..],
                [Evidence::InvalidMarker(_, "RevealClosed")]
            ),
            "{:?}",
            false_one.evidence
        );

        // A flood of stale markers costs the audit a bounded amount of work: past RACE_CHECKS
        // an invalid marker is evidence, raced or not.
        let (mut round, _) = round_with(&r, RACE_CHECKS + 1, |_| {});
        let flood = audit(&mut round);
        assert_eq!(flood.raced.len(), RACE_CHECKS, "{:?}", flood.raced);
        assert!(
            matches!(
                flood.evidence[..],
                [Evidence::InvalidMarker(_, "RevealClosed")]
            ),
            "{:?}",
            flood.evidence
        );
    }

    /// The attack a log-time window must not open: an aggregator lets a meter suspended in the
    /// morning back into an afternoon round. An audit of the whole day names its CommitClosed;
    /// an audit that takes the day's seats from the set-up and then reads only the afternoon
    /// (the obvious way to "audit one hour") verifies the afternoon's total, with the suspended
    /// meter in it, and finds nothing. `audit_window` refuses such a window instead.
    #[test]
    fn an_afternoon_alone_would_let_a_suspended_meter_back_in_so_a_window_starts_at_the_set_up() {
        use zeal_protocol::v2::round::bundle::{Tamper, make_bundle_with};
        let mut g = ChaCha20Rng::seed_from_u64(21);
        let r = region("NL-T03", &mut g);
        let day_index = zeal_protocol::v2::params::Params::day_of(r.ctx.start);
        let stamped = |topic: &str, offset: usize, payload: Vec<u8>, at: i64| KafkaRecord {
            timestamp_ms: Some(at),
            ..message(topic, offset, payload)
        };
        // The day's set-up at log time 0..: each seat's key, then the aggregator's KeysClosed.
        let announcements = r.announcements();
        let closed = r.keys_closed(&announcements);
        let mut setup: Vec<Vec<u8>> = announcements
            .iter()
            .map(|a| encode(&wire::seat_key_to_wire(&r.ctx.region, day_index, a)).unwrap())
            .collect();
        setup.push(
            encode(&wire::keys_closed_to_wire(
                &r.ctx.region,
                day_index,
                &closed,
            ))
            .unwrap(),
        );

        // Morning: `cheat` deals a value past the bound; the aggregator's range check accuses
        // it, and it is suspended for the rest of the day.
        let cheat = r.ctx.roster[3].clone();
        let values = values(&r);
        let mut morning = LocalRound::default();
        for (m, v) in &values {
            let bundle = make_bundle_with(
                &r.ctx,
                m,
                v,
                &mut |t| {
                    if let Tamper::Value { value: 0, v } = t
                        && *m == cheat
                    {
                        *v = u64::MAX / 2;
                    }
                },
                &mut g,
            )
            .unwrap();
            r.post_commit(&mut morning, bundle);
        }
        r.close_commits(&mut morning);
        for m in values.keys() {
            r.reveal(&mut morning, m);
        }
        r.close_reveals(&mut morning);
        r.range_checks(&mut morning);
        let passed = r.seat_checks(&mut morning, &mut g);
        r.close_final(&mut morning);
        r.partials(&mut morning, &passed, &mut g);
        r.publish_total(&mut morning);
        let morning_view = r.view(&morning);
        assert!(
            morning_view.suspended().contains(&cheat),
            "the cheat is accused"
        );

        // Afternoon (the next round): the aggregator acts as if nothing happened, lists the
        // cheat's commitment and totals it in (with seats that play along).
        let afternoon_region = r.next_round();
        let (afternoon, view) = afternoon_region.run(&values, &mut g);
        let with_cheat: Vec<u64> = (0..2)
            .map(|k| values.values().map(|v| v[k]).sum())
            .collect();
        assert_eq!(view.outcome, Outcome::Total(with_cheat.clone()));

        // On the log: set-up at 0 s, the morning round at 1 h, the afternoon at 5 h.
        let mut log = Vec::new();
        let mut parts = Vec::new();
        for (i, bytes) in setup.into_iter().enumerate() {
            log.push(stamped("rounds", log.len(), bytes, i as i64));
        }
        for (region, round, at) in [
            (&r, &morning, 3_600_000),
            (&afternoon_region, &afternoon, 18_000_000),
        ] {
            let (l, p) = messages(region, round);
            for m in l {
                log.push(stamped("rounds", log.len(), m.payload, at));
            }
            for m in p {
                parts.push(stamped("bundles", parts.len(), m.payload, at));
            }
        }
        let mut seatless = r.ctx.clone();
        seatless.seats.clear();
        let afternoon_start = afternoon_region.ctx.start;
        let outcome_of = |report: &AuditReport| report.rounds[&afternoon_start].clone();

        // The whole day: the afternoon's CommitClosed is evidence and no total is verified.
        let day = audit_window(&seatless, &r.directory, &log, &parts, &LogWindow::ALL).unwrap();
        let judged = outcome_of(&day);
        assert!(
            judged
                .evidence
                .iter()
                .any(|e| matches!(e, Evidence::InvalidMarker(_, "CommitClosed"))),
            "{:?}",
            judged.evidence
        );
        assert!(
            !matches!(judged.outcome, Outcome::Total(_)),
            "{:?}",
            judged.outcome
        );

        // The naive hour: the set-up plus the afternoon's messages. The attack succeeds.
        let from = 4 * 3_600_000;
        let naive_log: Vec<KafkaRecord> = log
            .iter()
            .filter(|m| m.timestamp_ms.unwrap() < 10 || m.timestamp_ms.unwrap() >= from)
            .cloned()
            .collect();
        let naive_parts: Vec<KafkaRecord> = parts
            .iter()
            .filter(|m| m.timestamp_ms.unwrap() >= from)
            .cloned()
            .collect();
        let fooled = audit_day(&seatless, &r.directory, &naive_log, &naive_parts);
        let fooled = outcome_of(&fooled);
        assert_eq!(fooled.outcome, Outcome::Total(with_cheat));
        assert!(fooled.evidence.is_empty(), "{:?}", fooled.evidence);

        // The window from 4 h holds no set-up: refused, not half-verified.
        let window = LogWindow {
            from_ms: from,
            to_ms: i64::MAX,
            grace_ms: 0,
        };
        let in_window: Vec<KafkaRecord> = log
            .iter()
            .filter(|m| m.timestamp_ms.unwrap() >= from)
            .cloned()
            .collect();
        assert_eq!(
            audit_window(&seatless, &r.directory, &in_window, &naive_parts, &window).unwrap_err(),
            WindowError::NoSetup {
                region: r.ctx.region.clone()
            }
        );
    }
}
