//! Evaluation on households the model never saw: the model, Mean and CO side by side, per
//! appliance, on the owners of each appliance, in two columns — households of the training
//! simulator (another seed, other weeks) and homes of the independent generator
//! ([`crate::crossgen`]) — and whether every claim holds *cross-generator*.
//!
//! Besides the interval metrics, the day as the app shows it: the daily energy's MAE (kWh) and
//! how well the per-day confidence is calibrated (the probability that the appliance ran that
//! day against how often it did: expected calibration error and a reliability table).

use crate::DisaggError;
use crate::appliances::{PREDICTED, claimed};
use crate::baselines::{CoBaseline, MeanBaseline};
use crate::dataset::{Dataset, Selection, spread_weeks};
use crate::features::PER_DAY;
use crate::metrics::{Metrics, Score};
use crate::model::Disaggregator;
use zeal_civil::days_from_civil;
use zeal_meters::household::Archetype;

/// The default test set: another simulator seed, other households (every archetype in turn),
/// other weeks (2021).
pub fn default_test_selection() -> Selection {
    Selection {
        seed: 99,
        households: 10_000..10_060,
        archetypes: Some(Archetype::ALL.to_vec()),
        weeks: spread_weeks(days_from_civil(2021, 1, 4), 6, 3),
        augment: None,
    }
}

/// Confidence at or above which the app shows a day's estimate (below: "not sure").
pub const CONFIDENT: f64 = 0.8;

/// One appliance's scores for the three methods.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplianceRow {
    pub appliance: &'static str,
    pub claimed: bool,
    pub owners: usize,
    pub model: Metrics,
    pub mean: Metrics,
    pub co: Metrics,
    /// MAE of the daily energy (kWh per owner-day), model and Mean, as the job writes it.
    pub daily_mae_kwh: (f64, f64),
    /// The same over the days the model is confident about, and their share of all days.
    pub confident_daily_mae_kwh: f64,
    pub confident_share: f64,
}

impl ApplianceRow {
    /// The claim: better than Mean on MAE and F1 per interval and on the daily energy a
    /// household sees.
    pub fn beats_mean(&self) -> bool {
        self.model.mae < self.mean.mae
            && self.model.f1 > self.mean.f1
            && self.daily_mae_kwh.0 < self.daily_mae_kwh.1
    }
}

/// Reliability of a probability over ten bins of predicted probability.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reliability {
    /// Per bin: how many, the sum of their predictions and how many happened.
    pub bins: Vec<(usize, f64, f64)>,
}

impl Reliability {
    const BINS: usize = 10;

    fn new() -> Self {
        Reliability {
            bins: vec![(0, 0.0, 0.0); Self::BINS],
        }
    }

    fn add(&mut self, p: f64, happened: bool) {
        let b = ((p * Self::BINS as f64) as usize).min(Self::BINS - 1);
        let bin = &mut self.bins[b];
        bin.0 += 1;
        bin.1 += p;
        bin.2 += f64::from(u8::from(happened));
    }

    /// Expected calibration error: the count-weighted mean |mean prediction - frequency|.
    pub fn ece(&self) -> f64 {
        let n: usize = self.bins.iter().map(|b| b.0).sum();
        self.bins
            .iter()
            .filter(|b| b.0 > 0)
            .map(|b| (b.1 - b.2).abs() / n as f64)
            .sum()
    }
}

/// How sure the model is about a day: the ran-probability's distance from a coin toss,
/// `max(p, 1 - p)`.
pub fn day_confidence(ran: f64) -> f64 {
    ran.max(1.0 - ran)
}

/// The evaluation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<ApplianceRow>,
    pub households: usize,
    pub intervals: usize,
    /// Interval on-probabilities against the true state (owners, every appliance).
    pub interval_reliability: Reliability,
    /// Per-day ran-probabilities against whether it ran (owners, every appliance).
    pub day_reliability: Reliability,
}

impl Report {
    /// Average F1 over predicted appliances: (model, mean, CO).
    pub fn average_f1(&self) -> (f64, f64, f64) {
        let n = self.rows.len().max(1) as f64;
        let s = |f: fn(&ApplianceRow) -> f64| self.rows.iter().map(f).sum::<f64>() / n;
        (s(|r| r.model.f1), s(|r| r.mean.f1), s(|r| r.co.f1))
    }
}

