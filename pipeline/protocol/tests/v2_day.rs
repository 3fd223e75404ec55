//! A region's day from its records: seat keys, then the aggregator's KeysClosed. The first valid
//! KeysClosed (equal to each seat's first valid key before it, in log order) fixes the day's seats
//! in rank order; invalid and second ones are evidence; forged ones count for no one; on the wire
//! a KeysClosed is read bounds first, then its signature.

mod v2;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::sync::OnceLock;
use std::time::Instant;
use v2::*;
use zeal_protocol::v2::crypto::paillier::SeatSecretKey;
use zeal_protocol::v2::day::{
    DayRecord, DaySetup, KeyJudgements, KeyRefused, KeysClosed, SeatKeyAnnouncement, accept_key,
    announce, close_keys, day_seats, key_context, key_hash, key_signing_bytes,
    keys_closed_signing_bytes,
};
use zeal_protocol::v2::encoding::Hash;
use zeal_protocol::v2::enrolment::MAX_ID_BYTES;
use zeal_protocol::v2::local::LocalRegion;
use zeal_protocol::v2::params::Params;
use zeal_protocol::v2::round::log::Evidence;
use zeal_protocol::v2::wire::*;
use zeal_schemas::v2 as w;
use zeal_schemas::{decode, encode};

fn region() -> &'static LocalRegion {
    shared()
}

fn day() -> i64 {
    Params::day_of(START)
}

/// Each seat's honest announcement of its key in the shared region, in rank order (made once).
fn announcements() -> &'static [SeatKeyAnnouncement] {
    static A: OnceLock<Vec<SeatKeyAnnouncement>> = OnceLock::new();
    A.get_or_init(|| region().announcements())
}

/// A second valid key for the first seat (generated once).
fn second_key_of_first_seat() -> &'static SeatKeyAnnouncement {
    static A: OnceLock<SeatKeyAnnouncement> = OnceLock::new();
    A.get_or_init(|| {
        let r = region();
        let seat = &r.ctx.seats[0].meter;
        let context = key_context(&r.ctx.region, day(), seat, &r.ctx.cutoff);
        let sk = SeatSecretKey::generate(2048, &context, &mut rng(500));
        announce(
            &r.identities[seat],
            &r.ctx.region,
            day(),
            seat,
            &r.ctx.cutoff,
            &sk,
        )
    })
}

/// The committee's seats with their identity keys.
fn seat_identities() -> Vec<(String, VerifyingKey)> {
    let r = region();
    r.ctx
        .committee
        .seats()
        .iter()
        .map(|s| (s.clone(), r.directory.meters[s]))
        .collect()
}

/// The honest aggregator's KeysClosed after `announcements`.
fn honest_close(announcements: &[SeatKeyAnnouncement]) -> KeysClosed {
    region().keys_closed(announcements)
}

/// A KeysClosed listing `keys` (seat, modulus bytes), signed by `signer`.
fn keys_closed_by(signer: &SigningKey, keys: &[(&str, &[u8])]) -> KeysClosed {
    let r = region();
    let keys: Vec<(String, Hash)> = keys
        .iter()
        .map(|(s, modulus)| (s.to_string(), key_hash(modulus)))
        .collect();
    let signature = signer.sign(&keys_closed_signing_bytes(
        &r.ctx.region,
        day(),
        &r.ctx.cutoff,
        &keys,
    ));
    KeysClosed { keys, signature }
}

fn setup(records: &[DayRecord]) -> DaySetup {
    let r = region();
    day_seats(
        &r.ctx.params,
        &r.ctx.region,
        day(),
        &r.ctx.cutoff,
        &r.ctx.committee,
        &r.directory,
        records,
    )
}

fn keys(announcements: &[SeatKeyAnnouncement]) -> Vec<DayRecord> {
    announcements
        .iter()
        .cloned()
        .map(DayRecord::SeatKey)
        .collect()
}

/// Reads a KeysClosed of the shared region's day from the wire, its signature checked against
/// `aggregator`.
fn read_keys_closed(
    aggregator: &VerifyingKey,
    record: &w::RoundRecord,
) -> Result<KeysClosed, WireError> {
    let r = region();
    keys_closed_from_wire(
        &r.ctx.params,
        &r.ctx.region,
        day(),
        &r.ctx.cutoff,
        aggregator,
        record,
    )
}

