//! Protocol v2 (DESIGN §4; decisions and attacks in docs/protocol.md): a committee of k seats per
//! region and day, verifiable Shamir shares (Pedersen over Ristretto) slot-packed under the seats'
//! daily Paillier keys, commit-then-reveal on one ordered partition per region.
//!
//! - [`encoding`]: the one binding and length-prefix rule for signatures and transcripts;
//! - [`params`]: the protocol file, validated; committee sizes and their capture probability;
//! - [`committee`]: the beacon draw of a region's seats;
//! - [`crypto`]: Paillier seat keys and their proofs, Pedersen VSS and range proofs, packing;
//! - [`round`]: the round's steps and the log replay every party shares;
//! - [`wire`]: the Avro messages of `zeal_schemas::v2`, read bounds first, signature second;
//! - [`readings`]: opted-in readings signed by the meter's certified identity key.

pub mod bench;
pub mod committee;
pub mod crypto;
pub mod day;
pub mod encoding;
pub mod enrolment;
pub mod local;
pub mod params;
pub mod readings;
pub mod round;
pub mod wire;
