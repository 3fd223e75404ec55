//! Every rule of the round (DESIGN §4) with the exact outcome it must produce.
// Faults are set up field by field so each test reads as the fault it injects.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::*;
use zeal_protocol::round::aggregator::Output;
use zeal_protocol::round::crypto::{MessageSigner, Plaintext, SlotLayout, sign_message};
use zeal_protocol::round::gateway::Refusal;
use zeal_schemas::{QuarantineReason, RejectReason, RoundStatus};

const MIN: i64 = 60_000;

fn interval(k: i64) -> i64 {
    T0 + k * 900_000
}

/// Delivers each of `messages` with its wire encoding and keeps what `pick` takes from the
/// outputs, in order.
fn replay_into<M: zeal_schemas::WireMessage + Clone, T>(
    messages: &[M],
    mut deliver: impl FnMut(M, &[u8]) -> Vec<Output>,
    pick: impl Fn(Output) -> Option<T>,
) -> Vec<T> {
    let mut kept = Vec::new();
    for m in messages {
        let raw = zeal_schemas::encode(m).unwrap();
        kept.extend(deliver(m.clone(), &raw).into_iter().filter_map(&pick));
    }
    kept
}

fn total_of(log: &Log) -> Vec<u64> {
    assert_eq!(
        log.totals.len(),
        1,
        "exactly one total: {:?}",
        log.statuses()
    );
    log.totals[0].totals.iter().map(|v| *v as u64).collect()
}

/// A world of seven meters that recorded readings for intervals 0 and 1.
fn world_with_two_intervals(seed: u64) -> (World, Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let mut w = World::new(7, seed);
    let (r0, r1) = (readings(7, 0), readings(7, 1));
    w.record(interval(0), &r0);
    w.record(interval(1), &r1);
    (w, r0, r1)
}

/// The plain sum of `members` over both intervals' readings (a carried interval's and the
/// round's own).
fn sum_of_both(r0: &[Vec<u64>], r1: &[Vec<u64>], members: &[usize]) -> Vec<u64> {
    plain_sum(r0, members)
        .iter()
        .zip(plain_sum(r1, members))
        .map(|(a, b)| a + b)
        .collect()
}

#[test]
fn honest_rounds_publish_the_exact_sum() {
    let mut w = World::new(7, 1);
    for k in 0..3 {
        let r = readings(7, k as u64);
        w.record(interval(k), &r);
        let log = w.run_round(interval(k), &mut Faults::default());
        assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
        assert_eq!(total_of(&log), sum_all(&r));
        assert_eq!(log.totals[0].contributors, 7);
        assert!(log.rejections.is_empty() && log.refusals.is_empty() && log.quarantines.is_empty());
        assert!(log.totals[0].carried_intervals.is_empty());
    }
    assert_eq!(
        w.aggregator.open_rounds(),
        0,
        "no state kept for closed rounds"
    );
}

#[test]
fn share_phase_dropout_reopens_without_the_missing_meter() {
    let mut w = World::new(7, 2);
    let r = readings(7, 0);
    w.record(interval(0), &r);
    let mut f = Faults::default();
    f.silent_in_share_phase.insert(1, vec![meter_id(3)]);
    let log = w.run_round(interval(0), &mut f);
    assert_eq!(
        log.statuses(),
        vec![RoundStatus::Reopened, RoundStatus::Completed]
    );
    assert_eq!(log.outcomes[0].missing, vec![meter_id(3)]);
    assert_eq!(log.opens[1].attempt, 2);
    assert!(!log.opens[1].roster.contains(&meter_id(3)));
    let members: Vec<usize> = (0..7).filter(|i| *i != 3).collect();
    assert_eq!(total_of(&log), plain_sum(&r, &members));
    assert_eq!(log.totals[0].contributors, 6);
    assert!(log.quarantines.is_empty(), "a dropout is not a fault");
}