/// The (seat, modulus bytes) list of `announcements`, as [`keys_closed_by`] takes it.
fn listing<'a>(
    announcements: impl IntoIterator<Item = &'a SeatKeyAnnouncement>,
) -> Vec<(&'a str, &'a [u8])> {
    announcements
        .into_iter()
        .map(|x| (x.seat.as_str(), x.modulus.as_slice()))
        .collect()
}

fn meters(s: &DaySetup) -> Vec<(&str, u64)> {
    s.seats.iter().map(|s| (s.meter.as_str(), s.rank)).collect()
}

/// Every seat announces (in reverse rank order) and the honest aggregator closes: the day's seats
/// are exactly the local region's (meters, ranks and keys), in rank order.
#[test]
fn an_honest_day_gives_the_seats_of_the_local_region() {
    let r = region();
    let mut announced = announcements().to_vec();
    announced.reverse();
    let close = honest_close(&announced);
    // The list is in log order; the seats come out in rank order.
    assert_eq!(close.keys[0].0, r.ctx.seats.last().unwrap().meter);
    let mut records = keys(&announced);
    records.push(DayRecord::KeysClosed(close));
    let s = setup(&records);
    assert_eq!(s.keys_closed_at, Some(announced.len()));
    assert!(s.evidence.is_empty(), "{:?}", s.evidence);
    assert_eq!(s.seats, r.ctx.seats);
    let mut ctx = r.ctx.clone();
    ctx.seats = s.seats;
    ctx.validate().unwrap();

    // With no KeysClosed yet there are no seats (no round of the day can run).
    let open = setup(&keys(&announced));
    assert_eq!(open.keys_closed_at, None);
    assert!(open.seats.is_empty());
}

/// Attack: the aggregator closes the keys without an honest seat's valid key (or with the right
/// keys in another order). That KeysClosed is evidence; the next valid one counts and the seat
/// is in the day.
#[test]
fn a_keys_closed_omitting_an_honest_key_is_evidence_and_the_next_valid_one_counts() {
    let r = region();
    let a = announcements();
    let mut records = keys(a);
    let omitted = &a[2].seat;
    let without = listing(a.iter().filter(|x| x.seat != *omitted));
    records.push(DayRecord::KeysClosed(keys_closed_by(
        &r.aggregator,
        &without,
    )));
    let only_bad = setup(&records);
    assert_eq!(only_bad.keys_closed_at, None);
    assert!(only_bad.seats.is_empty());
    assert_eq!(
        only_bad.evidence,
        vec![Evidence::InvalidMarker(5, "KeysClosed")]
    );

    let reordered = listing(a.iter().rev());
    records.push(DayRecord::KeysClosed(keys_closed_by(
        &r.aggregator,
        &reordered,
    )));
    records.push(DayRecord::KeysClosed(honest_close(a)));
    let s = setup(&records);
    assert_eq!(
        s.evidence,
        vec![
            Evidence::InvalidMarker(5, "KeysClosed"),
            Evidence::InvalidMarker(6, "KeysClosed")
        ]
    );
    assert_eq!(s.keys_closed_at, Some(7));
    assert_eq!(s.seats, r.ctx.seats);
    assert!(s.seats.iter().any(|x| x.meter == *omitted));
}

