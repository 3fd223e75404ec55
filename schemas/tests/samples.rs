//! One realistic sample of every wire message, shared by the codec tests.

use zeal_schemas::*;

pub const T0: i64 = 1_593_561_600_000; // 2020-07-01T00:00:00Z

pub fn meter_enrolment() -> MeterEnrolment {
    MeterEnrolment {
        meter_id: "m-0001".into(),
        region: "NL-UT-01".into(),
        status: MeterStatus::Active,
        key_bits: 2048,
        paillier_n: vec![0xAB; 256],
        paillier_hs: vec![0x5C; 512],
        signing_key: vec![7; 32],
        enrolled_at: T0,
        signature: vec![1; 64],
    }
}

pub fn round_open() -> RoundOpen {
    RoundOpen {
        region: "NL-UT-01".into(),
        interval_start: T0,
        interval_seconds: 900,
        intervals: 1,
        attempt: 2,
        roster: vec!["m-0001".into(), "m-0002".into(), "m-0003".into()],
        channels: vec!["import_wh".into(), "export_wh".into()],
        value_bits: 40,
        min_roster: 5,
        carried_intervals: vec![T0 - 900_000],
        share_deadline: T0 + 60_000,
        partial_deadline: T0 + 120_000,
        aggregator_id: "agg-1".into(),
        signature: vec![2; 64],
    }
}

pub fn share_bundle() -> ShareBundle {
    ShareBundle {
        region: "NL-UT-01".into(),
        interval_start: T0,
        attempt: 1,
        sender: "m-0001".into(),
        shares: vec![
            EncryptedShare {
                recipient: "m-0002".into(),
                index: 0,
                ciphertext: vec![0x11; 512],
                signature: vec![3; 64],
            },
            EncryptedShare {
                recipient: "m-0003".into(),
                index: 0,
                ciphertext: vec![0x22; 512],
                signature: vec![4; 64],
            },
        ],
        sent_at: T0 + 1_000,
        signature: vec![5; 64],
    }
}

pub fn redistribution() -> Redistribution {
    Redistribution {
        region: "NL-UT-01".into(),
        interval_start: T0,
        attempt: 1,
        recipient: "m-0002".into(),
        products: vec![vec![0x33; 512], vec![0x34; 512]],
        folded: vec![FoldedShare {
            sender: "m-0001".into(),
            index: 0,
            ciphertext: vec![0x11; 512],
            signature: vec![3; 64],
        }],
        aggregator_id: "agg-1".into(),
        signature: vec![6; 64],
    }
}

pub fn partial() -> Partial {
    Partial {
        region: "NL-UT-01".into(),
        interval_start: T0,
        attempt: 1,
        sender: "m-0002".into(),
        plaintexts: vec![vec![0x44; 256]],
        randomness: vec![vec![0x55; 256]],
        retained: vec![123_456, (1 << 40) - 1],
        accusations: vec![Accusation {
            sender: "m-0003".into(),
            index: 0,
            plaintext: vec![0x66; 256],
            randomness: vec![0x77; 256],
        }],
        signature: vec![7; 64],
    }
}

pub fn round_outcome() -> RoundOutcome {
    RoundOutcome {
        region: "NL-UT-01".into(),
        interval_start: T0,
        attempt: 1,
        status: RoundStatus::Deferred,
        roster: vec!["m-0001".into(), "m-0002".into()],
        missing: vec![],
        culprits: vec!["m-0002".into()],
        reason: "partial of m-0002 fails verification".into(),
        decided_at: T0 + 130_000,
        aggregator_id: "agg-1".into(),
        signature: vec![8; 64],
    }
}

pub fn region_total() -> RegionTotal {
    RegionTotal {
        region: "NL-UT-01".into(),
        interval_start: T0,
        interval_seconds: 900,
        intervals: 1,
        attempt: 1,
        channels: vec!["import_wh".into(), "export_wh".into()],
        totals: vec![51_234, 7_890],
        contributors: 50,
        carried_intervals: vec![],
        published_at: T0 + 125_000,
        aggregator_id: "agg-1".into(),
        signature: vec![9; 64],
    }
}

pub fn quarantine_event() -> QuarantineEvent {
    QuarantineEvent {
        region: "NL-UT-01".into(),
        meter_id: "m-0002".into(),
        interval_start: T0,
        attempt: 1,
        reason: QuarantineReason::InvalidPartial,
        detail: "C_j != (1 + S_j n) r_j^n mod n^2".into(),
        evidence: vec![0xC3, 0x01, 0, 1, 2],
        decided_at: T0 + 130_000,
        aggregator_id: "agg-1".into(),
        signature: vec![10; 64],
    }
}

