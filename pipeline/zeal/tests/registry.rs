//! The v2 registry from the command line, against the real broker: `zeal topics create`,
//! `zeal enrol --publish`, `zeal authority cutoff` and `zeal authority beacon` put certificates,
//! the day's Cutoff and the beacon round on `zeal.registry.v2`, and any party derives the same
//! region's day from that topic alone; a certificate from another authority is dead-lettered and
//! left out of the Cutoff.

mod common;

use common::{ok, run};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_protocol::v2::enrolment::{BeaconRound, key_from_hex};
use zeal_protocol::v2::params::{DAY_SECONDS, Params};
use zeal_schemas::RejectReason;
use zeal_services::metrics::{Metrics, Role};
use zeal_services::v2::registry::load_day;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_is_published_from_the_cli_and_fixes_the_day() {
    let kafka = zeal_tests::kafka();
    let bootstrap = kafka.bootstrap.clone();
    let prefix = format!("{}.", zeal_tests::unique("registry-cli"));
    let broker = [
        "--bootstrap",
        bootstrap.as_str(),
        "--topic-prefix",
        prefix.as_str(),
    ];
    let dir = std::env::temp_dir().join(zeal_tests::unique("zeal-registry"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("authority.key");
    let rogue = dir.join("rogue.key");
    let seed = dir.join("beacon.seed");
    let (key_s, rogue_s, seed_s) = (
        key.to_str().unwrap(),
        rogue.to_str().unwrap(),
        seed.to_str().unwrap(),
    );
    ok(run(&[
        &["topics", "create", "--partitions", "2"][..],
        &broker,
    ]
    .concat()));
    ok(run(&["authority", "init", "--key-file", key_s]));
    ok(run(&["authority", "init", "--key-file", rogue_s]));
    let authority =
        key_from_hex(&std::fs::read_to_string(key.with_extension("pub")).unwrap()).unwrap();

    let region = "NL-CLI-01";
    let meters: Vec<(String, SigningKey)> = (0..5)
        .map(|i| {
            (
                format!("{region}-m{i:04}"),
                SigningKey::from_bytes(&[i + 1; 32]),
            )
        })
        .collect();
    let enrol = |key: &str, meter: &str, identity: &SigningKey| {
        let args = [&["--publish"][..], &broker].concat();
        common::enrol(
            key,
            meter,
            region,
            &identity.verifying_key(),
            "2020-06-01",
            &args,
        )
    };
    for (m, k) in &meters {
        let out = ok(enrol(key_s, m, k));
        assert!(out.contains("posted on"), "{out}");
    }
    // Another authority's certificate goes on the topic too (anyone can produce to it).
    ok(enrol(
        rogue_s,
        "NL-CLI-01-sybil",
        &SigningKey::from_bytes(&[99; 32]),
    ));

    let out = ok(run(&[
        &[
            "authority",
            "cutoff",
            "--key-file",
            key_s,
            "--day",
            "2020-07-01",
        ][..],
        &broker,
    ]
    .concat()));
    assert!(out.contains("5 certificates"), "{out}");
    assert!(out.contains("1 messages not admitted"), "{out}");
    let out = ok(run(&[
        &[
            "authority",
            "beacon",
            "--seed-file",
            seed_s,
            "--day",
            "2020-07-01",
        ][..],
        &broker,
    ]
    .concat()));
    let anchor_hex = out
        .lines()
        .find_map(|l| l.strip_prefix("beacon anchor: "))
        .expect("the anchor is printed");
    let mut anchor = [0u8; 32];
    for (i, b) in anchor.iter_mut().enumerate() {
        *b = u8::from_str_radix(&anchor_hex[2 * i..2 * i + 2], 16).unwrap();
    }
    let seed_bytes: [u8; 32] = std::fs::read(&seed).unwrap().try_into().unwrap();
    assert_eq!(
        BeaconRound::anchor(&seed_bytes),
        anchor,
        "the printed anchor is the seed's"
    );

    let topics = zeal_connectors::kafka::TopicNames::with_prefix(&prefix);
    let params = Params {
        min_roster: 3,
        ..Params::default()
    };
    let day = 1_593_561_600 / DAY_SECONDS;
    let metrics = Metrics::new(Role::Aggregator);
    let (derived, refused) = load_day(
        &kafka,
        &topics,
        &params,
        region,
        day,
        &authority,
        &anchor,
        Some(("aggregator", &metrics)),
    )
    .await
    .unwrap();
    let ids: Vec<String> = meters.iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(derived.ctx.roster, ids, "the sybil is not on the roster");
    assert_eq!(
        derived.ctx.committee.len(),
        5,
        "a small region seats every meter"
    );
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].reason, RejectReason::BadSignature);
    assert_eq!(refused[0].meter.as_deref(), Some("NL-CLI-01-sybil"));

    // Bad input: a reason, nothing posted.
    let out = run(&[
        &[
            "authority",
            "cutoff",
            "--key-file",
            key_s,
            "--day",
            "someday",
        ][..],
        &broker,
    ]
    .concat());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--day"),
        "{out:?}"
    );
    let missing = dir.join("missing.key");
    let out = run(&[
        &[
            "authority",
            "cutoff",
            "--key-file",
            missing.to_str().unwrap(),
            "--day",
            "2020-07-01",
        ][..],
        &broker,
    ]
    .concat());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("zeal authority init"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
