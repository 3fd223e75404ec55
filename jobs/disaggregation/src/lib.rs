//! Load disaggregation (issue 5): which devices a household's 15-minute import/export series
//! is made of.
//!
//! - [`appliances`]: what the model predicts, each appliance's on-threshold, and which ones we
//!   claim at 15-minute resolution.
//! - [`features`]: per-interval features from the raw window and the day's singular spectrum
//!   (SSA eigentriples and SSD bands, `zeal-spectrum`).
//! - [`model`]: a shallow network (two hidden layers, Candle) with an energy head and an on/off
//!   head per appliance; saved as safetensors plus a JSON metadata file.
//! - [`train`]: simulator data (`zeal-meters::household`), seeded training with progress.
//! - [`augment`]: domain randomisation of the training days.
//! - [`crossgen`]: a second, independent household generator, for evaluation only.
//! - [`baselines`] and [`metrics`]: Mean and combinatorial optimisation (NILMTK's CO); MAE, F1,
//!   NDE, SAE. [`eval`] puts them in one table.
//!
//! Pure: no I/O except reading and writing model files.

pub mod appliances;
pub mod augment;
pub mod baselines;
pub mod crossgen;
pub mod dataset;
pub mod eval;
pub mod features;
pub mod metrics;
pub mod model;
mod splitmix;
pub mod train;

pub use model::{Disaggregator, ModelMeta};

/// Errors of feature extraction, training and model files.
#[derive(Debug, thiserror::Error)]
pub enum DisaggError {
    #[error(transparent)]
    Spectrum(#[from] zeal_spectrum::SpectrumError),
    #[error("model computation: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("model file {path}: {detail}")]
    ModelFile { path: String, detail: String },
    #[error("{0}")]
    Input(String),
}
