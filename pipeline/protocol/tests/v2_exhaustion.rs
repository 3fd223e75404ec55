//! Attack 7, resource exhaustion, against protocol v2 (issue #11 "Must show": an oversized key,
//! 10^6 complaints, a RoundOpen with 2^31 intervals: refused before any expensive work, with a
//! bound on the time and memory it takes). The v1 halves, where each attack succeeds, are in
//! `tests/v1_attacks.rs`.
//!
//! Bounds are counted, not timed (speed targets belong in the benchmarks): memory and bignum
//! bytes through the counting allocator of `tests/counting` (GMP included), signature checks and
//! judgements through `RoundView::work`. Each bound is one that the attack would break: a check
//! moved after the signature, or a cost that grows with the flood, makes its test fail.

mod counting;
mod v2;

use counting::{KIB, MIB, Usage, measure};
use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use v2::*;
use zeal_protocol::v2::day::{
    KeyRefused, SeatKeyAnnouncement, accept_key, announce, key_signing_bytes,
};
use zeal_protocol::v2::enrolment::{Certificate, EnrolmentRefused, MAX_ID_BYTES, Registry, Status};
use zeal_protocol::v2::local::{LocalRegion, LocalRound};
use zeal_protocol::v2::params::{DAY_SECONDS, MAX_MODULUS_BITS, Params};
use zeal_protocol::v2::round::complaint::{Complainant, Complaint, ComplaintKind};
use zeal_protocol::v2::round::log::{
    Author, Entry, Evidence, MAX_EVIDENCE, Record, RoundView, Work, replay,
};
use zeal_protocol::v2::wire::{
    WireError, certificate_from_wire, certificate_to_wire, decode_record, record_to_wire,
    seat_key_from_wire, seat_key_to_wire,
};
use zeal_schemas::v2 as w;

/// Commits everyone, closes, reveals everyone: the point where complaints count.
fn through_reveal(r: &LocalRegion, seed: u64) -> LocalRound {
    let mut round = LocalRound::default();
    let mut g = rng(seed);
    for (m, v) in &readings(r) {
        r.commit(&mut round, m, v, &mut g);
    }
    r.close_commits(&mut round);
    for m in r.ctx.roster.clone() {
        r.reveal(&mut round, &m);
    }
    r.close_reveals(&mut round);
    round
}

/// Replays `log` followed by `flood`, measuring what the replay allocates.
fn replay_measured<'a>(
    r: &LocalRegion,
    round: &'a LocalRound,
    flood: impl IntoIterator<Item = &'a Record>,
) -> (RoundView, Usage) {
    let parts = r.parts(round);
    let records = round.log.iter().chain(flood);
    measure(|| replay(&r.ctx, &r.directory, records, &parts))
}

/// What a flood added to the honest log's replay.
fn extra(flooded: Work, honest: Work) -> Work {
    Work {
        signatures: flooded.signatures - honest.signatures,
        notices: flooded.notices - honest.notices,
        complaints: flooded.complaints - honest.complaints,
        partials: flooded.partials - honest.partials,
        totals: flooded.totals - honest.totals,
    }
}

/// Memory a thousandfold larger flood may add to a replay: none, but for allocator rounding.
/// What a flood leaves (judged pairs, disqualified seats, evidence) is bounded by the round's
/// roster and committee, not by the number of records.
const FLOOD_SLACK: usize = 4 * KIB;

/// Replays the honest log followed by the first `small`, then the first `large` records of
/// `flood`; asserts that the larger flood's peak memory is the smaller one's (within
/// [`FLOOD_SLACK`]) and returns both views.
fn small_and_large<'a>(
    r: &LocalRegion,
    round: &'a LocalRound,
    flood: impl Iterator<Item = &'a Record> + Clone,
    small: usize,
    large: usize,
) -> (RoundView, RoundView) {
    let (a, small_usage) = replay_measured(r, round, flood.clone().take(small));
    let (b, large_usage) = replay_measured(r, round, flood.take(large));
    assert!(
        large_usage.peak <= small_usage.peak + FLOOD_SLACK,
        "{large} records: {large_usage:?}; {small}: {small_usage:?}"
    );
    (a, b)
}

