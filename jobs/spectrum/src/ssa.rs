//! Singular spectrum analysis: embed the series in its Hankel trajectory matrix X (L rows,
//! K = N - L + 1 columns), decompose the lag-covariance X Xᵀ, and turn eigentriples back into
//! series by averaging the anti-diagonals of their rank-one matrices.

use crate::{SpectrumError, check_series, symmetric_eigen};

/// The decomposition of one series with one window.
#[derive(Debug, Clone)]
pub struct Ssa {
    series: Vec<f64>,
    window: usize,
    /// Eigenvalues of X Xᵀ, descending.
    eigenvalues: Vec<f64>,
    /// Left singular vectors (length L), same order.
    vectors: Vec<Vec<f64>>,
}

impl Ssa {
    /// Decomposes `series` with window length `window` (2 <= window <= len / 2 is typical; any
    /// window up to len - 1 works).
    pub fn new(series: &[f64], window: usize) -> Result<Ssa, SpectrumError> {
        check_series(series, window)?;
        let (n, l) = (series.len(), window);
        let k = n - l + 1;
        // C[i][j] = sum_t x[i+t] x[j+t], t < K; along a diagonal each entry follows from the
        // previous by one subtraction and one addition.
        let mut c = vec![0.0; l * l];
        for d in 0..l {
            let mut acc: f64 = (0..k).map(|t| series[t] * series[d + t]).sum();
            c[d] = acc;
            c[d * l] = acc;
            for i in 1..l - d {
                let j = i + d;
                acc += series[i + k - 1] * series[j + k - 1] - series[i - 1] * series[j - 1];
                c[i * l + j] = acc;
                c[j * l + i] = acc;
            }
        }
        let (eigenvalues, vectors) = symmetric_eigen(l, |i, j| c[i * l + j])?;
        Ok(Ssa {
            series: series.to_vec(),
            window,
            eigenvalues,
            vectors,
        })
    }

    /// Window length L.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Singular values of X, descending.
    pub fn singular_values(&self) -> Vec<f64> {
        self.eigenvalues.iter().map(|v| v.sqrt()).collect()
    }

    /// Each eigentriple's share of the total (sums to 1 unless the series is all zeros).
    pub fn contribution(&self) -> Vec<f64> {
        let total: f64 = self.eigenvalues.iter().sum();
        if total <= 0.0 {
            return vec![0.0; self.eigenvalues.len()];
        }
        self.eigenvalues.iter().map(|v| v / total).collect()
    }

    /// The series reconstructed from the eigentriples `indices` (diagonal averaging), length N.
    pub fn reconstruct(&self, indices: &[usize]) -> Vec<f64> {
        let (n, l) = (self.series.len(), self.window);
        let k = n - l + 1;
        let mut out = vec![0.0; n];
        for &i in indices {
            let Some(u) = self.vectors.get(i) else {
                continue;
            };
            // v = Xᵀ u; the rank-one matrix u vᵀ has entry u[a] v[b] at series index a + b.
            let v: Vec<f64> = (0..k)
                .map(|b| (0..l).map(|a| u[a] * self.series[a + b]).sum())
                .collect();
            for (a, ua) in u.iter().enumerate() {
                for (b, vb) in v.iter().enumerate() {
                    out[a + b] += ua * vb;
                }
            }
        }
        for (t, o) in out.iter_mut().enumerate() {
            // How many (a, b) pairs with a + b = t: the anti-diagonal's length.
            let count = (t + 1).min(l).min(k).min(n - t);
            *o /= count as f64;
        }
        out
    }

    /// The first `count` elementary reconstructed series.
    pub fn components(&self, count: usize) -> Vec<Vec<f64>> {
        (0..count.min(self.eigenvalues.len()))
            .map(|i| self.reconstruct(&[i]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_eigentriples_rebuild_the_series() {
        let x: Vec<f64> = (0..60)
            .map(|t| ((t * 37 % 11) as f64).sin() * 4.0 + t as f64 * 0.1)
            .collect();
        let ssa = Ssa::new(&x, 20).unwrap();
        let all: Vec<usize> = (0..20).collect();
        let back = ssa.reconstruct(&all);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() < 1e-9 * (1.0 + a.abs()), "{a} vs {b}");
        }
        let share: f64 = ssa.contribution().iter().sum();
        assert!((share - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_refused_with_what_to_do() {
        assert!(matches!(
            Ssa::new(&[1.0, 2.0, 3.0], 3),
            Err(SpectrumError::TooShort { .. })
        ));
        assert!(matches!(
            Ssa::new(&[1.0; 10], 1),
            Err(SpectrumError::Window { .. })
        ));
        assert!(matches!(
            Ssa::new(&[1.0, f64::NAN, 2.0, 3.0], 2),
            Err(SpectrumError::NonFinite { index: 1 })
        ));
        let e = Ssa::new(&[1.0, 2.0], 2).unwrap_err().to_string();
        assert!(e.contains("smaller window"), "{e}");
    }
}
