//! What the honest aggregator posts (DESIGN §4, "Round"): each marker's content is a function of
//! the log before it, so every verifier recomputes it ([`super::log::replay`] accepts a marker
//! only when it equals what these functions give). One home for the in-process region
//! ([`crate::v2::local`]) and the aggregator service; only *when* to post is theirs.

use super::RoundContext;
use super::bundle::{BundlePublic, part_hash, verify_ranges};
use super::check::{ColumnEntry, fold_column};
use super::complaint::{Complainant, Complaint, ComplaintKind};
use super::log::{Author, Entry, Evidence, Parts, Record, RoundView, total_from};
use std::collections::{BTreeMap, BTreeSet};

/// CommitClosed: the first commitment of every roster meter before it.
pub fn commit_closed(view: &RoundView) -> Entry {
    Entry::CommitClosed(view.commits.clone())
}

/// RevealClosed: the meters listed by the first valid CommitClosed whose first answer is a valid
/// notice, in listing order.
pub fn reveal_closed(view: &RoundView) -> Entry {
    let list = view
        .commit_closed
        .as_ref()
        .map(|(_, l)| {
            l.iter()
                .filter(|(m, _)| view.notices.contains_key(m))
                .map(|(m, _)| m.clone())
                .collect()
        })
        .unwrap_or_default();
    Entry::RevealClosed(list)
}

/// Whether every meter the first valid CommitClosed lists has answered (notice, Withdraw or a
/// refused notice): the aggregator need not wait for the reveal deadline.
pub fn all_answered(view: &RoundView) -> bool {
    view.commit_closed
        .as_ref()
        .is_some_and(|(_, l)| l.iter().all(|(m, _)| view.answers.contains_key(m)))
}

/// The aggregator's range-proof complaints: one per revealed sender whose range proof fails
/// (verified in one batch).
pub fn range_complaints(ctx: &RoundContext, view: &RoundView) -> Vec<Entry> {
    let Some((_, revealed)) = &view.revealed else {
        return Vec::new();
    };
    let publics: Vec<&BundlePublic> = revealed.iter().map(|s| &view.notices[s]).collect();
    let valid = verify_ranges(ctx, &publics);
    revealed
        .iter()
        .zip(valid)
        .filter(|(_, ok)| !ok)
        .map(|(sender, _)| {
            Entry::Complaint(Complaint {
                complainant: Complainant::Aggregator,
                sender: sender.clone(),
                kind: ComplaintKind::FailedRangeProof,
                index: 0,
                openings: Vec::new(),
            })
        })
        .collect()
}

/// Seat `seat_index`'s column: each revealed sender's notice and its part for the seat, for the
/// senders whose part (fetched from the bundles topic, or posted on the log in answer to a
/// claim) hashes to what the notice names. A sender missing here has not delivered yet: the seat
/// may claim its part missing ([`claims`]).
pub fn column<'a>(
    ctx: &RoundContext,
    view: &'a RoundView,
    parts: &Parts<'a>,
    seat_index: usize,
) -> BTreeMap<String, ColumnEntry<'a>> {
    let seat = &ctx.seats[seat_index];
    let mut out = BTreeMap::new();
    let Some((_, revealed)) = &view.revealed else {
        return out;
    };
    for sender in revealed {
        let public = &view.notices[sender];
        let key = (sender.clone(), seat.meter.clone());
        if let Some(part) = parts.get(&key)
            && part_hash(ctx, sender, &seat.meter, part) == public.part_hashes[seat_index]
        {
            out.insert(sender.clone(), ColumnEntry { public, part });
        } else if let Some(part) = view.posted.get(&key) {
            out.insert(sender.clone(), ColumnEntry { public, part });
        }
    }
    out
}

