//! Key, proof, commitment and ciphertext parsers on arbitrary bytes (the first byte picks the
//! parser): never a panic, and what parses re-encodes to exactly the bytes it came from (one
//! encoding per value: a re-encoded record never differs from the signed one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeal_fuzz::region;
use zeal_protocol::v2::crypto::paillier::{KeyProof, PlaintextProof, SeatPublicKey};
use zeal_protocol::v2::crypto::vss::{Commitments, OpeningProof, RangeProof};

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let r = region();
    let key = &r.region.ctx.seats[0].key;
    match which % 7 {
        0 => {
            if let Ok(p) = RangeProof::from_bytes(bytes) {
                assert_eq!(p.to_bytes(), bytes);
            }
        }
        1 => {
            if let Ok(p) = OpeningProof::from_bytes(bytes) {
                assert_eq!(&p.to_bytes()[..], bytes);
            }
        }
        2 => {
            let points: Vec<[u8; 32]> = bytes
                .chunks_exact(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect();
            if let Some(degree) = points.len().checked_sub(1)
                && let Ok(c) = Commitments::from_bytes(&points, degree)
            {
                assert_eq!(c.to_bytes(), points);
            }
        }
        3 => {
            if let Ok(k) = SeatPublicKey::from_bytes(bytes, b"fuzz", key.bits()) {
                assert_eq!(k.to_bytes(), bytes);
            }
        }
        4 => {
            if let Ok(p) = PlaintextProof::from_bytes(key, bytes) {
                assert_eq!(p.to_bytes(key), bytes);
            }
        }
        5 => {
            if let Ok(p) = KeyProof::from_bytes(bytes, key.bits()) {
                assert_eq!(p.to_bytes(), bytes);
            }
        }
        _ => {
            if let Ok(c) = key.parse_ciphertext(bytes) {
                assert_eq!(c.to_bytes(key), bytes);
            }
        }
    }
});
