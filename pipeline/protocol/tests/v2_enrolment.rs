//! Protocol v2 before and between rounds (issue #11 "Must show" items 3, 6, 7 and 9): only the
//! enrolment authority certifies, moves, re-keys or retires a meter, and the registry never
//! forgets; the authority's Cutoff(D) fixes the day's candidates before the beacon round that
//! draws the committee exists; a seat's daily key is checked cheapest first and a key that could
//! frame honest senders (a modulus with a small or repeated factor) is never accepted; a
//! gateway's round ledger refuses the overlapping, repeated and re-opened rounds that
//! differencing needs, across restarts; parameters come only from the protocol file, bounded.

mod v2;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use rand_chacha::ChaCha20Rng;
use rug::Integer;
use rug::integer::Order;
use sha2::{Digest as _, Sha256};
use std::sync::OnceLock;
use std::time::Instant;
use v2::*;
use zeal_protocol::v2::committee::Committee;
use zeal_protocol::v2::crypto::paillier::{
    LABEL_KEY_PROOF, LABEL_Y, PaillierError, SeatPublicKey, SeatSecretKey,
};
use zeal_protocol::v2::day::{
    DayError, KeyRefused, RegistryLog, SeatKeyAnnouncement, accept_key, announce, key_context,
    key_signing_bytes, keys_before_close,
};
use zeal_protocol::v2::encoding::Hash;
use zeal_protocol::v2::enrolment::{
    BeaconRound, Certificate, Cutoff, DayRefused, EnrolmentRefused, LOCAL_BEACON_ROUNDS, Registry,
    Status, beacon_round_of, day_cutoff,
};
use zeal_protocol::v2::local::LocalRound;
use zeal_protocol::v2::params::{DAY_SECONDS, Params, RegionRefused};
use zeal_protocol::v2::round::ledger::{Ledger, LedgerRefusal, Step};
use zeal_protocol::v2::round::log::{Outcome, RoundView};

const REGION: &str = "NL-T01";
const OTHER_REGION: &str = "NL-T02";
/// The test day (START's day).
const DAY: i64 = START / DAY_SECONDS;
const BEACON_SEED: [u8; 32] = [9; 32];

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn authority() -> SigningKey {
    key(200)
}

fn meter_id(i: usize) -> String {
    format!("{REGION}-m{i:04}")
}

/// The authority's certificate of `meter` in `region` for `identity`, with `status` from `from`.
fn issued(
    meter: &str,
    region: &str,
    identity: &SigningKey,
    from: i64,
    status: Status,
) -> Certificate {
    Certificate::issue(
        &authority(),
        meter,
        region,
        &identity.verifying_key(),
        from,
        status,
    )
}

/// The authority's certificate of `meter` in `region` for `identity`, active from 30 days
/// before the test day.
fn certified(meter: &str, region: &str, identity: &SigningKey) -> Certificate {
    issued(
        meter,
        region,
        identity,
        (DAY - 30) * DAY_SECONDS,
        Status::Active,
    )
}

/// A registry of `n` meters of REGION, certified from 30 days before the test day; meter i's
/// identity key is `key(i + 1)`.
fn enrolled(n: usize) -> Registry {
    let mut registry = Registry::new(authority().verifying_key());
    for i in 0..n {
        let cert = certified(&meter_id(i), REGION, &key(i as u8 + 1));
        registry.admit(cert).unwrap();
    }
    registry
}

fn ids(candidates: &[(String, VerifyingKey)]) -> Vec<String> {
    candidates.iter().map(|(m, _)| m.clone()).collect()
}

// --- 7. enrolment --------------------------------------------------------------------------

/// Uncertified enrolment (v1's sybils): a certificate signed by the meter's own identity key, or
/// by any key but the authority's, is refused with a reason and the registry does not grow.
#[test]
fn a_self_signed_certificate_is_not_admitted() {
    let mut registry = enrolled(3);
    let sybil = key(50);
    for signer in [&sybil, &key(1)] {
        let cert = Certificate::issue(
            signer,
            "NL-T01-sybil",
            REGION,
            &sybil.verifying_key(),
            DAY * DAY_SECONDS,
            Status::Active,
        );
        assert_eq!(registry.admit(cert), Err(EnrolmentRefused::NotCertified));
    }
    assert_eq!(registry.len(), 3);
    assert_eq!(registry.candidates(REGION, DAY, 3).len(), 3);
}

/// Takeover of a meter id: a certificate binding meter M to the attacker's key K2 is refused
/// unless the authority signed it; even the authority cannot replace M's entry for the same
/// valid_from (Conflict); the identical certificate again is an idempotent no-op.
#[test]
fn a_meter_id_cannot_be_taken_over_and_the_registry_never_replaces() {
    let mut registry = enrolled(3);
    let m = meter_id(1);
    let (k1, k2) = (key(2), key(66));
    let from = (DAY - 30) * DAY_SECONDS;
    for signer in [&k2, &k1, &key(1)] {
        let takeover = Certificate::issue(
            signer,
            &m,
            REGION,
            &k2.verifying_key(),
            from + DAY_SECONDS,
            Status::Active,
        );
        assert_eq!(
            registry.admit(takeover),
            Err(EnrolmentRefused::NotCertified)
        );
    }
    let rekey = certified(&m, REGION, &k2);
    assert_eq!(registry.admit(rekey), Err(EnrolmentRefused::Conflict));
    let original = certified(&m, REGION, &k1);
    assert_eq!(registry.admit(original.clone()), Ok(()));
    assert_eq!(registry.len(), 3);
    let cands = registry.candidates(REGION, DAY, registry.len());
    let (_, identity) = cands.iter().find(|(id, _)| *id == m).unwrap();
    assert_eq!(*identity, k1.verifying_key(), "M keeps K1");
    assert_eq!(
        registry.certificate_at(&m, DAY * DAY_SECONDS, 3),
        Some(&original)
    );
}

