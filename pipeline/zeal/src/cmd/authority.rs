//! `zeal authority init|cutoff|beacon` and `zeal enrol`: the enrolment authority of protocol v2
//! (DESIGN §4, "Enrolment"). The authority's Ed25519 key certifies (meter id, region, identity
//! key, valid_from); gateways, the aggregator and the audit admit only certificates it signed.
//! Its key must not be the aggregator operator's (docs/protocol.md). Certificates, the daily
//! Cutoff and the relayed beacon rounds go on the registry topic (`zeal.registry.v2`).

use super::common::{
    KafkaArgs, existing_signing_key, format_time, init_signing_key, load_or_create_seed, parse_time,
};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use zeal_connectors::kafka::KeyedProducer;
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::day::RegistryLog;
use zeal_protocol::v2::enrolment::{
    BeaconRound, Certificate, Cutoff, MAX_ID_BYTES, Status, key_from_hex,
};
use zeal_protocol::v2::params::DAY_SECONDS;
use zeal_protocol::v2::wire::certificate_to_wire;
use zeal_services::v2::registry;

#[derive(Subcommand)]
pub enum AuthorityCommand {
    /// Create the authority's signing key (mode 0600, never overwritten) and write its public
    /// key next to it (`<key-file>.pub`, hex), for gateways, aggregators and auditors.
    Init(InitArgs),
    /// Sign day D's Cutoff over the registry topic as it stands (the certificates this authority
    /// signed, in partition order) and post it there; the first signed Cutoff(D) counts.
    Cutoff(CutoffArgs),
    /// The local beacon stand-in (demo and tests only: its holder can predict every round; a
    /// deployment relays a public beacon): post day D's round on the registry topic and print
    /// the chain's anchor, which every party must hold beforehand.
    Beacon(BeaconArgs),
}

#[derive(Args)]
pub struct CutoffArgs {
    /// The authority's signing key, made by `zeal authority init`.
    #[arg(long, env = "ZEAL_AUTHORITY_KEY")]
    key_file: PathBuf,
    /// The day: 2020-07-01.
    #[arg(long)]
    day: String,
    #[command(flatten)]
    kafka: KafkaArgs,
}

#[derive(Args)]
pub struct BeaconArgs {
    /// The stand-in's secret seed (32 bytes, mode 0600, created if absent).
    #[arg(long)]
    seed_file: PathBuf,
    /// The day whose round to post; without it only the anchor is printed.
    #[arg(long)]
    day: Option<String>,
    #[command(flatten)]
    kafka: KafkaArgs,
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
    #[arg(long, required_unless_present = "publish")]
    out: Option<PathBuf>,
    /// Post the certificate on the registry topic.
    #[arg(long)]
    publish: bool,
    #[command(flatten)]
    kafka: KafkaArgs,
}

fn load_authority(path: &Path) -> anyhow::Result<SigningKey> {
    existing_signing_key(path, "zeal authority init")
}

/// A day given as a date (or any time in it), in days since 1970-01-01.
fn parse_day(s: &str) -> anyhow::Result<i64> {
    Ok(parse_time(s)
        .with_context(|| format!("--day {s:?}"))?
        .div_euclid(1000 * DAY_SECONDS))
}

/// `zeal authority …`.
pub fn run(c: AuthorityCommand) -> anyhow::Result<()> {
    match c {
        AuthorityCommand::Init(a) => init_signing_key("authority", &a.key_file).map(drop),
        AuthorityCommand::Cutoff(a) => cutoff(a),
        AuthorityCommand::Beacon(a) => beacon(a),
    }
}

fn cutoff(a: CutoffArgs) -> anyhow::Result<()> {
    let authority = load_authority(&a.key_file)?;
    let day = parse_day(&a.day)?;
    let kafka = a.kafka.config("zeal-authority");
    let topics = a.kafka.topics();
    super::runtime()?.block_on(async {
        let mut log = RegistryLog::new(authority.verifying_key());
        let group = format!("zeal-authority-{}", std::process::id());
        let refused = registry::read(&kafka, &topics.registry_v2, &group, &mut log)
            .await
            .with_context(|| format!("reading {}", topics.registry_v2))?;
        let cutoff = Cutoff::issue(&authority, &log.registry, day);
        let producer = KeyedProducer::new(&kafka)?;
        registry::publish_cutoff(&producer, &topics.registry_v2, &cutoff).await?;
        println!(
            "cutoff of {} posted on {}: {} certificates (hash {}), beacon round {}; {} messages \
             not admitted",
            format_time(day * DAY_SECONDS * 1000),
            topics.registry_v2,
            cutoff.prefix,
            hex(&cutoff.prefix_hash.0),
            cutoff.beacon_round,
            refused.len()
        );
        Ok(())
    })
}

fn beacon(a: BeaconArgs) -> anyhow::Result<()> {
    let (seed, _) = load_or_create_seed(&a.seed_file)?;
    let anchor = BeaconRound::anchor(&seed);
    println!("beacon anchor: {}", hex(&anchor));
    let Some(day) = a.day else {
        return Ok(());
    };
    let round = zeal_protocol::v2::enrolment::beacon_round_of(parse_day(&day)?);
    let b = BeaconRound::produce(&seed, round);
    let kafka = a.kafka.config("zeal-beacon");
    let topics = a.kafka.topics();
    super::runtime()?.block_on(async {
        let producer = KeyedProducer::new(&kafka)?;
        registry::publish_beacon(&producer, &topics.registry_v2, &b).await?;
        println!("beacon round {round} posted on {}", topics.registry_v2);
        Ok(())
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    if a.publish {
        let kafka = a.kafka.config("zeal-enrol");
        let topic = a.kafka.topics().registry_v2;
        super::runtime()?.block_on(async {
            let producer = KeyedProducer::new(&kafka)?;
            registry::publish_certificate(&producer, &topic, &cert)
                .await
                .with_context(|| format!("posting the certificate on {topic}"))
        })?;
        println!(
            "certified {} in {} from {}: posted on {topic}",
            a.meter,
            a.region,
            format_time(valid_from_ms)
        );
    }
    let Some(out) = &a.out else {
        return Ok(());
    };
    let bytes = zeal_schemas::encode(&certificate_to_wire(&cert))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(format!("{}@{valid_from_ms}.cert", a.meter));
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
