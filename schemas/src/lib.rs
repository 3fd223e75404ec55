//! Zebra-Zeal wire types.
//!
//! Every message that crosses Kafka is defined twice, on purpose: as an Avro schema in
//! `schemas/avro/*.avsc` (the contract any Avro implementation can read) and as a Rust type
//! here. [`codec`] turns one into the other using Avro single-object encoding
//! (`C3 01` + CRC-64-AVRO fingerprint + datum), so a message carries the identity of the schema
//! it was written with and needs no registry. [`catalog`] keeps every released version of every
//! schema, so readers resolve old messages (BACKWARD compatibility, DESIGN §5).
//!
//! This crate does encoding and decoding and nothing else; every other crate depends on it.

pub mod bytes_serde;
pub mod catalog;
pub mod codec;
pub mod consent;
pub mod grid;
pub mod inspect;
pub mod messages;
pub mod topics;
pub mod v2;

pub use codec::{AnyMessage, DecodeError, EncodeError, WireMessage, decode, decode_any, encode};
pub use messages::*;
