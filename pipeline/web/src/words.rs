//! The game's and the devices' words in the page's language. The game job writes its award
//! reasons in English into `gamification_events` (the stored text stays as it is, for data
//! engineers); a Dutch page renders each award again from its `kind` and `code`, falling back
//! to the stored reason for a code it does not know.

use crate::lang::{Lang, current};
use zeal_game::engine::GameEvent;
use zeal_game::journey::{Criterion, Stage};
use zeal_game::rules::POINTS_PER_LEVEL;

/// A journey stage's name.
pub fn stage(s: Stage) -> &'static str {
    match current() {
        Lang::En => s.name(),
        Lang::Nl => match s {
            Stage::Aware => "bewust",
            Stage::Saver => "bespaarder",
            Stage::Shifter => "verschuiver",
            Stage::Producer => "producent",
            Stage::Hero => "held",
        },
    }
}

/// What a household at stage `s` does next.
pub fn next_goal(s: Stage) -> &'static str {
    match current() {
        Lang::En => s.next_goal(),
        Lang::Nl => match s {
            Stage::Aware => "gebruik op 5 dagen minder dan je eigen gemiddelde over 4 weken",
            Stage::Saver => "houd 17:00-21:00 op 5 dagen op hooguit een vijfde van je dagverbruik",
            Stage::Shifter => "lever op 7 dagen zonne-energie terug aan het net",
            Stage::Producer => {
                "hoor op 7 dagen bij de zuinigste 20 % van je regio, en haal niveau 5"
            }
            Stage::Hero => "blijf een held: ga zo door",
        },
    }
}

/// What an entry criterion counts.
pub fn criterion(c: &Criterion) -> &'static str {
    if current() == Lang::En {
        return c.what;
    }
    match c.code {
        "below_baseline" => "dagen onder je eigen basislijn",
        "low_peak" => "dagen met een lage piek (hooguit 20 % in 17:00-21:00)",
        "exported" => "dagen met teruglevering aan het net",
        "efficient" => "dagen bij de zuinigste buren",
        "level" => "niveau",
        _ => c.what,
    }
}

/// A badge's name.
pub fn badge(code: &str) -> String {
    let nl = match code {
        "first_saving" => "eerste besparing",
        "week_streak" => "weekreeks",
        "month_streak" => "maandreeks",
        "peak_shaver" => "piekscheerder",
        "first_export" => "eerste teruglevering",
        "efficient_neighbour" => "zuinige buur",
        _ => "",
    };
    dutch_or_as_named(nl, code)
}

/// `nl` on a Dutch page when there is one, else the code as words (`first_saving`: "first
/// saving").
fn dutch_or_as_named(nl: &str, code: &str) -> String {
    if current() == Lang::Nl && !nl.is_empty() {
        nl.to_string()
    } else {
        code.replace('_', " ")
    }
}

/// Why an award was given.
pub fn reason(e: &GameEvent) -> String {
    if current() == Lang::En {
        return e.reason.clone();
    }
    dutch_reason(&e.kind, &e.code).unwrap_or_else(|| e.reason.clone())
}

