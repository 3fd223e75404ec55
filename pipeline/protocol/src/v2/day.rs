//! A region's day (DESIGN §4, "Enrolment"): each committee seat publishes a fresh Paillier key
//! signed with its identity key, with the key proof; KeysClosed lists the seats' first valid keys
//! before it. Every verifier (senders, aggregator, audit) checks each key itself, cheapest check
//! first: seat and sizes, then the signature, then the bignum work. A seat without a valid key is
//! absent for the day; absent seats are never replaced and never change d.

use super::crypto::paillier::{KEY_PROOF_ROOTS, KeyProof, SeatPublicKey};
use super::encoding::{Hash, Kind, Transcript};
use super::params::{DAY_SECONDS, Params};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// A seat's daily key announcement.
#[derive(Debug, Clone)]
pub struct SeatKeyAnnouncement {
    /// The seat's meter id.
    pub seat: String,
    /// n, big-endian, exactly modulus_bits / 8 bytes.
    pub modulus: Vec<u8>,
    /// The key proof's bytes.
    pub proof: Vec<u8>,
    /// The seat's identity signature over [`key_signing_bytes`].
    pub signature: Signature,
}

/// Why a seat's key is not accepted (the seat is absent for the day).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    /// Not a seat of the region's committee.
    #[error("{0} holds no seat")]
    NotASeat(String),
    /// Modulus or proof of the wrong size (checked before anything else).
    #[error("wrong size: {0}")]
    Size(&'static str),
    /// The identity signature does not verify.
    #[error("bad identity signature")]
    Signature,
    /// The key or its proof is invalid.
    #[error("key proof: {0}")]
    Proof(String),
}

/// The key-binding context: label ‖ day ‖ region ‖ seat ‖ H(Cutoff(D)). Bound into y (hence h_s)
/// and into the key proof, so neither carries over to another day, region or seat.
pub fn key_context(region: &str, day: i64, seat: &str, cutoff: &Hash) -> Vec<u8> {
    let mut t = Transcript::bound(Kind::SeatKey, region, day * DAY_SECONDS);
    t.str(seat).field(&cutoff.0);
    t.as_bytes().to_vec()
}

/// What a seat signs when announcing its key.
pub fn key_signing_bytes(
    region: &str,
    day: i64,
    seat: &str,
    cutoff: &Hash,
    modulus: &[u8],
    proof: &[u8],
) -> Vec<u8> {
    let mut t = Transcript::default();
    t.field(&key_context(region, day, seat, cutoff))
        .field(modulus)
        .field(proof);
    t.as_bytes().to_vec()
}

/// A seat announces its key (the gateway of a household holding a seat).
pub fn announce(
    identity: &SigningKey,
    region: &str,
    day: i64,
    seat: &str,
    cutoff: &Hash,
    key: &super::crypto::paillier::SeatSecretKey,
) -> SeatKeyAnnouncement {
    let modulus = key.public().to_bytes();
    let proof = KeyProof::prove(key, &key_context(region, day, seat, cutoff)).to_bytes();
    let signature = identity.sign(&key_signing_bytes(
        region, day, seat, cutoff, &modulus, &proof,
    ));
    SeatKeyAnnouncement {
        seat: seat.into(),
        modulus,
        proof,
        signature,
    }
}

/// Checks an announcement: seat, sizes, signature, then the key proof.
pub fn accept_key(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    seats: &[(String, VerifyingKey)],
    a: &SeatKeyAnnouncement,
) -> Result<SeatPublicKey, KeyRefused> {
    let Some((_, identity)) = seats.iter().find(|(s, _)| *s == a.seat) else {
        return Err(KeyRefused::NotASeat(a.seat.clone()));
    };
    let width = params.modulus_bits as usize / 8;
    if a.modulus.len() != width {
        return Err(KeyRefused::Size("modulus"));
    }
    if a.proof.len() != KEY_PROOF_ROOTS * width {
        return Err(KeyRefused::Size("key proof"));
    }
    identity
        .verify_strict(
            &key_signing_bytes(region, day, &a.seat, cutoff, &a.modulus, &a.proof),
            &a.signature,
        )
        .map_err(|_| KeyRefused::Signature)?;
    let context = key_context(region, day, &a.seat, cutoff);
    let key = SeatPublicKey::from_bytes(&a.modulus, &context, params.modulus_bits)
        .map_err(|e| KeyRefused::Proof(e.to_string()))?;
    let proof = KeyProof::from_bytes(&a.proof, params.modulus_bits)
        .map_err(|e| KeyRefused::Proof(e.to_string()))?;
    proof
        .verify(&key, &context)
        .map_err(|e| KeyRefused::Proof(e.to_string()))?;
    Ok(key)
}

/// The list KeysClosed must equal: each seat's key, in log order, where a seat's key is its first
/// announcement that carries its identity signature and the right sizes (a bad key proof there
/// leaves the seat absent for the day).
pub fn keys_before_close(
    params: &Params,
    region: &str,
    day: i64,
    cutoff: &Hash,
    seats: &[(String, VerifyingKey)],
    announcements: &[SeatKeyAnnouncement],
) -> Vec<(String, SeatPublicKey)> {
    // A seat's first announcement with a valid identity signature is judged, once: a flood of
    // signed bad keys (or copies of one) cannot make every verifier run key proofs without end.
    let mut judged: Vec<&str> = Vec::new();
    let mut out: Vec<(String, SeatPublicKey)> = Vec::new();
    for a in announcements {
        if judged.contains(&a.seat.as_str()) {
            continue;
        }
        match accept_key(params, region, day, cutoff, seats, a) {
            Ok(k) => {
                judged.push(&a.seat);
                out.push((a.seat.clone(), k));
            }
            Err(KeyRefused::Proof(_)) => judged.push(&a.seat),
            Err(_) => {} // not signed by the seat, or not a seat: says nothing about it
        }
    }
    out
}
