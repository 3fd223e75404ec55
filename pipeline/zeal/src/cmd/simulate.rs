//! `zeal simulate`: simulated households' 15-minute readings as the CSV `zeal gateway
//! --readings` takes (what a deployment without real meters feeds its gateways).

use super::common::{parse_time, write_private};
use anyhow::bail;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct SimulateArgs {
    /// Regions, comma-separated; meter ids are `<region>-m0001`, ...
    #[arg(long, value_delimiter = ',', required = true)]
    regions: Vec<String>,
    /// Households per region.
    #[arg(long, default_value_t = 10)]
    meters_per_region: usize,
    /// First interval (2020-07-01T10:00Z or ms; 15-minute aligned).
    #[arg(long)]
    from: String,
    /// End of the readings (exclusive).
    #[arg(long)]
    to: String,
    /// Seed of the households (the same seed gives the same households and readings).
    #[arg(long, default_value_t = 2020)]
    seed: u64,
    /// Write here instead of standard output (created with mode 0600: readings are private).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: SimulateArgs) -> anyhow::Result<()> {
    let (from, to) = (parse_time(&a.from)?, parse_time(&a.to)?);
    if from % 900_000 != 0 || to <= from {
        bail!("--from must be 15-minute aligned and before --to");
    }
    if a.meters_per_region == 0 {
        bail!("--meters-per-region must be at least 1");
    }
    let fleet = zeal_meters::sim::fleet(&a.regions, a.meters_per_region, a.seed);
    let csv = readings_csv(fleet.iter().flat_map(|m| {
        m.readings(from, to).into_iter().map(|r| {
            let (id, t) = (m.meter_id.as_str(), r.interval_start);
            (id, t, r.import_wh, r.export_wh, r.generation_wh)
        })
    }));
    match &a.out {
        None => std::io::stdout().write_all(csv.as_bytes())?,
        Some(path) => write_private(path, &csv)?,
    }
    Ok(())
}

/// The readings CSV `zeal gateway --readings` takes, from `(meter, interval_start ms, import
/// Wh, export Wh, generation Wh)`.
pub fn readings_csv<'a, E: std::fmt::Display>(
    rows: impl Iterator<Item = (&'a str, i64, E, E, Option<E>)>,
) -> String {
    let mut csv = String::from("meter,interval_start,import_wh,export_wh,generation_wh\n");
    for (meter, t, import, export, generation) in rows {
        let generation = generation.map(|g| g.to_string()).unwrap_or_default();
        csv += &format!("{meter},{t},{import},{export},{generation}\n");
    }
    csv
}
