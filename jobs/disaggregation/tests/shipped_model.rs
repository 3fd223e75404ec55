//! The shipped model is what `zeal train` makes with its defaults (training is seeded and
//! single-sourced, so retraining gives the same weights bit for bit), and on households it never
//! saw it beats the Mean baseline on MAE and F1 for every claimed appliance and CO on average
//! F1. If the simulator or the features change, this fails until the model is retrained.

use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::dataset::build;
use zeal_disaggregation::eval::{default_test_selection, evaluate};
use zeal_disaggregation::train::{TrainConfig, train};

#[test]
fn training_with_the_defaults_reproduces_the_shipped_model_and_its_claims_hold() {
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

    let test = build(&default_test_selection(), |_, _| {}).unwrap();
    let report = evaluate(&shipped, &train_ds, &test).unwrap();
    for r in report.rows.iter().filter(|r| r.claimed) {
        assert!(
            r.beats_mean(),
            "{}: model MAE {:.1} F1 {:.2} vs Mean MAE {:.1} F1 {:.2}",
            r.appliance,
            r.model.mae,
            r.model.f1,
            r.mean.mae,
            r.mean.f1
        );
    }
    let (model_f1, _, co_f1) = report.average_f1();
    assert!(
        model_f1 > co_f1,
        "average F1 {model_f1:.2} vs CO {co_f1:.2}"
    );
    assert!(report.claims_hold());
}
