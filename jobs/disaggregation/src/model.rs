//! The shallow network: standardised features -> two ReLU layers -> per appliance an energy
//! (softplus, in units of the appliance's scale) and an on/off logit. Weights are stored as
//! safetensors, everything needed to use them (feature names and scaling, appliances,
//! thresholds, version, how it was trained) as JSON next to them.

use crate::DisaggError;
use crate::appliances::{PREDICTED, on_threshold_wh};
use crate::features::DIM;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::Linear;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The model that ships with the project (`zeal train` with defaults reproduces it).
const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../model/default.safetensors");
const DEFAULT_META: &str = include_str!("../model/default.json");

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// `disagg-<date or tag>`; written into every output row.
    pub version: String,
    pub features: Vec<String>,
    pub feature_mean: Vec<f32>,
    pub feature_std: Vec<f32>,
    /// Predicted appliances, output order.
    pub appliances: Vec<String>,
    /// Energy scale per appliance (Wh): outputs are multiples of it.
    pub target_scale: Vec<f32>,
    /// On-threshold per appliance (Wh per interval).
    pub on_threshold_wh: Vec<f32>,
    pub hidden: [usize; 2],
    /// How it was trained (seed, households, weeks, epochs, learning rate, final loss).
    pub training: serde_json::Value,
}

/// The network's layers.
#[derive(Clone)]
pub struct Layers {
    pub l1: Linear,
    pub l2: Linear,
    pub energy: Linear,
    pub state: Linear,
}

impl Layers {
    /// (energy in scale units, on logits), both `n x appliances`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let h = self.l1.forward(x)?.relu()?;
        let h = self.l2.forward(&h)?.relu()?;
        let e = self.energy.forward(&h)?;
        // softplus(e) = log(1 + exp(e)), written to stay finite for large e.
        let energy = (e.relu()? + (e.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        Ok((energy, self.state.forward(&h)?))
    }

    /// The tensors by name, for safetensors.
    pub fn named(&self) -> HashMap<String, Tensor> {
        let mut m = HashMap::new();
        for (name, l) in [
            ("l1", &self.l1),
            ("l2", &self.l2),
            ("energy", &self.energy),
            ("state", &self.state),
        ] {
            m.insert(format!("{name}.weight"), l.weight().clone());
            if let Some(b) = l.bias() {
                m.insert(format!("{name}.bias"), b.clone());
            }
        }
        m
    }

    fn from_named(mut m: HashMap<String, Tensor>) -> Result<Layers, String> {
        let mut take = |name: &str| -> Result<Linear, String> {
            let w = m
                .remove(&format!("{name}.weight"))
                .ok_or(format!("missing {name}.weight"))?;
            let b = m
                .remove(&format!("{name}.bias"))
                .ok_or(format!("missing {name}.bias"))?;
            Ok(Linear::new(w, Some(b)))
        };
        Ok(Layers {
            l1: take("l1")?,
            l2: take("l2")?,
            energy: take("energy")?,
            state: take("state")?,
        })
    }
}

/// A trained model ready to predict.
#[derive(Clone)]
pub struct Disaggregator {
    pub meta: ModelMeta,
    pub layers: Layers,
}

/// One interval's prediction for one appliance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub energy_wh: f32,
    /// Probability that the appliance ran in the interval.
    pub on_probability: f32,
}

impl Disaggregator {
    /// The model shipped with the project.
    pub fn embedded() -> Result<Disaggregator, DisaggError> {
        let meta: ModelMeta =
            serde_json::from_str(DEFAULT_META).map_err(|e| DisaggError::ModelFile {
                path: "model/default.json (embedded)".into(),
                detail: e.to_string(),
            })?;
        let tensors = candle_core::safetensors::load_buffer(DEFAULT_WEIGHTS, &Device::Cpu)?;
        Self::assemble(meta, tensors, "model/default.safetensors (embedded)")
    }

    /// Loads `<stem>.safetensors` and `<stem>.json`.
    pub fn load(stem: &Path) -> Result<Disaggregator, DisaggError> {
        let json = stem.with_extension("json");
        let weights = stem.with_extension("safetensors");
        let err = |p: &Path, e: String| DisaggError::ModelFile {
            path: p.display().to_string(),
            detail: e,
        };
        let text = std::fs::read_to_string(&json).map_err(|e| err(&json, e.to_string()))?;
        let meta: ModelMeta = serde_json::from_str(&text).map_err(|e| err(&json, e.to_string()))?;
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .map_err(|e| err(&weights, e.to_string()))?;
        Self::assemble(meta, tensors, &weights.display().to_string())
    }

    fn assemble(
        meta: ModelMeta,
        tensors: HashMap<String, Tensor>,
        path: &str,
    ) -> Result<Disaggregator, DisaggError> {
        let bad = |detail: String| DisaggError::ModelFile {
            path: path.to_string(),
            detail,
        };
        if meta.features.len() != DIM || meta.feature_mean.len() != DIM {
            return Err(bad(format!(
                "made for {} features, this build computes {DIM}: retrain with `zeal train`",
                meta.features.len()
            )));
        }
        let expected: Vec<&str> = PREDICTED.iter().map(|a| a.name()).collect();
        if meta.appliances != expected {
            return Err(bad(format!(
                "predicts {:?}, this build expects {expected:?}: retrain with `zeal train`",
                meta.appliances
            )));
        }
        let layers = Layers::from_named(tensors).map_err(bad)?;
        Ok(Disaggregator { meta, layers })
    }

    /// Writes `<stem>.safetensors` and `<stem>.json`.
    pub fn save(&self, stem: &Path) -> Result<(), DisaggError> {
        let weights = stem.with_extension("safetensors");
        candle_core::safetensors::save(&self.layers.named(), &weights)?;
        let json = stem.with_extension("json");
        let text = serde_json::to_string_pretty(&self.meta).expect("metadata serialises");
        std::fs::write(&json, text + "\n").map_err(|e| DisaggError::ModelFile {
            path: json.display().to_string(),
            detail: e.to_string(),
        })
    }

    /// Standardises raw feature rows into a tensor.
    pub fn input(&self, rows: &[[f32; DIM]]) -> Result<Tensor, DisaggError> {
        let mut flat = Vec::with_capacity(rows.len() * DIM);
        for r in rows {
            for (j, v) in r.iter().enumerate() {
                flat.push((v - self.meta.feature_mean[j]) / self.meta.feature_std[j]);
            }
        }
        Ok(Tensor::from_vec(flat, (rows.len(), DIM), &Device::Cpu)?)
    }

    /// Estimates for every row, `rows.len()` vectors of one estimate per predicted appliance.
    pub fn predict(&self, rows: &[[f32; DIM]]) -> Result<Vec<Vec<Estimate>>, DisaggError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (energy, logits) = self.layers.forward(&self.input(rows)?)?;
        let scale = Tensor::from_vec(
            self.meta.target_scale.clone(),
            (1, PREDICTED.len()),
            &Device::Cpu,
        )?;
        let energy = energy
            .broadcast_mul(&scale)?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?;
        let prob = candle_nn::ops::sigmoid(&logits)?.to_vec2::<f32>()?;
        Ok(energy
            .into_iter()
            .zip(prob)
            .map(|(e, p)| {
                e.into_iter()
                    .zip(p)
                    .map(|(energy_wh, on_probability)| Estimate {
                        energy_wh,
                        on_probability,
                    })
                    .collect()
            })
            .collect())
    }
}

/// Default on-thresholds, in model order.
pub fn thresholds() -> Vec<f32> {
    PREDICTED
        .iter()
        .map(|a| on_threshold_wh(*a) as f32)
        .collect()
}
