//! `zeal authority init` and `zeal enrol`: the enrolment authority of protocol v2 (DESIGN §4,
//! "Enrolment"). The authority's Ed25519 key certifies (meter id, region, identity key,
//! valid_from); gateways, the aggregator and the audit admit only certificates it signed. Its key
//! must not be the aggregator operator's (docs/protocol.md).

use super::common::{format_time, load_or_create_seed, parse_time, publish_public_key};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::enrolment::{Certificate, MAX_ID_BYTES, Status, key_from_hex, key_to_hex};
use zeal_protocol::v2::wire::certificate_to_wire;

#[derive(Subcommand)]
pub enum AuthorityCommand {
    /// Create the authority's signing key (mode 0600, never overwritten) and write its public
    /// key next to it (`<key-file>.pub`, hex), for gateways, aggregators and auditors.
    Init(InitArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// The authority's signing key (32 bytes).
    #[arg(long, env = "ZEAL_AUTHORITY_KEY")]
    key_file: PathBuf,
}

#[derive(Args)]
pub struct EnrolArgs {
    /// The authority's signing key, made by `zeal authority init`.
    #[arg(long, env = "ZEAL_AUTHORITY_KEY")]
    key_file: PathBuf,
    /// The meter's id.
    #[arg(long)]
    meter: String,
    /// The meter's region.
    #[arg(long)]
    region: String,
    /// The meter's Ed25519 identity public key, 64 hex digits (its gateway holds the secret).
    #[arg(long)]
    identity: String,
    /// From when the certificate is the meter's: 2020-07-01T00:00Z or milliseconds (whole
    /// seconds). A later certificate for the same meter supersedes it from its own valid_from;
    /// none is ever replaced.
    #[arg(long)]
    valid_from: String,
    /// Certify the meter's retirement instead of its participation.
    #[arg(long)]
    retire: bool,
    /// Directory for the certificate (`<meter>@<valid_from ms>.cert`, Avro single object of
    /// `schemas/avro/certificate.avsc`), created if absent.
    #[arg(long)]
    out: PathBuf,
}

fn load_authority(path: &Path) -> anyhow::Result<SigningKey> {
    if !path.exists() {
        bail!(
            "{} does not exist: create it with `zeal authority init --key-file {}`",
            path.display(),
            path.display()
        );
    }
    let (seed, _) = load_or_create_seed(path)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// `zeal authority …`.
pub fn run(c: AuthorityCommand) -> anyhow::Result<()> {
    match c {
        AuthorityCommand::Init(a) => {
            let (seed, created) = load_or_create_seed(&a.key_file)?;
            let public = key_to_hex(&SigningKey::from_bytes(&seed).verifying_key());
            publish_public_key("authority", &a.key_file, &public, created)
        }
    }
}

/// `zeal enrol`: issue one certificate.
pub fn enrol(a: EnrolArgs) -> anyhow::Result<()> {
    for (name, value) in [("--meter", &a.meter), ("--region", &a.region)] {
        if value.is_empty() || value.len() > MAX_ID_BYTES || value.contains(['/', '@']) {
            bail!("{name} must be 1 to {MAX_ID_BYTES} bytes without '/' or '@', got {value:?}");
        }
    }
    let identity = key_from_hex(&a.identity).map_err(|e| {
        anyhow::anyhow!("--identity must be 64 hex digits (an Ed25519 public key): {e}")
    })?;
    let valid_from_ms = parse_time(&a.valid_from)?;
    if valid_from_ms % 1000 != 0 {
        bail!("--valid-from must be a whole second, got {valid_from_ms} ms");
    }
    let authority = load_authority(&a.key_file)?;
    let status = if a.retire {
        Status::Retired
    } else {
        Status::Active
    };
    let cert = Certificate::issue(
        &authority,
        &a.meter,
        &a.region,
        &identity,
        valid_from_ms / 1000,
        status,
    );
    let bytes = zeal_schemas::encode(&certificate_to_wire(&cert))?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let path = a.out.join(format!("{}@{valid_from_ms}.cert", a.meter));
    // Certificates are never replaced: a second one for the same (meter, valid_from) is refused.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| {
            format!(
                "writing {} (a certificate for this meter and valid_from exists: certificates \
                 are never replaced, issue one with a later --valid-from)",
                path.display()
            )
        })?;
    std::io::Write::write_all(&mut f, &bytes)?;
    f.sync_all()?;
    println!(
        "certified {} in {} from {} ({}): {}",
        a.meter,
        a.region,
        format_time(valid_from_ms),
        if a.retire { "retired" } else { "active" },
        path.display()
    );
    Ok(())
}
