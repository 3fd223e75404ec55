//! A region's technical losses: `fixed + linear·net + quadratic·net²` Wh per interval (no-load
//! transformer losses, and load losses growing with the square of the current), fitted on
//! history where no theft is known, with the scatter of what it does not explain.

/// Losses as a function of the interval's net load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossModel {
    pub fixed_wh: f64,
    pub linear: f64,
    /// Per Wh of net load, squared.
    pub quadratic: f64,
    /// The residuals' scatter: a standard deviation of `sqrt(noise_wh² + (noise_relative·net)²)`
    /// (the feeder meter's error grows with the energy it measures).
    pub noise_wh: f64,
    pub noise_relative: f64,
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    /// Fewer intervals than the model needs for a stable fit.
    TooFew { have: usize, need: usize },
    /// The net loads do not vary enough to tell the terms apart.
    Degenerate,
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitError::TooFew { have, need } => {
                write!(f, "{have} intervals of history, at least {need} needed")
            }
            FitError::Degenerate => write!(f, "the history's net loads are (nearly) constant"),
        }
    }
}

impl std::error::Error for FitError {}

impl LossModel {
    /// The scatter's floor, Wh: totals and feeder readings are whole Wh, so their difference is
    /// never known better than this.
    pub const RESOLUTION_WH: f64 = 0.5;

    /// Intervals of history a fit needs (two days of 15-minute intervals).
    pub const MIN_HISTORY: usize = 192;

    /// The residuals' standard deviation at net load `net_wh`: never below
    /// [`LossModel::RESOLUTION_WH`].
    pub fn sd(&self, net_wh: f64) -> f64 {
        self.noise_wh
            .hypot(self.noise_relative * net_wh)
            .max(Self::RESOLUTION_WH)
    }

    /// Expected losses at net load `net_wh`.
    pub fn expected(&self, net_wh: f64) -> f64 {
        self.fixed_wh + self.linear * net_wh + self.quadratic * net_wh * net_wh
    }

    /// Least squares of `feeder - total` on `[1, total, total²]` over `history`.
    pub fn fit(history: &[crate::Interval]) -> Result<LossModel, FitError> {
        if history.len() < Self::MIN_HISTORY {
            return Err(FitError::TooFew {
                have: history.len(),
                need: Self::MIN_HISTORY,
            });
        }
        // Scale the load to ~1 so the normal equations stay well conditioned.
        let scale = history
            .iter()
            .map(|i| i.total_wh.abs())
            .fold(0.0, f64::max)
            .max(1.0);
        let mut ata = [[0.0f64; 3]; 3];
        let mut atb = [0.0f64; 3];
        for i in history {
            let x = i.total_wh / scale;
            let row = [1.0, x, x * x];
            let y = i.feeder_wh - i.total_wh;
            for r in 0..3 {
                for c in 0..3 {
                    ata[r][c] += row[r] * row[c];
                }
                atb[r] += row[r] * y;
            }
        }
        let [a, b, c] = solve3(ata, atb).ok_or(FitError::Degenerate)?;
        let mut model = LossModel {
            fixed_wh: a,
            linear: b / scale,
            quadratic: c / (scale * scale),
            noise_wh: 0.0,
            noise_relative: 0.0,
        };
        // The scatter: squared residuals against [1, x²] (x scaled), both terms >= 0, by
        // iteratively reweighted least squares (weights 1/v², as for a variance function):
        // plain least squares is dominated by the high loads and can put the no-load scatter at
        // zero, which would make every quiet interval near zero net load look like a theft.
        let points: Vec<(f64, f64)> = history
            .iter()
            .map(|i| {
                let x2 = (i.total_wh / scale).powi(2);
                let r2 = (i.feeder_wh - i.total_wh - model.expected(i.total_wh)).powi(2);
                (x2, r2)
            })
            .collect();
        let mean_r2 = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
        let floor = (mean_r2 * 1e-4).max(1e-12);
        let (mut alpha, mut beta) = (mean_r2, 0.0);
        for _ in 0..8 {
            let (mut s00, mut s01, mut s11, mut t0, mut t1) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(x2, r2) in &points {
                let w = 1.0 / (alpha + beta * x2).max(floor).powi(2);
                s00 += w;
                s01 += w * x2;
                s11 += w * x2 * x2;
                t0 += w * r2;
                t1 += w * x2 * r2;
            }
            let det = s00 * s11 - s01 * s01;
            let (a, b) = if det.abs() > 1e-12 * s00 * s11 {
                ((t0 * s11 - s01 * t1) / det, (s00 * t1 - s01 * t0) / det)
            } else {
                (t0 / s00, 0.0)
            };
            (alpha, beta) = if b < 0.0 {
                (t0 / s00, 0.0)
            } else if a < 0.0 {
                (0.0, t1 / s11)
            } else {
                (a, b)
            };
            alpha = alpha.max(floor);
        }
        // Three parameters were fitted from the same residuals.
        let n = history.len() as f64;
        let dof = n / (n - 3.0);
        model.noise_wh = (alpha * dof).sqrt();
        model.noise_relative = (beta * dof).sqrt() / scale;
        Ok(model)
    }
}

