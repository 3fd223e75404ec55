//! DSMR smart-meter exports: cumulative registers (kWh, received = imported, delivered =
//! exported, tariffs T1 and T2) read every ~15 minutes, turned into per-interval deltas.
//!
//! Decisions (documented in README):
//! - Timestamps are Europe/Amsterdam local time (what DSMR P1 loggers write) and are converted
//!   to UTC; the repeated autumn hour takes its first, summer-time, occurrence.
//! - The register is interpolated linearly at every interval boundary from the readings around
//!   it. A reading a few seconds after a boundary therefore counts as that boundary, and a gap
//!   spreads its energy evenly over the missing intervals, which are flagged `estimated`.
//! - A register that decreases is a reset (meter replaced or reprogrammed): the energy between
//!   the last reading before and the first after is unknown and counted as zero, and the reset
//!   is reported. Energy is never invented.
//! - A malformed row is an error naming its line, unless `skip_malformed` is set, in which case
//!   it is skipped and counted. Repeated timestamps keep the first row and are counted.
//!
//! Totals reconcile: the sum of interval deltas equals the register difference between the
//! first and last boundary, minus what resets made unknown.

use crate::IntervalReading;
use std::io::Read;
use zeal_civil::{amsterdam_local_to_utc, days_from_civil};

/// Errors of the DSMR import.
#[derive(Debug, thiserror::Error)]
pub enum DsmrError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("line {line}: {reason}")]
    BadRow { line: u64, reason: String },
    #[error("missing column {0:?} (expected the DSMR export header)")]
    MissingColumn(&'static str),
    #[error("no readings")]
    Empty,
    #[error(
        "readings {days} days apart (unix {from} to {to}): a gap of more than {MAX_GAP_DAYS} days \
         is not spread over intervals; split the export there"
    )]
    Gap { from: i64, to: i64, days: i64 },
}

/// The longest gap between two readings whose energy is spread over the intervals between
/// them. Longer ones are refused: a file of three rows a century apart would otherwise become
/// millions of estimated intervals (found by `fuzz/fuzz_targets/dsmr_import.rs`).
pub const MAX_GAP_DAYS: i64 = 31;

/// Cumulative registers at one instant, in Wh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterReading {
    pub utc_secs: i64,
    pub received_wh: u64,
    pub delivered_wh: u64,
}

/// How to read a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Skip and count malformed rows instead of failing.
    pub skip_malformed: bool,
}

/// What reading a file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub rows: u64,
    pub skipped_malformed: u64,
    pub duplicate_timestamps: u64,
}

fn parse_local(ts: &str) -> Option<i64> {
    // "2020-07-06 11:30:01"
    let ts = ts.trim();
    let (date, time) = ts.split_once(' ')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|x| x.parse::<i64>());
    let (h, mi, s) = (
        t.next()?.ok()?,
        t.next()?.ok()?,
        t.next().unwrap_or(Ok(0)).ok()?,
    );
    if !(1..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    let local = days_from_civil(y, m as u32, day as u32) * 86_400 + h * 3_600 + mi * 60 + s;
    Some(amsterdam_local_to_utc(local))
}

/// The largest register value read (10^12 Wh): a DSMR register shows at most six digits of
/// kWh, so anything near this is garbage, and two of them still add without overflow.
const MAX_REGISTER_WH: f64 = 1e12;

fn kwh_to_wh(s: &str) -> Option<u64> {
    let v: f64 = s.trim().parse().ok()?;
    let wh = (v * 1000.0).round();
    (wh.is_finite() && (0.0..=MAX_REGISTER_WH).contains(&wh)).then_some(wh as u64)
}

