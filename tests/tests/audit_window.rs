//! The audit reads by log time through the real broker: a window's messages and not the log
//! around it (counted), the rounds running at its end completed by the grace and left to the
//! next window, and a window without the day's set-up refused rather than half-verified.
//!
//! The log: yesterday's messages (junk the wire reader would refuse), six hourly rounds of one
//! region's day, each written an hour after the last, and tomorrow's junk.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use zeal_connectors::kafka::{KeyedProducer, TopicSpec, ensure_topics};
use zeal_protocol::v2::local::{LocalRegion, small_params};
use zeal_protocol::v2::round::log::Outcome;
use zeal_protocol::v2::wire;
use zeal_schemas::encode;
use zeal_services::v2::audit_log::read_window;
use zeal_services::v2::topics::part_key;
use zeal_services::v2::{LogWindow, WindowError, audit_window};
use zeal_tests::{kafka, unique};

/// 2020-07-01 10:00 UTC: the first round's start.
const START: i64 = 1_593_597_600;
/// When the first round's records were written (log time, ms): 2026-01-05 00:00 UTC.
const LOG0: i64 = 1_767_571_200_000;
const HOUR_MS: i64 = 3_600_000;
const ROUNDS: i64 = 6;
const JUNK: usize = 40;

/// `i`-th meter's values in round `round` (import, export).
fn values(i: usize, round: i64) -> Vec<u64> {
    vec![
        100 + 7 * i as u64 + round as u64,
        3 * i as u64 + 2 * round as u64,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_reads_its_window_and_completes_the_rounds_running_at_its_end() {
    let cfg = kafka();
    let rounds_topic = unique("zt.window.rounds");
    let bundles_topic = unique("zt.window.bundles");
    ensure_topics(
        &cfg,
        &[
            TopicSpec::new(&rounds_topic, 2, 1),
            TopicSpec::new(&bundles_topic, 2, 1),
        ],
    )
    .await
    .unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let first = LocalRegion::generate(
        small_params(),
        "NL-WIN-01",
        6,
        START,
        b"window beacon",
        &mut rng,
        |_| {},
    );
    let region = first.ctx.region.clone();
    let producer = KeyedProducer::new(&cfg).unwrap();
    // Every message's log time, per topic, to count what a window holds.
    let mut stamps: Vec<i64> = Vec::new();
    let junk = |producer: &KeyedProducer, topic: String, at: i64| {
        let producer = producer.clone();
        let key = region.clone();
        async move {
            producer
                .send(&topic, key.as_bytes(), b"not a round record", Some(at))
                .await
                .unwrap();
        }
    };
    for k in 0..JUNK as i64 {
        junk(
            &producer,
            rounds_topic.clone(),
            LOG0 - 20 * HOUR_MS + k * 1000,
        )
        .await;
        stamps.push(LOG0 - 20 * HOUR_MS + k * 1000);
    }
    let mut expected = BTreeMap::new();
    let mut r = first.clone();
    for round in 0..ROUNDS {
        let vals: BTreeMap<String, Vec<u64>> = r
            .ctx
            .roster
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), values(i, round)))
            .collect();
        let sum = (0..2)
            .map(|c| vals.values().map(|v| v[c]).sum::<u64>())
            .collect::<Vec<_>>();
        expected.insert(r.ctx.start, sum);
        let (local, view) = r.run(&vals, &mut rng);
        assert!(matches!(view.outcome, Outcome::Total(_)), "round {round}");
        // The round's records a second apart from LOG0 + round hours; its parts among them.
        let t0 = LOG0 + round * HOUR_MS;
        for (k, record) in local.log.iter().enumerate() {
            let at = t0 + k as i64 * 1000;
            let bytes = encode(&wire::record_to_wire(&r.ctx, record)).unwrap();
            producer
                .send(&rounds_topic, region.as_bytes(), &bytes, Some(at))
                .await
                .unwrap();
            stamps.push(at);
        }
        for (sender, bundle) in &local.bundles {
            for (seat, part) in r.ctx.seats.iter().zip(&bundle.parts) {
                let at = t0 + 500;
                let bytes = encode(&wire::part_to_wire(&r.ctx, sender, &seat.meter, part)).unwrap();
                producer
                    .send(
                        &bundles_topic,
                        part_key(&region, &seat.meter).as_bytes(),
                        &bytes,
                        Some(at),
                    )
                    .await
                    .unwrap();
                stamps.push(at);
            }
        }
        r = r.next_round();
    }
    for k in 0..JUNK as i64 {
        junk(
            &producer,
            bundles_topic.clone(),
            LOG0 + 30 * HOUR_MS + k * 1000,
        )
        .await;
        stamps.push(LOG0 + 30 * HOUR_MS + k * 1000);
    }
    let audit = |window: LogWindow, day: zeal_protocol::v2::round::RoundContext| {
        let directory = &first.directory;
        let (cfg, rounds_topic, bundles_topic) =
            (cfg.clone(), rounds_topic.clone(), bundles_topic.clone());
        async move {
            let group = unique("zt.window.audit");
            let mut last = (0, 0);
            let messages = read_window(
                &cfg,
                &group,
                &rounds_topic,
                &bundles_topic,
                &window,
                |read, total| last = (read, total),
            )
            .await
            .unwrap();
            // What the window held when the read began is what was read.
            assert_eq!(last, (messages.read, messages.read), "progress at the end");
            let report = audit_window(&day, directory, &messages.log, &messages.parts, &window);
            (messages.read, report)
        }
    };
    let totals = |report: &zeal_services::v2::AuditReport| -> BTreeMap<i64, Vec<u64>> {
        report
            .rounds
            .iter()
            .map(|(s, r)| match &r.outcome {
                Outcome::Total(v) => (*s, v.clone()),
                other => panic!("round {s}: {other:?}"),
            })
            .collect()
    };

    // The whole log: every message read, yesterday's and tomorrow's junk refused.
    let (read, report) = audit(LogWindow::ALL, first.ctx.clone()).await;
    let report = report.unwrap();
    assert_eq!(read, stamps.len() as u64);
    assert_eq!(report.refused, 2 * JUNK, "the junk of the days around");
    assert_eq!(totals(&report), expected);

    // Rounds 1 and 2, read with a 30-minute grace: the log between LOG0 + 1 h and + 3.5 h and
    // nothing else (counted); round 3, begun at + 3 h (after the window's end), is read during
    // the grace but left to the next window; round 0 is before the window.
    let window = LogWindow {
        from_ms: LOG0 + HOUR_MS,
        to_ms: LOG0 + 3 * HOUR_MS - 1,
        grace_ms: HOUR_MS / 2,
    };
    let inside = stamps
        .iter()
        .filter(|t| (window.from_ms..=window.read_until()).contains(*t))
        .count() as u64;
    let (read, report) = audit(window, first.ctx.clone()).await;
    let report = report.unwrap();
    assert_eq!(read, inside, "only the window's messages are read");
    assert!(
        inside < stamps.len() as u64 / 2,
        "{inside} of {}",
        stamps.len()
    );
    assert_eq!(report.refused, 0, "no junk of the days around is read");
    let want: BTreeMap<i64, Vec<u64>> = expected
        .iter()
        .filter(|(s, _)| [START + 3600, START + 7200].contains(s))
        .map(|(s, v)| (*s, v.clone()))
        .collect();
    assert_eq!(totals(&report), want);
    assert!(report.exclusions.is_empty(), "{:?}", report.exclusions);

    // A window without the day's set-up, for an auditor who derives the seats from the log (as
    // `zeal audit` does): refused, not half-verified.
    let mut no_seats = first.ctx.clone();
    no_seats.seats.clear();
    let (_, refused) = audit(window, no_seats).await;
    assert!(
        matches!(&refused, Err(WindowError::NoSetup { region: r }) if *r == region),
        "{:?}",
        refused.map(|r| r.rounds.len())
    );
}
