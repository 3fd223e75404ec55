//! Evaluation on households the model never saw: the model, Mean and CO side by side, per
//! appliance, on the owners of each appliance; one table, and whether every claim holds.

use crate::DisaggError;
use crate::appliances::{PREDICTED, claimed};
use crate::baselines::{CoBaseline, MeanBaseline};
use crate::dataset::{Dataset, Selection, spread_weeks};
use crate::features::DIM;
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
    }
}

/// One appliance's scores for the three methods.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplianceRow {
    pub appliance: &'static str,
    pub claimed: bool,
    pub owners: usize,
    pub model: Metrics,
    pub mean: Metrics,
    pub co: Metrics,
}

impl ApplianceRow {
    /// The claim: better than Mean on both MAE and F1.
    pub fn beats_mean(&self) -> bool {
        self.model.mae < self.mean.mae && self.model.f1 > self.mean.f1
    }
}

/// The evaluation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<ApplianceRow>,
    pub households: usize,
    pub intervals: usize,
}

impl Report {
    /// Average F1 over predicted appliances: (model, mean, CO).
    pub fn average_f1(&self) -> (f64, f64, f64) {
        let n = self.rows.len().max(1) as f64;
        let s = |f: fn(&ApplianceRow) -> f64| self.rows.iter().map(f).sum::<f64>() / n;
        (s(|r| r.model.f1), s(|r| r.mean.f1), s(|r| r.co.f1))
    }

    /// Whether every claimed appliance beats Mean and the model beats CO on average F1.
    pub fn claims_hold(&self) -> bool {
        let (model, _, co) = self.average_f1();
        self.rows
            .iter()
            .filter(|r| r.claimed)
            .all(|r| r.beats_mean())
            && model > co
    }

    /// The table as Markdown (README).
    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| appliance | claimed | owners | MAE model / Mean / CO (Wh) | F1 model / Mean / CO | NDE model / Mean / CO | SAE model / Mean / CO |\n|---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            s += &format!(
                "| {} | {} | {} | {:.0} / {:.0} / {:.0} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} |\n",
                r.appliance,
                if r.claimed { "yes" } else { "no" },
                r.owners,
                r.model.mae,
                r.mean.mae,
                r.co.mae,
                r.model.f1,
                r.mean.f1,
                r.co.f1,
                r.model.nde,
                r.mean.nde,
                r.co.nde,
                r.model.sae,
                r.mean.sae,
                r.co.sae,
            );
        }
        let (m, mean, co) = self.average_f1();
        s += &format!("| **average F1** | | | | **{m:.2}** / {mean:.2} / {co:.2} | | |\n");
        s
    }
}

/// Scores `model` and the baselines (fitted on `train`) on `test`.
pub fn evaluate(
    model: &Disaggregator,
    train: &Dataset,
    test: &Dataset,
) -> Result<Report, DisaggError> {
    let mean = MeanBaseline::fit(train);
    let co = CoBaseline::fit(train);
    let thresholds = &model.meta.on_threshold_wh;
    let a = PREDICTED.len();
    let mut scores = vec![[Score::default(), Score::default(), Score::default()]; a];
    let rows: Vec<[f32; DIM]> = (0..test.len())
        .map(|i| test.features(i).try_into().expect("DIM features"))
        .collect();
    for (chunk_start, chunk) in rows.chunks(4096).enumerate().map(|(k, c)| (k * 4096, c)) {
        let predicted = model.predict(chunk)?;
        for (off, est) in predicted.iter().enumerate() {
            let i = chunk_start + off;
            let co_pred = co.predict(f64::from(test.import_wh[i]));
            for k in 0..a {
                if !test.owns(i, k) {
                    continue;
                }
                let truth = f64::from(test.truth(i, k));
                let th = f64::from(thresholds[k]);
                let on = truth >= th;
                let e = &est[k];
                scores[k][0].add(truth, f64::from(e.energy_wh), on, e.on_probability >= 0.5);
                scores[k][1].add(truth, mean.mean_wh[k], on, mean.mean_wh[k] >= th);
                scores[k][2].add(truth, co_pred[k], on, co_pred[k] >= th);
            }
        }
    }
    let owners = |k: usize| test.households.iter().filter(|h| h.1[k]).count();
    Ok(Report {
        rows: (0..a)
            .map(|k| ApplianceRow {
                appliance: PREDICTED[k].name(),
                claimed: claimed(PREDICTED[k]),
                owners: owners(k),
                model: scores[k][0].metrics(),
                mean: scores[k][1].metrics(),
                co: scores[k][2].metrics(),
            })
            .collect(),
        households: test.households.len(),
        intervals: test.len(),
    })
}