const MILLION: usize = 1_000_000;

fn complaint(complainant: Complainant, sender: &str, index: usize) -> Complaint {
    Complaint {
        complainant,
        sender: sender.into(),
        kind: ComplaintKind::FailedRangeProof,
        index,
        openings: vec![],
    }
}

fn author_of(c: &Complainant) -> Author {
    match c {
        Complainant::Seat(s) => Author::Meter(s.clone()),
        Complainant::Aggregator => Author::Aggregator,
    }
}

/// The revealed senders of a replayed round.
fn revealed(view: &RoundView) -> Vec<String> {
    view.revealed.as_ref().expect("revealed").1.clone()
}

// --- an oversized key ----------------------------------------------------------------------

/// v1: `an_oversized_key_is_enrolled_and_its_bignum_work_runs_before_the_signature`. A seat
/// announces a 1 MiB modulus (or a 1 MiB key proof), signed with its own identity key, the worst
/// case: only the size check stands between the announcement and a signature check over 1 MiB
/// and a bignum parse. The wire reader refuses it without copying it, `accept_key` on its size
/// before the signature (a garbage signature gives the same answer) and before any bignum work
/// (no GMP allocation at all); each refusal allocates under a kibibyte. An exactly sized key with
/// a garbage signature is refused at the signature, still without bignum work. The control: an
/// honest key costs bignum work the meter sees.
#[test]
fn an_oversized_seat_key_is_refused_by_size_before_the_signature_and_any_bignum_work() {
    let r = shared();
    let seat = &r.ctx.seats[0].meter;
    let day = START.div_euclid(DAY_SECONDS);
    let seats: Vec<(String, VerifyingKey)> = r
        .ctx
        .seats
        .iter()
        .map(|s| (s.meter.clone(), r.directory.meters[&s.meter]))
        .collect();
    let accept = |a: &SeatKeyAnnouncement| {
        accept_key(&r.ctx.params, &r.ctx.region, day, &r.ctx.cutoff, &seats, a)
    };
    let honest = announce(
        &r.identities[seat],
        &r.ctx.region,
        day,
        seat,
        &r.ctx.cutoff,
        &r.seat_secrets[0],
    );
    let signed = |modulus: Vec<u8>, proof: Vec<u8>| {
        let bytes = key_signing_bytes(&r.ctx.region, day, seat, &r.ctx.cutoff, &modulus, &proof);
        SeatKeyAnnouncement {
            seat: seat.clone(),
            signature: r.identities[seat].sign(&bytes),
            modulus,
            proof,
        }
    };
    let huge_modulus = signed(vec![0xff; MIB], honest.proof.clone());
    let huge_proof = signed(honest.modulus.clone(), vec![0x01; MIB]);
    let garbage = Signature::from_bytes(&[0xa5; 64]);

    for (a, field, what) in [
        (&huge_modulus, "modulus", "modulus"),
        (&huge_proof, "proof", "key proof"),
    ] {
        // The wire reader: refused before the bytes are copied.
        let record = seat_key_to_wire(&r.ctx.region, day, a);
        let (read, usage) = measure(|| seat_key_from_wire(&record).map(|_| ()));
        assert!(
            matches!(read, Err(WireError::Length { field: f, .. }) if f == field),
            "{read:?}"
        );
        assert!(usage.allocated < KIB && usage.bignum == 0, "{usage:?}");

        // The day's check, signed by the seat or not: the size is what is refused.
        let forged = SeatKeyAnnouncement {
            signature: garbage,
            ..a.clone()
        };
        for a in [a, &forged] {
            let (verdict, usage) = measure(|| accept(a));
            assert_eq!(verdict.err(), Some(KeyRefused::Size(what)));
            assert!(usage.allocated < KIB && usage.bignum == 0, "{usage:?}");
        }
    }
    // Just too large for any protocol file: refused by the reader.
    let max = MAX_MODULUS_BITS as usize / 8;
    let record = seat_key_to_wire(
        &r.ctx.region,
        day,
        &signed(vec![0xff; max + 1], honest.proof.clone()),
    );
    assert!(matches!(
        seat_key_from_wire(&record),
        Err(WireError::Length {
            field: "modulus",
            ..
        })
    ));
    // An honest key under a 1 MiB region name: refused before the name is copied.
    let record = w::RoundRecord {
        region: "r".repeat(MIB),
        ..seat_key_to_wire(&r.ctx.region, day, &honest)
    };
    let (read, usage) = measure(|| seat_key_from_wire(&record).map(|_| ()));
    assert!(
        matches!(
            read,
            Err(WireError::Length {
                field: "region",
                ..
            })
        ),
        "{read:?}"
    );
    assert!(usage.allocated < KIB, "{usage:?}");
    // At the protocol file's sizes, the reader hands the announcement on.
    let record = seat_key_to_wire(&r.ctx.region, day, &honest);
    assert!(seat_key_from_wire(&record).is_ok());

    // Exact sizes, garbage signature: refused at the signature, before any bignum work.
    let forged = SeatKeyAnnouncement {
        signature: garbage,
        ..honest.clone()
    };
    let (verdict, usage) = measure(|| accept(&forged));
    assert_eq!(verdict.err(), Some(KeyRefused::Signature));
    assert!(usage.bignum == 0, "{usage:?}");

    // Control: the honest key is accepted, and its key proof is bignum work the meter sees.
    let (verdict, usage) = measure(|| accept(&honest));
    assert!(verdict.is_ok());
    assert!(usage.bignum > 8 * 256, "{usage:?}");
}

