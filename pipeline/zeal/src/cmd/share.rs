//! `zeal share`: the gateway's sharing of its households' 15-minute readings, as their consent
//! on `zeal.consent.v1` allows (README "Consent"). It reads the readings CSV as the meters write
//! it (`--follow`: new lines as they are appended), and before judging each batch it applies the
//! consent log up to its end, so a decision acknowledged before a reading arrived governs it.
//! A reading is shared, signed with the meter's identity key, only while its household's
//! consent is on and only for intervals from the grant's decision on (or every interval, for a
//! grant that includes the history); nothing else leaves. It is the only way a reading leaves a
//! gateway. Withheld readings are kept (in memory): a later grant that includes the history
//! shares them at the next reading; a restarted `zeal share` reads the CSV from its start, so
//! under such a grant it shares the history again (the jobs count a reading once).
//!
//! `zeal share --pairing-code METER` prints the codes the household's next grant needs, from now
//! on and with the history (what a real gateway shows on its display), and exits.

use super::common::{KafkaArgs, public_keys};
use super::v2::{CsvReading, identity, parse_reading_line};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeal_connectors::kafka::KeyedProducer;
use zeal_protocol::consent::{Decision, FROM_THE_START};
use zeal_schemas::consent::{SCOPE_READINGS, SCOPE_READINGS_HISTORY};
use zeal_services::consent::ConsentLog;
use zeal_services::metrics::{Metrics, Role};

#[derive(Args)]
pub struct ShareArgs {
    /// The households' region (the signed readings name it).
    #[arg(long)]
    region: String,
    /// The gateway's state directory: each meter's identity key (`zeal keys`).
    #[arg(long)]
    state_dir: PathBuf,
    /// The readings CSV (`meter,interval_start,import_wh,export_wh[,generation_wh]`).
    #[arg(long, required_unless_present = "pairing_code")]
    readings: Option<PathBuf>,
    /// The meters this gateway serves (comma-separated); by default the readings CSV's.
    #[arg(long, value_delimiter = ',')]
    meters: Vec<String>,
    /// The consent apps trusted to sign decisions: Ed25519 public keys (64 hex digits or a file
    /// holding them, as `zeal serve --consent-key` writes `<key>.pub`). Repeatable.
    #[arg(long, required = true)]
    consent_app: Vec<String>,
    /// Keep reading lines appended to the CSV until Ctrl-C (without it: stop at its end).
    #[arg(long)]
    follow: bool,
    /// Print the pairing codes this meter's household needs for its next grant (from now on;
    /// with the history), and exit.
    #[arg(long, value_name = "METER")]
    pairing_code: Option<String>,
    #[command(flatten)]
    kafka: KafkaArgs,
}

/// Reads complete lines appended to a file since the last call.
struct Follower {
    path: PathBuf,
    offset: u64,
    line: usize,
}

impl Follower {
    fn new_lines(&mut self) -> anyhow::Result<Vec<(usize, String)>> {
        let mut f = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        f.seek(std::io::SeekFrom::Start(self.offset))?;
        let mut reader = std::io::BufReader::new(f);
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line)?;
            // A line still being written (no newline yet) is read next time.
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            self.offset += n as u64;
            self.line += 1;
            out.push((self.line, line));
        }
        Ok(out)
    }
}

fn meters_of(path: &Path) -> anyhow::Result<BTreeSet<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        if let Some((m, ..)) = parse_reading_line(line, 900)
            .with_context(|| format!("{}:{}", path.display(), n + 1))?
        {
            out.insert(m);
        }
    }
    Ok(out)
}

