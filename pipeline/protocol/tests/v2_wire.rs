//! Protocol v2 through its Avro messages: a round written to and read back from the wire replays
//! to the same total, and hostile records are refused in the documented order (bounds, then the
//! signature, then curve and bignum parsing).

mod v2;

use ed25519_dalek::{Signer as _, SigningKey};
use std::time::Instant;
use v2::*;
use zeal_protocol::v2::day::{accept_key, announce};
use zeal_protocol::v2::enrolment::{BeaconRound, Certificate, Cutoff, Registry, Status};
use zeal_protocol::v2::local::LocalRound;
use zeal_protocol::v2::round::bundle::commitment_hash;
use zeal_protocol::v2::round::log::{Author, Entry, Outcome, Record, notice_signing_bytes};
use zeal_protocol::v2::wire::*;
use zeal_schemas::v2 as w;
use zeal_schemas::{decode, encode};

/// Through Avro bytes and back.
fn avro<T: zeal_schemas::WireMessage + PartialEq + std::fmt::Debug>(m: &T) -> T {
    let back = decode::<T>(&encode(m).unwrap()).unwrap();
    assert_eq!(&back, m);
    back
}

/// Reads `record` in the shared region's round, which must refuse it, and asserts that the
/// refusal took under 50 ms.
fn refused_quickly(record: &w::RoundRecord) -> WireError {
    let r = shared();
    let t = Instant::now();
    let err = decode_record(&r.ctx, &r.directory, record).unwrap_err();
    assert!(t.elapsed().as_millis() < 50, "{:?}", t.elapsed());
    err
}

fn wire_of(round: &LocalRound, kind: fn(&Entry) -> bool) -> (usize, w::RoundRecord) {
    let r = shared();
    let i = round.log.iter().position(|x| kind(&x.entry)).unwrap();
    (i, record_to_wire(&r.ctx, &round.log[i]))
}

#[test]
fn a_round_read_back_from_the_wire_replays_to_the_same_total() {
    let r = shared();
    let values = readings(r);
    let (round, view) = r.run(&values, &mut rng(1));
    assert_eq!(view.outcome, Outcome::Total(sums(&values, &r.ctx.roster)));

    // Every record and every part through Avro single-object bytes and the wire reader.
    let log: Vec<Record> = round
        .log
        .iter()
        .map(|rec| decode_record(&r.ctx, &r.directory, &avro(&record_to_wire(&r.ctx, rec))))
        .collect::<Result<_, _>>()
        .unwrap();
    let mut bundles = round.bundles.clone();
    for (sender, b) in &mut bundles {
        for (seat, part) in r.ctx.seats.iter().zip(&mut b.parts) {
            let back = avro(&part_to_wire(&r.ctx, sender, &seat.meter, part));
            *part = part_from_wire(&r.ctx, &back).unwrap();
        }
    }
    let read = LocalRound { log, bundles };
    assert_eq!(read.log.len(), round.log.len());
    let replayed = r.view(&read);
    assert_eq!(replayed.outcome, view.outcome);
    assert_eq!(replayed.final_set, view.final_set);
    // Writing what was read gives the same bytes: nothing is lost or reordered.
    for (a, b) in round.log.iter().zip(&read.log) {
        assert_eq!(
            encode(&record_to_wire(&r.ctx, a)).unwrap(),
            encode(&record_to_wire(&r.ctx, b)).unwrap()
        );
    }
}