#[test]
fn too_few_left_abandons_and_the_next_round_carries_the_interval() {
    let (mut w, r0, r1) = world_with_two_intervals(3);
    let mut f = Faults::default();
    f.silent_in_share_phase
        .insert(1, vec![meter_id(0), meter_id(1), meter_id(2)]);
    let log = w.run_round(interval(0), &mut f);
    assert_eq!(log.statuses(), vec![RoundStatus::Abandoned]);
    assert!(
        log.totals.is_empty() && log.partials.is_empty(),
        "nothing revealed"
    );
    assert_eq!(w.aggregator.deferred_intervals(REGION), vec![interval(0)]);

    let log = w.run_round(interval(1), &mut Faults::default());
    assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
    assert_eq!(log.totals[0].carried_intervals, vec![interval(0)]);
    let all: Vec<usize> = (0..7).collect();
    let expect = sum_of_both(&r0, &r1, &all);
    assert_eq!(total_of(&log), expect, "carried energy is not lost");
    assert!(w.aggregator.deferred_intervals(REGION).is_empty());
}

#[test]
fn attempts_are_bounded() {
    let config = zeal_protocol::ProtocolConfig {
        max_attempts: 2,
        ..Default::default()
    };
    let mut w = World::with_config(8, 4, config);
    w.record(interval(0), &readings(8, 0));
    let mut f = Faults::default();
    f.silent_in_share_phase.insert(1, vec![meter_id(1)]);
    f.silent_in_share_phase.insert(2, vec![meter_id(2)]);
    let log = w.run_round(interval(0), &mut f);
    assert_eq!(
        log.statuses(),
        vec![RoundStatus::Reopened, RoundStatus::Abandoned]
    );
    assert!(log.totals.is_empty());
}

#[test]
fn a_region_below_min_roster_is_never_opened() {
    let mut w = World::new(4, 5);
    w.record(interval(0), &readings(4, 0));
    let log = w.run_round(interval(0), &mut Faults::default());
    assert!(log.opens.is_empty());
    assert_eq!(log.statuses(), vec![RoundStatus::Abandoned]);
}

#[test]
fn wrong_partial_defers_quarantines_and_carries_forward() {
    let (mut w, r0, r1) = world_with_two_intervals(6);
    let culprit = meter_id(2);
    let mut f = Faults::default();
    let c = culprit.clone();
    let ci = 2;
    f.tamper_partial = Some(Box::new(move |p, secrets| {
        if p.sender == c {
            let last = p.plaintexts[0].len() - 1;
            p.plaintexts[0][last] ^= 1; // claim a different column sum
            sign_message(&secrets[ci], p); // signed by the culprit itself
        }
    }));
    let log = w.run_round(interval(0), &mut f);
    assert_eq!(log.statuses(), vec![RoundStatus::Deferred]);
    assert!(log.totals.is_empty());
    assert_eq!(log.outcomes[0].culprits, vec![culprit.clone()]);
    assert_eq!(log.quarantines.len(), 1);
    assert_eq!(log.quarantines[0].meter_id, culprit);
    assert_eq!(log.quarantines[0].reason, QuarantineReason::InvalidPartial);
    assert!(
        !log.quarantines[0].evidence.is_empty(),
        "the signed partial is the evidence"
    );
    assert!(
        log.rejections
            .iter()
            .any(|r| r.reason == RejectReason::InvalidPartial)
    );
    assert!(w.dir.is_quarantined(&culprit));

    let log = w.run_round(interval(1), &mut Faults::default());
    assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
    assert!(
        !log.opens[0].roster.contains(&culprit),
        "quarantined meters leave the roster"
    );
    assert_eq!(log.totals[0].carried_intervals, vec![interval(0)]);
    let honest: Vec<usize> = (0..7).filter(|i| *i != 2).collect();
    assert_eq!(total_of(&log), sum_of_both(&r0, &r1, &honest));
}

#[test]
fn missing_partial_defers_and_quarantines() {
    let mut w = World::new(6, 7);
    w.record(interval(0), &readings(6, 0));
    let mut f = Faults {
        silent_in_partial_phase: vec![meter_id(4)],
        ..Default::default()
    };
    let log = w.run_round(interval(0), &mut f);
    assert_eq!(log.statuses(), vec![RoundStatus::Deferred]);
    assert_eq!(log.outcomes[0].missing, vec![meter_id(4)]);
    assert_eq!(log.quarantines.len(), 1);
    assert_eq!(log.quarantines[0].reason, QuarantineReason::MissingPartial);
    assert!(w.dir.is_quarantined(&meter_id(4)));
}

