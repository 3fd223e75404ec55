//! Grid balance through the real broker and ClickHouse (issue 16): three regions of 50 meters
//! with three weeks of verified 15-minute totals in `region_totals` (as `zeal audit` stores
//! them), their feeder meters' readings and the meters' billing registers for the third week on
//! the broker, signed by the utility's metering key. The balance job follows the topics, fits
//! each region's losses on its first two weeks and judges the third:
//! - NL-A, technical losses only: no alert over the week;
//! - NL-B, a 2 kW theft for 6 hours: one FEEDER alert (raised, then closed) naming NL-B and
//!   the theft's hours;
//! - NL-C, one meter reporting 70 % of its import into the protocol but billed correctly: the
//!   billing reconciliation flags NL-C for that week (and no household).
//!
//! The attack: someone with write access to the feeder topic (a gateway, the aggregator)
//! posts lowered feeder readings for the theft's hours *before* the utility's, and a lowered
//! billing register for the lying meter; the job keeps the first value it accepts, so without
//! the signature check the theft and the shortfall would both vanish. They are dead-lettered
//! `BAD_SIGNATURE` and both alerts stand.

use serde::Deserialize;
use std::time::Duration;
use zeal_connectors::kafka::KeyedProducer;
use zeal_grid::metering;
use zeal_grid::sim::{Study, Theft};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_schemas::grid::{FeederReading, GridAlert, GridAlertKind, GridAlertState};
use zeal_schemas::{AnyMessage, RejectReason, decode, decode_any};
use zeal_services::balance::{BalanceJob, BalanceSettings};
use zeal_services::metrics::{Metrics, Role};
use zeal_tables::TotalRow;
use zeal_tests::env::Env;

const DAY: i64 = 86_400_000;
const Q: i64 = 900_000;
/// 2020-07-01T00:00Z.
const T0: i64 = 18_444 * DAY;
const METERS: usize = 50;
const DAYS: usize = 21;
/// The judged week (the third).
const WEEK: (i64, i64) = (T0 + 14 * DAY, T0 + 21 * DAY);

fn theft() -> Theft {
    Theft {
        start_ms: T0 + 16 * DAY + 20 * 3_600_000,
        hours: 6.0,
        watts: 2_000.0,
    }
}

