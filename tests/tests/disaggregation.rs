//! The disaggregation job end to end on the real broker and ClickHouse: opted-in households'
//! signed readings in, one row per household, day and appliance out — equal to the model's own
//! output for the same days — forged and unknown readings dead-lettered, and a second run over
//! the same topic adding no rows; after one household's erasure, a run from the start writes
//! none of its rows although its readings are still on the topic.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use zeal_civil::days_from_civil;
use zeal_connectors::kafka::KeyedProducer;
use zeal_disaggregation::Disaggregator;
use zeal_disaggregation::features::{Day, PER_DAY};
use zeal_meters::household::{Archetype, Household};
use zeal_protocol::ed25519_dalek::VerifyingKey;
use zeal_schemas::{AnyMessage, HouseholdReading, RejectReason};
use zeal_services::disaggregate::{DisaggregateJob, DisaggregateSettings, usage_rows};
use zeal_tests::certified::Certified;
use zeal_tests::env::Env;
use zeal_tests::unique;

const REGION: &str = "NL-UT-01";

fn days_of(h: &Household, first: i64, n: usize) -> Vec<Day> {
    h.simulate(first, n).map(|t| Day::from_trace(&t)).collect()
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Stored {
    household_id: String,
    day: u16,
    appliance: String,
    energy_wh: f64,
    on_intervals: u16,
    model_version: String,
}

async fn run_job(
    env: &Env,
    group: &str,
    authority: VerifyingKey,
) -> zeal_services::disaggregate::DisaggregateReport {
    let settings = DisaggregateSettings {
        group_id: group.to_string(),
        idle_exit: Some(Duration::from_secs(3)),
        ..env.deployment().disaggregate(authority)
    };
    let job = DisaggregateJob::new(
        settings,
        Disaggregator::embedded().unwrap(),
        env.warehouse.clone(),
    );
    tokio::time::timeout(Duration::from_secs(120), job.run(env.stop.clone()))
        .await
        .expect("the job goes idle and stops")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readings_become_daily_appliance_usage_once_however_often_the_job_runs() {
    let env = Env::new().await;
    zeal_tables::migrate(&env.warehouse).await.unwrap();
    // The table and the row type agree column by column (validation is off against 18.16).
    let cols: Vec<(String, String)> = env
        .warehouse
        .describe("appliance_usage")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.type_))
        .collect();
    let expected: Vec<(String, String)> = [
        ("household_id", "String"),
        ("region", "String"),
        ("day", "Date"),
        ("appliance", "String"),
        ("energy_wh", "Float64"),
        ("on_intervals", "UInt16"),
        ("confidence", "Float32"),
        ("model_version", "String"),
        ("computed_at", "DateTime('UTC')"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(
        cols, expected,
        "UsageRow fields and appliance_usage columns"
    );

    let producer = KeyedProducer::new(&env.kafka).unwrap();
    let first = days_from_civil(2020, 1, 20);
    let homes = [
        Household::with_archetype(3, 1, Archetype::ProsumerFamily),
        Household::with_archetype(3, 2, Archetype::FamilyWithChildren),
    ];
    // The authority certifies both households' identity keys on the registry topic.
    let certified = Certified::post(
        &env.kafka,
        &env.topics,
        &homes
            .iter()
            .map(|h| (h.id.clone(), REGION.to_string()))
            .collect::<Vec<_>>(),
        5,
    )
    .await;
    let other = |id: &str| {
        homes
            .iter()
            .find(|h| h.id != id)
            .map(|h| certified.identities[&h.id].clone())
            .unwrap()
    };
    let model = Disaggregator::embedded().unwrap();
    let mut want: BTreeMap<(String, u16, String), f64> = BTreeMap::new();
    for h in &homes {
        let days = days_of(h, first, 2);
        for d in &days {
            for k in 0..PER_DAY {
                let mut r = HouseholdReading {
                    household_id: h.id.clone(),
                    region: REGION.into(),
                    interval_start: (d.day * 86_400 + k as i64 * 900) * 1000,
                    interval_seconds: 900,
                    import_wh: d.import_wh[k] as i64,
                    export_wh: d.export_wh[k] as i64,
                    generation_wh: None,
                    signature: Vec::new(),
                };
                certified.sign(&mut r);
                producer
                    .send_message(&env.topics.readings, h.id.as_bytes(), &r)
                    .await
                    .unwrap();
            }
        }
        // What the model says for these days, computed here: day 1 sees day 2, day 2 sees day 1.
        for (i, d) in days.iter().enumerate() {
            let prev = i.checked_sub(1).map(|j| &days[j]);
            let next = days.get(i + 1);
            for row in usage_rows(&model, &h.id, REGION, prev, d, next, 0).unwrap() {
                want.insert((row.household_id, row.day, row.appliance), row.energy_wh);
            }
        }
    }
    // A forged reading (signed by someone else) and one of a household nobody enrolled.
    let mut forged = HouseholdReading {
        household_id: homes[0].id.clone(),
        region: REGION.into(),
        interval_start: (first + 5) * 86_400_000,
        interval_seconds: 900,
        import_wh: 99_999,
        export_wh: 0,
        generation_wh: None,
        signature: Vec::new(),
    };
    // Signed by the other household's certified key: a takeover attempt.
    zeal_protocol::v2::readings::sign(&other(&homes[0].id), &mut forged);
    producer
        .send_message(
            &env.topics.readings,
            forged.household_id.as_bytes(),
            &forged,
        )
        .await
        .unwrap();
    let mut stranger = forged.clone();
    stranger.household_id = "hh-unknown".into();
    zeal_protocol::v2::readings::sign(&other(&homes[0].id), &mut stranger);
    producer
        .send_message(&env.topics.readings, b"hh-unknown", &stranger)
        .await
        .unwrap();
    // Properly signed, but a negative generation: refused as malformed, not clamped.
    let mut negative = HouseholdReading {
        generation_wh: Some(-5),
        ..forged.clone()
    };
    certified.sign(&mut negative);
    producer
        .send_message(
            &env.topics.readings,
            negative.household_id.as_bytes(),
            &negative,
        )
        .await
        .unwrap();

    let first_run = run_job(&env, &unique("disagg"), certified.authority_key()).await;
    assert_eq!(first_run.readings, 2 * 2 * PER_DAY as u64);
    assert_eq!(first_run.days, 4);
    assert_eq!(first_run.rows, 4 * 9);
    assert_eq!(first_run.dead_letters, 3);

    let fetch = || async {
        env.warehouse
            .fetch_all::<Stored>(
                "SELECT household_id, day, appliance, energy_wh, on_intervals, model_version \
                 FROM appliance_usage FINAL ORDER BY household_id, day, appliance",
            )
            .await
            .unwrap()
    };
    let rows = fetch().await;
    assert_eq!(rows.len(), want.len());
    for r in &rows {
        let key = (r.household_id.clone(), r.day, r.appliance.clone());
        assert_eq!(want.get(&key), Some(&r.energy_wh), "{key:?}");
        assert_eq!(r.model_version, model.meta.version);
        assert!(usize::from(r.on_intervals) <= PER_DAY);
    }
    // The prosumer's heat pump runs on January days; the family has none.
    let hp = |id: &str| {
        rows.iter()
            .filter(|r| r.household_id == id && r.appliance == "heat_pump")
            .map(|r| r.energy_wh)
            .sum::<f64>()
    };
    assert!(
        hp(&homes[0].id) > 10_000.0,
        "prosumer heat pump {} Wh",
        hp(&homes[0].id)
    );

    // Again, from the start, with another consumer group: the same rows replace themselves.
    let second = run_job(&env, &unique("disagg"), certified.authority_key()).await;
    assert_eq!(second.rows, 4 * 9);
    env.warehouse
        .execute("OPTIMIZE TABLE appliance_usage FINAL")
        .await
        .unwrap();
    #[derive(Deserialize, clickhouse::Row)]
    struct Count {
        n: u64,
    }
    let n = env
        .warehouse
        .fetch_all::<Count>("SELECT count() AS n FROM appliance_usage")
        .await
        .unwrap();
    assert_eq!(n[0].n, want.len() as u64, "no duplicates after a re-run");
    assert_eq!(fetch().await.len(), want.len());

    // The family asks for erasure. Its readings are still on the topic; a run from the start
    // (a replay, a new consumer group) leaves its days out and writes the prosumer's again.
    let store = zeal_tables::Store::ClickHouse(Box::new(env.warehouse.clone()));
    let app = zeal_protocol::ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let gone = zeal_tests::erase_and_record(
        &store,
        &env.kafka,
        &env.topics.erasure,
        &homes[1].id,
        REGION,
        &app,
    )
    .await;
    assert!(gone.contains(&("appliance_usage", 2 * 9)), "{gone:?}");
    let third = run_job(&env, &unique("disagg"), certified.authority_key()).await;
    assert_eq!((third.rows, third.erased_days), (2 * 9, 2), "{third:?}");
    let left = fetch().await;
    assert_eq!(left.len(), 2 * 9);
    assert!(
        left.iter().all(|r| r.household_id == homes[0].id),
        "{left:?}"
    );

    let letters = env.read(&env.topics.dlq).await;
    let reasons: Vec<RejectReason> = letters
        .iter()
        .filter_map(|r| match zeal_schemas::decode_any(&r.payload) {
            Ok(AnyMessage::DeadLetter(d)) => Some(d.reason),
            _ => None,
        })
        .collect();
    assert!(reasons.contains(&RejectReason::BadSignature), "{reasons:?}");
    assert!(
        reasons.contains(&RejectReason::UnknownSender),
        "{reasons:?}"
    );
    assert!(reasons.contains(&RejectReason::Malformed), "{reasons:?}");
    env.finish().await;
}
