//! Protocol v2 against the attacks that broke v1 and the drafts of v2 (issue #11 "Must show";
//! docs/protocol.md names each guarantee and the test here that fails if it breaks). Every test
//! runs the real pure state machines: real keys, bundles, proofs and the log replay that meters,
//! seats, the aggregator and the audit share.

mod v2;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rand_chacha::ChaCha20Rng;
use rug::Integer;
use std::collections::BTreeMap;
use v2::*;
use zeal_protocol::v2::crypto::vss::Commitments;
use zeal_protocol::v2::local::{LocalRegion, LocalRound};
use zeal_protocol::v2::round::bundle::{Tamper, make_bundle_with};
use zeal_protocol::v2::round::complaint::{Complainant, Complaint, ComplaintKind};
use zeal_protocol::v2::round::log::{
    Author, Entry, Evidence, Outcome, Record, RoundView, Verified, parts_on_log, raced, replay,
    verify,
};
use zeal_protocol::v2::round::markers;

/// An honest round of `values`, run to its total.
fn run_honest(
    r: &LocalRegion,
    values: &BTreeMap<String, Vec<u64>>,
    seed: u64,
) -> (LocalRound, RoundView) {
    r.run(values, &mut rng(seed))
}

/// A fresh round in which everyone in `values` committed and the commit phase is closed.
fn committed(
    r: &LocalRegion,
    values: &BTreeMap<String, Vec<u64>>,
    g: &mut ChaCha20Rng,
) -> LocalRound {
    let mut round = LocalRound::default();
    for (m, v) in values {
        r.commit(&mut round, m, v, g);
    }
    r.close_commits(&mut round);
    round
}

/// A fresh round taken [`through_reveal`].
fn revealed_round(r: &LocalRegion, values: &BTreeMap<String, Vec<u64>>, seed: u64) -> LocalRound {
    let mut round = LocalRound::default();
    through_reveal(r, &mut round, values, seed);
    round
}

/// Commits everyone in `values`, closes, reveals everyone: the point where seats check.
fn through_reveal(
    r: &LocalRegion,
    round: &mut LocalRound,
    values: &BTreeMap<String, Vec<u64>>,
    seed: u64,
) {
    let mut g = rng(seed);
    for (m, v) in values {
        if !round.bundles.contains_key(m) {
            r.commit(round, m, v, &mut g);
        }
    }
    r.close_commits(round);
    for m in values.keys() {
        r.reveal(round, m);
    }
    r.close_reveals(round);
}

/// Checks, final set, partials (no total yet).
fn through_partials(r: &LocalRegion, round: &mut LocalRound, seed: u64) {
    let mut g = rng(seed);
    r.range_checks(round);
    let passed = r.seat_checks(round, &mut g);
    r.close_final(round);
    r.partials(round, &passed, &mut g);
}

/// Checks, final set, partials, total.
fn finish(r: &LocalRegion, round: &mut LocalRound, seed: u64) -> Outcome {
    through_partials(r, round, seed);
    r.publish_total(round)
}

/// Appends a record signed by `author` to the round's log.
fn post(r: &LocalRegion, round: &mut LocalRound, author: Author, entry: Entry) {
    round.log.push(r.record(author, entry));
}

/// The author of meter `m`'s records.
fn by(m: &str) -> Author {
    Author::Meter(m.to_string())
}

/// A complaint against `sender`'s first ciphertext that opens nothing.
fn complaint(complainant: Complainant, sender: &str, kind: ComplaintKind) -> Complaint {
    Complaint {
        complainant,
        sender: sender.to_string(),
        kind,
        index: 0,
        openings: vec![],
    }
}

/// `seat` (a meter) claims on the log that `sender`'s part is missing.
fn claim(r: &LocalRegion, round: &mut LocalRound, seat: &str, sender: &str) {
    post(r, round, by(seat), Entry::PartMissing(sender.to_string()));
}

/// An answer to a claim about `sender`'s part for seat number `seat`: the part that
/// `part_of`'s bundle holds for that seat.
fn part_posted(
    r: &LocalRegion,
    round: &LocalRound,
    sender: &str,
    seat: usize,
    part_of: &str,
) -> Entry {
    Entry::PartPosted {
        sender: sender.to_string(),
        seat: r.ctx.seats[seat].meter.clone(),
        part: round.bundles[part_of].parts[seat].clone(),
    }
}

/// Replays the round's log followed by `copies` copies of `rec`.
fn replay_flooded(r: &LocalRegion, round: &LocalRound, rec: &Record, copies: usize) -> RoundView {
    let records = round.log.iter().chain(std::iter::repeat_n(rec, copies));
    replay(&r.ctx, &r.directory, records, &r.parts(round))
}

/// `meters` sorted, as the view's maps list them.
fn sorted(meters: &[&String]) -> Vec<String> {
    let mut x: Vec<String> = meters.iter().map(|m| m.to_string()).collect();
    x.sort();
    x
}

/// Asserts that exactly `cheats` are accused, no seat is disqualified and `outcome` is the
/// exact total of every other meter.
fn assert_only_excluded(
    r: &LocalRegion,
    values: &BTreeMap<String, Vec<u64>>,
    view: &RoundView,
    outcome: &Outcome,
    cheats: &[&String],
) {
    assert_eq!(
        view.accused.keys().cloned().collect::<Vec<_>>(),
        sorted(cheats)
    );
    assert!(
        view.disqualified.is_empty(),
        "no honest seat is disqualified"
    );
    assert_eq!(
        *outcome,
        Outcome::Total(sums(values, &roster_without(r, cheats)))
    );
}

/// Every meter deals and commits; `cheat` adds `bump` to its share pair of `(seat, value)`.
fn deal_with_bad_share(
    r: &LocalRegion,
    round: &mut LocalRound,
    values: &BTreeMap<String, Vec<u64>>,
    cheat: &str,
    (bad_seat, bad_value): (usize, usize),
    bump: (Scalar, Scalar),
) {
    deal_tampered(r, round, values, &mut rng(7_000), |m, t| {
        if let Tamper::Share { seat, value, share } = t
            && (m, seat, value) == (cheat, bad_seat, bad_value)
        {
            share.0 += bump.0;
            share.1 += bump.1;
        }
    });
}

