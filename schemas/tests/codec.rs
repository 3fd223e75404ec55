//! Wire-format tests: round trips, hostile input, golden vectors and schema compatibility.

mod samples;

use apache_avro::schema_compatibility::SchemaCompatibility;
use std::path::PathBuf;
use zeal_schemas::catalog::{MessageKind, catalog};
use zeal_schemas::codec::{HEADER_LEN, peek_kind, signing_bytes};
use zeal_schemas::grid::GridAlert;
use zeal_schemas::*;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

#[test]
fn every_message_round_trips() {
    let all = samples::all();
    assert_eq!(all.len(), MessageKind::ALL.len(), "a sample per kind");
    for msg in all {
        let bytes = msg.encode().unwrap();
        assert_eq!(&bytes[..2], &[0xC3, 0x01]);
        let back = decode_any(&bytes).unwrap();
        assert_eq!(back, msg, "{}", msg.kind());
    }
}

#[test]
fn typed_decode_refuses_other_kinds() {
    let bytes = encode(&samples::partial()).unwrap();
    let err = decode::<ShareBundle>(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::WrongKind {
                expected: MessageKind::ShareBundle,
                found: MessageKind::Partial
            }
        ),
        "{err}"
    );
    assert_eq!(decode::<Partial>(&bytes).unwrap(), samples::partial());
}

#[test]
fn unknown_fingerprint_is_a_typed_error() {
    let mut bytes = encode(&samples::region_total()).unwrap();
    bytes[2] ^= 0xFF;
    let err = decode_any(&bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::UnknownFingerprint { .. }),
        "{err}"
    );
    assert_eq!(err.code(), "unknown_schema");
}