/// The identity side of an oversized enrolment: a certificate with a 1 MiB meter id, region or
/// identity key is refused by the wire reader on its length without copying it, and by the
/// registry (`MAX_ID_BYTES`) before the authority's signature is checked, whoever signed it.
#[test]
fn an_oversized_certificate_is_refused_before_its_signature() {
    let authority = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let identity = ed25519_dalek::SigningKey::from_bytes(&[8; 32]).verifying_key();
    let honest = Certificate::issue(
        &authority,
        "NL-T01-m0042",
        "NL-T01",
        &identity,
        START,
        Status::Active,
    );
    let long = "m".repeat(MIB);
    let on_wire = certificate_to_wire(&honest);
    for (wire, field) in [
        (
            w::Certificate {
                meter_id: long.clone(),
                ..on_wire.clone()
            },
            "meter_id",
        ),
        (
            w::Certificate {
                region: long.clone(),
                ..on_wire.clone()
            },
            "region",
        ),
        (
            w::Certificate {
                identity_key: vec![1; MIB],
                ..on_wire.clone()
            },
            "identity_key",
        ),
    ] {
        let (read, usage) = measure(|| certificate_from_wire(&wire).map(|_| ()));
        assert!(
            matches!(read, Err(WireError::Length { field: f, .. }) if f == field),
            "{read:?}"
        );
        assert!(usage.allocated < KIB, "{usage:?}");
    }

    // Signed by the authority over the 1 MiB id, or not signed at all: refused for its shape.
    let mut registry = Registry::new(authority.verifying_key());
    let signed = Certificate::issue(
        &authority,
        &long,
        "NL-T01",
        &identity,
        START,
        Status::Active,
    );
    let forged = Certificate {
        signature: Signature::from_bytes(&[0xa5; 64]),
        ..signed.clone()
    };
    assert!(long.len() > MAX_ID_BYTES);
    for cert in [signed, forged] {
        let (verdict, usage) = measure(|| registry.admit(cert));
        assert!(
            matches!(verdict, Err(EnrolmentRefused::Malformed(_))),
            "{verdict:?}"
        );
        assert!(usage.allocated < KIB, "{usage:?}");
    }
    assert!(registry.is_empty());
    assert_eq!(registry.admit(honest), Ok(()));
}

// --- 10^6 complaints ---------------------------------------------------------------------------

