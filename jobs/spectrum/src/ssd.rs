//! Singular spectrum decomposition (Bonizzi, Karel, Meste, Peeters 2014, "Singular spectrum
//! decomposition: a new method for time series decomposition", Adv. Adapt. Data Anal. 6(4)).
//!
//! Components are extracted one at a time from the residual: its dominant frequency f_max sets
//! the window (L = 1.2 fs / f_max, or N/3 when the first residual is dominated by a trend); the
//! residual is embedded in the *wrapped* trajectory matrix (every column a circular shift, so
//! each sample appears L times and reconstruction has no end effects); the eigentriples whose
//! own frequency lies in the peak's band f_max ± δf are grouped into the component, which is
//! rescaled by least squares against the residual. The loop stops when the residual's energy
//! falls below a share of the input's, or after a maximum number of components. One deviation:
//! the first iteration's trend comes from the standard embedding (see `decompose`).

use crate::spectral::{peak_bin, periodogram};
use crate::{SpectrumError, check_series, symmetric_eigen};

/// Stopping rules and units.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdOptions {
    /// Stop when ‖residual‖² / ‖series‖² falls below this (the paper's 1 %).
    pub residual_threshold: f64,
    /// Stop after this many components.
    pub max_components: usize,
    /// Samples per unit of time: frequencies are reported in cycles per unit (1.0: per sample).
    pub sample_rate: f64,
    /// Eigentriples examined per iteration when grouping a component.
    pub max_eigentriples: usize,
}

impl Default for SsdOptions {
    fn default() -> Self {
        SsdOptions {
            residual_threshold: 0.01,
            max_components: 10,
            sample_rate: 1.0,
            max_eigentriples: 12,
        }
    }
}

/// One extracted component.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdComponent {
    pub series: Vec<f64>,
    /// The residual's dominant frequency when this component was extracted (0 for a trend),
    /// in cycles per unit of time.
    pub dominant_frequency: f64,
    /// Embedding window used.
    pub window: usize,
}

/// The decomposition: components plus what is left; they sum to the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Ssd {
    pub components: Vec<SsdComponent>,
    pub residual: Vec<f64>,
}

/// Decomposes `series` (at least 4 finite samples).
pub fn decompose(series: &[f64], opts: &SsdOptions) -> Result<Ssd, SpectrumError> {
    check_series(series, 2)?;
    if series.len() < 4 {
        return Err(SpectrumError::TooShort {
            len: series.len(),
            window: 3,
        });
    }
    let n = series.len();
    let energy: f64 = series.iter().map(|v| v * v).sum();
    let mut residual = series.to_vec();
    let mut components = Vec::new();
    if energy == 0.0 {
        return Ok(Ssd {
            components,
            residual,
        });
    }
    for iteration in 0..opts.max_components {
        let left: f64 = residual.iter().map(|v| v * v).sum();
        if left / energy < opts.residual_threshold {
            break;
        }
        let p = periodogram(&residual);
        let Some(peak) = peak_bin(&p, 0) else { break };
        let trend = iteration == 0 && peak == 0;
        let (window, component, bin) = if trend {
            // The trend is taken from the standard (Hankel) embedding: wrapping would join the
            // series' end to its start, turn a slope into a sawtooth and smear its harmonics
            // over every band (a deliberate deviation from the paper, see docs/decisions.md).
            let window = (n / 3).max(2);
            let ssa = crate::Ssa::new(&residual, window)?;
            (window, ssa.reconstruct(&[0]), 0)
        } else {
            // Ignore the mean from here on: the trend (if any) is already out.
            let Some(k) = peak_bin(&p, 1) else { break };
            let window = ((1.2 * n as f64 / k as f64).round() as usize).clamp(2, n / 2);
            let emb = Wrapped::new(&residual, window)?;
            let half_width = half_power_width(&p, k);
            let mut g = vec![0.0; n];
            let mut used = 0;
            for i in 0..opts.max_eigentriples.min(window) {
                let ri = emb.reconstruct(i);
                let f = peak_bin(&periodogram(&ri), 1).unwrap_or(0);
                if f.abs_diff(k) <= half_width || (i == 0 && used == 0) {
                    for (a, b) in g.iter_mut().zip(&ri) {
                        *a += b;
                    }
                    used += 1;
                }
            }
            (window, g, k)
        };
        // Least-squares scale against the residual (the paper's amplitude correction).
        let gg: f64 = component.iter().map(|v| v * v).sum();
        if gg <= 0.0 {
            break;
        }
        let a = residual
            .iter()
            .zip(&component)
            .map(|(v, g)| v * g)
            .sum::<f64>()
            / gg;
        let component: Vec<f64> = component.iter().map(|g| a * g).collect();
        for (r, g) in residual.iter_mut().zip(&component) {
            *r -= g;
        }
        components.push(SsdComponent {
            series: component,
            dominant_frequency: bin as f64 / n as f64 * opts.sample_rate,
            window,
        });
    }
    Ok(Ssd {
        components,
        residual,
    })
}

/// Bins from the peak to where its power halves (at least 1): the band δf.
fn half_power_width(p: &[f64], k: usize) -> usize {
    let half = p[k] / 2.0;
    let right = (k..p.len())
        .find(|i| p[*i] < half)
        .map_or(p.len() - k, |i| i - k);
    let left = (0..=k).rev().find(|i| p[*i] < half).map_or(k, |i| k - i);
    right.max(left).max(1)
}

/// The wrapped (circular) trajectory matrix of a series: column j is x[j..j+L] modulo N.
struct Wrapped<'a> {
    x: &'a [f64],
    window: usize,
    vectors: Vec<Vec<f64>>,
}

impl<'a> Wrapped<'a> {
    fn new(x: &'a [f64], window: usize) -> Result<Self, SpectrumError> {
        let n = x.len();
        // X Xᵀ is Toeplitz: entry (i, j) is the circular autocorrelation at lag |i - j|.
        let r: Vec<f64> = (0..window)
            .map(|lag| (0..n).map(|t| x[t] * x[(t + lag) % n]).sum())
            .collect();
        let (_, vectors) = symmetric_eigen(window, |i, j| r[i.abs_diff(j)])?;
        Ok(Wrapped { x, window, vectors })
    }

    /// Elementary reconstruction of eigentriple `i`: every sample is covered L times.
    fn reconstruct(&self, i: usize) -> Vec<f64> {
        let (n, l) = (self.x.len(), self.window);
        let u = &self.vectors[i];
        let v: Vec<f64> = (0..n)
            .map(|j| (0..l).map(|a| u[a] * self.x[(a + j) % n]).sum())
            .collect();
        let mut out = vec![0.0; n];
        for (a, ua) in u.iter().enumerate() {
            for (j, vj) in v.iter().enumerate() {
                out[(a + j) % n] += ua * vj;
            }
        }
        out.iter_mut().for_each(|o| *o /= l as f64);
        out
    }
}
