//! `zeal grid …`: the utility's own measurements on the broker. `init` makes its metering key
//! (Ed25519, 0600, and the `.pub` beside it); `publish` signs feeder readings and billing
//! registers from CSV exports (a DSMR-like import of real feeder data) and posts them on
//! `zeal.feeder.v1` and `zeal.billing.v1`, where `zeal jobs balance --follow` reads them;
//! `simulate` writes a simulated region's meter readings, feeder readings and billing registers
//! (with a theft and an under-reporting meter on demand) in the formats those commands take.
//!
//! Billing CSV: a header `meter,region,period_start,period_end,import_wh,export_wh`, then one
//! line per meter and billing period (register deltas, Wh; times as `2020-07-01T00:00Z` or ms).

use super::common::{
    KafkaArgs, format_time, init_signing_key, load_or_create_seed, parse_time, write_private,
};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use zeal_connectors::kafka::KeyedProducer;
use zeal_grid::metering;
use zeal_grid::sim::{Study, Theft};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_schemas::grid::{BillingRegister, FeederReading};

#[derive(Subcommand)]
pub enum GridCommand {
    /// Creates the utility's metering key (0600, never overwritten) and its `.pub`.
    Init(InitArgs),
    /// Signs feeder readings and billing registers (CSV) and posts them on their topics.
    Publish(PublishArgs),
    /// Writes a simulated region's meter readings, feeder readings and billing registers.
    Simulate(SimulateArgs),
}

#[derive(Args)]
pub struct SimulateArgs {
    /// The region; its meters are `<region>-m0001`, ...
    #[arg(long)]
    region: String,
    /// Households in the region.
    #[arg(long, default_value_t = 50)]
    meters: usize,
    /// First day (`2020-07-01` or ms; midnight UTC).
    #[arg(long)]
    from: String,
    #[arg(long, default_value_t = 21)]
    days: usize,
    /// Energy drawn past the meters: `START,HOURS,WATTS` (`2020-07-17T20:00Z,6,2000`).
    #[arg(long)]
    theft: Option<String>,
    /// One meter reporting a share of its import into the protocol, billed correctly:
    /// `METER,SHARE` with the meter's number (`17,0.7` is `<region>-m0017` at 70 %).
    #[arg(long)]
    under_reporting: Option<String>,
    /// The billing period (default: the last 7 days).
    #[arg(long)]
    billing_from: Option<String>,
    #[arg(long)]
    billing_to: Option<String>,
    /// The same seed gives the same households, losses and noise.
    #[arg(long, default_value_t = 16)]
    seed: u64,
    /// Writes `readings.csv` (what the meters report, as `zeal gateway --readings` takes it),
    /// `feeder.csv` and `billing.csv` (as `zeal grid publish` takes them) here; the two with
    /// households' energy in mode 0600.
    #[arg(long)]
    out_dir: PathBuf,
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
        GridCommand::Init(a) => init_signing_key("metering", &a.key_file).map(drop),
        GridCommand::Publish(a) => publish(a),
        GridCommand::Simulate(a) => simulate(a),
    }
}

const DAY: i64 = 86_400_000;

