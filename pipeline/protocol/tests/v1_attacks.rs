//! The attacks filed against the retired protocol v1, modelled in code against v1's own public
//! state machines and arithmetic, each test ASSERTING THAT THE ATTACK SUCCEEDS. Project rule:
//! every guarantee names the attack it stops and the test that fails if it breaks, and that
//! attack is first written as a test and seen to succeed against the old code. These are the v1
//! halves; each names the test in `tests/v2_attacks.rs`, `tests/v2_enrolment.rs` or
//! `tests/v2_exhaustion.rs` that shows the same attack failing against v2. If v1 were ever fixed,
//! or an attack model here were wrong, the test would fail. Resource exhaustion is measured, not
//! run to the end: bytes allocated (bignums included) through the counting allocator of
//! `tests/counting`, at a size that cannot make the test machine swap.
//!
//! Honest parties run the unmodified v1 code (`MeterAgent`, `Aggregator`, `Directory`); only the
//! attackers' messages are built by hand, from the same public building blocks, and they are
//! validly signed by their senders.

mod common;
mod counting;

use common::*;
use counting::{GIB, KIB, MIB, measure};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rug::Integer;
use rug::integer::Order;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::RoundKey;
use zeal_protocol::round::aggregator::{Aggregator, Output};
use zeal_protocol::round::crypto::{
    AggregatorKey, Ciphertext, MeterPublicKeys, MeterSecrets, Plaintext, SlotLayout, WINDOW_BITS,
    decrypt_to_bytes, short_exponent_bits, sign_message, split_shares,
};
use zeal_protocol::round::directory::Directory;
use zeal_protocol::round::gateway::{MeterAgent, Refusal};
use zeal_protocol::round::verify::{
    check_bundle, check_open, layout_for, values_per_meter, verify_partial,
};
use zeal_schemas::{
    EncryptedShare, MeterEnrolment, MeterStatus, Partial, QuarantineReason, Redistribution,
    RegionTotal, RejectReason, RoundOpen, RoundOutcome, RoundStatus, ShareBundle, encode,
};

/// v1's default value width b (ProtocolConfig::default()).
const B: u32 = 40;
const MASK: u64 = (1 << B) - 1;

fn interval(k: i64) -> i64 {
    T0 + k * 900_000
}

fn big(bytes: &[u8]) -> Integer {
    Integer::from_digits(bytes, Order::Msf)
}

fn fixed(x: &Integer, width: usize) -> Vec<u8> {
    let digits = x.to_digits::<u8>(Order::Msf);
    let mut out = vec![0u8; width - digits.len()];
    out.extend_from_slice(&digits);
    out
}

/// n² of an enrolled meter's Paillier key, from its public registry entry.
fn n_squared(dir: &Directory, id: &str) -> Integer {
    big(&dir.get(id).expect("enrolled").enrolment.paillier_n).square()
}

/// Household readings (import, export in Wh) for `meters` meters, from a seeded RNG.
fn random_readings(meters: usize, g: &mut ChaCha20Rng) -> Vec<Vec<u64>> {
    (0..meters)
        .map(|_| vec![g.random_range(0..50_000), g.random_range(0..20_000)])
        .collect()
}

fn add(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.wrapping_add(*y) & MASK)
        .collect()
}

fn sub(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.wrapping_sub(*y) & MASK)
        .collect()
}

fn total_of(t: &RegionTotal) -> Vec<u64> {
    t.totals.iter().map(|v| *v as u64).collect()
}

/// The column sum S_j a partial publishes (what the aggregator and anyone reading the partials
/// topic sees), mod 2^b.
fn column_sum(open: &RoundOpen, p: &Partial) -> Vec<u64> {
    let layout = layout_for(open, 2048);
    let bound = (open.roster.len() as u64 - 1) << open.value_bits;
    let column = layout
        .unpack_checked(&p.plaintexts, bound)
        .expect("in range");
    column.into_iter().map(|v| v & MASK).collect()
}

/// The retained share s_jj a partial publishes next to its column sum.
fn retained(p: &Partial) -> Vec<u64> {
    p.retained.iter().map(|v| *v as u64).collect()
}

fn partial_of<'a>(log: &'a Log, id: &str) -> &'a Partial {
    log.partials
        .iter()
        .find(|p| p.sender == id)
        .expect("partial")
}

/// The redistribution the aggregator sent to `recipient`.
fn redistribution_to<'a>(log: &'a Log, recipient: &str) -> &'a Redistribution {
    log.redistributions
        .iter()
        .find(|x| x.recipient == recipient)
        .expect("redistribution")
}

/// A world of `meters` meters that recorded random readings for interval 0, with the RNG
/// (seeded `seed`) that drew them.
fn world_with_readings(
    meters: usize,
    world_seed: u64,
    seed: u64,
) -> (World, ChaCha20Rng, Vec<Vec<u64>>) {
    let mut w = World::new(meters, world_seed);
    let mut g = ChaCha20Rng::seed_from_u64(seed);
    let r = random_readings(meters, &mut g);
    w.record(interval(0), &r);
    (w, g, r)
}

/// Asserts that a round completed with nothing noticed: no rejection, refusal or quarantine.
fn assert_unnoticed(log: &Log) {
    assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
    assert!(log.rejections.is_empty(), "{:?}", log.rejections);
    assert!(log.refusals.is_empty(), "{:?}", log.refusals);
    assert!(log.quarantines.is_empty(), "{:?}", log.quarantines);
}

/// The ciphertext (index 0) `sender` sent to `recipient` in a bundle on the shares topic.
fn ciphertext_to<'a>(bundles: &'a [ShareBundle], sender: &str, recipient: &str) -> &'a [u8] {
    share_to(
        bundles.iter().find(|b| b.sender == sender).expect("bundle"),
        recipient,
    )
}

/// The ciphertext (index 0) to `recipient` in one bundle.
fn share_to<'a>(b: &'a ShareBundle, recipient: &str) -> &'a [u8] {
    let s = b
        .shares
        .iter()
        .find(|s| s.recipient == recipient && s.index == 0)
        .expect("share");
    &s.ciphertext
}

/// A colluding recipient decrypts the share a sender encrypted to it (one plaintext: values).
fn decrypt_share(open: &RoundOpen, me: &MeterSecrets, ciphertext: &[u8]) -> Vec<u64> {
    let c = Ciphertext::parse(me.public_keys(), ciphertext).expect("valid ciphertext");
    let layout = layout_for(open, 2048);
    layout
        .unpack_checked(&[decrypt_to_bytes(me, &c)], 1 << open.value_bits)
        .expect("an honest share is in range")
}

