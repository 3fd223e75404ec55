//! The broker crashes (SIGKILL) in the middle of a run and comes back on its sqlite storage:
//! every service reconnects, nothing acknowledged is lost, and every total is exact and audited.
//! A test binary of its own: it takes the shared test broker down.

use std::time::Duration;
use zeal_connectors::kafka::KeyedProducer;
use zeal_services::audit::{AuditSettings, run_audit};
use zeal_tests::broker::TestBroker;
use zeal_tests::pipeline::*;
use zeal_tests::unique;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_crash_mid_run_loses_nothing() {
    let broker = TestBroker::from_env();
    let mut env = Env::new().await;
    env.intervals = 4;
    env.max_open = 1;
    let gateway = env.gateway(30);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let aggregator = tokio::spawn(env.aggregator(30).run(env.stop.clone()));
    // Crash the broker once the first rounds are in ClickHouse.
    for _ in 0..300 {
        if env.clickhouse_totals().await.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::task::spawn_blocking(move || {
        broker.kill();
        std::thread::sleep(Duration::from_secs(2));
        broker.start();
    })
    .await
    .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(180), aggregator)
        .await
        .expect("the run finishes after the broker is back")
        .unwrap()
        .unwrap();
    assert_eq!(report.totals, REGIONS.len() as u64 * 4, "{report:?}");
    let mut want = std::collections::BTreeMap::new();
    for (ri, r) in REGIONS.iter().enumerate() {
        for k in 0..4 {
            for (c, ch) in ["import_wh", "export_wh"].iter().enumerate() {
                let sum: u64 = (0..METERS).map(|i| reading(ri, i, k)[c]).sum();
                want.insert(
                    (
                        r.to_string(),
                        ((T0 + k * STEP) / 1000) as u32,
                        ch.to_string(),
                    ),
                    sum as i64,
                );
            }
        }
    }
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..100 {
        got = env.clickhouse_totals().await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(got, want);
    let audit = run_audit(
        &AuditSettings {
            kafka: env.kafka.clone(),
            topics: env.topics.clone(),
            group_id: unique("audit"),
            protocol: protocol(30),
            from: T0,
            to: T0 + 3 * STEP,
            region: None,
            trusted: vec![env.key().public()],
        },
        Some(&env.warehouse),
    )
    .await
    .unwrap();
    assert!(audit.ok(), "{:?} {:?}", audit.rounds, audit.clickhouse);
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}