/// The study `a` describes, every value checked.
fn study(a: &SimulateArgs) -> anyhow::Result<Study> {
    let start_ms = parse_time(&a.from).context("--from")?;
    anyhow::ensure!(
        start_ms % DAY == 0,
        "--from must be a day's start (midnight UTC)"
    );
    anyhow::ensure!(
        a.meters >= 1 && a.days >= 1,
        "--meters and --days must be at least 1"
    );
    let end_ms = start_ms + a.days as i64 * DAY;
    let theft = match &a.theft {
        None => None,
        Some(t) => {
            let f: Vec<&str> = t.split(',').map(str::trim).collect();
            let [start, hours, watts] = f[..] else {
                bail!("--theft {t:?}: expected START,HOURS,WATTS");
            };
            let theft = Theft {
                start_ms: parse_time(start).with_context(|| format!("--theft {t:?}"))?,
                hours: hours
                    .parse()
                    .with_context(|| format!("--theft hours {hours:?}"))?,
                watts: watts
                    .parse()
                    .with_context(|| format!("--theft watts {watts:?}"))?,
            };
            anyhow::ensure!(
                theft.hours > 0.0 && theft.watts > 0.0,
                "--theft {t:?}: hours and watts must be positive"
            );
            anyhow::ensure!(
                (start_ms..end_ms).contains(&theft.start_ms),
                "--theft {t:?} starts outside the simulated days"
            );
            Some(theft)
        }
    };
    let under_reporting = match &a.under_reporting {
        None => None,
        Some(u) => {
            let (meter, share) = u
                .split_once(',')
                .with_context(|| format!("--under-reporting {u:?}: expected METER,SHARE"))?;
            let meter: usize = meter
                .trim()
                .parse()
                .with_context(|| format!("--under-reporting meter {meter:?}"))?;
            let share: f64 = share
                .trim()
                .parse()
                .with_context(|| format!("--under-reporting share {share:?}"))?;
            anyhow::ensure!(
                (1..=a.meters).contains(&meter),
                "--under-reporting: meter {meter} is not one of 1..={}",
                a.meters
            );
            anyhow::ensure!(
                (0.0..1.0).contains(&share),
                "--under-reporting: the share {share} must be at least 0 and below 1"
            );
            Some((meter - 1, share))
        }
    };
    let time = |s: &Option<String>, what: &str, default: i64| -> anyhow::Result<i64> {
        s.as_deref()
            .map_or(Ok(default), parse_time)
            .with_context(|| format!("--{what}"))
    };
    let billing_period = (
        time(&a.billing_from, "billing-from", end_ms - 7 * DAY)?,
        time(&a.billing_to, "billing-to", end_ms)?,
    );
    let (from, to) = billing_period;
    anyhow::ensure!(
        start_ms <= from && from < to && to <= end_ms && from % 900_000 == 0 && to % 900_000 == 0,
        "the billing period must be whole 15-minute intervals within the simulated days"
    );
    Ok(Study {
        meters: a.meters,
        start_ms,
        days: a.days,
        theft,
        under_reporting,
        billing_period,
        seed: a.seed,
    })
}

fn simulate(a: SimulateArgs) -> anyhow::Result<()> {
    let study = study(&a)?;
    let seen = study.run();
    let meter = |m: usize| format!("{}-m{:04}", a.region, m + 1);
    let ids: Vec<String> = (0..study.meters).map(meter).collect();
    let readings =
        super::simulate::readings_csv(seen.reported.iter().zip(&ids).flat_map(|(series, id)| {
            series.iter().enumerate().map(|(k, &(import, export))| {
                let t = study.start_ms + k as i64 * 900_000;
                (id.as_str(), t, import, export, None)
            })
        }));
    let mut feeder = String::from("region,interval_start,feeder_wh\n");
    for (t, wh) in &seen.feeder {
        feeder += &format!("{},{t},{wh}\n", a.region);
    }
    let (from, to) = study.billing_period;
    let mut billing = String::from("meter,region,period_start,period_end,import_wh,export_wh\n");
    for (m, (import, export)) in seen.billed.iter().enumerate() {
        billing += &format!("{},{},{from},{to},{import},{export}\n", meter(m), a.region);
    }
    std::fs::create_dir_all(&a.out_dir)
        .with_context(|| format!("creating {}", a.out_dir.display()))?;
    write_private(&a.out_dir.join("readings.csv"), &readings)?;
    std::fs::write(a.out_dir.join("feeder.csv"), feeder).context("writing feeder.csv")?;
    write_private(&a.out_dir.join("billing.csv"), &billing)?;
    println!(
        "{}: {} meters, {} days from {}",
        a.region,
        study.meters,
        study.days,
        format_time(study.start_ms)
    );
    if let Some(t) = study.theft {
        println!(
            "theft: {} W for {} h from {}, on the feeder only",
            t.watts,
            t.hours,
            format_time(t.start_ms)
        );
    }
    if let Some((m, share)) = study.under_reporting {
        println!(
            "{} reports {:.0} % of its import into the protocol and is billed in full",
            meter(m),
            share * 100.0
        );
    }
    println!(
        "wrote readings.csv ({} meters x {} intervals), feeder.csv, billing.csv ({} .. {}) to {}",
        study.meters,
        study.days * 96,
        format_time(from),
        format_time(to),
        a.out_dir.display()
    );
    Ok(())
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
