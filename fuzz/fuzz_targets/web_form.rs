//! The web app's form parsing on arbitrary bodies: decoded as axum's `Form` does, then the join
//! check. Never a panic; a decoded form re-encodes to itself; an accepted join has a 1-40
//! character trimmed display name without control or invisible characters and the consent box
//! ticked, and is accepted again as itself; errors name form fields, in form order, at most one
//! each; `valid_id` implies plain, short ASCII that needs no escaping in HTML, a path or a
//! query (the ids a portal token carries are checked with it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use zeal_web_forms::{FieldError, Join, MAX_NAME, check, decode, invisible, valid_id};

/// The join form's fields, in the page's order (html.rs).
const FIELDS: [&str; 3] = ["display_name", "share_readings", "leaderboard"];

fn plain_id(s: &str) {
    if valid_id(s) {
        assert!(!s.is_empty() && s.len() <= 64 && s.is_ascii(), "{s:?}");
        assert!(
            !s.bytes().any(|b| b.is_ascii_whitespace()
                || b.is_ascii_control()
                || b"&<>\"'/?#%+=;:\\".contains(&b)),
            "{s:?}"
        );
    }
}

fn accepted(form: &BTreeMap<String, String>, j: &Join) {
    let field = |k: &str| form.get(k).map_or("", |v| v.trim());
    let n = j.display_name.chars().count();
    assert!((1..=MAX_NAME).contains(&n), "{j:?}");
    assert_eq!(j.display_name, j.display_name.trim());
    assert!(!j.display_name.chars().any(char::is_control), "{j:?}");
    assert!(!j.display_name.chars().any(invisible), "{j:?}");
    assert_eq!(j.display_name, field("display_name"));
    assert!(matches!(
        field("share_readings"),
        "on" | "true" | "1" | "yes"
    ));
    // What was accepted, submitted again as the page would, is the same join.
    let mut again = BTreeMap::from([
        ("display_name".to_string(), j.display_name.clone()),
        ("share_readings".to_string(), "on".to_string()),
    ]);
    if j.leaderboard {
        again.insert("leaderboard".into(), "on".into());
    }
    assert_eq!(check(&again).as_ref(), Ok(j));
}

fn rejected(errors: &[FieldError]) {
    assert!(!errors.is_empty());
    let order: Vec<usize> = errors
        .iter()
        .map(|e| {
            assert!(!e.message.is_empty(), "{e:?}");
            FIELDS
                .iter()
                .position(|f| *f == e.field)
                .unwrap_or_else(|| panic!("not a form field: {e:?}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{errors:?}");
    assert!(errors.iter().all(|e| e.field != "leaderboard"));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        plain_id(s);
    }
    let Ok(form) = decode(data) else {
        return;
    };
    let encoded = serde_urlencoded::to_string(&form).expect("a map of strings encodes");
    assert_eq!(decode(encoded.as_bytes()).expect("re-encoded form"), form);
    for (k, v) in &form {
        plain_id(k);
        plain_id(v);
        plain_id(v.trim());
    }
    match check(&form) {
        Ok(j) => accepted(&form, &j),
        Err(e) => rejected(&e),
    }
});