pub fn household_reading() -> HouseholdReading {
    HouseholdReading {
        household_id: "m-0001".into(),
        region: "NL-UT-01".into(),
        interval_start: T0,
        interval_seconds: 900,
        import_wh: 312,
        export_wh: 0,
        generation_wh: Some(845),
        signature: vec![11; 64],
    }
}

pub fn dead_letter() -> DeadLetter {
    DeadLetter {
        topic: "zeal.shares.v1".into(),
        partition: 3,
        offset: 4242,
        key: Some(b"NL-UT-01".to_vec()),
        payload: vec![0xDE, 0xAD],
        reason: RejectReason::BadSignature,
        detail: "bundle signature does not verify".into(),
        origin: Some("m-0007".into()),
        region: None,
        rejected_at: T0 + 2_000,
        rejected_by: "agg-1".into(),
    }
}

/// Every sample, wrapped.
pub fn all() -> Vec<AnyMessage> {
    vec![
        AnyMessage::MeterEnrolment(meter_enrolment()),
        AnyMessage::RoundOpen(round_open()),
        AnyMessage::ShareBundle(share_bundle()),
        AnyMessage::Redistribution(redistribution()),
        AnyMessage::Partial(partial()),
        AnyMessage::RoundOutcome(round_outcome()),
        AnyMessage::RegionTotal(region_total()),
        AnyMessage::QuarantineEvent(quarantine_event()),
        AnyMessage::HouseholdReading(household_reading()),
        AnyMessage::DeadLetter(dead_letter()),
        AnyMessage::Certificate(certificate()),
        AnyMessage::Cutoff(cutoff()),
        AnyMessage::BeaconRound(beacon_round()),
        AnyMessage::RoundRecord(round_record()),
        AnyMessage::SeatPart(seat_part()),
        AnyMessage::FeederReading(feeder_reading()),
        AnyMessage::BillingRegister(billing_register()),
        AnyMessage::GridAlert(grid_alert()),
        AnyMessage::ConsentEvent(consent_event()),
        AnyMessage::ErasureEvent(erasure_event()),
    ]
}

pub fn consent_event() -> zeal_schemas::consent::ConsentEvent {
    zeal_schemas::consent::ConsentEvent {
        household_id: "NL-UT-01-m0001".into(),
        region: "NL-UT-01".into(),
        scope: "readings".into(),
        granted: true,
        decided_at: T0 + 3_600_000,
        event_id: "0123456789abcdef0123456789abcdef".into(),
        pairing_code: "7KQ2-M9XD".into(),
        source: "energenies-web".into(),
        signature: vec![16; 64],
    }
}

pub fn erasure_event() -> zeal_schemas::consent::ErasureEvent {
    zeal_schemas::consent::ErasureEvent {
        household_id: "NL-UT-01-m0001".into(),
        region: "NL-UT-01".into(),
        requested_at: T0 + 7_200_000,
        erased_at: T0 + 7_203_000,
        tables: vec![
            zeal_schemas::consent::ErasedTable {
                table: "households".into(),
                rows: 1,
            },
            zeal_schemas::consent::ErasedTable {
                table: "household_daily".into(),
                rows: 31,
            },
        ],
        event_id: "fedcba9876543210fedcba9876543210".into(),
        source: "energenies-web".into(),
        signature: vec![17; 64],
    }
}

pub fn feeder_reading() -> grid::FeederReading {
    grid::FeederReading {
        feeder_id: "TR-0042".into(),
        region: "NL-UT-01".into(),
        interval_start: T0,
        interval_seconds: 900,
        energy_wh: -1_234,
        signature: vec![14; 64],
    }
}

pub fn billing_register() -> grid::BillingRegister {
    grid::BillingRegister {
        meter_id: "m-0001".into(),
        region: "NL-UT-01".into(),
        period_start: T0,
        period_end: T0 + 7 * 86_400_000,
        import_wh: 61_000,
        export_wh: 12_500,
        signature: vec![15; 64],
    }
}

pub fn grid_alert() -> grid::GridAlert {
    grid::GridAlert {
        region: "NL-UT-01".into(),
        kind: grid::GridAlertKind::Feeder,
        state: grid::GridAlertState::Closed,
        first_interval: T0 + 20 * 3_600_000,
        end: T0 + 26 * 3_600_000,
        intervals: 24,
        unexplained_wh: 12_090.5,
        strength: 89.5,
        detected_at: T0 + 20 * 3_600_000 + 900_000,
        detail: "2 kW for 6 hours".into(),
    }
}