/// Attack on the audit's record: the aggregator floods the day with more invalid KeysClosed than
/// evidence can hold, hoping the cap drops one of them unnoticed. Evidence keeps the first
/// `MAX_EVIDENCE - 1` in order, and its last slot names the position of the first one it did
/// not keep (the audit reads the log from there); the honest KeysClosed after them counts.
#[test]
fn a_flood_of_invalid_keys_closed_is_capped_without_losing_one() {
    use zeal_protocol::v2::round::log::MAX_EVIDENCE;
    let r = region();
    let a = announcements();
    let mut records = keys(a);
    let flood = MAX_EVIDENCE + 10;
    for i in 0..flood {
        let bogus = (i as u64).to_le_bytes();
        records.push(DayRecord::KeysClosed(keys_closed_by(
            &r.aggregator,
            &[(a[0].seat.as_str(), &bogus[..])],
        )));
    }
    records.push(DayRecord::KeysClosed(honest_close(a)));
    let s = setup(&records);
    assert_eq!(s.keys_closed_at, Some(a.len() + flood));
    assert_eq!(s.seats, r.ctx.seats);
    assert_eq!(s.evidence.len(), MAX_EVIDENCE);
    let kept = MAX_EVIDENCE - 1;
    for (i, e) in s.evidence[..kept].iter().enumerate() {
        assert_eq!(*e, Evidence::InvalidMarker(a.len() + i, "KeysClosed"));
    }
    assert_eq!(
        s.evidence[kept],
        Evidence::TooMuch(a.len() + kept),
        "the cap names the first record it did not keep"
    );
}

/// Attack: the aggregator lists a seat's later key instead of its first valid one, or the valid
/// key of a seat whose first signed announcement failed its proof (that seat is absent for the
/// day). Each is evidence; the honest KeysClosed after them counts.
#[test]
fn a_keys_closed_listing_a_key_that_is_not_the_seats_first_valid_one_is_evidence() {
    let r = region();
    let a = announcements();
    let second = second_key_of_first_seat();
    assert_ne!(second.modulus, a[0].modulus);
    /// The honest listing with `first_seat` as the first seat's key.
    fn with_first<'a>(
        a: &'a [SeatKeyAnnouncement],
        first_seat: &'a [u8],
    ) -> Vec<(&'a str, &'a [u8])> {
        let mut keys = listing(a);
        keys[0].1 = first_seat;
        keys
    }

    // Seat 0's first valid key is its first announcement; its second (also valid) does not count.
    let mut records = keys(&[a[0].clone(), second.clone()]);
    records.extend(keys(&a[1..]));
    records.push(DayRecord::KeysClosed(keys_closed_by(
        &r.aggregator,
        &with_first(a, &second.modulus),
    )));
    records.push(DayRecord::KeysClosed(keys_closed_by(
        &r.aggregator,
        &with_first(a, &a[0].modulus),
    )));
    let s = setup(&records);
    assert_eq!(s.evidence, vec![Evidence::InvalidMarker(6, "KeysClosed")]);
    assert_eq!(s.keys_closed_at, Some(7));
    assert_eq!(s.seats, r.ctx.seats);
    assert_eq!(s.seats[0].key.to_bytes(), a[0].modulus);

    // Seat 0's first signed announcement carries seat 1's key and proof: the proof fails for
    // seat 0, so seat 0 is absent for the day, whatever valid key it announces next.
    let copied = SeatKeyAnnouncement {
        seat: a[0].seat.clone(),
        signature: r.identities[&a[0].seat].sign(&key_signing_bytes(
            &r.ctx.region,
            day(),
            &a[0].seat,
            &r.ctx.cutoff,
            &a[1].modulus,
            &a[1].proof,
        )),
        ..a[1].clone()
    };
    let announced = [&[copied][..], a].concat();
    let mut records = keys(&announced);
    records.push(DayRecord::KeysClosed(keys_closed_by(
        &r.aggregator,
        &with_first(a, &a[0].modulus),
    )));
    let close = honest_close(&announced);
    assert_eq!(close.keys.len(), 4, "seat 0 is not listed");
    records.push(DayRecord::KeysClosed(close));
    let s = setup(&records);
    assert_eq!(s.evidence, vec![Evidence::InvalidMarker(6, "KeysClosed")]);
    assert_eq!(s.keys_closed_at, Some(7));
    assert_eq!(s.seats, r.ctx.seats[1..]);
    assert_eq!(
        meters(&s).iter().map(|(_, rank)| *rank).collect::<Vec<_>>(),
        vec![2, 3, 4, 5],
        "absent seats are not replaced: ranks keep their places"
    );
}

