//! One model per appliance: when it runs (occupancy, habits, season, weather) and the shape of
//! its power draw, minute by minute. Powers and cycle lengths follow typical EU appliance
//! data sheets and the REFIT / UK-DALE traces' shapes; energies are checked in the tests.

use super::{Appliance, Draws, Household, MINUTES, cloudiness, outdoor_temp_c};
use std::f64::consts::PI;
use zeal_civil::day_of_year;

/// What every model of one household-day needs.
pub(crate) struct DayContext<'a> {
    pub hh: &'a Household,
    pub day: i64,
    /// Local time = UTC + offset (minutes), for the whole day.
    offset: i64,
    pub weekend: bool,
    pub temp_c: f64,
    pub cloud: f64,
    /// Local minutes of the day.
    pub wake: f64,
    pub leave: Option<f64>,
    pub back: Option<f64>,
    pub bed: f64,
    sunrise: f64,
    sunset: f64,
}

impl<'a> DayContext<'a> {
    pub fn new(hh: &'a Household, day: i64) -> Self {
        let offset = Household::local_offset_min(day);
        let weekend = matches!((day + 4).rem_euclid(7), 0 | 6);
        let mut d = Draws::new(&[hh.seed, hh.index, day as u64, 0xDA7]);
        let home_by_day = hh.archetype.home_by_day() || weekend;
        let wake = if weekend {
            d.range(7.5, 9.5)
        } else if hh.archetype == super::Archetype::RetiredCouple {
            d.range(7.0, 8.5)
        } else {
            d.range(6.2, 7.4)
        } * 60.0;
        let (leave, back) = if home_by_day {
            (None, None)
        } else {
            (
                Some(wake + d.range(40.0, 80.0)),
                Some(d.range(17.0, 18.7) * 60.0),
            )
        };
        let bed = d.range(22.3, 23.8) * 60.0;
        let (sunrise, sunset) = sun_times(day);
        DayContext {
            hh,
            day,
            offset,
            weekend,
            temp_c: outdoor_temp_c(hh.seed, day),
            cloud: cloudiness(hh.seed, day),
            wake,
            leave,
            back,
            bed,
            sunrise: sunrise + offset as f64,
            sunset: sunset + offset as f64,
        }
    }

    /// Randomness of one appliance on this day.
    pub fn draws(&self, a: Appliance, salt: u64) -> Draws {
        Draws::new(&[self.hh.seed, self.hh.index, self.day as u64, a as u64, salt])
    }

    /// Whether someone is at home at a local minute.
    pub fn occupied(&self, local_min: f64) -> bool {
        if local_min < self.wake || local_min >= self.bed {
            return false;
        }
        match (self.leave, self.back) {
            (Some(l), Some(b)) => local_min < l || local_min >= b,
            _ => true,
        }
    }

    /// Adds `watts` for `minutes` from local minute `start` (clipped to the day).
    pub fn put(&self, trace: &mut [f32; MINUTES], start: f64, minutes: f64, watts: f64) {
        let from = (start.round() as i64 - self.offset).max(0);
        let to = ((start + minutes).round() as i64 - self.offset).min(MINUTES as i64);
        for m in from..to {
            trace[m as usize] += watts as f32;
        }
    }

    /// A local minute of the evening when someone is home: dinner time.
    fn dinner(&self, d: &mut Draws) -> f64 {
        let earliest = self.back.unwrap_or(16.5 * 60.0) + 15.0;
        earliest.max(17.0 * 60.0) + d.range(0.0, 75.0)
    }

    /// A random local minute when someone is home and awake.
    fn home_time(&self, d: &mut Draws) -> f64 {
        for _ in 0..20 {
            let t = d.range(self.wake, self.bed);
            if self.occupied(t) {
                return t;
            }
        }
        self.back.unwrap_or(self.wake) + 30.0
    }
}

/// Local (UTC+0) sunrise and sunset in minutes at 52.1° N, 5.1° E.
fn sun_times(day: i64) -> (f64, f64) {
    let doy = f64::from(day_of_year(day));
    let decl = 23.44f64.to_radians() * (2.0 * PI * (284.0 + doy) / 365.0).sin();
    let lat = 52.1f64.to_radians();
    let cos_h = (-lat.tan() * decl.tan()).clamp(-1.0, 1.0);
    let half_day_h = cos_h.acos().to_degrees() / 15.0;
    let noon = 12.0 - 5.1 / 15.0;
    ((noon - half_day_h) * 60.0, (noon + half_day_h) * 60.0)
}

