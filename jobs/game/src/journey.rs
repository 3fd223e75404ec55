//! The hero journey: five stages, each entered when the household shows the behaviour the stage
//! is about, over a recent window so that the stage reflects habits, not one lucky day.
//!
//! | stage | entry criteria (all over the last 28 days, on top of the previous stage) | why |
//! |---|---|---|
//! | aware | the household has joined and its first day is counted | seeing one's use is step one |
//! | saver | at least 5 days below its own baseline | saving is the first habit to build |
//! | shifter | at least 5 low-peak days (<= 20 % in 17:00-21:00) | shifting is what the grid needs most |
//! | producer | exported energy on at least 7 days | a prosumer: rooftop PV in use |
//! | hero | at least 7 efficient-neighbour days and level 5 | best 20 % of the region, sustained |
//!
//! Stages never go back: a household keeps the highest stage it reached.

use crate::day::HouseholdDay;
use crate::rules::LOW_PEAK_SHARE;
use serde::{Deserialize, Serialize};

/// Days the criteria look back over.
pub const WINDOW: i64 = 28;

/// A stage of the journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Stage {
    Aware,
    Saver,
    Shifter,
    Producer,
    Hero,
}

impl Stage {
    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Aware => "aware",
            Stage::Saver => "saver",
            Stage::Shifter => "shifter",
            Stage::Producer => "producer",
            Stage::Hero => "hero",
        }
    }

    /// What the household does next to reach the following stage.
    pub fn next_goal(self) -> &'static str {
        match self {
            Stage::Aware => "use less than your own 4-week average on 5 days",
            Stage::Saver => "keep 17:00-21:00 to a fifth of your day's energy on 5 days",
            Stage::Shifter => "feed solar energy to the grid on 7 days",
            Stage::Producer => {
                "be among your region's most efficient 20 % on 7 days, and reach level 5"
            }
            Stage::Hero => "stay a hero: keep it up",
        }
    }
}

/// The stage whose criteria hold at `day`, given the household's history up to and including it
/// and its level then. Monotone: callers keep the maximum reached.
pub fn stage_at(history: &[HouseholdDay], day: i64, level: u32) -> Stage {
    let recent: Vec<&HouseholdDay> = history
        .iter()
        .filter(|d| d.day <= day && d.day > day - WINDOW)
        .collect();
    if recent.is_empty() {
        return Stage::Aware;
    }
    let count = |f: &dyn Fn(&HouseholdDay) -> bool| recent.iter().filter(|d| f(d)).count();
    let saver = count(&|d| d.savings_kwh().is_some_and(|s| s > 0.0)) >= 5;
    let shifter = saver && count(&|d| d.import_kwh > 0.5 && d.peak_share() <= LOW_PEAK_SHARE) >= 5;
    let producer = shifter && count(&|d| d.produced()) >= 7;
    let hero = producer && count(&|d| d.efficient()) >= 7 && level >= 5;
    match (saver, shifter, producer, hero) {
        (_, _, _, true) => Stage::Hero,
        (_, _, true, _) => Stage::Producer,
        (_, true, _, _) => Stage::Shifter,
        (true, _, _, _) => Stage::Saver,
        _ => Stage::Aware,
    }
}