#[test]
fn out_of_range_shares_are_attributed_to_their_sender() {
    let mut w = World::new(6, 8);
    w.record(interval(0), &readings(6, 0));
    let (cheat, victim) = (1usize, 3usize);
    let (cheat_id, victim_id) = (meter_id(cheat), meter_id(victim));
    let victim_keys = w.secrets[victim].public_keys().clone();
    let mut f = Faults::tampering_bundles_of(cheat_id, move |b, secrets| {
        let layout = SlotLayout::new(2048, 40, 6, 2);
        // A share far above 2^b in slot 0: the victim's column sum overflows its bound.
        let huge = Plaintext(rug::Integer::from(1u64 << (layout.slot_bits - 1)));
        let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(99);
        let key = zeal_protocol::round::RoundKey {
            region: b.region.clone(),
            interval_start: b.interval_start,
            attempt: b.attempt,
        };
        for s in b.shares.iter_mut().filter(|s| s.recipient == victim_id) {
            let c = victim_keys.encrypt_plain(&huge, &mut rng);
            s.ciphertext = c.to_bytes(&victim_keys);
            s.signature =
                secrets[cheat].sign_share(&key, &b.sender, &s.recipient, s.index, &s.ciphertext);
        }
        sign_message(&secrets[cheat], b);
    });
    let log = w.run_round(interval(0), &mut f);
    assert_eq!(log.statuses(), vec![RoundStatus::Deferred]);
    let victim_partial = log
        .partials
        .iter()
        .find(|p| p.sender == meter_id(victim))
        .unwrap();
    assert_eq!(victim_partial.accusations.len(), 1);
    assert_eq!(victim_partial.accusations[0].sender, meter_id(cheat));
    assert_eq!(log.quarantines.len(), 1, "{:?}", log.quarantines);
    assert_eq!(log.quarantines[0].meter_id, meter_id(cheat));
    assert_eq!(
        log.quarantines[0].reason,
        QuarantineReason::OutOfRangeShares
    );
    assert!(!w.dir.is_quarantined(&meter_id(victim)));
}

#[test]
fn forged_bundle_is_rejected_and_not_blamed_on_the_claimed_sender() {
    let mut w = World::new(7, 9);
    let r = readings(7, 0);
    w.record(interval(0), &r);
    let victim = meter_id(5);
    let mut f = Faults::tampering_bundles_of(victim.clone(), |b, secrets| {
        b.shares[0].ciphertext[100] ^= 0x40;
        sign_message(&secrets[0], b); // signed with somebody else's key
    });
    let log = w.run_round(interval(0), &mut f);
    let forged: Vec<_> = log
        .rejections
        .iter()
        .filter(|r| r.reason == RejectReason::BadSignature)
        .collect();
    assert_eq!(forged.len(), 1);
    assert_eq!(forged[0].origin.as_deref(), Some(victim.as_str()));
    assert_eq!(
        log.statuses(),
        vec![RoundStatus::Reopened, RoundStatus::Completed]
    );
    assert!(
        log.quarantines.is_empty(),
        "an unsigned claim proves nothing about its sender"
    );
    let members: Vec<usize> = (0..7).filter(|i| *i != 5).collect();
    assert_eq!(total_of(&log), plain_sum(&r, &members));
}

#[test]
fn per_ciphertext_signatures_are_checked() {
    let mut w = World::new(6, 10);
    w.record(interval(0), &readings(6, 0));
    let mut f = Faults::tampering_bundles_of(meter_id(0), |b, secrets| {
        // A valid bundle signature over a share whose own signature is for another index.
        b.shares[1].signature = b.shares[0].signature.clone();
        sign_message(&secrets[0], b);
    });
    let log = w.run_round(interval(0), &mut f);
    assert!(log.rejected(RejectReason::BadSignature, &meter_id(0)));
}

#[test]
fn replayed_bundles_change_nothing() {
    let mut w = World::new(6, 11);
    let r = readings(6, 0);
    w.record(interval(0), &r);
    let mut f = Faults {
        replay_bundles: true,
        ..Default::default()
    };
    let log = w.run_round(interval(0), &mut f);
    let replays = log
        .rejections
        .iter()
        .filter(|r| r.reason == RejectReason::Replay)
        .count();
    assert_eq!(replays, 6, "every second delivery is refused as a replay");
    assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
    assert_eq!(total_of(&log), sum_all(&r));
}