/// Attack: flood the round log with reveals whose points are garbage, so every reader pays point
/// decompression (about 80 per reveal) before finding out. Without the author's key the reveal is
/// refused at the signature, before any point is decoded; with it, the points are refused.
#[test]
fn a_reveal_is_refused_at_its_signature_before_any_point_is_decoded() {
    let r = shared();
    let (round, _) = r.run(&readings(r), &mut rng(2));
    let (i, mut notice) = wire_of(&round, |e| matches!(e, Entry::Notice(_)));
    let Author::Meter(sender) = round.log[i].author.clone() else {
        panic!("a notice by a meter")
    };
    let w::RoundEntry::Notice(n) = &mut notice.entry else {
        panic!("notice")
    };
    // An invalid point encoding (not canonical): decoding it would fail.
    n.commitments[0][..32].copy_from_slice(&[0xFF; 32]);
    let err = decode_record(&r.ctx, &r.directory, &notice).unwrap_err();
    assert!(
        matches!(err, WireError::Signature(ref m) if *m == sender),
        "{err}"
    );

    // Signed by its author over the raw fields, the same garbage is refused as malformed.
    let w::RoundEntry::Notice(n) = &notice.entry else {
        unreachable!()
    };
    let points: Vec<[u8; 32]> = n
        .commitments
        .iter()
        .flat_map(|c| c.chunks_exact(32).map(|p| p.try_into().unwrap()))
        .collect();
    let hashes = round
        .bundles
        .get(&sender)
        .unwrap()
        .public
        .part_hashes
        .clone();
    let commitment = commitment_hash(
        &r.ctx,
        &sender,
        &points,
        n.opening_proofs.iter().map(Vec::as_slice),
        &n.range_proof,
        &hashes,
    );
    let key: &SigningKey = &r.identities[&sender];
    notice.signature = key
        .sign(&notice_signing_bytes(&r.ctx, &sender, &commitment))
        .to_bytes()
        .to_vec();
    let err = decode_record(&r.ctx, &r.directory, &notice).unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Malformed {
                field: "commitments",
                ..
            }
        ),
        "{err}"
    );
}

/// Attack: one record with a million entries (meters, complaint openings) to exhaust readers.
/// Refused by count against the day's roster and committee, before anything is parsed; the bound
/// on time is generous (debug build) but three orders below parsing a million entries.
#[test]
fn oversized_lists_are_refused_by_count_before_parsing() {
    let r = shared();
    let (round, _) = r.run(&readings(r), &mut rng(3));
    let million = 1_000_000;

    let (_, mut closed) = wire_of(&round, |e| matches!(e, Entry::CommitClosed(_)));
    closed.entry = w::RoundEntry::CommitClosed(w::CommitClosed {
        meters: (0..million).map(|i| format!("m{i}")).collect(),
        commitments: vec![vec![0; 32]; million],
    });
    let err = refused_quickly(&closed);
    assert!(matches!(err, WireError::Count { field: "meters", got, .. } if got == million));

    let seat = r.ctx.seats[0].meter.clone();
    let complaint = w::RoundRecord {
        region: r.ctx.region.clone(),
        round_start: r.ctx.start * 1000,
        author: Some(seat),
        entry: w::RoundEntry::Complaint(w::Complaint {
            sender: r.ctx.roster[0].clone(),
            kind: w::ComplaintKind::ShareMismatch,
            index: 0,
            plaintexts: vec![vec![1]; million],
            randomness: vec![vec![1]; million],
        }),
        signature: vec![0; 64],
    };
    let err = refused_quickly(&complaint);
    assert!(
        matches!(
            err,
            WireError::Count {
                field: "plaintexts",
                ..
            }
        ),
        "{err}"
    );
}

/// Attack: replay a record into another round or region, or write the aggregator's markers as a
/// meter (and vice versa). Each is refused with its reason, before the signature is checked.
#[test]
fn records_are_bound_to_their_round_and_their_author() {
    let r = shared();
    let (round, _) = r.run(&readings(r), &mut rng(4));
    let (_, commit) = wire_of(&round, |e| matches!(e, Entry::Commit(_)));

    let next = r.next_round();
    let err = decode_record(&next.ctx, &next.directory, &commit).unwrap_err();
    assert!(matches!(err, WireError::WrongRound { .. }), "{err}");
    let mut moved = commit.clone();
    moved.region = "NL-T02".into();
    assert!(matches!(
        decode_record(&r.ctx, &r.directory, &moved),
        Err(WireError::WrongRound { .. })
    ));

    let (_, mut final_set) = wire_of(&round, |e| matches!(e, Entry::FinalSet(_)));
    final_set.author = Some(r.ctx.roster[0].clone());
    assert!(matches!(
        decode_record(&r.ctx, &r.directory, &final_set),
        Err(WireError::Author(_))
    ));
    let mut anonymous = commit.clone();
    anonymous.author = None;
    assert!(matches!(
        decode_record(&r.ctx, &r.directory, &anonymous),
        Err(WireError::Author(_))
    ));
    let mut stranger = commit.clone();
    stranger.author = Some("NL-T01-m9999".into());
    assert!(matches!(
        decode_record(&r.ctx, &r.directory, &stranger),
        Err(WireError::Author(_))
    ));
    // Another meter's signature on this meter's commitment.
    let (_, other) = wire_of(&round, |e| matches!(e, Entry::Commit(_)));
    let mut swapped = commit.clone();
    swapped.author = Some(r.ctx.roster[1].clone());
    swapped.signature = other.signature.clone();
    assert!(matches!(
        decode_record(&r.ctx, &r.directory, &swapped),
        Err(WireError::Signature(_))
    ));
    // Untouched, it reads.
    assert!(decode_record(&r.ctx, &r.directory, &commit).is_ok());
}

