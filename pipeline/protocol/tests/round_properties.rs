//! Properties over random rosters (5–64 meters), reading vectors and key sizes: the published
//! total equals the plaintext sum, and each kind of fault leads to exactly its outcome.

mod common;

use common::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::sync::OnceLock;
use zeal_protocol::ProtocolConfig;
use zeal_protocol::round::crypto::{MeterSecrets, sign_message};
use zeal_schemas::{QuarantineReason, RejectReason, RoundStatus};

fn pool_3072() -> &'static [MeterSecrets] {
    static POOL: OnceLock<Vec<MeterSecrets>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(3072);
        (0..4)
            .map(|_| MeterSecrets::generate(3072, &mut rng).unwrap())
            .collect()
    })
}

/// A world whose meters use 3072-bit keys for every `every`-th meter (mixed key sizes).
fn world(meters: usize, seed: u64, config: ProtocolConfig, mixed: bool) -> World {
    let mut w = World::with_config(meters, seed, config);
    if mixed {
        let mut dir = zeal_protocol::round::directory::Directory::new(2048);
        for (i, s) in w.secrets.iter_mut().enumerate() {
            if i % 3 == 0 {
                *s = pool_3072()[i % 4].clone();
            }
            dir.enrol(&s.enrolment(&meter_id(i), REGION, T0)).unwrap();
        }
        w.dir = dir;
        let trusted = vec![w.aggregator_public.clone()];
        w.meters = w
            .secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                zeal_protocol::round::gateway::MeterAgent::new(
                    meter_id(i),
                    REGION,
                    s.clone(),
                    w.config.clone(),
                    trusted.clone(),
                )
            })
            .collect();
    }
    w
}

/// Pinned cases (CI runs the same ones every time); a failure is kept in
/// `round_properties.proptest-regressions` beside this file and replayed first. Few cases: each
/// runs whole v1 rounds under 2048-bit Paillier keys (~0.6 s); v2's state machine is checked
/// over arbitrary record sequences by the `log_sequence` fuzz target instead.
fn pinned(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5a45_414c),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(pinned(8))]

    #[test]
    fn totals_equal_plaintext_sums(
        meters in 5usize..=64,
        intervals in 1u32..=3,
        channels in 1usize..=3,
        mixed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let config = ProtocolConfig {
            intervals_per_round: intervals,
            channels: (0..channels).map(|c| format!("ch{c}")).collect(),
            ..Default::default()
        };
        let mut w = world(meters, seed, config, mixed);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut expect = vec![0u64; channels * intervals as usize];
        for k in 0..intervals as i64 {
            let rs: Vec<Vec<u64>> = (0..meters)
                .map(|_| (0..channels).map(|_| rand::Rng::random_range(&mut rng, 0..5_000_000u64)).collect())
                .collect();
            for r in &rs {
                for (c, v) in r.iter().enumerate() {
                    expect[k as usize * channels + c] += v;
                }
            }
            w.record(T0 + k * 900_000, &rs);
        }
        let log = w.run_round(T0, &mut Faults::default());
        prop_assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
        let got: Vec<u64> = log.totals[0].totals.iter().map(|v| *v as u64).collect();
        prop_assert_eq!(got, expect);
        prop_assert_eq!(log.totals[0].contributors as usize, meters);
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    ShareDropout,
    MissingPartial,
    WrongPartial,
    OutOfRange,
    ForgedBundle,
    ReplayedBundle,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::ShareDropout),
        Just(Fault::MissingPartial),
        Just(Fault::WrongPartial),
        Just(Fault::OutOfRange),
        Just(Fault::ForgedBundle),
        Just(Fault::ReplayedBundle),
    ]
}