#[test]
fn unknown_and_out_of_roster_senders_are_rejected() {
    let mut w = World::new(6, 12);
    w.record(interval(0), &readings(6, 0));
    let mut f = Faults::tampering_bundles_of(meter_id(0), |b, _| b.sender = "intruder".into());
    let log = w.run_round(interval(0), &mut f);
    assert!(log.rejected(RejectReason::UnknownSender, "intruder"));

    // Enrolled, but after the roster was fixed: not in the roster.
    let mut w = World::new(6, 13);
    w.record(interval(0), &readings(6, 0));
    let extra = key_pool()[40].clone();
    let late = extra.enrolment("NL-UT-01-late", REGION, T0);
    let out = w.aggregator.open_round(&w.dir, REGION, interval(0), w.now);
    assert!(matches!(
        out[0],
        zeal_protocol::round::aggregator::Output::Open(_)
    ));
    w.dir.enrol(&late).unwrap();
    let mut bundle = w.meters[0]
        .on_round_open(
            &w.dir,
            w.aggregator
                .round_open_message(REGION, interval(0))
                .unwrap(),
            w.now,
            &mut w.rng,
        )
        .unwrap()
        .unwrap();
    bundle.sender = "NL-UT-01-late".into();
    sign_message(&extra, &mut bundle);
    let raw = zeal_schemas::encode(&bundle).unwrap();
    let out = w
        .aggregator
        .on_share_bundle(&mut w.dir, bundle, &raw, w.now);
    assert!(
        matches!(&out[0], zeal_protocol::round::aggregator::Output::Reject(r) if r.reason == RejectReason::NotInRoster)
    );
}

#[test]
fn late_and_stale_messages_are_rejected() {
    let mut w = World::new(6, 14);
    w.record(interval(0), &readings(6, 0));
    let out = w.aggregator.open_round(&w.dir, REGION, interval(0), w.now);
    let zeal_protocol::round::aggregator::Output::Open(open) = &out[0] else {
        panic!()
    };
    let bundle = w.meters[0]
        .on_round_open(&w.dir, open, w.now, &mut w.rng)
        .unwrap()
        .unwrap();
    let raw = zeal_schemas::encode(&bundle).unwrap();
    let late = open.share_deadline + 1;
    let out = w
        .aggregator
        .on_share_bundle(&mut w.dir, bundle.clone(), &raw, late);
    assert!(
        matches!(&out[0], zeal_protocol::round::aggregator::Output::Reject(r) if r.reason == RejectReason::Late)
    );
    // A bundle for a round that was never opened.
    let mut other = bundle;
    other.interval_start += 900_000;
    let out = w.aggregator.on_share_bundle(&mut w.dir, other, &raw, w.now);
    assert!(
        matches!(&out[0], zeal_protocol::round::aggregator::Output::Reject(r) if r.reason == RejectReason::UnknownRound)
    );
    let _ = MIN;
}

#[test]
fn the_aggregator_is_deterministic() {
    // Two aggregators with the same key fed the same inputs publish identical bytes: a
    // replacement instance replaying the log reaches the same decisions.
    let mut w = World::new(5, 15);
    w.record(interval(0), &readings(5, 0));
    let log = w.run_round(interval(0), &mut Faults::default());
    let mut w2 = World::new(5, 15);
    w2.record(interval(0), &readings(5, 0));
    let out = w2.aggregator.open_round(&w2.dir, REGION, interval(0), T0);
    assert_eq!(
        zeal_protocol::round::aggregator::Output::Open(log.opens[0].clone()),
        out[0]
    );
    let mut now = T0;
    let mut redistributions = Vec::new();
    for b in &log.bundles {
        now += 1_000;
        let raw = zeal_schemas::encode(b).unwrap();
        for o in w2
            .aggregator
            .on_share_bundle(&mut w2.dir, b.clone(), &raw, T0 + 1_000)
        {
            if let zeal_protocol::round::aggregator::Output::Redistribute(r) = o {
                redistributions.push(r);
            }
        }
    }
    let _ = now;
    assert_eq!(redistributions, log.redistributions);
}