/// A seat that announces after the first valid KeysClosed is absent for the day; a second,
/// different KeysClosed that lists it is evidence and changes nothing; an exact copy of the one
/// that counts (a producer's retry) is not evidence.
#[test]
fn keys_after_the_first_valid_keys_closed_do_not_count() {
    let r = region();
    let a = announcements();
    let early = [a[0].clone(), a[1].clone(), a[2].clone(), a[4].clone()];
    let first = honest_close(&early);
    let mut records = keys(&early);
    records.push(DayRecord::KeysClosed(first.clone()));
    records.push(DayRecord::SeatKey(a[3].clone()));
    records.push(DayRecord::KeysClosed(honest_close(
        &[&early[..], &[a[3].clone()]].concat(),
    )));
    records.push(DayRecord::KeysClosed(first));
    let s = setup(&records);
    assert_eq!(s.keys_closed_at, Some(4));
    assert_eq!(s.evidence, vec![Evidence::SecondMarker(6, "KeysClosed")]);
    let expected: Vec<_> = r
        .ctx
        .seats
        .iter()
        .filter(|x| x.meter != a[3].seat)
        .cloned()
        .collect();
    assert_eq!(s.seats, expected);
}

/// Attack: a KeysClosed signed by a seat (or by nobody) instead of the aggregator. The day's
/// replay ignores it (it proves nothing against the aggregator) and the wire reader refuses it at
/// its signature, or at its author if it claims one.
#[test]
fn a_keys_closed_not_signed_by_the_aggregator_counts_for_no_one() {
    let r = region();
    let a = announcements();
    let seat = &a[0].seat;
    let by_seat = {
        let honest = honest_close(a);
        let forged = keys_closed_by(&r.identities[seat], &listing(a));
        assert_eq!(forged.keys, honest.keys, "the right list, the wrong signer");
        forged
    };
    let mut records = keys(a);
    records.push(DayRecord::KeysClosed(by_seat.clone()));
    let s = setup(&records);
    assert_eq!(s.keys_closed_at, None);
    assert!(s.evidence.is_empty(), "{:?}", s.evidence);
    records.push(DayRecord::KeysClosed(honest_close(a)));
    assert_eq!(setup(&records).keys_closed_at, Some(6));

    let aggregator = r.aggregator.verifying_key();
    let read = |record: &w::RoundRecord| read_keys_closed(&aggregator, record);
    let wire = keys_closed_to_wire(&r.ctx.region, day(), &by_seat);
    assert_eq!(
        read(&wire),
        Err(WireError::Signature("the aggregator".into()))
    );
    let mut claimed = wire.clone();
    claimed.author = Some(seat.clone());
    assert!(matches!(read(&claimed), Err(WireError::Author(_))));
    let mut flipped = keys_closed_to_wire(&r.ctx.region, day(), &honest_close(a));
    assert!(read(&flipped).is_ok());
    flipped.signature[9] ^= 1;
    assert!(matches!(read(&flipped), Err(WireError::Signature(_))));
    // Signed for another cutoff: the signature binds H(Cutoff(D)).
    let other_cutoff = KeysClosed {
        signature: r.aggregator.sign(&keys_closed_signing_bytes(
            &r.ctx.region,
            day(),
            &Hash([1; 32]),
            &honest_close(a).keys,
        )),
        ..honest_close(a)
    };
    assert!(matches!(
        read(&keys_closed_to_wire(&r.ctx.region, day(), &other_cutoff)),
        Err(WireError::Signature(_))
    ));
}

