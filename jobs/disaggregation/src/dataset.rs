//! Labelled data from the household simulator (optionally randomised, [`crate::augment`]):
//! features of each 15-minute interval with every
//! predicted appliance's true energy, and which households own which appliance (metrics are
//! computed on owners only, as NILM evaluations do).

use crate::DisaggError;
use crate::appliances::PREDICTED;
use crate::augment::{Randomisation, WeekVariant, augment};
use crate::features::{DIM, Day, PER_DAY, series_features};
use zeal_meters::household::{Appliance, Household};

/// Which households and days to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Simulator seed (weather and households).
    pub seed: u64,
    /// Household indices; archetypes are drawn per household unless `archetypes` is set.
    pub households: std::ops::Range<u64>,
    /// When set, households cycle through these archetypes (balanced evaluation sets).
    pub archetypes: Option<Vec<zeal_meters::household::Archetype>>,
    /// First day of each simulated week (days since 1970-01-01).
    pub weeks: Vec<i64>,
    /// Domain randomisation of every day ([`crate::augment`]) with this seed; `None` for the
    /// simulator's days as they are (evaluation).
    pub augment: Option<(Randomisation, u64)>,
}

/// Labelled intervals.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Row-major features, `DIM` per interval.
    pub x: Vec<f32>,
    /// Row-major true energy (Wh) of each predicted appliance.
    pub y: Vec<f32>,
    /// The household (position in `households`) of each interval.
    pub household: Vec<u32>,
    /// Metered import (Wh) of each interval (what CO explains).
    pub import_wh: Vec<f32>,
    /// Load of everything not predicted (Wh), for CO's "rest" device.
    pub rest_wh: Vec<f32>,
    /// Household ids and, per predicted appliance, whether each owns it.
    pub households: Vec<(String, [bool; PREDICTED.len()])>,
}

impl Dataset {
    /// Intervals.
    pub fn len(&self) -> usize {
        self.household.len()
    }

    /// Whether there are no intervals.
    pub fn is_empty(&self) -> bool {
        self.household.is_empty()
    }

    /// Features of interval `i`.
    pub fn features(&self, i: usize) -> &[f32] {
        &self.x[i * DIM..(i + 1) * DIM]
    }

    /// True energy of predicted appliance `a` (index into PREDICTED) at interval `i`.
    pub fn truth(&self, i: usize, a: usize) -> f32 {
        self.y[i * PREDICTED.len() + a]
    }

    /// Each whole day's first interval and feature rows, in order (both generators build
    /// days of 96 consecutive intervals).
    pub fn days(&self) -> impl Iterator<Item = (usize, Vec<[f32; DIM]>)> + '_ {
        (0..self.len() / PER_DAY).map(|d| {
            let start = d * PER_DAY;
            let rows = (start..start + PER_DAY)
                .map(|i| self.features(i).try_into().expect("DIM features"))
                .collect();
            (start, rows)
        })
    }

    /// Whether the household of interval `i` owns predicted appliance `a`.
    pub fn owns(&self, i: usize, a: usize) -> bool {
        self.households[self.household[i] as usize].1[a]
    }
}

/// Simulates the selection and extracts features; `progress(done, total)` after each household.
pub fn build(
    sel: &Selection,
    mut progress: impl FnMut(usize, usize),
) -> Result<Dataset, DisaggError> {
    let mut ds = Dataset::default();
    let total = (sel.households.end - sel.households.start) as usize;
    for (n, index) in sel.households.clone().enumerate() {
        let hh = match &sel.archetypes {
            Some(list) if !list.is_empty() => {
                Household::with_archetype(sel.seed, index, list[n % list.len()])
            }
            _ => Household::new(sel.seed, index),
        };
        let owns = PREDICTED.map(|a| hh.has(a));
        let h = ds.households.len() as u32;
        ds.households.push((hh.id.clone(), owns));
        for &start in &sel.weeks {
            // A day either side, so every day of the week has both neighbours.
            let traces: Vec<_> = hh.simulate(start - 1, 9).collect();
            let variant = sel
                .augment
                .map(|(what, seed)| WeekVariant::new(what, seed, index, start));
            // Per day: the meter's day, and per interval the truth and everything else.
            let mut days = Vec::with_capacity(traces.len());
            let mut labels: Vec<Vec<([f64; PREDICTED.len()], f64)>> = Vec::new();
            for trace in &traces {
                match &variant {
                    Some(v) => {
                        let a = augment(trace, v);
                        days.push(Day {
                            day: trace.day,
                            import_wh: a.import_wh,
                            export_wh: a.export_wh,
                        });
                        labels.push(a.appliance_wh.iter().copied().zip(a.rest_wh).collect());
                    }
                    None => {
                        days.push(Day::from_trace(trace));
                        labels.push(
                            trace
                                .intervals
                                .iter()
                                .map(|iv| {
                                    let wh = PREDICTED.map(|a| iv.appliance_wh[a.index()]);
                                    (wh, (iv.load_wh() - wh.iter().sum::<f64>()).max(0.0))
                                })
                                .collect(),
                        );
                    }
                }
            }
            let feats = series_features(&days)?;
            for k in 1..8 {
                for (t, (wh, rest)) in labels[k].iter().enumerate() {
                    ds.x.extend_from_slice(&feats[k * PER_DAY + t]);
                    ds.y.extend(wh.iter().map(|v| *v as f32));
                    ds.household.push(h);
                    ds.import_wh.push(days[k].import_wh[t] as f32);
                    ds.rest_wh.push(*rest as f32);
                }
            }
        }
        progress(n + 1, total);
    }
    Ok(ds)
}

/// `count` weeks spread evenly over the year starting at `first_day`, offset by `shift` days.
pub fn spread_weeks(first_day: i64, count: usize, shift: i64) -> Vec<i64> {
    let gap = 365 / count.max(1) as i64;
    (0..count as i64)
        .map(|k| first_day + shift + k * gap)
        .collect()
}

/// Ground truth of one appliance over a dataset's intervals (for tests and reports).
pub fn appliance_index(a: Appliance) -> Option<usize> {
    PREDICTED.iter().position(|p| *p == a)
}
