//! `zeal jobs balance`: each region's verified 15-minute totals (import minus export, from the
//! store) against its feeder meter's readings (a CSV the utility exports), judged by
//! `zeal_grid`: the loss model is fitted on the history before `--from`, the detector scans
//! `[--from, --to)` and prints every alert with its region, hours and energy; every judged
//! interval is written to `grid_balance` (alert intervals marked).
//!
//! `--follow`: the job on the broker instead (`zeal_services::balance`): the utility's signed
//! feeder readings and billing registers from `zeal.feeder.v1` / `zeal.billing.v1` (posted by
//! `zeal grid publish`), each region's losses fitted on its first `--history-days`, alerts as
//! events on `zeal.grid-alerts.v1` and the open alerts as a metric.
//!
//! Feeder CSV: a header `region,interval_start,feeder_wh`, then one line per region and
//! 15-minute interval (`interval_start` as `2020-07-01T10:15Z` or milliseconds).

use super::common::parse_time;
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use zeal_grid::Interval;
use zeal_grid::detect::{Alert, Detector};
use zeal_grid::loss::LossModel;
use zeal_services::balance::{BalanceJob, BalanceSettings};
use zeal_services::metrics::{Metrics, Role};
use zeal_tables::{Destination, GridBalanceRow, ReadTotals};

#[derive(Args)]
pub struct BalanceArgs {
    /// Read the verified totals from this ClickHouse; otherwise the embedded store.
    #[arg(long, env = "ZEAL_CLICKHOUSE_URL")]
    clickhouse: Option<String>,
    /// The embedded store's directory (as written by `zeal demo`).
    #[arg(long, default_value = "zeal-data")]
    data_dir: PathBuf,
    /// The feeder meters' readings (CSV, see above).
    #[arg(long, required_unless_present = "follow", conflicts_with = "follow")]
    feeder: Option<PathBuf>,
    /// Start of the period judged; the loss model learns from `--history-days` before it.
    #[arg(long, required_unless_present = "follow", conflicts_with = "follow")]
    from: Option<String>,
    /// End of the period judged (exclusive).
    #[arg(long, required_unless_present = "follow", conflicts_with = "follow")]
    to: Option<String>,
    /// Days of history the loss model is fitted on.
    #[arg(long, default_value_t = 14)]
    history_days: u32,
    /// Follow the feeder and billing topics instead of reading a CSV (runs until stopped).
    #[arg(long, requires = "metering_key")]
    follow: bool,
    /// `--follow`: the utility's metering public key (64 hex digits, or the `.pub` beside
    /// `zeal grid init`'s key): feeder readings and billing registers verify under it.
    #[arg(long, env = "ZEAL_METERING")]
    metering_key: Option<String>,
    /// `--follow`: judge again (re-reading the totals) every this many milliseconds.
    #[arg(long, default_value_t = 5_000)]
    judge_every_ms: u64,
    /// `--follow`: stop after a last judgement once no input has arrived for this many
    /// milliseconds (replays, tests).
    #[arg(long)]
    idle_exit_ms: Option<u64>,
    #[command(flatten)]
    kafka: super::common::KafkaArgs,
    #[command(flatten)]
    metrics: super::common::MetricsArgs,
}

/// `(region, interval_start_ms) -> feeder_wh` from the CSV text; every error names its line.
pub fn parse_feeder(text: &str) -> anyhow::Result<BTreeMap<(String, i64), f64>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim() == "region,interval_start,feeder_wh" => {}
        Some((_, h)) => {
            bail!("line 1: expected the header region,interval_start,feeder_wh, found {h:?}")
        }
        None => bail!("the feeder file is empty"),
    }
    let mut out = BTreeMap::new();
    for (n, line) in lines {
        let at = || format!("line {}", n + 1);
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let [region, start, wh] = f[..] else {
            bail!("{}: expected 3 fields, found {}", at(), f.len());
        };
        anyhow::ensure!(!region.is_empty(), "{}: empty region", at());
        let start = parse_time(start).with_context(at)?;
        anyhow::ensure!(
            start.rem_euclid(900_000) == 0,
            "{}: {start} is not the start of a 15-minute interval",
            at()
        );
        let wh: f64 = wh
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .with_context(|| format!("{}: feeder_wh {wh:?} is not a number", at()))?;
        if out.insert((region.to_string(), start), wh).is_some() {
            bail!("{}: a second reading for {region} at {start}", at());
        }
    }
    Ok(out)
}