fn key_of(b: &ShareBundle) -> RoundKey {
    RoundKey {
        region: b.region.clone(),
        interval_start: b.interval_start,
        attempt: b.attempt,
    }
}

/// Replaces the colluder's ciphertext (index 0) to each recipient j in `cancel` by
/// `extra[j] · Π (c_ij)^-1 mod n_j²` over the honest bundles `seen` (senders i other than j): j's
/// column product becomes `extra[j]`. Re-signs each ciphertext and the bundle with the
/// colluder's own key.
fn cancel_columns(
    b: &mut ShareBundle,
    me: &MeterSecrets,
    dir: &Directory,
    seen: &[ShareBundle],
    cancel: &[String],
    extra: &BTreeMap<String, Vec<u8>>,
) {
    let key = key_of(b);
    for s in b
        .shares
        .iter_mut()
        .filter(|s| cancel.contains(&s.recipient))
    {
        assert_eq!(s.index, 0, "one plaintext per recipient at these sizes");
        let n2 = n_squared(dir, &s.recipient);
        let mut c = extra.get(&s.recipient).map_or(Integer::from(1), |x| big(x));
        for h in seen.iter().filter(|h| h.sender != s.recipient) {
            let inverse = big(share_to(h, &s.recipient))
                .invert(&n2)
                .expect("a valid ciphertext is a unit mod n²");
            c *= inverse;
            c %= &n2;
        }
        s.ciphertext = fixed(&c, s.ciphertext.len());
        s.signature = me.sign_share(&key, &b.sender, &s.recipient, s.index, &s.ciphertext);
    }
    sign_message(me, b);
}

/// Faults in which `colluder`, whose bundle the World delivers last, remembers every honest
/// bundle it sees and then [`cancel_columns`] of `cancel`, keeping `keep(seen)` in them.
fn cancelling_colluder(
    w: &World,
    colluder: &str,
    cancel: &[String],
    keep: impl Fn(&[ShareBundle]) -> BTreeMap<String, Vec<u8>> + 'static,
) -> Faults {
    let mut seen = Vec::<ShareBundle>::new();
    let (dir, colluder, cancel, i) = (
        w.dir.clone(),
        colluder.to_string(),
        cancel.to_vec(),
        w.index_of(colluder),
    );
    Faults {
        tamper_bundle: Some(Box::new(move |b, secrets| {
            if b.sender != colluder {
                seen.push(b.clone());
                return true;
            }
            cancel_columns(b, &secrets[i], &dir, &seen, &cancel, &keep(&seen));
            true
        })),
        ..Faults::default()
    }
}

/// What the colluders add up for `target`: its retained share published in `own`, the column
/// sums S_j of the `cancel` recipients published in `cancelled`, and its share to the colluder
/// in `own`, decrypted by the colluder.
fn recovered_reading(
    own: &Log,
    cancelled: &Log,
    target: &str,
    cancel: &[String],
    colluder: (&str, &MeterSecrets),
) -> Vec<u64> {
    let mut recovered = retained(partial_of(own, target));
    for j in cancel {
        recovered = add(
            &recovered,
            &column_sum(&cancelled.opens[0], partial_of(cancelled, j)),
        );
    }
    let to_colluder = ciphertext_to(&own.bundles, target, colluder.0);
    add(
        &recovered,
        &decrypt_share(&own.opens[0], colluder.1, to_colluder),
    )
}

/// Cancellation (critical). Meter m0005 colludes with the aggregator: it waits until the five
/// honest bundles are on the shares topic, then sends every honest recipient j other than the
/// target m0000, under its own valid signatures, the product of the inverses of the honest
/// ciphertexts to j except the target's (mod n_j²). Every ciphertext is well formed and signed,
/// and j's column product is exactly the target's ciphertext, in range, so the column check
/// (`unpack_checked` in `gateway.rs`) passes and no single ciphertext is ever examined: each
/// honest j decrypts and proves the target's share s_0j alone. With the target's published
/// retained share s_00 and its share to the colluder, the colluders recover the target's exact
/// reading; a wrong total is published as Completed and nobody is blamed.
/// v2: `cancellation_built_after_the_reveals_is_not_revealed` (tests/v2_attacks.rs).
#[test]
fn cancellation_reveals_the_targets_exact_reading_and_a_wrong_total_completes() {
    let (mut w, _, r) = world_with_readings(6, 101, 0xC0FFEE);
    let (target, colluder) = (meter_id(0), meter_id(5));
    // Recipients whose column the colluder cancels: honest meters other than the target.
    let cancel: Vec<String> = (1..5).map(meter_id).collect();
    let (target_h, cancel_h) = (target.clone(), cancel.clone());
    // The World delivers bundles in roster order: the colluder's comes last.
    let mut faults = cancelling_colluder(&w, &colluder, &cancel, move |seen| {
        assert_eq!(seen.len(), 5, "every honest bundle is on the topic first");
        // Keep the target's ciphertext to j in, cancel every other honest one.
        cancel_h
            .iter()
            .map(|j| (j.clone(), ciphertext_to(seen, &target_h, j).to_vec()))
            .collect()
    });
    let log = w.run_round(interval(0), &mut faults);

    // Nothing is noticed: every message accepted, every partial verified, a total published.
    assert_unnoticed(&log);
    // Each cancelled recipient was handed, and decrypted, exactly the target's ciphertext.
    for j in &cancel {
        assert_eq!(
            redistribution_to(&log, j).products[0],
            ciphertext_to(&log.bundles, &target, j),
            "{j}'s column product is the target's ciphertext alone"
        );
    }
    // The colluders: s_00 (retained, published) + S_j = s_0j for each cancelled j (published
    // column sums) + s_05 (the colluder decrypts the target's share to itself).
    let recovered = recovered_reading(&log, &log, &target, &cancel, (&colluder, &w.secrets[5]));
    assert_eq!(
        recovered, r[0],
        "the colluders recover the target's exact reading"
    );
    // And the published total is wrong: the honest senders' shares to j were cancelled.
    assert_eq!(log.totals.len(), 1);
    assert_ne!(total_of(&log.totals[0]), sum_all(&r));
}

