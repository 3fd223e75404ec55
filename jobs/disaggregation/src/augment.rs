//! Domain randomisation of training days (issue 17), so the model learns appliances rather
//! than the simulator's particular appliance models. Applied to the simulator's 1-minute
//! traces before the meter sums them:
//!
//! - **power levels**: each appliance's power scaled per household-week (another model of the
//!   same type), 0.75-1.3x;
//! - **cycle lengths**: each run of an appliance stretched or shrunk in time per
//!   household-week, 0.75-1.35x (shorter and longer programmes);
//! - **time shifts**: each appliance's day moved by up to ±40 minutes, so cycles fall anywhere
//!   within the meter's intervals;
//! - **base load**: a constant 0-150 W and minute noise added to what the model does not
//!   predict;
//! - **distractors**: loads the model must not mistake for an appliance (1-45 minutes at
//!   0.5-3 kW, a few a day: microwaves, hobs, vacuum cleaners, hair dryers), in "everything else".
//!
//! The meter then nets minute by minute against PV and reads whole Wh, as for the plain days.
//! Deterministic in (seed, household, week, day).

use crate::appliances::PREDICTED;
use crate::splitmix::SplitMix64;
use serde::{Deserialize, Serialize};
use zeal_meters::household::{Appliance, DayTrace, INTERVALS, MINUTES};

/// Which randomisations to apply (each can be measured alone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Randomisation {
    pub power: bool,
    pub stretch: bool,
    pub shift: bool,
    pub base: bool,
    pub distractors: bool,
}

impl Randomisation {
    /// Every randomisation.
    pub const ALL: Randomisation = Randomisation {
        power: true,
        stretch: true,
        shift: true,
        base: true,
        distractors: true,
    };

    /// Whether any is on.
    pub fn any(self) -> bool {
        self != Randomisation::default()
    }

    /// The randomisations by name: `all`, `none`, or a comma-separated list of `power`,
    /// `stretch`, `shift`, `base`, `distractors`.
    pub fn parse(list: &str) -> Result<Randomisation, String> {
        match list {
            "all" => return Ok(Randomisation::ALL),
            "none" | "" => return Ok(Randomisation::default()),
            _ => {}
        }
        let mut r = Randomisation::default();
        for name in list.split(',').map(str::trim) {
            match name {
                "power" => r.power = true,
                "stretch" => r.stretch = true,
                "shift" => r.shift = true,
                "base" => r.base = true,
                "distractors" => r.distractors = true,
                other => {
                    return Err(format!(
                        "unknown randomisation {other:?} (all, none, or some of power, stretch, shift, base, distractors)"
                    ));
                }
            }
        }
        Ok(r)
    }
}

/// One household-week's appliance variants.
#[derive(Debug, Clone)]
pub struct WeekVariant {
    what: Randomisation,
    scale: [f64; 13],
    stretch: [f64; 13],
    base_w: f64,
    seed: u64,
}

impl WeekVariant {
    /// The variant of (`seed`, household `index`, week starting `week`).
    pub fn new(what: Randomisation, seed: u64, index: u64, week: i64) -> WeekVariant {
        let mut s = SplitMix64::from_parts(&[seed, index, week as u64]);
        let mut scale = [1.0; 13];
        let mut stretch = [1.0; 13];
        for a in Appliance::ALL {
            let (k, st) = (s.uniform(0.75, 1.3), s.uniform(0.75, 1.35));
            if what.power {
                scale[a.index()] = k;
            }
            if what.stretch {
                stretch[a.index()] = st;
            }
        }
        WeekVariant {
            what,
            scale,
            stretch,
            base_w: if what.base {
                s.uniform(0.0, 150.0)
            } else {
                0.0
            },
            seed: seed ^ index.rotate_left(17) ^ (week as u64).rotate_left(41),
        }
    }
}

/// An augmented day: per interval the metered import and export (whole Wh), each predicted
/// appliance's energy and everything else's (Wh).
#[derive(Debug, Clone)]
pub struct AugmentedDay {
    pub import_wh: [f64; INTERVALS],
    pub export_wh: [f64; INTERVALS],
    pub appliance_wh: Vec<[f64; PREDICTED.len()]>,
    pub rest_wh: [f64; INTERVALS],
}

/// Stretches every run of power (gaps under three minutes belong to the run) by `factor`
/// from its start.
fn stretch(power: &[f32; MINUTES], factor: f64) -> [f32; MINUTES] {
    let mut out = [0f32; MINUTES];
    let mut m = 0;
    while m < MINUTES {
        if power[m] <= 0.0 {
            m += 1;
            continue;
        }
        let start = m;
        let mut end = m;
        let mut gap = 0;
        while end < MINUTES && gap < 3 {
            if power[end] > 0.0 {
                gap = 0;
            } else {
                gap += 1;
            }
            end += 1;
        }
        let end = end - gap;
        let len = end - start;
        let new_len = ((len as f64 * factor).round() as usize).max(1);
        for k in 0..new_len {
            let src = start + ((k as f64 / factor) as usize).min(len - 1);
            if let Some(o) = out.get_mut(start + k) {
                *o = o.max(power[src]);
            }
        }
        m = end;
    }
    out
}