/// Moving or retiring a meter: refused unless the authority certifies a later entry; the move
/// applies from the first day starting at or after its valid_from, and only under a cutoff whose
/// prefix includes it. The registry never forgets the old entry.
#[test]
fn moves_and_retirements_need_the_authority_and_a_cutoff_that_includes_them() {
    let mut registry = enrolled(4);
    let m = meter_id(0);
    let identity = key(1);
    let before_move = Cutoff::issue(&authority(), &registry, DAY + 3);
    // The move takes effect at 01:00 on DAY + 2, retirement at the start of DAY + 4.
    let moved_at = (DAY + 2) * DAY_SECONDS + 3_600;
    let cert = |signer: &SigningKey, region: &str, at: i64, status: Status| {
        Certificate::issue(signer, &m, region, &identity.verifying_key(), at, status)
    };
    for signer in [&identity, &key(2)] {
        let moved = cert(signer, OTHER_REGION, moved_at, Status::Active);
        let retired = cert(signer, REGION, (DAY + 4) * DAY_SECONDS, Status::Retired);
        assert_eq!(registry.admit(moved), Err(EnrolmentRefused::NotCertified));
        assert_eq!(registry.admit(retired), Err(EnrolmentRefused::NotCertified));
    }
    assert_eq!(registry.len(), 4);
    registry
        .admit(cert(&authority(), OTHER_REGION, moved_at, Status::Active))
        .unwrap();
    let retire_at = (DAY + 4) * DAY_SECONDS;
    registry
        .admit(cert(&authority(), OTHER_REGION, retire_at, Status::Retired))
        .unwrap();
    let all = registry.len();
    let has = |region, day, prefix| ids(&registry.candidates(region, day, prefix)).contains(&m);
    // Under the full registry: REGION up to DAY + 2 (it starts before 01:00), OTHER_REGION on
    // DAY + 3, nowhere from DAY + 4.
    assert!(has(REGION, DAY + 2, all) && !has(OTHER_REGION, DAY + 2, all));
    assert!(!has(REGION, DAY + 3, all) && has(OTHER_REGION, DAY + 3, all));
    assert!(!has(REGION, DAY + 4, all) && !has(OTHER_REGION, DAY + 4, all));
    // A cutoff issued before the move still lists M in its old region.
    assert!(before_move.verify(&authority().verifying_key(), &registry));
    assert!(has(REGION, DAY + 3, before_move.prefix));
    assert!(!has(OTHER_REGION, DAY + 3, before_move.prefix));
    // Never forgotten: the old certificate is still there for audits.
    let old = registry.certificate_at(&m, DAY * DAY_SECONDS, all).unwrap();
    assert_eq!((old.region.as_str(), old.status), (REGION, Status::Active));
    let last = registry.certificate_at(&m, retire_at, all).unwrap();
    assert_eq!(last.status, Status::Retired);
}

/// A malformed certificate is refused for its shape, whoever signed it; an identity key that is
/// not a curve point is refused even with the authority's signature.
#[test]
fn malformed_certificates_are_refused() {
    let mut registry = enrolled(1);
    let id = key(7).verifying_key();
    for meter in [String::new(), "m".repeat(129)] {
        let cert = Certificate::issue(&authority(), &meter, REGION, &id, 0, Status::Active);
        assert!(matches!(
            registry.admit(cert),
            Err(EnrolmentRefused::Malformed(_))
        ));
    }
    let cert = Certificate::issue(&authority(), "m", &"r".repeat(129), &id, 0, Status::Active);
    assert!(matches!(
        registry.admit(cert),
        Err(EnrolmentRefused::Malformed(_))
    ));
    let edge = Certificate::issue(
        &authority(),
        &"m".repeat(128),
        REGION,
        &id,
        0,
        Status::Active,
    );
    assert_eq!(registry.admit(edge), Ok(()));
    let not_a_point = (0u8..=255)
        .map(|b| [b; 32])
        .find(|b| VerifyingKey::from_bytes(b).is_err())
        .unwrap();
    let bytes = Certificate::signing_bytes("m-x", REGION, &not_a_point, 0, Status::Active);
    let cert = Certificate {
        meter: "m-x".into(),
        region: REGION.into(),
        identity: not_a_point,
        valid_from: 0,
        status: Status::Active,
        signature: authority().sign(&bytes),
    };
    assert_eq!(registry.admit(cert), Err(EnrolmentRefused::NotCertified));
    assert_eq!(registry.len(), 2);
}

