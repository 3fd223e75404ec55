//! A region's balance followed as its data arrives (`zeal jobs balance --follow`): the utility's
//! feeder readings and billing registers, and the published private totals, folded into one
//! ledger per region; [`Ledger::judge`] turns what is new into `grid_balance` rows and alert
//! events, the same for the same input in any arrival order.
//!
//! The loss model of a region is fitted on its first `history_days` days that have both a
//! feeder reading and a total (the utility starts the job on a period it trusts); every later
//! interval is judged with it. A FEEDER alert is raised when the CUSUM first crosses its
//! threshold (its identity is that interval) and closed, with its final span, once the run has
//! ended; it is open in between. A billing period is reconciled once every 15-minute interval of
//! it has a published total and the totals' contributors are exactly the meters billed (else
//! the two sums are not over the same meters and nothing is concluded).
//!
//! Following is incremental: a region is judged again only when something of it changed, its
//! loss model is kept from the first judgement that had intervals to judge, and [`Ledger::wanted`]
//! names only the intervals still waiting for a total, so a follower reads from the store only
//! what it lacks rather than every total of the span at every turn.

use crate::Interval;
use crate::billing::{Tolerance, reconcile};
use crate::detect::{Alert, Detector};
use crate::loss::LossModel;
use std::collections::{BTreeMap, BTreeSet};
use zeal_schemas::grid::{GridAlert, GridAlertKind, GridAlertState};

const DAY_MS: i64 = 86_400_000;
const INTERVAL_MS: i64 = 900_000;

/// A region's published totals of one 15-minute interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub import_wh: i64,
    pub export_wh: i64,
    /// Meters in the total (the round's final set).
    pub contributors: u64,
}

/// A second, different value for what the ledger already holds: kept out (the first stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} of {region} at {at} ms already is {kept}, not {offered}")]
pub struct Conflict {
    pub what: &'static str,
    pub region: String,
    pub at: i64,
    pub kept: String,
    pub offered: String,
}

/// One judged interval (a `grid_balance` row).
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    pub region: String,
    pub interval: Interval,
    pub expected_loss_wh: f64,
    pub unexplained_wh: f64,
    pub z: f64,
    pub alert: bool,
}

/// What one [`Ledger::judge`] found: rows new or changed since the last call, new alert
/// events, the open FEEDER alerts per region, and why a region or period is not judged yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judgement {
    pub rows: Vec<Judged>,
    pub events: Vec<GridAlert>,
    pub open: BTreeMap<String, usize>,
    pub waiting: Vec<(String, String)>,
    /// Regions judged again by this call (those with new input since the last).
    pub rejudged: usize,
}