/// DESIGN §4 step 4: a malicious aggregator hands a meter a single sender's ciphertext as its
/// "product". Decrypting it would reveal that sender's share s_ij; with every other share it
/// would reveal the sender's reading. The meter must refuse every variant.
#[test]
fn a_meter_decrypts_only_what_it_recomputed_from_a_full_signed_column() {
    use zeal_protocol::round::crypto::AggregatorKey;
    let mut w = World::new(6, 16);
    w.record(interval(0), &readings(6, 0));
    // The test plays the malicious aggregator with a trusted key.
    let evil = {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(16);
        AggregatorKey::generate("agg-1", &mut rng)
    };
    use rand::SeedableRng;
    assert_eq!(
        evil.public(),
        w.aggregator_public,
        "same seed, same trusted key"
    );
    let out = w.aggregator.open_round(&w.dir, REGION, interval(0), w.now);
    let zeal_protocol::round::aggregator::Output::Open(open) = out[0].clone() else {
        panic!()
    };
    let mut bundles = Vec::new();
    for m in w.meters.iter_mut() {
        bundles.push(
            m.on_round_open(&w.dir, &open, w.now, &mut w.rng)
                .unwrap()
                .unwrap(),
        );
    }
    let mut redistribution = None;
    for b in &bundles {
        let raw = zeal_schemas::encode(b).unwrap();
        for o in w
            .aggregator
            .on_share_bundle(&mut w.dir, b.clone(), &raw, w.now)
        {
            if let zeal_protocol::round::aggregator::Output::Redistribute(r) = o
                && r.recipient == meter_id(0)
            {
                redistribution = Some(r);
            }
        }
    }
    let honest = redistribution.expect("redistribution for meter 0");
    let target = &mut w.meters[0];

    // 1. A single sender's ciphertext as the product.
    let mut single = honest.clone();
    single.folded.retain(|f| f.sender == meter_id(1));
    single.products = vec![single.folded[0].ciphertext.clone()];
    sign_message(&evil, &mut single);
    assert!(matches!(
        target.on_redistribution(&w.dir, &single),
        Err(Refusal::IncompleteColumn(_))
    ));

    // 2. The full column, but the product is one sender's ciphertext.
    let mut swapped = honest.clone();
    swapped.products = vec![honest.folded[0].ciphertext.clone()];
    sign_message(&evil, &mut swapped);
    assert!(matches!(
        target.on_redistribution(&w.dir, &swapped),
        Err(Refusal::ProductMismatch(0))
    ));

    // 3. The same sender's ciphertext repeated to fill the column.
    let mut repeated = honest.clone();
    let first = repeated.folded[0].clone();
    for f in repeated.folded.iter_mut() {
        f.ciphertext = first.ciphertext.clone();
        f.signature = first.signature.clone();
    }
    sign_message(&evil, &mut repeated);
    assert!(matches!(
        target.on_redistribution(&w.dir, &repeated),
        Err(Refusal::IncompleteColumn(_))
    ));

    // 4. A ciphertext signed for another recipient.
    let other = w.aggregator_public.clone();
    let _ = other;
    let mut misdirected = honest.clone();
    let foreign = bundles[1]
        .shares
        .iter()
        .find(|s| s.recipient == meter_id(2))
        .unwrap();
    misdirected.folded[0].ciphertext = foreign.ciphertext.clone();
    misdirected.folded[0].signature = foreign.signature.clone();
    sign_message(&evil, &mut misdirected);
    assert!(matches!(
        target.on_redistribution(&w.dir, &misdirected),
        Err(Refusal::IncompleteColumn(_))
    ));

    // 5. Not signed by a trusted aggregator.
    let mut unsigned = honest.clone();
    unsigned.signature = vec![0; 64];
    assert!(matches!(
        target.on_redistribution(&w.dir, &unsigned),
        Err(Refusal::UntrustedAggregator)
    ));

    // The honest column is accepted, once.
    assert!(target.on_redistribution(&w.dir, &honest).unwrap().is_some());
    assert!(matches!(
        target.on_redistribution(&w.dir, &honest),
        Err(Refusal::AlreadyRevealed(_))
    ));

    // 6. A reopened attempt for the same interval does not get a second partial out of it.
    let mut reopen = open.clone();
    reopen.attempt = 2;
    reopen.roster.retain(|m| *m != meter_id(5));
    sign_message(&evil, &mut reopen);
    assert!(matches!(
        target.on_round_open(&w.dir, &reopen, w.now, &mut w.rng),
        Err(Refusal::AlreadyRevealed(_))
    ));

    // 7. A roster below the meter's own minimum.
    let mut small = open.clone();
    small.interval_start = interval(5);
    small.roster.truncate(4);
    sign_message(&evil, &mut small);
    assert!(matches!(
        w.meters[0].on_round_open(&w.dir, &small, w.now, &mut w.rng),
        Err(Refusal::BadRound(_))
    ));
    let _ = evil.sign_bytes("x", b"");
}

