//! Opted-in readings from a v2 gateway: each signed with the meter's certified identity key
//! (`zeal_protocol::v2::readings`) and posted on the readings topic, key = meter id. The jobs
//! that read them (disaggregation, the game) check them against `zeal.registry.v2`.

use crate::ServiceError;
use crate::metrics::Metrics;
use zeal_connectors::kafka::KeyedProducer;
use zeal_protocol::ed25519_dalek::SigningKey;
use zeal_schemas::HouseholdReading;

/// One 15-minute reading as a household shares it (the meters' own interval reading).
pub use zeal_meters::IntervalReading as Reading;

/// `r` of `meter` (certified in `region`) as the readings topic carries it, signed with the
/// meter's identity key.
pub fn signed_message(
    meter: &str,
    region: &str,
    r: &Reading,
    identity: &SigningKey,
) -> HouseholdReading {
    let mut m = HouseholdReading {
        household_id: meter.to_string(),
        region: region.to_string(),
        interval_start: r.interval_start,
        interval_seconds: 900,
        import_wh: r.import_wh as i64,
        export_wh: r.export_wh as i64,
        generation_wh: r.generation_wh.map(|g| g as i64),
        signature: Vec::new(),
    };
    zeal_protocol::v2::readings::sign(identity, &mut m);
    m
}

/// Signs and posts `readings` of `meter` (certified in `region` under `identity`); returns how
/// many were posted.
pub async fn publish(
    producer: &KeyedProducer,
    topic: &str,
    meter: &str,
    region: &str,
    identity: &SigningKey,
    readings: &[Reading],
    metrics: &Metrics,
) -> Result<usize, ServiceError> {
    // Every reading in flight at once; each awaits its acknowledgement.
    let sends = readings.iter().map(|r| async move {
        let m = signed_message(meter, region, r, identity);
        producer.send_message(topic, meter.as_bytes(), &m).await?;
        metrics.published("reading");
        Ok::<_, ServiceError>(())
    });
    futures::future::try_join_all(sends).await?;
    Ok(readings.len())
}
