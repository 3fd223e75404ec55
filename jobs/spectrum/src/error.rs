//! What can go wrong when decomposing a series.

/// Errors of the decompositions; each says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpectrumError {
    #[error(
        "the series has {len} samples, too few for a window of {window}: give at least window + 1 samples or a smaller window"
    )]
    TooShort { len: usize, window: usize },
    #[error("window {window} is invalid for a series of {len} samples: use 2 <= window <= len / 2")]
    Window { window: usize, len: usize },
    #[error(
        "sample {index} is not a finite number: fill gaps (e.g. interpolate) before decomposing"
    )]
    NonFinite { index: usize },
    #[error("eigendecomposition failed: {0}")]
    Eigen(String),
}