/// Opted-in readings (v1's open enrolment on the readings path: a self-enrolled taker's
/// readings verified in a household's name, `a_self_enrolled_gateway_takes_over_a_households_readings`
/// in tests/v1_attacks.rs): a reading verifies only under the identity key the meter's
/// certificate names as of the reading's interval, in its certified region, while active.
#[test]
fn readings_verify_only_under_the_meters_certified_key() {
    use zeal_protocol::v2::readings::{ReadingRefused, sign, verify};
    let mut registry = enrolled(2);
    let household = meter_id(0);
    let at = DAY * DAY_SECONDS;
    let reading = |import_wh: i64, t: i64, signer: &SigningKey| {
        let mut r = zeal_schemas::HouseholdReading {
            household_id: household.clone(),
            region: REGION.into(),
            interval_start: t * 1000,
            interval_seconds: 900,
            import_wh,
            export_wh: 0,
            generation_wh: Some(40),
            signature: Vec::new(),
        };
        sign(signer, &mut r);
        r
    };
    let own = reading(120, at, &key(1));
    assert_eq!(verify(&registry, &own), Ok(()));
    // Another gateway's key (a self-chosen one, or another meter's certified one): refused,
    // and a self-signed certificate for it is not admitted (above), so it stays refused.
    for taker in [key(77), key(2)] {
        assert_eq!(
            verify(&registry, &reading(99_999, at, &taker)),
            Err(ReadingRefused::BadSignature(household.clone()))
        );
    }
    let self_signed = Certificate::issue(
        &key(77),
        &household,
        REGION,
        &key(77).verifying_key(),
        at,
        Status::Active,
    );
    assert!(registry.admit(self_signed).is_err());
    assert!(verify(&registry, &reading(99_999, at, &key(77))).is_err());
    // Any field changed after signing: refused.
    let mut tampered = own.clone();
    tampered.import_wh += 1;
    assert!(verify(&registry, &tampered).is_err());
    let mut tampered = own.clone();
    tampered.generation_wh = None;
    assert!(verify(&registry, &tampered).is_err());
    // Another region named, a meter nobody certified, an interval before the certificate.
    let mut moved = own.clone();
    moved.region = OTHER_REGION.into();
    sign(&key(1), &mut moved);
    assert!(matches!(
        verify(&registry, &moved),
        Err(ReadingRefused::WrongRegion { .. })
    ));
    let mut stranger = own.clone();
    stranger.household_id = "NL-T01-nobody".into();
    sign(&key(1), &mut stranger);
    assert!(matches!(
        verify(&registry, &stranger),
        Err(ReadingRefused::NotCertified(_))
    ));
    let early = reading(120, (DAY - 31) * DAY_SECONDS, &key(1));
    assert!(matches!(
        verify(&registry, &early),
        Err(ReadingRefused::NotCertified(_))
    ));
    // The authority re-keys the meter from tomorrow: the old key signs today's readings only.
    let tomorrow = (DAY + 1) * DAY_SECONDS;
    let rekey = issued(&household, REGION, &key(50), tomorrow, Status::Active);
    registry.admit(rekey).unwrap();
    assert_eq!(verify(&registry, &own), Ok(()));
    assert!(verify(&registry, &reading(120, tomorrow, &key(1))).is_err());
    assert_eq!(verify(&registry, &reading(120, tomorrow, &key(50))), Ok(()));
    // Retired by the authority: nothing from then on, whoever signs.
    let later = (DAY + 2) * DAY_SECONDS;
    let retire = issued(&household, REGION, &key(50), later, Status::Retired);
    registry.admit(retire).unwrap();
    assert!(matches!(
        verify(&registry, &reading(120, later, &key(50))),
        Err(ReadingRefused::Retired(_))
    ));
}

// --- cutoff and beacon ---------------------------------------------------------------------

/// A cutoff verifies only as the authority issued it over this registry: a tampered prefix, hash
/// or beacon round, another signer or another registry's history all fail.
#[test]
fn a_tampered_or_foreign_cutoff_does_not_verify() {
    let mut registry = enrolled(5);
    let auth = authority().verifying_key();
    let cutoff = Cutoff::issue(&authority(), &registry, DAY);
    assert!(cutoff.verify(&auth, &registry));
    assert_eq!(cutoff.beacon_round, beacon_round_of(DAY));
    let tampered: [fn(&mut Cutoff); 5] = [
        |c| c.prefix_hash.0[0] ^= 1,
        |c| c.prefix -= 1,
        |c| c.prefix += 1,
        |c| c.beacon_round += 1,
        |c| c.day += 1,
    ];
    for change in tampered {
        let mut c = cutoff.clone();
        change(&mut c);
        assert!(!c.verify(&auth, &registry), "{c:?}");
    }
    assert!(!Cutoff::issue(&key(1), &registry, DAY).verify(&auth, &registry));
    // Another registry of the same length (other meters) does not match the prefix hash.
    let mut other = Registry::new(auth);
    for i in 0..5 {
        let id = key(100 + i).verifying_key();
        let c = Certificate::issue(&authority(), "x", REGION, &id, i64::from(i), Status::Active);
        other.admit(c).unwrap();
    }
    assert!(!cutoff.verify(&auth, &other));
    // The registry only grows: the cutoff still names the same prefix later.
    registry
        .admit(issued("late", REGION, &key(90), 0, Status::Active))
        .unwrap();
    assert!(cutoff.verify(&auth, &registry));
}

/// Authority equivocation: two different valid Cutoff(D) (over prefixes of different length)
/// refuse day D; forged ones, other days' and repeats are skipped.
#[test]
fn the_first_signed_cutoff_counts_and_a_second_different_one_refuses_the_day() {
    let mut registry = enrolled(3);
    let auth = authority().verifying_key();
    let first = Cutoff::issue(&authority(), &registry, DAY);
    for i in 3..5 {
        let id = key(i as u8 + 1).verifying_key();
        let c = Certificate::issue(&authority(), &meter_id(i), REGION, &id, 0, Status::Active);
        registry.admit(c).unwrap();
    }
    let second = Cutoff::issue(&authority(), &registry, DAY);
    assert!(first.verify(&auth, &registry) && second.verify(&auth, &registry));
    assert_ne!(first, second);
    let forged = Cutoff::issue(&key(1), &registry, DAY);
    let next_day = Cutoff::issue(&authority(), &registry, DAY + 1);
    let list = [
        (3, forged.clone()),
        (3, first.clone()),
        (5, next_day),
        (5, second.clone()),
    ];
    assert_eq!(
        day_cutoff(&list, DAY, &auth, &registry),
        Err(DayRefused::Equivocation(&first, &second))
    );
    let list = [(0, forged), (3, first.clone()), (5, first.clone())];
    assert_eq!(day_cutoff(&list, DAY, &auth, &registry), Ok(Some(&first)));
    assert_eq!(day_cutoff(&list, DAY - 1, &auth, &registry), Ok(None));
}

