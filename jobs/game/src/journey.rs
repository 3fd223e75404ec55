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

/// One entry criterion of a stage and how far a household is with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// Stable code (`below_baseline`, `low_peak`, `exported`, `efficient`, `level`): what a
    /// page in another language words it by.
    pub code: &'static str,
    /// What counts, as the household reads it (English).
    pub what: &'static str,
    /// Days (or the level) the household has in the window.
    pub have: u32,
    /// What the stage needs.
    pub need: u32,
}

impl Criterion {
    /// Whether the criterion holds.
    pub fn met(&self) -> bool {
        self.have >= self.need
    }
}

impl Stage {
    /// Every stage, in journey order.
    pub const ALL: [Stage; 5] = [
        Stage::Aware,
        Stage::Saver,
        Stage::Shifter,
        Stage::Producer,
        Stage::Hero,
    ];

    /// The stage named `name` (see [`Stage::name`]).
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stage after this one (`None` for the hero).
    pub fn next(self) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| *s > self)
    }

    /// This stage's own entry criteria at `day` (on top of the previous stage's), counted over
    /// the household's last [`WINDOW`] days; empty for `Aware`.
    pub fn criteria(self, history: &[HouseholdDay], day: i64, level: u32) -> Vec<Criterion> {
        let recent: Vec<&HouseholdDay> = history
            .iter()
            .filter(|d| d.day <= day && d.day > day - WINDOW)
            .collect();
        let count =
            |f: &dyn Fn(&HouseholdDay) -> bool| recent.iter().filter(|d| f(d)).count() as u32;
        let days = |code, what, need, f: &dyn Fn(&HouseholdDay) -> bool| Criterion {
            code,
            what,
            have: count(f),
            need,
        };
        match self {
            Stage::Aware => Vec::new(),
            Stage::Saver => vec![days(
                "below_baseline",
                "days below your own baseline",
                5,
                &|d| d.savings_kwh().is_some_and(|s| s > 0.0),
            )],
            Stage::Shifter => vec![days(
                "low_peak",
                "low-peak days (at most 20 % in 17:00-21:00)",
                5,
                &|d| d.import_kwh > 0.5 && d.peak_share() <= LOW_PEAK_SHARE,
            )],
            Stage::Producer => vec![days(
                "exported",
                "days with energy fed to the grid",
                7,
                &|d| d.produced(),
            )],
            Stage::Hero => vec![
                days("efficient", "efficient-neighbour days", 7, &|d| {
                    d.efficient()
                }),
                Criterion {
                    code: "level",
                    what: "level",
                    have: level,
                    need: 5,
                },
            ],
        }
    }
}

/// The stage whose criteria hold at `day`, given the household's history up to and including it
/// and its level then. Monotone: callers keep the maximum reached.
pub fn stage_at(history: &[HouseholdDay], day: i64, level: u32) -> Stage {
    let mut reached = Stage::Aware;
    for stage in Stage::ALL.into_iter().skip(1) {
        if stage
            .criteria(history, day, level)
            .iter()
            .all(Criterion::met)
        {
            reached = stage;
        } else {
            break;
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: i64, import: f64, baseline: f64, export: f64) -> HouseholdDay {
        HouseholdDay {
            household_id: "h".into(),
            region: "r".into(),
            day: d,
            import_kwh: import,
            export_kwh: export,
            generation_kwh: None,
            peak_kwh: import * 0.1,
            solar_hours_kwh: 0.0,
            baseline_kwh: Some(baseline),
            region_average_kwh: None,
            efficient_kwh: None,
        }
    }

    #[test]
    fn criteria_count_the_window_and_stages_follow_them() {
        // Four saving days, then a fifth: saver; low peak on all of them: shifter at once.
        let mut h: Vec<HouseholdDay> = (0..4).map(|d| day(d, 5.0, 6.0, 0.0)).collect();
        let c = Stage::Saver.criteria(&h, 3, 1);
        assert_eq!((c[0].have, c[0].need, c[0].met()), (4, 5, false));
        assert_eq!(stage_at(&h, 3, 1), Stage::Aware);
        h.push(day(4, 5.0, 6.0, 0.0));
        assert_eq!(stage_at(&h, 4, 1), Stage::Shifter);
        // Days older than the window no longer count.
        assert_eq!(Stage::Saver.criteria(&h, 4 + WINDOW, 1)[0].have, 0);
        let hero = Stage::Hero.criteria(&h, 4, 3);
        assert_eq!(
            hero[1],
            Criterion {
                code: "level",
                what: "level",
                have: 3,
                need: 5
            }
        );
        assert_eq!(Stage::from_name("producer"), Some(Stage::Producer));
        assert_eq!(Stage::Producer.next(), Some(Stage::Hero));
        assert_eq!(Stage::Hero.next(), None);
        assert!(Stage::Aware.criteria(&h, 4, 1).is_empty());
    }
}
