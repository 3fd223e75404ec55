//! Grid balance, pure (no I/O): what a grid operator does with a region's private totals
//! (issue 16, first part).
//!
//! - [`loss`]: the region's technical losses as a function of its net load (fixed plus
//!   quadratic, fitted on history by least squares), and how much they scatter.
//! - [`detect`]: per interval, the feeder meter's energy minus the private total minus the
//!   expected losses; a one-sided CUSUM turns a sustained excess (a bypassed meter, a tapped
//!   line) into an alert with its intervals, energy and strength, while single noisy intervals
//!   do not alarm.
//! - [`billing`]: per region and billing period, the meters' billing-register deltas against
//!   the published totals for the same meters: a region whose meters contribute less than they
//!   are billed for is flagged (which meter is not knowable from totals, by design).
//! - [`metering`]: the utility's feeder readings and billing registers on the wire, signed by
//!   its metering key; [`ledger`]: all of it followed as it arrives (the streaming job's core).
//! - [`sim`]: feeder readings from a region's totals with realistic losses, noise and injected
//!   theft; [`eval`]: false alarms per week and detection rate and delay by theft size
//!   (`zeal bench grid`).

pub mod billing;
pub mod detect;
pub mod eval;
pub mod ledger;
pub mod loss;
pub mod metering;
pub mod sim;

/// One interval of a region: the private total (net import, Wh) and the feeder's reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Interval start, ms since the epoch.
    pub start_ms: i64,
    /// The published private total: the meters' import minus export, Wh.
    pub total_wh: f64,
    /// The feeder (transformer) meter's energy into the region, Wh.
    pub feeder_wh: f64,
}