/// Solves a 3×3 system by Gaussian elimination with partial pivoting; `None` if singular.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    let norm = a.iter().flatten().map(|x| x.abs()).fold(0.0, f64::max);
    for col in 0..3 {
        let pivot = (col..3).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= norm * 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (pivot_row, pivot_b) = (a[col], b[col]);
        for r in col + 1..3 {
            let f = a[r][col] / pivot_row[col];
            for (x, p) in a[r].iter_mut().zip(pivot_row).skip(col) {
                *x -= f * p;
            }
            b[r] -= f * pivot_b;
        }
    }
    let mut x = [0.0; 3];
    for r in (0..3).rev() {
        let s: f64 = (r + 1..3).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interval;

    #[test]
    fn recovers_the_loss_curve_it_was_given() {
        let history: Vec<Interval> = (0..400)
            .map(|k| {
                let net = 2_000.0 + 6_000.0 * ((k as f64) * 0.13).sin().abs();
                Interval {
                    start_ms: k * 900_000,
                    total_wh: net,
                    feeder_wh: net + 40.0 + 0.01 * net + 2e-6 * net * net,
                }
            })
            .collect();
        let m = LossModel::fit(&history).unwrap();
        assert!((m.fixed_wh - 40.0).abs() < 1e-6, "{m:?}");
        assert!((m.linear - 0.01).abs() < 1e-9, "{m:?}");
        assert!((m.quadratic - 2e-6).abs() < 1e-12, "{m:?}");
        assert_eq!(m.sd(5_000.0), LossModel::RESOLUTION_WH, "{m:?}");
    }

    #[test]
    fn estimates_a_scatter_that_grows_with_the_load() {
        let mut rng = crate::sim::Rng::new(3);
        let history: Vec<Interval> = (0..5_000)
            .map(|k| {
                let net = 1_000.0 + 9_000.0 * rng.uniform();
                let sd = (20.0f64.powi(2) + (0.005 * net).powi(2)).sqrt();
                Interval {
                    start_ms: k * 900_000,
                    total_wh: net,
                    feeder_wh: net + 50.0 + 2e-6 * net * net + sd * rng.normal(),
                }
            })
            .collect();
        let m = LossModel::fit(&history).unwrap();
        assert!((m.sd(1_000.0) / 20.6 - 1.0).abs() < 0.15, "{m:?}");
        assert!((m.sd(10_000.0) / 53.9 - 1.0).abs() < 0.1, "{m:?}");
        assert!((m.expected(5_000.0) / 100.0 - 1.0).abs() < 0.05, "{m:?}");
    }

    #[test]
    fn refuses_short_or_flat_history() {
        let flat: Vec<Interval> = (0..300)
            .map(|k| Interval {
                start_ms: k,
                total_wh: 5_000.0,
                feeder_wh: 5_100.0,
            })
            .collect();
        assert_eq!(LossModel::fit(&flat), Err(FitError::Degenerate));
        assert_eq!(
            LossModel::fit(&flat[..10]),
            Err(FitError::TooFew {
                have: 10,
                need: LossModel::MIN_HISTORY
            })
        );
    }
}