/// The authority posts Cutoffs naming prefixes that do not exist yet (one per set of colluders'
/// certificates it might admit), waits for the beacon, then admits the set that makes the
/// Cutoff it likes valid. The first signed Cutoff(D) counts and must name a prefix that existed
/// at its own position: the day is refused, whatever is admitted afterwards.
#[test]
fn a_cutoff_naming_a_future_prefix_refuses_the_day() {
    let mut registry = enrolled(3);
    let auth = authority().verifying_key();
    let mut future = registry.clone();
    for i in 3..6 {
        let id = key(i as u8 + 1).verifying_key();
        let c = Certificate::issue(&authority(), &meter_id(i), REGION, &id, 0, Status::Active);
        future.admit(c.clone()).unwrap();
        registry.admit(c).unwrap();
    }
    // Signed over the future registry, posted when only 3 certificates were in the partition.
    let chosen = Cutoff::issue(&authority(), &future, DAY);
    assert!(
        chosen.verify(&auth, &registry),
        "once admitted, the prefix matches"
    );
    let list = [(3, chosen.clone())];
    assert_eq!(
        day_cutoff(&list, DAY, &auth, &registry),
        Err(DayRefused::Invalid(&chosen))
    );
    // Posted after the certificates it names, the same Cutoff is fine.
    let list = [(6, chosen.clone())];
    assert_eq!(day_cutoff(&list, DAY, &auth, &registry), Ok(Some(&chosen)));
}

/// The beacon stand-in has exactly one valid output per round: a tampered value, a wrong round
/// number or another chain's anchor yields none, and round R's value is not round R + 1's.
#[test]
fn the_beacon_round_has_exactly_one_valid_output() {
    let anchor = BeaconRound::anchor(&BEACON_SEED);
    let r = beacon_round_of(DAY);
    let round = BeaconRound::produce(&BEACON_SEED, r);
    let out = round.output(&anchor).expect("honest round");
    let next = BeaconRound::produce(&BEACON_SEED, r + 1);
    let next_out = next.output(&anchor).expect("honest next round");
    assert_ne!(out, next_out);
    let mut tampered = round.clone();
    tampered.value[31] ^= 1;
    assert_eq!(tampered.output(&anchor), None);
    let shifted = |round: u64, value| BeaconRound { round, value };
    assert_eq!(shifted(r + 1, round.value).output(&anchor), None);
    assert_eq!(shifted(r, next.value).output(&anchor), None);
    assert_eq!(round.output(&BeaconRound::anchor(&[8; 32])), None);
    assert_eq!(
        shifted(LOCAL_BEACON_ROUNDS + 1, round.value).output(&anchor),
        None
    );
}

/// A meter certified after Cutoff(D) is not a candidate of day D, so no beacon output can draw
/// it; under a prefix that includes it, it is drawn for some beacons.
#[test]
fn a_meter_certified_after_the_cutoff_is_never_drawn() {
    let p = params();
    let mut registry = enrolled(10);
    let cutoff = Cutoff::issue(&authority(), &registry, DAY);
    let late = "NL-T01-late".to_string();
    // Backdated: still not in the day's prefix.
    let c = issued(
        &late,
        REGION,
        &key(77),
        (DAY - 60) * DAY_SECONDS,
        Status::Active,
    );
    registry.admit(c).unwrap();
    let fixed = ids(&registry.candidates(REGION, DAY, cutoff.prefix));
    let all = ids(&registry.candidates(REGION, DAY, registry.len()));
    assert!(!fixed.contains(&late) && all.contains(&late));
    let k = p.committee_shape(fixed.len()).unwrap().seats;
    let anchor = BeaconRound::anchor(&BEACON_SEED);
    let mut drawn_when_included = 0;
    for r in 0..24 {
        let beacon = BeaconRound::produce(&BEACON_SEED, cutoff.beacon_round + r)
            .output(&anchor)
            .unwrap();
        let committee = Committee::draw(&beacon, DAY, REGION, &fixed, k);
        assert_eq!(committee.len(), k);
        assert_eq!(committee.rank(&late), None);
        let with_late = Committee::draw(&beacon, DAY, REGION, &all, k);
        drawn_when_included += usize::from(with_late.rank(&late).is_some());
    }
    assert!(drawn_when_included > 0, "the exclusion is not vacuous");
}

/// Every party derives a region's day from the registry partition alone: the roster is the
/// region's certified meters as of the first signed Cutoff(D) (not a later certificate, not
/// another region's), the committee is drawn from the beacon round the Cutoff names, and the
/// seat keys and commitments are bound to H(Cutoff). No Cutoff, an equivocating one, or a beacon
/// value that does not hash back to the anchor: the day is refused.
#[test]
fn the_day_is_derived_from_the_registry_partition_alone() {
    let p = params();
    let auth = authority().verifying_key();
    let anchor = BeaconRound::anchor(&BEACON_SEED);
    let mut log = RegistryLog::new(auth);
    let registry = enrolled(8);
    for i in 0..8 {
        let c = registry
            .certificate_at(&meter_id(i), DAY * DAY_SECONDS, 8)
            .unwrap();
        log.certificate(c.clone()).unwrap();
    }
    let foreign = certified("NL-T02-m0000", OTHER_REGION, &key(90));
    log.certificate(foreign).unwrap();
    assert_eq!(
        log.region_day(&p, REGION, DAY, &auth, &anchor).unwrap_err(),
        DayError::NoCutoff(DAY)
    );
    let cutoff = Cutoff::issue(&authority(), &log.registry, DAY);
    log.cutoff(cutoff.clone());
    let late = certified("NL-T01-late", REGION, &key(91));
    log.certificate(late).unwrap();
    assert_eq!(
        log.region_day(&p, REGION, DAY, &auth, &anchor).unwrap_err(),
        DayError::NoBeacon(cutoff.beacon_round, DAY)
    );
    // A relayed value that does not hash back to the anchor is no beacon.
    log.beacon(BeaconRound {
        round: cutoff.beacon_round,
        value: [1; 32],
    });
    assert!(matches!(
        log.region_day(&p, REGION, DAY, &auth, &anchor),
        Err(DayError::NoBeacon(..))
    ));
    let beacon = BeaconRound::produce(&BEACON_SEED, cutoff.beacon_round);
    log.beacon(beacon.clone());
    let day = log.region_day(&p, REGION, DAY, &auth, &anchor).unwrap();
    let expected: Vec<String> = (0..8).map(meter_id).collect();
    assert_eq!(day.ctx.roster, expected, "no late, no foreign meter");
    assert_eq!(day.directory.meters.len(), 8);
    assert_eq!(day.directory.meters[&meter_id(3)], key(4).verifying_key());
    let shape = p.committee_shape(8).unwrap();
    let drawn = Committee::draw(
        &beacon.output(&anchor).unwrap(),
        DAY,
        REGION,
        &expected,
        shape.seats,
    );
    assert_eq!(day.ctx.committee, drawn);
    assert_eq!(day.ctx.cutoff, cutoff.hash());
    assert_eq!(day.ctx.start, DAY * DAY_SECONDS);
    assert!(
        day.ctx.seats.is_empty(),
        "seat keys come from the round log"
    );
    // Another region of one meter is too small; a second, different Cutoff(D) refuses the day.
    assert!(matches!(
        log.region_day(&p, OTHER_REGION, DAY, &auth, &anchor),
        Err(DayError::Region(RegionRefused::TooSmall { .. }))
    ));
    log.cutoff(Cutoff::issue(&authority(), &log.registry, DAY));
    assert!(matches!(
        log.region_day(&p, REGION, DAY, &auth, &anchor),
        Err(DayError::Refused(DAY, _))
    ));
}

