//! The broker crashes (SIGKILL) in the middle of a protocol v2 day and comes back on its sqlite
//! storage: the gateway and the aggregator ride it out (they retry, they do not exit), nothing
//! acknowledged is lost, and every round's total is exact and re-derived by the audit from the
//! log alone. A test binary of its own: it takes the shared test broker down.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Duration;
use zeal_connectors::kafka::{TopicNames, ensure_topics};
use zeal_protocol::v2::local::LocalRegion;
use zeal_protocol::v2::round::log::Outcome;
use zeal_services::deployment::Deployment;
use zeal_services::metrics::{Metrics, Role};
use zeal_services::v2::{Party, RegionNode, RegionSettings, audit_day};
use zeal_tests::broker::TestBroker;
use zeal_tests::env::sample;
use zeal_tests::{kafka, unique};

/// 2020-07-01 10:00 UTC: an hourly round start.
const START: i64 = 1_593_597_600;
const HOUR: i64 = 3600;
const ROUNDS: i64 = 3;

fn reading(i: usize, round: i64) -> Vec<u64> {
    vec![
        200 + 13 * i as u64 + 7 * round as u64,
        (i as u64 + round as u64) % 9,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_crash_mid_day_loses_nothing() {
    let broker = TestBroker::from_env();
    let r = LocalRegion::generate(
        zeal_protocol::v2::local::small_params(),
        "NL-BR-01",
        6,
        START,
        b"broker restart beacon",
        &mut ChaCha20Rng::seed_from_u64(11),
        |_| {},
    );
    let kafka = kafka();
    let topics = TopicNames::with_prefix(&format!("{}.", unique("v2-crash")));
    ensure_topics(&kafka, &topics.specs(3, 1)).await.unwrap();
    let state = std::env::temp_dir().join(unique("zeal-v2-crash"));
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    // Phases long enough that a two-second outage (plus the broker's restart and the clients'
    // reconnect, slower on 2 cores loaded by the rest of the suite) closes none of them early:
    // with 8 s one round was ABANDONED once in a full run (2026-12-05).
    let deployment = Deployment::new(kafka.clone(), topics.clone()).with_state_dir(&state);
    let settings = |name: &str, metrics: Metrics| RegionSettings {
        phase: Duration::from_secs(15),
        metrics,
        ..deployment.region(name, Role::Gateway, r.ctx.clone(), r.directory.clone())
    };
    let agg_metrics = Metrics::new(Role::Aggregator);
    let mut gateway = RegionNode::new(
        settings("gw", Metrics::new(Role::Gateway)),
        Party::meters_of(&r, &r.ctx.roster),
    );
    let mut aggregator = RegionNode::new(
        settings("aggregator", agg_metrics.clone()),
        Party::aggregator_of(&r),
    );
    for round in 0..ROUNDS {
        let start = START + round * HOUR;
        aggregator.expect(start);
        for (i, m) in r.ctx.roster.iter().enumerate() {
            gateway.submit(start, m, reading(i, round));
        }
    }
    let run = |node: RegionNode| {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_secs(300), node.run(stop))
                .await
                .expect("the day finishes after the broker is back")
        })
    };
    let (hg, ha) = (run(gateway), run(aggregator));
    // Crash the broker once the first round is decided, with the next ones under way.
    let decided = || {
        sample(
            &agg_metrics.render(),
            "zeal_aggregator_rounds_closed_total{status=\"total\"}",
        )
        .unwrap_or(0.0)
    };
    for _ in 0..600 {
        if decided() >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(decided(), 1.0, "the first round decided before the crash");
    tokio::task::spawn_blocking(move || {
        broker.kill();
        std::thread::sleep(Duration::from_secs(2));
        broker.start();
    })
    .await
    .unwrap();
    let gw = hg.await.unwrap().expect("the gateway rides the crash out");
    let agg = ha
        .await
        .unwrap()
        .expect("the aggregator rides the crash out");

    let expected = |round: i64| {
        let mut sum = vec![0u64; 2];
        for i in 0..r.ctx.roster.len() {
            for (s, v) in sum.iter_mut().zip(reading(i, round)) {
                *s += v;
            }
        }
        Outcome::Total(sum)
    };
    for round in 0..ROUNDS {
        let start = START + round * HOUR;
        assert_eq!(agg.outcomes[&start], expected(round), "round {round}");
        assert_eq!(gw.outcomes[&start], expected(round), "round {round}");
    }
    assert_eq!(gw.committed, 6 * ROUNDS as usize, "each value dealt once");
    assert_eq!((gw.withdrawn, gw.carried), (0, 0));
    // The audit re-derives every total from what the broker kept.
    let log = zeal_tests::read_topic(&kafka, &topics.rounds).await;
    let parts = zeal_tests::read_topic(&kafka, &topics.bundles).await;
    let day = audit_day(&r.ctx, &r.directory, &log, &parts);
    assert_eq!(day.refused, 0);
    for round in 0..ROUNDS {
        let audited = &day.rounds[&(START + round * HOUR)];
        assert_eq!(audited.outcome, expected(round), "audit of round {round}");
        assert!(audited.evidence.is_empty(), "{:?}", audited.evidence);
    }
    let _ = std::fs::remove_dir_all(&state);
}