#[test]
fn registry_and_day_records_survive_the_wire() {
    let r = shared();
    let authority = SigningKey::from_bytes(&[7; 32]);
    let identity = SigningKey::from_bytes(&[8; 32]);
    let cert = Certificate::issue(
        &authority,
        "NL-T01-m0042",
        "NL-T01",
        &identity.verifying_key(),
        START,
        Status::Active,
    );
    let back = certificate_from_wire(&avro(&certificate_to_wire(&cert))).unwrap();
    assert_eq!(back, cert);
    let mut registry = Registry::new(authority.verifying_key());
    registry.admit(back).unwrap();

    let day = START / 86_400;
    let cutoff = Cutoff::issue(&authority, &registry, day);
    let back = cutoff_from_wire(&avro(&cutoff_to_wire(&cutoff))).unwrap();
    assert_eq!(back, cutoff);
    assert!(back.verify(&authority.verifying_key(), &registry));

    let beacon = BeaconRound::produce(&[9; 32], 3);
    assert_eq!(
        beacon_from_wire(&avro(&beacon_to_wire(&beacon))).unwrap(),
        beacon
    );

    // A certificate valid from a fraction of a second, or of unknown status, is refused.
    let mut odd = certificate_to_wire(&cert);
    odd.valid_from += 1;
    assert!(matches!(
        certificate_from_wire(&odd),
        Err(WireError::Malformed { .. })
    ));
    odd.valid_from -= 1;
    odd.status = w::CertificateStatus::Unknown;
    assert!(matches!(
        certificate_from_wire(&odd),
        Err(WireError::Unknown(_))
    ));

    // A seat's daily key, through the wire, is accepted by the day's checks.
    let seat = &r.ctx.seats[0];
    let day = START.div_euclid(86_400);
    let announcement = announce(
        &r.identities[&seat.meter],
        &r.ctx.region,
        day,
        &seat.meter,
        &r.ctx.cutoff,
        &r.seat_secrets[0],
    );
    let (region, read_day, back) =
        seat_key_from_wire(&avro(&seat_key_to_wire(&r.ctx.region, day, &announcement))).unwrap();
    assert_eq!((region.as_str(), read_day), (r.ctx.region.as_str(), day));
    let seats: Vec<_> = r
        .ctx
        .seats
        .iter()
        .map(|s| (s.meter.clone(), r.directory.meters[&s.meter]))
        .collect();
    accept_key(
        &r.ctx.params,
        &region,
        read_day,
        &r.ctx.cutoff,
        &seats,
        &back,
    )
    .unwrap();
}