/// Reads a DSMR export (header with `timestamp`, `electricity_received_tariff1/2`,
/// `electricity_delivered_tariff1/2`), sorted by time.
pub fn read_registers(
    input: impl Read,
    options: ReadOptions,
) -> Result<(Vec<RegisterReading>, ReadStats), DsmrError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = rdr.headers()?.clone();
    let col = |name: &'static str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or(DsmrError::MissingColumn(name))
    };
    let (ts, r1, r2, d1, d2) = (
        col("timestamp")?,
        col("electricity_received_tariff1")?,
        col("electricity_received_tariff2")?,
        col("electricity_delivered_tariff1")?,
        col("electricity_delivered_tariff2")?,
    );
    let mut stats = ReadStats::default();
    let mut out: Vec<RegisterReading> = Vec::new();
    for row in rdr.records() {
        let row = row?;
        stats.rows += 1;
        let line = row.position().map_or(0, |p| p.line());
        let parsed = (|| {
            let t = parse_local(row.get(ts)?)?;
            let rec = kwh_to_wh(row.get(r1)?)? + kwh_to_wh(row.get(r2)?)?;
            let del = kwh_to_wh(row.get(d1)?)? + kwh_to_wh(row.get(d2)?)?;
            Some(RegisterReading {
                utc_secs: t,
                received_wh: rec,
                delivered_wh: del,
            })
        })();
        match parsed {
            Some(r) => out.push(r),
            None if options.skip_malformed => stats.skipped_malformed += 1,
            None => {
                return Err(DsmrError::BadRow {
                    line,
                    reason: "unreadable timestamp or register value".into(),
                });
            }
        }
    }
    out.sort_by_key(|r| r.utc_secs);
    let before = out.len();
    out.dedup_by_key(|r| r.utc_secs);
    stats.duplicate_timestamps = (before - out.len()) as u64;
    Ok((out, stats))
}

/// Per-interval energy from register readings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalReport {
    pub readings: Vec<IntervalReading>,
    /// Intervals whose energy was spread over a gap between readings.
    pub estimated: Vec<i64>,
    /// UTC seconds of the first reading after each register reset.
    pub resets: Vec<i64>,
    /// Gaps longer than one interval between consecutive readings.
    pub gaps: u64,
}

/// Makes the registers continuous across resets: after a decrease, an offset keeps the series
/// flat over the unknown segment.
fn continuous(readings: &[RegisterReading]) -> (Vec<(i64, f64, f64)>, Vec<i64>) {
    let mut out = Vec::with_capacity(readings.len());
    let mut resets = Vec::new();
    let (mut off_r, mut off_d) = (0f64, 0f64);
    let mut prev: Option<&RegisterReading> = None;
    for r in readings {
        if let Some(p) = prev
            && (r.received_wh < p.received_wh || r.delivered_wh < p.delivered_wh)
        {
            // Unknown energy across the reset: keep the continuous series flat.
            let (last_r, last_d) = out
                .last()
                .map(|x: &(i64, f64, f64)| (x.1, x.2))
                .unwrap_or((0.0, 0.0));
            off_r = last_r - r.received_wh as f64;
            off_d = last_d - r.delivered_wh as f64;
            resets.push(r.utc_secs);
        }
        out.push((
            r.utc_secs,
            r.received_wh as f64 + off_r,
            r.delivered_wh as f64 + off_d,
        ));
        prev = Some(r);
    }
    (out, resets)
}