pub fn run(a: BalanceArgs) -> anyhow::Result<()> {
    let (Some(feeder), Some(from_s), Some(to_s)) = (&a.feeder, &a.from, &a.to) else {
        return follow(a);
    };
    let (from, to) = (parse_time(from_s)?, parse_time(to_s)?);
    anyhow::ensure!(to > from, "--to must be after --from");
    let history_from = from - i64::from(a.history_days) * 86_400_000;
    let text =
        std::fs::read_to_string(feeder).with_context(|| format!("reading {}", feeder.display()))?;
    let feeder = parse_feeder(&text).with_context(|| feeder.display().to_string())?;
    super::runtime()?.block_on(async move {
        let store = super::common::store(a.clickhouse.as_deref(), &a.data_dir.join("store")).await?;
        let totals = store.region_totals(Some(history_from..to)).await?;
        // Per region and interval: import minus export, 15-minute rounds only.
        let mut net: BTreeMap<String, BTreeMap<i64, [Option<i64>; 2]>> = BTreeMap::new();
        for t in totals.iter().filter(|t| t.interval_seconds == 900) {
            let k = match t.channel.as_str() {
                "import_wh" => 0,
                "export_wh" => 1,
                _ => continue,
            };
            net.entry(t.region.clone()).or_default().entry(t.interval_start_ms).or_default()[k] =
                Some(t.total);
        }
        let mut alerts = 0;
        for (region, intervals) in &net {
            let joined: Vec<Interval> = intervals
                .iter()
                .filter_map(|(&start_ms, v)| {
                    let total_wh = (v[0]? - v[1]?) as f64;
                    let feeder_wh = *feeder.get(&(region.clone(), start_ms))?;
                    Some(Interval { start_ms, total_wh, feeder_wh })
                })
                .collect();
            let (history, judged): (Vec<Interval>, Vec<Interval>) =
                joined.into_iter().partition(|i| i.start_ms < from);
            let model = match LossModel::fit(&history) {
                Ok(m) => m,
                Err(e) => {
                    println!("{region}: not judged: {e} (history before {from_s})");
                    continue;
                }
            };
            let detector = Detector::new(model);
            let found = detector.scan(&judged);
            let now = (zeal_services::now_ms() / 1000) as u32;
            let rows: Vec<GridBalanceRow> = judged
                .iter()
                .map(|i| balance_row(region, i, &detector, &model, &found, now))
                .collect();
            store.write(&rows).await?;
            println!(
                "{region}: {} intervals judged, losses {:.0} Wh + {:.2e}·net², scatter {:.0} Wh at the mean; {} alert(s)",
                judged.len(),
                model.fixed_wh,
                model.quadratic,
                model.sd(judged.iter().map(|i| i.total_wh).sum::<f64>() / judged.len().max(1) as f64),
                found.len()
            );
            for x in &found {
                alerts += 1;
                println!(
                    "ALERT {region} {} .. {} ({} intervals): {:.0} Wh unexplained, z {:.1}, detected at {}",
                    super::common::format_time(x.first_ms),
                    super::common::format_time(x.last_ms + 900_000),
                    x.intervals,
                    x.unexplained_wh,
                    x.z,
                    super::common::format_time(x.detected_ms)
                );
            }
        }
        println!("{alerts} alert(s) in {} region(s)", net.len());
        anyhow::Ok(())
    })
}

/// `--follow`: the balance job on the broker until stopped (or idle).
fn follow(a: BalanceArgs) -> anyhow::Result<()> {
    let key = a
        .metering_key
        .as_deref()
        .context("--follow needs --metering-key")?;
    let metering_key = super::common::public_key("metering", key)?;
    super::runtime()?.block_on(async move {
        let shutdown = super::common::shutdown_on_signals();
        let metrics = Metrics::new(Role::Balance);
        a.metrics.serve(&metrics, shutdown.clone()).await?;
        let settings = BalanceSettings {
            history_days: a.history_days,
            judge_every: Duration::from_millis(a.judge_every_ms),
            idle_exit: a.idle_exit_ms.map(Duration::from_millis),
            metrics,
            ..a.kafka.deployment("zeal-balance").balance(metering_key)
        };
        let store =
            super::common::store(a.clickhouse.as_deref(), &a.data_dir.join("store")).await?;
        let report = BalanceJob::new(settings, store).run(shutdown).await?;
        for e in &report.alerts {
            println!(
                "ALERT {} {:?} {:?} {} .. {} ({} intervals): {:.0} Wh unexplained, strength {:.3}",
                e.region,
                e.kind,
                e.state,
                super::common::format_time(e.first_interval),
                super::common::format_time(e.end),
                e.intervals,
                e.unexplained_wh,
                e.strength
            );
        }
        for (region, why) in &report.waiting {
            println!("{region}: waiting: {why}");
        }
        println!(
            "feeder readings {}, billing registers {}, rows {}, alert events {}, dead letters {}",
            report.feeder_readings,
            report.billing_registers,
            report.rows,
            report.alerts.len(),
            report.dead_letters
        );
        anyhow::Ok(())
    })
}

/// The `grid_balance` row of one judged interval of `region` (`found`: the region's alerts).
fn balance_row(
    region: &str,
    i: &Interval,
    detector: &Detector,
    model: &LossModel,
    found: &[Alert],
    now: u32,
) -> GridBalanceRow {
    let (unexplained_wh, sd) = detector.residual(i);
    let in_alert = found
        .iter()
        .any(|a| (a.first_ms..=a.last_ms).contains(&i.start_ms));
    GridBalanceRow {
        region: region.to_string(),
        interval_start: (i.start_ms / 1000) as u32,
        total_wh: i.total_wh as i64,
        feeder_wh: i.feeder_wh,
        expected_loss_wh: model.expected(i.total_wh),
        unexplained_wh,
        z: unexplained_wh / sd,
        alert: u8::from(in_alert),
        computed_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeder_csv_errors_name_their_line() {
        let ok = parse_feeder("region,interval_start,feeder_wh\nNL-R01,2020-07-01T00:15Z,812.5\n")
            .unwrap();
        assert_eq!(ok[&("NL-R01".to_string(), 1_593_562_500_000)], 812.5);
        let err = |text: &str| format!("{:#}", parse_feeder(text).unwrap_err());
        assert!(err("").contains("empty"));
        assert!(err("a,b\n").contains("line 1"));
        let head = "region,interval_start,feeder_wh\n";
        assert!(
            err(&format!("{head}NL-R01,2020-07-01T00:10Z,1\n"))
                .contains("line 2: 1593562200000 is not")
        );
        assert!(
            err(&format!("{head}NL-R01,2020-07-01T00:15Z,abc\n")).contains("line 2: feeder_wh")
        );
        assert!(
            err(&format!("{head}NL-R01,2020-07-01T00:15Z\n")).contains("line 2: expected 3 fields")
        );
        assert!(err(&format!("{head}x,0,1\nx,0,2\n")).contains("line 3: a second reading"));
    }
}
