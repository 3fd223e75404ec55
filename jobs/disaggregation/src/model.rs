//! The shallow network: standardised features -> two ReLU layers -> per appliance an energy
//! (softplus, in units of the appliance's scale) and an on/off logit. The two layers are either
//! dense per interval (the MLP, shipped) or temporal convolutions over the day's intervals (the
//! CNN: kernel 5, the second dilated by 2, so each interval sees ±3 h of its neighbours'
//! features). Weights are stored as safetensors, everything needed to use them (architecture,
//! feature names and scaling, appliances, thresholds, version, how it was trained) as JSON next
//! to them.

use crate::DisaggError;
use crate::appliances::{PREDICTED, on_threshold_wh};
use crate::features::DIM;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Linear};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The model that ships with the project (`zeal train` with defaults reproduces it).
const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../model/default.safetensors");
const DEFAULT_META: &str = include_str!("../model/default.json");

/// The shape of the two hidden layers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Dense layers on each interval's features.
    #[default]
    Mlp,
    /// Temporal convolutions over a day's intervals.
    Cnn,
}

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Absent in models from before the CNN: the MLP.
    #[serde(default)]
    pub architecture: Architecture,
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
    /// Per appliance `[a, b]`: the day's ran-probability is `σ(a·logit(p) + b)` of its most
    /// probable interval's `p` (Platt scaling fitted on held-out simulator days); empty in
    /// models from before it existed (then `p` itself).
    #[serde(default)]
    pub day_calibration: Vec<[f32; 2]>,
}

/// Logit of a probability, clipped so 0 and 1 stay finite.
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// `σ(a·logit(p) + b)`.
pub fn platt(a: f64, b: f64, p: f64) -> f64 {
    1.0 / (1.0 + (-(a * logit(p) + b)).exp())
}

/// The two hidden layers.
#[derive(Clone)]
pub enum Body {
    Mlp { l1: Linear, l2: Linear },
    Cnn { c1: Conv1d, c2: Conv1d },
}

/// Kernel width of the CNN's convolutions.
pub const KERNEL: usize = 5;

/// The CNN's convolution settings: same-length output, the second layer dilated by 2.
pub fn conv_config(layer: usize) -> Conv1dConfig {
    let dilation = if layer == 1 { 1 } else { 2 };
    Conv1dConfig {
        padding: dilation * (KERNEL / 2),
        dilation,
        ..Default::default()
    }
}

/// The network's layers.
#[derive(Clone)]
pub struct Layers {
    pub body: Body,
    pub energy: Linear,
    pub state: Linear,
}

impl Layers {
    /// (energy in scale units, on logits), both `n x appliances`, for `n` standardised rows.
    /// The CNN reads the rows as sequences of `seq` consecutive intervals (`n` a multiple of
    /// `seq`); the MLP each row alone.
    pub fn forward(&self, x: &Tensor, seq: usize) -> candle_core::Result<(Tensor, Tensor)> {
        let h = match &self.body {
            Body::Mlp { l1, l2 } => l2.forward(&l1.forward(x)?.relu()?)?.relu()?,
            Body::Cnn { c1, c2 } => {
                let (n, dim) = x.dims2()?;
                let xs = x
                    .reshape((n / seq, seq, dim))?
                    .transpose(1, 2)?
                    .contiguous()?;
                let h = c2.forward(&c1.forward(&xs)?.relu()?)?.relu()?;
                let c = h.dim(1)?;
                h.transpose(1, 2)?.contiguous()?.reshape((n, c))?
            }
        };
        let e = self.energy.forward(&h)?;
        // softplus(e) = log(1 + exp(e)), written to stay finite for large e.
        let energy = (e.relu()? + (e.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        Ok((energy, self.state.forward(&h)?))
    }

    /// The tensors by name, for safetensors.
    pub fn named(&self) -> HashMap<String, Tensor> {
        let mut m = HashMap::new();
        let mut put = |name: &str, w: &Tensor, b: Option<&Tensor>| {
            m.insert(format!("{name}.weight"), w.clone());
            if let Some(b) = b {
                m.insert(format!("{name}.bias"), b.clone());
            }
        };
        match &self.body {
            Body::Mlp { l1, l2 } => {
                put("l1", l1.weight(), l1.bias());
                put("l2", l2.weight(), l2.bias());
            }
            Body::Cnn { c1, c2 } => {
                put("c1", c1.weight(), c1.bias());
                put("c2", c2.weight(), c2.bias());
            }
        }
        put("energy", self.energy.weight(), self.energy.bias());
        put("state", self.state.weight(), self.state.bias());
        m
    }

    fn from_named(arch: Architecture, mut m: HashMap<String, Tensor>) -> Result<Layers, String> {
        let mut take = |name: &str| -> Result<(Tensor, Tensor), String> {
            let w = m
                .remove(&format!("{name}.weight"))
                .ok_or(format!("missing {name}.weight"))?;
            let b = m
                .remove(&format!("{name}.bias"))
                .ok_or(format!("missing {name}.bias"))?;
            Ok((w, b))
        };
        let linear = |(w, b): (Tensor, Tensor)| Linear::new(w, Some(b));
        let body = match arch {
            Architecture::Mlp => Body::Mlp {
                l1: linear(take("l1")?),
                l2: linear(take("l2")?),
            },
            Architecture::Cnn => {
                let (w1, b1) = take("c1")?;
                let (w2, b2) = take("c2")?;
                Body::Cnn {
                    c1: Conv1d::new(w1, Some(b1), conv_config(1)),
                    c2: Conv1d::new(w2, Some(b2), conv_config(2)),
                }
            }
        };
        Ok(Layers {
            body,
            energy: linear(take("energy")?),
            state: linear(take("state")?),
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
        let layers = Layers::from_named(meta.architecture, tensors).map_err(bad)?;
        Ok(Disaggregator { meta, layers })
    }

    /// The calibrated probability that appliance `k` (index into PREDICTED) ran on a day whose
    /// intervals have these on-probabilities.
    pub fn ran_probability(
        &self,
        k: usize,
        interval_probabilities: impl IntoIterator<Item = f64>,
    ) -> f64 {
        let p = interval_probabilities.into_iter().fold(0.0, f64::max);
        match self.meta.day_calibration.get(k) {
            Some([a, b]) => platt(f64::from(*a), f64::from(*b), p),
            None => p,
        }
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
    /// Rows are consecutive intervals in order (a day, as every caller passes them): the CNN
    /// reads them as one sequence.
    pub fn predict(&self, rows: &[[f32; DIM]]) -> Result<Vec<Vec<Estimate>>, DisaggError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (energy, logits) = self.layers.forward(&self.input(rows)?, rows.len())?;
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