// --- 6, 9. seat keys -----------------------------------------------------------------------

/// The day of the seat-key tests: 8 certified meters, the committee drawn from the beacon.
struct Day {
    params: Params,
    cutoff: Hash,
    seats: Vec<(String, VerifyingKey)>,
    outsider: String,
}

fn day() -> Day {
    let registry = enrolled(8);
    let cutoff = Cutoff::issue(&authority(), &registry, DAY);
    let candidates = registry.candidates(REGION, DAY, cutoff.prefix);
    let beacon = BeaconRound::produce(&BEACON_SEED, cutoff.beacon_round)
        .output(&BeaconRound::anchor(&BEACON_SEED))
        .unwrap();
    let k = params().committee_shape(candidates.len()).unwrap().seats;
    let committee = Committee::draw(&beacon, DAY, REGION, &ids(&candidates), k);
    let (seats, others): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(m, _)| committee.rank(m).is_some());
    Day {
        params: params(),
        cutoff: cutoff.hash(),
        seats,
        outsider: others[0].0.clone(),
    }
}

/// Meter id → identity key (as in `enrolled`).
fn identity(meter: &str) -> SigningKey {
    let i: u8 = meter.rsplit('m').next().unwrap().parse().unwrap();
    key(i + 1)
}

/// Two honest 2048-bit seat keys, generated once.
fn seat_keys() -> &'static [SeatSecretKey] {
    static KEYS: OnceLock<Vec<SeatSecretKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut g = rng(300);
        (0..2)
            .map(|_| SeatSecretKey::generate(2048, b"keygen", &mut g))
            .collect()
    })
}

/// Seat `i`'s honest announcement with seat key `k`.
fn honest(d: &Day, i: usize, k: usize) -> SeatKeyAnnouncement {
    let seat = &d.seats[i].0;
    announce(
        &identity(seat),
        REGION,
        DAY,
        seat,
        &d.cutoff,
        &seat_keys()[k],
    )
}

/// Seat `i` of the test day and the context its key is bound to.
fn seat_with_context(d: &Day, i: usize) -> (String, Vec<u8>) {
    let seat = d.seats[i].0.clone();
    let ctx = key_context(REGION, DAY, &seat, &d.cutoff);
    (seat, ctx)
}

fn accept(d: &Day, a: &SeatKeyAnnouncement) -> Result<SeatPublicKey, KeyRefused> {
    accept_key(&d.params, REGION, DAY, &d.cutoff, &d.seats, a)
}

/// An announcement whose modulus and proof bytes the seat built itself, correctly signed.
fn signed(d: &Day, seat: &str, n: &Integer, sigmas: &[Integer]) -> SeatKeyAnnouncement {
    let modulus = fixed256(n);
    let proof: Vec<u8> = sigmas.iter().flat_map(fixed256).collect();
    let bytes = key_signing_bytes(REGION, DAY, seat, &d.cutoff, &modulus, &proof);
    SeatKeyAnnouncement {
        seat: seat.into(),
        signature: identity(seat).sign(&bytes),
        modulus,
        proof,
    }
}

fn fixed256(x: &Integer) -> Vec<u8> {
    let digits = x.to_digits::<u8>(Order::Msf);
    [vec![0; 256 - digits.len()], digits].concat()
}

/// The crate's HashToZn for a 2048-bit modulus (checked against the derived base y below).
fn hash_to_zn(label: &[u8], ctx: &[u8], n: &Integer) -> Integer {
    let mut out = Vec::new();
    for counter in 0u32.. {
        if out.len() >= 272 {
            break;
        }
        let mut h = Sha256::new();
        for field in [label, ctx] {
            h.update((field.len() as u32).to_be_bytes());
            h.update(field);
        }
        h.update(fixed256(n));
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
    }
    Integer::from_digits(&out[..272], Order::Msf) % n
}

fn key_proof_element(n: &Integer, ctx: &[u8], i: u32) -> Integer {
    hash_to_zn(LABEL_KEY_PROOF, &[ctx, &i.to_be_bytes()].concat(), n)
}

fn random_integer(bytes: usize, g: &mut impl rand::RngCore) -> Integer {
    let mut buf = vec![0u8; bytes];
    g.fill_bytes(&mut buf);
    Integer::from_digits(&buf, Order::Msf)
}