fn dutch_reason(kind: &str, code: &str) -> Option<String> {
    let fixed = |s: &str| Some(s.to_string());
    match (kind, code) {
        ("points", "saving") => {
            fixed("1 punt per 0,1 kWh onder je eigen gemiddelde over 4 weken (tot 20 per dag)")
        }
        ("points", "low_peak") => fixed("hooguit 20 % van je energie tussen 17:00 en 21:00"),
        ("points", "solar_hours") => {
            fixed("een kwart van je energie gebruikt tussen 11:00 en 15:00, als de zon schijnt")
        }
        ("points", "below_average") => fixed("minder dan het gemiddelde huishouden in je regio"),
        ("points" | "badge", "efficient_neighbour") => fixed("bij de zuinigste 20 % van je regio"),
        ("badge", "first_saving") => fixed("je eerste dag onder je eigen gemiddelde"),
        ("badge", "week_streak") => fixed("7 bespaardagen op rij"),
        ("badge", "month_streak") => fixed("28 bespaardagen op rij"),
        ("badge", "peak_shaver") => fixed("5 dagen met een rustige avondpiek"),
        ("badge", "first_export") => fixed("je leverde energie aan het net"),
        ("challenge", code) => {
            let text = match code.rsplit_once(':')?.1 {
                "shift_week" => "4 dagen deze week met hooguit 20 % van je energie in 17:00-21:00",
                "save_week" => "bespaar deze week 5 kWh op je eigen gemiddelde",
                "sun_week" => {
                    "3 dagen deze week met een kwart van je energie gebruikt in 11:00-15:00"
                }
                _ => return None,
            };
            Some(format!("weekuitdaging: {text}"))
        }
        ("level", code) => {
            let l: u32 = code.strip_prefix("level_")?.parse().ok()?;
            Some(format!(
                "niveau {l} gehaald ({} punten)",
                l.saturating_sub(1) * POINTS_PER_LEVEL
            ))
        }
        ("stage", code) => {
            let s = Stage::from_name(code)?;
            Some(format!("je bent nu {}; hierna: {}", stage(s), next_goal(s)))
        }
        _ => None,
    }
}

/// A device's name (`washing_machine` as "washing machine" or "wasmachine").
pub fn appliance(name: &str) -> String {
    let nl = match name {
        "ev_charger" => "laadpaal",
        "heat_pump" => "warmtepomp",
        "water_heater" => "boiler",
        "tumble_dryer" => "droger",
        "dishwasher" => "vaatwasser",
        "washing_machine" => "wasmachine",
        "oven" => "oven",
        "hob" => "kookplaat",
        "kettle" => "waterkoker",
        "fridge" => "koelkast",
        "lighting" => "verlichting",
        _ => "",
    };
    dutch_or_as_named(nl, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{Here, within};
    use zeal_game::day::HouseholdDay;
    use zeal_game::engine::all_events;

    fn dutch<F: std::future::Future>(f: F) -> impl std::future::Future<Output = F::Output> {
        within(
            Here {
                lang: Lang::Nl,
                back: "/".into(),
            },
            f,
        )
    }

    /// Every award the game gives, over a long history that earns them all, reads in Dutch
    /// from its kind and code (none falls back to the stored English).
    #[tokio::test]
    async fn every_award_the_game_gives_has_its_dutch_reason() {
        let history: Vec<HouseholdDay> = (0..120)
            .map(|d| HouseholdDay {
                household_id: "h".into(),
                region: "r".into(),
                day: 18_444 + d,
                import_kwh: 6.0,
                export_kwh: 3.0,
                generation_kwh: None,
                peak_kwh: 0.6,
                solar_hours_kwh: 2.0,
                baseline_kwh: Some(8.0),
                region_average_kwh: Some(9.0),
                efficient_kwh: Some(7.0),
            })
            .collect();
        let (events, standing) = all_events(&history);
        assert_eq!(standing.stage, Stage::Hero, "the history earns every stage");
        let kinds: std::collections::BTreeSet<&str> =
            events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["badge", "challenge", "level", "points", "stage"]
        );
        dutch(async {
            for e in &events {
                assert!(
                    dutch_reason(&e.kind, &e.code).is_some(),
                    "{} {}: {}",
                    e.kind,
                    e.code,
                    e.reason
                );
                if e.kind == "badge" {
                    assert_ne!(badge(&e.code), e.code.replace('_', " "), "{}", e.code);
                }
            }
            for s in Stage::ALL {
                for c in s.criteria(&history, 18_444 + 119, 3) {
                    assert_ne!(criterion(&c), c.what, "{s:?}");
                }
                assert_ne!(next_goal(s), s.next_goal());
            }
            assert_eq!(appliance("washing_machine"), "wasmachine");
            assert_eq!(
                appliance("sauna_heater"),
                "sauna heater",
                "unknown: as named"
            );
        })
        .await;
        assert_eq!(reason(&events[0]), events[0].reason, "English: as stored");
        assert_eq!(stage(Stage::Saver), "saver");
    }
}