/// Cancellation with ciphertexts of an earlier round. v1 recipients' Paillier keys are long
/// term, so a ciphertext of a completed round still decrypts under them. In round 2 the colluder
/// m0005 sends each honest j (not the target) the target's round-1 ciphertext to j times the
/// inverses of every round-2 ciphertext to j: j's column product is the target's round-1
/// ciphertext, which j decrypts and proves in round 2. With the target's round-1 retained share
/// (published in round 1) the colluders recover the target's round-1 reading, though round 1
/// itself ran honestly and completed.
/// v2: `a_copied_ciphertext_is_excluded_without_publishing_its_decryption` (tests/v2_attacks.rs).
#[test]
fn cancellation_with_an_earlier_rounds_ciphertexts_reveals_an_old_reading() {
    let mut w = World::new(6, 102);
    let mut g = ChaCha20Rng::seed_from_u64(0xBADC0DE);
    let r1 = random_readings(6, &mut g);
    let r2 = random_readings(6, &mut g);
    w.record(interval(0), &r1);
    w.record(interval(1), &r2);
    let (target, colluder) = (meter_id(0), meter_id(5));
    let round1 = w.run_round(interval(0), &mut Faults::default());
    assert_eq!(round1.statuses(), vec![RoundStatus::Completed]);
    assert_eq!(total_of(&round1.totals[0]), sum_all(&r1));

    let cancel: Vec<String> = (1..5).map(meter_id).collect();
    let old: BTreeMap<String, Vec<u8>> = cancel
        .iter()
        .map(|j| {
            (
                j.clone(),
                ciphertext_to(&round1.bundles, &target, j).to_vec(),
            )
        })
        .collect();
    let old_h = old.clone();
    // Round 2's target ciphertexts are cancelled too: j gets the round-1 one alone.
    let mut faults = cancelling_colluder(&w, &colluder, &cancel, move |_| old_h.clone());
    let round2 = w.run_round(interval(1), &mut faults);
    assert_unnoticed(&round2);
    for j in &cancel {
        assert_eq!(
            redistribution_to(&round2, j).products[0],
            old[j],
            "{j} decrypts the target's round-1 ciphertext"
        );
    }
    let colluder_key = (colluder.as_str(), &w.secrets[5]);
    let recovered = recovered_reading(&round1, &round2, &target, &cancel, colluder_key);
    assert_eq!(
        recovered, r1[0],
        "the target's round-1 reading, recovered in round 2"
    );
}

/// What a colluding gateway keeps from its own honest-looking bundle: its share to each
/// recipient and its retained share.
#[derive(Default)]
struct Kept {
    shares: BTreeMap<(String, String), Vec<u64>>,
    retained: BTreeMap<String, Vec<u64>>,
}

/// A bundle built exactly as the honest gateway builds it (split, pack, encrypt, sign), from
/// the same public building blocks, by a colluder that remembers its shares.
fn remembering_bundle(
    b: &mut ShareBundle,
    values: &[u64],
    me: &MeterSecrets,
    dir: &Directory,
    roster: &[String],
    kept: &mut Kept,
    g: &mut ChaCha20Rng,
) {
    let others: Vec<&String> = roster.iter().filter(|m| **m != b.sender).collect();
    let (shares, keep) = split_shares(values, others.len(), B, g);
    let key = key_of(b);
    let mut encrypted = Vec::new();
    for (recipient, share) in others.iter().zip(&shares) {
        let keys = &dir.get(recipient).expect("enrolled").keys;
        let layout = SlotLayout::new(keys.modulus_bits(), B, roster.len(), values.len());
        for (index, plaintext) in layout.pack(share).iter().enumerate() {
            let ciphertext = keys.encrypt(plaintext, g).to_bytes(keys);
            let signature = me.sign_share(&key, &b.sender, recipient, index as i32, &ciphertext);
            encrypted.push(EncryptedShare {
                recipient: (*recipient).clone(),
                index: index as i32,
                ciphertext,
                signature,
            });
        }
        kept.shares
            .insert((b.sender.clone(), (*recipient).clone()), share.clone());
    }
    kept.retained.insert(b.sender.clone(), keep);
    b.shares = encrypted;
    sign_message(me, b);
}

/// Retained share. A partial publishes the retained share s_jj beside the column sum S_j. Three
/// colluding meters (m0002..m0004) and the aggregator leave two honest meters, A = m0000 and
/// B = m0001, and behave exactly as the protocol says (their gateways only remember their own
/// shares). From S_B they subtract their own shares to B and get s_AB; with s_AA (published)
/// and A's shares to them (which they decrypt) that is x_A; symmetrically x_B. They learn both
/// readings exactly, not just x_A + x_B; the round is a normal one and the total is exact.
/// v2: `d_seats_and_the_aggregator_see_nothing_of_one_meter` (tests/v2_attacks.rs).
#[test]
fn the_retained_share_lets_a_coalition_recover_both_of_two_honest_readings() {
    let (mut w, mut g, r) = world_with_readings(5, 103, 0x5EC2E7);
    let (a, b) = (meter_id(0), meter_id(1));
    let colluders: Vec<String> = (2..5).map(meter_id).collect();
    let roster: Vec<String> = (0..5).map(meter_id).collect();
    let kept = Rc::new(RefCell::new(Kept::default()));
    let (kept_b, kept_p, dir) = (kept.clone(), kept.clone(), w.dir.clone());
    let (colluders_b, colluders_p, readings) = (colluders.clone(), colluders.clone(), r.clone());
    let mut faults = Faults {
        tamper_bundle: Some(Box::new(move |bundle, secrets| {
            if let Some(i) = colluders_b.iter().position(|c| *c == bundle.sender) {
                let (me, values) = (&secrets[i + 2], &readings[i + 2]);
                let mut kept = kept_b.borrow_mut();
                remembering_bundle(bundle, values, me, &dir, &roster, &mut kept, &mut g);
            }
            true
        })),
        tamper_partial: Some(Box::new(move |p, secrets| {
            if let Some(i) = colluders_p.iter().position(|c| *c == p.sender) {
                let keep = &kept_p.borrow().retained[&p.sender];
                p.retained = keep.iter().map(|v| *v as i64).collect();
                sign_message(&secrets[i + 2], p);
            }
        })),
        ..Faults::default()
    };
    let log = w.run_round(interval(0), &mut faults);
    assert_unnoticed(&log);
    assert_eq!(total_of(&log.totals[0]), sum_all(&r), "a normal round");

    let open = &log.opens[0];
    let kept = kept.borrow();
    let recover = |x: &str, y: &str| -> Vec<u64> {
        // s_xy = S_y − Σ_c s_cy.
        let mut s_xy = column_sum(open, partial_of(&log, y));
        for c in &colluders {
            s_xy = sub(&s_xy, &kept.shares[&(c.clone(), y.to_string())]);
        }
        // x = s_xx + s_xy + Σ_c s_xc, each s_xc decrypted by colluder c.
        let mut value = add(&retained(partial_of(&log, x)), &s_xy);
        for (i, c) in colluders.iter().enumerate() {
            let ct = ciphertext_to(&log.bundles, x, c);
            value = add(&value, &decrypt_share(open, &w.secrets[i + 2], ct));
        }
        value
    };
    assert_eq!(recover(&a, &b), r[0], "A's exact reading");
    assert_eq!(recover(&b, &a), r[1], "B's exact reading");
}