/// v1: `a_partial_carries_any_number_of_accusations_and_each_costs_a_decryption_check`. A seat
/// posts 10^6 copies of one complaint it signed (invalid: the sender's range proof holds). The
/// replay judges the first, which disqualifies the seat; every copy after it costs a comparison:
/// one signature check and one judgement in all, the same as for 10^3 copies, and no more memory.
#[test]
fn a_million_copies_of_a_signed_complaint_are_judged_once() {
    let r = shared();
    let round = through_reveal(r, 31);
    let (honest, _) = replay_measured(r, &round, []);
    let seat = r.ctx.seats[0].meter.clone();
    let sender = revealed(&honest)[3].clone();
    let rec = r.record(
        Author::Meter(seat.clone()),
        Entry::Complaint(complaint(Complainant::Seat(seat.clone()), &sender, 0)),
    );
    let flood = std::iter::repeat(&rec);
    let (thousand, view) = small_and_large(r, &round, flood, 1_000, MILLION);
    assert_eq!(view.work, thousand.work);
    assert_eq!(
        extra(view.work, honest.work),
        Work {
            signatures: 1,
            complaints: 1,
            ..Work::default()
        }
    );
    assert!(view.disqualified.contains_key(&seat));
    assert!(view.accused.is_empty());
    assert_eq!(view.evidence.len(), honest.evidence.len() + 1);
}

/// 10^6 distinct signed complaints: the aggregator and every seat against every revealed sender
/// (under many indices) and against 10^3 senders that are not revealed, cycled. Each
/// (complainant, sender) pair is judged once: the aggregator's once per revealed sender, each
/// seat's first (invalid: it disqualifies the seat, whose later complaints are ignored before
/// their signature). Complaints naming unrevealed senders cost no signature check. Signatures
/// checked = judgements = |revealed| + |seats|, for one pass over the pool as for 10^6 records,
/// and no more memory.
#[test]
fn a_million_distinct_signed_complaints_cost_one_judgement_per_complainant_and_sender() {
    let r = shared();
    let round = through_reveal(r, 32);
    let (honest, _) = replay_measured(r, &round, []);
    let senders = revealed(&honest);
    let mut complainants = vec![Complainant::Aggregator];
    complainants.extend(
        r.ctx
            .seats
            .iter()
            .map(|s| Complainant::Seat(s.meter.clone())),
    );
    let mut pool = Vec::new();
    for index in 0..8 {
        for sender in &senders {
            for c in &complainants {
                let entry = Entry::Complaint(complaint(c.clone(), sender, index));
                pool.push(r.record(author_of(c), entry));
            }
        }
    }
    for i in 0..1000 {
        let c = &complainants[i % complainants.len()];
        let entry = Entry::Complaint(complaint(c.clone(), &format!("NL-T01-x{i:05}"), 0));
        pool.push(r.record(author_of(c), entry));
    }
    let (once, view) = small_and_large(r, &round, pool.iter().cycle(), pool.len(), MILLION);
    assert_eq!(view.work, once.work);
    let pairs = senders.len() + r.ctx.seats.len();
    assert_eq!(
        extra(view.work, honest.work),
        Work {
            signatures: pairs,
            complaints: pairs,
            ..Work::default()
        }
    );
    assert!(view.accused.is_empty(), "no honest sender is excluded");
    assert_eq!(view.disqualified.len(), r.ctx.seats.len());
    assert_eq!(view.evidence.len(), honest.evidence.len() + pairs);
}