/// Interval deltas on boundaries of `interval_seconds` (UTC-aligned) between the first and last
/// reading. Readings up to a fifth of an interval after a boundary count as read *at* it.
pub fn to_intervals(
    readings: &[RegisterReading],
    interval_seconds: i64,
) -> Result<IntervalReport, DsmrError> {
    let step = interval_seconds;
    let tolerance = step / 5;
    // Snap readings taken just after a boundary onto it; keep the first per boundary.
    let mut snapped: Vec<RegisterReading> = readings
        .iter()
        .map(|r| {
            let boundary = r.utc_secs.div_euclid(step) * step;
            let t = if r.utc_secs - boundary <= tolerance {
                boundary
            } else {
                r.utc_secs
            };
            RegisterReading { utc_secs: t, ..*r }
        })
        .collect();
    snapped.dedup_by_key(|r| r.utc_secs);
    if snapped.len() < 2 {
        return Err(DsmrError::Empty);
    }
    if let Some(w) = snapped
        .windows(2)
        .find(|w| w[1].utc_secs - w[0].utc_secs > MAX_GAP_DAYS * 86_400)
    {
        let (from, to) = (w[0].utc_secs, w[1].utc_secs);
        let days = (to - from) / 86_400;
        return Err(DsmrError::Gap { from, to, days });
    }
    let (series, resets) = continuous(&snapped);
    let first = series[0].0;
    let last = series[series.len() - 1].0;
    let on_boundary: std::collections::BTreeSet<i64> = series.iter().map(|s| s.0).collect();
    // Cumulative values at time t, interpolated between the readings around it.
    let value_at = |t: i64, j: &mut usize| -> (f64, f64) {
        while *j + 1 < series.len() && series[*j + 1].0 <= t {
            *j += 1;
        }
        let (t0, r0, d0) = series[*j];
        if t <= t0 || *j + 1 >= series.len() {
            return (r0, d0);
        }
        let (t1, r1, d1) = series[*j + 1];
        let f = (t - t0) as f64 / (t1 - t0) as f64;
        (r0 + (r1 - r0) * f, d0 + (d1 - d0) * f)
    };
    let mut report = IntervalReport {
        resets,
        gaps: series.windows(2).filter(|w| w[1].0 - w[0].0 > step).count() as u64,
        ..Default::default()
    };
    let mut b = first.div_euclid(step) * step;
    if b < first {
        b += step;
    }
    let mut j = 0usize;
    // Rounded cumulative values at each boundary: per-interval rounding never drifts.
    let (r0, d0) = value_at(b, &mut j);
    let (mut prev_r, mut prev_d) = (r0.round(), d0.round());
    while b + step <= last {
        let (r, d) = value_at(b + step, &mut j);
        let (r, d) = (r.round(), d.round());
        report.readings.push(IntervalReading {
            interval_start: b * 1000,
            import_wh: (r - prev_r).max(0.0) as u64,
            export_wh: (d - prev_d).max(0.0) as u64,
            generation_wh: None,
        });
        if !on_boundary.contains(&b) || !on_boundary.contains(&(b + step)) {
            report.estimated.push(b * 1000);
        }
        (prev_r, prev_d) = (r, d);
        b += step;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "\"id\",\"meter\",\"timestamp\",\"electricity_received_tariff1\",\"electricity_received_tariff2\",\"electricity_delivered_tariff1\",\"electricity_delivered_tariff2\",\"electricity_tariff_indicator\",\"device_type\"\n";

    fn row(i: u32, ts: &str, r1: f64, r2: f64, d1: f64, d2: f64) -> String {
        format!(
            "\"{i}\",\" KA6U0\",\"{ts}\",\"{r1:.3}\",\"{r2:.3}\",\"{d1:.3}\",\"{d2:.3}\",\"2\",\"\"\n"
        )
    }

    fn csv(rows: &[String]) -> String {
        let mut s = HEADER.to_string();
        rows.iter().for_each(|r| s.push_str(r));
        s
    }

    /// Found by `fuzz/fuzz_targets/dsmr_import.rs`: a register of 10^70 kWh saturated to
    /// u64::MAX and the tariffs' sum overflowed (a panic in debug builds, a wrapped register in
    /// release); a year of 10^15 overflowed the seconds. Both rows are malformed now.
    #[test]
    fn absurd_registers_and_years_are_malformed_rows() {
        for bad in [
            "\"3\",\" X1\",\"2021-03-28 03:15:00\",\"100.5\",\"2066666666666666666666666666666666666666666666666666666666666666666666666.010\",\"10\",\"20.25\",\"1\",\"\"\n".to_string(),
            row(4, "999999999999999-01-01 00:00:00", 1.0, 1.0, 1.0, 1.0),
            row(5, "2020-07-06 -1:30:00", 1.0, 1.0, 1.0, 1.0),
        ] {
            let text = csv(&[row(1, "2020-07-06 11:30:01", 1.0, 1.0, 1.0, 1.0), bad]);
            let err = read_registers(text.as_bytes(), ReadOptions::default()).unwrap_err();
            assert!(matches!(err, DsmrError::BadRow { line: 3, .. }), "{err:?}");
            let (regs, stats) = read_registers(
                text.as_bytes(),
                ReadOptions {
                    skip_malformed: true,
                },
            )
            .unwrap();
            assert_eq!((regs.len(), stats.skipped_malformed), (1, 1));
        }
    }

    /// Found by `fuzz/fuzz_targets/dsmr_import.rs`: three rows, one dated 2201, became
    /// 6.3 million estimated intervals (80 MB; year 9999 would be gigabytes). A gap of more
    /// than 31 days is refused with where it is; 31 days is still spread.
    #[test]
    fn a_gap_of_more_than_a_month_is_refused_not_spread() {
        // Winter time throughout (CET): local midnight is 23:00 UTC the day before.
        let read = |to: &str| {
            let text = csv(&[
                row(1, "2021-01-01 00:00:00", 1.0, 1.0, 1.0, 1.0),
                row(2, to, 2.0, 2.0, 2.0, 2.0),
            ]);
            let (regs, _) = read_registers(text.as_bytes(), ReadOptions::default()).unwrap();
            to_intervals(&regs, 900).map(|r| r.readings.len())
        };
        let err = read("2201-03-28 01:45:00").unwrap_err();
        assert!(
            matches!(err, DsmrError::Gap { days, .. } if days > 65_000),
            "{err}"
        );
        let err = read("2021-02-01 00:15:00").unwrap_err();
        assert!(matches!(err, DsmrError::Gap { days: 31, .. }), "{err}");
        assert_eq!(read("2021-02-01 00:00:00").unwrap(), 31 * 96);
    }

    #[test]
    fn regular_readings_become_interval_deltas() {
        // Summer: local 11:30:01 = 09:30:01 UTC; readings a few seconds after each boundary.
        let text = csv(&[
            row(1, "2020-07-06 11:30:01", 100.000, 50.000, 10.000, 20.000),
            row(2, "2020-07-06 11:45:05", 100.000, 50.200, 10.000, 20.000),
            row(3, "2020-07-06 12:00:03", 100.000, 50.500, 10.000, 20.100),
        ]);
        let (regs, stats) = read_registers(text.as_bytes(), ReadOptions::default()).unwrap();
        assert_eq!(stats.rows, 3);
        let rep = to_intervals(&regs, 900).unwrap();
        assert_eq!(rep.readings.len(), 2);
        let base = days_from_civil(2020, 7, 6) * 86_400 + 9 * 3600 + 1800;
        assert_eq!(rep.readings[0].interval_start, base * 1000);
        let import: u64 = rep.readings.iter().map(|r| r.import_wh).sum();
        let export: u64 = rep.readings.iter().map(|r| r.export_wh).sum();
        assert_eq!(
            (import, export),
            (500, 100),
            "totals reconcile with the registers"
        );
        assert!(rep.estimated.is_empty() && rep.resets.is_empty() && rep.gaps == 0);
    }

    #[test]
    fn a_gap_is_spread_evenly_and_flagged() {
        let text = csv(&[
            row(1, "2020-07-06 10:00:00", 0.0, 0.0, 0.0, 0.0),
            row(2, "2020-07-06 11:00:00", 0.0, 1.200, 0.0, 0.0), // three readings missing
        ]);
        let (regs, _) = read_registers(text.as_bytes(), ReadOptions::default()).unwrap();
        let rep = to_intervals(&regs, 900).unwrap();
        assert_eq!(
            rep.readings.iter().map(|r| r.import_wh).collect::<Vec<_>>(),
            vec![300; 4]
        );
        assert_eq!(rep.estimated.len(), 4);
        assert_eq!(rep.gaps, 1);
    }

    #[test]
    fn a_register_reset_invents_no_energy() {
        let text = csv(&[
            row(1, "2020-07-06 10:00:00", 500.0, 0.0, 0.0, 0.0),
            row(2, "2020-07-06 10:15:00", 500.300, 0.0, 0.0, 0.0),
            row(3, "2020-07-06 10:30:00", 0.050, 0.0, 0.0, 0.0), // new meter
            row(4, "2020-07-06 10:45:00", 0.250, 0.0, 0.0, 0.0),
        ]);
        let (regs, _) = read_registers(text.as_bytes(), ReadOptions::default()).unwrap();
        let rep = to_intervals(&regs, 900).unwrap();
        let imports: Vec<u64> = rep.readings.iter().map(|r| r.import_wh).collect();
        assert_eq!(imports, vec![300, 0, 200]);
        assert_eq!(rep.resets.len(), 1);
    }

    #[test]
    fn malformed_rows_fail_with_their_line_or_are_counted() {
        let text = csv(&[
            row(1, "2020-07-06 10:00:00", 1.0, 0.0, 0.0, 0.0),
            "\"2\",\"x\",\"yesterday\",\"1\",\"1\",\"1\",\"1\",\"2\",\"\"\n".to_string(),
            row(3, "2020-07-06 10:15:00", 1.1, 0.0, 0.0, 0.0),
            row(3, "2020-07-06 10:15:00", 1.1, 0.0, 0.0, 0.0),
        ]);
        match read_registers(text.as_bytes(), ReadOptions::default()) {
            Err(DsmrError::BadRow { line: 3, .. }) => {}
            other => panic!("expected a bad row on line 3, got {other:?}"),
        }
        let (regs, stats) = read_registers(
            text.as_bytes(),
            ReadOptions {
                skip_malformed: true,
            },
        )
        .unwrap();
        assert_eq!(
            (stats.skipped_malformed, stats.duplicate_timestamps),
            (1, 1)
        );
        assert_eq!(regs.len(), 2);
        assert!(matches!(
            read_registers("a,b\n1,2\n".as_bytes(), ReadOptions::default()),
            Err(DsmrError::MissingColumn("timestamp"))
        ));
    }

    #[test]
    fn the_real_export_if_present() {
        // Optional: the shared Dutch prosumer sample (not in the repository).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/metermind/electricity_15min.csv");
        let Ok(file) = std::fs::File::open(&path) else {
            eprintln!("skipped: {} not present", path.display());
            return;
        };
        let (regs, stats) = read_registers(
            file,
            ReadOptions {
                skip_malformed: true,
            },
        )
        .unwrap();
        let rep = to_intervals(&regs, 900).unwrap();
        let import: u64 = rep.readings.iter().map(|r| r.import_wh).sum();
        let export: u64 = rep.readings.iter().map(|r| r.export_wh).sum();
        let first = regs.first().unwrap();
        let last = regs.last().unwrap();
        eprintln!(
            "real export: {} rows, {} intervals, import {} kWh, export {} kWh, {} gaps, {} resets, {} estimated, {:?}",
            stats.rows,
            rep.readings.len(),
            import / 1000,
            export / 1000,
            rep.gaps,
            rep.resets.len(),
            rep.estimated.len(),
            stats
        );
        if rep.resets.is_empty() {
            let reg_import = last.received_wh - first.received_wh;
            assert!(
                import.abs_diff(reg_import) <= 2,
                "{import} vs registers {reg_import}"
            );
        }
        assert!(rep.readings.len() > 5_000);
    }
}