/// Attack: a KeysClosed with more entries than seats (a million, or just k + 1), overlong ids or
/// hashes, or a hash count that differs from the seat count, to make every reader hash and verify
/// it. Refused by its bounds before its signature is checked: a garbage signature is not what
/// is reported, and a million entries are refused at once.
#[test]
fn an_oversized_keys_closed_is_refused_before_its_signature() {
    let r = region();
    let aggregator = r.aggregator.verifying_key();
    let read = |record: &w::RoundRecord| read_keys_closed(&aggregator, record);
    let record =
        |seats: Vec<String>, key_hashes: Vec<Vec<u8>>, signature: Vec<u8>| w::RoundRecord {
            region: r.ctx.region.clone(),
            round_start: day() * 86_400_000,
            author: None,
            entry: w::RoundEntry::KeysClosed(w::KeysClosed { seats, key_hashes }),
            signature,
        };
    let k = r.ctx.params.committee_size;
    let garbage = vec![0xa5; 64];

    // k + 1 entries, even under the aggregator's real signature.
    let six: Vec<String> = (0..=k).map(|i| r.ctx.roster[i].clone()).collect();
    let hashes = vec![vec![3; 32]; k + 1];
    let keys: Vec<(String, Hash)> = six.iter().map(|s| (s.clone(), Hash([3; 32]))).collect();
    let signed = r
        .aggregator
        .sign(&keys_closed_signing_bytes(
            &r.ctx.region,
            day(),
            &r.ctx.cutoff,
            &keys,
        ))
        .to_bytes()
        .to_vec();
    for sig in [garbage.clone(), signed] {
        assert_eq!(
            read(&record(six.clone(), hashes.clone(), sig)),
            Err(WireError::Count {
                field: "seats",
                got: k + 1,
                expected: format!("≤ {k}"),
            })
        );
    }
    // k entries with a garbage signature get as far as the signature.
    assert_eq!(
        read(&record(
            six[..k].to_vec(),
            hashes[..k].to_vec(),
            garbage.clone()
        )),
        Err(WireError::Signature("the aggregator".into()))
    );

    let million = 1_000_000;
    let huge = record(
        (0..million).map(|i| format!("m{i}")).collect(),
        vec![vec![0; 32]; million],
        garbage.clone(),
    );
    let t = Instant::now();
    let err = read(&huge).unwrap_err();
    assert!(t.elapsed().as_millis() < 50, "{:?}", t.elapsed());
    assert!(matches!(err, WireError::Count { field: "seats", got, .. } if got == million));

    // An overlong id, a hash count that is not the seat count, a short hash, a short signature
    // (seats, the length of the one hash, signature length): each refused by the bound (count
    // or length) of the field named.
    let long_id = "m".repeat(MAX_ID_BYTES + 1);
    let malformed = [
        (vec![long_id], 32, 64, ("length", "seats")),
        (six[..2].to_vec(), 32, 64, ("count", "key_hashes")),
        (six[..1].to_vec(), 31, 64, ("length", "key_hashes")),
        (six[..1].to_vec(), 32, 63, ("length", "signature")),
    ];
    for (seats, hash_len, signature_len, expected) in malformed {
        let key_hashes = vec![vec![0; hash_len]];
        let err = read(&record(seats, key_hashes, vec![0xa5; signature_len])).unwrap_err();
        let field = match &err {
            WireError::Count { field, .. } | WireError::Length { field, .. } => *field,
            other => panic!("refused for another reason: {other:?}"),
        };
        assert_eq!((err.code(), field), expected);
    }
}

/// The whole day through Avro bytes: every seat key and the KeysClosed are written, encoded,
/// decoded and read back, and the day replays to the same seats. A KeysClosed is a day record:
/// read for another day or region it is refused, and the round reader refuses it.
#[test]
fn a_day_read_back_from_the_wire_gives_the_same_seats() {
    let r = region();
    let a = announcements();
    let close = honest_close(a);
    let mut written: Vec<w::RoundRecord> = a
        .iter()
        .map(|x| seat_key_to_wire(&r.ctx.region, day(), x))
        .collect();
    written.push(keys_closed_to_wire(&r.ctx.region, day(), &close));
    let aggregator = r.aggregator.verifying_key();
    let read: Vec<DayRecord> = written
        .iter()
        .map(|x| {
            let back = decode::<w::RoundRecord>(&encode(x).unwrap()).unwrap();
            assert_eq!(&back, x);
            day_record_from_wire(
                &r.ctx.params,
                &r.ctx.region,
                day(),
                &r.ctx.cutoff,
                &aggregator,
                &back,
            )
            .unwrap()
        })
        .collect();
    let DayRecord::KeysClosed(back) = &read[a.len()] else {
        panic!("the last record is the KeysClosed")
    };
    assert_eq!(back, &close);
    let s = setup(&read);
    assert_eq!(s.keys_closed_at, Some(a.len()));
    assert_eq!(s.seats, r.ctx.seats);

    let wire = &written[a.len()];
    let read_as = |region: &str, day: i64| {
        keys_closed_from_wire(&r.ctx.params, region, day, &r.ctx.cutoff, &aggregator, wire)
    };
    assert!(matches!(
        read_as(&r.ctx.region, day() + 1),
        Err(WireError::WrongRound { .. })
    ));
    assert!(matches!(
        read_as("NL-T02", day()),
        Err(WireError::WrongRound { .. })
    ));
    assert!(matches!(
        day_record_from_wire(
            &r.ctx.params,
            &r.ctx.region,
            day() + 1,
            &r.ctx.cutoff,
            &aggregator,
            &written[0],
        ),
        Err(WireError::WrongRound { .. })
    ));
    // The round reader refuses it, also in the day's first round (whose start is the day's).
    let mut first_round = r.ctx.clone();
    first_round.start = day() * 86_400;
    assert!(matches!(
        decode_record(&first_round, &r.directory, wire),
        Err(WireError::Author(ref m)) if m.contains("keys_closed_from_wire")
    ));
    // The signature does not verify against anything but the aggregator's key.
    let stranger = SigningKey::from_bytes(&[9; 32]).verifying_key();
    assert!(matches!(
        read_keys_closed(&stranger, wire),
        Err(WireError::Signature(_))
    ));
}

