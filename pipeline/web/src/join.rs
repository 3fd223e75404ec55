//! The join form: what a household submits and how it is checked (pure).

use std::collections::BTreeMap;

/// Longest display name, in characters.
pub const MAX_NAME: usize = 40;

/// Whether `id` is a well-formed household, meter or region identifier: 1-64 characters of
/// letters, digits, `.`, `_` and `-` (what meters and regions are named; nothing to escape).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A checked join request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub region: String,
    pub display_name: String,
    /// The meter the household reads from its meter or the utility's letter; `None` in demo mode
    /// when the app picks a simulated one.
    pub meter_id: Option<String>,
    pub leaderboard: bool,
}

/// A problem with one field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Checks a submitted form against the known regions. In demo mode the meter id may be left
/// empty (a simulated meter is picked).
pub fn check(
    form: &BTreeMap<String, String>,
    regions: &[String],
    demo: bool,
) -> Result<Join, Vec<FieldError>> {
    let mut errors = Vec::new();
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
    let region = field("region");
    if region.is_empty() {
        errors.push(err("region", "Choose your region."));
    } else if !regions.iter().any(|r| r == region) {
        errors.push(err(
            "region",
            format!("There is no region called \"{region}\"; choose one from the list."),
        ));
    }
    let name = field("display_name");
    if name.is_empty() {
        errors.push(err("display_name", "Give a display name."));
    } else if name.chars().count() > MAX_NAME {
        errors.push(err(
            "display_name",
            format!("Keep the display name to {MAX_NAME} characters."),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(err(
            "display_name",
            "The display name cannot contain control characters.",
        ));
    }
    let meter = field("meter_id");
    let meter_id = if meter.is_empty() {
        if !demo {
            errors.push(err(
                "meter_id",
                "Enter your meter id (on the meter or the utility's letter).",
            ));
        }
        None
    } else if !valid_id(meter) {
        errors.push(err(
            "meter_id",
            "A meter id has 1-64 letters, digits, '.', '_' or '-'.",
        ));
        None
    } else {
        Some(meter.to_string())
    };
    let checked = |k: &str| matches!(field(k), "on" | "true" | "1" | "yes");
    if !checked("share_readings") {
        errors.push(err(
            "share_readings",
            "Energenies needs your consent to use your meter's readings: without them there is \
             nothing to show you. Your readings are never shown to anyone else.",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Join {
        region: region.to_string(),
        display_name: name.to_string(),
        meter_id,
        leaderboard: checked("leaderboard"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn regions() -> Vec<String> {
        vec!["NL-R01".into(), "NL-R02".into()]
    }

    #[test]
    fn a_complete_form_joins() {
        let j = check(
            &form(&[
                ("region", "NL-R02"),
                ("display_name", "  De Vries  "),
                ("meter_id", "NL-R02-m0005"),
                ("share_readings", "on"),
                ("leaderboard", "on"),
            ]),
            &regions(),
            false,
        )
        .unwrap();
        assert_eq!(j.region, "NL-R02");
        assert_eq!(j.display_name, "De Vries");
        assert_eq!(j.meter_id.as_deref(), Some("NL-R02-m0005"));
        assert!(j.leaderboard);
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = check(
            &form(&[
                ("region", "Atlantis"),
                ("display_name", &"x".repeat(MAX_NAME + 1)),
                ("meter_id", "m'; DROP TABLE"),
            ]),
            &regions(),
            false,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["region", "display_name", "meter_id", "share_readings"]
        );
        assert!(errors[0].message.contains("Atlantis"));
    }

    #[test]
    fn demo_mode_may_leave_the_meter_to_the_app_and_leaderboard_is_opt_in() {
        let j = check(
            &form(&[
                ("region", "NL-R01"),
                ("display_name", "Jansen"),
                ("share_readings", "on"),
            ]),
            &regions(),
            true,
        )
        .unwrap();
        assert_eq!(j.meter_id, None);
        assert!(!j.leaderboard);
        let errors = check(
            &form(&[("region", "NL-R01"), ("display_name", "Jansen")]),
            &regions(),
            false,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn ids_are_plain() {
        assert!(valid_id("NL-R01-m0001"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