#[test]
fn every_truncation_is_a_typed_error() {
    for msg in samples::all() {
        let bytes = msg.encode().unwrap();
        for len in 0..bytes.len() {
            match decode_any(&bytes[..len]) {
                Err(DecodeError::TooShort { .. }) => assert!(len < HEADER_LEN),
                Err(DecodeError::Malformed { kind, .. }) => assert_eq!(kind, msg.kind()),
                Err(other) => panic!("{} cut at {len}: unexpected {other}", msg.kind()),
                Ok(decoded) => panic!("{} cut at {len} decoded as {decoded:?}", msg.kind()),
            }
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = encode(&samples::household_reading()).unwrap();
    bytes.push(0);
    let err = decode_any(&bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::TrailingBytes { count: 1, .. }),
        "{err}"
    );
}

#[test]
fn garbage_never_panics() {
    // Deterministic xorshift garbage: plain bytes, and garbage behind every valid header.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let headers: Vec<Vec<u8>> = samples::all()
        .iter()
        .map(|m| m.encode().unwrap()[..HEADER_LEN].to_vec())
        .collect();
    for round in 0..4000 {
        let len = (next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 {
            let h = &headers[round / 2 % headers.len()];
            bytes.splice(0..0, h.iter().copied());
        }
        // Any outcome but a panic is acceptable; valid-looking garbage must re-encode exactly.
        if let Ok(msg) = decode_any(&bytes) {
            assert_eq!(msg.encode().unwrap(), bytes);
        }
    }
    assert!(matches!(
        decode_any(b"hello world"),
        Err(DecodeError::BadMagic { .. })
    ));
}

#[test]
fn hostile_length_prefix_is_refused_without_allocating() {
    // Header of a HouseholdReading, then a string length of ~2^62 (zig-zag varint).
    let mut bytes = encode(&samples::household_reading()).unwrap()[..HEADER_LEN].to_vec();
    bytes.extend_from_slice(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
    let err = decode_any(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
}

/// The `wire_message` fuzzer's crash bb3950a2: a grid alert whose `unexplained_wh` is NaN decoded,
/// and could never equal its own re-encoding. Non-finite floats are now malformed.
const NAN_GRID_ALERT: [u8; 61] = [
    0xc3, 0x01, 0xaa, 0x81, 0xb2, 0x98, 0x50, 0xfe, 0x13, 0x58, 0x10, 0x4e, 0x4c, 0x2d, 0x55, 0x54,
    0x2d, 0x30, 0x32, 0x00, 0x02, 0x80, 0x00, 0x00, 0x00, 0x00, 0x40, 0x9d, 0xc7, 0x40, 0x00, 0xf2,
    0xff, 0xff, 0xff, 0x60, 0x56, 0x40, 0xc0, 0xb6, 0xa5, 0xc0, 0xe1, 0x5c, 0x20, 0x32, 0x20, 0x6b,
    0x57, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x36, 0x20, 0x68, 0x6f, 0x75, 0x72, 0x73,
];

#[test]
fn non_finite_floats_are_malformed() {
    let err = decode_any(&NAN_GRID_ALERT).unwrap_err();
    assert!(
        matches!(&err, DecodeError::Malformed { kind: MessageKind::GridAlert, detail }
            if detail.contains("unexplained_wh")),
        "{err}"
    );
    // The encoder writes what it is given; every non-finite value in either float is refused.
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        for field in ["unexplained_wh", "strength"] {
            let mut alert = samples::grid_alert();
            *match field {
                "unexplained_wh" => &mut alert.unexplained_wh,
                _ => &mut alert.strength,
            } = bad;
            let err = decode::<GridAlert>(&encode(&alert).unwrap()).unwrap_err();
            assert!(
                matches!(&err, DecodeError::Malformed { detail, .. } if detail.contains(field)),
                "{field} = {bad}: {err}"
            );
        }
    }
    // Finite extremes still decode.
    let mut alert = samples::grid_alert();
    alert.unexplained_wh = f64::MAX;
    alert.strength = -f64::MIN_POSITIVE;
    assert_eq!(
        decode::<GridAlert>(&encode(&alert).unwrap()).unwrap(),
        alert
    );
}

#[test]
fn signing_bytes_ignore_the_signature_and_cover_everything_else() {
    let a = samples::share_bundle();
    let mut b = a.clone();
    b.signature = vec![0xFF; 64];
    assert_eq!(signing_bytes(&a).unwrap(), signing_bytes(&b).unwrap());
    b.shares[1].ciphertext[7] ^= 1;
    assert_ne!(signing_bytes(&a).unwrap(), signing_bytes(&b).unwrap());
}

/// Golden vectors: the exact bytes of each sample as released. An accidental change of the
/// wire format fails here. Regenerate deliberately with `ZEAL_BLESS=1 cargo test -p zeal-schemas`.
#[test]
fn golden_vectors_are_stable() {
    let dir = golden_dir();
    let bless = std::env::var_os("ZEAL_BLESS").is_some();
    for msg in samples::all() {
        let newest = msg.kind().released_avsc().last().unwrap().0;
        let path = dir.join(format!("{}.v{newest}.bin", msg.kind().stem()));
        let bytes = msg.encode().unwrap();
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with ZEAL_BLESS=1)", path.display()));
        assert_eq!(golden, bytes, "{} changed on the wire", msg.kind());
        assert_eq!(decode_any(&golden).unwrap(), msg);
    }
}

#[test]
fn current_schema_is_released() {
    for &kind in MessageKind::ALL {
        let cat = catalog();
        let current = cat.current(kind);
        let newest = kind.released_avsc().last().unwrap().0;
        let released = cat.version(kind, newest).unwrap();
        assert_eq!(
            current.schema.canonical_form(),
            released.schema.canonical_form(),
            "schemas/avro/{stem}.avsc differs from history/{stem}/v{newest}.avsc: release it as \
             v{next} (copy it to history/{stem}/v{next}.avsc) after checking compatibility",
            stem = kind.stem(),
            next = newest + 1
        );
        assert_eq!(
            peek_kind(&encode_header(current.fingerprint)).unwrap().0,
            kind
        );
    }
}

fn encode_header(fp: [u8; 8]) -> Vec<u8> {
    let mut v = vec![0xC3, 0x01];
    v.extend_from_slice(&fp);
    v
}

#[test]
fn current_readers_read_every_released_version() {
    for &kind in MessageKind::ALL {
        let current = &catalog().current(kind).schema;
        for &(version, _) in kind.released_avsc() {
            let writer = &catalog().version(kind, version).unwrap().schema;
            SchemaCompatibility::can_read(writer, current).unwrap_or_else(|e| {
                panic!("{kind} v{version} cannot be read by the current schema: {e}")
            });
        }
        // And the released bytes of every version decode with today's types.
        for &(version, _) in kind.released_avsc() {
            let path = golden_dir().join(format!("{}.v{version}.bin", kind.stem()));
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e}: keep every version's golden", path.display()));
            assert_eq!(peek_kind(&bytes).unwrap(), (kind, version));
            assert_eq!(decode_any(&bytes).unwrap().kind(), kind);
        }
    }
}

/// A v1 reading (no generation) read by this build: the new field takes its default, and its
/// signing bytes are still exactly its v1 datum with the signature emptied, so a meter's
/// signature over it verifies after the upgrade (audits replay old topics).
#[test]
fn v1_readings_decode_with_no_generation_and_keep_their_signed_bytes() {
    let bytes = std::fs::read(golden_dir().join("household_reading.v1.bin")).unwrap();
    let old: HouseholdReading = decode(&bytes).unwrap();
    let expected = HouseholdReading {
        generation_wh: None,
        ..samples::household_reading()
    };
    assert_eq!(old, expected);
    // The v1 datum ends with the 64-byte signature: length 64 (zig-zag varint 80 01), then it.
    let body = &bytes[HEADER_LEN..];
    assert_eq!(&body[body.len() - 66..body.len() - 64], &[0x80, 0x01]);
    let mut unsigned_v1 = body[..body.len() - 66].to_vec();
    unsigned_v1.push(0x00);
    assert_eq!(signing_bytes(&old).unwrap(), unsigned_v1);
    // A reading with generation is signed under v2, so the generation is covered.
    let new = samples::household_reading();
    let signed = signing_bytes(&new).unwrap();
    assert_ne!(signed, unsigned_v1);
    let mut other = new.clone();
    other.generation_wh = Some(846);
    assert_ne!(signing_bytes(&other).unwrap(), signed);
}

#[test]
fn fingerprints_are_distinct() {
    let mut seen = std::collections::HashSet::new();
    for &kind in MessageKind::ALL {
        assert!(seen.insert(catalog().current(kind).fingerprint), "{kind}");
    }
}

#[test]
fn fingerprint_matches_the_avro_specification() {
    // Known answer from the Avro specification's test suite: the fingerprint of "int".
    let int = apache_avro::Schema::parse_str(r#""int""#).unwrap();
    assert_eq!(
        zeal_schemas::catalog::crc64_avro(
            zeal_schemas::catalog::parsing_canonical_form(&int).as_bytes()
        ),
        0x7275_d51a_3f39_5c8f
    );
    // A logical type is not part of the canonical form.
    let ts = apache_avro::Schema::parse_str(r#"{"type":"long","logicalType":"timestamp-millis"}"#)
        .unwrap();
    assert_eq!(
        zeal_schemas::catalog::parsing_canonical_form(&ts),
        r#""long""#
    );
}

/// Every branch of the round log's entry union survives the wire (Avro unions resolve by record
/// name, so a renamed Rust type would fail here), and the branch is what a reader sees.
#[test]
fn every_round_entry_round_trips() {
    let records = samples::round_records();
    assert_eq!(
        records.len(),
        16,
        "one sample per branch of round_record.avsc's entry"
    );
    for r in records {
        let bytes = encode(&r).unwrap();
        let back = decode::<zeal_schemas::v2::RoundRecord>(&bytes).unwrap();
        assert_eq!(back, r);
    }
}

/// `zeal decode` names the branch of a round record's entry: a Withdraw and an ABANDONED marker
/// (both empty records) must not print alike.
#[test]
fn decoded_round_records_name_their_entry() {
    let records = samples::round_records();
    let render = |i: usize| zeal_schemas::inspect::to_json(&encode(&records[i]).unwrap()).unwrap();
    let withdraw = render(5);
    let abandoned = render(12);
    assert_eq!(
        withdraw["message"]["entry"],
        serde_json::json!({"Withdraw": {}})
    );
    assert_eq!(
        abandoned["message"]["entry"],
        serde_json::json!({"Abandoned": {}})
    );
    let notice = render(4);
    assert_eq!(
        notice["message"]["entry"]["Notice"]["part_hashes"][0],
        serde_json::json!(format!("0x{}", "36".repeat(32)))
    );
    let keys_closed = render(13);
    assert_eq!(keys_closed["schema_version"], serde_json::json!(3));
    assert_eq!(keys_closed["message"]["author"], serde_json::Value::Null);
    assert_eq!(
        keys_closed["message"]["entry"]["KeysClosed"]["seats"],
        serde_json::json!(["m-0002", "m-0004"])
    );
    let part_missing = render(14);
    assert_eq!(
        part_missing["message"]["author"],
        serde_json::json!("m-0002")
    );
    assert_eq!(
        part_missing["message"]["entry"],
        serde_json::json!({"PartMissing": {"sender": "m-0001"}})
    );
    let part_posted = render(15);
    assert_eq!(
        part_posted["message"]["author"],
        serde_json::json!("m-0001")
    );
    assert_eq!(
        part_posted["message"]["entry"]["PartPosted"]["seat"],
        serde_json::json!("m-0002")
    );
}

/// One golden vector per branch of the round log's entry union and released version
/// (`round_record.v<N>.<Branch>.bin`), which `tests/avro_check.py` decodes with fastavro and checks
/// the branch: a wrong union index would round-trip through this crate and still break every
/// other reader. The current version's vectors are written by `ZEAL_BLESS=1`.
#[test]
fn every_round_entry_branch_has_a_golden_vector() {
    let bless = std::env::var_os("ZEAL_BLESS").is_some();
    let newest = MessageKind::RoundRecord.released_avsc().last().unwrap().0;
    for r in samples::round_records() {
        let bytes = encode(&r).unwrap();
        let json = zeal_schemas::inspect::to_json(&bytes).unwrap();
        let entry = json["message"]["entry"].as_object().unwrap();
        let branch = entry.keys().next().unwrap();
        let path = golden_dir().join(format!("round_record.v{newest}.{branch}.bin"));
        if bless {
            std::fs::write(&path, &bytes).unwrap();
        }
        let golden = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (bless with ZEAL_BLESS=1)", path.display()));
        assert_eq!(golden, bytes, "{branch} changed on the wire");
    }
}

/// The branch vectors of every released version of the round log stay decodable by this build,
/// each to the same record it was written from (round_record v1 has no KeysClosed, v1 and v2 no
/// PartMissing or PartPosted). The v2 and v3 branches were appended to the union, so every older
/// branch keeps its index and its datum: a v1 or v2 vector's body is byte for byte the current
/// encoding of the same record. Inserting a new branch anywhere but at the end would renumber the
/// others and fail here.
#[test]
fn released_round_entry_vectors_decode_to_their_records() {
    let samples = samples::round_records();
    let mut checked = 0;
    for &(version, _) in MessageKind::RoundRecord.released_avsc() {
        for r in &samples {
            let json = zeal_schemas::inspect::to_json(&encode(r).unwrap()).unwrap();
            let branch = json["message"]["entry"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone();
            let path = golden_dir().join(format!("round_record.v{version}.{branch}.bin"));
            let Ok(bytes) = std::fs::read(&path) else {
                let since = match branch.as_str() {
                    "KeysClosed" => 2,
                    "PartMissing" | "PartPosted" => 3,
                    _ => 1,
                };
                assert!(
                    version < since,
                    "{}: every released branch keeps its vector",
                    path.display()
                );
                continue;
            };
            assert_eq!(
                peek_kind(&bytes).unwrap(),
                (MessageKind::RoundRecord, version)
            );
            let back = decode::<zeal_schemas::v2::RoundRecord>(&bytes).unwrap();
            assert_eq!(&back, r, "{}", path.display());
            assert_eq!(
                &bytes[HEADER_LEN..],
                &encode(r).unwrap()[HEADER_LEN..],
                "{} re-encodes to another datum",
                path.display()
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        13 + 14 + 16,
        "13 v1 branches, 14 v2 branches and 16 v3 branches"
    );
}
