//! The cryptography of protocol v2, one concept a module.
//!
//! - [`fixed_base`]: constant-time fixed-base exponentiation (the seat keys' encryption bases);
//! - [`paillier`]: the seats' daily keys (h_s derived by hash), the key proof (no factor below
//!   2^16, gcd(n, φ(n)) = 1) and the plaintext proof of a ciphertext;
//! - [`vss`]: Pedersen commitments to Shamir coefficients, proofs of knowledge of openings,
//!   Bulletproofs range proofs, interpolation;
//! - [`range_batch`]: batch verification of many range proofs, with exact attribution;
//! - [`packing`]: smudged shares in Paillier plaintext slots.

pub mod fixed_base;
pub mod packing;
pub mod paillier;
pub mod range_batch;
pub mod vss;