#[derive(Debug, Default)]
struct Book {
    feeder: BTreeMap<i64, i64>,
    totals: BTreeMap<i64, Published>,
    /// (period start, end) -> meter -> (import, export) register deltas.
    billing: BTreeMap<(i64, i64), BTreeMap<String, (i64, i64)>>,
    /// FEEDER alerts by detection interval: whether their CLOSED event went out.
    alerts: BTreeMap<i64, bool>,
    /// Billing periods and channels flagged.
    flagged: BTreeSet<(i64, i64, &'static str)>,
    /// Rows written: interval -> its alert mark.
    written: BTreeMap<i64, bool>,
    /// Intervals with a feeder reading or in a billing period that have no total yet.
    lacking: BTreeSet<i64>,
    /// Input arrived since the last judgement.
    changed: bool,
    /// The loss model and the first interval it judges, fixed at the first judgement that had
    /// intervals after the history.
    model: Option<(i64, LossModel)>,
    /// The last judgement's open FEEDER alerts (`None`: no model yet) and waiting reasons.
    open: Option<usize>,
    waiting: Vec<(String, String)>,
}

/// Every region's balance.
#[derive(Debug)]
pub struct Ledger {
    history_days: u32,
    tolerance: Tolerance,
    regions: BTreeMap<String, Book>,
}

/// Inserts `value` unless `key` holds another one: then the conflict, named by
/// `(what, region, at)`.
/// `Ok(true)` when it was new.
fn keep<K: Ord, V: PartialEq + std::fmt::Debug>(
    map: &mut BTreeMap<K, V>,
    key: K,
    value: V,
    (what, region, at): (&'static str, &str, i64),
) -> Result<bool, Conflict> {
    match map.get(&key) {
        Some(kept) if *kept == value => Ok(false),
        Some(kept) => Err(Conflict {
            what,
            region: region.to_string(),
            at,
            kept: format!("{kept:?}"),
            offered: format!("{value:?}"),
        }),
        None => {
            map.insert(key, value);
            Ok(true)
        }
    }
}

impl Ledger {
    /// A ledger fitting each region's losses on its first `history_days` days.
    pub fn new(history_days: u32, tolerance: Tolerance) -> Self {
        Ledger {
            history_days: history_days.max(1),
            tolerance,
            regions: BTreeMap::new(),
        }
    }

    fn book(&mut self, region: &str) -> &mut Book {
        self.regions.entry(region.to_string()).or_default()
    }

    /// The feeder's net energy into `region` over the interval starting at `start_ms`.
    pub fn feeder(&mut self, region: &str, start_ms: i64, wh: i64) -> Result<(), Conflict> {
        let book = self.book(region);
        if keep(
            &mut book.feeder,
            start_ms,
            wh,
            ("the feeder reading", region, start_ms),
        )? {
            book.changed = true;
            if !book.totals.contains_key(&start_ms) {
                book.lacking.insert(start_ms);
            }
        }
        Ok(())
    }

    /// The published totals of `region` for the interval starting at `start_ms`.
    pub fn total(&mut self, region: &str, start_ms: i64, p: Published) -> Result<(), Conflict> {
        let book = self.book(region);
        let what = ("the published total", region, start_ms);
        if keep(&mut book.totals, start_ms, p, what)? {
            book.changed = true;
            book.lacking.remove(&start_ms);
        }
        Ok(())
    }

    /// One meter's billing-register deltas over `[period.0, period.1)`.
    pub fn billed(
        &mut self,
        region: &str,
        meter: &str,
        period: (i64, i64),
        import_wh: i64,
        export_wh: i64,
    ) -> Result<(), Conflict> {
        let book = self.book(region);
        let meters = book.billing.entry(period).or_default();
        let what = ("a meter's billing registers", region, period.0);
        if keep(meters, meter.to_string(), (import_wh, export_wh), what)? {
            book.changed = true;
            let starts = (period.0..period.1).step_by(INTERVAL_MS as usize);
            let lacking: Vec<i64> = starts.filter(|t| !book.totals.contains_key(t)).collect();
            book.lacking.extend(lacking);
        }
        Ok(())
    }

    /// The interval starts (ms) the ledger still needs totals for, as at most
    /// [`Ledger::MAX_RANGES`] ranges: runs of lacking intervals closer than a day are joined.
    pub fn wanted(&self) -> Vec<std::ops::Range<i64>> {
        let lacking: BTreeSet<i64> = self
            .regions
            .values()
            .flat_map(|b| b.lacking.iter().copied())
            .collect();
        let mut ranges: Vec<std::ops::Range<i64>> = Vec::new();
        for t in lacking {
            match ranges.last_mut() {
                Some(r) if t - r.end < DAY_MS => r.end = t + INTERVAL_MS,
                _ => ranges.push(t..t + INTERVAL_MS),
            }
        }
        if ranges.len() > Self::MAX_RANGES {
            let span = ranges[0].start..ranges[ranges.len() - 1].end;
            ranges = vec![span];
        }
        ranges
    }

    /// At most this many ranges from [`Ledger::wanted`] (one read each).
    pub const MAX_RANGES: usize = 16;

    /// Judges what is new: rows for judged intervals not yet written (or whose alert mark
    /// changed), FEEDER alerts raised or closed, billing periods flagged. Only regions with
    /// input since the last call are judged again; the open alerts and waiting reasons of the
    /// others are the ones they last had.
    pub fn judge(&mut self) -> Judgement {
        let mut out = Judgement::default();
        let (history_days, tolerance) = (self.history_days, self.tolerance);
        for (region, book) in &mut self.regions {
            if book.changed {
                book.changed = false;
                out.rejudged += 1;
                let mut mine = Judgement::default();
                book.judge_feeder(region, history_days, &mut mine);
                book.judge_billing(region, &tolerance, &mut mine);
                book.open = mine.open.remove(region);
                book.waiting = mine.waiting;
                out.rows.append(&mut mine.rows);
                out.events.append(&mut mine.events);
            }
            if let Some(open) = book.open {
                out.open.insert(region.clone(), open);
            }
            out.waiting.extend(book.waiting.iter().cloned());
        }
        out
    }
}

impl Book {
    fn judge_feeder(&mut self, region: &str, history_days: u32, out: &mut Judgement) {
        let joined: Vec<Interval> = self
            .feeder
            .iter()
            .filter_map(|(&start_ms, &feeder)| {
                let p = self.totals.get(&start_ms)?;
                Some(Interval {
                    start_ms,
                    total_wh: (p.import_wh - p.export_wh) as f64,
                    feeder_wh: feeder as f64,
                })
            })
            .collect();
        let Some(first) = joined.first() else {
            return;
        };
        let (judged_from, model) = match self.model {
            Some(fixed) => fixed,
            None => {
                let judged_from =
                    first.start_ms.div_euclid(DAY_MS) * DAY_MS + i64::from(history_days) * DAY_MS;
                let split = joined.partition_point(|i| i.start_ms < judged_from);
                let (history, judged) = joined.split_at(split);
                match LossModel::fit(history) {
                    Ok(m) if !judged.is_empty() => *self.model.insert((judged_from, m)),
                    Ok(_) => {
                        let why = format!("learning its losses until {judged_from} ms");
                        return out.waiting.push((region.to_string(), why));
                    }
                    Err(e) => {
                        let why = format!("no loss model: {e}");
                        return out.waiting.push((region.to_string(), why));
                    }
                }
            }
        };
        let judged = &joined[joined.partition_point(|i| i.start_ms < judged_from)..];
        let detector = Detector::new(model);
        let found = detector.scan(judged);
        out.open
            .insert(region.to_string(), found.iter().filter(|a| a.open).count());
        for a in &found {
            let closed = self.alerts.get(&a.detected_ms).copied();
            if closed.is_none() {
                out.events
                    .push(feeder_event(region, a, GridAlertState::Raised));
            }
            if !a.open && closed != Some(true) {
                out.events
                    .push(feeder_event(region, a, GridAlertState::Closed));
            }
            self.alerts.insert(a.detected_ms, !a.open);
        }
        for i in judged {
            let alert = found
                .iter()
                .any(|a| (a.first_ms..=a.last_ms).contains(&i.start_ms));
            if self.written.get(&i.start_ms) == Some(&alert) {
                continue;
            }
            self.written.insert(i.start_ms, alert);
            let (unexplained_wh, sd) = detector.residual(i);
            out.rows.push(Judged {
                region: region.to_string(),
                interval: *i,
                expected_loss_wh: model.expected(i.total_wh),
                unexplained_wh,
                z: unexplained_wh / sd,
                alert,
            });
        }
    }

    fn judge_billing(&mut self, region: &str, tolerance: &Tolerance, out: &mut Judgement) {
        for (&(start, end), meters) in &self.billing {
            let wait = |why: String| (region.to_string(), format!("billing {start}..{end}: {why}"));
            let (mut import, mut export, mut missing) = (0i64, 0i64, 0usize);
            let mut contributors = BTreeSet::new();
            for t in (start..end).step_by(INTERVAL_MS as usize) {
                match self.totals.get(&t) {
                    Some(p) => {
                        import += p.import_wh;
                        export += p.export_wh;
                        contributors.insert(p.contributors);
                    }
                    None => missing += 1,
                }
            }
            if missing > 0 {
                out.waiting
                    .push(wait(format!("{missing} intervals without a total")));
                continue;
            }
            let billed = meters.len() as u64;
            if contributors.iter().any(|&c| c != billed) {
                out.waiting.push(wait(format!(
                    "{billed} meters billed, totals over {contributors:?} meters"
                )));
                continue;
            }
            let billed_import: i64 = meters.values().map(|m| m.0).sum();
            let billed_export: i64 = meters.values().map(|m| m.1).sum();
            // Too little import, or too much export, published: the shortfall.
            let channels = [
                (
                    "import_wh",
                    reconcile(billed_import as f64, import as f64, billed, tolerance),
                ),
                (
                    "export_wh",
                    reconcile(export as f64, billed_export as f64, billed, tolerance),
                ),
            ];
            for (channel, r) in channels {
                if r.flagged && self.flagged.insert((start, end, channel)) {
                    out.events.push(GridAlert {
                        region: region.to_string(),
                        kind: GridAlertKind::Billing,
                        state: GridAlertState::Closed,
                        first_interval: start,
                        end,
                        intervals: ((end - start) / INTERVAL_MS) as i32,
                        unexplained_wh: r.shortfall_wh,
                        strength: r.relative,
                        detected_at: end,
                        detail: format!(
                            "{channel}: the region's {billed} meters were billed {:.0} Wh more \
                             than they contributed to the private totals ({:.2} %)",
                            r.shortfall_wh,
                            100.0 * r.relative
                        ),
                    });
                }
            }
        }
    }
}

fn feeder_event(region: &str, a: &Alert, state: GridAlertState) -> GridAlert {
    GridAlert {
        region: region.to_string(),
        kind: GridAlertKind::Feeder,
        state,
        first_interval: a.first_ms,
        end: a.last_ms + INTERVAL_MS,
        intervals: a.intervals as i32,
        unexplained_wh: a.unexplained_wh,
        strength: a.z,
        detected_at: a.detected_ms,
        detail: format!(
            "{:.0} Wh over {} intervals that the losses and the meters' accuracy do not explain",
            a.unexplained_wh, a.intervals
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Rng, Theft, followed_region, synthetic_totals};

    const T0: i64 = 18_444 * DAY_MS; // 2020-07-01

    /// Three weeks of a 50-home region: totals and feeder readings (theft in the third week).
    fn region(seed: u64, theft: Option<&Theft>) -> Vec<(i64, Published, i64)> {
        followed_region(50, T0, 21, theft, &mut Rng::new(seed))
    }

    fn theft() -> Theft {
        Theft {
            start_ms: T0 + 16 * DAY_MS + 20 * 3_600_000,
            hours: 6.0,
            watts: 2_000.0,
        }
    }

    fn feed(l: &mut Ledger, name: &str, data: &[(i64, Published, i64)]) {
        for &(t, p, f) in data {
            l.total(name, t, p).unwrap();
            l.feeder(name, t, f).unwrap();
        }
    }

    #[test]
    fn a_theft_is_raised_while_it_lasts_and_closed_with_its_hours() {
        let data = region(3, Some(&theft()));
        let mut l = Ledger::new(14, Tolerance::default());
        // Up to two hours into the theft.
        let cut = data.partition_point(|d| d.0 < theft().start_ms + 2 * 3_600_000);
        feed(&mut l, "NL-B", &data[..cut]);
        let first = l.judge();
        assert_eq!(first.events.len(), 1, "{:?}", first.events);
        assert_eq!(first.events[0].state, GridAlertState::Raised);
        assert_eq!(first.open["NL-B"], 1);
        assert!(first.rows.iter().any(|r| r.alert));
        feed(&mut l, "NL-B", &data[cut..]);
        let then = l.judge();
        assert_eq!(
            then.events.len(),
            1,
            "raised once, then closed: {:?}",
            then.events
        );
        let closed = &then.events[0];
        assert_eq!(
            (closed.state, closed.detected_at),
            (GridAlertState::Closed, first.events[0].detected_at)
        );
        assert!(
            (closed.first_interval - theft().start_ms).abs() <= INTERVAL_MS,
            "{closed:?}"
        );
        assert!(
            (closed.end - (theft().start_ms + 6 * 3_600_000)).abs() <= INTERVAL_MS,
            "{closed:?}"
        );
        assert_eq!(then.open["NL-B"], 0);
        // Only the third week is judged (two weeks learn the losses); every interval once.
        let rows = first.rows.len()
            + then
                .rows
                .iter()
                .filter(|r| r.interval.start_ms >= data[cut].0)
                .count();
        assert_eq!(rows, 7 * 96);
        assert!(
            l.judge().events.is_empty() && l.judge().rows.is_empty(),
            "nothing new"
        );
    }

    #[test]
    fn losses_alone_raise_nothing_and_arrival_order_does_not_matter() {
        let quiet = region(5, None);
        let stolen = region(6, Some(&theft()));
        let judge = |order: &dyn Fn(&mut Ledger)| {
            let mut l = Ledger::new(14, Tolerance::default());
            order(&mut l);
            l.judge()
        };
        let forward = judge(&|l| {
            feed(l, "NL-A", &quiet);
            feed(l, "NL-B", &stolen);
        });
        let backward = judge(&|l| {
            let rev = |d: &[(i64, Published, i64)]| d.iter().rev().copied().collect::<Vec<_>>();
            for (t, p, f) in rev(&stolen) {
                l.feeder("NL-B", t, f).unwrap();
                l.total("NL-B", t, p).unwrap();
            }
            feed(l, "NL-A", &rev(&quiet));
        });
        assert_eq!(forward, backward);
        assert!(
            forward.events.iter().all(|e| e.region == "NL-B"),
            "{:?}",
            forward.events
        );
        assert_eq!(
            forward.events.len(),
            2,
            "raised and closed: {:?}",
            forward.events
        );
    }

    /// Followed a day at a time, judging after each, the ledger ends where one judgement of
    /// everything ends: the same last row per interval, the same alerts closed.
    #[test]
    fn following_day_by_day_concludes_what_one_judgement_does() {
        let stolen = region(6, Some(&theft()));
        let mut once = Ledger::new(14, Tolerance::default());
        feed(&mut once, "NL-B", &stolen);
        let batch = once.judge();
        let mut follow = Ledger::new(14, Tolerance::default());
        let (mut rows, mut events) = (BTreeMap::new(), Vec::new());
        for day in stolen.chunks(96) {
            feed(&mut follow, "NL-B", day);
            let j = follow.judge();
            assert_eq!(j.rejudged, 1);
            rows.extend(j.rows.into_iter().map(|r| (r.interval.start_ms, r)));
            events.extend(j.events);
        }
        let batch_rows: BTreeMap<i64, Judged> = batch
            .rows
            .into_iter()
            .map(|r| (r.interval.start_ms, r))
            .collect();
        assert_eq!(rows.len(), 7 * 96);
        assert_eq!(rows, batch_rows);
        // A RAISED event carries the run as far as it was seen then; its identity and the
        // CLOSED event's final span are the batch's.
        let identity = |e: &GridAlert| (e.state, e.first_interval, e.detected_at);
        assert_eq!(
            events.iter().map(identity).collect::<Vec<_>>(),
            batch.events.iter().map(identity).collect::<Vec<_>>()
        );
        let closed = |e: &&GridAlert| e.state == GridAlertState::Closed;
        assert!(events.iter().any(|e| closed(&e)));
        assert!(
            events
                .iter()
                .filter(closed)
                .eq(batch.events.iter().filter(closed))
        );
        assert_eq!(follow.judge().open, batch.open);
    }

    /// A turn with nothing new judges no region again and still reports every region's open
    /// alerts and waiting reasons; only intervals without a total are wanted from the store.
    #[test]
    fn only_changed_regions_are_judged_and_only_lacking_totals_are_wanted() {
        let quiet = region(5, None);
        let stolen = region(6, Some(&theft()));
        let mut l = Ledger::new(14, Tolerance::default());
        feed(&mut l, "NL-A", &quiet[..20 * 96]);
        feed(&mut l, "NL-B", &stolen);
        l.billed("NL-A", "m-1", (T0, T0 + DAY_MS), 10, 0).unwrap();
        assert!(l.wanted().is_empty(), "every interval has its total");
        let first = l.judge();
        assert_eq!(first.rejudged, 2);
        let again = l.judge();
        assert_eq!(again.rejudged, 0);
        assert!(again.rows.is_empty() && again.events.is_empty());
        assert_eq!((&again.open, &again.waiting), (&first.open, &first.waiting));

        // Day 21 of NL-A: its feeder readings come before the totals.
        let day21 = &quiet[20 * 96..];
        for &(t, _, f) in day21 {
            l.feeder("NL-A", t, f).unwrap();
        }
        assert_eq!(l.wanted(), vec![day21[0].0..day21[95].0 + INTERVAL_MS]);
        let waiting = l.judge();
        assert_eq!((waiting.rejudged, waiting.rows.len()), (1, 0));
        for &(t, p, _) in day21 {
            l.total("NL-A", t, p).unwrap();
        }
        assert!(l.wanted().is_empty());
        let judged = l.judge();
        assert_eq!(judged.rejudged, 1);
        assert_eq!(judged.rows.len(), 96);
        assert!(judged.rows.iter().all(|r| r.region == "NL-A"));
        // The same total again is not news.
        l.total("NL-A", day21[0].0, day21[0].1).unwrap();
        assert_eq!(l.judge().rejudged, 0);

        // A billing period lacks totals, and so does a feeder reading ten days on: two ranges.
        let later = T0 + 31 * DAY_MS;
        l.billed("NL-A", "m-1", (T0 + 21 * DAY_MS, T0 + 22 * DAY_MS), 10, 0)
            .unwrap();
        l.feeder("NL-B", later, 100).unwrap();
        assert_eq!(
            l.wanted(),
            vec![
                T0 + 21 * DAY_MS..T0 + 22 * DAY_MS,
                later..later + INTERVAL_MS
            ]
        );
        // Scattered gaps beyond MAX_RANGES are read as one span.
        for k in 0..Ledger::MAX_RANGES as i64 {
            l.feeder("NL-C", later + (2 + 2 * k) * DAY_MS, 1).unwrap();
        }
        let last = later + (2 * Ledger::MAX_RANGES as i64) * DAY_MS;
        assert_eq!(l.wanted(), vec![T0 + 21 * DAY_MS..last + INTERVAL_MS]);
    }

    /// The loss model is fixed once judging has begun: history arriving later (an older day)
    /// does not move it, nor the rows already judged; a restart refits on everything.
    #[test]
    fn the_loss_model_is_fixed_once_judging_begins() {
        let quiet = region(5, None);
        let mut l = Ledger::new(14, Tolerance::default());
        feed(&mut l, "NL-A", &quiet[96..]);
        l.judge();
        let fixed = l.regions["NL-A"].model.expect("a model");
        feed(&mut l, "NL-A", &quiet[..96]);
        let j = l.judge();
        assert_eq!(j.rejudged, 1);
        assert!(
            j.rows.is_empty(),
            "nothing judged again: {:?}",
            j.rows.first()
        );
        assert_eq!(l.regions["NL-A"].model, Some(fixed));
        let mut restarted = Ledger::new(14, Tolerance::default());
        feed(&mut restarted, "NL-A", &quiet);
        restarted.judge();
        assert_ne!(restarted.regions["NL-A"].model, Some(fixed));
    }

    /// A second feeder reading for an interval (a replay with another value, a forged one that
    /// passed a key check) does not replace the first.
    #[test]
    fn a_second_different_value_is_a_conflict_and_the_first_stays() {
        let mut l = Ledger::new(14, Tolerance::default());
        l.feeder("NL-A", T0, 500).unwrap();
        l.feeder("NL-A", T0, 500).unwrap();
        let e = l.feeder("NL-A", T0, 100).unwrap_err();
        assert_eq!((e.kept.as_str(), e.offered.as_str()), ("500", "100"));
        assert_eq!(l.regions["NL-A"].feeder[&T0], 500);
        l.billed("NL-A", "m-1", (T0, T0 + DAY_MS), 10, 0).unwrap();
        assert!(l.billed("NL-A", "m-1", (T0, T0 + DAY_MS), 5, 0).is_err());
    }

    /// 50 meters billed for a week; one of them reports 70 % of its import into the protocol.
    #[test]
    fn a_meter_under_reporting_into_the_protocol_flags_its_region_once() {
        let mut rng = Rng::new(9);
        let week = (T0, T0 + 7 * DAY_MS);
        let meters: Vec<Vec<(i64, f64)>> = (0..50)
            .map(|_| synthetic_totals(1, T0, 7, &mut rng))
            .collect();
        let split = |wh: f64| {
            (
                (wh.max(0.0)).round() as i64,
                ((-wh).max(0.0)).round() as i64,
            )
        };
        let mut honest = Ledger::new(14, Tolerance::default());
        let mut lying = Ledger::new(14, Tolerance::default());
        for k in 0..7 * 96 {
            let (mut hi, mut he, mut li) = (0, 0, 0);
            for (m, series) in meters.iter().enumerate() {
                let (i, e) = split(series[k].1);
                hi += i;
                he += e;
                li += if m == 17 { i * 7 / 10 } else { i };
            }
            let t = T0 + k as i64 * INTERVAL_MS;
            honest
                .total(
                    "NL-C",
                    t,
                    Published {
                        import_wh: hi,
                        export_wh: he,
                        contributors: 50,
                    },
                )
                .unwrap();
            lying
                .total(
                    "NL-C",
                    t,
                    Published {
                        import_wh: li,
                        export_wh: he,
                        contributors: 50,
                    },
                )
                .unwrap();
        }
        for (m, series) in meters.iter().enumerate() {
            let (i, e) = series.iter().fold((0, 0), |(a, b), x| {
                let (i, e) = split(x.1);
                (a + i, b + e)
            });
            for l in [&mut honest, &mut lying] {
                l.billed("NL-C", &format!("m-{m}"), week, i, e).unwrap();
            }
        }
        assert!(honest.judge().events.is_empty());
        let flagged = lying.judge().events;
        assert_eq!(flagged.len(), 1, "{flagged:?}");
        let f = &flagged[0];
        assert_eq!(
            (f.kind, f.region.as_str(), f.first_interval, f.end),
            (GridAlertKind::Billing, "NL-C", week.0, week.1)
        );
        assert!(f.detail.starts_with("import_wh"), "{f:?}");
        assert!(lying.judge().events.is_empty(), "flagged once");
        // One more meter billed than the totals hold: the sums are not comparable, no flag.
        let mut extra = Ledger::new(14, Tolerance::default());
        for k in 0..7 * 96 {
            let t = T0 + k as i64 * INTERVAL_MS;
            extra
                .total(
                    "NL-C",
                    t,
                    Published {
                        import_wh: 0,
                        export_wh: 0,
                        contributors: 49,
                    },
                )
                .unwrap();
        }
        extra.billed("NL-C", "m-1", week, 1_000_000, 0).unwrap();
        let j = extra.judge();
        assert!(
            j.events.is_empty() && j.waiting.iter().any(|w| w.1.contains("1 meters billed")),
            "{j:?}"
        );
    }
}
