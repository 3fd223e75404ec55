//! Appliance-level households with ground truth: what disaggregation is trained and judged on,
//! and what the gateway simulator and the demo meter.
//!
//! A [`Household`] is drawn from a seed and an index (archetype, appliances owned, habits, PV).
//! [`Household::simulate_day`] produces 1-minute power per appliance for one UTC day and
//! aggregates it to 96 meter intervals of 15 minutes: import and export (netted minute by minute,
//! as a smart meter does) plus each appliance's energy and the solar yield. Everything is a pure
//! function of (seed, household, day): no state, any day can be simulated alone.
//!
//! Behaviour follows Amsterdam local time (the day's UTC offset at midnight); intervals are UTC,
//! as in the pipeline. Events that run past midnight (EV charging) are carried into the next day.

mod appliances;
mod weather;

pub use weather::{cloudiness, outdoor_temp_c};

use zeal_civil::amsterdam_offset;

/// Minutes in a simulated day.
pub const MINUTES: usize = 1440;
/// 15-minute intervals in a day.
pub const INTERVALS: usize = 96;

/// Appliances the simulator models (and disaggregation may claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Appliance {
    Fridge,
    Freezer,
    WashingMachine,
    TumbleDryer,
    Dishwasher,
    Oven,
    Hob,
    Kettle,
    EvCharger,
    HeatPump,
    WaterHeater,
    Lighting,
    Base,
}

/// Groups of appliances, as shown to households and aggregated at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Cold,
    Wet,
    Cooking,
    Heating,
    WaterHeating,
    Ev,
    Lighting,
    Base,
}

impl Appliance {
    /// Every appliance, in a fixed order (the index of a trace's channels).
    pub const ALL: [Appliance; 13] = [
        Appliance::Fridge,
        Appliance::Freezer,
        Appliance::WashingMachine,
        Appliance::TumbleDryer,
        Appliance::Dishwasher,
        Appliance::Oven,
        Appliance::Hob,
        Appliance::Kettle,
        Appliance::EvCharger,
        Appliance::HeatPump,
        Appliance::WaterHeater,
        Appliance::Lighting,
        Appliance::Base,
    ];