/// Unsigned complaints (a garbage signature) under a seat's name: each that passes the cheap
/// checks costs exactly one signature check and nothing else (10^4 distinct ones: 10^4 checks, no
/// judgement, nobody excluded or disqualified, no more memory than 10^3). 10^6 that fail a cheap
/// check (the sender is not revealed, the complainant holds no seat, or is not the record's
/// author) cost no signature check at all.
#[test]
fn unsigned_complaints_cost_one_signature_check_at_most_and_judge_nothing() {
    let r = shared();
    let round = through_reveal(r, 33);
    let (honest, _) = replay_measured(r, &round, []);
    let senders = revealed(&honest);
    let seat = r.ctx.seats[1].meter.clone();
    let garbage = Signature::from_bytes(&[0xa5; 64]);
    let forged = |author: Author, c: Complaint| Record {
        author,
        entry: Entry::Complaint(c),
        signature: garbage,
    };

    let passing: Vec<Record> = (0..10_000)
        .map(|i| {
            let c = complaint(
                Complainant::Seat(seat.clone()),
                &senders[i % senders.len()],
                i,
            );
            forged(Author::Meter(seat.clone()), c)
        })
        .collect();
    let (_, view) = small_and_large(r, &round, passing.iter(), 1_000, passing.len());
    assert_eq!(
        extra(view.work, honest.work),
        Work {
            signatures: passing.len(),
            ..Work::default()
        }
    );
    assert!(view.disqualified.is_empty() && view.accused.is_empty());
    assert_eq!(view.evidence, honest.evidence);

    let outsider = non_seat(r);
    let other_seat = r.ctx.seats[2].meter.clone();
    let failing = [
        // Not a revealed sender.
        forged(
            Author::Meter(seat.clone()),
            complaint(Complainant::Seat(seat.clone()), "NL-T01-nobody", 0),
        ),
        // A complainant without a seat.
        forged(
            Author::Meter(outsider.clone()),
            complaint(Complainant::Seat(outsider.clone()), &senders[0], 0),
        ),
        // Written by another seat than the complainant, or by the aggregator for a seat.
        forged(
            Author::Meter(other_seat),
            complaint(Complainant::Seat(seat.clone()), &senders[0], 0),
        ),
        forged(
            Author::Aggregator,
            complaint(Complainant::Seat(seat.clone()), &senders[0], 0),
        ),
        forged(
            Author::Meter(seat.clone()),
            complaint(Complainant::Aggregator, &senders[0], 0),
        ),
    ];
    let (_, view) = small_and_large(r, &round, failing.iter().cycle(), 1_000, MILLION);
    assert_eq!(extra(view.work, honest.work), Work::default());
    assert!(view.disqualified.is_empty() && view.accused.is_empty());
}

/// The aggregator signs copies of an invalid RevealClosed (here before the reveals, listing a
/// meter that has not revealed). An invalid marker may become valid later in the log, so each
/// copy is judged again (one signature check and a comparison, the floor); what it leaves
/// behind is bounded: evidence stops at `MAX_EVIDENCE` entries and only the first RevealClosed's
/// position is kept. 10^4 copies take no more memory than 2·10^3.
#[test]
fn a_flood_of_invalid_markers_leaves_bounded_evidence() {
    let r = shared();
    let round = through_reveal(r, 34);
    let closed = round
        .log
        .iter()
        .position(|x| matches!(x.entry, Entry::CommitClosed(_)))
        .unwrap();
    let invalid = r.record(
        Author::Aggregator,
        Entry::RevealClosed(vec![r.ctx.roster[0].clone()]),
    );
    let run = |copies: usize| {
        let records = round.log[..=closed]
            .iter()
            .chain(std::iter::repeat_n(&invalid, copies))
            .chain(&round.log[closed + 1..]);
        let parts = r.parts(&round);
        measure(|| replay(&r.ctx, &r.directory, records, &parts))
    };
    let (honest, _) = replay_measured(r, &round, []);
    let (small, small_usage) = run(2_000);
    let (large, large_usage) = run(10_000);
    for (view, copies) in [(&small, 2_000), (&large, 10_000)] {
        assert_eq!(view.evidence.len(), MAX_EVIDENCE);
        assert!(matches!(view.evidence.last(), Some(Evidence::TooMuch(_))));
        assert_eq!(view.first_reveal_closed, Some(closed + 1));
        assert_eq!(view.work.signatures, honest.work.signatures + copies);
        assert_eq!(view.work.complaints, honest.work.complaints);
        // The honest RevealClosed after the flood still counts.
        assert_eq!(
            view.revealed.as_ref().map(|x| &x.1),
            honest.revealed.as_ref().map(|x| &x.1)
        );
    }
    assert!(
        large_usage.peak <= small_usage.peak + 4 * KIB,
        "{large_usage:?} against {small_usage:?}"
    );
}

// --- 2^31 intervals ----------------------------------------------------------------------------