/// A node lists the keys before its KeysClosed and then reads it back: with one
/// `KeyJudgements` each key is judged once and the day's seats are the same as judged afresh. A
/// changed announcement is judged afresh (a seat re-signing a bad proof is refused, not served
/// the cached valid key), and cheap refusals (a bad signature) are not kept.
#[test]
fn a_node_judges_each_seat_key_once_and_a_changed_announcement_afresh() {
    let r = region();
    let a = announcements();
    let seats = seat_identities();
    let mut judgements = KeyJudgements::default();
    let listed = judgements.keys_before_close(
        &r.ctx.params,
        &r.ctx.region,
        day(),
        &r.ctx.cutoff,
        &seats,
        a,
    );
    assert_eq!(judgements.judged(), a.len());
    let close = close_keys(&r.aggregator, &r.ctx.region, day(), &r.ctx.cutoff, &listed);
    assert_eq!(close, honest_close(a));
    let mut records = keys(a);
    records.push(DayRecord::KeysClosed(close));
    let s = judgements.day_seats_of(&r.ctx, &r.directory, &records);
    assert_eq!(judgements.judged(), a.len(), "nothing judged twice");
    assert_eq!(s.seats, setup(&records).seats);
    assert_eq!(s.seats, r.ctx.seats);

    // The first seat re-signs its announcement with a corrupted proof.
    let seat = &a[0].seat;
    let mut bad = a[0].clone();
    bad.proof[7] ^= 1;
    bad.signature = r.identities[seat].sign(&key_signing_bytes(
        &r.ctx.region,
        day(),
        seat,
        &r.ctx.cutoff,
        &bad.modulus,
        &bad.proof,
    ));
    let judge = |j: &mut KeyJudgements, x: &SeatKeyAnnouncement| {
        j.accept(
            &r.ctx.params,
            &r.ctx.region,
            day(),
            &r.ctx.cutoff,
            &seats,
            x,
        )
    };
    let fresh = accept_key(
        &r.ctx.params,
        &r.ctx.region,
        day(),
        &r.ctx.cutoff,
        &seats,
        &bad,
    );
    assert!(matches!(fresh, Err(KeyRefused::Proof(_))), "{fresh:?}");
    assert_eq!(judge(&mut judgements, &bad), fresh);
    assert_eq!(judgements.judged(), a.len() + 1);
    assert_eq!(
        judge(&mut judgements, &bad),
        fresh,
        "the same verdict again"
    );
    assert_eq!(judge(&mut judgements, &a[0]).unwrap(), r.ctx.seats[0].key);
    // Its valid announcement under a wrong signature: refused, and not kept.
    let mut unsigned = a[0].clone();
    unsigned.signature = bad.signature;
    assert_eq!(
        judge(&mut judgements, &unsigned),
        Err(KeyRefused::Signature)
    );
    assert_eq!(judgements.judged(), a.len() + 1);
}
