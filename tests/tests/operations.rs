//! Operations end to end, on the real broker and ClickHouse: the Prometheus endpoints count what
//! the services did, and a live aggregator adopts the open rounds of an instance that left its
//! consumer group (a rebalance, not a restart).

use std::collections::BTreeMap;
use std::time::Duration;
use zeal_connectors::kafka::KeyedProducer;
use zeal_schemas::AnyMessage;
use zeal_services::metrics::serve;
use zeal_tests::pipeline::*;

/// The value of one sample line (`name{labels} value`) in a Prometheus exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_endpoints_count_rounds_folds_messages_and_rows() {
    let env = Env::new().await;
    let any = "127.0.0.1:0".parse().unwrap();
    let agg_addr = serve(any, env.aggregator_metrics.clone(), env.stop.clone())
        .await
        .unwrap();
    let gw_addr = serve(any, env.gateway_metrics.clone(), env.stop.clone())
        .await
        .unwrap();
    let sink_addr = serve(any, env.sink_metrics.clone(), env.stop.clone())
        .await
        .unwrap();
    let sink = env.sink().await;
    // Enrol before the aggregator starts: rounds open with the roster the registry holds then.
    let gateway = env.gateway(30);
    gateway
        .enrol(&KeyedProducer::new(&env.kafka).unwrap())
        .await
        .unwrap();
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(30).run(env.stop.clone()),
    )
    .await
    .expect("the bounded run finishes")
    .unwrap();
    let rounds = (REGIONS.len() as i64 * INTERVALS) as f64;
    assert_eq!(report.totals as f64, rounds);
    assert_eq!(env.clickhouse_totals().await, expected());

    let agg = Env::http_get(agg_addr, "/metrics").await;
    assert_eq!(
        sample(&agg, "zeal_aggregator_rounds_opened_total"),
        Some(rounds),
        "{agg}"
    );
    assert_eq!(
        sample(
            &agg,
            "zeal_aggregator_rounds_closed_total{status=\"completed\"}"
        ),
        Some(rounds)
    );
    assert_eq!(
        sample(&agg, "zeal_aggregator_round_seconds_count"),
        Some(rounds)
    );
    assert!(sample(&agg, "zeal_aggregator_round_seconds_sum").unwrap() > 0.0);
    // Each meter sends one share to every other member of its roster.
    let folded = rounds * (METERS * (METERS - 1)) as f64;
    assert_eq!(
        sample(&agg, "zeal_aggregator_ciphertexts_folded_total"),
        Some(folded)
    );
    assert!(
        !agg.contains("zeal_dead_letters_total{"),
        "no dead letters: {agg}"
    );
    assert_eq!(
        Env::http_get(agg_addr, "/healthz").await,
        "ok\n",
        "health endpoint"
    );

    let gw_text = Env::http_get(gw_addr, "/metrics").await;
    let members = rounds * METERS as f64;
    for kind in ["share_bundle", "partial"] {
        assert_eq!(
            sample(
                &gw_text,
                &format!("zeal_gateway_messages_published_total{{kind=\"{kind}\"}}")
            ),
            Some(members),
            "{kind}: {gw_text}"
        );
    }
    // Enrolled twice: above, and again (idempotently) when the gateway starts.
    assert_eq!(
        sample(
            &gw_text,
            "zeal_gateway_messages_published_total{kind=\"enrolment\"}"
        ),
        Some((2 * REGIONS.len() * METERS) as f64)
    );

    // The sink writes two channels per total; wait for its last flush to be counted.
    let mut rows = None;
    for _ in 0..50 {
        let text = Env::http_get(sink_addr, "/metrics").await;
        rows = sample(
            &text,
            "zeal_sink_rows_written_total{kind=\"region_totals\"}",
        );
        if rows == Some(rounds * 2.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rows, Some(rounds * 2.0));
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_live_aggregator_adopts_the_open_rounds_of_an_instance_that_left_the_group() {
    let env = Env::new().await;
    let share_secs = 60;
    let gateway = env.gateway(share_secs);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;

    // Instance A opens every round; no meter answers yet.
    let (stop_a, rx_a) = tokio::sync::watch::channel(false);
    let a = tokio::spawn(env.aggregator(share_secs).run(rx_a));
    env.wait_for(&env.topics.control, "A's RoundOpens", |rs| {
        count_kind(rs, |m| {
            matches!(m, AnyMessage::RoundOpen(_)).then(|| "open".into())
        })
        .get("open")
        .is_some_and(|n| *n >= REGIONS.len() * INTERVALS as usize)
    })
    .await;
    // Instance B joins the live group, then A leaves: B must take over A's regions and their
    // open rounds while it runs, not at a restart.
    let b = tokio::spawn(env.aggregator(share_secs).run(env.stop.clone()));
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop_a.send(true).expect("A runs until it is told to leave");
    let report_a = a.await.unwrap().unwrap();
    assert_eq!(report_a.totals, 0, "A left before any meter answered");

    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report_b = tokio::time::timeout(Duration::from_secs(120), b)
        .await
        .expect("B finishes every round of the bounded run")
        .unwrap()
        .unwrap();
    assert_eq!(
        report_b.rounds_opened, 0,
        "B adopts A's rounds instead of opening them again: {report_b:?}"
    );
    assert_eq!(report_b.totals, REGIONS.len() as u64 * INTERVALS as u64);
    assert_eq!(env.clickhouse_totals().await, expected());

    let control = env.read(&env.topics.control).await;
    let opens = count_kind(&control, |m| match m {
        AnyMessage::RoundOpen(o) => {
            Some(format!("{}@{}#{}", o.region, o.interval_start, o.attempt))
        }
        _ => None,
    });
    assert_eq!(opens.len(), REGIONS.len() * INTERVALS as usize);
    assert!(opens.values().all(|n| *n == 1), "opened once: {opens:?}");
    let totals = env.read(&env.topics.totals).await;
    let per_round: BTreeMap<String, usize> = count_kind(&totals, |m| match m {
        AnyMessage::RegionTotal(t) => Some(format!("{}@{}", t.region, t.interval_start)),
        _ => None,
    });
    assert!(
        per_round.values().all(|n| *n == 1),
        "one total each: {per_round:?}"
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}
