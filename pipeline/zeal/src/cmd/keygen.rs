//! `zeal keygen`: create (or show) the deployment's aggregator signing key before any instance
//! starts, so that several aggregators can share it and gateways can be given its public key.

use super::common::{load_or_create_seed, publish_public_key};
use clap::Args;
use std::path::PathBuf;
use zeal_protocol::round::crypto::AggregatorKey;

#[derive(Args)]
pub struct KeygenArgs {
    /// The aggregator signing key (32 bytes, created with mode 0600 if absent).
    #[arg(long, env = "ZEAL_AGGREGATOR_KEY")]
    key_file: PathBuf,
    /// The aggregator's id, written into every decision it signs.
    #[arg(long, env = "ZEAL_AGGREGATOR_ID", default_value = "aggregator")]
    id: String,
}

/// Creates the key if absent (never overwrites one) and writes its public key next to it.
pub fn run(a: KeygenArgs) -> anyhow::Result<()> {
    let (seed, created) = load_or_create_seed(&a.key_file)?;
    let public = AggregatorKey::from_seed(&a.id, &seed).public().to_hex();
    publish_public_key("aggregator", &a.key_file, &public, created)
}
