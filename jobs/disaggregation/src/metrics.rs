//! The NILM community's metrics for one appliance (Makonin & Popowich 2015; NILMTK):
//! MAE (Wh per interval), F1 of the on/off state at the appliance's on-threshold, NDE (the
//! normalised disaggregation error, sqrt(Σ(ŷ-y)² / Σy²)) and SAE (|Σŷ - Σy| / Σy).

/// Accumulates predictions against ground truth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    n: u64,
    abs_err: f64,
    sq_err: f64,
    sq_truth: f64,
    sum_truth: f64,
    sum_pred: f64,
    tp: u64,
    fp: u64,
    fn_: u64,
}

/// The finished metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    pub mae: f64,
    pub f1: f64,
    pub nde: f64,
    pub sae: f64,
    pub intervals: u64,
}

impl Score {
    /// One interval: true and predicted energy (Wh), true and predicted state.
    pub fn add(&mut self, truth: f64, pred: f64, truth_on: bool, pred_on: bool) {
        self.n += 1;
        self.abs_err += (pred - truth).abs();
        self.sq_err += (pred - truth).powi(2);
        self.sq_truth += truth * truth;
        self.sum_truth += truth;
        self.sum_pred += pred;
        match (truth_on, pred_on) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => {}
        }
    }

    /// The metrics so far (F1 is 0 when nothing was on and nothing was predicted on).
    pub fn metrics(&self) -> Metrics {
        let n = self.n.max(1) as f64;
        let f1_denominator = 2 * self.tp + self.fp + self.fn_;
        Metrics {
            mae: self.abs_err / n,
            f1: if f1_denominator == 0 {
                0.0
            } else {
                2.0 * self.tp as f64 / f1_denominator as f64
            },
            nde: if self.sq_truth > 0.0 {
                (self.sq_err / self.sq_truth).sqrt()
            } else {
                f64::NAN
            },
            sae: if self.sum_truth > 0.0 {
                (self.sum_pred - self.sum_truth).abs() / self.sum_truth
            } else {
                f64::NAN
            },
            intervals: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let mut s = Score::default();
        // truth 0,100,200,0 ; pred 10,90,0,50 ; threshold 50
        for (t, p) in [(0.0, 10.0), (100.0, 90.0), (200.0, 0.0), (0.0, 50.0)] {
            s.add(t, p, t >= 50.0, p >= 50.0);
        }
        let m = s.metrics();
        assert!((m.mae - (10.0 + 10.0 + 200.0 + 50.0) / 4.0).abs() < 1e-12);
        // tp 1 (100/90), fn 1 (200/0), fp 1 (0/50): F1 = 2/(2+1+1)
        assert!((m.f1 - 0.5).abs() < 1e-12);
        let nde = ((100.0 + 100.0 + 40_000.0 + 2_500.0) / (10_000.0 + 40_000.0f64)).sqrt();
        assert!((m.nde - nde).abs() < 1e-12);
        assert!((m.sae - (150.0 - 300.0f64).abs() / 300.0).abs() < 1e-12);
        assert_eq!(m.intervals, 4);
    }

    #[test]
    fn a_perfect_prediction_scores_perfectly() {
        let mut s = Score::default();
        for t in [0.0, 300.0, 0.0, 800.0] {
            s.add(t, t, t > 0.0, t > 0.0);
        }
        let m = s.metrics();
        assert_eq!((m.mae, m.f1, m.nde, m.sae), (0.0, 1.0, 0.0, 0.0));
    }
}
