//! How well the detector does on a region's load: false alarms per week with technical losses
//! only, and for thefts of given sizes the share detected and the delay from the theft's start
//! to the alarm. The loss model is fitted on the weeks before each tested week (a rolling fit,
//! as an operator would run it).

use crate::Interval;
use crate::detect::{Alert, Detector};
use crate::loss::LossModel;
use crate::sim::{Losses, Rng, Theft, feeder};

const WEEK: usize = 7 * 96;

/// The outcome for one theft size.
#[derive(Debug, Clone, PartialEq)]
pub struct TheftOutcome {
    pub watts: f64,
    /// Weeks with the theft injected.
    pub weeks: usize,
    /// Of those, the ones with an alert overlapping the theft.
    pub detected: usize,
    /// Hours from the theft's start to the alarm, of the detected ones.
    pub delays_h: Vec<f64>,
}

impl TheftOutcome {
    /// The median delay in hours (`None` when nothing was detected).
    pub fn median_delay_h(&self) -> Option<f64> {
        let mut d = self.delays_h.clone();
        d.sort_by(f64::total_cmp);
        d.get(d.len() / 2).copied()
    }
}

/// The evaluation of one region.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Weeks tested.
    pub weeks: usize,
    /// Alerts in those weeks with technical losses only.
    pub false_alarms: Vec<Alert>,
    pub thefts: Vec<TheftOutcome>,
}

/// Evaluates a region whose net load is `totals` (15-minute intervals, whole weeks): the first
/// `history_weeks` only train; every later week is tested clean and with each theft of
/// `hours` hours at a random time of the week (seeded).
pub fn evaluate(
    totals: &[(i64, f64)],
    history_weeks: usize,
    theft_watts: &[f64],
    hours: f64,
    allowance: f64,
    seed: u64,
) -> Evaluation {
    let weeks = totals.len() / WEEK;
    let mean = totals.iter().map(|t| t.1).sum::<f64>() / totals.len().max(1) as f64;
    let losses = Losses::typical(mean);
    let mut rng = Rng::new(seed);
    let mut out = Evaluation {
        weeks: 0,
        false_alarms: Vec::new(),
        thefts: theft_watts
            .iter()
            .map(|&watts| TheftOutcome {
                watts,
                weeks: 0,
                detected: 0,
                delays_h: Vec::new(),
            })
            .collect(),
    };
    // The feeder as it would have read without theft (history and the clean runs).
    let clean: Vec<Interval> = feeder(totals, &losses, None, &mut rng);
    for w in history_weeks..weeks {
        let history = &clean[(w - history_weeks) * WEEK..w * WEEK];
        let Ok(model) = LossModel::fit(history) else {
            continue;
        };
        let detector = Detector {
            allowance,
            ..Detector::new(model)
        };
        let week = &totals[w * WEEK..(w + 1) * WEEK];
        out.weeks += 1;
        out.false_alarms
            .extend(detector.scan(&clean[w * WEEK..(w + 1) * WEEK]));
        for outcome in &mut out.thefts {
            let latest = WEEK as f64 - hours * 4.0;
            let start_ms = week[(rng.uniform() * latest.max(1.0)) as usize].0;
            let theft = Theft {
                start_ms,
                hours,
                watts: outcome.watts,
            };
            let stolen = feeder(week, &losses, Some(&theft), &mut rng);
            let end_ms = start_ms + (hours * 3_600_000.0) as i64;
            outcome.weeks += 1;
            let hit = detector
                .scan(&stolen)
                .into_iter()
                .find(|a| a.last_ms >= start_ms && a.first_ms < end_ms);
            if let Some(a) = hit {
                outcome.detected += 1;
                outcome
                    .delays_h
                    .push((a.detected_ms + 900_000 - start_ms) as f64 / 3_600_000.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::synthetic_totals;

    #[test]
    fn bigger_thefts_are_found_more_often_and_sooner() {
        let mut rng = Rng::new(5);
        let totals = synthetic_totals(100, 0, 7 * 6, &mut rng);
        let e = evaluate(&totals, 2, &[150.0, 2_000.0], 6.0, 0.0, 9);
        assert_eq!(e.weeks, 4);
        assert!(e.false_alarms.is_empty(), "{e:?}");
        let (small, big) = (&e.thefts[0], &e.thefts[1]);
        assert_eq!(big.detected, 4, "{e:?}");
        assert!(small.detected < big.detected, "{e:?}");
        assert!(big.median_delay_h().unwrap() <= 1.0, "{e:?}");
    }
}