/// v1: `a_round_open_with_2_pow_31_intervals_is_accepted_and_sized_by_the_message`. v2 has no
/// RoundOpen: a round's values per meter come from the signed protocol file, which refuses 2^31
/// intervals (naming the parameter). Every list in a record is bounded by that file and the day's
/// roster and committee: a record with 10^6 values, sums, commitments, ciphertexts, openings or
/// meters is refused by count before its signature is checked (a garbage signature gets the
/// count error) and before anything is parsed or copied: each refusal allocates under a
/// kibibyte and does no bignum work.
#[test]
fn records_longer_than_the_protocol_file_allows_are_refused_before_the_signature() {
    for intervals in [1u32 << 31, u32::MAX] {
        let p = Params {
            intervals_per_round: intervals,
            ..Params::default()
        };
        assert_eq!(p.validate().unwrap_err().name, "intervals_per_round");
    }
    let r = shared();
    let values = r.ctx.params.values_per_round();
    assert_eq!(values, 2);
    let seat = r.ctx.seats[0].meter.clone();
    let width = r.ctx.seats[0].key.ciphertext_len();
    let record = |author: Option<&str>, entry: w::RoundEntry| w::RoundRecord {
        region: r.ctx.region.clone(),
        round_start: r.ctx.start * 1000,
        author: author.map(str::to_string),
        entry,
        signature: vec![0xa5; 64],
    };
    let scalars = || vec![vec![0u8; 32]; MILLION];
    let cases = [
        (
            record(
                None,
                w::RoundEntry::RegionTotal(w::RegionTotal {
                    values: vec![1; MILLION],
                    contributors: vec![],
                    final_set: vec![0; 32],
                }),
            ),
            "values",
        ),
        (
            record(
                Some(&seat),
                w::RoundEntry::Partial(w::Partial {
                    final_set: vec![0; 32],
                    f: scalars(),
                    r: scalars(),
                }),
            ),
            "f",
        ),
        (
            record(
                Some(&r.ctx.roster[0]),
                w::RoundEntry::Notice(w::Notice {
                    commitments: vec![vec![0; 32 * (r.ctx.degree + 1)]; MILLION],
                    opening_proofs: vec![],
                    range_proof: vec![],
                    part_hashes: vec![],
                }),
            ),
            "commitments",
        ),
        (
            record(
                None,
                w::RoundEntry::Products(w::Products {
                    seat: seat.clone(),
                    ciphertexts: vec![vec![1; width]; MILLION],
                }),
            ),
            "ciphertexts",
        ),
        (
            record(
                Some(&seat),
                w::RoundEntry::Complaint(w::Complaint {
                    sender: r.ctx.roster[0].clone(),
                    kind: w::ComplaintKind::ShareMismatch,
                    index: 0,
                    plaintexts: vec![vec![1]; MILLION],
                    randomness: vec![vec![1]; MILLION],
                }),
            ),
            "plaintexts",
        ),
        (
            record(
                None,
                w::RoundEntry::FinalSet(w::FinalSet {
                    meters: (0..MILLION).map(|i| format!("m{i}")).collect(),
                }),
            ),
            "meters",
        ),
    ];
    for (rec, field) in &cases {
        let (read, usage) = measure(|| decode_record(&r.ctx, &r.directory, rec).map(|_| ()));
        assert!(
            matches!(read, Err(WireError::Count { field: f, .. }) if f == *field),
            "{field}: {read:?}"
        );
        assert!(
            usage.allocated < KIB && usage.bignum == 0,
            "{field}: {usage:?}"
        );
    }
    // The same kinds at the protocol file's sizes reach the signature (and stop there).
    let honest_sized = record(
        None,
        w::RoundEntry::RegionTotal(w::RegionTotal {
            values: vec![1; values],
            contributors: vec![],
            final_set: vec![0; 32],
        }),
    );
    assert!(matches!(
        decode_record(&r.ctx, &r.directory, &honest_sized),
        Err(WireError::Signature(_))
    ));
    // And a record the protocol produced reads back.
    let (round, _) = r.run(&readings(r), &mut rng(35));
    let total = round
        .log
        .iter()
        .find(|x| matches!(x.entry, Entry::RegionTotal { .. }))
        .unwrap();
    assert!(decode_record(&r.ctx, &r.directory, &record_to_wire(&r.ctx, total)).is_ok());
}