/// Simulates one owned appliance into its 1-minute trace.
pub(crate) fn simulate(a: Appliance, ctx: &DayContext, trace: &mut [f32; MINUTES]) {
    match a {
        Appliance::Fridge => cold(ctx, trace, a, 85.0, 14.0, 55.0),
        Appliance::Freezer => cold(ctx, trace, a, 100.0, 17.0, 70.0),
        Appliance::WashingMachine => washing(ctx, trace),
        Appliance::TumbleDryer => dryer(ctx, trace),
        Appliance::Dishwasher => dishwasher(ctx, trace),
        Appliance::Oven => oven(ctx, trace),
        Appliance::Hob => hob(ctx, trace),
        Appliance::Kettle => kettle(ctx, trace),
        Appliance::EvCharger => ev(ctx, trace, false),
        Appliance::HeatPump => heat_pump(ctx, trace),
        Appliance::WaterHeater => water_heater(ctx, trace),
        Appliance::Lighting => lighting(ctx, trace),
        Appliance::Base => base(ctx, trace),
    }
}

/// Compressor cycles: `on` minutes at `watts` every `period` minutes, longer when warm.
fn cold(ctx: &DayContext, t: &mut [f32; MINUTES], a: Appliance, watts: f64, on: f64, period: f64) {
    let mut d = ctx.draws(a, 1);
    let warm = 1.0 + 0.015 * (ctx.temp_c - 10.0);
    let mut m = d.range(0.0, period) - ctx.offset as f64;
    while m < (MINUTES as i64 + ctx.offset) as f64 {
        let len = (on * warm * d.range(0.85, 1.15)).max(5.0);
        ctx.put(t, m, 1.0, watts * 2.5); // start-up surge
        ctx.put(t, m + 1.0, len - 1.0, watts * d.range(0.92, 1.08));
        m += period * d.range(0.9, 1.1);
    }
}

/// Days a wash runs: weekly runs by household size, more at weekends.
fn wash_today(ctx: &DayContext) -> Option<f64> {
    let mut d = ctx.draws(Appliance::WashingMachine, 1);
    let per_week = (1.2 + 1.1 * ctx.hh.occupants()) * ctx.hh.intensity;
    let p = per_week / 7.0 * if ctx.weekend { 1.4 } else { 0.84 };
    if !d.chance(p.min(0.95)) {
        return None;
    }
    Some(ctx.home_time(&mut d))
}

fn washing(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let Some(start) = wash_today(ctx) else {
        return;
    };
    let mut d = ctx.draws(Appliance::WashingMachine, 2);
    let heat = d.range(15.0, 25.0);
    let length = d.range(70.0, 120.0);
    ctx.put(t, start, 5.0, 150.0); // fill
    ctx.put(t, start + 5.0, heat, d.range(1_900.0, 2_200.0));
    let mut m = start + 5.0 + heat;
    let spin_at = start + length - 10.0;
    while m < spin_at {
        ctx.put(t, m, 1.0, if d.chance(0.55) { 250.0 } else { 60.0 });
        m += 1.0;
    }
    ctx.put(t, spin_at, 10.0, d.range(400.0, 550.0));
}

/// The wash's end, when a dryer load follows it.
fn dryer(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let Some(start) = wash_today(ctx) else {
        return;
    };
    let mut d = ctx.draws(Appliance::TumbleDryer, 1);
    // Drying follows most washes in winter, fewer in summer (line drying).
    let summer = 0.5 + 0.5 * (2.0 * PI * (f64::from(day_of_year(ctx.day)) - 200.0) / 365.25).cos();
    if !d.chance(0.35 + 0.45 * summer) {
        return;
    }
    let begin = start + d.range(100.0, 140.0);
    let length = d.range(60.0, 95.0);
    let watts = d.range(2_100.0, 2_500.0);
    let mut m = begin;
    while m < begin + length {
        // Thermostatic heater: mostly on, short pauses; the drum motor always runs.
        let on = d.chance(0.85);
        ctx.put(t, m, 1.0, if on { watts } else { 200.0 });
        m += 1.0;
    }
}

fn dishwasher(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::Dishwasher, 1);
    let per_week = (2.0 + 1.0 * ctx.hh.occupants()) * ctx.hh.intensity;
    if !d.chance((per_week / 7.0).min(0.95)) {
        return;
    }
    let start = if ctx.hh.archetype == super::Archetype::RetiredCouple && d.chance(0.5) {
        d.range(13.0, 15.0) * 60.0
    } else {
        (ctx.dinner(&mut d) + d.range(60.0, 150.0)).min(ctx.bed - 10.0)
    };
    let watts = d.range(1_800.0, 2_100.0);
    ctx.put(t, start, 130.0, 60.0); // pump and controls
    ctx.put(t, start + 8.0, d.range(14.0, 20.0), watts);
    ctx.put(t, start + 75.0, d.range(10.0, 15.0), watts);
}

