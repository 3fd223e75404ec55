//! The Zebra-Zeal protocol core (DESIGN §4): Paillier encryption with DJN short exponents,
//! slot packing, additive shares, Ed25519 signatures and the round state machines of the
//! aggregator and the meters. Pure: no network, disk or clock; time comes in as arguments and
//! randomness through a caller-supplied CSPRNG, so tests, the services, benchmarks and the audit
//! all run the same code.

pub mod bench;
pub mod config;
pub mod consent;
pub mod erasure;
pub mod error;
pub mod round;
pub mod v2;

/// The signature scheme of every protocol message, for callers that hold keys.
pub use ed25519_dalek;

pub use config::ProtocolConfig;
pub use error::ProtocolError;