/// Whether seat `seat_index` holds every revealed sender's part (it can check its column).
pub fn column_complete(view: &RoundView, column: &BTreeMap<String, ColumnEntry<'_>>) -> bool {
    view.revealed
        .as_ref()
        .is_some_and(|(_, r)| r.iter().all(|s| column.contains_key(s)))
}

/// The aggregator's product for seat `seat_index` over the revealed set (evidence only: each
/// seat folds its column itself and compares). `None` until every revealed part is fetched or
/// when a part does not fold (that sender is the seat's complaint to make).
pub fn products(
    ctx: &RoundContext,
    view: &RoundView,
    parts: &Parts<'_>,
    seat_index: usize,
) -> Option<Entry> {
    let col = column(ctx, view, parts, seat_index);
    if !column_complete(view, &col) {
        return None;
    }
    let (_, revealed) = view.revealed.as_ref()?;
    let entries: Vec<ColumnEntry<'_>> = revealed.iter().map(|s| col[s]).collect();
    let folded = fold_column(ctx, seat_index, &entries).ok()?;
    let key = &ctx.seats[seat_index].key;
    Some(Entry::Products {
        seat: ctx.seats[seat_index].meter.clone(),
        ciphertexts: folded.iter().map(|c| c.to_bytes(key)).collect(),
    })
}

/// The aggregator's Products records in `log` that differ from the fold of the revealed set
/// (DESIGN §4, "Check": a difference is signed evidence against the aggregator). No seat
/// decrypts the aggregator's products (each folds its own column), so a wrong one changes no
/// total: this names it. A seat whose column is not complete in `parts`, or does not fold, is
/// not judged. One fold per seat named: the audit's work, never the replay's.
pub fn wrong_products<'r>(
    ctx: &RoundContext,
    view: &RoundView,
    parts: &Parts<'_>,
    log: impl IntoIterator<Item = &'r Record>,
) -> Vec<Evidence> {
    let mut folds: BTreeMap<usize, Option<Vec<Vec<u8>>>> = BTreeMap::new();
    let mut out = Vec::new();
    for (pos, r) in log.into_iter().enumerate() {
        let (Author::Aggregator, Entry::Products { seat, ciphertexts }) = (&r.author, &r.entry)
        else {
            continue;
        };
        let Some(i) = ctx.seats.iter().position(|s| &s.meter == seat) else {
            continue;
        };
        let fold = folds
            .entry(i)
            .or_insert_with(|| match products(ctx, view, parts, i) {
                Some(Entry::Products { ciphertexts, .. }) => Some(ciphertexts),
                _ => None,
            });
        if fold.as_ref().is_some_and(|f| f != ciphertexts) {
            out.push(Evidence::WrongProducts(pos, seat.clone()));
        }
    }
    out
}