/// Runs the aggregator's outputs through honest meters until nothing is left, as the services
/// would; outcomes reach the meters only when `deliver_outcomes`. Returns every output and
/// every refusal.
fn drive(
    agg: &mut Aggregator,
    agg_dir: &mut Directory,
    meters: &mut [MeterAgent],
    dir: &Directory,
    first: Vec<Output>,
    deliver_outcomes: bool,
    g: &mut ChaCha20Rng,
) -> (Vec<Output>, Vec<Refusal>) {
    let now = T0 + 1_000;
    let mut all = Vec::new();
    let mut refusals = Vec::new();
    let mut queue: VecDeque<Output> = first.into();
    while let Some(o) = queue.pop_front() {
        all.push(o.clone());
        match o {
            Output::Open(open) => {
                for m in meters.iter_mut() {
                    match m.on_round_open(dir, &open, now, g) {
                        Ok(Some(b)) => {
                            let raw = encode(&b).unwrap();
                            queue.extend(agg.on_share_bundle(agg_dir, b, &raw, now));
                        }
                        Ok(None) => {}
                        Err(e) => refusals.push(e),
                    }
                }
            }
            Output::Redistribute(x) => {
                let m = meters
                    .iter_mut()
                    .find(|m| m.meter_id() == x.recipient)
                    .unwrap();
                match m.on_redistribution(dir, &x) {
                    Ok(Some(p)) => {
                        let raw = encode(&p).unwrap();
                        queue.extend(agg.on_partial(agg_dir, p, &raw, now));
                    }
                    Ok(None) => {}
                    Err(e) => refusals.push(e),
                }
            }
            Output::Outcome(outcome) if deliver_outcomes => {
                for m in meters.iter_mut() {
                    if let Err(e) = m.on_outcome(&outcome) {
                        refusals.push(e);
                    }
                }
            }
            _ => {}
        }
    }
    (all, refusals)
}

