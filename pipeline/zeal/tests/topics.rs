//! `zeal topics create` against the real broker: each kind of topic gets its retention, the
//! broker reports what it holds, and an existing topic is never silently left different.

mod common;

use common::{ok, run};

/// The line `zeal topics create` printed for the topic ending in `suffix`.
fn line<'a>(out: &'a str, suffix: &str) -> &'a str {
    out.lines()
        .find(|l| l.split(' ').any(|w| w.ends_with(suffix)))
        .unwrap_or_else(|| panic!("no line for {suffix} in:\n{out}"))
}

#[test]
fn topics_get_the_retention_of_what_they_hold() {
    let kafka = zeal_tests::kafka();
    let prefix = format!("{}.", zeal_tests::unique("topics-policy"));
    let create = |extra: &[&str]| {
        let base = [
            "topics",
            "create",
            "--bootstrap",
            kafka.bootstrap.as_str(),
            "--topic-prefix",
            prefix.as_str(),
            "--partitions",
            "2",
        ];
        run(&[&base[..], extra].concat())
    };
    let out = ok(create(&[
        "--personal-retention-days",
        "3",
        "--bulk-retention-days",
        "2",
        "--audit-retention-days",
        "0",
    ]));
    for (topic, retention) in [
        ("zeal.readings.v1", "retention 3 d,"),
        ("zeal.dlq.v1", "retention 3 d,"),
        ("zeal.bundles.v2", "retention 2 d,"),
        ("zeal.rounds.v2", "retention forever,"),
        ("zeal.feeder.v1", "retention forever,"),
        ("zeal.registry.v2", "retention forever,"),
        // The record of consent, and the log gateways fold their consent from.
        ("zeal.consent.v1", "retention forever,"),
        // The record of erasures, and the log the jobs keep erased households out by.
        ("zeal.erasure.v1", "retention forever,"),
    ] {
        let l = line(&out, topic);
        assert!(l.starts_with("created") && l.contains(retention), "{l}");
        assert!(l.contains("min.insync.replicas 1"), "{l}");
    }
    for one in ["zeal.registry.v2", "zeal.consent.v1", "zeal.erasure.v1"] {
        assert!(line(&out, one).contains("(1 partitions"), "{out}");
    }

    // Again with other days: nothing changes on the broker, and the line says so.
    let again = ok(create(&["--personal-retention-days", "5"]));
    let l = line(&again, "zeal.readings.v1");
    assert!(
        l.starts_with("exists")
            && l.contains("retention 3 d; this policy: 5 d, not applied to an existing topic"),
        "{l}"
    );
    let l = line(&again, "zeal.registry.v2");
    assert!(l.contains("retention forever,"), "{l}");

    // More in-sync replicas than replicas: no write could ever succeed; refused up front.
    let out = create(&["--min-insync-replicas", "2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--min-insync-replicas 2"),
        "{err}"
    );
}
