//! The household simulator's calibration table (mean annual kWh per archetype, 20 homes each:
//! total, heat pump, EV, wet appliances, cold appliances) and its speed in household-days per
//! second. A report for whoever tunes the archetypes, not a test:
//!
//!     cargo run --release -p zeal-meters --example household_report

use zeal_meters::household::{Appliance, Archetype, Household};

const SEED: u64 = 7;

fn main() {
    println!(
        "{:<22} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "archetype", "homes", "total", "heat", "ev", "wet", "cold"
    );
    for arch in Archetype::ALL {
        let homes: Vec<Household> = (0..20)
            .map(|i| Household::with_archetype(SEED, i, arch))
            .collect();
        let mut sums = [0.0; 13];
        for h in &homes {
            for (s, v) in sums.iter_mut().zip(h.annual_kwh()) {
                *s += v / homes.len() as f64;
            }
        }
        let g = |a: &[Appliance]| a.iter().map(|x| sums[x.index()]).sum::<f64>();
        println!(
            "{:<22} {:>6} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
            arch.name(),
            homes.len(),
            sums.iter().sum::<f64>(),
            g(&[Appliance::HeatPump]),
            g(&[Appliance::EvCharger]),
            g(&[
                Appliance::WashingMachine,
                Appliance::TumbleDryer,
                Appliance::Dishwasher
            ]),
            g(&[Appliance::Fridge, Appliance::Freezer])
        );
    }
    let h = Household::with_archetype(SEED, 1, Archetype::ProsumerFamily);
    let t = std::time::Instant::now();
    let n = 2_000;
    for k in 0..n {
        std::hint::black_box(h.simulate_day(18_000 + k));
    }
    println!(
        "simulation: {:.0} household-days/s",
        n as f64 / t.elapsed().as_secs_f64()
    );
}