/// Scores `model` and the baselines (fitted on `baselines_from`) on `test`. `test` holds
/// whole days: 96 consecutive intervals each, as both generators build them.
pub fn evaluate(
    model: &Disaggregator,
    baselines_from: &Dataset,
    test: &Dataset,
) -> Result<Report, DisaggError> {
    let mean = MeanBaseline::fit(baselines_from);
    let co = CoBaseline::fit(baselines_from);
    let thresholds = &model.meta.on_threshold_wh;
    let a = PREDICTED.len();
    let mut scores = vec![[Score::default(), Score::default(), Score::default()]; a];
    let mut interval_rel = Reliability::new();
    let mut day_rel = Reliability::new();
    // Per appliance: (Σ|model - truth|, Σ|mean - truth|, days, confident Σ|model - truth|,
    // confident days), daily energies in kWh.
    let mut daily = vec![(0f64, 0f64, 0usize, 0f64, 0usize); a];
    for (day_start, rows) in test.days() {
        let predicted = model.predict(&rows)?;
        // (truth, model as the job sums it, ran, max interval probability) of the day, per
        // appliance.
        let mut day = vec![(0f64, 0f64, false, 0f64); a];
        for (off, est) in predicted.iter().enumerate() {
            let i = day_start + off;
            let co_pred = co.predict(f64::from(test.import_wh[i]));
            for k in 0..a {
                if !test.owns(i, k) {
                    continue;
                }
                let truth = f64::from(test.truth(i, k));
                let th = f64::from(thresholds[k]);
                let on = truth >= th;
                let e = &est[k];
                let p = f64::from(e.on_probability);
                scores[k][0].add(truth, f64::from(e.energy_wh), on, p >= 0.5);
                scores[k][1].add(truth, mean.mean_wh[k], on, mean.mean_wh[k] >= th);
                scores[k][2].add(truth, co_pred[k], on, co_pred[k] >= th);
                interval_rel.add(p, on);
                let d = &mut day[k];
                d.0 += truth;
                if p >= 0.5 {
                    d.1 += f64::from(e.energy_wh);
                }
                d.2 |= on;
                d.3 = d.3.max(p);
            }
        }
        for k in 0..a {
            if !test.owns(day_start, k) {
                continue;
            }
            let (truth, est, ran, max_p) = day[k];
            let p = model.ran_probability(k, [max_p]);
            let model_err = (est - truth).abs() / 1000.0;
            let mean_err = (mean.mean_wh[k] * PER_DAY as f64 - truth).abs() / 1000.0;
            let s = &mut daily[k];
            s.0 += model_err;
            s.1 += mean_err;
            s.2 += 1;
            if day_confidence(p) >= CONFIDENT {
                s.3 += model_err;
                s.4 += 1;
            }
            day_rel.add(p, ran);
        }
    }
    let owners = |k: usize| test.households.iter().filter(|h| h.1[k]).count();
    Ok(Report {
        rows: (0..a)
            .map(|k| {
                let (m, b, n, cm, cn) = daily[k];
                ApplianceRow {
                    appliance: PREDICTED[k].name(),
                    claimed: claimed(PREDICTED[k]),
                    owners: owners(k),
                    model: scores[k][0].metrics(),
                    mean: scores[k][1].metrics(),
                    co: scores[k][2].metrics(),
                    daily_mae_kwh: (m / n.max(1) as f64, b / n.max(1) as f64),
                    confident_daily_mae_kwh: cm / cn.max(1) as f64,
                    confident_share: cn as f64 / n.max(1) as f64,
                }
            })
            .collect(),
        households: test.households.len(),
        intervals: test.len(),
        interval_reliability: interval_rel,
        day_reliability: day_rel,
    })
}

/// The two columns: the training simulator's unseen households and the independent
/// generator's homes.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoColumns {
    pub same: Report,
    pub cross: Report,
}