/// An honest seat key is accepted and listed; its base h_s is y^n with y hashed from (n, day,
/// region, seat, cutoff), so the seat cannot choose it.
#[test]
fn an_honest_seat_key_is_accepted_and_its_base_is_hashed() {
    let d = day();
    let a = honest(&d, 0, 0);
    let pk = accept(&d, &a).unwrap();
    assert_eq!(pk.n(), seat_keys()[0].public().n());
    let listed = keys_before_close(&d.params, REGION, DAY, &d.cutoff, &d.seats, &[a]);
    assert_eq!(listed, vec![(d.seats[0].0.clone(), pk.clone())]);
    let (_, ctx) = seat_with_context(&d, 0);
    let again = SeatPublicKey::new(pk.n().clone(), &ctx, 2048).unwrap();
    assert_eq!(again.h_s(), pk.h_s());
    assert_eq!(*pk.y(), hash_to_zn(LABEL_Y, &ctx, pk.n()));
    let y_n = pk.y().clone().pow_mod(pk.n(), pk.n_squared()).unwrap();
    assert_eq!(*pk.h_s(), y_n);
    let tomorrow = key_context(REGION, DAY + 1, &d.seats[0].0, &d.cutoff);
    let other = SeatPublicKey::new(pk.n().clone(), &tomorrow, 2048).unwrap();
    assert_ne!(other.h_s(), pk.h_s());
}

/// An announcement is bound to its day, region, seat and cutoff: replayed elsewhere its
/// signature fails; re-signed by a seat for another day, or copied by another seat, its key
/// proof fails.
#[test]
fn a_key_announcement_does_not_carry_over_to_another_day_region_seat_or_cutoff() {
    let d = day();
    let a = honest(&d, 0, 0);
    let check = |region, day, cutoff: &Hash, a: &SeatKeyAnnouncement| {
        accept_key(&d.params, region, day, cutoff, &d.seats, a)
    };
    assert!(check(REGION, DAY, &d.cutoff, &a).is_ok());
    let sig = Err(KeyRefused::Signature);
    assert_eq!(check(REGION, DAY + 1, &d.cutoff, &a), sig);
    assert_eq!(check(OTHER_REGION, DAY, &d.cutoff, &a), sig);
    assert_eq!(check(REGION, DAY, &Hash([1; 32]), &a), sig);
    let moved = SeatKeyAnnouncement {
        seat: d.seats[1].0.clone(),
        ..a.clone()
    };
    assert_eq!(accept(&d, &moved), sig);
    // Correctly signed, but the proof's context is the original seat's and day's.
    let bad_proof = Err(KeyRefused::Proof(PaillierError::BadProof.to_string()));
    let (seat0, seat1) = (&d.seats[0].0, &d.seats[1].0);
    let resign = |seat: &str, day: i64| SeatKeyAnnouncement {
        seat: seat.into(),
        signature: identity(seat).sign(&key_signing_bytes(
            REGION, day, seat, &d.cutoff, &a.modulus, &a.proof,
        )),
        ..a.clone()
    };
    assert_eq!(
        check(REGION, DAY + 1, &d.cutoff, &resign(seat0, DAY + 1)),
        bad_proof
    );
    assert_eq!(
        check(REGION, DAY, &d.cutoff, &resign(seat1, DAY)),
        bad_proof
    );
}

/// Bounds before work (item 9): a modulus or proof of the wrong size is refused on its length,
/// before the signature (a garbage one still gives Size) and before any bignum work; a thousand
/// such refusals, 1 MB each, take well under a second. A bad signature is refused before the
/// (garbage) key is parsed.
#[test]
fn oversized_keys_are_refused_before_the_signature_and_any_bignum_work() {
    let d = day();
    let seat = d.seats[0].0.clone();
    let garbage = Signature::from_bytes(&[0xa5; 64]);
    let ann = |modulus: Vec<u8>, proof: Vec<u8>| SeatKeyAnnouncement {
        seat: seat.clone(),
        modulus,
        proof,
        signature: garbage,
    };
    let cases = [
        (ann(vec![0xff; 512], vec![1; 8 * 256]), "modulus"),
        (ann(vec![0xff; 1 << 20], vec![1; 8 * 256]), "modulus"),
        (ann(vec![0xff; 255], vec![]), "modulus"),
        (ann(vec![0xff; 256], vec![1; 1 << 20]), "key proof"),
        (ann(vec![0xff; 256], vec![1; 7 * 256]), "key proof"),
    ];
    let started = Instant::now();
    for (a, what) in &cases {
        for _ in 0..1000 {
            assert_eq!(accept(&d, a), Err(KeyRefused::Size(what)));
        }
    }
    let took = started.elapsed();
    assert!(took.as_secs_f64() < 1.0, "5000 size refusals took {took:?}");
    // Right sizes, an even (invalid) modulus: the garbage signature is what is refused.
    let a = ann(vec![0xfe; 256], vec![1; 8 * 256]);
    assert_eq!(accept(&d, &a), Err(KeyRefused::Signature));
}

/// A bad identity signature (another key's, or a flipped bit) refuses an honest key.
#[test]
fn a_bad_identity_signature_is_refused() {
    let d = day();
    let a = honest(&d, 0, 0);
    let mut flipped = a.signature.to_bytes();
    flipped[5] ^= 1;
    let by_other = key(99).sign(&key_signing_bytes(
        REGION, DAY, &a.seat, &d.cutoff, &a.modulus, &a.proof,
    ));
    for signature in [Signature::from_bytes(&flipped), by_other] {
        let forged = SeatKeyAnnouncement {
            signature,
            ..a.clone()
        };
        assert_eq!(accept(&d, &forged), Err(KeyRefused::Signature));
    }
}

