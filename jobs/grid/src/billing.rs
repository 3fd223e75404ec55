//! Billing reconciliation: every meter's register is read for its bill anyway. Per region,
//! channel and billing period, the sum of the meters' signed register deltas against the sum of
//! the published private totals for the same meters and intervals. Both come from the same
//! registers, so an honest region differs by rounding only; a region whose meters report less
//! into the protocol than they are billed for (a meter lying within the allowed range) is
//! flagged. Which meter is not knowable from totals, by design.

/// One region, channel and period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reconciliation {
    /// Billed minus published, Wh (positive: the meters contributed less than they billed).
    pub shortfall_wh: f64,
    /// The same as a share of the billed energy.
    pub relative: f64,
    pub flagged: bool,
}

/// How far billed and published may differ without a flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Share of the billed energy.
    pub relative: f64,
    /// Wh per meter: the register's rounding at the period's two ends (the deltas in between
    /// telescope).
    pub per_meter_wh: f64,
}

impl Default for Tolerance {
    /// 0.1 % and 1 Wh per meter.
    fn default() -> Self {
        Tolerance {
            relative: 0.001,
            per_meter_wh: 1.0,
        }
    }
}

/// Compares `billed_wh` (register deltas of `meters` meters) with `published_wh` (private
/// totals of the same meters and intervals). For an export channel pass them swapped: too much
/// published export is the shortfall there.
pub fn reconcile(
    billed_wh: f64,
    published_wh: f64,
    meters: u64,
    tolerance: &Tolerance,
) -> Reconciliation {
    let shortfall = billed_wh - published_wh;
    let allowed = tolerance.relative * billed_wh.abs() + tolerance.per_meter_wh * meters as f64;
    Reconciliation {
        shortfall_wh: shortfall,
        relative: shortfall / billed_wh.abs().max(1.0),
        flagged: shortfall > allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_under_reporting_by_thirty_percent_flags_its_region() {
        // 50 meters, a week of 15-minute intervals, ~150 Wh each; one reports 70 %.
        let intervals = 7 * 96;
        let per_meter = 150.0 * intervals as f64;
        let billed = 50.0 * per_meter;
        let honest = reconcile(billed, billed - 3.0, 50, &Tolerance::default());
        assert!(!honest.flagged, "{honest:?}");
        let lying = reconcile(billed, billed - 0.3 * per_meter, 50, &Tolerance::default());
        assert!(lying.flagged, "{lying:?}");
        assert!((lying.relative - 0.006).abs() < 1e-9, "{lying:?}");
        // Reporting more than billed is not a shortfall.
        assert!(!reconcile(billed, billed * 1.1, 50, &Tolerance::default()).flagged);
    }
}