pub fn run(a: ShareArgs) -> anyhow::Result<()> {
    let apps = public_keys("consent-app", &a.consent_app)?;
    let meters: BTreeSet<String> = match (&a.pairing_code, a.meters.is_empty(), &a.readings) {
        (Some(m), _, _) => BTreeSet::from([m.clone()]),
        (None, false, _) => a.meters.iter().cloned().collect(),
        (None, true, Some(csv)) => meters_of(csv)?,
        (None, true, None) => bail!("--readings or --meters names the meters"),
    };
    let mut keys = BTreeMap::new();
    for m in &meters {
        let path = a.state_dir.join(format!("{m}.key"));
        if !path.exists() {
            bail!(
                "{} has no identity key for {m}: create it with `zeal keys --state-dir {} --meters {m}`",
                a.state_dir.display(),
                a.state_dir.display()
            );
        }
        keys.insert(m.clone(), identity(&a.state_dir, m)?.0);
    }
    let kafka = a.kafka.config("zeal-share");
    let topics = a.kafka.topics();
    super::runtime()?.block_on(async {
        let metrics = Metrics::new(Role::Gateway);
        let producer = KeyedProducer::new(&kafka)?;
        let mut log = ConsentLog::new(&kafka, &topics.consent, keys.clone(), apps)?;
        log.catch_up(&producer, &topics.dlq, &metrics).await?;
        if let Some(m) = &a.pairing_code {
            // What a gateway's display shows: a code per choice, each good for one grant.
            println!(
                "{} (the code for {m}'s next consent to share its readings from now on)",
                log.pairing_code(m, SCOPE_READINGS).expect("served")
            );
            println!(
                "{} (the code to share them and the readings this gateway already holds: the \
                 join form's \"also share\" box, or `zeal consent grant --history`)",
                log.pairing_code(m, SCOPE_READINGS_HISTORY).expect("served")
            );
            return Ok(());
        }
        let csv = a.readings.clone().expect("required without --pairing-code");
        let stop = super::common::shutdown_on_signals();
        let mut follower = Follower {
            path: csv.clone(),
            offset: 0,
            line: 0,
        };
        // Readings withheld so far, kept: a later grant that includes the history shares them.
        let mut held: Vec<CsvReading> = Vec::new();
        let mut shared = 0u64;
        loop {
            let lines = follower.new_lines()?;
            if lines.is_empty() {
                if !a.follow || *stop.borrow() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            // Every decision up to now governs the readings that arrived before now.
            let applied = log.catch_up(&producer, &topics.dlq, &metrics).await?;
            for (h, d) in &applied.decisions {
                let what = match d {
                    Decision::Granted {
                        from_ms: FROM_THE_START,
                    } => "sharing on, the readings held here included".to_string(),
                    Decision::Granted { from_ms } => {
                        format!("sharing on from {}", super::common::format_time(*from_ms))
                    }
                    Decision::Withdrawn => "sharing off".to_string(),
                };
                super::say::say!("share: {h}: {what}");
            }
            for (h, why) in &applied.refused {
                super::say::say!("share: {h}: consent refused: {why}");
            }
            let history: BTreeSet<&str> = applied
                .decisions
                .iter()
                .filter(|(_, d)| {
                    matches!(
                        d,
                        Decision::Granted {
                            from_ms: FROM_THE_START
                        }
                    )
                })
                .map(|(h, _)| h.as_str())
                .collect();
            // Only after a history grant: the held readings are not walked at every new line.
            let mut readings: Vec<CsvReading> = Vec::new();
            if !history.is_empty() {
                let kept;
                (readings, kept) = held.drain(..).partition(|r| history.contains(r.0.as_str()));
                held = kept;
            }
            for (n, line) in &lines {
                let at = || format!("{}:{n}", csv.display());
                if let Some(r) = parse_reading_line(line, 900).with_context(at)? {
                    if !keys.contains_key(&r.0) {
                        bail!("{}: {} is not a meter this gateway serves", at(), r.0);
                    }
                    readings.push(r);
                }
            }
            // What consent allows, per meter, posted together (each meter's in flight at once).
            let mut allowed: BTreeMap<String, Vec<zeal_services::v2::readings::Reading>> =
                BTreeMap::new();
            for r in readings {
                let (m, t, import_wh, export_wh, generation_wh) = &r;
                let reading = zeal_services::v2::readings::Reading {
                    interval_start: t * 1000,
                    import_wh: *import_wh,
                    export_wh: *export_wh,
                    generation_wh: *generation_wh,
                };
                if log
                    .consent(m)
                    .is_some_and(|c| c.shares(reading.interval_start))
                {
                    allowed.entry(m.clone()).or_default().push(reading);
                } else {
                    held.push(r);
                }
            }
            let withheld = held.len();
            for (m, batch) in &allowed {
                shared += zeal_services::v2::readings::publish(
                    &producer,
                    &topics.readings,
                    m,
                    &a.region,
                    &keys[m],
                    batch,
                    &metrics,
                )
                .await? as u64;
            }
            println!("share: {shared} readings shared, {withheld} withheld (no consent)");
        }
        println!(
            "share: done: {shared} readings shared, {} withheld (no consent)",
            held.len()
        );
        anyhow::Ok(())
    })
}