/// The three regions' studies: three weeks of 50 meters, billed for the third.
fn studies() -> [(&'static str, Study); 3] {
    let study = |seed, theft, under_reporting| Study {
        meters: METERS,
        start_ms: T0,
        days: DAYS,
        theft,
        under_reporting,
        billing_period: WEEK,
        seed,
    };
    [
        ("NL-A", study(100, None, None)),
        ("NL-B", study(101, Some(theft()), None)),
        ("NL-C", study(102, None, Some((17, 0.7)))),
    ]
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Marked {
    region: String,
    first: u32,
    last: u32,
    n: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losses_stay_quiet_a_theft_is_found_and_an_under_reporting_meter_flags_its_region() {
    let env = Env::new().await;
    zeal_tables::migrate(&env.warehouse).await.unwrap();
    let utility = SigningKey::from_bytes(&[0x51; 32]);
    let intruder = SigningKey::from_bytes(&[0x66; 32]);
    let producer = KeyedProducer::new(&env.kafka).unwrap();
    let (mut totals, mut feeders, mut bills) = (Vec::new(), Vec::new(), Vec::new());
    for (region, study) in studies() {
        let seen = study.run();
        for (t, import, export) in seen.totals {
            totals.extend(TotalRow::energy(
                region,
                t,
                (import, export),
                METERS as u32,
                "agg",
            ));
        }
        let feeder = format!("{region}/TR-1");
        for (t, wh) in seen.feeder {
            feeders.push(metering::signed_feeder(&utility, &feeder, region, t, wh));
        }
        for (m, deltas) in seen.billed.into_iter().enumerate() {
            let meter = format!("{region}-m{m:02}");
            bills.push(metering::signed_billing(
                &utility, &meter, region, WEEK, deltas,
            ));
        }
    }
    env.warehouse
        .insert_rows("region_totals", &totals)
        .await
        .unwrap();

    // The forgeries go first: lowered feeder readings over the theft (the meters' total plus
    // typical losses) and a lowered register for NL-C's lying meter.
    let mut forged = 0;
    for f in feeders
        .iter()
        .filter(|f| f.region == "NL-B" && theft().wh_in(f.interval_start, Q) > 0.0)
    {
        let mut lie = FeederReading {
            energy_wh: f.energy_wh - 500,
            ..f.clone()
        };
        metering::sign_feeder(&intruder, &mut lie);
        producer
            .send_message(&env.topics.feeder, b"NL-B", &lie)
            .await
            .unwrap();
        forged += 1;
    }
    let mut lie = bills
        .iter()
        .find(|b| b.meter_id == "NL-C-m17")
        .unwrap()
        .clone();
    lie.import_wh = lie.import_wh * 7 / 10;
    metering::sign_billing(&intruder, &mut lie);
    producer
        .send_message(&env.topics.billing, b"NL-C", &lie)
        .await
        .unwrap();
    forged += 1;
    // In flight together (each send waits for its acknowledgement).
    for chunk in feeders.chunks(1_000) {
        let sends = chunk
            .iter()
            .map(|f| producer.send_message(&env.topics.feeder, f.region.as_bytes(), f));
        futures::future::try_join_all(sends).await.unwrap();
    }
    let sends = bills
        .iter()
        .map(|b| producer.send_message(&env.topics.billing, b.region.as_bytes(), b));
    futures::future::try_join_all(sends).await.unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();

    let metrics = Metrics::new(Role::Balance);
    let settings = BalanceSettings {
        judge_every: Duration::from_secs(1),
        idle_exit: Some(Duration::from_secs(3)),
        metrics: metrics.clone(),
        ..env.deployment().balance(utility.verifying_key())
    };
    let report = tokio::time::timeout(
        Duration::from_secs(300),
        BalanceJob::new(settings, env.warehouse.clone()).run(env.stop.clone()),
    )
    .await
    .expect("the job goes idle")
    .unwrap();
    assert_eq!(report.feeder_readings, 3 * (DAYS * 96) as u64);
    assert_eq!(report.billing_registers, 3 * METERS as u64);
    assert_eq!(report.dead_letters, forged, "{report:?}");

    // The alerts, as an operator's consumer sees them on the topic.
    let by_debug = |v: &mut Vec<GridAlert>| v.sort_by_key(|e| format!("{e:?}"));
    let mut events: Vec<GridAlert> = env
        .read(&env.topics.grid_alerts)
        .await
        .iter()
        .map(|r| decode::<GridAlert>(&r.payload).unwrap())
        .collect();
    let mut published = report.alerts.clone();
    by_debug(&mut events);
    by_debug(&mut published);
    assert_eq!(events, published, "the topic holds what the job published");
    let events = report.alerts.clone();
    assert!(
        events.iter().all(|e| e.region != "NL-A"),
        "losses only: {events:?}"
    );
    let feeder_alerts: Vec<&GridAlert> = events
        .iter()
        .filter(|e| e.kind == GridAlertKind::Feeder)
        .collect();
    assert_eq!(
        feeder_alerts
            .iter()
            .map(|e| (e.region.as_str(), e.state))
            .collect::<Vec<_>>(),
        [
            ("NL-B", GridAlertState::Raised),
            ("NL-B", GridAlertState::Closed)
        ],
        "{events:?}"
    );
    let closed = feeder_alerts[1];
    let (start, end) = (theft().start_ms, theft().start_ms + 6 * 3_600_000);
    assert!(
        (closed.first_interval - start).abs() <= Q && (closed.end - end).abs() <= Q,
        "the theft's hours, give or take one interval: {closed:?}"
    );
    assert!(
        (closed.unexplained_wh / 12_000.0 - 1.0).abs() < 0.15,
        "12 kWh stolen: {closed:?}"
    );
    let billing: Vec<&GridAlert> = events
        .iter()
        .filter(|e| e.kind == GridAlertKind::Billing)
        .collect();
    assert_eq!(billing.len(), 1, "{events:?}");
    assert_eq!(
        (
            billing[0].region.as_str(),
            billing[0].first_interval,
            billing[0].end
        ),
        ("NL-C", WEEK.0, WEEK.1)
    );
    assert!(
        billing[0].detail.starts_with("import_wh") && !billing[0].detail.contains("m17"),
        "{:?}",
        billing[0]
    );

    // The forgeries, dead-lettered with their reason.
    let letters: Vec<_> = env
        .read(&env.topics.dlq)
        .await
        .iter()
        .filter_map(|r| match decode_any(&r.payload) {
            Ok(AnyMessage::DeadLetter(d)) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(letters.len() as u64, forged);
    assert!(
        letters
            .iter()
            .all(|d| d.reason == RejectReason::BadSignature && d.rejected_by == "balance")
    );

    // grid_balance: the judged week of every region, NL-B's alert over the theft's hours only.
    let rows: u64 = env
        .warehouse
        .client()
        .query("SELECT count() FROM (SELECT * FROM grid_balance FINAL)")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rows, 3 * 7 * 96);
    let marked: Vec<Marked> = env
        .warehouse
        .client()
        .query("SELECT region, min(toUInt32(interval_start)) AS first, max(toUInt32(interval_start)) AS last, count() AS n FROM grid_balance FINAL WHERE alert = 1 GROUP BY region")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(marked.len(), 1, "{marked:?}");
    assert_eq!(marked[0].region, "NL-B");
    assert_eq!(
        (
            i64::from(marked[0].first) * 1000,
            i64::from(marked[0].last) * 1000 + Q,
            marked[0].n as i64
        ),
        (
            closed.first_interval,
            closed.end,
            i64::from(closed.intervals)
        )
    );

    // The metric: the alert was closed, none is open; one raised, one closed, one billing.
    let text = metrics.render();
    assert!(text.contains("zeal_grid_open_alerts 0"), "{text}");
    for kind in ["feeder_raised", "feeder_closed", "billing"] {
        assert!(
            text.contains(&format!("zeal_grid_alerts_total{{kind=\"{kind}\"}} 1")),
            "{kind}: {text}"
        );
    }
    env.finish().await;
}
