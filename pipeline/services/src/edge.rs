//! Aggregated learning at the edge: a gateway runs the disaggregation model on its own meters
//! and contributes each meter's *daily energy per appliance category* as the channels of a
//! private daily round. The utility learns the region's appliance mix (how much of its load is
//! heating, hot water, cars, wet appliances) and no household's breakdown ever leaves the
//! gateway: the category values travel only as encrypted shares, like readings do.
//!
//! The same daily round carries the private consumption histogram (issue 6): each meter adds a
//! one-hot vector of its day's import bucket (log-spaced, `zeal_game::day::BUCKETS`), so the
//! region learns how many households fell in each bucket — hence its most efficient 20 % — and
//! nobody learns which bucket any household is in.
//!
//! It is a second deployment of the same pipeline with its own topic prefix and a daily
//! protocol v2 file ([`daily_params`], `docs/edge-daily.toml`): interval 86,400 s, one interval
//! per round, these 16 channels (one range proof covers them all).

use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::appliances::PREDICTED;
use zeal_disaggregation::features::{complete_days, neighbours};
use zeal_meters::household::{Appliance, Category};
use zeal_protocol::v2::params::Params;

/// The categories aggregated at the edge: those whose appliances the model is claimed for at
/// 15-minute resolution (wet is dominated by the dryer and the dishwasher).
pub const CATEGORIES: [Category; 4] = [
    Category::Heating,
    Category::WaterHeating,
    Category::Ev,
    Category::Wet,
];

/// Channel names of the daily round, in order: the categories' energies, then the histogram
/// buckets (`bucket_00` ... one per `zeal_game::day::BUCKETS`).
pub fn channels() -> Vec<String> {
    let mut c: Vec<String> = CATEGORIES
        .iter()
        .map(|c| format!("{}_wh", c.name()))
        .collect();
    c.extend((0..zeal_game::day::BUCKETS).map(|i| format!("bucket_{i:02}")));
    c
}

/// Seconds after the end of day D at which the daily deployment deletes day-D keys: a day's
/// round and an hour for its phases (T_del must cover a round and its deadlines).
pub const DAILY_KEY_DELETION_SECONDS: u32 = 86_400 + 3_600;

/// The daily protocol (v2) of the edge deployment: `base` with one daily interval per round, the
/// category channels and [`DAILY_KEY_DELETION_SECONDS`] (`docs/edge-daily.toml`).
pub fn daily_params(base: &Params) -> Params {
    Params {
        interval_seconds: 86_400,
        intervals_per_round: 1,
        channels: channels(),
        key_deletion_seconds: DAILY_KEY_DELETION_SECONDS,
        ..base.clone()
    }
}

/// Checks that a protocol file is the edge deployment's; the error says what to write in it.
pub fn check_params(p: &Params) -> Result<(), String> {
    if p.interval_seconds != 86_400 || p.intervals_per_round != 1 || p.channels != channels() {
        return Err(format!(
            "edge categories need a daily protocol (docs/edge-daily.toml): interval_seconds = 86400, intervals_per_round = 1, channels = {:?} (got {} s, {} per round, {:?})",
            channels(),
            p.interval_seconds,
            p.intervals_per_round,
            p.channels
        ));
    }
    Ok(())
}

/// One meter's daily values from its 15-minute readings `(interval_start_ms, import_wh,
/// export_wh)`, for every complete UTC day, as `(day_start_ms, values in [channels] order)`:
/// category energies (Wh), then the one-hot histogram bucket of the day's import.
pub fn daily_values(
    model: &Disaggregator,
    readings: &[(i64, u64, u64)],
) -> Result<Vec<(i64, Vec<u64>)>, zeal_disaggregation::DisaggError> {
    let (complete, _) = complete_days(readings.iter().map(|&(t, i, e)| (t, i as f64, e as f64)));
    let mut out = Vec::new();
    for (i, d) in complete.iter().enumerate() {
        let (prev, next) = neighbours(&complete, i);
        let features = zeal_disaggregation::features::day_features(prev, d, next)?;
        let estimates = model.predict(&features)?;
        let mut values = vec![0f64; CATEGORIES.len()];
        for e in &estimates {
            for (k, a) in PREDICTED.iter().enumerate() {
                if let Some(c) = category_slot(*a)
                    && e[k].on_probability >= 0.5
                {
                    values[c] += f64::from(e[k].energy_wh);
                }
            }
        }
        let mut channels: Vec<u64> = values.iter().map(|v| v.round().max(0.0) as u64).collect();
        let import_kwh = d.import_wh.iter().sum::<f64>() / 1000.0;
        channels.extend(zeal_game::day::one_hot(import_kwh));
        out.push((d.day * 86_400_000, channels));
    }
    Ok(out)
}

fn category_slot(a: Appliance) -> Option<usize> {
    CATEGORIES.iter().position(|c| *c == a.category())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_protocol_is_valid_and_checked() {
        let p = daily_params(&Params::default());
        p.validate().unwrap();
        check_params(&p).unwrap();
        // README, edge: 16 values, 32 slots, 6 ciphertexts per seat (3 for an hourly round).
        assert_eq!(p.values_per_round(), 16);
        assert_eq!(p.ciphertexts_per_seat(), 6);
        assert_eq!(Params::default().ciphertexts_per_seat(), 3);
        let e = check_params(&Params::default()).unwrap_err();
        assert!(e.contains("interval_seconds = 86400"), "{e}");
    }

    #[test]
    fn a_heat_pump_home_reports_heating_in_winter_and_incomplete_days_are_left_out() {
        let model = Disaggregator::embedded().unwrap();
        let h = zeal_meters::sim::SimulatedMeter {
            meter_id: "m".into(),
            region: "r".into(),
            household: zeal_meters::household::Household::with_archetype(
                4,
                1,
                zeal_meters::household::Archetype::ProsumerFamily,
            ),
        };
        let jan = zeal_civil::days_from_civil(2020, 1, 14) * 86_400_000;
        // Two full days and half of a third.
        let readings: Vec<(i64, u64, u64)> = h
            .readings(jan, jan + 2 * 86_400_000 + 43_200_000)
            .iter()
            .map(|r| (r.interval_start, r.import_wh, r.export_wh))
            .collect();
        let days = daily_values(&model, &readings).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].0, jan);
        let heating = days[0].1[0] + days[1].1[0];
        assert!(
            heating > 10_000,
            "heating {heating} Wh over two January days"
        );
        // Exactly one histogram bucket is set: the one of the day's import.
        for (day, v) in &days {
            assert_eq!(v.len(), channels().len());
            let buckets = &v[CATEGORIES.len()..];
            assert_eq!(buckets.iter().sum::<u64>(), 1);
            let import: u64 = readings
                .iter()
                .filter(|r| r.0.div_euclid(86_400_000) == day / 86_400_000)
                .map(|r| r.1)
                .sum();
            assert_eq!(
                buckets[zeal_game::day::bucket_of(import as f64 / 1000.0)],
                1
            );
        }
    }
}
