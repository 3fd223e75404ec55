//! Calibration against published Dutch figures, and the trace's internal consistency.

use super::*;
use zeal_civil::days_from_civil;

const SEED: u64 = 7;

fn mean_annual(arch: Archetype, n: u64, keep: impl Fn(&Household) -> bool) -> (f64, usize) {
    let homes: Vec<Household> = (0..n * 4)
        .map(|i| Household::with_archetype(SEED, i, arch))
        .filter(|h| keep(h))
        .take(n as usize)
        .collect();
    let total: f64 = homes
        .iter()
        .map(|h| h.annual_kwh().iter().sum::<f64>())
        .sum();
    (total / homes.len() as f64, homes.len())
}

#[test]
fn households_without_heat_pump_or_ev_use_what_dutch_homes_use() {
    // CBS 2020: 2,700 kWh a year on average; 1-person ~1,800, 4-person ~3,800 (Milieu Centraal).
    let plain = |h: &Household| {
        !h.has(Appliance::HeatPump)
            && !h.has(Appliance::EvCharger)
            && !h.has(Appliance::WaterHeater)
    };
    for (arch, lo, hi) in [
        (Archetype::SingleWorker, 1_200.0, 2_600.0),
        (Archetype::CoupleWorking, 1_800.0, 3_400.0),
        (Archetype::FamilyWithChildren, 2_600.0, 4_800.0),
        (Archetype::RetiredCouple, 2_000.0, 3_800.0),
    ] {
        let (kwh, n) = mean_annual(arch, 6, plain);
        assert!(n >= 3, "{arch:?}: too few plain homes");
        assert!(
            (lo..hi).contains(&kwh),
            "{arch:?}: {kwh:.0} kWh/year outside {lo}..{hi}"
        );
    }
}

#[test]
fn heat_pumps_and_cars_add_what_they_add_in_the_netherlands() {
    let h = Household::with_archetype(SEED, 3, Archetype::ProsumerFamily);
    let a = h.annual_kwh();
    let hp = a[Appliance::HeatPump.index()];
    let ev = a[Appliance::EvCharger.index()];
    // Heat pump in a Dutch family home: 2,500-5,000 kWh/year (Milieu Centraal; incl. hot water).
    assert!((2_000.0..5_500.0).contains(&hp), "heat pump {hp:.0} kWh");
    // EV: 12,000-15,000 km/year at ~0.18 kWh/km, part charged elsewhere: 1,500-3,500 kWh at home.
    assert!((1_500.0..3_800.0).contains(&ev), "EV {ev:.0} kWh");
    let jan = days_from_civil(2020, 1, 15);
    let jul = days_from_civil(2020, 7, 15);
    let winter: f64 = (0..7)
        .map(|k| h.simulate_day(jan + k).appliance_kwh(Appliance::HeatPump))
        .sum();
    let summer: f64 = (0..7)
        .map(|k| h.simulate_day(jul + k).appliance_kwh(Appliance::HeatPump))
        .sum();
    assert!(
        winter > 5.0 * summer,
        "heating: January {winter:.1} vs July {summer:.1} kWh/week"
    );
}

#[test]
fn pv_yields_about_900_kwh_per_kwp_a_year() {
    let mut per_kwp = Vec::new();
    for i in 0..4 {
        let h = Household::with_archetype(SEED, 100 + i, Archetype::ProsumerFamily);
        let first = days_from_civil(2020, 1, 1);
        let kwh: f64 = (0..366)
            .step_by(3)
            .map(|k| {
                h.simulate_day(first + k)
                    .intervals
                    .iter()
                    .map(|iv| iv.solar_wh)
                    .sum::<f64>()
                    * 3.0
                    / 1000.0
            })
            .sum();
        per_kwp.push(kwh / h.pv_kwp);
    }
    let mean = per_kwp.iter().sum::<f64>() / per_kwp.len() as f64;
    assert!(
        (820.0..980.0).contains(&mean),
        "PV yield {mean:.0} kWh/kWp/year ({per_kwp:?})"
    );
}