/// Moves a day's power by `minutes` (what leaves the day is lost, what enters is off).
fn shift(power: &[f32; MINUTES], minutes: i64) -> [f32; MINUTES] {
    let mut out = [0f32; MINUTES];
    for (m, o) in out.iter_mut().enumerate() {
        let src = m as i64 - minutes;
        if (0..MINUTES as i64).contains(&src) {
            *o = power[src as usize];
        }
    }
    out
}

/// The day `trace` under `variant`.
pub fn augment(trace: &DayTrace, variant: &WeekVariant) -> AugmentedDay {
    let mut s = SplitMix64::from_parts(&[variant.seed, trace.day as u64]);
    let mut predicted = vec![[0f32; MINUTES]; PREDICTED.len()];
    let mut rest = [0f32; MINUTES];
    for a in Appliance::ALL {
        let p = &trace.minute_w[a.index()];
        let scaled: Vec<f32> = p
            .iter()
            .map(|w| (f64::from(*w) * variant.scale[a.index()]) as f32)
            .collect();
        let scaled: [f32; MINUTES] = scaled.try_into().expect("a day of minutes");
        match PREDICTED.iter().position(|x| *x == a) {
            Some(k) => {
                let moved = if variant.what.shift {
                    s.uniform(-40.0, 40.0).round() as i64
                } else {
                    0
                };
                predicted[k] = shift(&stretch(&scaled, variant.stretch[a.index()]), moved);
            }
            None => {
                for (r, w) in rest.iter_mut().zip(scaled) {
                    *r += w;
                }
            }
        }
    }
    if variant.what.base {
        for r in rest.iter_mut() {
            *r += (variant.base_w + 6.0 * (s.unit() - 0.5)).max(0.0) as f32;
        }
    }
    let distractors = if variant.what.distractors {
        s.uniform(0.0, 5.0) as usize
    } else {
        0
    };
    for _ in 0..distractors {
        let start = s.uniform(5.0 * 60.0, 23.0 * 60.0) as usize;
        let len = s.uniform(1.0, 45.0) as usize;
        let w = s.uniform(500.0, 3000.0) as f32;
        for r in rest.iter_mut().skip(start).take(len) {
            *r += w;
        }
    }
    let mut day = AugmentedDay {
        import_wh: [0.0; INTERVALS],
        export_wh: [0.0; INTERVALS],
        appliance_wh: vec![[0.0; PREDICTED.len()]; INTERVALS],
        rest_wh: [0.0; INTERVALS],
    };
    for k in 0..INTERVALS {
        let (mut import, mut export) = (0.0, 0.0);
        for m in k * 15..(k + 1) * 15 {
            let mut load = f64::from(rest[m]) / 60.0;
            day.rest_wh[k] += f64::from(rest[m]) / 60.0;
            for (a, p) in predicted.iter().enumerate() {
                let wh = f64::from(p[m]) / 60.0;
                day.appliance_wh[k][a] += wh;
                load += wh;
            }
            let net = load - f64::from(trace.solar_w[m]) / 60.0;
            if net >= 0.0 {
                import += net;
            } else {
                export -= net;
            }
        }
        day.import_wh[k] = import.round();
        day.export_wh[k] = export.round();
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeal_meters::household::Household;

    #[test]
    fn a_run_stretches_from_its_start_and_a_shift_moves_it() {
        let mut p = [0f32; MINUTES];
        p[100..110].fill(2000.0);
        p[111..115].fill(2000.0); // a one-minute pause belongs to the run
        let s = stretch(&p, 2.0);
        assert_eq!(s.iter().filter(|w| **w > 0.0).count(), 28);
        assert_eq!(s[100], 2000.0);
        assert_eq!(s[99], 0.0);
        assert_eq!(s[130], 0.0);
        let moved = shift(&p, -30);
        assert_eq!(moved[70], 2000.0);
        assert_eq!(moved[100], 0.0);
    }

    #[test]
    fn augmented_days_keep_the_meter_balanced_and_change_with_the_week() {
        let hh = Household::with_archetype(3, 8, zeal_meters::household::Archetype::ProsumerFamily);
        let trace = hh.simulate_day(18_400);
        let a = augment(&trace, &WeekVariant::new(Randomisation::ALL, 1, 8, 18_397));
        let b = augment(&trace, &WeekVariant::new(Randomisation::ALL, 1, 8, 18_404));
        assert_ne!(a.import_wh, b.import_wh);
        for k in 0..INTERVALS {
            let load: f64 = a.appliance_wh[k].iter().sum::<f64>() + a.rest_wh[k];
            let pv = trace.intervals[k].solar_wh;
            // Netted per minute: import - export = load - pv, to the rounding of each register.
            assert!(((a.import_wh[k] - a.export_wh[k]) - (load - pv)).abs() <= 1.0 + 1e-6);
        }
        // Without randomisation the meter reads the simulator's day.
        let plain = augment(
            &trace,
            &WeekVariant::new(Randomisation::default(), 1, 8, 18_397),
        );
        for (k, iv) in trace.intervals.iter().enumerate() {
            assert_eq!(plain.import_wh[k], iv.import_wh.round());
        }
        // The same inputs give the same day.
        let again = augment(&trace, &WeekVariant::new(Randomisation::ALL, 1, 8, 18_397));
        assert_eq!(a.import_wh, again.import_wh);
    }
}
