//! End-to-end faults through the real broker and ClickHouse: an aggregator killed mid-round and
//! replaced, rogue input (garbage, a forged bundle) dead-lettered with its reason, drills of
//! wrong partials, out-of-range shares and replays, and the audit catching a tampered total.

use rand::SeedableRng;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use zeal_connectors::kafka::KeyedProducer;
use zeal_protocol::round::crypto::{AggregatorKey, MeterSecrets, sign_message};
use zeal_schemas::{AnyMessage, DeadLetter, RejectReason, ShareBundle, decode, decode_any};
use zeal_services::gateway::Drill;
use zeal_tests::pipeline::*;
use zeal_tests::unique;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_aggregator_killed_mid_round_is_replaced_and_each_interval_has_one_total() {
    let env = Env::new().await;
    let share_secs = 30;
    let gateway = env.gateway(share_secs);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;

    // The first instance opens the rounds, then dies before any meter has answered.
    let first = tokio::spawn(env.aggregator(share_secs).run(env.stop.clone()));
    env.wait_for(&env.topics.control, "the first RoundOpens", |rs| {
        count_kind(rs, |m| {
            matches!(m, AnyMessage::RoundOpen(_)).then(|| "open".into())
        })
        .get("open")
        .is_some_and(|n| *n >= REGIONS.len() * INTERVALS as usize)
    })
    .await;
    first.abort();
    let _ = first.await;

    // Meters answer; a replacement with the same key and group adopts the open rounds.
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(share_secs).run(env.stop.clone()),
    )
    .await
    .expect("the replacement finishes the bounded run")
    .unwrap();
    assert_eq!(
        report.rounds_opened, 0,
        "the replacement opens nothing twice: {report:?}"
    );
    assert_eq!(report.totals, REGIONS.len() as u64 * INTERVALS as u64);

    assert_eq!(env.clickhouse_totals().await, expected());
    let totals = env.read(&env.topics.totals).await;
    let per_round = count_kind(&totals, |m| match m {
        AnyMessage::RegionTotal(t) => Some(format!("{}@{}", t.region, t.interval_start)),
        _ => None,
    });
    assert_eq!(per_round.len(), REGIONS.len() * INTERVALS as usize);
    assert!(
        per_round.values().all(|n| *n == 1),
        "exactly one total per interval: {per_round:?}"
    );
    let control = env.read(&env.topics.control).await;
    let opens = count_kind(&control, |m| match m {
        AnyMessage::RoundOpen(o) => {
            Some(format!("{}@{}#{}", o.region, o.interval_start, o.attempt))
        }
        _ => None,
    });
    assert!(
        opens.values().all(|n| *n == 1),
        "no round opened twice: {opens:?}"
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rogue_input_is_dead_lettered_with_its_reason_and_totals_stay_exact() {
    let env = Env::new().await;
    let share_secs = 20;
    let gateway = env.gateway(share_secs);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let aggregator = tokio::spawn(env.aggregator(share_secs).run(env.stop.clone()));
    let control = env
        .wait_for(&env.topics.control, "a RoundOpen", |rs| {
            rs.iter()
                .any(|r| matches!(decode_any(&r.payload), Ok(AnyMessage::RoundOpen(_))))
        })
        .await;
    let open = control
        .iter()
        .find_map(|r| match decode_any(&r.payload) {
            Ok(AnyMessage::RoundOpen(o)) => Some(o),
            _ => None,
        })
        .unwrap();

    // Garbage, and a bundle claiming to come from a roster member, signed by someone else.
    producer
        .send(
            &env.topics.shares,
            open.region.as_bytes(),
            b"not avro at all",
            None,
        )
        .await
        .unwrap();
    let impostor =
        MeterSecrets::generate(2048, &mut rand_chacha::ChaCha20Rng::seed_from_u64(5)).unwrap();
    let mut forged = ShareBundle {
        region: open.region.clone(),
        interval_start: open.interval_start,
        attempt: open.attempt,
        sender: open.roster[0].clone(),
        shares: vec![],
        sent_at: 0,
        signature: vec![],
    };
    sign_message(&impostor, &mut forged);
    producer
        .send_message(&env.topics.shares, open.region.as_bytes(), &forged)
        .await
        .unwrap();

    // The real meters answer; every round completes.
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(Duration::from_secs(120), aggregator)
        .await
        .expect("bounded run ends")
        .unwrap()
        .unwrap();
    assert_eq!(
        report.totals,
        REGIONS.len() as u64 * INTERVALS as u64,
        "{report:?}"
    );
    assert_eq!(env.clickhouse_totals().await, expected());

    let letters: Vec<DeadLetter> = env
        .read(&env.topics.dlq)
        .await
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).unwrap())
        .collect();
    let reasons: Vec<(RejectReason, Option<String>)> = letters
        .iter()
        .map(|l| (l.reason, l.origin.clone()))
        .collect();
    assert!(
        reasons.contains(&(RejectReason::Malformed, None)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&(RejectReason::BadSignature, Some(open.roster[0].clone()))),
        "{reasons:?}"
    );
    let garbage = letters
        .iter()
        .find(|l| l.reason == RejectReason::Malformed)
        .unwrap();
    assert_eq!(
        garbage.payload, b"not avro at all",
        "the original bytes are kept"
    );
    assert_eq!(garbage.topic, env.topics.shares);
    // The sink keeps every dead letter in ClickHouse too (the operator page counts them there).
    let mut table = String::new();
    for _ in 0..100 {
        table = env
            .warehouse
            .query_text(
                "SELECT reason, origin, topic, offset FROM dead_letters FINAL ORDER BY reason",
            )
            .await
            .unwrap();
        if table.lines().count() >= letters.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(table.lines().count(), letters.len(), "{table}");
    assert!(
        table.contains(&format!("bad_signature\t{}\t", open.roster[0])),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "malformed\t\t{}\t{}",
            garbage.topic, garbage.offset
        )),
        "{table}"
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_passes_an_untouched_log_and_names_a_tampered_total() {
    use zeal_services::audit::{AuditSettings, run_audit};
    let env = Env::new().await;
    let gateway = env.gateway(20);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(20).run(env.stop.clone()),
    )
    .await
    .expect("bounded run ends")
    .unwrap();
    assert_eq!(env.clickhouse_totals().await, expected());
    let settings = AuditSettings {
        kafka: env.kafka.clone(),
        topics: env.topics.clone(),
        group_id: unique("audit"),
        protocol: protocol(20),
        from: T0,
        to: T0 + (INTERVALS - 1) * STEP,
        region: None,
        trusted: vec![env.key().public()],
    };
    let clean = run_audit(&settings, Some(&env.warehouse)).await.unwrap();
    assert!(
        clean.ok(),
        "untouched log: {:?} {:?}",
        clean.rounds,
        clean.clickhouse
    );
    assert_eq!(clean.rounds.len(), REGIONS.len() * INTERVALS as usize);
    assert!(clean.clickhouse_checked);

    // Someone writes a different total for NL-UT-01's first interval into the totals topic.
    let totals = env.read(&env.topics.totals).await;
    let mut forged = totals
        .iter()
        .find_map(|r| match decode_any(&r.payload) {
            Ok(AnyMessage::RegionTotal(t)) if t.region == REGIONS[0] && t.interval_start == T0 => {
                Some(t)
            }
            _ => None,
        })
        .unwrap();
    forged.totals[0] += 5_000;
    forged.published_at += 1_000;
    let rogue =
        AggregatorKey::generate("agg-e2e", &mut rand_chacha::ChaCha20Rng::seed_from_u64(666));
    sign_message(&rogue, &mut forged);
    producer
        .send_message(&env.topics.totals, REGIONS[0].as_bytes(), &forged)
        .await
        .unwrap();
    // The sink writes it like any total (ReplacingMergeTree keeps the newest).
    for _ in 0..50 {
        if env.clickhouse_totals().await != expected() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tampered = run_audit(&settings, Some(&env.warehouse)).await.unwrap();
    assert!(!tampered.ok());
    let bad: Vec<_> = tampered.rounds.iter().filter(|r| !r.ok()).collect();
    assert_eq!(bad.len(), 1, "only the tampered round is named: {bad:?}");
    assert_eq!(
        (bad[0].region.as_str(), bad[0].interval_start),
        (REGIONS[0], T0)
    );
    let checks: Vec<&str> = bad[0].findings.iter().map(|f| f.check).collect();
    assert!(
        checks.contains(&"one-total") && checks.contains(&"signature"),
        "{checks:?}"
    );
    assert!(
        tampered
            .clickhouse
            .iter()
            .any(|c| c.contains(REGIONS[0]) && c.contains("import_wh")),
        "ClickHouse now disagrees with the verified total: {:?}",
        tampered.clickhouse
    );
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_partials_out_of_range_shares_and_replays_are_caught_and_contained() {
    use zeal_services::audit::{AuditSettings, run_audit};
    let mut env = Env::new().await;
    let liar = format!("{}-m001", REGIONS[0]);
    let cheat = format!("{}-m002", REGIONS[1]);
    env.drill = Drill {
        wrong_partials: [liar.clone()].into(),
        out_of_range_shares: [cheat.clone()].into(),
        replay_bundles: true,
    };
    env.intervals = 2;
    env.max_open = 1; // the second round opens after the first is decided, and carries it
    let gateway = env.gateway(20);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    gateway.enrol(&producer).await.unwrap();
    let sink = env.sink().await;
    let gw = tokio::spawn(gateway.run(env.stop.clone()));
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        env.aggregator(20).run(env.stop.clone()),
    )
    .await
    .expect("bounded run ends")
    .unwrap();
    assert_eq!(
        (report.deferred, report.quarantined, report.totals),
        (2, 2, 2),
        "{report:?}"
    );

    // Interval 0 is deferred in both regions; interval 1 carries it, without the culprit.
    let culprit = [1usize, 2];
    let mut want = BTreeMap::new();
    for (ri, r) in REGIONS.iter().enumerate() {
        for (c, ch) in ["import_wh", "export_wh"].iter().enumerate() {
            let sum: u64 = (0..METERS)
                .filter(|i| *i != culprit[ri])
                .map(|i| reading(ri, i, 0)[c] + reading(ri, i, 1)[c])
                .sum();
            want.insert(
                (r.to_string(), ((T0 + STEP) / 1000) as u32, ch.to_string()),
                sum as i64,
            );
        }
    }
    let mut got = BTreeMap::new();
    for _ in 0..50 {
        got = env.clickhouse_totals().await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        got, want,
        "exact totals over the honest meters, carried energy included"
    );

    #[derive(Debug, Deserialize, clickhouse::Row)]
    struct Ev {
        #[allow(dead_code)] // selected to show in failure messages
        event: String,
        meter_id: String,
        reason: String,
    }
    let events: Vec<Ev> = env
        .warehouse
        .fetch_all("SELECT event, meter_id, reason FROM round_events FINAL WHERE event = 'QUARANTINE' ORDER BY meter_id")
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let reason_of = |m: &str| {
        events
            .iter()
            .find(|e| e.meter_id == m)
            .map(|e| e.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason_of(&liar).starts_with("InvalidPartial"), "{events:?}");
    assert!(
        reason_of(&cheat).starts_with("OutOfRangeShares"),
        "{events:?}"
    );

    let letters: Vec<DeadLetter> = env
        .read(&env.topics.dlq)
        .await
        .iter()
        .map(|r| decode::<DeadLetter>(&r.payload).unwrap())
        .collect();
    assert!(
        letters.iter().any(|l| l.reason == RejectReason::Replay),
        "replays are dead-lettered"
    );
    assert!(
        letters
            .iter()
            .any(|l| l.reason == RejectReason::InvalidPartial
                && l.origin.as_deref() == Some(liar.as_str()))
    );

    let audit = run_audit(
        &AuditSettings {
            kafka: env.kafka.clone(),
            topics: env.topics.clone(),
            group_id: unique("audit"),
            protocol: protocol(20),
            from: T0,
            to: T0 + STEP,
            region: None,
            trusted: vec![env.key().public()],
        },
        Some(&env.warehouse),
    )
    .await
    .unwrap();
    assert!(
        audit.ok(),
        "deferrals, quarantines and carries all check out: {:?} {:?} {:?}",
        audit.rounds,
        audit.carry,
        audit.clickhouse
    );
    assert!(audit.pending_carry.is_empty());
    env.finish().await;
    gw.await.unwrap().unwrap();
    sink.await.unwrap().unwrap();
}