fn oven(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::Oven, 1);
    let p = if ctx.weekend { 0.45 } else { 0.25 };
    if !d.chance(p) {
        return;
    }
    let start = ctx.dinner(&mut d) - d.range(20.0, 40.0);
    let length = d.range(30.0, 65.0);
    ctx.put(t, start, 10.0, 2_200.0); // pre-heat
    let mut m = start + 10.0;
    while m < start + length {
        let on = d.chance(0.45);
        ctx.put(t, m, 1.0, if on { 2_000.0 } else { 20.0 });
        m += 1.0;
    }
}

fn hob(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::Hob, 1);
    if !d.chance(0.8) {
        return;
    }
    let start = ctx.dinner(&mut d);
    let length = d.range(15.0, 40.0) * (0.6 + 0.15 * ctx.hh.occupants());
    let watts = d.range(1_200.0, 2_500.0);
    let mut m = start;
    while m < start + length {
        let on = d.chance(0.7);
        ctx.put(t, m, 1.0, if on { watts } else { 0.0 });
        m += 1.0;
    }
    if d.chance(0.3) {
        // A small lunch.
        let lunch = d.range(12.0, 13.5) * 60.0;
        if ctx.occupied(lunch) {
            ctx.put(t, lunch, d.range(5.0, 12.0), 1_400.0);
        }
    }
}

fn kettle(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::Kettle, 1);
    let uses = (d.range(1.0, 3.0) * ctx.hh.occupants().sqrt() * ctx.hh.intensity).round() as usize;
    for k in 0..uses {
        let at = if k == 0 {
            ctx.wake + d.range(5.0, 25.0)
        } else {
            ctx.home_time(&mut d)
        };
        ctx.put(t, at, d.range(2.0, 4.0), d.range(2_000.0, 2_200.0));
    }
}

/// Sessions: arrival in the evening, energy to replace, charging power; `overflow` puts the
/// part after midnight into `t` (as the next day's minutes) instead of the session itself.
fn ev(ctx: &DayContext, t: &mut [f32; MINUTES], overflow: bool) {
    let mut d = ctx.draws(Appliance::EvCharger, 1);
    let days_per_week = if ctx.hh.archetype == super::Archetype::ProsumerFamily {
        4.0
    } else {
        3.0
    };
    if !d.chance(days_per_week / 7.0) {
        return;
    }
    let arrive = ctx.back.unwrap_or(d.range(16.0, 19.0) * 60.0) + d.range(0.0, 60.0);
    // Winter driving costs more energy (heating, tyres).
    let cold = 1.0 + 0.02 * (15.0 - ctx.temp_c).max(0.0);
    let kwh = d.range(5.0, 26.0) * cold;
    let minutes = kwh * 1000.0 / ctx.hh.ev_charger_w * 60.0;
    let midnight = (MINUTES as i64 + ctx.offset) as f64; // local minute of the day's end
    if overflow {
        let after = (arrive + minutes - midnight).max(0.0);
        if after > 0.0 {
            // Tomorrow's minutes from its local midnight (same offset on all but two days a year).
            ctx.put(t, ctx.offset as f64, after, ctx.hh.ev_charger_w);
        }
    } else {
        let within = minutes.min(midnight - arrive);
        ctx.put(t, arrive, within, ctx.hh.ev_charger_w);
    }
}

/// Yesterday's charging sessions that ran past midnight, into today's trace.
pub(crate) fn ev_overflow(yesterday: &DayContext, t: &mut [f32; MINUTES]) {
    ev(yesterday, t, true);
}