/// Attack: a meter whose identity key has small order (the identity point) "signs" any message
/// under Ed25519's lenient rule: R = s·B verifies for every message. If one party checked
/// leniently and another strictly, the meter could make an honest aggregator's markers invalid
/// in the seats' replay. Every v2 check is strict, so such a record counts for no one, and the
/// registry refuses such a key even when the authority signed it.
#[test]
fn records_under_a_small_order_key_count_for_no_one() {
    use curve25519_dalek::constants::ED25519_BASEPOINT_COMPRESSED;
    use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
    use zeal_protocol::v2::encoding::Hash;
    use zeal_protocol::v2::round::log::{Parts, replay, signing_bytes};

    let r = shared();
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    let weak = VerifyingKey::from_bytes(&identity_point).unwrap();
    let meter = r.ctx.roster[0].clone();
    let mut directory = r.directory.clone();
    directory.meters.insert(meter.clone(), weak);

    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(ED25519_BASEPOINT_COMPRESSED.as_bytes());
    sig[32] = 1;
    let signature = Signature::from_bytes(&sig);
    let record = Record {
        author: Author::Meter(meter.clone()),
        entry: Entry::Commit(Hash([7; 32])),
        signature,
    };
    // A real forgery under the lenient rule, for this and any other message...
    let bytes = signing_bytes(&r.ctx, &record.author, &record.entry);
    assert!(weak.verify(&bytes, &signature).is_ok());
    assert!(weak.verify(b"anything else", &signature).is_ok());
    // ...that neither the replay nor the wire reader counts.
    let view = replay(&r.ctx, &directory, [&record], &Parts::new());
    assert!(view.commits.is_empty(), "{:?}", view.commits);
    assert!(matches!(
        decode_record(&r.ctx, &directory, &record_to_wire(&r.ctx, &record)),
        Err(WireError::Signature(_))
    ));

    // The registry refuses the key even under the authority's signature.
    let authority = SigningKey::from_bytes(&[7; 32]);
    let cert = Certificate::issue(
        &authority,
        "NL-T01-m0077",
        "NL-T01",
        &weak,
        START,
        Status::Active,
    );
    let mut registry = Registry::new(authority.verifying_key());
    assert!(registry.admit(cert).is_err());
    assert!(registry.is_empty());
}

/// A seat's claim and the posted part read back from Avro as they were signed; the wire reader
/// refuses a claim by anyone but a seat, a part posted by anyone but its sender or the
/// aggregator, a part for a non-seat and a part of the wrong shape, before any signature.
#[test]
fn claims_and_posted_parts_survive_the_wire_and_only_their_authors_post_them() {
    let r = shared();
    let values = readings(r);
    let (round, _) = r.run(&values, &mut rng(6));
    let seat = r.ctx.seats[0].meter.clone();
    let sender = r.ctx.roster[3].clone();
    let part = round.bundles[&sender].parts[0].clone();
    let claim = r.record(
        Author::Meter(seat.clone()),
        Entry::PartMissing(sender.clone()),
    );
    let posted = |author: Author| {
        r.record(
            author,
            Entry::PartPosted {
                sender: sender.clone(),
                seat: seat.clone(),
                part: part.clone(),
            },
        )
    };
    for rec in [
        claim.clone(),
        posted(Author::Meter(sender.clone())),
        posted(Author::Aggregator),
    ] {
        let wire = record_to_wire(&r.ctx, &rec);
        let back = decode_record(&r.ctx, &r.directory, &avro(&wire)).unwrap();
        assert_eq!(back.signature, rec.signature);
        assert_eq!(
            encode(&record_to_wire(&r.ctx, &back)).unwrap(),
            encode(&wire).unwrap()
        );
    }
    let refused = |wire: &w::RoundRecord| decode_record(&r.ctx, &r.directory, wire).unwrap_err();
    // A claim by a meter holding no seat, or by the aggregator.
    let not_a_seat = non_seat(r);
    let mut wire = record_to_wire(&r.ctx, &claim);
    wire.author = Some(not_a_seat.clone());
    assert!(matches!(refused(&wire), WireError::Author(_)));
    wire.author = None;
    assert!(matches!(refused(&wire), WireError::Author(_)));
    // A part posted by a third meter, for a non-seat, or cut short.
    let mut wire = record_to_wire(&r.ctx, &posted(Author::Meter(sender.clone())));
    let mut third = wire.clone();
    third.author = Some(not_a_seat.clone());
    assert!(matches!(refused(&third), WireError::Author(_)));
    let w::RoundEntry::PartPosted(p) = &mut wire.entry else {
        unreachable!()
    };
    let mut other_seat = p.clone();
    other_seat.seat = not_a_seat;
    let mut short = p.clone();
    short.ciphertexts[0].pop();
    for (entry, want_author) in [(other_seat, true), (short, false)] {
        let mut bad = wire.clone();
        bad.entry = w::RoundEntry::PartPosted(entry);
        let err = refused(&bad);
        assert_eq!(matches!(err, WireError::Author(_)), want_author, "{err}");
        assert!(!matches!(err, WireError::Signature(_)), "{err}");
    }
}