/// Framing (item 6): a seat publishes n = 3·P (2048 bits) with genuine n-th roots computed from
/// its factorisation, correctly signed. Honest shares under such a key could decrypt "out of
/// range" and frame their senders; the key proof refuses it for its small factor, so it is never
/// a seat key.
#[test]
fn a_modulus_with_a_small_factor_is_refused_despite_genuine_roots() {
    let d = day();
    let (seat, ctx) = seat_with_context(&d, 2);
    let mut g = rng(301);
    let low = (Integer::from(1) << 2047u32) / 3u32 + 1u32;
    let (n, big) = loop {
        let big = (random_integer(255, &mut g) + &low).next_prime();
        let n = Integer::from(&big * 3u32);
        if big.mod_u(3) == 2 && SeatPublicKey::new(n.clone(), &ctx, 2048).is_ok() {
            break (n, big);
        }
    };
    assert_eq!(n.significant_bits(), 2048);
    let pk = SeatPublicKey::new(n.clone(), &ctx, 2048).unwrap();
    assert_eq!(
        *pk.y(),
        hash_to_zn(LABEL_Y, &ctx, &n),
        "our HashToZn is the crate's"
    );
    let phi = Integer::from(&big - 1u32) * 2u32;
    let e = Integer::from(&n % &phi).invert(&phi).unwrap();
    let sigmas: Vec<Integer> = (0..8)
        .map(|i| {
            let rho = key_proof_element(&n, &ctx, i);
            let sigma = rho.clone().pow_mod(&e, &n).unwrap();
            assert_eq!(sigma.clone().pow_mod(&n, &n).unwrap(), rho, "genuine root");
            sigma
        })
        .collect();
    let a = signed(&d, &seat, &n, &sigmas);
    let refused = Err(KeyRefused::Proof(PaillierError::SmallFactor.to_string()));
    assert_eq!(accept(&d, &a), refused);
    let listed = keys_before_close(&d.params, REGION, DAY, &d.cutoff, &d.seats, &[a]);
    assert!(listed.is_empty(), "the seat is absent for the day");
}

/// A modulus p²·q of exactly 2048 bits (gcd(n, φ(n)) = p, so n-th roots are not unique): roots
/// attempted with the factorisation, or random ones, are refused.
#[test]
fn a_p_squared_q_modulus_is_refused() {
    let d = day();
    let (seat, ctx) = seat_with_context(&d, 3);
    let mut g = rng(302);
    let top = |bits: u32, g: &mut ChaCha20Rng| {
        let mut x = random_integer(bits as usize / 8, g);
        x.set_bit(bits - 1, true).set_bit(bits - 2, true);
        x.next_prime()
    };
    let (n, order) = loop {
        let (p, q) = (top(512, &mut g), top(1024, &mut g));
        let n = Integer::from(p.square_ref()) * &q;
        let order = Integer::from(&p - 1u32) * Integer::from(&q - 1u32);
        if n.significant_bits() == 2048 && SeatPublicKey::new(n.clone(), &ctx, 2048).is_ok() {
            break (n, order);
        }
    };
    let e = Integer::from(&n % &order).invert(&order).unwrap();
    let attempted: Vec<Integer> = (0..8)
        .map(|i| key_proof_element(&n, &ctx, i).pow_mod(&e, &n).unwrap())
        .collect();
    let random: Vec<Integer> = (0..8).map(|_| random_integer(256, &mut g) % &n).collect();
    for sigmas in [attempted, random] {
        let a = signed(&d, &seat, &n, &sigmas);
        assert_eq!(
            accept(&d, &a),
            Err(KeyRefused::Proof(PaillierError::BadProof.to_string()))
        );
    }
}

/// A meter not on the committee cannot post a seat key; KeysClosed keeps each seat's first valid
/// key only (an invalid one before it does not count, a later valid one is ignored).
#[test]
fn outsiders_are_refused_and_each_seat_keeps_its_first_valid_key() {
    let d = day();
    let outsider = announce(
        &identity(&d.outsider),
        REGION,
        DAY,
        &d.outsider,
        &d.cutoff,
        &seat_keys()[0],
    );
    assert_eq!(
        accept(&d, &outsider),
        Err(KeyRefused::NotASeat(d.outsider.clone()))
    );
    let mut broken = honest(&d, 1, 1);
    broken.signature = honest(&d, 0, 1).signature;
    let log = [
        outsider,
        broken,
        honest(&d, 1, 0),
        honest(&d, 0, 1),
        honest(&d, 1, 1),
        honest(&d, 0, 0),
    ];
    let listed = keys_before_close(&d.params, REGION, DAY, &d.cutoff, &d.seats, &log);
    let got: Vec<(&str, &Integer)> = listed.iter().map(|(s, k)| (s.as_str(), k.n())).collect();
    let n = |k: usize| seat_keys()[k].public().n();
    assert_eq!(
        got,
        vec![(d.seats[1].0.as_str(), n(0)), (d.seats[0].0.as_str(), n(1))]
    );
}

// --- 3. the round ledger -------------------------------------------------------------------

/// The rounds an aggregator would use for differencing: misaligned (overlapping) starts, a
/// repeated round and a re-opened earlier round are all refused.
#[test]
fn the_ledger_refuses_misaligned_repeated_and_past_rounds() {
    let p = params();
    let round = p.round_seconds();
    let mut ledger = Ledger::default();
    for start in [START + 900, START - 1, START + round / 2] {
        assert_eq!(
            ledger.commit(&p, start),
            Err(LedgerRefusal::Misaligned(start))
        );
    }
    ledger.commit(&p, START).unwrap();
    assert_eq!(
        ledger.commit(&p, START),
        Err(LedgerRefusal::AlreadyDealt(START))
    );
    ledger.commit(&p, START + 2 * round).unwrap();
    for start in [START + round, START - round] {
        let last = START + 2 * round;
        assert_eq!(
            ledger.commit(&p, start),
            Err(LedgerRefusal::NotAfter(start, last))
        );
    }
    // Two-hour rounds: a one-hour shift would overlap two of them.
    let two_hours = Params {
        intervals_per_round: 2,
        ..p.clone()
    };
    assert_eq!(
        Ledger::default().commit(&two_hours, START + 3600),
        Err(LedgerRefusal::Misaligned(START + 3600))
    );
}

