//! `zeal demo`'s grid-balance step: a feeder study beside the protocol's regions. One region
//! of 50 simulated households over the three weeks before the demo's day, a 2 kW theft for 6
//! hours in its third week and one meter reporting 70 % of its import into the protocol; its
//! totals are simulated (three weeks of 50 meters through protocol v2 would take hours of CPU)
//! and stored as `region_totals` under the aggregator id `simulated-grid-study`. The utility's
//! feeder readings and billing registers are signed with the demo's metering key and posted on
//! the demo's topics, and the balance job follows them as it would in production.

use std::sync::Arc;
use std::time::Duration;
use zeal_grid::metering;
use zeal_grid::sim::{Study, Theft};
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_services::balance::{BalanceJob, BalanceReport, BalanceSettings};
use zeal_services::deployment::Deployment;
use zeal_tables::{Destination, Store, TotalRow};

/// The study's region.
pub const REGION: &str = "NL-GRID";
const DAY: i64 = 86_400_000;
const METERS: usize = 50;
/// The aggregator id its simulated totals are stored under.
const AGGREGATOR: &str = "simulated-grid-study";

/// What the step did.
pub struct GridStudy {
    pub theft: Theft,
    pub report: BalanceReport,
}

/// Runs the study whose three weeks end at the start of `demo_start`'s day.
pub async fn run(
    deployment: &Deployment,
    store: &Arc<Store>,
    metering_key: &SigningKey,
    demo_start: i64,
) -> anyhow::Result<GridStudy> {
    let start_ms = demo_start.div_euclid(DAY) * DAY - 21 * DAY;
    let week = (start_ms + 14 * DAY, start_ms + 21 * DAY);
    let theft = Theft {
        start_ms: start_ms + 16 * DAY + 20 * 3_600_000,
        hours: 6.0,
        watts: 2_000.0,
    };
    let seen = Study {
        meters: METERS,
        start_ms,
        days: 21,
        theft: Some(theft),
        under_reporting: Some((17, 0.7)),
        billing_period: week,
        seed: 16,
    }
    .run();
    let totals: Vec<TotalRow> = seen
        .totals
        .iter()
        .flat_map(|&(t, i, e)| TotalRow::energy(REGION, t, (i, e), METERS as u32, AGGREGATOR))
        .collect();
    store.write(&totals).await?;
    let topics = &deployment.topics;
    let producer = zeal_connectors::kafka::KeyedProducer::new(&deployment.kafka)?;
    let feeder = format!("{REGION}/TR-1");
    let readings: Vec<_> = seen
        .feeder
        .iter()
        .map(|&(t, wh)| metering::signed_feeder(metering_key, &feeder, REGION, t, wh))
        .collect();
    for chunk in readings.chunks(500) {
        let sends = chunk
            .iter()
            .map(|r| producer.send_message(&topics.feeder, REGION.as_bytes(), r));
        futures::future::try_join_all(sends).await?;
    }
    for (m, deltas) in seen.billed.into_iter().enumerate() {
        let meter = format!("{REGION}-m{m:02}");
        let b = metering::signed_billing(metering_key, &meter, REGION, week, deltas);
        producer
            .send_message(&topics.billing, REGION.as_bytes(), &b)
            .await?;
    }
    let settings = BalanceSettings {
        group_id: "demo-balance".into(),
        judge_every: Duration::from_secs(1),
        idle_exit: Some(Duration::from_secs(1)),
        ..deployment.balance(metering_key.verifying_key())
    };
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let report = BalanceJob::new(settings, store.clone()).run(stop).await?;
    Ok(GridStudy { theft, report })
}