#[test]
fn a_replacement_adopting_the_log_finishes_the_round_with_the_same_total() {
    use zeal_protocol::round::aggregator::{Aggregator, Output};
    use zeal_protocol::round::crypto::AggregatorKey;
    // The first aggregator opens the round and collects every bundle, then dies before the
    // partials arrive. A replacement with the same key adopts the logged RoundOpen, is fed the
    // bundles and partials again, and publishes the same redistributions and one total.
    let mut w = World::new(6, 17);
    let r = readings(6, 0);
    w.record(interval(0), &r);
    let log = w.run_round(interval(0), &mut Faults::default());
    let mut rng = <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(17);
    let key = AggregatorKey::generate("agg-1", &mut rng);
    assert_eq!(key.public(), w.aggregator_public);
    let mut replacement = Aggregator::new(key, w.config.clone());
    replacement.adopt_open(log.opens[0].clone());
    let redistributions = replay_into(
        &log.bundles,
        |b, raw| replacement.on_share_bundle(&mut w.dir, b, raw, T0 + 1_000),
        |o| match o {
            Output::Redistribute(x) => Some(x),
            _ => None,
        },
    );
    assert_eq!(
        redistributions, log.redistributions,
        "byte-identical decisions"
    );
    let totals = replay_into(
        &log.partials,
        |p, raw| replacement.on_partial(&mut w.dir, p, raw, T0 + 2_000),
        |o| match o {
            Output::Total(t) => Some(t),
            _ => None,
        },
    );
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].totals, log.totals[0].totals);

    // Adopting an outcome closes the round: later copies of its messages are refused.
    let mut third = Aggregator::new(
        AggregatorKey::generate(
            "agg-1",
            &mut <rand_chacha::ChaCha20Rng as rand::SeedableRng>::seed_from_u64(17),
        ),
        w.config.clone(),
    );
    third.adopt_open(log.opens[0].clone());
    third.adopt_outcome(&log.outcomes[0]);
    assert_eq!(third.open_rounds(), 0);
    let raw = zeal_schemas::encode(&log.bundles[0]).unwrap();
    let out = third.on_share_bundle(&mut w.dir, log.bundles[0].clone(), &raw, T0);
    assert!(matches!(&out[0], Output::Reject(x) if x.reason == RejectReason::Late));
}

#[test]
fn the_audit_passes_honest_rounds_and_names_each_tampering() {
    use zeal_protocol::round::audit::audit_round;
    let mut w = World::new(6, 18);
    w.record(interval(0), &readings(6, 0));
    let log = w.run_round(interval(0), &mut Faults::default());
    let trusted = [w.aggregator_public.clone()];
    let clean = audit_round(&log.round, &w.dir, &w.config, &trusted);
    assert!(clean.ok(), "{:?}", clean.findings);
    assert_eq!(clean.recomputed.as_ref(), clean.published.as_ref());

    // A second, different total for the same interval (even if signed by the real key).
    let mut tampered = log.round.clone();
    let mut forged = log.totals[0].clone();
    forged.totals[0] += 1000;
    tampered.totals.push(forged.clone());
    let a = audit_round(&tampered, &w.dir, &w.config, &trusted);
    assert!(
        a.findings.iter().any(|f| f.check == "one-total"),
        "{:?}",
        a.findings
    );
    assert!(
        a.findings.iter().any(|f| f.check == "signature"),
        "an unsigned edit is caught"
    );

    // A replaced total: arithmetic.
    let mut replaced = log.round.clone();
    replaced.totals = vec![forged];
    let a = audit_round(&replaced, &w.dir, &w.config, &trusted);
    assert!(
        a.findings.iter().any(|f| f.check == "arithmetic"),
        "{:?}",
        a.findings
    );

    // A doctored redistribution: the fold check.
    let mut refolded = log.round.clone();
    refolded.redistributions[0].products[0] = log.redistributions[1].products[0].clone();
    let a = audit_round(&refolded, &w.dir, &w.config, &[]);
    assert!(
        a.findings.iter().any(|f| f.check == "fold"),
        "{:?}",
        a.findings
    );
}
