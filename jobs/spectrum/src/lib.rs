//! Singular spectrum methods for household load series: the decomposition half of the
//! disaggregation features (DESIGN §3, issue 5).
//!
//! - [`ssa::Ssa`]: classic singular spectrum analysis on the Hankel trajectory matrix:
//!   eigentriples, their shares, and reconstruction by diagonal averaging.
//! - [`ssd::decompose`]: singular spectrum decomposition (Bonizzi, Karel, Meste, Peeters 2014):
//!   wrapped trajectory matrix, window chosen from the residual's dominant frequency, components
//!   extracted one by one until the residual is small.
//! - [`spectral`]: the periodogram and dominant frequency both build on.
//!
//! Pure functions, deterministic, no I/O.

pub mod error;
pub mod spectral;
pub mod ssa;
pub mod ssd;

pub use error::SpectrumError;
pub use spectral::{dominant_frequency, periodogram};
pub use ssa::Ssa;
pub use ssd::{Ssd, SsdComponent, SsdOptions, decompose};

/// Eigenvalues (descending) and eigenvectors (columns, same order) of a symmetric matrix given
/// by `entry(i, j)`, `n` x `n`.
pub(crate) fn symmetric_eigen(
    n: usize,
    entry: impl Fn(usize, usize) -> f64,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), SpectrumError> {
    let m = faer::Mat::<f64>::from_fn(n, n, entry);
    let evd = m
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| SpectrumError::Eigen(format!("{e:?}")))?;
    let s = evd.S().column_vector();
    let u = evd.U();
    // faer sorts ascending; SSA wants the largest first.
    let mut values = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n);
    for i in (0..n).rev() {
        values.push(s[i].max(0.0));
        vectors.push((0..n).map(|r| u[(r, i)]).collect());
    }
    Ok((values, vectors))
}

pub(crate) fn check_series(series: &[f64], window: usize) -> Result<(), SpectrumError> {
    if let Some(i) = series.iter().position(|v| !v.is_finite()) {
        return Err(SpectrumError::NonFinite { index: i });
    }
    if window < 2 {
        return Err(SpectrumError::Window {
            window,
            len: series.len(),
        });
    }
    if series.len() < window + 1 {
        return Err(SpectrumError::TooShort {
            len: series.len(),
            window,
        });
    }
    Ok(())
}