/// A restarted gateway (its ledger serialised and read back) refuses to commit to or reveal a
/// round it already dealt, and moves on to the next round.
#[test]
fn a_restarted_gateway_does_not_deal_or_reveal_a_round_twice() {
    let p = params();
    let mut ledger = Ledger::default();
    ledger.commit(&p, START).unwrap();
    ledger.reveal(START).unwrap();
    let saved = serde_json::to_string(&ledger).unwrap();
    let mut restarted: Ledger = serde_json::from_str(&saved).unwrap();
    assert_eq!(restarted, ledger);
    assert_eq!(restarted.step(START), Some(Step::Revealed));
    assert_eq!(
        restarted.commit(&p, START),
        Err(LedgerRefusal::AlreadyDealt(START))
    );
    assert!(matches!(
        restarted.reveal(START),
        Err(LedgerRefusal::BadStep(START, _))
    ));
    restarted.commit(&p, START + p.round_seconds()).unwrap();
    assert!(restarted.reveal(START + p.round_seconds()).is_ok());
}

/// A value carries only if the log proves it was never revealed (a lapsed round), never when
/// the ledger says it was revealed, and not on a log where the meter was listed and revealed.
#[test]
fn a_value_carries_only_when_the_log_proves_it_unrevealed() {
    let r = shared();
    let values = readings(r);
    let meters: Vec<String> = values.keys().cloned().collect();
    let mut g = rng(303);
    let view_after = |n: usize, reveal: &[&String], g: &mut ChaCha20Rng| -> RoundView {
        let mut round = LocalRound::default();
        for m in &meters[..n] {
            r.commit(&mut round, m, &values[m], g);
        }
        r.close_commits(&mut round);
        for m in reveal {
            assert!(r.reveal(&mut round, m));
        }
        r.view(&round)
    };
    let lapsed = view_after(2, &[], &mut g);
    assert_eq!(lapsed.outcome, Outcome::Lapsed);
    let normal = view_after(meters.len(), &[&meters[0]], &mut g);
    assert_eq!(normal.outcome, Outcome::Open);
    let p = params();
    let not_proven = LedgerRefusal::BadStep(START, "the log does not prove the value unrevealed");
    let revealed = LedgerRefusal::BadStep(START, "a revealed value never carries");
    // A lapsed round: every meter carries.
    let mut a = Ledger::default();
    a.commit(&p, START).unwrap();
    a.carry(START, &meters[0], &lapsed).unwrap();
    assert_eq!(
        (a.step(START), &a.carried[..]),
        (Some(Step::Carried), &[(START, 0)][..])
    );
    assert_eq!(a.commit(&p, START), Err(LedgerRefusal::AlreadyDealt(START)));
    // The meter revealed: no view, not even a lapsed one, makes it carry.
    let mut b = Ledger::default();
    b.commit(&p, START).unwrap();
    b.reveal(START).unwrap();
    assert_eq!(b.carry(START, &meters[0], &lapsed), Err(revealed.clone()));
    assert_eq!(b.carry(START, &meters[0], &normal), Err(revealed));
    // Listed and revealed, or listed with no answer: the log does not prove it unrevealed.
    let mut c = Ledger::default();
    c.commit(&p, START).unwrap();
    for m in &meters[..2] {
        assert_eq!(c.carry(START, m, &normal), Err(not_proven.clone()));
    }
    assert_eq!(c.step(START), Some(Step::Committed));
    assert!(c.carried.is_empty());
}

// --- 9. the protocol file ------------------------------------------------------------------

/// Parameters come only from the protocol file: a RoundOpen's 2^31 intervals are refused by
/// validation (naming the parameter) before any work, an unknown field does not parse, and only
/// aligned starts are rounds.
#[test]
fn parameters_are_bounded_and_only_aligned_starts_are_rounds() {
    for intervals in [1u32 << 31, u32::MAX, 25] {
        let p = Params {
            intervals_per_round: intervals,
            ..Default::default()
        };
        assert_eq!(p.validate().unwrap_err().name, "intervals_per_round");
    }
    let from_file: Params = serde_json::from_str(r#"{"intervals_per_round": 2147483648}"#).unwrap();
    assert_eq!(
        from_file.validate().unwrap_err().name,
        "intervals_per_round"
    );
    assert!(serde_json::from_str::<Params>(r#"{"round_open": {"intervals": 4}}"#).is_err());
    let p = Params::default();
    assert!(p.is_round_start(START));
    for start in [START + 1, START + 900, START - 60, START + 1800] {
        assert!(!p.is_round_start(start), "{start}");
    }
}

/// A region with fewer than max(3, min_roster) certified meters takes no part in the day.
#[test]
fn regions_below_the_minimum_are_refused() {
    let p = Params::default();
    assert_eq!(
        p.committee_shape(4),
        Err(RegionRefused::TooSmall { have: 4, need: 5 })
    );
    assert!(p.committee_shape(5).is_ok());
    let lax = Params {
        min_roster: 1,
        ..Params::default()
    };
    assert!(lax.validate().is_err());
    assert_eq!(
        lax.committee_shape(2),
        Err(RegionRefused::TooSmall { have: 2, need: 3 })
    );
    let registry = enrolled(2);
    let have = registry.candidates(REGION, DAY, registry.len()).len();
    assert_eq!(
        params().committee_shape(have),
        Err(RegionRefused::TooSmall { have: 2, need: 3 })
    );
}