/// Space heating: heat demand by heating degrees, delivered by a heat pump whose COP falls
/// with the outdoor temperature (or resistive heating for the few homes without one).
fn heat_pump(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let degrees = (15.5 - ctx.temp_c).max(0.0);
    let prosumer = ctx.hh.archetype == super::Archetype::ProsumerFamily;
    // Hot water made by the heat pump (prosumers) all year: ~6 kWh of heat a day for 4 people.
    let dhw_heat = if prosumer {
        1.5 * ctx.hh.occupants()
    } else {
        0.0
    };
    let heat_kwh = ctx.hh.heat_loss * degrees + dhw_heat;
    if heat_kwh <= 0.0 {
        return;
    }
    let cop = (2.6 + 0.07 * ctx.temp_c).clamp(2.2, 4.2);
    let elec_wh = heat_kwh / cop * 1000.0;
    // Thermostat schedule (local hours): warmer when people are up.
    let mut weights = [0f64; 96];
    for (k, w) in weights.iter_mut().enumerate() {
        let local = k as f64 * 15.0 + 7.5;
        *w = if local >= ctx.wake - 30.0 && local < ctx.bed {
            if ctx.occupied(local) { 1.3 } else { 0.8 }
        } else {
            0.6
        };
    }
    let sum: f64 = weights.iter().sum();
    let rated = 2_600.0;
    let min_run = 0.3 * rated;
    let mut d = ctx.draws(Appliance::HeatPump, 1);
    for (k, w) in weights.iter().enumerate() {
        let block_wh = elec_wh * w / sum;
        let avg_w = block_wh * 4.0;
        let start = k as f64 * 15.0;
        if avg_w >= min_run {
            ctx.put(t, start, 15.0, avg_w.min(rated));
        } else if avg_w > 0.0 {
            // Below minimum modulation: run at minimum power for part of the block.
            let on = (15.0 * avg_w / min_run).max(1.0);
            let at = start + d.range(0.0, 15.0 - on);
            ctx.put(t, at, on, min_run);
        }
    }
}

/// An electric boiler reheating after hot-water draws (showers), plus standby losses.
fn water_heater(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::WaterHeater, 1);
    let watts = 2_000.0;
    let showers = ctx.hh.occupants().round() as usize;
    for s in 0..showers {
        let at = if s % 2 == 0 {
            ctx.wake + d.range(5.0, 40.0)
        } else {
            ctx.bed - d.range(60.0, 180.0)
        };
        let kwh = d.range(1.2, 2.2) * ctx.hh.intensity;
        ctx.put(t, at + 5.0, kwh * 60.0 / (watts / 1000.0), watts);
    }
    for k in 0..4 {
        ctx.put(t, k as f64 * 360.0 + d.range(0.0, 60.0), 12.0, watts);
    }
}

fn lighting(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::Lighting, 1);
    let watts = d.range(40.0, 80.0) * ctx.hh.occupants().sqrt() * ctx.hh.intensity;
    let mut m = 0.0;
    while m < MINUTES as f64 {
        let local = m + ctx.offset as f64;
        let dark = local < ctx.sunrise + 30.0 || local > ctx.sunset - 30.0;
        if dark && ctx.occupied(local) {
            ctx.put(t, local, 5.0, watts * d.range(0.6, 1.6));
        }
        m += 5.0;
    }
}

fn base(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let mut d = ctx.draws(Appliance::Base, 1);
    let standby = Draws::new(&[ctx.hh.seed, ctx.hh.index, 0xBA5E]).range(35.0, 110.0);
    for p in t.iter_mut() {
        *p += (standby + 4.0 * d.normal()).max(5.0) as f32;
    }
    // Electronics when people are around (TV, computers, chargers).
    let mut m = ctx.wake;
    while m < ctx.bed {
        if ctx.occupied(m) {
            ctx.put(t, m, 10.0, d.range(30.0, 110.0) * ctx.hh.intensity);
        }
        m += 10.0;
    }
}

/// Rooftop PV: clear-sky irradiance by sun position at 52.1° N, 5.1° E, times the day's
/// cloudiness and passing clouds within it.
pub(crate) fn solar(ctx: &DayContext, t: &mut [f32; MINUTES]) {
    let doy = f64::from(day_of_year(ctx.day));
    let decl = 23.44f64.to_radians() * (2.0 * PI * (284.0 + doy) / 365.0).sin();
    let lat = 52.1f64.to_radians();
    let mut d = Draws::new(&[ctx.hh.seed, ctx.day as u64, 0x501A]); // shared by the region
    let mut passing = 1.0;
    for (m, p) in t.iter_mut().enumerate() {
        if m % 10 == 0 {
            passing = 1.0 - ctx.cloud * d.range(0.0, 0.6);
        }
        let solar_hour = m as f64 / 60.0 + 5.1 / 15.0;
        let hour_angle = (15.0 * (solar_hour - 12.0)).to_radians();
        let elevation = (lat.sin() * decl.sin() + lat.cos() * decl.cos() * hour_angle.cos()).asin();
        if elevation <= 0.0 {
            continue;
        }
        // Clear sky on the horizontal, ~1.12 for panels tilted south; the last factor calibrates
        // the year to ~900 kWh per kWp, the Dutch average yield.
        let clear = 1000.0 * elevation.sin().powf(1.15) * 1.12;
        let sky = 1.0 - 0.72 * ctx.cloud;
        *p = (ctx.hh.pv_kwp * clear * sky * passing * 0.95) as f32;
    }
}
