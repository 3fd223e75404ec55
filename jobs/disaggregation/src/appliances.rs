//! The appliances the model predicts, their on-thresholds, and the ones we claim.
//!
//! At 15-minute resolution a device is only recoverable when it draws enough energy for long
//! enough to stand out of the interval's sum: heating, hot water, the car, the dryer and the
//! dishwasher do; a 3-minute kettle boil (~100 Wh) or a fridge's 90 W cycles do not (published
//! benchmarks at 900 s show them collapsing to the Mean baseline). We still predict and report
//! the kettle and the fridge, so the evaluation shows the limit rather than hiding it.

use zeal_meters::household::Appliance;

/// Predicted appliances, in the model's output order.
pub const PREDICTED: [Appliance; 9] = [
    Appliance::EvCharger,
    Appliance::HeatPump,
    Appliance::WaterHeater,
    Appliance::TumbleDryer,
    Appliance::Dishwasher,
    Appliance::WashingMachine,
    Appliance::Oven,
    Appliance::Kettle,
    Appliance::Fridge,
];

/// Energy in one 15-minute interval (Wh) at or above which the appliance counts as on: a
/// quarter of its typical running power, so a partly covered interval still counts.
pub fn on_threshold_wh(a: Appliance) -> f64 {
    match a {
        Appliance::EvCharger => 400.0,
        Appliance::HeatPump => 100.0,
        Appliance::WaterHeater => 150.0,
        Appliance::TumbleDryer => 150.0,
        Appliance::Dishwasher => 150.0,
        Appliance::WashingMachine => 100.0,
        Appliance::Oven => 120.0,
        Appliance::Hob => 100.0,
        Appliance::Kettle => 25.0,
        Appliance::Fridge => 8.0,
        _ => 50.0,
    }
}

/// Whether we claim the appliance at 15-minute resolution: only where the model beats the
/// Mean baseline (interval MAE, F1, daily MAE) on the simulator's unseen households *and* on
/// three draws of the independent generator's homes (`tests/shipped_model.rs`; README). The
/// water heater beats Mean per interval but not on its daily energy cross-generator, so it is
/// not claimed.
pub fn claimed(a: Appliance) -> bool {
    matches!(
        a,
        Appliance::EvCharger | Appliance::HeatPump | Appliance::TumbleDryer | Appliance::Dishwasher
    )
}
