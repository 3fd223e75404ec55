//! `zeal grid …`: the utility's own measurements on the broker. `init` makes its metering key
//! (Ed25519, 0600, and the `.pub` beside it); `publish` signs feeder readings and billing
//! registers from CSV exports (a DSMR-like import of real feeder data) and posts them on
//! `zeal.feeder.v1` and `zeal.billing.v1`, where `zeal jobs balance --follow` reads them.
//!
//! Billing CSV: a header `meter,region,period_start,period_end,import_wh,export_wh`, then one
//! line per meter and billing period (register deltas, Wh; times as `2020-07-01T00:00Z` or ms).

use super::common::{KafkaArgs, load_or_create_seed, parse_time, publish_public_key};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use zeal_connectors::kafka::KeyedProducer;
use zeal_grid::metering;
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::enrolment::key_to_hex;
use zeal_schemas::grid::{BillingRegister, FeederReading};

#[derive(Subcommand)]
pub enum GridCommand {
    /// Creates the utility's metering key (0600, never overwritten) and its `.pub`.
    Init(InitArgs),
    /// Signs feeder readings and billing registers (CSV) and posts them on their topics.
    Publish(PublishArgs),
}

#[derive(Args)]
pub struct InitArgs {
    #[arg(long, env = "ZEAL_METERING_KEY")]
    key_file: PathBuf,
}

#[derive(Args)]
pub struct PublishArgs {
    /// The utility's metering key (`zeal grid init`).
    #[arg(long, env = "ZEAL_METERING_KEY")]
    key_file: PathBuf,
    /// Feeder readings: `region,interval_start,feeder_wh` (as `zeal jobs balance --feeder`).
    #[arg(long)]
    feeder: Option<PathBuf>,
    /// Billing registers: `meter,region,period_start,period_end,import_wh,export_wh`.
    #[arg(long)]
    billing: Option<PathBuf>,
    #[command(flatten)]
    kafka: KafkaArgs,
}

/// `zeal grid …`.
pub fn run(c: GridCommand) -> anyhow::Result<()> {
    match c {
        GridCommand::Init(a) => {
            let (seed, created) = load_or_create_seed(&a.key_file)?;
            let public = key_to_hex(&SigningKey::from_bytes(&seed).verifying_key());
            publish_public_key("metering", &a.key_file, &public, created)
        }
        GridCommand::Publish(a) => publish(a),
    }
}

/// The feeder readings of a feeder CSV, signed (feeder id: `<region>/feeder`).
pub fn feeder_readings(key: &SigningKey, text: &str) -> anyhow::Result<Vec<FeederReading>> {
    let rows = super::balance::parse_feeder(text)?;
    Ok(rows
        .into_iter()
        .map(|((region, start), wh)| {
            let feeder = format!("{region}/feeder");
            metering::signed_feeder(key, &feeder, &region, start, wh.round() as i64)
        })
        .collect())
}

/// The billing registers of a billing CSV, signed; every error names its line.
pub fn billing_registers(key: &SigningKey, text: &str) -> anyhow::Result<Vec<BillingRegister>> {
    const HEADER: &str = "meter,region,period_start,period_end,import_wh,export_wh";
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim() == HEADER => {}
        Some((_, h)) => bail!("line 1: expected the header {HEADER}, found {h:?}"),
        None => bail!("the billing file is empty"),
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let at = || format!("line {}", n + 1);
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let [meter, region, start, end, import, export] = f[..] else {
            bail!("{}: expected 6 fields, found {}", at(), f.len());
        };
        let wh = |s: &str, what: &str| -> anyhow::Result<i64> {
            s.parse()
                .with_context(|| format!("{}: {what} {s:?} is not a whole number of Wh", at()))
        };
        let period = (
            parse_time(start).with_context(at)?,
            parse_time(end).with_context(at)?,
        );
        let deltas = (wh(import, "import_wh")?, wh(export, "export_wh")?);
        let b = metering::signed_billing(key, meter, region, period, deltas);
        // The same checks the balance job makes, so a bad line fails here, with its line.
        metering::verify_billing(&key.verifying_key(), &b).with_context(at)?;
        out.push(b);
    }
    Ok(out)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn publish(a: PublishArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.feeder.is_some() || a.billing.is_some(),
        "nothing to publish: give --feeder and/or --billing"
    );
    anyhow::ensure!(
        a.key_file.exists(),
        "{} does not exist: create it with `zeal grid init --key-file {}`",
        a.key_file.display(),
        a.key_file.display()
    );
    let key = SigningKey::from_bytes(&load_or_create_seed(&a.key_file)?.0);
    let feeder = match &a.feeder {
        Some(p) => feeder_readings(&key, &read(p)?).with_context(|| p.display().to_string())?,
        None => vec![],
    };
    let billing = match &a.billing {
        Some(p) => billing_registers(&key, &read(p)?).with_context(|| p.display().to_string())?,
        None => vec![],
    };
    let (kafka, topics) = (a.kafka.config("zeal-grid"), a.kafka.topics());
    super::runtime()?.block_on(async move {
        let producer = KeyedProducer::new(&kafka)?;
        for r in &feeder {
            producer
                .send_message(&topics.feeder, r.region.as_bytes(), r)
                .await?;
        }
        for b in &billing {
            producer
                .send_message(&topics.billing, b.region.as_bytes(), b)
                .await?;
        }
        producer.flush(std::time::Duration::from_secs(30))?;
        println!(
            "published {} feeder readings on {} and {} billing registers on {}",
            feeder.len(),
            topics.feeder,
            billing.len(),
            topics.billing
        );
        anyhow::Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_csv_lines_are_signed_and_errors_name_their_line() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let head = "meter,region,period_start,period_end,import_wh,export_wh\n";
        let ok = billing_registers(
            &key,
            &format!("{head}m-1,NL-A,2020-07-01T00:00Z,2020-07-08T00:00Z,41000,9000\n"),
        )
        .unwrap();
        assert_eq!(ok[0].period_end - ok[0].period_start, 7 * 86_400_000);
        assert_eq!(
            metering::verify_billing(&key.verifying_key(), &ok[0]),
            Ok(())
        );
        let err = |body: &str| {
            format!(
                "{:#}",
                billing_registers(&key, &format!("{head}{body}")).unwrap_err()
            )
        };
        assert!(
            err("m-1,NL-A,2020-07-01T00:00Z,2020-07-08T00:00Z,4.5,0\n")
                .contains("line 2: import_wh")
        );
        assert!(
            err("m-1,NL-A,2020-07-08T00:00Z,2020-07-01T00:00Z,1,0\n")
                .contains("line 2: a billing period")
        );
        assert!(err("m-1,NL-A\n").contains("line 2: expected 6 fields"));
        assert!(format!("{:#}", billing_registers(&key, "a,b\n").unwrap_err()).contains("line 1"));
    }
}
