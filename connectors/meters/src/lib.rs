//! Where meter readings come from: simulated households ([`sim`]) and DSMR register exports
//! ([`dsmr`]). Both produce [`IntervalReading`]s: energy imported from and exported to the grid
//! in one interval, in whole watt-hours.

pub mod dsmr;
pub mod household;
pub mod sim;

/// One meter's energy over one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalReading {
    /// Interval start, milliseconds since the Unix epoch (UTC).
    pub interval_start: i64,
    /// Energy drawn from the grid, Wh.
    pub import_wh: u64,
    /// Energy fed into the grid, Wh.
    pub export_wh: u64,
    /// PV generation behind the meter, Wh, where an inverter reports it (the simulator knows
    /// it for its PV households); `None` for a DSMR meter alone, which sees only the net flow.
    pub generation_wh: Option<u64>,
}