/// Every meter in `values` deals and commits; `tamper(m, t)` may change meter m's bundle as it
/// is made.
fn deal_tampered(
    r: &LocalRegion,
    round: &mut LocalRound,
    values: &BTreeMap<String, Vec<u64>>,
    g: &mut ChaCha20Rng,
    mut tamper: impl FnMut(&str, Tamper<'_>),
) {
    for (m, v) in values {
        let bundle = make_bundle_with(&r.ctx, m, v, &mut |t| tamper(m, t), g).unwrap();
        r.post_commit(round, bundle);
    }
}

/// The meters of the view's final set (none before it).
fn members(view: &RoundView) -> Vec<String> {
    view.final_set
        .as_ref()
        .map(|(_, m, _)| m.clone())
        .unwrap_or_default()
}

fn no_complaint_publishes_a_decryption_of(
    round: &LocalRound,
    victim_part_plaintexts: &[Integer],
) -> bool {
    round.log.iter().all(|rec| match &rec.entry {
        Entry::Complaint(c) => c
            .openings
            .iter()
            .all(|(m, _)| !victim_part_plaintexts.contains(m)),
        _ => true,
    })
}

#[test]
fn an_honest_round_totals_exactly() {
    let r = shared();
    let values = readings(r);
    let (round, view) = run_honest(r, &values, 1);
    assert_eq!(view.outcome, Outcome::Total(sums(&values, &r.ctx.roster)));
    assert!(view.evidence.is_empty(), "{:?}", view.evidence);
    assert_eq!(view.partials.len(), r.ctx.seats.len());
    assert_incremental(r, &round);
}

// --- 1. cancellation -----------------------------------------------------------------------

/// v1's cancellation needed the colluder to choose its ciphertexts after seeing the honest ones.
/// In v2 its bundle is fixed by a sender-bound commitment before any bundle is revealed: a notice
/// built afterwards from the honest notices does not match the commitment and is never revealed.
#[test]
fn cancellation_built_after_the_reveals_is_not_revealed() {
    let r = shared();
    let values = readings(r);
    let attacker = r.ctx.roster[7].clone();
    let target = r.ctx.roster[2].clone();
    let mut round = revealed_round(r, &values, 2);
    // The attacker's notice was honest up to here; replace it (before RevealClosed) with one
    // derived from the target's: the target's commitments negated, its proofs copied.
    round
        .log
        .retain(|rec| !(rec.author == by(&attacker) && matches!(rec.entry, Entry::Notice(_))));
    let reveal_closed = round
        .log
        .iter()
        .position(|rec| matches!(rec.entry, Entry::RevealClosed(_)))
        .unwrap();
    round.log.truncate(reveal_closed);
    let view = r.view(&round);
    let mut forged = view.notices[&target].clone();
    forged.sender = attacker.clone();
    forged.commitments = forged.commitments.iter().map(negate).collect();
    let notice = Entry::Notice(Box::new(forged.clone()));
    post(r, &mut round, by(&attacker), notice);
    r.close_reveals(&mut round);
    let view = r.view(&round);
    let revealed = &view.revealed.as_ref().unwrap().1;
    assert!(
        !revealed.contains(&attacker),
        "a notice that does not match its commitment is not a reveal"
    );
    // Even a meter that committed to such a bundle fails: it cannot prove knowledge of the
    // negated C_0's opening under its own id and this round.
    assert!(forged.verify(&r.ctx).is_err());
    let outcome = finish(r, &mut round, 3);
    let honest = roster_without(r, &[&attacker]);
    assert_eq!(outcome, Outcome::Total(sums(&values, &honest)));
    assert!(
        !r.view(&round).may_carry(&attacker),
        "it committed and did not withdraw: no carry"
    );
}

/// Commitments of `degree` to `points`, through their wire encoding.
fn commitments_of(points: impl Iterator<Item = RistrettoPoint>, degree: usize) -> Commitments {
    let bytes: Vec<[u8; 32]> = points.map(|p| p.compress().to_bytes()).collect();
    Commitments::from_bytes(&bytes, degree).unwrap()
}

/// Every point of `c` negated.
fn negate(c: &Commitments) -> Commitments {
    commitments_of(c.points().iter().map(|p| -p), c.degree())
}

// --- 2. copying, inverting, combining --------------------------------------------------------

/// A bundle of an earlier round (or of another meter) copied whole under another id, or into a
/// later round, fails the proofs of knowledge: they bind region, round and sender.
#[test]
fn a_copied_bundle_fails_its_proofs_of_knowledge() {
    let r = shared();
    let values = readings(r);
    let (round1, view1) = run_honest(r, &values, 4);
    let target = r.ctx.roster[3].clone();
    let old = view1.notices[&target].clone();
    // Another meter, same round.
    let mut copied = old.clone();
    copied.sender = r.ctx.roster[6].clone();
    assert!(copied.verify(&r.ctx).is_err());
    // The same meter's bundle in the next round (what a replaying aggregator would need).
    let mut next = r.ctx.clone();
    next.start += next.params.round_seconds();
    assert!(old.verify(&next).is_err());
    // Combining two meters' bundles (sum of commitments, proofs of either) fails too.
    let other = &view1.notices[&r.ctx.roster[4]];
    let mut combined = old.clone();
    combined.commitments = old
        .commitments
        .iter()
        .zip(&other.commitments)
        .map(|(a, b)| add(a, b))
        .collect();
    assert!(combined.verify(&r.ctx).is_err());
    drop(round1);
}

/// The point-wise sum of `a` and `b`.
fn add(a: &Commitments, b: &Commitments) -> Commitments {
    commitments_of(
        a.points().iter().zip(b.points()).map(|(x, y)| x + y),
        a.degree(),
    )
}

/// A colluder puts the target's ciphertext of an earlier round (same day key) into its own
/// bundle for one seat, with its own commitments. The seat's check fails, the scan finds the
/// copied ciphertext's plaintext proof invalid for the colluder, and the complaint carries no
/// decryption: the target's share is never published. The colluder is excluded; nobody else.
#[test]
fn a_copied_ciphertext_is_excluded_without_publishing_its_decryption() {
    let r = shared();
    let values = readings(r);
    let (round1, _) = run_honest(r, &values, 5);
    let target = r.ctx.roster[1].clone();
    let attacker = r.ctx.roster[5].clone();
    let seat = 2;
    let victim_part = round1.bundles[&target].parts[seat].clone();
    let victim_plaintexts: Vec<Integer> = victim_part
        .ciphertexts
        .iter()
        .map(|b| r.seat_secrets[seat].decrypt(&r.ctx.seats[seat].key.parse_ciphertext(b).unwrap()))
        .collect();

    let next = r.next_round();
    let mut round = LocalRound::default();
    let mut g = rng(6);
    for (m, v) in &values {
        if *m == attacker {
            let mut bundle = make_bundle_with(&next.ctx, m, v, &mut |_| {}, &mut g).unwrap();
            bundle.parts[seat] = victim_part.clone();
            bundle.public.part_hashes[seat] = zeal_protocol::v2::round::bundle::part_hash(
                &next.ctx,
                m,
                &next.ctx.seats[seat].meter,
                &bundle.parts[seat],
            );
            next.post_commit(&mut round, bundle);
        } else {
            next.commit(&mut round, m, v, &mut g);
        }
    }
    through_reveal(&next, &mut round, &values, 7);
    let outcome = finish(&next, &mut round, 8);
    let view = next.view(&round);
    assert_only_excluded(r, &values, &view, &outcome, &[&attacker]);
    assert!(no_complaint_publishes_a_decryption_of(
        &round,
        &victim_plaintexts
    ));
    let kinds: Vec<ComplaintKind> = round
        .log
        .iter()
        .filter_map(|rec| match &rec.entry {
            Entry::Complaint(c) => Some(c.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec![ComplaintKind::FailedPlaintextProof]);
}

/// Two colluders send one seat offsetting inconsistent shares (+δ and −δ): the plain fold still
/// matches Σ C̄(j), the seat's privately weighted fold does not. Both are found by the scan and
/// excluded; no honest seat is disqualified; the total is exact over the honest meters.
#[test]
fn offsetting_colluders_are_caught_by_the_weighted_check() {
    let r = shared();
    let values = readings(r);
    let (a, b) = (r.ctx.roster[4].clone(), r.ctx.roster[6].clone());
    let seat = 1;
    let delta = Scalar::from(123_456_789u64);
    let mut round = LocalRound::default();
    deal_tampered(r, &mut round, &values, &mut rng(9), |m, t| {
        let sign = if m == a {
            Some(delta)
        } else if m == b {
            Some(-delta)
        } else {
            None
        };
        if let (
            Some(d),
            Tamper::Share {
                seat: s,
                value: 0,
                share,
            },
        ) = (sign, t)
            && s == seat
        {
            share.0 += d;
        }
    });
    through_reveal(r, &mut round, &values, 10);
    let outcome = finish(r, &mut round, 11);
    let view = r.view(&round);
    assert_only_excluded(r, &values, &view, &outcome, &[&a, &b]);
}

// --- 6. framing and attribution ------------------------------------------------------------

/// A seat that accuses an honest sender (with the true decryption, or with a made-up one) is
/// disqualified; the sender stays in the final set and the total is exact.
#[test]
fn a_lying_seat_cannot_exclude_an_honest_sender() {
    let r = shared();
    let values = readings(r);
    let honest = r.ctx.roster[0].clone();
    let mut round = revealed_round(r, &values, 12);
    let liar = r.ctx.seats[0].meter.clone();
    let part = &round.bundles[&honest].parts[0];
    let key = &r.ctx.seats[0].key;
    let openings: Vec<(Integer, Integer)> = part
        .ciphertexts
        .iter()
        .map(|b| r.seat_secrets[0].open(&key.parse_ciphertext(b).unwrap()))
        .collect();
    let lie = Complaint {
        openings: openings.clone(),
        ..complaint(
            Complainant::Seat(liar.clone()),
            &honest,
            ComplaintKind::ShareMismatch,
        )
    };
    post(r, &mut round, by(&liar), Entry::Complaint(lie));
    // A second seat claims a different plaintext with made-up randomness.
    let liar2 = r.ctx.seats[1].meter.clone();
    let made_up = vec![(Integer::from(5), Integer::from(7)); openings.len()];
    let lie2 = Complaint {
        openings: made_up,
        ..complaint(
            Complainant::Seat(liar2.clone()),
            &honest,
            ComplaintKind::SlotOutOfRange,
        )
    };
    post(r, &mut round, by(&liar2), Entry::Complaint(lie2));
    // A third claims the honest part's plaintext proof fails (it verifies).
    let liar3 = r.ctx.seats[2].meter.clone();
    let lie3 = complaint(
        Complainant::Seat(liar3.clone()),
        &honest,
        ComplaintKind::FailedPlaintextProof,
    );
    post(r, &mut round, by(&liar3), Entry::Complaint(lie3));
    let outcome = finish(r, &mut round, 13);
    let view = r.view(&round);
    assert!(view.accused.is_empty());
    let liars = [&liar, &liar2, &liar3];
    assert_eq!(
        view.disqualified.keys().cloned().collect::<Vec<_>>(),
        sorted(&liars)
    );
    assert!(members(&view).contains(&honest));
    assert!(liars.iter().all(|l| !view.partials.contains_key(*l)));
    assert_eq!(outcome, Outcome::Total(sums(&values, &r.ctx.roster)));
    assert_incremental(r, &round);
}

/// Senders whose parts break the slot predicate, or whose range proof fails (a value outside
/// [0, 2^b)), are always excluded, attributed by evidence anyone re-checks.
#[test]
fn out_of_range_senders_are_always_excluded() {
    let r = shared();
    let values = readings(r);
    let (slot_cheat, range_cheat) = (r.ctx.roster[2].clone(), r.ctx.roster[3].clone());
    let slot_bits = r.ctx.layout().slot_bits;
    let mut round = LocalRound::default();
    deal_tampered(r, &mut round, &values, &mut rng(14), |m, t| match t {
        Tamper::Plaintext {
            seat: 0,
            index: 0,
            plaintext,
        } if m == slot_cheat => {
            // A carry into the next slot: slot 0 grows by 2^w (out of range), slot 1 is
            // unchanged mod q only if the cheat also fixes it — it does not need to.
            *plaintext += Integer::from(1) << (slot_bits - 1);
        }
        Tamper::Value { value: 0, v } if m == range_cheat => *v += 1u64 << 40,
        _ => {}
    });
    through_reveal(r, &mut round, &values, 15);
    let outcome = finish(r, &mut round, 16);
    let view = r.view(&round);
    assert_only_excluded(r, &values, &view, &outcome, &[&slot_cheat, &range_cheat]);
    assert_incremental(r, &round);
}

// --- 4. the aggregator's markers -----------------------------------------------------------

/// A CommitClosed that omits an on-time meter is not what the log determines: it is evidence,
/// not a marker; the honest one after it counts.
#[test]
fn a_commit_list_that_drops_a_meter_is_invalid() {
    let r = shared();
    let values = readings(r);
    let mut round = LocalRound::default();
    let mut g = rng(17);
    for (m, v) in &values {
        r.commit(&mut round, m, v, &mut g);
    }
    let mut list = r.view(&round).commits;
    list.remove(2);
    post(r, &mut round, Author::Aggregator, Entry::CommitClosed(list));
    let view = r.view(&round);
    assert!(view.commit_closed.is_none());
    assert!(matches!(
        view.evidence[..],
        [Evidence::InvalidMarker(_, "CommitClosed")]
    ));
    let at = round.log.len() - 1;
    assert!(
        !raced(
            &r.ctx,
            &r.directory,
            &verified(r, &round),
            &r.parts(&round),
            at
        ),
        "a list that drops a meter before others it lists held at no point: not a lost race"
    );
    r.close_commits(&mut round);
    assert_eq!(r.view(&round).commit_closed.unwrap().1.len(), values.len());
}

/// The round's log with every signature checked, as the audit reads it.
fn verified(r: &LocalRegion, round: &LocalRound) -> Vec<Verified> {
    round
        .log
        .iter()
        .map(|rec| verify(&r.ctx, &r.directory, rec.clone()).expect("signed"))
        .collect()
}

/// Finding of 2026-12-04 (network faults): an honest aggregator's RevealClosed, computed from
/// the log it had read, landed after a notice that arrived while it wrote, so the log before
/// the marker no longer determined it, and the audit named the honest aggregator. Such a
/// marker is still ignored (only the honest one after it closes the reveals), but `raced` tells
/// it from a false one: it held a record earlier. A RevealClosed that leaves out a meter whose
/// notice came before others it lists held at no point, and stays misbehaviour.
#[test]
fn a_marker_that_lost_a_race_is_told_from_a_false_one() {
    let r = shared();
    let values = readings(r);
    let mut g = rng(31);
    let mut round = committed(r, &values, &mut g);
    let meters: Vec<&String> = values.keys().collect();
    let (first, last) = (meters[0], meters[meters.len() - 1]);
    for m in &meters[..meters.len() - 1] {
        assert!(r.reveal(&mut round, m));
    }
    // The aggregator reads the log here; a notice lands before its marker does.
    let stale = markers::reveal_closed(&r.view(&round));
    assert!(r.reveal(&mut round, last));
    let Entry::RevealClosed(mut dropped) = stale.clone() else {
        panic!("reveal_closed gives a RevealClosed")
    };
    dropped.retain(|m| m != first);
    post(r, &mut round, Author::Aggregator, stale);
    post(
        r,
        &mut round,
        Author::Aggregator,
        Entry::RevealClosed(dropped),
    );
    let view = r.view(&round);
    let n = round.log.len();
    assert!(view.revealed.is_none(), "neither marker is adopted");
    assert_eq!(
        view.evidence,
        vec![
            Evidence::InvalidMarker(n - 2, "RevealClosed"),
            Evidence::InvalidMarker(n - 1, "RevealClosed")
        ]
    );
    let (log, parts) = (verified(r, &round), r.parts(&round));
    assert!(
        raced(&r.ctx, &r.directory, &log, &parts, n - 2),
        "the stale one"
    );
    assert!(
        !raced(&r.ctx, &r.directory, &log, &parts, n - 1),
        "the false one"
    );
    assert!(
        !raced(&r.ctx, &r.directory, &log, &parts, 0),
        "not a marker"
    );
    // The honest marker after them closes the reveals with every notice.
    r.close_reveals(&mut round);
    let view = r.view(&round);
    assert_eq!(view.revealed.unwrap().1.len(), values.len());
}

/// Closing the commit phase early (before most commitments) yields a valid but lapsed round:
/// nobody reveals and everyone carries; nothing was revealed, so nothing enters two totals.
#[test]
fn an_early_commit_close_lapses_and_everyone_carries() {
    let r = shared();
    let values = readings(r);
    let mut round = LocalRound::default();
    let mut g = rng(18);
    for (m, v) in values.iter().take(2) {
        r.commit(&mut round, m, v, &mut g);
    }
    r.close_commits(&mut round);
    for (m, v) in values.iter().skip(2) {
        r.commit(&mut round, m, v, &mut g);
    }
    let view = r.view(&round);
    assert_eq!(view.outcome, Outcome::Lapsed);
    for m in values.keys() {
        assert!(!view.should_reveal(&r.ctx, m));
        assert!(view.may_carry(m));
    }
}

/// The aggregator places RevealClosed before most notices (dropping or delaying them): the
/// revealed set is below θ, the round is void, no seat publishes a partial, and the late
/// revealers may not carry (their notice is in the log).
#[test]
fn a_reveal_close_below_quorum_voids_the_round() {
    let r = shared();
    let values = readings(r);
    let mut g = rng(19);
    let mut round = committed(r, &values, &mut g);
    let keys: Vec<String> = values.keys().cloned().collect();
    for m in &keys[..3] {
        r.reveal(&mut round, m);
    }
    r.close_reveals(&mut round);
    for m in &keys[3..] {
        r.reveal(&mut round, m);
    }
    let outcome = finish(r, &mut round, 20);
    let view = r.view(&round);
    assert_eq!(outcome, Outcome::Void);
    assert!(view.partials.is_empty());
    assert!(view.final_set.is_none());
    assert!(keys.iter().all(|m| !view.may_carry(m)));
}

/// A meter that withdrew before any aggregator-signed RevealClosed carries; one whose Withdraw
/// comes after one (valid or not) does not: its value might be in a total already.
#[test]
fn a_withdrawal_carries_only_before_any_signed_reveal_close() {
    let r = shared();
    let values = readings(r);
    let keys: Vec<String> = values.keys().cloned().collect();
    let mut g = rng(21);
    let mut round = committed(r, &values, &mut g);
    post(r, &mut round, by(&keys[0]), Entry::Withdraw);
    for m in &keys[2..] {
        r.reveal(&mut round, m);
    }
    // An invalid (wrong list) but signed RevealClosed, then the second withdrawal.
    post(
        r,
        &mut round,
        Author::Aggregator,
        Entry::RevealClosed(vec![keys[2].clone()]),
    );
    post(r, &mut round, by(&keys[1]), Entry::Withdraw);
    let view = r.view(&round);
    assert!(view.may_carry(&keys[0]));
    assert!(!view.may_carry(&keys[1]));
    assert!(!view.may_carry(&keys[2]));
}

// --- 8. forged and conflicting decisions ----------------------------------------------------

/// Markers signed by anyone but the aggregator are never interpreted; a second, conflicting
/// signed FinalSet is named as evidence and every seat partials only over the first valid one.
#[test]
fn forged_markers_are_ignored_and_conflicting_ones_named() {
    let r = shared();
    let values = readings(r);
    let mut round = revealed_round(r, &values, 22);
    let forger = r.ctx.roster[1].clone();
    // A meter signs a FinalSet that drops two meters, posed as the aggregator's.
    let forged = r.record(
        Author::Meter(forger),
        Entry::FinalSet(values.keys().skip(2).cloned().collect()),
    );
    let forged = Record {
        author: Author::Aggregator,
        ..forged
    };
    round.log.push(forged);
    let mut g = rng(23);
    r.range_checks(&mut round);
    let passed = r.seat_checks(&mut round, &mut g);
    r.close_final(&mut round);
    // The aggregator then signs a second, different FinalSet.
    post(
        r,
        &mut round,
        Author::Aggregator,
        Entry::FinalSet(values.keys().skip(1).cloned().collect()),
    );
    r.partials(&mut round, &passed, &mut g);
    let outcome = r.publish_total(&mut round);
    let view = r.view(&round);
    assert_eq!(members(&view).len(), values.len());
    assert!(
        view.evidence
            .iter()
            .any(|e| matches!(e, Evidence::SecondMarker(_, "FinalSet")))
    );
    assert_eq!(outcome, Outcome::Total(sums(&values, &r.ctx.roster)));
    assert_incremental(r, &round);
}

/// DESIGN §4 "Check": a product that differs from the log's fold is signed evidence against the
/// aggregator. A cheating aggregator posts, as seat 1's product, the target's part to that seat
/// alone (a "fold" of one sender: decrypted, it is the target's share). No seat decrypts it:
/// each folds its own column, so every partial passes the public check and the total is exact.
/// The audit's check names the record by position and seat, and not the honest product beside it.
#[test]
fn a_product_of_one_sender_is_never_decrypted_and_is_named() {
    let r = shared();
    let values = readings(r);
    let mut round = revealed_round(r, &values, 31);
    let target = &r.ctx.roster[0];
    let seat = r.ctx.seats[1].meter.clone();
    let lone = round.bundles[target].parts[1].ciphertexts.clone();
    let at = round.log.len();
    post(
        r,
        &mut round,
        Author::Aggregator,
        Entry::Products {
            seat: seat.clone(),
            ciphertexts: lone,
        },
    );
    let view = r.view(&round);
    let honest = markers::products(&r.ctx, &view, &r.parts(&round), 0).expect("a full column");
    post(r, &mut round, Author::Aggregator, honest);
    let outcome = finish(r, &mut round, 32);
    assert_eq!(outcome, Outcome::Total(sums(&values, &r.ctx.roster)));
    let view = r.view(&round);
    assert!(view.evidence.is_empty(), "{:?}", view.evidence);
    assert_eq!(view.partials.len(), r.ctx.seats.len());
    assert_eq!(
        markers::wrong_products(&r.ctx, &view, &r.parts(&round), &round.log),
        vec![Evidence::WrongProducts(at, seat)]
    );
}

// --- 9. bounds before work -----------------------------------------------------------------

/// 10^6 complaints from one seat against one sender cost a comparison each after the first:
/// replay checks one signature and judges one complaint (counted, not timed; the other floods,
/// with memory bounds, are in `tests/v2_exhaustion.rs`).
#[test]
fn a_million_complaints_are_refused_cheaply() {
    let r = shared();
    let values = readings(r);
    let round = revealed_round(r, &values, 24);
    let seat = r.ctx.seats[0].meter.clone();
    let sender = r.ctx.roster[5].clone();
    let c = complaint(
        Complainant::Seat(seat.clone()),
        &sender,
        ComplaintKind::FailedRangeProof,
    );
    // Valid signature, invalid evidence: the first disqualifies the seat, the rest are skipped.
    let rec = r.record(by(&seat), Entry::Complaint(c));
    let honest = r.view(&round).work;
    let view = replay_flooded(r, &round, &rec, 1_000_000);
    assert!(view.disqualified.contains_key(&seat));
    assert_eq!(view.evidence.len(), 1, "judged once");
    assert_eq!(view.work.complaints, honest.complaints + 1, "judged once");
    assert_eq!(view.work.signatures, honest.signatures + 1, "one signature");
}

// --- 5. what the aggregator and d seats see ---------------------------------------------------

/// The view of the aggregator plus d corrupt seats, computed exactly: every share the corrupt
/// seats decrypt (slot integers included), every partial and the total. Two worlds: the target
/// reads x or x + δ, another honest meter y or y − δ, and their dealings differ by ±δ·L where L
/// is the degree-d polynomial with L(0) = 1 and L(j) = 0 at the corrupt seats; all other
/// randomness is the same. The views are identical. With d + 1 corrupt seats no such L exists
/// and their shares interpolate to the target's value.
#[test]
fn d_seats_and_the_aggregator_see_nothing_of_one_meter() {
    use zeal_protocol::v2::crypto::vss::{Dealing, interpolate_at_zero};
    let d = 1usize;
    let corrupt = [2u64]; // d seats
    let (x, y, delta) = (500u64, 700u64, 123u64);
    let l_poly = |at: u64| -> Scalar {
        // L(z) = 1 − z/2 (degree 1, L(0) = 1, L(2) = 0).
        Scalar::ONE - Scalar::from(at) * Scalar::from(2u64).invert()
    };
    let world = |tx: u64, ty: u64, shift: Scalar| {
        // Same coefficients in both worlds except f ± shift·L.
        let mut rng = rng(99);
        let target = Dealing::new(tx, d, &mut rng);
        let other = Dealing::new(ty, d, &mut rng);
        let seats = [1u64, 2, 3, 4, 5];
        let share = |dl: &Dealing, s: u64, sign: Scalar| {
            let (f, r) = dl.share(s);
            (f + sign * shift * l_poly(s), r)
        };
        let corrupt_view: Vec<_> = corrupt
            .iter()
            .map(|&s| {
                (
                    share(&target, s, Scalar::ONE),
                    share(&other, s, -Scalar::ONE),
                )
            })
            .collect();
        let partials: Vec<_> = seats
            .iter()
            .map(|&s| {
                let (a, b) = (
                    share(&target, s, Scalar::ONE),
                    share(&other, s, -Scalar::ONE),
                );
                (a.0 + b.0, a.1 + b.1)
            })
            .collect();
        (corrupt_view, partials)
    };
    // World A: (x, y) with no shift; world B: dealt with (x, y) randomness but values x + δ,
    // y − δ through the shift (f_B = f_A + δ·L for the target, − δ·L for the other).
    let (view_a, partials_a) = world(x, y, Scalar::ZERO);
    let (view_b, partials_b) = world(x, y, Scalar::from(delta));
    // The target's value differs between the worlds ...
    let target_b_at_0 = Scalar::from(x) + Scalar::from(delta) * l_poly(0);
    assert_ne!(target_b_at_0, Scalar::from(x));
    // ... and the corrupt seats' shares and every partial (hence the total) are identical.
    assert_eq!(view_a, view_b);
    assert_eq!(partials_a, partials_b);
    // With d + 1 corrupt seats: their shares of the target interpolate to its value.
    let mut rng_ = rng(99);
    let target = Dealing::new(x, d, &mut rng_);
    let pts: Vec<(u64, Scalar)> = [2u64, 4].iter().map(|&s| (s, target.share(s).0)).collect();
    assert_eq!(interpolate_at_zero(&pts).unwrap(), Scalar::from(x));
}

// --- dropouts, late complaints ------------------------------------------------------------------

/// Seats that publish no partial (offline or withholding): with d + 1 partials left the total
/// is exact; with fewer the aggregator can only post ABANDONED, and nothing is re-shared.
#[test]
fn seats_down_leave_an_exact_total_or_an_abandoned_round() {
    let r = shared();
    let values = readings(r);
    for (down, expect_total) in [(3usize, true), (4, false)] {
        let mut round = revealed_round(r, &values, 30);
        through_partials(r, &mut round, 31);
        let silent: Vec<String> = r
            .ctx
            .seats
            .iter()
            .take(down)
            .map(|s| s.meter.clone())
            .collect();
        round.log.retain(|rec| {
            !(matches!(rec.entry, Entry::Partial { .. })
                && matches!(&rec.author, Author::Meter(m) if silent.contains(m)))
        });
        let outcome = r.publish_total(&mut round);
        if expect_total {
            assert_eq!(
                outcome,
                Outcome::Total(sums(&values, &r.ctx.roster)),
                "{down} seats down"
            );
        } else {
            assert_eq!(outcome, Outcome::Abandoned, "{down} seats down");
        }
        // Bundles are never dealt twice: a round's log has one commitment per meter.
        let commits = round
            .log
            .iter()
            .filter(|rec| matches!(rec.entry, Entry::Commit(_)))
            .count();
        assert_eq!(commits, values.len());
    }
}

/// A meter that commits and then withdraws carries its value; one that commits and goes silent
/// does not (it may have revealed to someone), and is left out. The total is exact over the
/// revealed meters.
#[test]
fn meters_missing_the_reveal_carry_only_when_the_log_proves_it() {
    let r = shared();
    let values = readings(r);
    let keys: Vec<String> = values.keys().cloned().collect();
    let (withdrawer, silent) = (keys[1].clone(), keys[2].clone());
    let mut g = rng(32);
    let mut round = committed(r, &values, &mut g);
    post(r, &mut round, by(&withdrawer), Entry::Withdraw);
    for m in keys.iter().filter(|m| **m != withdrawer && **m != silent) {
        r.reveal(&mut round, m);
    }
    r.close_reveals(&mut round);
    let outcome = finish(r, &mut round, 33);
    let view = r.view(&round);
    assert!(view.may_carry(&withdrawer));
    assert!(!view.may_carry(&silent));
    let revealed = roster_without(r, &[&withdrawer, &silent]);
    assert_eq!(outcome, Outcome::Total(sums(&values, &revealed)));
}

/// The aggregator posts FinalSet before any complaint could arrive. A seat's valid complaint
/// after it still suspends the sender, and that seat publishes no partial (without penalty);
/// the other seats' partials give the exact total of the final set.
#[test]
fn a_valid_complaint_after_the_final_set_suspends_the_sender() {
    let r = shared();
    let values = readings(r);
    let cheat = r.ctx.roster[3].clone();
    let mut round = LocalRound::default();
    let mut g = rng(34);
    deal_with_bad_share(
        r,
        &mut round,
        &values,
        &cheat,
        (0, 1),
        (Scalar::ZERO, Scalar::ONE),
    );
    through_reveal(r, &mut round, &values, 35);
    r.close_final(&mut round);
    let passed = r.seat_checks(&mut round, &mut g);
    assert_eq!(passed, vec![false, true, true, true, true]);
    r.partials(&mut round, &passed, &mut g);
    let outcome = r.publish_total(&mut round);
    let view = r.view(&round);
    assert!(view.suspended().contains(&cheat));
    assert!(
        view.evidence
            .iter()
            .any(|e| matches!(e, Evidence::LateComplaint(_, s) if *s == cheat))
    );
    assert!(view.disqualified.is_empty());
    assert!(!view.partials.contains_key(&r.ctx.seats[0].meter));
    assert_eq!(outcome, Outcome::Total(sums(&values, &r.ctx.roster)));
}

/// Suspension and disqualification last the day: in the next round the suspended sender's
/// commitment is ignored and the disqualified seat's partial does not count.
#[test]
fn suspensions_and_disqualifications_carry_to_the_next_round() {
    let r = shared();
    let values = readings(r);
    let cheat = r.ctx.roster[6].clone();
    let liar = r.ctx.seats[4].meter.clone();
    let mut round = LocalRound::default();
    deal_with_bad_share(
        r,
        &mut round,
        &values,
        &cheat,
        (2, 0),
        (Scalar::ONE, Scalar::ZERO),
    );
    through_reveal(r, &mut round, &values, 41);
    let honest = r.ctx.roster[0].clone();
    let lie = complaint(
        Complainant::Seat(liar.clone()),
        &honest,
        ComplaintKind::MalformedCiphertext,
    );
    post(r, &mut round, by(&liar), Entry::Complaint(lie));
    finish(r, &mut round, 42);
    let view = r.view(&round);
    assert!(view.accused.contains_key(&cheat));
    assert!(view.disqualified.contains_key(&liar));

    let mut next = r.next_round();
    next.ctx = r.ctx.next_round(&view);
    let (_, view2) = next.run(&values, &mut rng(43));
    assert!(
        view2.commits.iter().all(|(m, _)| *m != cheat),
        "a suspended meter's commitment is ignored"
    );
    assert!(!view2.partials.contains_key(&liar));
    let others = roster_without(r, &[&cheat]);
    assert_eq!(view2.outcome, Outcome::Total(sums(&values, &others)));
}

// --- found by the adversarial review of the implementation (docs/protocol.md, "Review") ---------

/// The aggregator re-posts one invalid signed complaint (a failing-range claim against an honest
/// sender) many times: each (complainant, sender) pair is judged once, exact copies cost a
/// lookup, so the flood costs no range-proof verification after the first.
#[test]
fn an_aggregator_complaint_flood_is_judged_once() {
    let r = shared();
    let values = readings(r);
    let round = revealed_round(r, &values, 50);
    let c = complaint(
        Complainant::Aggregator,
        &r.ctx.roster[3],
        ComplaintKind::FailedRangeProof,
    );
    let rec = r.record(Author::Aggregator, Entry::Complaint(c));
    let view = replay_flooded(r, &round, &rec, 100_000);
    assert_eq!(view.evidence.len(), 1, "judged once");
    assert!(view.accused.is_empty());
}

/// ABANDONED before a final set (here right after CommitClosed) is not valid: the round goes on,
/// and an ABANDONED posted once a total is possible is refused too. Once a valid ABANDONED
/// stands, no seat publishes a partial.
#[test]
fn abandoned_is_valid_only_after_the_final_set_without_enough_partials() {
    let r = shared();
    let values = readings(r);
    let mut g = rng(51);
    let mut round = committed(r, &values, &mut g);
    post(r, &mut round, Author::Aggregator, Entry::Abandoned);
    assert_eq!(r.view(&round).outcome, Outcome::Open);
    for m in values.keys() {
        assert!(r.reveal(&mut round, m));
    }
    r.close_reveals(&mut round);
    let passed = r.seat_checks(&mut round, &mut g);
    r.close_final(&mut round);
    post(r, &mut round, Author::Aggregator, Entry::Abandoned);
    let view = r.view(&round);
    assert_eq!(
        view.outcome,
        Outcome::Abandoned,
        "valid: final set, no partial yet"
    );
    r.partials(&mut round, &passed, &mut g);
    assert!(
        r.view(&round).partials.is_empty(),
        "no partial after a valid ABANDONED"
    );
}

/// A borrow-offset pair: A adds q·X to slot 0 of its plaintext for seat s, B subtracts it (B's
/// slot borrows, so B's part is bad on its own). The pair passes the seat's folds over the
/// revealed set; A is then excluded (failed range proof). The final set's fold no longer matches,
/// and the seat, instead of going silent, scans the final set and names B (a late complaint
/// suspends it). The other seats give the exact total of the final set.
#[test]
fn a_borrow_offset_pair_is_named_when_the_partial_fails() {
    use zeal_protocol::v2::crypto::packing::group_order;
    use zeal_protocol::v2::round::check::{SeatCheck, check_column};
    let r = shared();
    let all = readings(r);
    let s = 0usize;
    let qx = Integer::from(group_order() * &(Integer::from(1) << 43u32));
    for seed in 0..20u64 {
        let mut g = rng(1000 + seed);
        let mut round = LocalRound::default();
        let (a, b) = (r.ctx.roster[0].clone(), r.ctx.roster[1].clone());
        let honest: Vec<String> = r.ctx.roster[2..].to_vec();
        let mut tamper_a = |t: Tamper<'_>| match t {
            Tamper::Plaintext {
                seat,
                index: 0,
                plaintext,
            } if seat == s => *plaintext += &qx,
            Tamper::Value { value: 0, v } => *v = 1 << 40,
            _ => {}
        };
        let bundle_a = make_bundle_with(&r.ctx, &a, &all[&a], &mut tamper_a, &mut g).unwrap();
        let mut tamper_b = |t: Tamper<'_>| {
            if let Tamper::Plaintext {
                seat,
                index: 0,
                plaintext,
            } = t
                && seat == s
            {
                *plaintext -= &qx;
            }
        };
        let bundle_b = make_bundle_with(&r.ctx, &b, &all[&b], &mut tamper_b, &mut g).unwrap();
        r.post_commit(&mut round, bundle_a);
        r.post_commit(&mut round, bundle_b);
        for m in &honest {
            r.commit(&mut round, m, &all[m], &mut g);
        }
        r.close_commits(&mut round);
        for m in [&a, &b].into_iter().chain(honest.iter()) {
            r.reveal(&mut round, m);
        }
        r.close_reveals(&mut round);
        let v = r.view(&round);
        let col = r.column(&v, &round, s);
        let entries: Vec<_> = col.values().copied().collect();
        if check_column(&r.ctx, s, &r.seat_secrets[s], &entries, &mut g) != SeatCheck::Passed {
            continue; // the weighted fold caught it already: not the case under test
        }
        r.range_checks(&mut round);
        r.close_final(&mut round);
        let passed = vec![true; r.ctx.seats.len()];
        r.partials(&mut round, &passed, &mut g);
        let outcome = r.publish_total(&mut round);
        let view = r.view(&round);
        assert!(view.suspended().contains(&b), "B is named");
        assert!(!view.partials.contains_key(&r.ctx.seats[s].meter));
        let members = roster_without(r, &[&a]);
        assert_eq!(outcome, Outcome::Total(sums(&all, &members)));
        return;
    }
    panic!("no seed let the pair pass the seat's check");
}

/// A reader that replays a round again (the services' node, when suspensions carried from an
/// earlier round change the context) keeps each notice's judgement: the restarted replay gives
/// the fresh replay's view with no notice verified twice, and a notice whose content is changed
/// under a kept signature is judged afresh (refused).
#[test]
fn a_restarted_replay_is_the_fresh_replay_and_cannot_be_fooled_by_a_reused_signature() {
    use zeal_protocol::v2::round::log::{Answer, Replay, replay};
    let r = shared();
    let values = readings(r);
    let (round, fresh) = run_honest(r, &values, 91);
    let parts = r.parts(&round);
    let mut inc = Replay::new();
    let cold = inc
        .advance(&r.ctx, &r.directory, &round.log, &parts)
        .clone();
    inc.restart();
    let warm = inc
        .advance(&r.ctx, &r.directory, &round.log, &parts)
        .clone();
    for v in [&cold, &warm] {
        assert_eq!(v.outcome, fresh.outcome);
        assert_eq!(v.answers, fresh.answers);
        assert_eq!(v.final_set, fresh.final_set);
    }
    assert_eq!(cold.work.notices, values.len());
    assert_eq!(warm.work.notices, 0, "every notice verified once");

    // The first meter's notice, content changed (one part hash), its signature kept.
    let target = r.ctx.roster[0].clone();
    let mut log = round.log.clone();
    let at = log
        .iter()
        .position(|x| matches!((&x.author, &x.entry), (Author::Meter(m), Entry::Notice(_)) if *m == target))
        .unwrap();
    if let Entry::Notice(p) = &mut log[at].entry {
        p.part_hashes[0].0[0] ^= 1;
    }
    inc.restart();
    let tampered = inc.advance(&r.ctx, &r.directory, &log, &parts);
    let fresh_tampered = replay(&r.ctx, &r.directory, &log, &parts);
    assert!(!matches!(
        tampered.answers.get(&target),
        Some(Answer::Revealed(_))
    ));
    assert_eq!(tampered.answers, fresh_tampered.answers);
    assert_eq!(tampered.outcome, fresh_tampered.outcome);
}

/// Liveness (found 2026-12-02, the test that asserted the attack succeeded is inverted here): a
/// revealed meter that never delivers the parts its notice names to k − d seats used to silence
/// them for good — no verifier concluded a part was missing — and every round it revealed in was
/// ABANDONED. Now each silenced seat claims the part missing on the log; nobody can post a part
/// that hashes to the notice, so the final set leaves the withholder out and the round totals
/// the others exactly. The withholder loses its own value only.
#[test]
fn a_meter_withholding_its_parts_is_left_out_and_the_round_completes() {
    let r = shared();
    let values = readings(r);
    let mut round = revealed_round(r, &values, 31);
    let (withholder, donor) = (r.ctx.roster[4].clone(), r.ctx.roster[5].clone());
    let (k, d) = (r.ctx.seats.len(), r.ctx.degree);
    // What the seats (and the aggregator) fetch for the withholder is not the part its notice
    // names (here: another meter's part; withholding it altogether reads the same).
    for j in 0..k - d {
        let other = round.bundles[&donor].parts[j].clone();
        round.bundles.get_mut(&withholder).unwrap().parts[j] = other;
    }
    let mut g = rng(32);
    r.range_checks(&mut round);
    r.claim_missing(&mut round);
    r.answer_claims(&mut round);
    let view = r.view(&round);
    assert_eq!(view.missing.len(), k - d, "each silenced seat claims once");
    assert!(view.missing.keys().all(|(_, sender)| *sender == withholder));
    assert!(
        view.posted.is_empty(),
        "nobody holds a part that hashes to the notice"
    );
    let passed = r.seat_checks(&mut round, &mut g);
    assert_eq!(passed.iter().filter(|p| !**p).count(), k - d);
    r.close_final(&mut round);
    let view = r.view(&round);
    assert!(
        view.final_set.is_some(),
        "the determined final set is valid"
    );
    assert!(!members(&view).contains(&withholder));
    r.partials(&mut round, &passed, &mut g);
    let others = roster_without(r, &[&withholder]);
    assert_eq!(
        r.publish_total(&mut round),
        Outcome::Total(sums(&values, &others))
    );
    let view = r.view(&round);
    assert_eq!(
        view.partials.len(),
        k,
        "the silenced seats publish over the final set"
    );
    // Absence cannot be proven, so the withholder is left out, not suspended.
    assert!(!view.suspended().contains(&withholder));
    assert_incremental(r, &round);
}

/// A lying seat claims an honest sender's part missing. The honest aggregator answers with the
/// part it fetched; when the aggregator stays silent, the sender answers itself. Answers that do
/// not hash to the notice, or come from anyone else, answer nothing; a FinalSet that leaves out
/// an answered sender, or keeps an unanswered one, is invalid.
#[test]
fn a_claimed_missing_part_is_answered_on_the_log_and_the_sender_stays_in() {
    let r = shared();
    let values = readings(r);
    let (honest, other, third) = (
        r.ctx.roster[0].clone(),
        r.ctx.roster[1].clone(),
        r.ctx.roster[2].clone(),
    );
    let liar = r.ctx.seats[0].meter.clone();
    let posted = |round: &LocalRound, author: Author, sender: &str, part_of: &str| {
        r.record(author, part_posted(r, round, sender, 0, part_of))
    };

    // The honest aggregator answers.
    let mut round = revealed_round(r, &values, 41);
    claim(r, &mut round, &liar, &honest);
    r.answer_claims(&mut round);
    let view = r.view(&round);
    assert_eq!(view.posted.len(), 1);
    assert!(view.unanswered().is_empty());
    assert_eq!(
        finish(r, &mut round, 42),
        Outcome::Total(sums(&values, &r.ctx.roster))
    );
    assert_incremental(r, &round);

    // A silent aggregator: bogus answers count for nothing, the sender's own answer counts.
    let mut round = revealed_round(r, &values, 43);
    claim(r, &mut round, &liar, &honest);
    claim(r, &mut round, &liar, &other);
    let bogus = [
        // another meter's part under the honest sender's name, by the aggregator
        posted(&round, Author::Aggregator, &honest, &other),
        // the right part, posted by a third meter
        posted(&round, by(&third), &honest, &honest),
    ];
    round.log.extend(bogus);
    let view = r.view(&round);
    assert!(view.posted.is_empty());
    assert_eq!(
        view.unanswered().into_iter().collect::<Vec<_>>(),
        vec![honest.clone(), other.clone()]
    );
    // A FinalSet that keeps unanswered senders is invalid.
    post(
        r,
        &mut round,
        Author::Aggregator,
        Entry::FinalSet(view.revealed.clone().unwrap().1),
    );
    let answer = posted(&round, by(&honest), &honest, &honest);
    round.log.push(answer);
    // A FinalSet that leaves out the answered sender is invalid too.
    let without_both = roster_without(r, &[&honest, &other]);
    post(
        r,
        &mut round,
        Author::Aggregator,
        Entry::FinalSet(without_both),
    );
    let view = r.view(&round);
    assert_eq!(
        view.evidence
            .iter()
            .filter(|e| matches!(e, Evidence::InvalidMarker(_, "FinalSet")))
            .count(),
        2
    );
    assert!(view.final_set.is_none());
    let outcome = finish(r, &mut round, 44);
    let view = r.view(&round);
    assert!(members(&view).contains(&honest));
    assert!(!members(&view).contains(&other), "unanswered: left out");
    assert!(view.suspended().is_empty() && view.disqualified.is_empty());
    let kept = roster_without(r, &[&other]);
    assert_eq!(outcome, Outcome::Total(sums(&values, &kept)));
    assert_incremental(r, &round);
}

/// Claims count only from a seat, about a revealed sender, between RevealClosed and FinalSet; a
/// seat and a silent aggregator that leave too few senders answered void the round (as dropping
/// their reveals would), with no one suspended and no value in any total.
#[test]
fn claims_outside_their_window_count_for_nothing_and_too_many_void_the_round() {
    let r = shared();
    let values = readings(r);
    let seat = r.ctx.seats[0].meter.clone();
    let not_a_seat = non_seat(r);
    let target = r.ctx.roster[3].clone();
    let mut g = rng(51);
    let mut round = committed(r, &values, &mut g);
    for m in values.keys() {
        r.reveal(&mut round, m);
    }
    claim(r, &mut round, &seat, &target); // before RevealClosed
    r.close_reveals(&mut round);
    claim(r, &mut round, &not_a_seat, &target); // not a seat
    assert!(r.view(&round).missing.is_empty());
    r.close_final(&mut round);
    claim(r, &mut round, &seat, &target); // after FinalSet
    let view = r.view(&round);
    assert!(view.missing.is_empty());
    assert!(members(&view).contains(&target));

    // Every sender claimed, nobody answers: FinalSet below the quorum voids the round.
    let mut round = revealed_round(r, &values, 52);
    for m in values.keys() {
        claim(r, &mut round, &seat, m);
    }
    r.close_final(&mut round);
    let view = r.view(&round);
    assert_eq!(view.outcome, Outcome::Void);
    assert!(view.suspended().is_empty());
    assert!(r.ctx.next_round(&view).suspended.is_empty());
    assert_incremental(r, &round);
}

/// Claim amplification: a lying seat claims every sender's part missing, and the honest
/// aggregator copies that seat's whole column onto the round log that every gateway of the
/// region reads (≈ 4.6 kB a sender, per lying seat, per round). Now the aggregator answers at
/// most the seat's answer cap; once that many of its claims are answered, its other claims
/// lapse: nobody is left out for them, the round totals everyone exactly, and the log carries
/// at most `cap` parts for the seat whoever posts answers. A sender's own answer costs its
/// own bundle only and does not count.
#[test]
fn a_seat_claiming_every_part_gets_at_most_its_cap_copied_onto_the_log() {
    let r = shared();
    let values = readings(r);
    let cap = r.ctx.answer_cap(); // 1/16 of 8 meters, rounded up: 1
    assert!(cap + 1 < r.ctx.roster.len(), "the cap must bind here");
    let liar = r.ctx.seats[0].meter.clone();
    let mut round = revealed_round(r, &values, 61);
    for m in values.keys() {
        claim(r, &mut round, &liar, m);
    }
    r.answer_claims(&mut round);
    let view = r.view(&round);
    assert_eq!(
        view.posted.len(),
        cap,
        "the honest aggregator stops at the cap"
    );
    assert!(
        view.unanswered().is_empty(),
        "the seat's other claims lapsed"
    );
    // An aggregator that answers every claim anyway: the answers past the cap count for
    // nothing, and so do the seat's later claims.
    for m in values.keys() {
        let answer = part_posted(r, &round, m, 0, m);
        post(r, &mut round, Author::Aggregator, answer);
    }
    claim(r, &mut round, &liar, &r.ctx.roster[7]);
    let view = r.view(&round);
    assert_eq!(view.posted.len(), cap);
    assert!(view.unanswered().is_empty());
    assert_eq!(
        finish(r, &mut round, 62),
        Outcome::Total(sums(&values, &r.ctx.roster)),
        "nobody is left out for the lapsed claims"
    );
    let view = r.view(&round);
    assert!(view.suspended().is_empty() && view.disqualified.is_empty());
    assert_incremental(r, &round);

    // A sender's own answer does not count towards the seat's cap.
    let mut round = revealed_round(r, &values, 63);
    let (first, second) = (r.ctx.roster[1].clone(), r.ctx.roster[2].clone());
    claim(r, &mut round, &liar, &first);
    claim(r, &mut round, &liar, &second);
    let own = part_posted(r, &round, &first, 0, &first);
    post(r, &mut round, by(&first), own);
    let view = r.view(&round);
    assert_eq!(view.posted.len(), 1);
    assert!(view.capped.is_empty() && view.aggregator_answers.is_empty());
    assert_eq!(
        view.unanswered().into_iter().collect::<Vec<_>>(),
        vec![second]
    );
    r.answer_claims(&mut round);
    let view = r.view(&round);
    assert_eq!(view.posted.len(), 2);
    assert!(view.capped.contains(&liar));
    assert_incremental(r, &round);
}

/// An audit months later holds the round log and none of the bundles topic (bulk, short
/// retention). A seat's complaint can only be judged with the sender's part, so such a reader
/// used to stop at the first complaint for good. Now the aggregator posts each judged
/// complaint's part on the log; a reader holding only the log reaches every conclusion a reader
/// with every part reaches, and parts on the log that do not hash to the notice count for
/// nothing.
#[test]
fn the_round_log_alone_judges_every_complaint() {
    let r = shared();
    let values = readings(r);
    let cheat = r.ctx.roster[4].clone();
    let bump = (Scalar::from(5u64), Scalar::ZERO);
    let mut round = LocalRound::default();
    deal_with_bad_share(r, &mut round, &values, &cheat, (1, 0), bump);
    through_reveal(r, &mut round, &values, 71);
    r.range_checks(&mut round);
    let passed = r.seat_checks(&mut round, &mut rng(72));
    let log_only = |round: &LocalRound| {
        let parts = parts_on_log(&r.ctx, &round.log);
        replay(&r.ctx, &r.directory, &round.log, &parts)
    };
    let complaint_at = round
        .log
        .iter()
        .position(|x| matches!(&x.entry, Entry::Complaint(c) if c.sender == cheat))
        .expect("the seat complains");
    assert_eq!(
        log_only(&round).waiting_at,
        Some(complaint_at),
        "without the part the reader waits at the complaint"
    );
    // A bogus part under the cheat's name (another meter's) posted by the aggregator answers
    // nothing and judges nothing.
    let bogus = part_posted(r, &round, &cheat, 1, &r.ctx.roster[0]);
    post(r, &mut round, Author::Aggregator, bogus);
    assert_eq!(log_only(&round).waiting_at, Some(complaint_at));
    r.post_complaint_parts(&mut round);
    assert_eq!(log_only(&round).waiting_at, None);
    r.close_final(&mut round);
    r.partials(&mut round, &passed, &mut rng(73));
    let others = roster_without(r, &[&cheat]);
    assert_eq!(
        r.publish_total(&mut round),
        Outcome::Total(sums(&values, &others))
    );
    let full = r.view(&round);
    assert!(full.accused.contains_key(&cheat));
    assert_eq!(conclusions(&log_only(&round)), conclusions(&full));
    assert_eq!(
        round
            .log
            .iter()
            .filter(|x| matches!(x.entry, Entry::PartPosted { .. }))
            .count(),
        2,
        "the bogus one and one part per judged complaint"
    );
    assert_incremental(r, &round);
}