/// Seat `seat_index`'s claims: one PartMissing per revealed sender whose part is not in its
/// `column` and that it has not claimed yet (none after FinalSet). When to claim is the caller's
/// (after a grace period: a part may be on its way).
pub fn claims(
    ctx: &RoundContext,
    view: &RoundView,
    column: &BTreeMap<String, ColumnEntry<'_>>,
    seat_index: usize,
) -> Vec<Entry> {
    let seat = &ctx.seats[seat_index].meter;
    match (&view.revealed, &view.final_set) {
        (Some((_, revealed)), None) => revealed
            .iter()
            .filter(|s| {
                !column.contains_key(*s)
                    && !view.missing.contains_key(&(seat.clone(), (*s).clone()))
            })
            .map(|s| Entry::PartMissing(s.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The answers to open claims from the parts at hand (`parts`: the aggregator's fetch from the
/// bundles topic, or a sender's own parts): a PartPosted for each claimed part that hashes to
/// what its sender's notice names. A sender answers only claims about itself (the caller passes
/// its own parts only). `cap` limits the answers per seat (`Some(ctx.answer_cap())` for the
/// aggregator; a sender's own answers are not capped), counting those on the log and
/// `in_flight`: (sender, seat) answers the caller posted and has not read back yet, which are not
/// posted again.
pub fn answers(
    ctx: &RoundContext,
    view: &RoundView,
    parts: &Parts<'_>,
    cap: Option<usize>,
    in_flight: &BTreeSet<(String, String)>,
) -> Vec<Entry> {
    if view.final_set.is_some() {
        return Vec::new();
    }
    let mut given: BTreeMap<&str, usize> = BTreeMap::new();
    for (sender, seat) in in_flight {
        if !view.posted.contains_key(&(sender.clone(), seat.clone())) {
            *given.entry(seat.as_str()).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for (seat, sender) in view.open_claims() {
        if in_flight.contains(&(sender.clone(), seat.clone())) {
            continue;
        }
        let before = view.aggregator_answers.get(seat).copied().unwrap_or(0);
        let n = given.entry(seat.as_str()).or_default();
        if cap.is_some_and(|cap| before + *n >= cap) {
            continue;
        }
        let Some(index) = ctx.seats.iter().position(|s| &s.meter == seat) else {
            continue;
        };
        let Some(part) = parts.get(&(sender.clone(), seat.clone())) else {
            continue;
        };
        if part_hash(ctx, sender, seat, part) == view.notices[sender].part_hashes[index] {
            *n += 1;
            out.push(Entry::PartPosted {
                sender: sender.clone(),
                seat: seat.clone(),
                part: (*part).clone(),
            });
        }
    }
    out
}

/// The parts of the seats' complaints judged so far that are not on the log yet, as PartPosted
/// records for the aggregator to post: with them the round log alone judges every complaint (a
/// reader need not hold the bundles topic, whose retention can be short). One per judged
/// (seat, sender): a lying seat's first invalid complaint disqualifies it, so it gets at most one
/// part copied; a cheating sender at most its own bundle.
pub fn complaint_parts(ctx: &RoundContext, view: &RoundView, parts: &Parts<'_>) -> Vec<Entry> {
    view.judged
        .iter()
        .filter_map(|(complainant, sender)| {
            let Complainant::Seat(seat) = complainant else {
                return None;
            };
            let key = (sender.clone(), seat.clone());
            if view.posted.contains_key(&key) {
                return None; // answered a claim: on the log already
            }
            let index = ctx.seats.iter().position(|s| &s.meter == seat)?;
            let part = parts.get(&key)?;
            (part_hash(ctx, sender, seat, part) == view.notices.get(sender)?.part_hashes[index])
                .then(|| Entry::PartPosted {
                    sender: sender.clone(),
                    seat: seat.clone(),
                    part: (*part).clone(),
                })
        })
        .collect()
}

/// FinalSet: the revealed set minus validly accused senders and senders whose claimed missing
/// part nobody posted (`None` before RevealClosed).
pub fn final_set(view: &RoundView) -> Option<Entry> {
    let (_, revealed) = view.revealed.as_ref()?;
    let unanswered = view.unanswered();
    Some(Entry::FinalSet(
        revealed
            .iter()
            .filter(|m| !view.accused.contains_key(*m) && !unanswered.contains(*m))
            .cloned()
            .collect(),
    ))
}

/// RegionTotal from the first d + 1 valid partials in rank order, when there are that many and
/// the interpolation checks against C̄_0; `None` otherwise (the aggregator waits, and posts
/// ABANDONED at its deadline).
pub fn region_total(ctx: &RoundContext, view: &RoundView) -> Option<Entry> {
    let (_, _, hash) = view.final_set.as_ref()?;
    let contributors: Vec<String> = ctx
        .seats
        .iter()
        .filter(|s| view.partials.contains_key(&s.meter))
        .take(ctx.degree + 1)
        .map(|s| s.meter.clone())
        .collect();
    let values = total_from(ctx, view, &contributors)?;
    Some(Entry::RegionTotal {
        values,
        contributors,
        final_set: *hash,
    })
}
