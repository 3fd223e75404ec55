//! Topic names and their keys (DESIGN §3).
//!
//! Region-keyed topics share one partition count and the murmur2 partitioner. v1's topics
//! (`zeal.registry.v1`, `zeal.control.v1`, `zeal.shares.v1`, `zeal.partials.v1`,
//! `zeal.totals.v1`) are retired with v1: nothing creates, writes or reads them.

/// Plaintext readings of opted-in households: key = household id.
pub const READINGS: &str = "zeal.readings.v1";
/// Protocol v2's round log: key = region; one [`crate::v2::RoundRecord`] per record (seat keys,
/// commitments, markers, notices, complaints, partials, totals). Every set is defined by the
/// order of a region's partition.
pub const ROUNDS: &str = "zeal.rounds.v2";
/// Protocol v2's encrypted parts: key = `region/seat`, value = [`crate::v2::SeatPart`]; bulk, read
/// by its seat (and by the aggregator for the products).
pub const BUNDLES: &str = "zeal.bundles.v2";
/// Protocol v2's enrolment registry: authority certificates, Cutoff(D) and the beacon relay, one
/// ordered partition, never compacted (the registry never forgets).
pub const REGISTRY_V2: &str = "zeal.registry.v2";
/// The utility's feeder meters: key = region, value = [`crate::grid::FeederReading`], signed by
/// its metering key.
pub const FEEDER: &str = "zeal.feeder.v1";
/// The meters' billing-register deltas per billing period: key = region, value =
/// [`crate::grid::BillingRegister`], signed by the utility's metering key.
pub const BILLING: &str = "zeal.billing.v1";
/// The balance job's alerts: key = region, value = [`crate::grid::GridAlert`].
pub const GRID_ALERTS: &str = "zeal.grid-alerts.v1";
/// Households' consent decisions: key = household id, value =
/// [`crate::consent::ConsentEvent`]; one ordered partition, never deleted (a gateway's consent
/// state is the fold of this log).
pub const CONSENT: &str = "zeal.consent.v1";
/// The record of households' erasures: key = household id, value =
/// [`crate::consent::ErasureEvent`]; one partition, never deleted (the jobs fold it to keep
/// erased households' past out of what they compute).
pub const ERASURE: &str = "zeal.erasure.v1";
/// Rejected input with origin and reason: key = region when known.
pub const DLQ: &str = "zeal.dlq.v1";