fn totals(outputs: &[Output]) -> Vec<&RegionTotal> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Total(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// Round A over interval `i` with the full roster, run by an honest aggregator state machine;
/// outcomes reach the meters only when `deliver_outcomes`. Returns its outputs.
fn round_a(w: &mut World, i: i64, deliver_outcomes: bool, g: &mut ChaCha20Rng) -> Vec<Output> {
    let mut agg = Aggregator::new(
        AggregatorKey::from_seed("agg-1", &AGG_SEED),
        w.config.clone(),
    );
    let mut dir = w.dir.clone();
    let first = agg.open_round(&dir, REGION, i, T0);
    let (out, refusals) = drive(
        &mut agg,
        &mut dir,
        &mut w.meters,
        &w.dir,
        first,
        deliver_outcomes,
        g,
    );
    assert!(refusals.is_empty(), "{refusals:?}");
    out
}

/// Round B: two intervals from `p` (the config is the aggregator's, not the meters'), `target`
/// left out of the roster. Every honest gateway accepts it; returns B's totals of the second
/// interval (B's values per meter: [P import, P export, I import, I export]).
fn round_b_second_interval(w: &mut World, p: i64, target: &str, g: &mut ChaCha20Rng) -> Vec<u64> {
    let config_b = ProtocolConfig {
        intervals_per_round: 2,
        ..w.config.clone()
    };
    let mut agg_b = Aggregator::new(AggregatorKey::from_seed("agg-1", &AGG_SEED), config_b);
    let mut dir_b = w.dir.clone();
    dir_b.quarantine(target);
    let first = agg_b.open_round(&dir_b, REGION, p, T0 + 3_000);
    let Output::Open(open_b) = &first[0] else {
        panic!("round B opens: {first:?}")
    };
    assert!(!open_b.roster.iter().any(|m| m == target));
    assert_eq!(open_b.roster.len(), w.meters.len() - 1);
    let (out_b, refusals) = drive(
        &mut agg_b,
        &mut dir_b,
        &mut w.meters,
        &w.dir,
        first,
        true,
        g,
    );
    assert!(
        refusals.is_empty(),
        "the honest gateways accept round B: {refusals:?}"
    );
    let total_b = totals(&out_b);
    assert_eq!(total_b.len(), 1, "round B completes");
    total_of(total_b[0])[2..4].to_vec()
}

const AGG_SEED: [u8; 32] = [0xA6; 32];

/// A fresh honest agent for meter `i` of `w`, trusting only `key`.
fn agent_trusting(w: &World, i: usize, key: &AggregatorKey) -> MeterAgent {
    MeterAgent::new(
        meter_id(i),
        REGION,
        w.secrets[i].clone(),
        w.config.clone(),
        vec![key.public()],
    )
}

/// Six honest meters trusting an aggregator whose key the test holds.
fn world_with_attacker_aggregator(seed: u64) -> (World, AggregatorKey) {
    let mut w = World::new(6, seed);
    let key = AggregatorKey::from_seed("agg-1", &AGG_SEED);
    w.meters = (0..6).map(|i| agent_trusting(&w, i, &key)).collect();
    (w, key)
}

/// One interval's readings, a row per meter.
type Readings = Vec<Vec<u64>>;

/// The differencing set-up: six meters trusting the attacker's aggregator, and random readings
/// (not yet recorded) for P = interval 0 and I = interval 1 from an RNG seeded `seed`.
fn differencing_world(
    world_seed: u64,
    seed: u64,
) -> (World, AggregatorKey, ChaCha20Rng, (Readings, Readings)) {
    let (w, key) = world_with_attacker_aggregator(world_seed);
    let mut g = ChaCha20Rng::seed_from_u64(seed);
    let rp = random_readings(6, &mut g);
    let ri = random_readings(6, &mut g);
    (w, key, g, (rp, ri))
}

/// Runs round B ([`round_b_second_interval`]) and asserts that round A's total minus B's
/// total of I is `target`'s exact reading `expected` for I.
fn assert_round_b_reveals(
    w: &mut World,
    p: i64,
    target: &str,
    total_a: &[u64],
    expected: &[u64],
    g: &mut ChaCha20Rng,
) {
    let b_of_i = round_b_second_interval(w, p, target, g);
    assert_eq!(
        sub(total_a, &b_of_i),
        expected,
        "the target's exact reading for I"
    );
}

/// Differencing by the aggregator alone. Reveal marks are keyed by round start, and a
/// RoundOpen's `intervals`/`interval_seconds` are taken from the message unchecked. Round A
/// (start I, 1 interval) runs with the full roster of six; the aggregator keeps its total,
/// signs a Deferred outcome for it (the meters release the interval and keep the reading), and
/// opens round B at the previous interval P with 2 intervals, so B's own intervals are P and
/// I, over the roster without the target (here: left out as if quarantined). Every honest
/// gateway accepts B and reveals (B's start is not A's), and B's total reports I separately:
/// total_A − total_B(I) is the target's exact reading for I.
/// v2: `the_ledger_refuses_misaligned_repeated_and_past_rounds` (tests/v2_enrolment.rs); the
/// parameters half: `parameters_are_bounded_and_only_aligned_starts_are_rounds`.
#[test]
fn differencing_two_rounds_over_one_interval_reveals_a_reading() {
    let (mut w, key, mut g, (rp, ri)) = differencing_world(104, 0xD1FF);
    let (p, i) = (interval(0), interval(1));
    w.record(p, &rp);
    w.record(i, &ri);
    let target = meter_id(0);

    // Round A: an honest aggregator state machine, full roster; its outcome is withheld.
    let out_a = round_a(&mut w, i, false, &mut g);
    let total_a = total_of(totals(&out_a)[0]);
    assert_eq!(total_a, sum_all(&ri));
    let mut deferred = RoundOutcome {
        region: REGION.into(),
        interval_start: i,
        attempt: 1,
        status: RoundStatus::Deferred,
        roster: (0..6).map(meter_id).collect(),
        missing: vec![],
        culprits: vec![],
        reason: "a partial was missing".into(),
        decided_at: T0 + 2_000,
        aggregator_id: "agg-1".into(),
        signature: vec![],
    };
    sign_message(&key, &mut deferred);
    for m in &mut w.meters {
        m.on_outcome(&deferred).unwrap();
    }

    // Round B: two intervals from P, the target left out.
    assert_round_b_reveals(&mut w, p, &target, &total_a, &ri[0], &mut g);
}

/// Differencing after a gateway restart, no forged message needed. Only reveal marks are
/// persisted (`revealed.log`); `completed` and `claimed` are forgotten. Round A for interval I
/// runs honestly and completes; the gateways retire I's reading. They restart (reveal marks
/// restored) and the meter feed is replayed from its last committed offset, so the readings of
/// P (the interval before) and of I are recorded again. The aggregator opens round B at P with
/// 2 intervals (own intervals P and I) over the roster without the target: the restarted
/// gateways no longer know I is in a published total, B's start is not A's, and they reveal.
/// total_A − total_B(I) is the target's exact reading for I.
/// v2: `a_restarted_gateway_does_not_deal_or_reveal_a_round_twice` (tests/v2_enrolment.rs).
#[test]
fn after_a_gateway_restart_a_completed_interval_is_pulled_in_again() {
    let (mut w, _key, mut g, (rp, ri)) = differencing_world(105, 0x2E57A27);
    let (p, i) = (interval(0), interval(1));
    w.record(i, &ri);
    let target = meter_id(0);

    let out_a = round_a(&mut w, i, true, &mut g);
    assert!(
        out_a
            .iter()
            .any(|o| matches!(o, Output::Outcome(x) if x.status == RoundStatus::Completed))
    );
    let total_a = total_of(totals(&out_a)[0]);
    // Before the restart I's reading is retired everywhere: nothing is left to pull in.
    assert!(w.meters.iter().all(|m| m.pending_intervals().is_empty()));

    // Restart: new agents with the same keys and the persisted reveal marks; the feed replays.
    let key = AggregatorKey::from_seed("agg-1", &AGG_SEED);
    let marks: Vec<Vec<i64>> = w.meters.iter().map(|m| m.revealed_intervals()).collect();
    assert!(marks.iter().all(|m| *m == vec![i]));
    w.meters = (0..w.meters.len())
        .map(|k| {
            let mut fresh = agent_trusting(&w, k, &key);
            fresh.restore_revealed(marks[k].clone());
            fresh.record_reading(p, rp[k].clone());
            fresh.record_reading(i, ri[k].clone());
            fresh
        })
        .collect();

    assert_round_b_reveals(&mut w, p, &target, &total_a, &ri[0], &mut g);
}

/// Framing. v1 checks a Paillier key only for size, oddness, non-squareness and h_s being a
/// unit (`round/crypto.rs`), never that h_s is an n-th residue. Meter m0005 re-enrols (self-signed)
/// with h_s' = (1 + n)·h_s: every honest encryption to it, (1 + m·n)·h_s'^a, is
/// (1 + (m + a)·n)·(h^a)^n, which decrypts to m + a with a 224-bit a: out of range, with a valid
/// decryption proof. Its unmodified gateway accuses every sender, every accusation checks out,
/// and the aggregator quarantines every honest roster member: the region is left to the framer.
/// v2: `an_honest_seat_key_is_accepted_and_its_base_is_hashed` (tests/v2_enrolment.rs: h_s is
/// y^n with y hashed, so it cannot be chosen); the accusation half:
/// `a_lying_seat_cannot_exclude_an_honest_sender` (tests/v2_attacks.rs).
#[test]
fn a_chosen_djn_base_frames_every_honest_sender() {
    let (mut w, _, r) = world_with_readings(6, 106, 0xF2A3E);
    let framer = meter_id(5);
    let mut e = w.secrets[5].enrolment(&framer, REGION, T0 + 1);
    let n = big(&e.paillier_n);
    let n2 = n.clone().square();
    let hs = (big(&e.paillier_hs) * (n + 1u32)) % &n2;
    e.paillier_hs = fixed(&hs, e.paillier_hs.len());
    sign_message(&w.secrets[5], &mut e);
    w.dir.enrol(&e).expect("v1 accepts the chosen base");

    let log = w.run_round(interval(0), &mut Faults::default());
    assert_eq!(log.statuses(), vec![RoundStatus::Deferred]);
    assert!(log.totals.is_empty());
    let framer_partial = partial_of(&log, &framer);
    let mut accused: Vec<String> = framer_partial
        .accusations
        .iter()
        .map(|a| a.sender.clone())
        .collect();
    accused.dedup();
    let honest: Vec<String> = (0..5).map(meter_id).collect();
    assert_eq!(
        accused, honest,
        "the unmodified gateway accuses every sender"
    );
    let mut quarantined: Vec<String> = log.quarantines.iter().map(|q| q.meter_id.clone()).collect();
    quarantined.sort();
    assert_eq!(
        quarantined, honest,
        "every honest roster member is quarantined"
    );
    assert!(
        log.quarantines
            .iter()
            .all(|q| q.reason == QuarantineReason::OutOfRangeShares)
    );
    assert!(honest.iter().all(|m| w.dir.is_quarantined(m)));
    assert!(!w.dir.is_quarantined(&framer));
    assert_eq!(w.dir.roster_for(REGION), vec![framer]);
    // The region publishes nothing from now on.
    w.record(interval(1), &r);
    let next = w.run_round(interval(1), &mut Faults::default());
    assert_eq!(next.statuses(), vec![RoundStatus::Abandoned]);
}

/// Open enrolment: takeover. `Directory::enrol` checks only the entry's self-signature, and a
/// new entry replaces the old one. Any gateway enrols its own keys under an honest meter's id:
/// from then on the honest meter's bundles are rejected as forged, the attacker's gateway takes
/// its place in rounds (its reading counted in the total), and every share meant for the
/// meter is encrypted to the attacker.
/// v2: `a_meter_id_cannot_be_taken_over_and_the_registry_never_replaces` (tests/v2_enrolment.rs);
/// uncertified ids at all: `a_self_signed_certificate_is_not_admitted`.
#[test]
fn any_gateway_takes_over_a_meter_id() {
    let mut w = World::new(6, 107);
    let mut g = ChaCha20Rng::seed_from_u64(0x7A4E);
    let r = random_readings(6, &mut g);
    let victim = meter_id(2);
    let attacker = key_pool()[40].clone();
    w.dir
        .enrol(&attacker.enrolment(&victim, REGION, T0 + 1))
        .expect("v1 accepts the takeover");
    assert_eq!(
        w.dir.get(&victim).unwrap().keys.fingerprint(),
        attacker.public_keys().fingerprint()
    );
    // The attacker's gateway acts for the victim's id.
    let mut honest_victim = std::mem::replace(
        &mut w.meters[2],
        MeterAgent::new(
            victim.clone(),
            REGION,
            attacker.clone(),
            w.config.clone(),
            vec![w.aggregator_public.clone()],
        ),
    );
    let mut forged = r.clone();
    forged[2] = vec![999_999, 0];
    w.record(interval(0), &forged);
    honest_victim.record_reading(interval(0), r[2].clone());
    let log = w.run_round(interval(0), &mut Faults::default());
    assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
    assert_eq!(total_of(&log.totals[0]), sum_all(&forged));
    // The attacker decrypts what an honest meter sent to the victim's id.
    let open = &log.opens[0];
    let to_victim = ciphertext_to(&log.bundles, &meter_id(0), &victim);
    let c = Ciphertext::parse(attacker.public_keys(), to_victim).unwrap();
    let layout = layout_for(open, 2048);
    assert!(
        layout
            .unpack_checked(&[decrypt_to_bytes(&attacker, &c)], 1 << B)
            .is_ok()
    );
    // The real meter's own bundle is now rejected as not signed by "its" key.
    let bundle = honest_victim
        .on_round_open(&w.dir, open, T0, &mut g)
        .unwrap()
        .expect("the real meter shares");
    let err = check_bundle(open, &w.dir, &bundle).unwrap_err();
    assert_eq!(err.reason, RejectReason::BadSignature);
}

/// Open enrolment: move and retire. A new self-signed entry under a meter's id, with another
/// region or status Retired, replaces its entry: any gateway moves meters out of a region or
/// retires them. Two such entries take a region of six below min_roster (5): its next round is
/// not opened and its interval is never published.
/// v2: `moves_and_retirements_need_the_authority_and_a_cutoff_that_includes_them`
/// (tests/v2_enrolment.rs).
#[test]
fn any_gateway_moves_or_retires_a_meter() {
    let mut w = World::new(6, 108);
    w.record(interval(0), &readings(6, 0));
    let moved = key_pool()[41].enrolment(&meter_id(1), "NL-ZZ-99", T0 + 1);
    w.dir.enrol(&moved).expect("v1 accepts the move");
    let mut retired = key_pool()[42].enrolment(&meter_id(4), REGION, T0 + 1);
    retired.status = MeterStatus::Retired;
    sign_message(&key_pool()[42], &mut retired);
    w.dir.enrol(&retired).expect("v1 accepts the retirement");
    assert_eq!(w.dir.roster_for("NL-ZZ-99"), vec![meter_id(1)]);
    assert_eq!(
        w.dir.roster_for(REGION),
        [0, 2, 3, 5].map(meter_id).to_vec()
    );
    let log = w.run_round(interval(0), &mut Faults::default());
    assert_eq!(log.statuses(), vec![RoundStatus::Abandoned]);
    assert!(log.opens.is_empty() && log.totals.is_empty());
}

// --- resource exhaustion ----------------------------------------------------------------------

/// An enrolment of `id` whose Paillier modulus is `bytes` long (random, odd, top bit set) with a
/// random DJN base coprime to it, signed with `signer`'s Ed25519 key. v1 never learns that n has
/// no factorisation anyone knows: it checks sizes from below, oddness, non-squareness, the base.
fn oversized_enrolment(
    signer: &MeterSecrets,
    id: &str,
    bytes: usize,
    g: &mut ChaCha20Rng,
) -> MeterEnrolment {
    let mut e = signer.enrolment(id, REGION, T0 + 1);
    let mut n = vec![0u8; bytes];
    g.fill(&mut n[..]);
    n[0] |= 0x80;
    n[bytes - 1] |= 1;
    let modulus = big(&n);
    let hs = loop {
        let mut h = vec![0u8; 2 * bytes];
        g.fill(&mut h[..]);
        h[0] &= 0x3f; // below n² (whose top byte is at least 0x40)
        let h = big(&h);
        if h > 1 && Integer::from(h.gcd_ref(&modulus)) == 1 {
            break h;
        }
    };
    e.key_bits = 8 * bytes as i32;
    e.paillier_n = n;
    e.paillier_hs = fixed(&hs, 2 * bytes);
    sign_message(signer, &mut e);
    e
}

/// The fixed-base table a v1 gateway builds for a recipient key on its first encryption to it
/// (`round/crypto.rs`, `FixedBase`): one row per window of the short exponent, 2^w entries mod n².
fn table_bytes(keys: &MeterPublicKeys) -> usize {
    let rows = short_exponent_bits(keys.modulus_bits()).div_ceil(WINDOW_BITS) as usize;
    rows * (1 << WINDOW_BITS) * keys.ciphertext_len()
}

/// Resource exhaustion: an oversized key. v1 bounds a Paillier modulus from below only
/// (`MeterPublicKeys::from_enrolment`), and `Directory::enrol` reads and checks the key — n and
/// n², a square test, a gcd — before the entry's signature. (1) An entry nobody signed, with a
/// 1 MiB modulus, makes every reader of the registry hold over 3 MiB of bignums (n and n²; we
/// measured 19 MiB live and 260 MiB allocated in all) before it is refused as BadSignature (the
/// same entry with an even modulus is refused as WeakKey: the key is read first). (2) Signed by any gateway, it is enrolled and on the region's roster, and every
/// gateway that encrypts to it builds its fixed-base table on its first encryption: measured at
/// 8 KiB (a 26 MiB table for one key), the table grows with |n| and is over 3 GiB for the
/// enrolled 1 MiB key (not built here).
/// v2: `an_oversized_seat_key_is_refused_by_size_before_the_signature_and_any_bignum_work` and
/// `an_oversized_certificate_is_refused_before_its_signature` (tests/v2_exhaustion.rs).
#[test]
fn an_oversized_key_is_enrolled_and_its_bignum_work_runs_before_the_signature() {
    let mut w = World::new(6, 109);
    let mut g = ChaCha20Rng::seed_from_u64(0x0B164E7);
    let attacker = &key_pool()[43];
    let id = meter_id(6);
    let e = oversized_enrolment(attacker, &id, MIB, &mut g);

    // (1) Unsigned: the bignum work is done, then the signature refused.
    let unsigned = MeterEnrolment {
        signature: vec![0xa5; 64],
        ..e.clone()
    };
    let (verdict, usage) = measure(|| w.dir.enrol(&unsigned));
    assert_eq!(verdict.unwrap_err().reason, RejectReason::BadSignature);
    assert!(
        usage.peak >= 3 * MIB && usage.bignum >= 3 * MIB,
        "{usage:?}"
    );
    let mut even = unsigned.clone();
    *even.paillier_n.last_mut().unwrap() &= 0xfe;
    assert_eq!(
        w.dir.enrol(&even).unwrap_err().reason,
        RejectReason::WeakKey
    );

    // (2) Signed by the attacker's own key: enrolled, on the roster.
    w.dir.enrol(&e).expect("v1 accepts a 1 MiB modulus");
    let keys = &w.dir.get(&id).unwrap().keys;
    assert_eq!(keys.modulus_bits(), 8 * MIB as u32);
    assert!(w.dir.roster_for(REGION).contains(&id));
    assert!(table_bytes(keys) > 3 * GIB, "{}", table_bytes(keys));

    // The table, measured on the first encryption to an 8 KiB key (32 times an honest one).
    let small = meter_id(7);
    w.dir
        .enrol(&oversized_enrolment(attacker, &small, 8 * KIB, &mut g))
        .expect("v1 accepts an 8 KiB modulus");
    let keys = &w.dir.get(&small).unwrap().keys;
    let (_, usage) = measure(|| keys.encrypt(&Plaintext::from_u64(1), &mut g));
    assert!(
        usage.peak >= table_bytes(keys) * 9 / 10,
        "{usage:?} for a table of {}",
        table_bytes(keys)
    );
    let honest = &w.dir.get(&meter_id(0)).unwrap().keys;
    assert!(table_bytes(keys) >= 30 * table_bytes(honest));
}

/// Resource exhaustion: accusations. A partial's accusation list has no bound, and
/// `verify_partial` checks every accusation of a partial whose column is out of range, copies
/// included, each with a decryption check (an exponentiation mod n² with a 2048-bit exponent).
/// Colluders m0005 (sender) and m0004 (recipient): m0005 sends m0004 an out-of-range share,
/// m0004's unmodified gateway accuses it, and m0004 appends 100 copies of that accusation with
/// one byte of the randomness changed. The aggregator judges all 101: m0005 is quarantined,
/// m0004 for 100 false accusations, each of which cost the aggregator (and the audit) bignum
/// work; nothing but the size of a message limits their number.
/// v2: `a_million_copies_of_a_signed_complaint_are_judged_once`,
/// `a_million_distinct_signed_complaints_cost_one_judgement_per_complainant_and_sender`,
/// `unsigned_complaints_cost_one_signature_check_at_most_and_judge_nothing`
/// (tests/v2_exhaustion.rs).
#[test]
fn a_partial_carries_any_number_of_accusations_and_each_costs_a_decryption_check() {
    const COPIES: usize = 100;
    let mut w = World::new(6, 110);
    w.record(interval(0), &readings(6, 0));
    let (sender, accuser) = (meter_id(5), meter_id(4));
    let (dir, accuser_h) = (w.dir.clone(), accuser.clone());
    let mut g = ChaCha20Rng::seed_from_u64(0xACC05E);
    let accuser_p = accuser.clone();
    let sends_out_of_range = Faults::tampering_bundles_of(sender.clone(), move |b, secrets| {
        let keys = &dir.get(&accuser_h).unwrap().keys;
        let key = key_of(b);
        let s = b
            .shares
            .iter_mut()
            .find(|s| s.recipient == accuser_h)
            .unwrap();
        // Slot 0 holds 2^43: out of range for one share (2^40), and for the column (5·2^40).
        s.ciphertext = keys
            .encrypt(&Plaintext::from_u64(1 << 43), &mut g)
            .to_bytes(keys);
        s.signature = secrets[5].sign_share(&key, &b.sender, &s.recipient, s.index, &s.ciphertext);
        sign_message(&secrets[5], b);
    });
    let mut faults = Faults {
        tamper_partial: Some(Box::new(move |p, secrets| {
            if p.sender != accuser_p {
                return;
            }
            assert_eq!(
                p.accusations.len(),
                1,
                "the honest gateway accuses the sender"
            );
            let mut junk = p.accusations[0].clone();
            *junk.randomness.last_mut().unwrap() ^= 1;
            p.accusations.extend(std::iter::repeat_n(junk, COPIES));
            sign_message(&secrets[4], p);
        })),
        ..sends_out_of_range
    };
    let log = w.run_round(interval(0), &mut faults);
    assert_eq!(log.statuses(), vec![RoundStatus::Deferred]);
    let event = |m: &str| log.quarantines.iter().find(|q| q.meter_id == m).unwrap();
    assert_eq!(event(&sender).reason, QuarantineReason::OutOfRangeShares);
    let judged = event(&accuser).detail.matches(sender.as_str()).count();
    assert_eq!(
        judged,
        COPIES,
        "every copy judged: {}",
        event(&accuser).detail
    );

    // Each copy cost a decryption check: bignum work grows with the copies.
    let open = &log.opens[0];
    let keys = &w.dir.get(&accuser).unwrap().keys;
    let parse = |bytes: &[u8]| Ciphertext::parse(keys, bytes).unwrap();
    let products: Vec<Ciphertext> = redistribution_to(&log, &accuser)
        .products
        .iter()
        .map(|p| parse(p))
        .collect();
    let shares: BTreeMap<String, Vec<Ciphertext>> = log
        .bundles
        .iter()
        .filter(|b| b.sender != accuser)
        .map(|b| (b.sender.clone(), vec![parse(share_to(b, &accuser))]))
        .collect();
    let partial = partial_of(&log, &accuser);
    let one = Partial {
        accusations: partial.accusations[..1].to_vec(),
        ..partial.clone()
    };
    let (_, all) = measure(|| verify_partial(open, &w.dir, &products, partial, &shares));
    let (_, first) = measure(|| verify_partial(open, &w.dir, &products, &one, &shares));
    assert!(
        all.bignum - first.bignum >= COPIES * keys.ciphertext_len(),
        "{all:?} against {first:?}"
    );
}

/// Resource exhaustion: intervals. A RoundOpen's `intervals` (an i32) is taken from the message,
/// bounded only below (`check_open`), and sizes the gateway's work: `on_round_open` lists every
/// interval of the round and reserves channels × intervals values before it looks for a single
/// reading. 2^31 − 1 intervals pass `check_open`. Measured at 2^20 intervals, a gateway allocates
/// at least 24 bytes per interval before it finds it has no reading, so 2^31 make every gateway
/// of the region allocate some 48 GiB (not run here). The aggregator signs the RoundOpen; the
/// meters trust it.
/// v2: `records_longer_than_the_protocol_file_allows_are_refused_before_the_signature`
/// (tests/v2_exhaustion.rs); `parameters_are_bounded_and_only_aligned_starts_are_rounds`
/// (tests/v2_enrolment.rs).
#[test]
fn a_round_open_with_2_pow_31_intervals_is_accepted_and_sized_by_the_message() {
    let (mut w, key) = world_with_attacker_aggregator(111);
    w.record(interval(0), &readings(6, 0));
    let mut agg = Aggregator::new(
        AggregatorKey::from_seed("agg-1", &AGG_SEED),
        w.config.clone(),
    );
    let first = agg.open_round(&w.dir, REGION, interval(0), T0);
    let Output::Open(open) = &first[0] else {
        panic!("the round opens: {first:?}")
    };
    let with_intervals = |intervals: i32| {
        let mut o = open.clone();
        o.intervals = intervals;
        sign_message(&key, &mut o);
        o
    };
    let huge = with_intervals(i32::MAX);
    assert_eq!(check_open(&huge, w.config.min_roster), Ok(()));
    assert_eq!(values_per_meter(&huge), 2 * i32::MAX as usize);

    const MEASURED: usize = 1 << 20;
    let big = with_intervals(MEASURED as i32);
    let mut g = ChaCha20Rng::seed_from_u64(0x1A7E);
    let (outcome, usage) = measure(|| w.meters[0].on_round_open(&w.dir, &big, T0 + 1_000, &mut g));
    assert!(
        matches!(outcome, Ok(None)),
        "no reading for the second interval: {outcome:?}"
    );
    let per_interval = usage.peak / MEASURED;
    assert!(per_interval >= 24, "{usage:?}");
    assert!(per_interval * i32::MAX as usize > 47 * GIB);
}

/// Open enrolment, on the readings path. A household's opted-in readings are checked against
/// v1's directory, where any gateway can re-enrol a meter id under a key of its own choosing (a
/// self-signed entry replaces the meter's keys): the taker then posts readings in the
/// household's name that verify, and the household's own readings no longer do.
/// v2: `readings_verify_only_under_the_meters_certified_key` (tests/v2_enrolment.rs).
#[test]
fn a_self_enrolled_gateway_takes_over_a_households_readings() {
    use zeal_protocol::round::crypto::verify_message;
    let pool = key_pool();
    let (owner, taker) = (&pool[0], &pool[1]);
    let household = meter_id(0);
    let mut dir = Directory::new(2048);
    let mut e = owner.enrolment(&household, REGION, T0);
    sign_message(owner, &mut e);
    dir.enrol(&e).expect("the household enrols");
    let reading = |import_wh, signer: &MeterSecrets| {
        let mut r = zeal_schemas::HouseholdReading {
            household_id: household.clone(),
            region: REGION.into(),
            interval_start: T0,
            interval_seconds: 900,
            import_wh,
            export_wh: 0,
            generation_wh: None,
            signature: Vec::new(),
        };
        sign_message(signer, &mut r);
        r
    };
    let own = reading(120, owner);
    assert!(verify_message(&dir.get(&household).unwrap().keys, &own));
    let mut takeover = taker.enrolment(&household, REGION, T0 + 1);
    sign_message(taker, &mut takeover);
    dir.enrol(&takeover)
        .expect("v1 accepts the taker's self-signed entry");
    let forged = reading(99_999, taker);
    let keys = &dir.get(&household).unwrap().keys;
    assert!(
        verify_message(keys, &forged),
        "the taker's reading verifies"
    );
    assert!(
        !verify_message(keys, &own),
        "the household's own no longer does"
    );
}
