//! Protocol v2 on Kafka (DESIGN §3, §4): the parties of a region's rounds — meters' gateways,
//! committee seats and the aggregator — as one event loop over the region's round log and the
//! bundles topic.
//!
//! Every decision comes from the replay ([`zeal_protocol::v2::round::log::Replay`]) of the
//! records the broker ordered, each judged once as it arrives (a node never adds its own records
//! to its view: it reads them back, so every party sees one order). What to post is the protocol core's ([`zeal_protocol::v2::round::markers`],
//! `check`, `partial`); this module only decides *when* (deadlines tell honest parties when to
//! act, never what is valid), reads and writes the topics, persists each meter's ledger before
//! publishing, and dead-letters every record it refuses with the wire reader's reason.

pub mod audit;
pub mod audit_log;
pub mod early;
pub mod node;
pub mod parts;
pub mod readings;
pub mod registry;
pub mod topics;

pub use audit::{
    AuditReport, Exclusion, LogWindow, RoundAudit, WindowError, audit_day, audit_window,
};
pub use node::{NodeReport, Party, RegionNode, RegionSettings};