pub fn certificate() -> v2::Certificate {
    v2::Certificate {
        meter_id: "m-0001".into(),
        region: "NL-UT-01".into(),
        identity_key: vec![0x21; 32],
        valid_from: T0,
        status: v2::CertificateStatus::Active,
        signature: vec![12; 64],
    }
}

pub fn cutoff() -> v2::Cutoff {
    v2::Cutoff {
        day: T0 / 86_400_000,
        prefix: 1_000,
        prefix_hash: vec![0x42; 32],
        beacon_round: 18_444,
        signature: vec![13; 64],
    }
}

pub fn beacon_round() -> v2::BeaconRound {
    v2::BeaconRound {
        round: 18_444,
        value: vec![0x5A; 32],
    }
}

pub fn seat_part() -> v2::SeatPart {
    v2::SeatPart {
        region: "NL-UT-01".into(),
        round_start: T0,
        sender: "m-0001".into(),
        seat: "m-0002".into(),
        ciphertexts: vec![vec![0x11; 512], vec![0x12; 512]],
        proofs: vec![vec![0x13; 40], vec![0x14; 40]],
    }
}

/// The round-log sample: a reveal notice (the largest entry).
pub fn round_record() -> v2::RoundRecord {
    round_records().swap_remove(4)
}

/// One round record per branch of the entry union.
pub fn round_records() -> Vec<v2::RoundRecord> {
    use v2::RoundEntry as E;
    let entries = vec![
        E::SeatKey(v2::SeatKey {
            modulus: vec![0xAB; 256],
            proof: vec![0xCD; 2048],
        }),
        E::Commit(v2::Commit {
            commitment: vec![1; 32],
        }),
        E::CommitClosed(v2::CommitClosed {
            meters: vec!["m-0001".into(), "m-0003".into()],
            commitments: vec![vec![1; 32], vec![3; 32]],
        }),
        E::Objection(v2::Objection {
            commitment: vec![2; 32],
        }),
        E::Notice(v2::Notice {
            commitments: vec![vec![0x31; 64], vec![0x32; 64]],
            opening_proofs: vec![vec![0x33; 96], vec![0x34; 96]],
            range_proof: vec![0x35; 608],
            part_hashes: vec![vec![0x36; 32], vec![0x37; 32], vec![0x38; 32]],
        }),
        E::Withdraw(v2::Withdraw {}),
        E::RevealClosed(v2::RevealClosed {
            meters: vec!["m-0001".into()],
        }),
        E::Products(v2::Products {
            seat: "m-0002".into(),
            ciphertexts: vec![vec![0x39; 512]],
        }),
        E::Complaint(v2::Complaint {
            sender: "m-0003".into(),
            kind: v2::ComplaintKind::ShareMismatch,
            index: 0,
            plaintexts: vec![vec![0x3A; 256]],
            randomness: vec![vec![0x3B; 256]],
        }),
        E::FinalSet(v2::FinalSet {
            meters: vec!["m-0001".into(), "m-0003".into()],
        }),
        E::Partial(v2::Partial {
            final_set: vec![0x3C; 32],
            f: vec![vec![0x3D; 32]],
            r: vec![vec![0x3E; 32]],
        }),
        E::RegionTotal(v2::RegionTotal {
            values: vec![51_234, 7_890],
            contributors: vec!["m-0002".into(), "m-0004".into()],
            final_set: vec![0x3C; 32],
        }),
        E::Abandoned(v2::Abandoned {}),
        // round_record v2: the aggregator's list of the day's seat keys (T0 is a day's start).
        E::KeysClosed(v2::KeysClosed {
            seats: vec!["m-0002".into(), "m-0004".into()],
            key_hashes: vec![vec![0x3F; 32], vec![0x40; 32]],
        }),
        // round_record v3: a seat's claim that a revealed sender's part never arrived (author =
        // the seat), and the part posted on the log in answer (author = the sender).
        E::PartMissing(v2::PartMissing {
            sender: "m-0001".into(),
        }),
        E::PartPosted(v2::PartPosted {
            sender: "m-0001".into(),
            seat: "m-0002".into(),
            ciphertexts: vec![vec![0x41; 512], vec![0x42; 512]],
            proofs: vec![vec![0x43; 40], vec![0x44; 40]],
        }),
    ];
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| v2::RoundRecord {
            region: "NL-UT-01".into(),
            round_start: T0,
            author: match &entry {
                E::KeysClosed(_) => None,
                E::PartMissing(_) => Some("m-0002".into()),
                E::PartPosted(p) => Some(p.sender.clone()),
                _ => (i % 3 != 2).then(|| format!("m-000{}", i % 4 + 1)),
            },
            entry,
            signature: vec![14 + i as u8; 64],
        })
        .collect()
}