    /// snake_case name, as stored in tables.
    pub fn name(self) -> &'static str {
        match self {
            Appliance::Fridge => "fridge",
            Appliance::Freezer => "freezer",
            Appliance::WashingMachine => "washing_machine",
            Appliance::TumbleDryer => "tumble_dryer",
            Appliance::Dishwasher => "dishwasher",
            Appliance::Oven => "oven",
            Appliance::Hob => "hob",
            Appliance::Kettle => "kettle",
            Appliance::EvCharger => "ev_charger",
            Appliance::HeatPump => "heat_pump",
            Appliance::WaterHeater => "water_heater",
            Appliance::Lighting => "lighting",
            Appliance::Base => "base",
        }
    }

    /// The appliance with this name.
    pub fn from_name(name: &str) -> Option<Appliance> {
        Appliance::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Position in [`Appliance::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The category it is reported under.
    pub fn category(self) -> Category {
        match self {
            Appliance::Fridge | Appliance::Freezer => Category::Cold,
            Appliance::WashingMachine | Appliance::TumbleDryer | Appliance::Dishwasher => {
                Category::Wet
            }
            Appliance::Oven | Appliance::Hob | Appliance::Kettle => Category::Cooking,
            Appliance::HeatPump => Category::Heating,
            Appliance::WaterHeater => Category::WaterHeating,
            Appliance::EvCharger => Category::Ev,
            Appliance::Lighting => Category::Lighting,
            Appliance::Base => Category::Base,
        }
    }
}

impl Category {
    /// Every category, in a fixed order.
    pub const ALL: [Category; 8] = [
        Category::Cold,
        Category::Wet,
        Category::Cooking,
        Category::Heating,
        Category::WaterHeating,
        Category::Ev,
        Category::Lighting,
        Category::Base,
    ];

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Category::Cold => "cold",
            Category::Wet => "wet",
            Category::Cooking => "cooking",
            Category::Heating => "heating",
            Category::WaterHeating => "water_heating",
            Category::Ev => "ev",
            Category::Lighting => "lighting",
            Category::Base => "base",
        }
    }
}

/// Kinds of households: occupancy, appliance ownership and habits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Archetype {
    /// One person, out at work on weekdays.
    SingleWorker,
    /// Two working adults.
    CoupleWorking,
    /// Two adults and children; someone home part of the day.
    FamilyWithChildren,
    /// Two retired adults, home most of the day.
    RetiredCouple,
    /// A family with rooftop PV, an electric car and a heat pump.
    ProsumerFamily,
}

impl Archetype {
    /// Every archetype.
    pub const ALL: [Archetype; 5] = [
        Archetype::SingleWorker,
        Archetype::CoupleWorking,
        Archetype::FamilyWithChildren,
        Archetype::RetiredCouple,
        Archetype::ProsumerFamily,
    ];

    /// snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Archetype::SingleWorker => "single_worker",
            Archetype::CoupleWorking => "couple_working",
            Archetype::FamilyWithChildren => "family_with_children",
            Archetype::RetiredCouple => "retired_couple",
            Archetype::ProsumerFamily => "prosumer_family",
        }
    }

    /// The archetype with this name.
    pub fn from_name(name: &str) -> Option<Archetype> {
        Archetype::ALL.into_iter().find(|a| a.name() == name)
    }

    /// People living there.
    fn occupants(self) -> f64 {
        match self {
            Archetype::SingleWorker => 1.0,
            Archetype::CoupleWorking | Archetype::RetiredCouple => 2.0,
            Archetype::FamilyWithChildren | Archetype::ProsumerFamily => 4.0,
        }
    }

    /// Probability of owning each appliance (fridge always).
    fn ownership(self, a: Appliance) -> f64 {
        use Appliance::*;
        use Archetype::*;
        match (a, self) {
            (Fridge | Base | Lighting | Hob | Kettle, _) => 1.0,
            (WashingMachine, SingleWorker) => 0.85,
            (WashingMachine, _) => 0.97,
            (Freezer, SingleWorker) => 0.3,
            (Freezer, _) => 0.6,
            (TumbleDryer, SingleWorker) => 0.3,
            (TumbleDryer, FamilyWithChildren | ProsumerFamily) => 0.7,
            (TumbleDryer, _) => 0.45,
            (Dishwasher, SingleWorker) => 0.4,
            (Dishwasher, FamilyWithChildren | ProsumerFamily) => 0.9,
            (Dishwasher, _) => 0.7,
            (Oven, _) => 0.8,
            (EvCharger, ProsumerFamily) => 1.0,
            (EvCharger, FamilyWithChildren | CoupleWorking) => 0.15,
            (EvCharger, _) => 0.04,
            (HeatPump, ProsumerFamily) => 1.0,
            (HeatPump, _) => 0.08,
            (WaterHeater, ProsumerFamily) => 0.0, // the heat pump makes hot water
            (WaterHeater, _) => 0.15,
        }
    }

    /// Someone is home on weekday daytimes.
    fn home_by_day(self) -> bool {
        matches!(
            self,
            Archetype::RetiredCouple | Archetype::FamilyWithChildren
        )
    }

    /// Probability of rooftop PV.
    fn pv_probability(self) -> f64 {
        match self {
            Archetype::ProsumerFamily => 1.0,
            Archetype::SingleWorker => 0.1,
            _ => 0.25,
        }
    }
}

/// SplitMix64: a tiny, well-mixed hash for deterministic randomness.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic stream of uniforms, seeded from hashed inputs.
#[derive(Debug, Clone)]
pub(crate) struct Draws(u64);

impl Draws {
    pub(crate) fn new(parts: &[u64]) -> Self {
        Draws(parts.iter().fold(0x5EED, |h, p| mix(h ^ mix(*p))))
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 = mix(self.0);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability p.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Approximately normal (sum of four uniforms), mean 0, sd 1.
    pub(crate) fn normal(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

/// One simulated household.
#[derive(Debug, Clone, PartialEq)]
pub struct Household {
    /// `hh-000042`.
    pub id: String,
    pub archetype: Archetype,
    /// Owned appliances, indexed like [`Appliance::ALL`].
    pub owns: [bool; 13],
    /// Rooftop PV in kWp (0 without).
    pub pv_kwp: f64,
    /// Scales usage intensity (habits), around 1.
    pub intensity: f64,
    /// Heat loss of the home, kWh of heat per kelvin-day below 15.5 °C.
    pub heat_loss: f64,
    /// Charging power of the car, W (3.7 or 11 kW).
    pub ev_charger_w: f64,
    pub(crate) seed: u64,
    pub(crate) index: u64,
}

impl Household {
    /// A household whose archetype and parameters follow from (`seed`, `index`).
    pub fn new(seed: u64, index: u64) -> Household {
        let mut d = Draws::new(&[seed, index, 0xA2C4]);
        // Dutch mix: singles and couples are most households; prosumers a growing minority.
        let u = d.unit();
        let archetype = match u {
            u if u < 0.25 => Archetype::SingleWorker,
            u if u < 0.50 => Archetype::CoupleWorking,
            u if u < 0.72 => Archetype::FamilyWithChildren,
            u if u < 0.90 => Archetype::RetiredCouple,
            _ => Archetype::ProsumerFamily,
        };
        Household::with_archetype(seed, index, archetype)
    }

    /// A household of a given archetype.
    pub fn with_archetype(seed: u64, index: u64, archetype: Archetype) -> Household {
        let mut d = Draws::new(&[seed, index, 0x0B5E]);
        let mut owns = [false; 13];
        for a in Appliance::ALL {
            owns[a.index()] = d.chance(archetype.ownership(a));
        }
        let pv_kwp = if d.chance(archetype.pv_probability()) {
            d.range(2.5, 8.0)
        } else {
            0.0
        };
        Household {
            id: format!("hh-{index:06}"),
            archetype,
            owns,
            pv_kwp,
            intensity: d.range(0.75, 1.3),
            heat_loss: d.range(3.5, 6.5),
            ev_charger_w: if d.chance(0.7) { 3_700.0 } else { 11_000.0 },
            seed,
            index,
        }
    }

    /// Whether the household owns `a`.
    pub fn has(&self, a: Appliance) -> bool {
        self.owns[a.index()]
    }

    /// Occupants.
    pub fn occupants(&self) -> f64 {
        self.archetype.occupants()
    }

    /// Annual kWh by appliance (indexed by [`Appliance::index`]), from every 7th day of 2020
    /// scaled by 7: what the calibration compares with published figures.
    pub fn annual_kwh(&self) -> [f64; 13] {
        let mut out = [0.0; 13];
        let first = zeal_civil::days_from_civil(2020, 1, 1);
        for k in (0..366).step_by(7) {
            let t = self.simulate_day(first + k);
            for a in Appliance::ALL {
                out[a.index()] += t.appliance_kwh(a) * 7.0;
            }
        }
        out
    }

    /// One UTC day (days since 1970-01-01) at 1-minute resolution, with its 96 intervals.
    pub fn simulate_day(&self, day: i64) -> DayTrace {
        let mut power = vec![[0f32; MINUTES]; Appliance::ALL.len()];
        let ctx = appliances::DayContext::new(self, day);
        for a in Appliance::ALL {
            if self.has(a) {
                appliances::simulate(a, &ctx, &mut power[a.index()]);
            }
        }
        // EV sessions that began yesterday evening run on after midnight.
        if self.has(Appliance::EvCharger) {
            let yesterday = appliances::DayContext::new(self, day - 1);
            appliances::ev_overflow(&yesterday, &mut power[Appliance::EvCharger.index()]);
        }
        let mut solar = [0f32; MINUTES];
        if self.pv_kwp > 0.0 {
            appliances::solar(&ctx, &mut solar);
        }
        DayTrace::from_minutes(day, power, solar)
    }

    /// Consecutive days from `from_day`.
    pub fn simulate(&self, from_day: i64, days: usize) -> impl Iterator<Item = DayTrace> + '_ {
        (0..days as i64).map(move |k| self.simulate_day(from_day + k))
    }

    /// The day's offset from UTC in minutes (Amsterdam, at the day's start).
    pub(crate) fn local_offset_min(day: i64) -> i64 {
        amsterdam_offset(day * 86_400) / 60
    }
}

/// One 15-minute meter interval with ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Interval start, seconds since the epoch (UTC).
    pub start_utc_secs: i64,
    /// Energy drawn from the grid, Wh.
    pub import_wh: f64,
    /// Energy fed into the grid, Wh.
    pub export_wh: f64,
    /// Each appliance's consumption, Wh, indexed like [`Appliance::ALL`].
    pub appliance_wh: [f64; 13],
    /// PV generation, Wh.
    pub solar_wh: f64,
}

impl Interval {
    /// Household consumption (all appliances), Wh.
    pub fn load_wh(&self) -> f64 {
        self.appliance_wh.iter().sum()
    }
}

/// One simulated day of a household.
#[derive(Debug, Clone, PartialEq)]
pub struct DayTrace {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// 1-minute power (W) per appliance, indexed like [`Appliance::ALL`]; zero when not owned.
    pub minute_w: Vec<[f32; MINUTES]>,
    /// 1-minute PV power (W).
    pub solar_w: [f32; MINUTES],
    /// The 96 meter intervals.
    pub intervals: Vec<Interval>,
}

impl DayTrace {
    fn from_minutes(day: i64, minute_w: Vec<[f32; MINUTES]>, solar_w: [f32; MINUTES]) -> Self {
        let mut intervals = Vec::with_capacity(INTERVALS);
        for k in 0..INTERVALS {
            let mut iv = Interval {
                start_utc_secs: day * 86_400 + k as i64 * 900,
                import_wh: 0.0,
                export_wh: 0.0,
                appliance_wh: [0.0; 13],
                solar_wh: 0.0,
            };
            for m in k * 15..(k + 1) * 15 {
                let mut load = 0.0;
                for (a, p) in minute_w.iter().enumerate() {
                    let wh = f64::from(p[m]) / 60.0;
                    iv.appliance_wh[a] += wh;
                    load += wh;
                }
                let pv = f64::from(solar_w[m]) / 60.0;
                iv.solar_wh += pv;
                // The meter nets within the minute (DSMR registers tick continuously).
                let net = load - pv;
                if net >= 0.0 {
                    iv.import_wh += net;
                } else {
                    iv.export_wh -= net;
                }
            }
            intervals.push(iv);
        }
        DayTrace {
            day,
            minute_w,
            solar_w,
            intervals,
        }
    }

    /// The day's consumption of one appliance, kWh.
    pub fn appliance_kwh(&self, a: Appliance) -> f64 {
        self.intervals
            .iter()
            .map(|i| i.appliance_wh[a.index()])
            .sum::<f64>()
            / 1000.0
    }

    /// The day's import and export, kWh.
    pub fn grid_kwh(&self) -> (f64, f64) {
        let (i, e) = self.intervals.iter().fold((0.0, 0.0), |(i, e), iv| {
            (i + iv.import_wh, e + iv.export_wh)
        });
        (i / 1000.0, e / 1000.0)
    }
}

#[cfg(test)]
mod tests;
