//! The web app's form parsing, pure (std and `serde_urlencoded`): [`decode`] reads a urlencoded
//! body exactly as axum's `Form` does, [`check`] checks the join form a household submits and
//! [`valid_id`] guards the ids in paths. Kept out of `zeal-web` so the fuzz target
//! (`fuzz/fuzz_targets/web_form.rs`) builds without the app's heavy dependencies; `zeal-web`
//! re-exports it as `zeal_web::join`.

use std::collections::BTreeMap;

/// A form body that cannot be decoded (answered with the "form could not be read" page).
#[derive(Debug, thiserror::Error)]
#[error("malformed form body")]
pub struct DecodeError(#[from] serde_urlencoded::de::Error);

/// Decodes an `application/x-www-form-urlencoded` body into its fields, as axum's
/// `Form<BTreeMap<String, String>>` does: `+` is a space, percent escapes are decoded and
/// invalid UTF-8 is replaced (U+FFFD); of a repeated key the last value wins.
pub fn decode(body: &[u8]) -> Result<BTreeMap<String, String>, DecodeError> {
    Ok(serde_urlencoded::from_bytes(body)?)
}

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

/// A checked join request. The household and its region are not in the form: they come from
/// the portal's signed sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// Trimmed, 1-[`MAX_NAME`] characters, no control, invisible or direction-changing
    /// characters ([`invisible`]).
    pub display_name: String,
    /// Whether the household chose to be named on its region's leaderboard.
    pub leaderboard: bool,
}

/// A problem with one field, shown next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The form field's name (`display_name` or `share_readings`).
    pub field: &'static str,
    /// What is wrong, as a stable code (the web app words it in the page's language):
    /// `name_missing`, `name_too_long`, `name_control`, `name_invisible`, `consent_missing`.
    pub code: &'static str,
    /// What is wrong, for the household (in English).
    pub message: String,
}

fn err(field: &'static str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        code,
        message: message.into(),
    }
}

/// Whether a checkbox's submitted value means ticked (`on`, `true`, `1` or `yes`, trimmed).
pub fn ticked(value: &str) -> bool {
    matches!(value.trim(), "on" | "true" | "1" | "yes")
}

/// Invisible and direction-changing characters (zero-width, bidirectional embeddings, overrides
/// and isolates, the byte-order mark): in a display name they make one household's name render
/// as another's on the leaderboard (`"\u{202E}seirV eD"` shows as "De Vries" reversed).
pub fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

/// Checks a submitted join form (values are trimmed; a checkbox is ticked when `on`, `true`,
/// `1` or `yes`). The errors come in the form's field order, at most one per field.
pub fn check(form: &BTreeMap<String, String>) -> Result<Join, Vec<FieldError>> {
    let mut errors = Vec::new();
    let field = |k: &str| form.get(k).map(|v| v.trim()).unwrap_or("");
    let name = field("display_name");
    if name.is_empty() {
        errors.push(err("display_name", "name_missing", "Give a display name."));
    } else if name.chars().count() > MAX_NAME {
        errors.push(err(
            "display_name",
            "name_too_long",
            format!("Keep the display name to {MAX_NAME} characters."),
        ));
    } else if name.chars().any(char::is_control) {
        errors.push(err(
            "display_name",
            "name_control",
            "The display name cannot contain control characters.",
        ));
    } else if name.chars().any(invisible) {
        errors.push(err(
            "display_name",
            "name_invisible",
            "The display name cannot contain invisible or direction-changing characters.",
        ));
    }
    let checked = |k: &str| ticked(field(k));
    if !checked("share_readings") {
        errors.push(err(
            "share_readings",
            "consent_missing",
            "Energenies needs your consent to use your meter's readings: without them there is \
             nothing to show you. Your readings are never shown to anyone else.",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Join {
        display_name: name.to_string(),
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

    #[test]
    fn a_complete_form_joins() {
        let j = check(&form(&[
            ("display_name", "  De Vries  "),
            ("share_readings", "on"),
            ("leaderboard", "on"),
            ("region", "ignored: the sign-in names it"),
        ]))
        .unwrap();
        assert_eq!(j.display_name, "De Vries");
        assert!(j.leaderboard);
    }

    #[test]
    fn every_bad_field_is_named_and_the_leaderboard_is_opt_in() {
        let errors = check(&form(&[("display_name", &"x".repeat(MAX_NAME + 1))])).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["display_name", "share_readings"]);
        let errors = check(&form(&[])).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        let j = check(&form(&[
            ("display_name", "Jansen"),
            ("share_readings", "yes"),
        ]))
        .unwrap();
        assert!(!j.leaderboard);
    }

    #[test]
    fn bodies_decode_as_axum_reads_them() {
        let f =
            decode(b"region=NL-R01&display_name=De+Vries%20%C3%A9&display_name=x&bad=%FF%zz&flag")
                .unwrap();
        assert_eq!(f["region"], "NL-R01");
        assert_eq!(f["display_name"], "x", "the last of a repeated key wins");
        assert_eq!(
            f["bad"], "\u{FFFD}%zz",
            "invalid UTF-8 is replaced, a bad escape kept"
        );
        assert_eq!(f["flag"], "");
        assert!(decode(b"").unwrap().is_empty());
        let f = decode(b"display_name=De+Vries%20%C3%A9").unwrap();
        assert_eq!(f["display_name"], "De Vries \u{e9}");
    }

    /// A name that renders as another household's on the leaderboard (a right-to-left override
    /// reverses what follows; zero-width characters make two names look the same).
    #[test]
    fn a_name_that_would_render_as_another_is_refused() {
        for spoof in [
            "\u{202E}seirV eD",
            "De\u{200B} Vries",
            "Jansen\u{2066}",
            "\u{FEFF}Bakker",
        ] {
            let errors =
                check(&form(&[("display_name", spoof), ("share_readings", "on")])).unwrap_err();
            assert_eq!(errors.len(), 1, "{spoof:?}");
            assert_eq!(errors[0].field, "display_name", "{spoof:?}");
        }
    }

    #[test]
    fn ids_are_plain() {
        assert!(valid_id("NL-R01-m0001"));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"a".repeat(65)));
    }
}
