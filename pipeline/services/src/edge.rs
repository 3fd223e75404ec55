//! Aggregated learning at the edge: a gateway runs the disaggregation model on its own meters
//! and contributes each meter's *daily energy per appliance category* as the channels of a
//! private daily round. The utility learns the region's appliance mix (how much of its load is
//! heating, hot water, cars, wet appliances) and no household's breakdown ever leaves the
//! gateway: the category values travel only as encrypted shares, like readings do.
//!
//! It is a second deployment of the same pipeline with its own topic prefix and a daily
//! protocol ([`daily_protocol`]): interval 86,400 s, one interval per round, these channels.

use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::appliances::PREDICTED;
use zeal_disaggregation::features::{Day, PER_DAY};
use zeal_meters::household::{Appliance, Category};
use zeal_protocol::ProtocolConfig;

/// The categories aggregated at the edge: those whose appliances the model is claimed for at
/// 15-minute resolution (wet is dominated by the dryer and the dishwasher).
pub const CATEGORIES: [Category; 4] = [
    Category::Heating,
    Category::WaterHeating,
    Category::Ev,
    Category::Wet,
];

/// Channel names of the daily round, in order.
pub fn channels() -> Vec<String> {
    CATEGORIES
        .iter()
        .map(|c| format!("{}_wh", c.name()))
        .collect()
}

/// The daily protocol of the edge deployment: `base` with daily intervals and the category
/// channels.
pub fn daily_protocol(base: &ProtocolConfig) -> ProtocolConfig {
    ProtocolConfig {
        interval_seconds: 86_400,
        intervals_per_round: 1,
        channels: channels(),
        ..base.clone()
    }
}

/// Checks that a protocol is the edge deployment's; the error says what to write in the TOML.
pub fn check_protocol(p: &ProtocolConfig) -> Result<(), String> {
    if p.interval_seconds != 86_400 || p.intervals_per_round != 1 || p.channels != channels() {
        return Err(format!(
            "edge categories need a daily protocol: interval_seconds = 86400, intervals_per_round = 1, channels = {:?} (got {} s, {} per round, {:?})",
            channels(),
            p.interval_seconds,
            p.intervals_per_round,
            p.channels
        ));
    }
    Ok(())
}

/// One meter's daily category energies (Wh) from its 15-minute readings
/// `(interval_start_ms, import_wh, export_wh)`, for every complete UTC day, as
/// `(day_start_ms, values in CATEGORIES order)`.
pub fn daily_categories(
    model: &Disaggregator,
    readings: &[(i64, u64, u64)],
) -> Result<Vec<(i64, Vec<u64>)>, zeal_disaggregation::DisaggError> {
    let mut days: std::collections::BTreeMap<i64, (Day, usize)> = Default::default();
    for &(t, import, export) in readings {
        let day = t.div_euclid(86_400_000);
        let slot = (t.rem_euclid(86_400_000) / 900_000) as usize;
        let e = days.entry(day).or_insert_with(|| {
            (
                Day {
                    day,
                    import_wh: [0.0; PER_DAY],
                    export_wh: [0.0; PER_DAY],
                },
                0,
            )
        });
        e.0.import_wh[slot] = import as f64;
        e.0.export_wh[slot] = export as f64;
        e.1 += 1;
    }
    let complete: Vec<&Day> = days
        .values()
        .filter(|(_, n)| *n == PER_DAY)
        .map(|(d, _)| d)
        .collect();
    let mut out = Vec::new();
    for (i, d) in complete.iter().enumerate() {
        let prev = i
            .checked_sub(1)
            .map(|j| complete[j])
            .filter(|p| p.day == d.day - 1);
        let next = complete.get(i + 1).copied().filter(|n| n.day == d.day + 1);
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
        out.push((
            d.day * 86_400_000,
            values.iter().map(|v| v.round().max(0.0) as u64).collect(),
        ));
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
        let p = daily_protocol(&ProtocolConfig::default());
        p.validate().unwrap();
        check_protocol(&p).unwrap();
        let e = check_protocol(&ProtocolConfig::default()).unwrap_err();
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
        let jan = zeal_meters::civil::days_from_civil(2020, 1, 14) * 86_400_000;
        // Two full days and half of a third.
        let readings: Vec<(i64, u64, u64)> = h
            .readings(jan, jan + 2 * 86_400_000 + 43_200_000)
            .iter()
            .map(|r| (r.interval_start, r.import_wh, r.export_wh))
            .collect();
        let days = daily_categories(&model, &readings).unwrap();
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].0, jan);
        let heating = days[0].1[0] + days[1].1[0];
        assert!(
            heating > 10_000,
            "heating {heating} Wh over two January days"
        );
    }
}
