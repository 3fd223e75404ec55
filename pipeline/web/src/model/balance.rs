//! The operator page's grid balance: each region's `grid_balance` rows over its last 7 days, the
//! runs of consecutive alert intervals in them, and which runs are still open.
//!
//! Open follows the balance job's own rule ([`zeal_grid::detect`]): an alert closes once
//! [`Detector::QUIET`] judged intervals in a row after it are quiet (`z <= k`, the job's
//! [`Detector::K`]); until then its span may still grow.

use super::{known, num, parse_time_secs};
use std::collections::BTreeMap;
use zeal_grid::detect::Detector;

/// The length of a `grid_balance` interval (s).
pub const BALANCE_INTERVAL: i64 = 900;
/// How far back from a region's newest row its balance is shown (s).
pub const BALANCE_WINDOW: i64 = 7 * 86_400;

/// One region and interval of `grid_balance`.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceRow {
    pub region: String,
    /// Interval start, epoch seconds.
    pub start: i64,
    /// Energy neither the private total nor the expected losses explain, Wh.
    pub unexplained_wh: f64,
    pub z: f64,
    /// Part of an alert.
    pub alert: bool,
}

impl BalanceRow {
    /// From `region, interval_start, unexplained_wh, z, alert`.
    pub fn from_cells(c: &[String]) -> Option<BalanceRow> {
        Some(BalanceRow {
            region: c.first()?.clone(),
            start: parse_time_secs(c.get(1)?)?,
            unexplained_wh: num(c.get(2)?).and_then(known)?,
            z: num(c.get(3)?)?,
            alert: c.get(4)?.parse::<u8>().ok()? > 0,
        })
    }
}

/// Consecutive alert intervals of one region (each 15 minutes after the one before).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRun {
    pub region: String,
    /// Start of the first interval, epoch seconds.
    pub first: i64,
    /// Start of the last interval, epoch seconds.
    pub last: i64,
    pub intervals: u32,
    /// Unexplained energy summed over the run, Wh.
    pub unexplained_wh: f64,
    pub max_z: f64,
    /// Fewer than [`Detector::QUIET`] quiet intervals in a row followed it.
    pub open: bool,
}

impl AlertRun {
    /// The end of its last interval, epoch seconds.
    pub fn end(&self) -> i64 {
        self.last + BALANCE_INTERVAL
    }
}

/// The runs of consecutive alert intervals in `rows`, by region, then time. Regions are kept
/// apart; a missing or non-alert interval ends a run. A run is open unless
/// [`Detector::QUIET`] of its region's rows in a row after it are quiet (`z <= k`).
pub fn alert_runs(rows: &[BalanceRow]) -> Vec<AlertRun> {
    let mut rows: Vec<&BalanceRow> = rows.iter().collect();
    rows.sort_by(|a, b| (&a.region, a.start).cmp(&(&b.region, b.start)));
    let mut runs = runs_of(rows.iter().copied().filter(|r| r.alert));
    for run in &mut runs {
        let mut quiet = 0;
        for r in rows
            .iter()
            .filter(|r| r.region == run.region && r.start > run.last)
        {
            quiet = if r.z > Detector::K { 0 } else { quiet + 1 };
            if quiet >= Detector::QUIET {
                run.open = false;
                break;
            }
        }
    }
    runs
}

/// Consecutive alert rows (sorted by region and time) joined into runs, all open.
fn runs_of<'a>(alerts: impl Iterator<Item = &'a BalanceRow>) -> Vec<AlertRun> {
    let mut runs: Vec<AlertRun> = Vec::new();
    for r in alerts {
        match runs.last_mut() {
            Some(run) if run.region == r.region && r.start == run.last + BALANCE_INTERVAL => {
                run.last = r.start;
                run.intervals += 1;
                run.unexplained_wh += r.unexplained_wh;
                run.max_z = run.max_z.max(r.z);
            }
            // The same interval twice (the store deduplicates; never counted twice).
            Some(run) if run.region == r.region && r.start == run.last => {}
            _ => runs.push(AlertRun {
                region: r.region.clone(),
                first: r.start,
                last: r.start,
                intervals: 1,
                unexplained_wh: r.unexplained_wh,
                max_z: r.z,
                open: true,
            }),
        }
    }
    runs
}

/// One region's balance over its last 7 days.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionBalance {
    pub region: String,
    /// Start of the region's newest interval, epoch seconds.
    pub newest: i64,
    /// Its intervals within [`BALANCE_WINDOW`] of `newest`, oldest first.
    pub rows: Vec<BalanceRow>,
    /// Their alert runs, oldest first.
    pub runs: Vec<AlertRun>,
}

impl RegionBalance {
    /// The span shown: 7 days up to the end of the newest interval (epoch seconds).
    pub fn window(&self) -> (i64, i64) {
        let end = self.newest + BALANCE_INTERVAL;
        (end - BALANCE_WINDOW, end)
    }

    /// Unexplained energy per hour: (hour start, Wh summed, whether any interval is an alert),
    /// oldest first; hours without rows are left out.
    pub fn hourly(&self) -> Vec<(i64, f64, bool)> {
        let mut out: Vec<(i64, f64, bool)> = Vec::new();
        for r in &self.rows {
            let hour = r.start.div_euclid(3_600) * 3_600;
            match out.last_mut() {
                Some((h, wh, alert)) if *h == hour => {
                    *wh += r.unexplained_wh;
                    *alert |= r.alert;
                }
                _ => out.push((hour, r.unexplained_wh, r.alert)),
            }
        }
        out
    }
}

/// The open runs of `regions`, newest first (by end, then region).
pub fn open_alerts(regions: &[RegionBalance]) -> Vec<AlertRun> {
    let mut open: Vec<AlertRun> = regions
        .iter()
        .flat_map(|b| b.runs.iter().filter(|r| r.open).cloned())
        .collect();
    open.sort_by(|a, b| b.end().cmp(&a.end()).then_with(|| a.region.cmp(&b.region)));
    open
}

/// The operator page's grid balance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Balance {
    /// Per region, by name.
    pub regions: Vec<RegionBalance>,
    /// The open alert runs, newest first.
    pub open: Vec<AlertRun>,
}

impl Balance {
    /// From `grid_balance` rows: each region's last 7 days relative to its newest row, its alert
    /// runs and the open ones.
    pub fn build(rows: Vec<BalanceRow>) -> Balance {
        let mut by_region: BTreeMap<String, Vec<BalanceRow>> = BTreeMap::new();
        for r in rows {
            by_region.entry(r.region.clone()).or_default().push(r);
        }
        let regions: Vec<RegionBalance> = by_region
            .into_iter()
            .filter_map(|(region, mut rows)| {
                let newest = rows.iter().map(|r| r.start).max()?;
                rows.retain(|r| r.start > newest - BALANCE_WINDOW);
                rows.sort_by_key(|r| r.start);
                rows.dedup_by_key(|r| r.start);
                let runs = alert_runs(&rows);
                Some(RegionBalance {
                    region,
                    newest,
                    rows,
                    runs,
                })
            })
            .collect();
        let open = open_alerts(&regions);
        Balance { regions, open }
    }

    /// From the cells of `region, interval_start, unexplained_wh, z, alert` rows.
    pub fn from_cells(cells: &[Vec<String>]) -> Balance {
        Balance::build(
            cells
                .iter()
                .filter_map(|c| BalanceRow::from_cells(c))
                .collect(),
        )
    }
}