#[test]
fn cold_appliances_and_kettles_are_plausible() {
    let h = Household::with_archetype(SEED, 5, Archetype::CoupleWorking);
    let day = days_from_civil(2020, 5, 12);
    let t = h.simulate_day(day);
    let fridge = t.appliance_kwh(Appliance::Fridge);
    assert!((0.3..0.7).contains(&fridge), "fridge {fridge:.2} kWh/day");
    let duty = t.minute_w[Appliance::Fridge.index()]
        .iter()
        .filter(|p| **p > 0.0)
        .count() as f64
        / 1440.0;
    assert!((0.15..0.4).contains(&duty), "fridge duty cycle {duty:.2}");
    let kettle = t.appliance_kwh(Appliance::Kettle);
    assert!((0.05..0.6).contains(&kettle), "kettle {kettle:.2} kWh/day");
}

#[test]
fn intervals_add_up_and_meters_net_within_the_minute() {
    for i in 0..10 {
        let h = Household::new(SEED, i);
        for day in [days_from_civil(2020, 3, 29), days_from_civil(2020, 7, 1)] {
            let t = h.simulate_day(day);
            assert_eq!(t.intervals.len(), INTERVALS);
            for (k, iv) in t.intervals.iter().enumerate() {
                assert_eq!(iv.start_utc_secs, day * 86_400 + k as i64 * 900);
                assert!(iv.import_wh >= 0.0 && iv.export_wh >= 0.0);
                let net = iv.load_wh() - iv.solar_wh;
                assert!(
                    (iv.import_wh - iv.export_wh - net).abs() < 1e-6,
                    "interval {k}"
                );
                // Both can be non-zero within one interval (a cloud, a kettle), never more than
                // the load and the yield.
                assert!(iv.import_wh <= iv.load_wh() + 1e-6);
                assert!(iv.export_wh <= iv.solar_wh + 1e-6);
                let minutes: f64 = t
                    .minute_w
                    .iter()
                    .map(|a| {
                        a[k * 15..(k + 1) * 15]
                            .iter()
                            .map(|p| f64::from(*p))
                            .sum::<f64>()
                    })
                    .sum::<f64>()
                    / 60.0;
                assert!((minutes - iv.load_wh()).abs() < 1e-3);
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_day_and_another_seed_another() {
    let day = days_from_civil(2020, 10, 3);
    let a = Household::new(SEED, 11).simulate_day(day);
    let b = Household::new(SEED, 11).simulate_day(day);
    assert_eq!(a, b);
    let c = Household::new(SEED + 1, 11).simulate_day(day);
    assert_ne!(a.intervals, c.intervals);
}

#[test]
fn archetypes_own_what_they_are_documented_to_own() {
    let count = |arch: Archetype, a: Appliance| {
        (0..200)
            .filter(|i| Household::with_archetype(SEED, *i, arch).has(a))
            .count()
    };
    assert_eq!(count(Archetype::ProsumerFamily, Appliance::HeatPump), 200);
    assert_eq!(count(Archetype::ProsumerFamily, Appliance::EvCharger), 200);
    assert!(count(Archetype::SingleWorker, Appliance::EvCharger) < 25);
    assert!(
        count(Archetype::FamilyWithChildren, Appliance::Dishwasher)
            > count(Archetype::SingleWorker, Appliance::Dishwasher)
    );
    assert!((0..200).all(|i| Household::new(SEED, i).has(Appliance::Fridge)));
    assert!(
        (0..200)
            .all(|i| Household::with_archetype(SEED, i, Archetype::ProsumerFamily).pv_kwp > 0.0)
    );
}

#[test]
fn a_wash_is_one_contiguous_block_starting_with_its_heating_phase() {
    let day0 = days_from_civil(2020, 2, 1);
    let h = Household::with_archetype(SEED, 9, Archetype::FamilyWithChildren);
    let t = (0..30)
        .map(|k| h.simulate_day(day0 + k))
        .find(|t| t.appliance_kwh(Appliance::WashingMachine) > 0.0)
        .expect("a wash within a month");
    let w = &t.minute_w[Appliance::WashingMachine.index()];
    let on: Vec<usize> = (0..MINUTES).filter(|m| w[*m] > 0.0).collect();
    let span = on.last().unwrap() - on.first().unwrap() + 1;
    assert_eq!(span, on.len(), "no gaps within the program");
    assert!((60..=125).contains(&span), "program of {span} minutes");
    assert!(w[on[0] + 6] > 1_500.0, "heating follows the fill");
}