impl TwoColumns {
    /// Appliances that beat Mean (interval MAE, F1, daily MAE) cross-generator: what may be
    /// claimed.
    pub fn supported(&self) -> Vec<&'static str> {
        self.cross
            .rows
            .iter()
            .filter(|r| r.beats_mean())
            .map(|r| r.appliance)
            .collect()
    }

    /// Claimed appliances that do not beat Mean in both columns.
    pub fn failing_claims(&self) -> Vec<&'static str> {
        self.same
            .rows
            .iter()
            .zip(&self.cross.rows)
            .filter(|(s, c)| s.claimed && !(s.beats_mean() && c.beats_mean()))
            .map(|(s, _)| s.appliance)
            .collect()
    }

    /// Both columns side by side (Markdown), then calibration.
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| appliance | claimed | MAE model / Mean (Wh), same | F1 model / Mean, same | MAE model / Mean (Wh), cross | F1 model / Mean, cross | daily MAE model / Mean (kWh), cross | confident days, cross: share, daily MAE |\n|---|---|---|---|---|---|---|---|\n",
        );
        for (a, b) in self.same.rows.iter().zip(&self.cross.rows) {
            s += &format!(
                "| {} | {} | {:.0} / {:.0} | {:.2} / {:.2} | {:.0} / {:.0} | {:.2} / {:.2} | {:.2} / {:.2} | {:.0} %, {:.2} |\n",
                a.appliance,
                if a.claimed { "yes" } else { "no" },
                a.model.mae,
                a.mean.mae,
                a.model.f1,
                a.mean.f1,
                b.model.mae,
                b.mean.mae,
                b.model.f1,
                b.mean.f1,
                b.daily_mae_kwh.0,
                b.daily_mae_kwh.1,
                b.confident_share * 100.0,
                b.confident_daily_mae_kwh,
            );
        }
        s += &format!(
            "\nCalibration (expected calibration error): interval on-probability {:.3} same / {:.3} cross; per-day ran-probability {:.3} same / {:.3} cross.\n\n| ran-probability | days, same | predicted / observed, same | days, cross | predicted / observed, cross |\n|---|---|---|---|---|\n",
            self.same.interval_reliability.ece(),
            self.cross.interval_reliability.ece(),
            self.same.day_reliability.ece(),
            self.cross.day_reliability.ece(),
        );
        let (x, y) = (
            &self.same.day_reliability.bins,
            &self.cross.day_reliability.bins,
        );
        for k in 0..x.len() {
            let cell = |b: &(usize, f64, f64)| {
                if b.0 == 0 {
                    ("0".to_string(), "-".to_string())
                } else {
                    (
                        b.0.to_string(),
                        format!("{:.2} / {:.2}", b.1 / b.0 as f64, b.2 / b.0 as f64),
                    )
                }
            };
            let (xa, xb) = cell(&x[k]);
            let (ya, yb) = cell(&y[k]);
            s += &format!(
                "| {:.1}-{:.1} | {xa} | {xb} | {ya} | {yb} |\n",
                k as f64 / 10.0,
                (k + 1) as f64 / 10.0
            );
        }
        s
    }
}

/// Both columns: `same` from the simulator's unseen households with baselines fitted on the
/// training set; `cross` from the independent homes with baselines fitted on those very homes
/// (the strongest Mean there is: it knows their averages).
pub fn evaluate_both(
    model: &Disaggregator,
    train: &Dataset,
    same: &Dataset,
    cross: &Dataset,
) -> Result<TwoColumns, DisaggError> {
    Ok(TwoColumns {
        same: evaluate(model, train, same)?,
        cross: evaluate(model, cross, cross)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_error_is_the_weighted_gap_between_predicted_and_observed() {
        let mut r = Reliability::new();
        // Bin 0.1-0.2: predicted 0.1 four times, happened once (0.25); bin 0.9-1: predicted
        // 0.9 six times, happened six times (1.0).
        for k in 0..4 {
            r.add(0.15, k == 0);
        }
        for _ in 0..6 {
            r.add(0.95, true);
        }
        let expected = (4.0 * (0.25f64 - 0.15).abs() + 6.0 * (1.0f64 - 0.95).abs()) / 10.0;
        assert!((r.ece() - expected).abs() < 1e-12, "{}", r.ece());
        // Perfectly calibrated: no error; a probability of exactly 1 lands in the last bin.
        let mut r = Reliability::new();
        r.add(1.0, true);
        r.add(0.0, false);
        assert_eq!(r.ece(), 0.0);
        assert_eq!((r.bins[9].0, r.bins[0].0), (1, 1));
        assert_eq!(day_confidence(0.3), 0.7);
        assert_eq!(day_confidence(0.9), 0.9);
    }
}
