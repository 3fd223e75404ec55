//! The web app's form parsing on arbitrary bodies: decoded as axum's `Form` does, then the join
//! check against a fixed region list, in demo and normal mode. Never a panic; a decoded form
//! re-encodes to itself; an accepted join has a listed region, a 1-40 character trimmed display
//! name without control characters, a valid meter id (absent only in demo mode with the field
//! empty), is accepted again as itself, and is accepted in demo mode too; errors name form
//! fields, in form order, at most one each, and demo mode adds none; `valid_id` implies plain,
//! short ASCII that needs no escaping in HTML, a path or a query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use zeal_web_forms::{FieldError, Join, MAX_NAME, check, decode, invisible, valid_id};

/// The join form's fields, in the page's order (html.rs).
const FIELDS: [&str; 5] = [
    "region",
    "display_name",
    "meter_id",
    "share_readings",
    "leaderboard",
];

fn regions() -> Vec<String> {
    ["NL-R01", "NL-R02", "BE.Z_3"].map(String::from).to_vec()
}

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

fn accepted(form: &BTreeMap<String, String>, j: &Join, demo: bool) {
    let field = |k: &str| form.get(k).map_or("", |v| v.trim());
    assert!(regions().contains(&j.region), "{j:?}");
    assert_eq!(j.region, field("region"));
    let n = j.display_name.chars().count();
    assert!((1..=MAX_NAME).contains(&n), "{j:?}");
    assert_eq!(j.display_name, j.display_name.trim());
    assert!(!j.display_name.chars().any(char::is_control), "{j:?}");
    assert!(!j.display_name.chars().any(invisible), "{j:?}");
    assert_eq!(j.display_name, field("display_name"));
    match &j.meter_id {
        Some(m) => {
            assert!(valid_id(m), "{j:?}");
            assert_eq!(m, field("meter_id"));
        }
        None => assert!(demo && field("meter_id").is_empty(), "{j:?}"),
    }
    assert!(matches!(
        field("share_readings"),
        "on" | "true" | "1" | "yes"
    ));
    // What was accepted, submitted again as the page would, is the same join.
    let mut again = BTreeMap::from([
        ("region".to_string(), j.region.clone()),
        ("display_name".to_string(), j.display_name.clone()),
        ("share_readings".to_string(), "on".to_string()),
    ]);
    if let Some(m) = &j.meter_id {
        again.insert("meter_id".into(), m.clone());
    }
    if j.leaderboard {
        again.insert("leaderboard".into(), "on".into());
    }
    assert_eq!(check(&again, &regions(), demo).as_ref(), Ok(j));
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
    let regions = regions();
    let normal = check(&form, &regions, false);
    let demo = check(&form, &regions, true);
    match &normal {
        Ok(j) => accepted(&form, j, false),
        Err(e) => rejected(e),
    }
    match &demo {
        Ok(j) => accepted(&form, j, true),
        Err(e) => rejected(e),
    }
    match (&normal, &demo) {
        (Ok(n), d) => assert_eq!(
            d.as_ref(),
            Ok(n),
            "demo mode refuses what normal mode takes"
        ),
        (Err(n), Err(d)) => assert!(d.iter().all(|e| n.contains(e)), "{n:?} {d:?}"),
        (Err(n), Ok(_)) => assert!(
            n.len() == 1
                && n[0].field == "meter_id"
                && form.get("meter_id").is_none_or(|m| m.trim().is_empty()),
            "{n:?}"
        ),
    }
});
