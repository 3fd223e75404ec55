//! The shipped model is what `zeal train` makes with its defaults (training is seeded and
//! single-sourced, so retraining gives the same weights bit for bit), and on households it never
//! saw — the simulator's and the independent generator's — it beats the Mean baseline on MAE
//! and F1 for every claimed appliance. If the simulator or the features change, this fails until the model is retrained.

use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::crossgen::{self, CrossSelection};
use zeal_disaggregation::dataset::build;
use zeal_disaggregation::eval::{default_test_selection, evaluate_both};
use zeal_disaggregation::train::{TrainConfig, train};

#[test]
fn training_with_the_defaults_reproduces_the_shipped_model_and_its_claims_hold_cross_generator() {
    let shipped = Disaggregator::embedded().unwrap();
    let (trained, train_ds) = train(&TrainConfig::default(), |_| {}).unwrap();
    assert_eq!(
        trained.meta, shipped.meta,
        "metadata differs: run `zeal train` and commit jobs/disaggregation/model/"
    );
    let (a, b) = (trained.layers.named(), shipped.layers.named());
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let x: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = b[name].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(
            x, y,
            "{name} differs: run `zeal train` and commit the model"
        );
    }

    let same = build(&default_test_selection(), |_, _| {}).unwrap();
    // The default draw of independent homes (what `zeal eval` shows) and two more, so a claim
    // does not rest on twelve particular homes.
    for seed in [CrossSelection::default().seed, 0xBEEF, 0xF00D] {
        let sel = CrossSelection {
            seed,
            ..CrossSelection::default()
        };
        let cross = crossgen::build(&sel, |_, _| {}).unwrap();
        let report = evaluate_both(&shipped, &train_ds, &same, &cross).unwrap();
        // The table in the test log (`--nocapture`), for whoever reads why it failed.
        println!("cross-generator seed {seed:#x}\n{}", report.markdown());
        // A claimed appliance beats the Mean (interval MAE, F1, daily MAE) in both columns.
        for (s, c) in report.same.rows.iter().zip(&report.cross.rows) {
            if s.claimed {
                for (column, r) in [("same-simulator", s), ("cross-generator", c)] {
                    assert!(
                        r.beats_mean(),
                        "{} {column} (seed {seed:#x}): model MAE {:.1} F1 {:.2} daily {:.2} kWh vs Mean MAE {:.1} F1 {:.2} daily {:.2} kWh",
                        r.appliance,
                        r.model.mae,
                        r.model.f1,
                        r.daily_mae_kwh.0,
                        r.mean.mae,
                        r.mean.f1,
                        r.daily_mae_kwh.1
                    );
                }
            }
        }
        assert!(report.failing_claims().is_empty());
        // The per-day probability is calibrated where it was fitted (held-out simulator days):
        // uncalibrated it was 0.08. Cross-generator it is not (README), and nothing here hides it.
        let ece = report.same.day_reliability.ece();
        assert!(ece < 0.03, "per-day expected calibration error {ece:.3}");
        let (model_f1, _, co_f1) = report.same.average_f1();
        assert!(
            model_f1 > co_f1,
            "average F1 {model_f1:.2} vs CO {co_f1:.2}"
        );
    }
}