proptest! {
    #![proptest_config(pinned(16))]

    #[test]
    fn each_fault_has_exactly_its_outcome(
        meters in 6usize..=12,
        fault in fault(),
        culprit_pick in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let mut w = World::new(meters, seed);
        let r = readings(meters, seed % 97);
        w.record(T0, &r);
        let culprit = culprit_pick.index(meters);
        let cid = meter_id(culprit);
        let victim = (culprit + 1) % meters;
        let vid = meter_id(victim);
        let mut f = Faults::default();
        match fault {
            Fault::ShareDropout => {
                f.silent_in_share_phase.insert(1, vec![cid.clone()]);
            }
            Fault::MissingPartial => f.silent_in_partial_phase = vec![cid.clone()],
            Fault::WrongPartial => {
                let c = cid.clone();
                f.tamper_partial = Some(Box::new(move |p, secrets| {
                    if p.sender == c {
                        p.retained[0] = (p.retained[0] + 1) % (1 << 40);
                        p.randomness[0][10] ^= 1;
                        sign_message(&secrets[culprit], p);
                    }
                }));
            }
            Fault::OutOfRange => {
                let c = cid.clone();
                let v = vid.clone();
                let keys = w.secrets[victim].public_keys().clone();
                f.tamper_bundle = Some(Box::new(move |b, secrets| {
                    if b.sender == c {
                        let layout = zeal_protocol::round::crypto::SlotLayout::new(keys.modulus_bits(), 40, meters, 2);
                        let huge = zeal_protocol::round::crypto::Plaintext(rug::Integer::from(1u64 << (layout.slot_bits - 1)));
                        let key = zeal_protocol::round::RoundKey { region: b.region.clone(), interval_start: b.interval_start, attempt: b.attempt };
                        let mut rng = ChaCha20Rng::seed_from_u64(1);
                        for s in b.shares.iter_mut().filter(|s| s.recipient == v) {
                            s.ciphertext = keys.encrypt(&huge, &mut rng).to_bytes(&keys);
                            s.signature = secrets[culprit].sign_share(&key, &b.sender, &s.recipient, s.index, &s.ciphertext);
                        }
                        sign_message(&secrets[culprit], b);
                    }
                    true
                }));
            }
            Fault::ForgedBundle => {
                let c = cid.clone();
                f.tamper_bundle = Some(Box::new(move |b, secrets| {
                    if b.sender == c {
                        b.shares[0].ciphertext[7] ^= 1;
                        sign_message(&secrets[victim], b); // not the claimed sender's key
                    }
                    true
                }));
            }
            Fault::ReplayedBundle => f.replay_bundles = true,
        }
        let log = w.run_round(T0, &mut f);
        let everyone: Vec<usize> = (0..meters).collect();
        let without: Vec<usize> = (0..meters).filter(|i| *i != culprit).collect();
        match fault {
            Fault::ShareDropout | Fault::ForgedBundle => {
                prop_assert_eq!(log.statuses(), vec![RoundStatus::Reopened, RoundStatus::Completed]);
                prop_assert!(log.quarantines.is_empty());
                let got: Vec<u64> = log.totals[0].totals.iter().map(|v| *v as u64).collect();
                prop_assert_eq!(got, plain_sum(&r, &without));
                if let Fault::ForgedBundle = fault {
                    prop_assert!(log.rejections.iter().any(|x| x.reason == RejectReason::BadSignature));
                }
            }
            Fault::MissingPartial | Fault::WrongPartial | Fault::OutOfRange => {
                prop_assert_eq!(log.statuses(), vec![RoundStatus::Deferred]);
                prop_assert!(log.totals.is_empty());
                prop_assert_eq!(log.quarantines.len(), 1);
                prop_assert_eq!(&log.quarantines[0].meter_id, &cid);
                let reason = match fault {
                    Fault::MissingPartial => QuarantineReason::MissingPartial,
                    Fault::WrongPartial => QuarantineReason::InvalidPartial,
                    _ => QuarantineReason::OutOfRangeShares,
                };
                prop_assert_eq!(log.quarantines[0].reason, reason);
                prop_assert!(w.dir.is_quarantined(&cid));
                prop_assert_eq!(w.aggregator.deferred_intervals(REGION), vec![T0]);
            }
            Fault::ReplayedBundle => {
                prop_assert_eq!(log.statuses(), vec![RoundStatus::Completed]);
                prop_assert_eq!(log.rejections.iter().filter(|x| x.reason == RejectReason::Replay).count(), meters);
                let got: Vec<u64> = log.totals[0].totals.iter().map(|v| *v as u64).collect();
                prop_assert_eq!(got, plain_sum(&r, &everyone));
            }
        }
        prop_assert!(log.refusals.is_empty(), "honest meters never refuse an honest aggregator: {:?}", log.refusals);
    }
}
